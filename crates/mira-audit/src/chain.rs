//! The hash chain: canonical bytes of a record, and verification of a sequence of records.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::event::AuditRecord;

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version tag opening the canonical bytes; a new layout gets a new tag.
const CANONICAL_VERSION: &str = "mira-audit/1";

/// The canonical bytes of a record: its fields in a fixed order, each as a 4-byte big-endian
/// length and its UTF-8 bytes (no separator can be forged by a field's content), the previous
/// record's hash last. `hash` itself is not part of them.
pub fn canonical_bytes(record: &AuditRecord) -> Vec<u8> {
    let event = &record.event;
    let seq = record.seq.to_string();
    let fields: [&str; 13] = [
        CANONICAL_VERSION,
        &seq,
        &record.recorded_at,
        event.actor.kind(),
        event.actor.id(),
        &event.site,
        event.action.as_str(),
        event.object.kind(),
        event.object.id(),
        event.outcome.as_str(),
        &event.source_address,
        &event.detail,
        &record.prev_hash,
    ];
    let mut bytes = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for field in fields {
        bytes.extend_from_slice(&(field.len() as u32).to_be_bytes());
        bytes.extend_from_slice(field.as_bytes());
    }
    bytes
}

/// SHA-256 (hex) of a record's canonical bytes.
pub fn record_hash(record: &AuditRecord) -> String {
    hex::encode(Sha256::digest(canonical_bytes(record)))
}

/// The first thing wrong with a chain, located by sequence number and by position (the
/// record's place in insertion order, from 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "fault", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ChainFault {
    /// The record's content does not match its own hash: it was edited.
    #[error("record {seq} (position {position}) was modified: its content does not match its hash")]
    Modified {
        /// The record's sequence number.
        seq: u64,
        /// Its position.
        position: u64,
    },
    /// The record's content matches its hash but not the previous record's: the previous
    /// record was edited and re-hashed, or a record was put in its place.
    #[error(
        "record {seq} (position {position}) does not follow the record before it: the previous record was modified or replaced"
    )]
    BrokenLink {
        /// The record's sequence number.
        seq: u64,
        /// Its position.
        position: u64,
    },
    /// A sequence number is absent: records were deleted.
    #[error(
        "record {missing} is missing (deleted): position {position} holds record {found} instead"
    )]
    Missing {
        /// The first absent sequence number.
        missing: u64,
        /// Where it should have been.
        position: u64,
        /// The sequence number found there.
        found: u64,
    },
    /// A record is out of its place: records were swapped or reordered.
    #[error(
        "records out of order at position {position}: found record {found} where record {expected} belongs (swapped or reordered)"
    )]
    OutOfOrder {
        /// Where the disorder starts.
        position: u64,
        /// The sequence number expected there.
        expected: u64,
        /// The one found.
        found: u64,
    },
}

/// The result of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Records read.
    pub records: u64,
    /// The last record's hash: keep it elsewhere (a syslog collector, a ticket) to detect a
    /// later truncation of the tail, which no chain can show by itself.
    pub head_hash: String,
    /// The first fault, if any.
    pub fault: Option<ChainFault>,
}

/// Verifies `records`, given in insertion order.
pub fn verify_records(records: &[AuditRecord]) -> ChainReport {
    let mut prev_hash = GENESIS_HASH.to_string();
    let seqs: std::collections::HashSet<u64> = records.iter().map(|r| r.seq).collect();
    let mut fault = None;
    for (index, record) in records.iter().enumerate() {
        let position = index as u64 + 1;
        let expected = position;
        if record.seq != expected {
            fault = Some(if seqs.contains(&expected) {
                ChainFault::OutOfOrder {
                    position,
                    expected,
                    found: record.seq,
                }
            } else {
                ChainFault::Missing {
                    missing: expected,
                    position,
                    found: record.seq,
                }
            });
            break;
        }
        if record_hash(record) != record.hash {
            fault = Some(ChainFault::Modified {
                seq: record.seq,
                position,
            });
            break;
        }
        if record.prev_hash != prev_hash {
            fault = Some(ChainFault::BrokenLink {
                seq: record.seq,
                position,
            });
            break;
        }
        prev_hash = record.hash.clone();
    }
    ChainReport {
        records: records.len() as u64,
        head_hash: records.last().map(|r| r.hash.clone()).unwrap_or_default(),
        fault,
    }
}
