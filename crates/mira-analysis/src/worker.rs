//! The server's analysis loop: route settled studies, claim jobs, run them, store what they
//! derive, record the outcome.
//!
//! A study is routed once its study-level QC result exists (QC's settle window is how mira
//! decides a study is complete) and again whenever that result is renewed (more instances
//! arrived). Routing and claiming go through the database, so every node can do both, and a
//! restart resumes where the database says: a job left `running` by a dead process is claimed
//! again when its lease expires.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mira_ingest::Ingest;
use mira_store::BlobKey;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tokio::sync::watch;

use crate::analyzer::{
    AnalysisInput, Analyzer, AnalyzerError, InputFile, InstanceView, PriorResult, SeriesView,
    StudyView,
};
use crate::jobs::{Job, JobQueue, JobState, QueueError};

/// The `[analysis]` section of the server's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisSettings {
    /// Whether `mira serve` routes and runs analyses (it needs `[qc] enabled`: QC decides
    /// when a study is complete).
    pub enabled: bool,
    /// How often the database is polled for settled studies and due jobs, in milliseconds.
    pub poll_millis: u64,
    /// How long a claimed job is held before another worker may take it over, in seconds.
    pub lease_secs: u64,
    /// Claims of a job before a failure is final.
    pub max_attempts: i64,
    /// First retry delay in seconds; it doubles with each attempt.
    pub retry_base_secs: u64,
    /// The analyzers to route to (`lung-ct`, `fundus-dr`).
    pub analyzers: Vec<String>,
    /// Language of the derived SR's text: `zh-CN` (the default) or `en-US`.
    pub language: String,
    /// A `mira-models` manifest of a candidate classifier for the lung analyzer, replacing its
    /// classical false-positive reduction.
    pub lung_model: Option<std::path::PathBuf>,
    /// A `mira-models` manifest of a DR classifier or lesion detector for the fundus analyzer.
    pub fundus_model: Option<std::path::PathBuf>,
    /// This node's name (`[node] name`), under which its worker claims jobs; empty: the host
    /// name.
    #[serde(skip)]
    pub node: String,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            enabled: true,
            poll_millis: 1000,
            lease_secs: 600,
            max_attempts: 3,
            retry_base_secs: 30,
            analyzers: vec!["lung-ct".into(), "fundus-dr".into()],
            language: "zh-CN".into(),
            lung_model: None,
            fundus_model: None,
            node: String::new(),
        }
    }
}

/// Starts the worker; it stops when `shutdown` turns true, after the job in hand.
pub fn spawn(
    ingest: Ingest,
    analyzers: Vec<Arc<dyn Analyzer>>,
    settings: AnalysisSettings,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let worker = Worker {
        queue: JobQueue::new(ingest.archive().catalogue.pool().clone()),
        ingest,
        analyzers: analyzers
            .into_iter()
            .map(|a| (a.name().to_string(), a))
            .collect(),
        name: worker_name(&settings.node),
        settings,
    };
    tokio::spawn(worker.run(shutdown))
}

/// This process among the workers: node (or host), process id and start time, so that a
/// restarted process never mistakes an old claim for its own.
fn worker_name(node: &str) -> String {
    let host = Some(node.to_string())
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{host}:{}:{started}", std::process::id())
}

struct Worker {
    ingest: Ingest,
    queue: JobQueue,
    analyzers: HashMap<String, Arc<dyn Analyzer>>,
    settings: AnalysisSettings,
    name: String,
}

impl Worker {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(
            worker = %self.name,
            analyzers = ?self.analyzers.keys().collect::<Vec<_>>(),
            "analysis: worker started"
        );
        let poll = Duration::from_millis(self.settings.poll_millis.max(10));
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.route_settled().await {
                tracing::error!(error = %e, "analysis: routing failed");
            }
            loop {
                if *shutdown.borrow() {
                    return;
                }
                match self.queue.claim(&self.name, self.settings.lease_secs).await {
                    Ok(Some(job)) => self.execute(job).await,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "analysis: cannot claim a job");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Routes every study whose study QC result is newer than its last routing.
    async fn route_settled(&self) -> Result<(), QueueError> {
        let pool = self.ingest.archive().catalogue.pool();
        let settled = sqlx::query(
            "SELECT s.subject_uid, s.checked_at FROM qc_results s
             LEFT JOIN analysis_routing r ON r.study_instance_uid = s.subject_uid
             WHERE s.level = 'study' AND (r.routed_at IS NULL OR r.routed_at < s.checked_at)
             ORDER BY s.checked_at LIMIT 64",
        )
        .fetch_all(pool)
        .await?;
        for row in settled {
            let study_uid: String = row.get(0);
            let checked_at: String = row.get(1);
            let study = load_study(pool, &study_uid).await?;
            for analyzer in self.analyzers.values() {
                for subject in analyzer.route(&study) {
                    if self
                        .queue
                        .enqueue(analyzer.name(), &study_uid, &subject)
                        .await?
                    {
                        tracing::info!(
                            analyzer = analyzer.name(),
                            level = subject.level.as_str(),
                            instances = subject.instances.len(),
                            "analysis: job queued"
                        );
                    }
                }
            }
            sqlx::query(
                "INSERT INTO analysis_routing (study_instance_uid, routed_at) VALUES ($1, $2)
                 ON CONFLICT (study_instance_uid) DO UPDATE SET routed_at = excluded.routed_at",
            )
            .bind(&study_uid)
            .bind(&checked_at)
            .execute(pool)
            .await?;
        }
        Ok(())
    }

    async fn execute(&self, job: Job) {
        let Some(analyzer) = self.analyzers.get(&job.analyzer).cloned() else {
            // another node may run an analyzer this one lacks: give the job back at once
            tracing::warn!(job = job.id, analyzer = %job.analyzer, "analysis: no such analyzer here");
            let _ = self
                .queue
                .fail(
                    &job,
                    &self.name,
                    "analyzer not available on this node",
                    true,
                    i64::MAX,
                    60,
                )
                .await;
            return;
        };
        let started = std::time::Instant::now();
        let outcome = match self.input_for(&job, analyzer.as_ref()).await {
            Ok(input) => {
                let runner = analyzer.clone();
                match tokio::task::spawn_blocking(move || runner.run(&input)).await {
                    Ok(outcome) => outcome,
                    Err(e) => Err(AnalyzerError::Failed(format!("the analyzer panicked: {e}"))),
                }
            }
            Err(e) => Err(AnalyzerError::Failed(e.to_string())),
        };
        let recorded = match outcome {
            Ok(output) => self.finish(&job, analyzer.as_ref(), output).await,
            Err(error) => {
                let retry = matches!(error, AnalyzerError::Failed(_));
                self.queue
                    .fail(
                        &job,
                        &self.name,
                        &error.to_string(),
                        retry,
                        self.settings.max_attempts,
                        self.settings.retry_base_secs,
                    )
                    .await
                    .map(|state| {
                        tracing::warn!(
                            job = job.id,
                            analyzer = %job.analyzer,
                            error = %error,
                            final_failure = state == JobState::Failed,
                            "analysis: job failed"
                        );
                    })
            }
        };
        if let Err(e) = recorded {
            tracing::error!(job = job.id, error = %e, "analysis: cannot record the outcome");
        }
        tracing::info!(
            job = job.id,
            analyzer = %job.analyzer,
            millis = started.elapsed().as_millis() as u64,
            "analysis: job handled"
        );
    }

    /// Stores the derived objects, then the result (so that `done` implies they are durable).
    async fn finish(
        &self,
        job: &Job,
        analyzer: &dyn Analyzer,
        output: crate::AnalysisOutput,
    ) -> Result<(), QueueError> {
        let mut derived = Vec::new();
        for bytes in output.derived {
            match self
                .ingest
                .store_bytes(bytes, &format!("analysis:{}", job.analyzer))
                .await
            {
                Ok(receipt) => derived.push(receipt.sop_instance_uid),
                Err(e) => {
                    let error = format!("cannot store a derived object: {e}");
                    let state = self
                        .queue
                        .fail(
                            job,
                            &self.name,
                            &error,
                            !matches!(e, mira_ingest::IngestError::Invalid(_)),
                            self.settings.max_attempts,
                            self.settings.retry_base_secs,
                        )
                        .await?;
                    tracing::error!(job = job.id, error = %e, ?state, "analysis: derived object refused");
                    return Ok(());
                }
            }
        }
        let kept = self
            .queue
            .complete(
                job,
                &self.name,
                &analyzer.version(),
                &output.result,
                &output.flags,
                &derived,
            )
            .await?;
        if !kept {
            tracing::warn!(
                job = job.id,
                "analysis: lease lost; another worker's result stands"
            );
        }
        Ok(())
    }

    async fn input_for(
        &self,
        job: &Job,
        analyzer: &dyn Analyzer,
    ) -> Result<AnalysisInput, QueueError> {
        let archive = self.ingest.archive();
        let pool = archive.catalogue.pool();
        let mut files = Vec::with_capacity(job.inputs.len());
        for sop in &job.inputs {
            let key: Option<String> =
                sqlx::query_scalar("SELECT blob_key FROM instances WHERE sop_instance_uid = $1")
                    .bind(sop)
                    .fetch_optional(pool)
                    .await?;
            // an instance deleted since routing is simply not analysed
            if let Some(key) = key.and_then(|k| BlobKey::parse(&k).ok()) {
                let path = archive
                    .blobs
                    .local_path(&key)
                    .await
                    .map_err(|e| QueueError::Blob(e.to_string()))?;
                files.push(InputFile {
                    sop_instance_uid: sop.clone(),
                    path,
                });
            }
        }
        let study_date: Option<String> =
            sqlx::query_scalar("SELECT study_date FROM studies WHERE study_instance_uid = $1")
                .bind(&job.study_instance_uid)
                .fetch_optional(pool)
                .await?
                .flatten();
        let priors = if analyzer.wants_priors() {
            priors(pool, &job.analyzer, &job.study_instance_uid).await?
        } else {
            Vec::new()
        };
        Ok(AnalysisInput {
            job_id: job.id,
            level: job.level,
            subject_uid: job.subject_uid.clone(),
            study_instance_uid: job.study_instance_uid.clone(),
            study_date,
            files,
            priors,
            identity: format!(
                "{}\n{}\n{}",
                job.analyzer, job.subject_uid, job.input_digest
            ),
        })
    }
}

/// The study as routing sees it.
pub async fn load_study(pool: &sqlx::AnyPool, study_uid: &str) -> Result<StudyView, QueueError> {
    let rows = sqlx::query(
        "SELECT se.series_instance_uid, se.modality, se.body_part_examined, se.series_description,
                se.protocol_name,
                (SELECT q.outcome FROM qc_results q
                 WHERE q.level = 'series' AND q.subject_uid = se.series_instance_uid),
                i.sop_instance_uid, i.sop_class_uid, i.blob_key, i.received_from,
                qi.outcome, qi.grade, st.study_date,
                (SELECT q.outcome FROM qc_results q
                 WHERE q.level = 'study' AND q.subject_uid = st.study_instance_uid)
         FROM instances i JOIN series se ON i.series_pk = se.id
         JOIN studies st ON se.study_pk = st.id
         LEFT JOIN qc_results qi ON qi.level = 'instance' AND qi.subject_uid = i.sop_instance_uid
         WHERE st.study_instance_uid = $1
         ORDER BY se.id, i.instance_number, i.id",
    )
    .bind(study_uid)
    .fetch_all(pool)
    .await?;
    let mut study = StudyView {
        study_instance_uid: study_uid.to_string(),
        study_date: None,
        qc_outcome: None,
        series: Vec::new(),
    };
    for row in rows {
        let series_uid: String = row.get(0);
        if study.series.last().map(|s| &s.series_instance_uid) != Some(&series_uid) {
            study.series.push(SeriesView {
                series_instance_uid: series_uid,
                modality: row.get(1),
                body_part_examined: row.get(2),
                series_description: row.get(3),
                protocol_name: row.get(4),
                qc_outcome: row.get(5),
                instances: Vec::new(),
            });
        }
        study.study_date = row.get(12);
        study.qc_outcome = row.get(13);
        let series = study.series.last_mut().expect("pushed above");
        series.instances.push(InstanceView {
            sop_instance_uid: row.get(6),
            sop_class_uid: row.get(7),
            blob_key: row.get(8),
            received_from: row.get(9),
            qc_outcome: row.get(10),
            qc_grade: row.get(11),
        });
    }
    Ok(study)
}

/// Finished results of `analyzer` on earlier studies of the same patient, most recent first.
async fn priors(
    pool: &sqlx::AnyPool,
    analyzer: &str,
    study_uid: &str,
) -> Result<Vec<PriorResult>, QueueError> {
    let rows = sqlx::query(
        "SELECT st.study_instance_uid, st.study_date, j.result
         FROM analysis_jobs j JOIN studies st ON st.study_instance_uid = j.study_instance_uid
         JOIN studies cur ON cur.study_instance_uid = $2
         WHERE j.analyzer = $1 AND j.state = 'done' AND j.result IS NOT NULL
           AND st.patient_pk = cur.patient_pk AND st.id != cur.id
           AND COALESCE(st.study_date, '') < COALESCE(cur.study_date, '')
         ORDER BY st.study_date DESC, j.id DESC LIMIT 5",
    )
    .bind(analyzer)
    .bind(study_uid)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let text: String = row.get(2);
        if let Ok(result) = serde_json::from_str(&text) {
            out.push(PriorResult {
                study_instance_uid: row.get(0),
                study_date: row.get(1),
                result,
            });
        }
    }
    Ok(out)
}
