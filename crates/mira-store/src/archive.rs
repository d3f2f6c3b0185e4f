//! The crash-safe commit of received instances into blob store and catalogue together.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use mira_dicom::InstanceAttributes;
use serde::{Deserialize, Serialize};

use crate::catalogue::{NewLocation, existing_instance, upsert_instance};
use crate::db::PoolSettings;
use crate::{BlobKey, BlobStore, Catalogue, Flush, S3Settings, StagingFile, StoreError};

/// Where an archive keeps its catalogue and its blobs: by default both in the data directory
/// (SQLite and local files, one node); a region's nodes share a PostgreSQL database and an
/// S3-compatible object store, and keep only staging files and a cache locally.
#[derive(Debug, Clone, Default)]
pub struct Location {
    /// The catalogue's database URL; `None`: `catalogue.sqlite` in the data directory.
    pub database_url: Option<String>,
    /// The connection pool's settings.
    pub pool: PoolSettings,
    /// The shared object store; `None`: local files only.
    pub s3: Option<S3Settings>,
}

/// How long an unreferenced object in a shared store is left alone at start-up: another node
/// may have uploaded it for a batch it has not committed yet.
const SHARED_ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// What to do when an instance arrives whose SOP Instance UID is stored already with
/// *different* content. (Identical content is always a harmless duplicate.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictPolicy {
    /// Keep what is stored and acknowledge the new copy without storing it.
    #[default]
    KeepFirst,
    /// Store the new object in place of the old one.
    Replace,
    /// Refuse the new object.
    Reject,
}

/// A received instance, parsed, digested and fsynced in the staging directory.
#[derive(Debug)]
pub struct StagedInstance {
    /// The staging file, completely written (and, with [`Flush::PerFile`], synced).
    pub file: StagingFile,
    /// Its key: the SHA-256 of its data set bytes.
    pub key: BlobKey,
    /// Its indexed attributes.
    pub attributes: InstanceAttributes,
    /// Offset of the data set in the file.
    pub dataset_offset: u64,
    /// File size.
    pub size_bytes: u64,
    /// `import` or the calling AE title.
    pub received_from: String,
    /// Code of the site that sent it; a new study belongs to the site that first sends it.
    pub site: Option<String>,
}

/// What became of one staged instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// New instance, now stored.
    Stored,
    /// The same data set was stored already; nothing changed.
    Duplicate,
    /// Different content under a stored SOP Instance UID replaced the old object.
    Replaced,
    /// Different content under a stored SOP Instance UID; the stored object was kept.
    KeptExisting,
    /// Different content under a stored SOP Instance UID; refused by policy.
    RejectedConflict,
}

impl Outcome {
    /// Whether the archive now holds this instance's content.
    pub fn is_stored(self) -> bool {
        matches!(
            self,
            Outcome::Stored | Outcome::Replaced | Outcome::Duplicate
        )
    }
}

/// Blob store, catalogue and the conflict policy, opened together.
#[derive(Debug, Clone)]
pub struct Archive {
    /// The catalogue.
    pub catalogue: Catalogue,
    /// The blob store.
    pub blobs: BlobStore,
    policy: ConflictPolicy,
}

/// Result of the start-up consistency pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// Blobs no instance referenced, removed.
    pub orphans_removed: usize,
    /// Instances whose blob is missing (should never happen; reported, not deleted).
    pub missing_blobs: Vec<String>,
}

impl Archive {
    /// Opens the archive under `data_dir` (catalogue at `catalogue.sqlite`, blobs under
    /// `blobs/`), empties the staging directory and removes orphaned blobs.
    pub async fn open(
        data_dir: &Path,
        policy: ConflictPolicy,
    ) -> Result<(Self, Recovery), StoreError> {
        Self::open_with(data_dir, policy, Flush::default()).await
    }

    /// [`Archive::open`] with an explicit flush strategy.
    pub async fn open_with(
        data_dir: &Path,
        policy: ConflictPolicy,
        flush: Flush,
    ) -> Result<(Self, Recovery), StoreError> {
        Self::open_at(data_dir, &Location::default(), policy, flush).await
    }

    /// Opens the archive at `location`, with `data_dir` for what stays on this node.
    pub async fn open_at(
        data_dir: &Path,
        location: &Location,
        policy: ConflictPolicy,
        flush: Flush,
    ) -> Result<(Self, Recovery), StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(StoreError::io("create directory", data_dir.to_path_buf()))?;
        let blobs = BlobStore::open_shared(data_dir, flush, location.s3.as_ref())?;
        let url = match &location.database_url {
            Some(url) => url.clone(),
            None => crate::db::sqlite_url(&data_dir.join("catalogue.sqlite")),
        };
        let catalogue = Catalogue::connect(&url, location.pool).await?;
        let archive = Archive {
            catalogue,
            blobs,
            policy,
        };
        let recovery = archive.recover().await?;
        Ok((archive, recovery))
    }

    /// The conflict policy in force.
    pub fn policy(&self) -> ConflictPolicy {
        self.policy
    }

    async fn recover(&self) -> Result<Recovery, StoreError> {
        let referenced = self.catalogue.referenced_blob_keys().await?;
        let present = self.blobs.list_with_times().await?;
        let mut recovery = Recovery::default();
        let mut present_set = std::collections::HashSet::with_capacity(present.len());
        let shared = self.blobs.is_shared();
        let now = std::time::SystemTime::now();
        for (key, written) in present {
            if referenced.contains(key.as_str()) {
                present_set.insert(key.as_str().to_string());
            } else if shared
                && now.duration_since(written).unwrap_or_default() < SHARED_ORPHAN_GRACE
            {
                // perhaps another node's batch, uploaded and not yet committed
                present_set.insert(key.as_str().to_string());
            } else {
                tracing::info!(blob = %key, "removing orphaned blob");
                self.blobs.delete(&key).await?;
                recovery.orphans_removed += 1;
            }
        }
        recovery.missing_blobs = referenced
            .into_iter()
            .filter(|k| !present_set.contains(k))
            .collect();
        for key in &recovery.missing_blobs {
            tracing::error!(blob = %key, "catalogue references a blob that is missing");
        }
        Ok(recovery)
    }

    /// Commits a batch of staged instances: one catalogue transaction, one flush of the blob
    /// store. The order is what makes it crash-safe: (1) decide each instance inside the
    /// transaction, (2) rename accepted files into place, (3) make files and renames durable
    /// ([`BlobStore::make_durable`]; with a shared object store, upload them
    /// ([`BlobStore::upload`])) while the rows are written into the still-open transaction,
    /// (4) commit once both are done, (5) delete blobs that replaced instances no longer
    /// reference. A crash before (4) leaves orphans, which [`Archive::open`] removes; a crash
    /// after it loses nothing.
    ///
    /// Rows are written in patient, study, series order, so that the batches of several nodes
    /// committing into one PostgreSQL database take the rows' locks in one order and cannot
    /// deadlock on them.
    ///
    /// Fails as a whole: either every outcome is returned, or none was committed.
    pub async fn commit_batch(
        &self,
        batch: Vec<StagedInstance>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let started_at = std::time::Instant::now();
        let mut tx = self.catalogue.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        let mut adopted: Vec<BlobKey> = Vec::new();
        let mut superseded: Vec<BlobKey> = Vec::new();

        let result: Result<(), StoreError> = async {
            // Pass 1: decide each instance and rename the accepted ones into place. Decisions
            // made earlier in this batch count as stored: two copies of one instance may
            // arrive together.
            let mut decided: HashMap<String, String> = HashMap::new();
            let mut accepted = Vec::new();
            for staged in batch {
                let uid = staged.attributes.sop_instance_uid.clone();
                // (digest of the stored data set, its blob key): equal by construction, kept
                // apart because only the second names a file
                let existing = match decided.get(&uid) {
                    Some(key) => Some((key.clone(), key.clone())),
                    None => existing_instance(&mut tx, &uid)
                        .await?
                        .map(|row| (row.dataset_digest, row.blob_key)),
                };
                let outcome = match &existing {
                    None => Outcome::Stored,
                    Some((digest, _)) if digest == staged.key.as_str() => Outcome::Duplicate,
                    Some(_) => match self.policy {
                        ConflictPolicy::KeepFirst => Outcome::KeptExisting,
                        ConflictPolicy::Replace => Outcome::Replaced,
                        ConflictPolicy::Reject => Outcome::RejectedConflict,
                    },
                };
                if matches!(outcome, Outcome::Stored | Outcome::Replaced) {
                    dirs.insert(self.blobs.adopt(staged.file, &staged.key)?);
                    adopted.push(staged.key.clone());
                    if let Some((_, old_blob)) = existing {
                        superseded.push(BlobKey::parse(&old_blob)?);
                    }
                    decided.insert(uid, staged.key.to_string());
                    accepted.push((
                        staged.attributes,
                        staged.key,
                        staged.dataset_offset,
                        staged.size_bytes,
                        staged.received_from,
                        staged.site,
                    ));
                }
                outcomes.push(outcome);
            }
            // Pass 2: the flush (milliseconds, on the blocking pool) or the upload runs while
            // the rows are written; the commit waits for both.
            let flush = (!dirs.is_empty()).then(|| {
                let blobs = self.blobs.clone();
                let dirs = std::mem::take(&mut dirs);
                let keys = adopted.clone();
                tokio::spawn(async move {
                    if blobs.is_shared() {
                        blobs.upload(&keys).await
                    } else {
                        tokio::task::spawn_blocking(move || blobs.make_durable(&dirs))
                            .await
                            .map_err(|e| {
                                StoreError::io("flush", PathBuf::new())(std::io::Error::other(e))
                            })?
                    }
                })
            });
            fn lock_order(x: &InstanceAttributes) -> (&str, &str, &str, &str) {
                (
                    &x.patient.patient_id,
                    &x.study.study_instance_uid,
                    &x.series.series_instance_uid,
                    &x.sop_instance_uid,
                )
            }
            accepted.sort_by(|a, b| lock_order(&a.0).cmp(&lock_order(&b.0)));
            for (attributes, key, dataset_offset, size_bytes, received_from, site) in &accepted {
                let location = NewLocation {
                    key,
                    dataset_offset: *dataset_offset,
                    size_bytes: *size_bytes,
                    received_from,
                    site: site.as_deref(),
                };
                upsert_instance(&mut tx, attributes, &location).await?;
            }
            if let Some(flush) = flush {
                flush.await.map_err(|e| {
                    StoreError::io("flush", PathBuf::new())(std::io::Error::other(e))
                })??;
            }
            Ok(())
        }
        .await;

        let flushed_at = std::time::Instant::now();
        let committed = match result {
            Ok(()) => tx.commit().await.map_err(StoreError::from),
            Err(e) => Err(e),
        };
        tracing::debug!(
            instances = outcomes.len(),
            decide_and_flush_us = flushed_at.duration_since(started_at).as_micros() as u64,
            commit_us = flushed_at.elapsed().as_micros() as u64,
            "batch committed"
        );
        if let Err(e) = committed {
            // Nothing references the files renamed in this batch; remove them now rather
            // than at the next start. Uploaded copies stay: another node may have committed
            // the same instance (same content, same key) meanwhile; the start-up pass removes
            // them once they are old and still unreferenced.
            for key in &adopted {
                if let Err(cleanup) = self.blobs.uncache(key).await {
                    tracing::warn!(blob = %key, error = %cleanup, "could not remove blob of failed batch");
                }
            }
            return Err(e);
        }
        for key in superseded {
            if let Err(e) = self.blobs.delete(&key).await {
                tracing::warn!(blob = %key, error = %e, "could not remove replaced blob; it will be removed at next start");
            }
        }
        Ok(outcomes)
    }
}
