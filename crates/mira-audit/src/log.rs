//! The log in the catalogue database: appends, reads, verification.

use std::sync::Arc;

use sqlx::{AnyPool, Row};
use tokio::sync::Mutex;

use crate::chain::{ChainFault, ChainReport, GENESIS_HASH, record_hash, verify_records};
use crate::event::{Actor, AuditAction, AuditEvent, AuditObject, AuditRecord, Outcome};

/// Why the log could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The database refused (full disk, locked past the busy timeout, closed).
    #[error("audit log database error")]
    Database(#[from] sqlx::Error),
    /// A stored row holds a value no version of mira writes (an unknown action, a negative
    /// sequence number): reported by verification as modified content where possible.
    #[error("audit record at position {position} is unreadable: {reason}")]
    Corrupt {
        /// Position in insertion order, from 1.
        position: u64,
        /// What is wrong.
        reason: String,
    },
}

/// The append-only audit log. Cheap to clone (an `Arc`): give one to the HTTP layer, the
/// DIMSE layer and every worker.
///
/// Appends are serialised: in this process by a mutex, across processes by the write lock of
/// [`mira_store::db::begin_write`] (SQLite: `BEGIN IMMEDIATE` on the one file; PostgreSQL: a
/// transaction-scoped advisory lock, the same on every node), inside which the tail (last
/// sequence number and hash) is read and the new record inserted, so the chain stays linear
/// whoever writes: one writer at a time, cluster-wide, and a record costs one short
/// transaction.
#[derive(Debug, Clone)]
pub struct AuditLog {
    pool: AnyPool,
    append: Arc<Mutex<()>>,
}

impl AuditLog {
    /// A log over the catalogue database (`Catalogue::pool()`); its table comes with the
    /// catalogue's migrations.
    pub fn new(pool: AnyPool) -> AuditLog {
        AuditLog {
            pool,
            append: Arc::new(Mutex::new(())),
        }
    }

    /// Appends one record, stamped now. Returns it with its sequence number and hash.
    pub async fn record(&self, event: AuditEvent) -> Result<AuditRecord, AuditError> {
        self.record_at(event, now_rfc3339()).await
    }

    /// Appends one record with the given time (RFC 3339 UTC); for imports and tests.
    pub async fn record_at(
        &self,
        event: AuditEvent,
        recorded_at: String,
    ) -> Result<AuditRecord, AuditError> {
        let _serialised = self.append.lock().await;
        let mut tx = mira_store::db::begin_write(&self.pool, "mira.audit_log").await?;
        let tail = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let (prev_seq, prev_hash) = match tail {
            Some(row) => (
                row.try_get::<i64, _>("seq")? as u64,
                row.try_get::<String, _>("hash")?,
            ),
            None => (0, GENESIS_HASH.to_string()),
        };
        let mut record = AuditRecord {
            seq: prev_seq + 1,
            recorded_at,
            event,
            prev_hash,
            hash: String::new(),
        };
        record.hash = record_hash(&record);
        let e = &record.event;
        sqlx::query(
            "INSERT INTO audit_log (seq, recorded_at, actor_kind, actor, site, action, \
             object_kind, object_id, outcome, source_address, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(record.seq as i64)
        .bind(&record.recorded_at)
        .bind(e.actor.kind())
        .bind(e.actor.id())
        .bind(&e.site)
        .bind(e.action.as_str())
        .bind(e.object.kind())
        .bind(e.object.id())
        .bind(e.outcome.as_str())
        .bind(&e.source_address)
        .bind(&e.detail)
        .bind(&record.prev_hash)
        .bind(&record.hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Every record in insertion order, optionally from `from` (inclusive) to `to`
    /// (exclusive), compared as RFC 3339 UTC text (`2026-11-23` works as a day's start).
    pub async fn records(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<AuditRecord>, AuditError> {
        let rows = sqlx::query(
            "SELECT seq, recorded_at, actor_kind, actor, site, action, object_kind, object_id, \
             outcome, source_address, detail, prev_hash, hash FROM audit_log \
             WHERE ($1 IS NULL OR recorded_at >= $1) AND ($2 IS NULL OR recorded_at < $2) \
             ORDER BY id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .enumerate()
            .map(|(index, row)| decode_row(row, index as u64 + 1))
            .collect()
    }

    /// Verifies the whole chain. A fault is a result, not an error: the error is for a log
    /// that cannot be read at all.
    pub async fn verify(&self) -> Result<ChainReport, AuditError> {
        let rows = sqlx::query(
            "SELECT seq, recorded_at, actor_kind, actor, site, action, object_kind, object_id, \
             outcome, source_address, detail, prev_hash, hash FROM audit_log ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut records = Vec::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            let position = index as u64 + 1;
            match decode_row(row, position) {
                Ok(record) => records.push(record),
                // a value no version of mira writes: the row was edited (unless something
                // before it is already wrong, which is then the first fault)
                Err(AuditError::Corrupt { .. }) => {
                    let mut report = verify_records(&records);
                    if report.fault.is_none() {
                        let seq = row.try_get::<i64, _>("seq").unwrap_or(-1);
                        report.fault = Some(ChainFault::Modified {
                            seq: u64::try_from(seq).unwrap_or(0),
                            position,
                        });
                    }
                    report.records = rows.len() as u64;
                    return Ok(report);
                }
                Err(other) => return Err(other),
            }
        }
        Ok(verify_records(&records))
    }
}

fn decode_row(row: &sqlx::any::AnyRow, position: u64) -> Result<AuditRecord, AuditError> {
    let text = |name: &str| row.try_get::<String, _>(name);
    let seq: i64 = row.try_get("seq")?;
    let action = text("action")?;
    let corrupt = |reason: String| AuditError::Corrupt { position, reason };
    Ok(AuditRecord {
        seq: u64::try_from(seq).map_err(|_| corrupt(format!("sequence number {seq}")))?,
        recorded_at: text("recorded_at")?,
        event: AuditEvent {
            actor: Actor::from_parts(&text("actor_kind")?, text("actor")?),
            site: text("site")?,
            action: AuditAction::parse(&action)
                .ok_or_else(|| corrupt(format!("unknown action {action:?}")))?,
            object: AuditObject::from_parts(&text("object_kind")?, text("object_id")?),
            outcome: Outcome::parse(&text("outcome")?),
            source_address: text("source_address")?,
            detail: text("detail")?,
        },
        prev_hash: text("prev_hash")?,
        hash: text("hash")?,
    })
}

/// Now as RFC 3339 UTC with microseconds (`2026-11-23T18:05:00.123456Z`): fixed width, so
/// that text order is time order.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}
