use std::path::PathBuf;

/// Errors of the storage layer; each names the operation that failed and what it was on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Creating, writing, syncing or renaming a file failed.
    #[error("{operation} {path}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The object store refused a read, list or delete.
    #[error("blob store: {0}")]
    Blob(#[from] object_store::Error),
    /// The catalogue database refused a statement.
    #[error("catalogue: {0}")]
    Catalogue(#[from] sqlx::Error),
    /// A catalogue migration failed.
    #[error("catalogue migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Synthetic content needs a stored template instance of every modality it generates.
    #[error("no template instance of modality {0} is stored")]
    MissingTemplate(&'static str),
    /// A database URL of an engine mira does not run on.
    #[error("unsupported database URL {url:?}: use sqlite://FILE or postgres://USER@HOST/DATABASE")]
    UnsupportedDatabase {
        /// The URL, without its password.
        url: String,
    },
    /// A blob key that is not 64 lower-case hex digits.
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
}

impl StoreError {
    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StoreError::Io {
            operation,
            path,
            source,
        }
    }

    /// Whether the error is the storage running out of space (disk full, quota): the DIMSE
    /// edge answers these with "out of resources".
    pub fn is_out_of_space(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ),
            StoreError::Catalogue(sqlx::Error::Database(db)) => db.message().contains("full"),
            _ => false,
        }
    }
}
