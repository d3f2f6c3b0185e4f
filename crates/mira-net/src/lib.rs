//! mira's DIMSE services, on dicom-ul's async upper layer.
//!
//! dicom-ul negotiates associations and moves PDUs; the DIMSE message layer on top of it is
//! here ([`dimse`]), because no crate provides one.
//!
//! | Service | Role | Notes |
//! |---|---|---|
//! | Verification (C-ECHO) | SCP | |
//! | Storage (C-STORE) | SCP | every standard storage SOP class; private ones if configured |
//! | Query/Retrieve FIND (C-FIND) | SCP | Patient Root and Study Root; every level; C-CANCEL |
//! | Query/Retrieve MOVE (C-MOVE) | SCP, and Storage SCU to the destination | destinations from `[dimse.move_destinations]` |
//! | Query/Retrieve GET (C-GET) | SCP, and Storage SCU on the same association | SCU/SCP role selection |
//!
//! [`Scp`] accepts associations (AE-title allow-list, a limit on concurrent associations,
//! read/write timeouts, a maximum PDU size), and streams each C-STORE data set to a staging file
//! as its P-DATA fragments arrive: an instance is never held whole in memory. The transfer
//! syntax the requestor proposed first among those mira accepts is chosen, and the data set is
//! stored as sent. A success status is sent only after `mira-ingest` has committed the instance;
//! every failure answers with a PS3.4 status and an Error Comment, and is logged with the reason.
//!
//! Queries are answered from the catalogue by `mira_store::query`, the same matching QIDO-RS
//! uses: `qr` reads identifiers into queries and writes matches back. Retrieves send each
//! instance as stored when the peer accepted its transfer syntax, and otherwise decode it into
//! explicit VR little endian (`retrieve`), so that a peer proposing only uncompressed syntaxes
//! still receives compressed instances. Sub-operations are counted in pending responses; the
//! final status says how many failed (B000) or that none could be sent (A702).
#![warn(missing_docs)]

pub mod dimse;
mod qr;
mod retrieve;
mod scp;

pub use scp::{AeTitlePolicy, RetrieveRoles, Scp, ScpConfig, store_failure_status};
