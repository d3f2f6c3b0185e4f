//! The ingest pipeline: every DICOM instance, whatever its entry point (C-STORE, `mira import`,
//! later STOW-RS), goes through [`Ingest`].
//!
//! 1. The entry point writes the bytes to a staging file ([`Ingest::stage`]): the network edge
//!    streams P-DATA fragments straight to disk, `import` copies the file. Both digest the data
//!    set bytes as they pass ([`DatasetDigest`]).
//! 2. [`Ingest::accept`] fsyncs the staging file, parses it whole with dicom-rs and checks the
//!    minimum (see `mira_dicom::parse_instance`), on the blocking pool.
//! 3. A single writer task commits accepted instances in groups (`Archive::commit_batch`):
//!    concurrent associations share one catalogue transaction and one directory fsync, which
//!    is what keeps many modalities sending at once fast without weakening durability.
//! 4. After the commit, an [`InstanceStored`] event goes to subscribers (QC, analysis) and the
//!    caller gets its [`Outcome`]; only then may it acknowledge.
//!
//! This crate knows nothing of DIMSE or HTTP. Logs name instances by blob key (a digest),
//! never by UID or patient attribute.
#![warn(missing_docs)]

mod digest;
mod pipeline;

pub use digest::DatasetDigest;
pub use mira_store::{ConflictPolicy, Outcome, StagingFile};
pub use pipeline::{
    Expected, Ingest, IngestConfig, IngestError, IngestStats, InstanceStored, Receipt,
    StagedReceipt,
};
