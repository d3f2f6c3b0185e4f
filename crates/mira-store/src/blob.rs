//! The blob store: durable, content-addressed instance files.
//!
//! Layout under the data directory:
//! ```text
//! blobs/<first two hex digits>/<sha256 of the data set>.dcm
//! staging/<random>.part      files being received or copied, never indexed
//! ```
//! `object_store`'s `LocalFileSystem` serves reads, listing and deletion. Writes do not go
//! through it: its `put` neither fsyncs the file nor its directory, and cannot adopt a file
//! that was streamed to disk as it arrived over the network. The write path here is the
//! classic one: write to a staging file, make it durable, rename it into place, make the
//! rename durable; only then may the catalogue reference it.
//!
//! How "durable" is reached is a [`Flush`] strategy. `PerFile` is fsync of each staging file
//! and of each directory that received a rename. `Filesystem` (the default on Linux) renames
//! a whole batch and then calls `syncfs(2)` once, which flushes the data and the directory
//! entries of every file in the batch together: one flush per batch instead of one per file,
//! which is what lets many modalities send at once at close to disk speed. It also flushes
//! whatever else is dirty on that filesystem, so a data directory shared with unrelated heavy
//! writers is better served by `PerFile`.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// The name of a blob: the SHA-256 of the instance's data set bytes, in lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    /// Validates a key read back from the catalogue or a listing.
    pub fn parse(key: &str) -> Result<Self, StoreError> {
        let valid = key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if valid {
            Ok(BlobKey(key.to_string()))
        } else {
            Err(StoreError::InvalidKey(key.to_string()))
        }
    }

    /// The key of a finished digest.
    pub fn from_digest(digest: Sha256) -> Self {
        BlobKey(hex::encode(digest.finalize()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn relative_path(&self) -> String {
        format!("{}/{}.dcm", &self.0[..2], self.0)
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file being written in the staging directory. Dropping it without [`BlobStore::adopt`]
/// deletes it, so an aborted transfer leaves nothing behind.
#[derive(Debug)]
pub struct StagingFile {
    file: tempfile::NamedTempFile,
}

impl StagingFile {
    /// Where the staging file is, for parsing it in place.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Appends bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.file.path().to_path_buf();
        self.file
            .as_file_mut()
            .write_all(bytes)
            .map_err(StoreError::io("write", path))
    }

    /// The open file, for copying into it.
    pub fn as_file_mut(&mut self) -> &mut File {
        self.file.as_file_mut()
    }

    /// Flushes the file's data and metadata to stable storage. Must be called before the
    /// file is adopted; callers do it on their own task so that fsyncs run in parallel.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        let path = self.file.path().to_path_buf();
        self.file
            .as_file_mut()
            .sync_all()
            .map_err(StoreError::io("fsync", path))
    }

    /// Size of what was written so far.
    pub fn len(&self) -> Result<u64, StoreError> {
        let path = self.file.path().to_path_buf();
        Ok(self
            .file
            .as_file()
            .metadata()
            .map_err(StoreError::io("stat", path))?
            .len())
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

/// How the blob store makes a batch of new files durable before the catalogue commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flush {
    /// fsync each staging file before the rename, then each directory after it.
    PerFile,
    /// One `syncfs(2)` of the data filesystem after the batch's renames (Linux).
    Filesystem,
}

impl Default for Flush {
    fn default() -> Self {
        if cfg!(target_os = "linux") {
            Flush::Filesystem
        } else {
            Flush::PerFile
        }
    }
}

/// Durable, content-addressed storage of instance files on the local filesystem.
#[derive(Debug, Clone)]
pub struct BlobStore {
    blobs_dir: PathBuf,
    staging_dir: PathBuf,
    objects: Arc<dyn ObjectStore>,
    flush: Flush,
}

impl BlobStore {
    /// Opens (creating if needed) the store under `data_dir`, and empties its staging
    /// directory: a staging file is never referenced, so whatever is there was interrupted.
    pub fn open(data_dir: &Path, flush: Flush) -> Result<Self, StoreError> {
        let blobs_dir = data_dir.join("blobs");
        let staging_dir = data_dir.join("staging");
        for dir in [&blobs_dir, &staging_dir] {
            std::fs::create_dir_all(dir)
                .map_err(StoreError::io("create directory", dir.clone()))?;
        }
        for fan in 0..=255u8 {
            let dir = blobs_dir.join(format!("{fan:02x}"));
            std::fs::create_dir_all(&dir).map_err(StoreError::io("create directory", dir))?;
        }
        for entry in
            std::fs::read_dir(&staging_dir).map_err(StoreError::io("list", staging_dir.clone()))?
        {
            let path = entry
                .map_err(StoreError::io("list", staging_dir.clone()))?
                .path();
            if path.is_file() {
                tracing::info!(path = %path.display(), "removing interrupted staging file");
                std::fs::remove_file(&path).map_err(StoreError::io("remove", path))?;
            }
        }
        sync_dir(data_dir)?;
        let objects = LocalFileSystem::new_with_prefix(&blobs_dir)?;
        let flush = if cfg!(target_os = "linux") {
            flush
        } else {
            Flush::PerFile
        };
        Ok(BlobStore {
            blobs_dir,
            staging_dir,
            objects: Arc::new(objects),
            flush,
        })
    }

    /// The flush strategy in force.
    pub fn flush(&self) -> Flush {
        self.flush
    }

    /// Starts a new staging file.
    pub fn stage(&self) -> Result<StagingFile, StoreError> {
        let file = tempfile::Builder::new()
            .suffix(".part")
            .tempfile_in(&self.staging_dir)
            .map_err(StoreError::io(
                "create staging file in",
                self.staging_dir.clone(),
            ))?;
        Ok(StagingFile { file })
    }

    /// Moves a staging file to its final name. File and rename are durable only after
    /// [`BlobStore::make_durable`] (with `PerFile`, the staging file must also have been
    /// [`StagingFile::sync`]ed); the archive does that for a whole batch before committing the
    /// catalogue.
    pub fn adopt(&self, staging: StagingFile, key: &BlobKey) -> Result<PathBuf, StoreError> {
        let target = self.path_of(key);
        staging
            .file
            .persist(&target)
            .map_err(|e| StoreError::io("rename staging file to", target.clone())(e.error))?;
        Ok(target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.blobs_dir.clone()))
    }

    /// Makes the files adopted since the last call durable, with their names: fsyncs the
    /// directories that received renames, or syncs the whole filesystem once.
    pub fn make_durable<'a>(
        &self,
        dirs: impl IntoIterator<Item = &'a PathBuf>,
    ) -> Result<(), StoreError> {
        match self.flush {
            Flush::PerFile => {
                for dir in dirs {
                    sync_dir(dir)?;
                }
                Ok(())
            }
            Flush::Filesystem => sync_filesystem(&self.blobs_dir),
        }
    }

    /// Absolute path of a blob on the local filesystem.
    pub fn path_of(&self, key: &BlobKey) -> PathBuf {
        self.blobs_dir.join(key.relative_path())
    }

    /// Reads a whole blob.
    pub async fn get(&self, key: &BlobKey) -> Result<bytes::Bytes, StoreError> {
        let location = ObjectPath::from(key.relative_path());
        Ok(self.objects.get(&location).await?.bytes().await?)
    }

    /// Deletes a blob; a blob that is already gone is not an error.
    pub async fn delete(&self, key: &BlobKey) -> Result<(), StoreError> {
        let location = ObjectPath::from(key.relative_path());
        match self.objects.delete(&location).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every blob key in the store. Files that are not blobs (a stray editor backup) are
    /// skipped with a warning rather than deleted.
    pub async fn list(&self) -> Result<Vec<BlobKey>, StoreError> {
        let metas: Vec<_> = self.objects.list(None).try_collect().await?;
        let mut keys = Vec::with_capacity(metas.len());
        for meta in metas {
            let name = meta.location.filename().unwrap_or_default();
            match name.strip_suffix(".dcm").map(BlobKey::parse) {
                Some(Ok(key)) => keys.push(key),
                _ => tracing::warn!(location = %meta.location, "unexpected file in blob store"),
            }
        }
        Ok(keys)
    }
}

#[cfg(target_os = "linux")]
fn sync_filesystem(dir: &Path) -> Result<(), StoreError> {
    use std::os::fd::AsRawFd;
    let handle = File::open(dir).map_err(StoreError::io("open", dir.to_path_buf()))?;
    // SAFETY: syncfs only reads the descriptor, which `handle` keeps open for the call.
    let rc = unsafe { libc::syncfs(handle.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(StoreError::io("syncfs", dir.to_path_buf())(
            std::io::Error::last_os_error(),
        ))
    }
}

#[cfg(not(target_os = "linux"))]
fn sync_filesystem(dir: &Path) -> Result<(), StoreError> {
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("fsync directory", dir.to_path_buf()))
}
