//! mira's storage: the catalogue and the blob store, and the one operation that writes both.
//!
//! - [`blob`]: [`BlobStore`], where instance files live. Files are content-addressed by the
//!   SHA-256 of their data set ([`BlobKey`]), fanned out over 256 directories. Reads, listing
//!   and deletion go through `object_store`; writes go through a staging directory on the same
//!   filesystem so that a file is fsynced *before* it appears under its final name.
//! - [`db`]: the catalogue database, SQLite (embedded default) or PostgreSQL (many nodes),
//!   through one sqlx `Any` pool, with the migrations of each engine (`migrations/sqlite`,
//!   `migrations/postgres`) and the SQL conventions every crate follows.
//! - [`catalogue`]: [`Catalogue`], the index of patients, studies, series and instances.
//! - [`query`]: [`Query`], the attribute matching of PS3.4 C.2.2.2 on the catalogue, shared by
//!   C-FIND and QIDO-RS, and the lookup of the instances a retrieve sends.
//! - [`synth`]: [`synth::Synth`], reproducible synthetic patients, studies, series and
//!   instances for benchmarks, and [`Catalogue::insert_synthetic`], which writes a million of
//!   them in minutes, pointing at real template blobs.
//! - [`archive`]: [`Archive::commit_batch`], the crash-safe commit of a batch of staged
//!   instances: decide each against what is stored (new, duplicate, conflict policy), rename
//!   accepted files into place, fsync their directories, then commit the catalogue
//!   transaction. Nothing is acknowledged before that commit returns.
//!
//! This crate knows nothing of DIMSE, HTTP or how instances arrive; it stores what
//! `mira-ingest` hands it.
//!
//! # Invariants
//! - An instance row exists only if its blob is durable under its final name.
//! - A blob without a row is an orphan: left by a crash between rename and commit, or by a
//!   replaced instance. [`Archive::open`] removes orphans and leftover staging files.
#![warn(missing_docs)]

pub mod archive;
pub mod blob;
pub mod catalogue;
pub mod db;
mod error;
pub mod query;
pub mod synth;

pub use archive::{Archive, ConflictPolicy, Location, Outcome, Recovery, StagedInstance};
pub use blob::{BlobKey, BlobStore, Flush, S3Settings, StagingFile};
pub use catalogue::{Catalogue, InstanceLocation, PatientRow, SeriesRow, StudyRow};
pub use error::StoreError;
pub use query::{
    Level, Match, MatchValue, Matcher, Query, QueryError, QueryFailure, QueryOptions, Scope,
    SiteFilter,
};
