//! The job queue, in the catalogue database.
//!
//! A job is claimed by one statement that moves it from `queued` (or from `running` with an
//! expired lease) to `running` under the claimer's name; on SQLite the single writer makes
//! that atomic, on PostgreSQL the same statement takes the row with `FOR UPDATE SKIP LOCKED`,
//! so that nodes claiming at once take different jobs without waiting on each other. Times
//! (leases, retry times) are the catalogue's UTC text, made by the claiming node
//! ([`mira_store::db::now`]): nodes keep their clocks in step (NTP), and a lease is minutes.
//! Completion and failure are conditional on still holding the claim, so a process whose
//! lease ran out cannot overwrite the result of the one that took the job over.

use mira_store::db::{self, Backend};
use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::analyzer::{Flag, Subject, SubjectLevel};

/// Why the queue could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The database failed.
    #[error("analysis queue: {0}")]
    Database(#[from] sqlx::Error),
    /// An input's file could not be read or fetched.
    #[error("analysis input: {0}")]
    Blob(String),
    /// A stored value that does not parse (a corrupt row).
    #[error("analysis queue: corrupt row {id}: {what}")]
    Corrupt {
        /// The job.
        id: i64,
        /// What is wrong.
        what: String,
    },
}

/// State of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting (perhaps until a retry time).
    Queued,
    /// Claimed by a worker.
    Running,
    /// Finished with a result.
    Done,
    /// Refused by the analyzer, or failed more often than allowed.
    Failed,
}

impl JobState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "queued" => Some(JobState::Queued),
            "running" => Some(JobState::Running),
            "done" => Some(JobState::Done),
            "failed" => Some(JobState::Failed),
            _ => None,
        }
    }
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// Analyzer name.
    pub analyzer: String,
    /// Granularity of the subject.
    pub level: SubjectLevel,
    /// The subject's UID.
    pub subject_uid: String,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// SOP Instance UIDs to analyse.
    pub inputs: Vec<String>,
    /// Digest of the inputs' blob keys.
    pub input_digest: String,
    /// How many times it has been claimed, this claim included.
    pub attempts: i64,
}

/// A job as the admin API and the reading workflow see it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    /// Id.
    pub id: i64,
    /// Analyzer name.
    pub analyzer: String,
    /// Granularity of the subject.
    pub subject_level: String,
    /// The subject's UID.
    pub subject_uid: String,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// State.
    pub state: JobState,
    /// Claims so far.
    pub attempts: i64,
    /// Earliest time of the next claim (UTC).
    pub not_before: String,
    /// The worker holding or last holding it.
    pub claimed_by: Option<String>,
    /// Version of the analyzer that produced the result.
    pub analyzer_version: Option<String>,
    /// The analyzer's report.
    pub result: Option<serde_json::Value>,
    /// Worklist flags.
    pub flags: Vec<Flag>,
    /// SOP Instance UIDs of derived objects in the archive.
    pub derived: Vec<String>,
    /// Why it failed (last failure).
    pub error: Option<String>,
    /// When it was made, started and finished (UTC).
    pub created_at: String,
    /// When the last claim started.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
}

/// Counts of jobs per state, for metrics and the admin API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StateCounts {
    /// Waiting.
    pub queued: i64,
    /// Claimed.
    pub running: i64,
    /// Finished.
    pub done: i64,
    /// Refused or given up.
    pub failed: i64,
}

/// Handle on the queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobQueue {
    pool: AnyPool,
}

const ROW_COLUMNS: &str = "id, analyzer, subject_level, subject_uid, study_instance_uid, state, \
    attempts, not_before, claimed_by, analyzer_version, result, flags, derived, error, \
    created_at, started_at, finished_at";

impl JobQueue {
    /// The queue in the catalogue database behind `pool` (migrated by `mira-store`).
    pub fn new(pool: AnyPool) -> Self {
        JobQueue { pool }
    }

    /// Makes a job for `subject` unless one with the same analyzer, subject and inputs
    /// exists. Returns whether a job was made.
    pub async fn enqueue(
        &self,
        analyzer: &str,
        study_instance_uid: &str,
        subject: &Subject,
    ) -> Result<bool, QueueError> {
        let inputs: Vec<&str> = subject.instances.iter().map(|(s, _)| s.as_str()).collect();
        let done = sqlx::query(
            "INSERT INTO analysis_jobs
                (analyzer, subject_level, subject_uid, study_instance_uid, inputs, input_digest)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (analyzer, subject_uid, input_digest) DO NOTHING",
        )
        .bind(analyzer)
        .bind(subject.level.as_str())
        .bind(&subject.uid)
        .bind(study_instance_uid)
        .bind(serde_json::to_string(&inputs).expect("strings serialise"))
        .bind(subject.input_digest())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims the oldest job that is due (queued and past its retry time, or running with an
    /// expired lease) for `worker`, holding it for `lease_secs`.
    pub async fn claim(&self, worker: &str, lease_secs: u64) -> Result<Option<Job>, QueueError> {
        let lock = match db::backend(&self.pool) {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE analysis_jobs SET state = 'running', claimed_by = $1, lease_until = $2,
                attempts = attempts + 1, started_at = $3
             WHERE id = (SELECT id FROM analysis_jobs
                         WHERE (state = 'queued' AND not_before <= $3)
                            OR (state = 'running' AND lease_until < $3)
                         ORDER BY id LIMIT 1 {lock})
             RETURNING id, analyzer, subject_level, subject_uid, study_instance_uid, inputs,
                       input_digest, attempts"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker)
            .bind(db::now_plus(lease_secs))
            .bind(db::now())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.get(0);
        let level: String = row.get(2);
        let inputs: String = row.get(5);
        Ok(Some(Job {
            id,
            analyzer: row.get(1),
            level: SubjectLevel::parse(&level).ok_or_else(|| QueueError::Corrupt {
                id,
                what: format!("subject level {level:?}"),
            })?,
            subject_uid: row.get(3),
            study_instance_uid: row.get(4),
            inputs: serde_json::from_str(&inputs).map_err(|e| QueueError::Corrupt {
                id,
                what: format!("inputs: {e}"),
            })?,
            input_digest: row.get(6),
            attempts: row.get(7),
        }))
    }

    /// Records the result of a job still held by `worker`. Returns false when the claim was
    /// lost (the lease expired and another worker took the job): the result is then dropped.
    pub async fn complete(
        &self,
        job: &Job,
        worker: &str,
        version: &str,
        result: &serde_json::Value,
        flags: &[Flag],
        derived: &[String],
    ) -> Result<bool, QueueError> {
        let done = sqlx::query(
            "UPDATE analysis_jobs SET state = 'done', analyzer_version = $1, result = $2, flags = $3,
                derived = $4, error = NULL, lease_until = NULL, finished_at = $7
             WHERE id = $5 AND claimed_by = $6 AND state = 'running'",
        )
            .bind(version)
            .bind(result.to_string())
            .bind(serde_json::to_string(flags).expect("flags serialise"))
            .bind(serde_json::to_string(derived).expect("strings serialise"))
            .bind(job.id)
            .bind(worker)
            .bind(db::now())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failure of a job held by `worker`: final when `retry` is false or the job
    /// has been tried `max_attempts` times, otherwise queued again after
    /// `retry_base_secs × 2^(attempts − 1)`.
    pub async fn fail(
        &self,
        job: &Job,
        worker: &str,
        error: &str,
        retry: bool,
        max_attempts: i64,
        retry_base_secs: u64,
    ) -> Result<JobState, QueueError> {
        let give_up = !retry || job.attempts >= max_attempts;
        let state = if give_up {
            JobState::Failed
        } else {
            JobState::Queued
        };
        let delay = retry_base_secs.saturating_mul(1u64 << (job.attempts - 1).clamp(0, 16));
        sqlx::query(
            "UPDATE analysis_jobs SET state = $1, error = $2, lease_until = NULL, not_before = $3,
                finished_at = $4
             WHERE id = $5 AND claimed_by = $6 AND state = 'running'",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(db::now_plus(delay))
        .bind(give_up.then(db::now))
        .bind(job.id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(state)
    }

    /// The jobs of a study, oldest first.
    pub async fn for_study(&self, study_instance_uid: &str) -> Result<Vec<JobRow>, QueueError> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM analysis_jobs WHERE study_instance_uid = $1 ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(study_instance_uid)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_row).collect()
    }

    /// The most recent jobs, optionally in one state.
    pub async fn list(
        &self,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<JobRow>, QueueError> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM analysis_jobs WHERE ($1 IS NULL OR state = $1)
             ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state.map(JobState::as_str))
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_row).collect()
    }

    /// Jobs per state.
    pub async fn counts(&self) -> Result<StateCounts, QueueError> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM analysis_jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut counts = StateCounts::default();
        for row in rows {
            let n: i64 = row.get(1);
            match JobState::parse(row.get::<&str, _>(0)) {
                Some(JobState::Queued) => counts.queued = n,
                Some(JobState::Running) => counts.running = n,
                Some(JobState::Done) => counts.done = n,
                Some(JobState::Failed) => counts.failed = n,
                None => {}
            }
        }
        Ok(counts)
    }
}

fn job_row(row: &sqlx::any::AnyRow) -> Result<JobRow, QueueError> {
    let id: i64 = row.get(0);
    let corrupt = |what: String| QueueError::Corrupt { id, what };
    let state: String = row.get(5);
    let result: Option<String> = row.get(10);
    let flags: String = row.get(11);
    let derived: String = row.get(12);
    Ok(JobRow {
        id,
        analyzer: row.get(1),
        subject_level: row.get(2),
        subject_uid: row.get(3),
        study_instance_uid: row.get(4),
        state: JobState::parse(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
        attempts: row.get(6),
        not_before: row.get(7),
        claimed_by: row.get(8),
        analyzer_version: row.get(9),
        result: result
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| corrupt(format!("result: {e}")))?,
        flags: serde_json::from_str(&flags).map_err(|e| corrupt(format!("flags: {e}")))?,
        derived: serde_json::from_str(&derived).map_err(|e| corrupt(format!("derived: {e}")))?,
        error: row.get(13),
        created_at: row.get(14),
        started_at: row.get(15),
        finished_at: row.get(16),
    })
}
