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
//! With a shared object store ([`S3Settings`], any S3-compatible service), the object store
//! is where a blob is kept for good and the node's `blobs/` directory is a cache: a batch's
//! new files are renamed into the cache as before and then uploaded ([`BlobStore::upload`]);
//! an S3 PUT that answers 200 is durable, so no local flush is needed, and a file another
//! node received is fetched into the cache the first time it is read
//! ([`BlobStore::local_path`]).
//!
//! How "durable" is reached locally is a [`Flush`] strategy. `PerFile` is fsync of each staging file
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

use futures::{StreamExt, TryStreamExt};
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

/// An S3-compatible object store (`[blobs.s3]`): where the blobs of a scaled-out archive live.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// The service's URL (`http://s3.internal:9000`); empty: AWS's own endpoint of `region`.
    pub endpoint: String,
    /// The bucket (it must exist).
    pub bucket: String,
    /// The region (`us-east-1` for most on-premises services).
    pub region: String,
    /// Access key; empty: `AWS_ACCESS_KEY_ID` from the environment.
    pub access_key_id: String,
    /// Secret key; empty: `AWS_SECRET_ACCESS_KEY` from the environment.
    pub secret_access_key: String,
    /// Path-style requests (`endpoint/bucket/key`), which most on-premises services need;
    /// false: virtual-hosted style (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Allow a plain-HTTP endpoint (a trusted network only).
    pub allow_http: bool,
    /// A prefix under which the blobs are kept in the bucket.
    pub prefix: String,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            path_style: true,
            allow_http: false,
            prefix: String::new(),
        }
    }
}

impl S3Settings {
    fn build(&self) -> Result<Arc<dyn ObjectStore>, StoreError> {
        let mut builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_allow_http(self.allow_http)
            .with_virtual_hosted_style_request(!self.path_style);
        if !self.endpoint.is_empty() {
            builder = builder.with_endpoint(&self.endpoint);
        }
        if !self.access_key_id.is_empty() {
            builder = builder.with_access_key_id(&self.access_key_id);
        }
        if !self.secret_access_key.is_empty() {
            builder = builder.with_secret_access_key(&self.secret_access_key);
        }
        let store = builder.build()?;
        Ok(if self.prefix.is_empty() {
            Arc::new(store)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                store,
                self.prefix.as_str(),
            ))
        })
    }
}

/// Durable, content-addressed storage of instance files: on the local filesystem, or in a
/// shared object store with the local filesystem as a cache.
#[derive(Debug, Clone)]
pub struct BlobStore {
    blobs_dir: PathBuf,
    staging_dir: PathBuf,
    objects: Arc<dyn ObjectStore>,
    /// The shared object store, when there is one.
    shared: Option<Arc<dyn ObjectStore>>,
    flush: Flush,
}

impl BlobStore {
    /// Opens (creating if needed) the store under `data_dir`, and empties its staging
    /// directory: a staging file is never referenced, so whatever is there was interrupted.
    pub fn open(data_dir: &Path, flush: Flush) -> Result<Self, StoreError> {
        Self::open_shared(data_dir, flush, None)
    }

    /// [`open`](Self::open), keeping the blobs in a shared S3-compatible object store when
    /// `shared` is given (the local `blobs/` directory is then a cache).
    pub fn open_shared(
        data_dir: &Path,
        flush: Flush,
        shared: Option<&S3Settings>,
    ) -> Result<Self, StoreError> {
        let shared = shared.map(S3Settings::build).transpose()?;
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
            shared,
            flush,
        })
    }

    /// Whether the blobs are kept in a shared object store (several nodes).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Whether the store answers: the shared object store's bucket can be listed, or the local
    /// directory exists (for readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.shared {
            Some(shared) => {
                let mut listing = shared.list(None);
                match listing.try_next().await {
                    Ok(_) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            None => std::fs::metadata(&self.blobs_dir)
                .map(|_| ())
                .map_err(StoreError::io("stat", self.blobs_dir.clone())),
        }
    }

    /// Copies blobs adopted into the local cache to the shared object store, several at a
    /// time; returns when every PUT has been answered 200 (the object is then durable). A
    /// no-op without a shared store.
    pub async fn upload(&self, keys: &[BlobKey]) -> Result<(), StoreError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let files: Vec<(PathBuf, ObjectPath)> = keys
            .iter()
            .map(|key| (self.path_of(key), ObjectPath::from(key.relative_path())))
            .collect();
        let shared = shared.clone();
        let puts = futures::stream::iter(files).map(move |(path, location)| {
            let shared = shared.clone();
            async move {
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(StoreError::io("read", path))?;
                shared
                    .put(&location, object_store::PutPayload::from(bytes))
                    .await?;
                Ok::<(), StoreError>(())
            }
        });
        let _: Vec<()> = puts.buffer_unordered(UPLOADS_AT_ONCE).try_collect().await?;
        Ok(())
    }

    /// The local file of a blob, fetched from the shared object store into the cache first
    /// when this node does not have it.
    pub async fn local_path(&self, key: &BlobKey) -> Result<PathBuf, StoreError> {
        let path = self.path_of(key);
        let Some(shared) = &self.shared else {
            return Ok(path);
        };
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(path);
        }
        let bytes = shared
            .get(&ObjectPath::from(key.relative_path()))
            .await?
            .bytes()
            .await?;
        let mut staging = self.stage()?;
        let target = path.clone();
        tokio::task::spawn_blocking(move || {
            staging.write_all(&bytes)?;
            // another reader may have fetched it meanwhile: same content, either file wins
            staging
                .file
                .persist(&target)
                .map_err(|e| StoreError::io("rename cached blob to", target.clone())(e.error))?;
            Ok::<(), StoreError>(())
        })
        .await
        .map_err(|e| StoreError::io("cache", path.clone())(std::io::Error::other(e)))??;
        Ok(path)
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

    /// Reads a whole blob (from the local cache when it has it).
    pub async fn get(&self, key: &BlobKey) -> Result<bytes::Bytes, StoreError> {
        let location = ObjectPath::from(key.relative_path());
        match (self.objects.get(&location).await, &self.shared) {
            (Ok(found), _) => Ok(found.bytes().await?),
            (Err(object_store::Error::NotFound { .. }), Some(shared)) => {
                Ok(shared.get(&location).await?.bytes().await?)
            }
            (Err(e), _) => Err(e.into()),
        }
    }

    /// Deletes a blob, from the shared store too; a blob that is already gone is not an
    /// error.
    pub async fn delete(&self, key: &BlobKey) -> Result<(), StoreError> {
        if let Some(shared) = &self.shared {
            delete_from(shared.as_ref(), key).await?;
        }
        self.uncache(key).await
    }

    /// Deletes the local copy of a blob only (the shared store keeps it).
    pub async fn uncache(&self, key: &BlobKey) -> Result<(), StoreError> {
        delete_from(self.objects.as_ref(), key).await
    }

    /// Every blob key in the store (the shared store when there is one) with the time it was
    /// last written. Files that are not blobs (a stray editor backup) are skipped with a
    /// warning rather than deleted.
    pub async fn list_with_times(
        &self,
    ) -> Result<Vec<(BlobKey, std::time::SystemTime)>, StoreError> {
        let store = self.shared.as_ref().unwrap_or(&self.objects);
        let metas: Vec<_> = store.list(None).try_collect().await?;
        let mut keys = Vec::with_capacity(metas.len());
        for meta in metas {
            let name = meta.location.filename().unwrap_or_default();
            match name.strip_suffix(".dcm").map(BlobKey::parse) {
                Some(Ok(key)) => keys.push((key, std::time::SystemTime::from(meta.last_modified))),
                _ => tracing::warn!(location = %meta.location, "unexpected file in blob store"),
            }
        }
        Ok(keys)
    }

    /// Every blob key in the local store. Files that are not blobs (a stray editor backup)
    /// are skipped with a warning rather than deleted.
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

/// PUTs in flight at once per batch: enough to hide an object store's latency.
const UPLOADS_AT_ONCE: usize = 16;

async fn delete_from(store: &dyn ObjectStore, key: &BlobKey) -> Result<(), StoreError> {
    let location = ObjectPath::from(key.relative_path());
    match store.delete(&location).await {
        Ok(()) => Ok(()),
        Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
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
