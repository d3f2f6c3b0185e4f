use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mira_dicom::part10::read_head;
use mira_dicom::{InvalidInstance, parse_instance};
use mira_store::{Archive, BlobKey, Flush, Outcome, StagedInstance, StagingFile, StoreError};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::DatasetDigest;

/// Settings of the pipeline.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Most instances committed in one catalogue transaction.
    pub max_batch: usize,
    /// How many stored-instance events a slow subscriber may lag behind before it misses some.
    pub event_capacity: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_batch: 64,
            event_capacity: 4096,
        }
    }
}

/// What the sender of a C-STORE said the instance is; the data set must agree.
#[derive(Debug, Clone)]
pub struct Expected {
    /// Affected SOP Class UID of the request.
    pub sop_class_uid: String,
    /// Affected SOP Instance UID of the request.
    pub sop_instance_uid: String,
}

/// A completely written staging file, handed to [`Ingest::accept`].
#[derive(Debug)]
pub struct StagedReceipt {
    /// The file.
    pub file: StagingFile,
    /// Digest of its data set, computed while it was written.
    pub key: BlobKey,
    /// Where its data set starts.
    pub dataset_offset: u64,
    /// `import` or the calling AE title.
    pub received_from: String,
    /// Code of the sending site (a new study belongs to it), when known.
    pub site: Option<String>,
    /// What the sender claimed, if it said anything.
    pub expected: Option<Expected>,
}

/// What became of an accepted instance.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    /// The outcome of the commit.
    pub outcome: Outcome,
    /// The blob key (digest of the data set).
    pub key: String,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// Study Instance UID.
    pub study_instance_uid: String,
}

/// Announced to subscribers after an instance is committed (stored or replaced).
#[derive(Debug, Clone, Serialize)]
pub struct InstanceStored {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Modality of the series.
    pub modality: Option<String>,
    /// Blob key.
    pub key: String,
    /// Stored or replaced.
    pub outcome: Outcome,
}

/// Why an instance was not stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The instance itself is unacceptable.
    #[error(transparent)]
    Invalid(#[from] InvalidInstance),
    /// The data set contradicts what the sender announced in its request.
    #[error("{field} of the request differs from the data set")]
    RequestMismatch {
        /// The attribute that disagrees.
        field: &'static str,
    },
    /// Storage failed; nothing of this instance was committed.
    #[error("storage failed: {0}")]
    Store(#[from] Arc<StoreError>),
    /// The pipeline is shutting down.
    #[error("the archive is shutting down")]
    Closed,
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        IngestError::Store(Arc::new(e))
    }
}

impl IngestError {
    /// Whether the failure is the server's (storage, shutdown) rather than the instance's.
    pub fn is_server_side(&self) -> bool {
        matches!(self, IngestError::Store(_) | IngestError::Closed)
            || matches!(self, IngestError::Invalid(InvalidInstance::Io(_)))
    }

    /// Whether storage ran out of space.
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, IngestError::Store(e) if e.is_out_of_space())
    }

    /// Short stable code for summaries and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Invalid(e) => e.code(),
            IngestError::RequestMismatch { .. } => "request_mismatch",
            IngestError::Store(_) => "storage",
            IngestError::Closed => "closed",
        }
    }
}

/// Counters since start, for metrics.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Instances newly stored.
    pub stored: AtomicU64,
    /// Identical re-sends.
    pub duplicates: AtomicU64,
    /// Instances that replaced a stored one.
    pub replaced: AtomicU64,
    /// Conflicting instances not stored (keep-first or reject policy).
    pub conflicts: AtomicU64,
    /// Instances refused as invalid.
    pub rejected: AtomicU64,
    /// Storage failures.
    pub failed: AtomicU64,
    /// Catalogue transactions committed.
    pub batches: AtomicU64,
}

struct WriteRequest {
    staged: StagedInstance,
    reply: oneshot::Sender<Result<Outcome, Arc<StoreError>>>,
}

/// The pipeline. Cheap to clone; all clones share one writer task.
#[derive(Clone)]
pub struct Ingest {
    archive: Archive,
    writer: mpsc::Sender<WriteRequest>,
    events: broadcast::Sender<InstanceStored>,
    stats: Arc<IngestStats>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("archive", &self.archive)
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(archive: Archive, config: &IngestConfig) -> Self {
        let (writer, requests) = mpsc::channel(config.max_batch.max(1) * 4);
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let stats = Arc::new(IngestStats::default());
        tokio::spawn(run_writer(
            archive.clone(),
            requests,
            config.max_batch.max(1),
            stats.clone(),
        ));
        Ingest {
            archive,
            writer,
            events,
            stats,
        }
    }

    /// The archive the pipeline writes to.
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// Counters since start.
    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    /// Subscribes to stored-instance events.
    pub fn subscribe(&self) -> broadcast::Receiver<InstanceStored> {
        self.events.subscribe()
    }

    /// A new staging file for an entry point to write into.
    pub fn stage(&self) -> Result<StagingFile, IngestError> {
        Ok(self.archive.blobs.stage()?)
    }

    /// Fsyncs, parses and validates a completely written staging file, commits it and
    /// announces it. Returns only after the outcome is durable.
    pub async fn accept(&self, receipt: StagedReceipt) -> Result<Receipt, IngestError> {
        let result = self.accept_inner(receipt).await;
        if let Err(e) = &result {
            let counter = if e.is_server_side() {
                &self.stats.failed
            } else {
                &self.stats.rejected
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    async fn accept_inner(&self, receipt: StagedReceipt) -> Result<Receipt, IngestError> {
        let flush = self.archive.blobs.flush();
        let staged = tokio::task::spawn_blocking(move || prepare(receipt, flush))
            .await
            .map_err(|_| IngestError::Closed)??;
        let event_base = InstanceStored {
            sop_instance_uid: staged.attributes.sop_instance_uid.clone(),
            sop_class_uid: staged.attributes.instance.sop_class_uid.clone(),
            series_instance_uid: staged.attributes.series_instance_uid.clone(),
            study_instance_uid: staged.attributes.study.study_instance_uid.clone(),
            modality: staged.attributes.series.modality.clone(),
            key: staged.key.to_string(),
            outcome: Outcome::Stored,
        };
        let (reply, outcome) = oneshot::channel();
        self.writer
            .send(WriteRequest { staged, reply })
            .await
            .map_err(|_| IngestError::Closed)?;
        let outcome = outcome.await.map_err(|_| IngestError::Closed)??;

        let counter = match outcome {
            Outcome::Stored => &self.stats.stored,
            Outcome::Duplicate => &self.stats.duplicates,
            Outcome::Replaced => &self.stats.replaced,
            Outcome::KeptExisting | Outcome::RejectedConflict => &self.stats.conflicts,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Outcome::Stored | Outcome::Duplicate => {
                tracing::debug!(blob = %event_base.key, ?outcome, "instance committed")
            }
            Outcome::Replaced | Outcome::KeptExisting | Outcome::RejectedConflict => {
                tracing::warn!(
                    blob = %event_base.key,
                    ?outcome,
                    policy = ?self.archive.policy(),
                    "an instance arrived with a SOP Instance UID already stored with different content"
                )
            }
        }
        let receipt = Receipt {
            outcome,
            key: event_base.key.clone(),
            sop_instance_uid: event_base.sop_instance_uid.clone(),
            sop_class_uid: event_base.sop_class_uid.clone(),
            series_instance_uid: event_base.series_instance_uid.clone(),
            study_instance_uid: event_base.study_instance_uid.clone(),
        };
        if matches!(outcome, Outcome::Stored | Outcome::Replaced) {
            // No subscriber is not an error: QC may be disabled.
            let _ = self.events.send(InstanceStored {
                outcome,
                ..event_base
            });
        }
        Ok(receipt)
    }

    /// Imports one file from disk: copies it into staging byte for byte, then
    /// [`accept`](Self::accept)s it.
    pub async fn import_file(&self, path: &Path) -> Result<Receipt, IngestError> {
        self.import_file_for(path, None).await
    }

    /// [`import_file`](Self::import_file) on behalf of a site: a new study belongs to it.
    pub async fn import_file_for(
        &self,
        path: &Path,
        site: Option<&str>,
    ) -> Result<Receipt, IngestError> {
        let staging = self.stage()?;
        let source = path.to_path_buf();
        let receipt = tokio::task::spawn_blocking(move || copy_to_staging(&source, staging))
            .await
            .map_err(|_| IngestError::Closed)?;
        match receipt {
            Ok(mut receipt) => {
                receipt.site = site.map(str::to_string);
                self.accept(receipt).await
            }
            Err(e) => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Stores a PS3.10 file that mira made itself (an analysis SR, a signed report):
    /// stages the bytes, then [`accept`](Self::accept)s them like any received instance, with
    /// `received_from` naming the producer.
    pub async fn store_bytes(
        &self,
        bytes: Vec<u8>,
        received_from: &str,
    ) -> Result<Receipt, IngestError> {
        let mut staging = self.stage()?;
        let received_from = received_from.to_string();
        let receipt = tokio::task::spawn_blocking(move || {
            let head =
                read_head(&mut std::io::Cursor::new(&bytes)).map_err(InvalidInstance::from)?;
            let mut digest = DatasetDigest::new(head.dataset_offset);
            digest.update(&bytes);
            staging.write_all(&bytes)?;
            Ok::<_, IngestError>(StagedReceipt {
                file: staging,
                key: digest.finish(),
                dataset_offset: head.dataset_offset,
                received_from,
                site: None,
                expected: None,
            })
        })
        .await
        .map_err(|_| IngestError::Closed)?;
        match receipt {
            Ok(receipt) => self.accept(receipt).await,
            Err(e) => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

fn copy_to_staging(source: &Path, mut staging: StagingFile) -> Result<StagedReceipt, IngestError> {
    let mut reader =
        BufReader::with_capacity(256 * 1024, File::open(source).map_err(InvalidInstance::Io)?);
    let head = read_head(&mut reader).map_err(InvalidInstance::from)?;
    reader.rewind().map_err(InvalidInstance::Io)?;
    let mut digest = DatasetDigest::new(head.dataset_offset);
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buffer).map_err(InvalidInstance::Io)?;
        if n == 0 {
            break;
        }
        digest.update(&buffer[..n]);
        staging.write_all(&buffer[..n])?;
    }
    Ok(StagedReceipt {
        file: staging,
        key: digest.finish(),
        dataset_offset: head.dataset_offset,
        received_from: "import".to_string(),
        site: None,
        expected: None,
    })
}

/// The blocking part of acceptance: parse, check, and fsync when the flush is per file.
fn prepare(receipt: StagedReceipt, flush: Flush) -> Result<StagedInstance, IngestError> {
    let StagedReceipt {
        mut file,
        key,
        dataset_offset,
        received_from,
        site,
        expected,
    } = receipt;
    let parsed = parse_instance(file.path()).map_err(|e| match (e, &expected) {
        // over the network the meta header is written from the request, so a meta/data set
        // disagreement is the data set contradicting what the sender announced
        (InvalidInstance::MetaMismatch { field }, Some(_)) => IngestError::RequestMismatch {
            field: if field.contains("Class") {
                "Affected SOP Class UID"
            } else {
                "Affected SOP Instance UID"
            },
        },
        (e, _) => IngestError::Invalid(e),
    })?;
    if parsed.dataset_offset != dataset_offset {
        // the writer and the parser disagree on where the data set starts: the digest would
        // not identify the data set
        return Err(InvalidInstance::BadMeta(
            "File Meta Information length is inconsistent".into(),
        )
        .into());
    }
    if let Some(expected) = expected {
        if mira_dicom::syntax::trim_uid(&expected.sop_instance_uid)
            != parsed.attributes.sop_instance_uid
        {
            return Err(IngestError::RequestMismatch {
                field: "Affected SOP Instance UID",
            });
        }
        if mira_dicom::syntax::trim_uid(&expected.sop_class_uid)
            != parsed.attributes.instance.sop_class_uid
        {
            return Err(IngestError::RequestMismatch {
                field: "Affected SOP Class UID",
            });
        }
    }
    if flush == Flush::PerFile {
        file.sync()?;
    }
    let size_bytes = file.len()?;
    Ok(StagedInstance {
        file,
        key,
        attributes: parsed.attributes,
        dataset_offset,
        size_bytes,
        received_from,
        site,
    })
}

async fn run_writer(
    archive: Archive,
    mut requests: mpsc::Receiver<WriteRequest>,
    max_batch: usize,
    stats: Arc<IngestStats>,
) {
    while let Some(first) = requests.recv().await {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match requests.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (staged, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|r| (r.staged, r.reply)).unzip();
        let size = staged.len();
        match archive.commit_batch(staged).await {
            Ok(outcomes) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, instances = size, "catalogue commit failed; nothing of the batch was stored");
                let e = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
    tracing::debug!("ingest writer stopped");
}
