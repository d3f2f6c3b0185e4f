//! The tamper-evident audit log: who did what to which study, from where, and how it ended,
//! appended to a hash chain in the catalogue database.
//!
//! Every record carries a sequence number (1, 2, 3 … without gaps) and the SHA-256 of the
//! previous record's canonical bytes ([`chain::canonical_bytes`]), and its own hash. An edit
//! breaks the record's hash, a deletion leaves a gap in the sequence numbers, a reordering
//! puts a number out of its place: [`AuditLog::verify`] names the first record where any of
//! that happened. Records never hold patient names or IDs: objects are study and series UIDs
//! or keyed pseudonyms ([`PatientPseudonym`]).
//!
//! What it does not do: prove that the tail was not cut off, or that someone with write access
//! did not rewrite the whole chain; for that, ship the records (and the head hash that
//! verification prints) off the machine as they are written: [`atna`] exports them as RFC 5424
//! syslog lines carrying DICOM audit messages (PS3.15 A.5), which an IHE ATNA audit record
//! repository accepts, or as JSON lines.
//!
//! Modules: `event` (the record's vocabulary), [`chain`] (canonical bytes, verification),
//! `log` ([`AuditLog`], the store), `sink` ([`AuditSink`], the queue the edges write to),
//! [`atna`] (export).
//!
//! ```no_run
//! # async fn example(catalogue: mira_store::Catalogue) -> Result<(), mira_audit::AuditError> {
//! use mira_audit::{Actor, AuditAction, AuditEvent, AuditLog, AuditObject, Outcome};
//! let log = AuditLog::new(catalogue.pool().clone());
//! log.record(AuditEvent {
//!     actor: Actor::User("dr.lee".into()),
//!     site: "central-hospital".into(),
//!     action: AuditAction::View,
//!     object: AuditObject::Study("1.2.840.99.1".into()),
//!     outcome: Outcome::Success,
//!     source_address: "10.1.2.3".into(),
//!     detail: "wado-rs rendered".into(),
//! })
//! .await?;
//! assert!(log.verify().await?.fault.is_none());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod atna;
pub mod chain;
mod event;
mod log;
mod sink;

pub use chain::{ChainFault, ChainReport};
pub use event::{
    Actor, AuditAction, AuditEvent, AuditObject, AuditRecord, Outcome, PatientPseudonym,
};
pub use log::{AuditError, AuditLog, now_rfc3339};
pub use sink::AuditSink;
