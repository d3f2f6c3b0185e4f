//! mira's DIMSE services, on dicom-ul's async upper layer.
//!
//! dicom-ul negotiates associations and moves PDUs; the DIMSE message layer on top of it is
//! here ([`dimse`]), because no crate provides one.
//!
//! | Service | Role | Notes |
//! |---|---|---|
//! | Verification (C-ECHO) | SCP | |
//! | Storage (C-STORE) | SCP | every standard storage SOP class; private ones if configured |
//!
//! [`StoreScp`] accepts associations (AE-title allow-list, a limit on concurrent associations,
//! read/write timeouts, a maximum PDU size), and streams each C-STORE data set to a staging file
//! as its P-DATA fragments arrive: an instance is never held whole in memory. The transfer
//! syntax the requestor proposed first among those mira accepts is chosen, and the data set is
//! stored as sent. A success status is sent only after `mira-ingest` has committed the instance;
//! every failure answers with a PS3.4 status and an Error Comment, and is logged with the reason.
#![warn(missing_docs)]

pub mod dimse;
mod qr;
mod retrieve;
mod scp;

pub use scp::{AeTitlePolicy, RetrieveRoles, Scp, ScpConfig, store_failure_status};
