//! The server's QC jobs: every `InstanceStored` event gets instance QC at once (so that a
//! technologist can repeat an exposure while the patient is still there); a study that has
//! received nothing for the settle time is taken as complete and gets series (CT
//! completeness) and study QC.
//!
//! Completeness is a stability window, as in Orthanc's "stable study": DICOM says nothing
//! about when a study is done. Nothing is lost across restarts: on start (and when the
//! event subscription lags) the worker queues, from the catalogue, every stored instance that
//! has no QC result and every study whose study result is missing or older than one of its
//! instances' results, and works through them between live events. A study that receives more instances later is checked again
//! after it settles again (results are replaced, not duplicated). Logs name instances by blob
//! key and never carry patient attributes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use mira_ingest::{Ingest, InstanceStored};
use mira_store::BlobKey;
use sqlx::Row;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::header::{Header, Pixels, read_file};
use crate::instance::Context;
use crate::report::Report;
use crate::rules::RuleSet;
use crate::store::{Provenance, QcStore};

/// The `[qc]` section of the server's configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QcSettings {
    /// Whether `mira serve` runs QC on what it stores.
    pub enabled: bool,
    /// Seconds a study must receive nothing before it counts as complete and gets series
    /// (CT completeness) and study QC.
    pub settle_secs: u64,
    /// Rule overrides (TOML) for every site; absent: the default catalogue.
    pub rules: Option<std::path::PathBuf>,
    /// Further overrides per site, by Institution Name (0008,0080), applied after `rules`:
    /// `[qc.sites]` `"Clinic A" = "/etc/mira/qc-clinic-a.toml"`.
    pub sites: BTreeMap<String, std::path::PathBuf>,
}

impl Default for QcSettings {
    fn default() -> Self {
        QcSettings {
            enabled: true,
            settle_secs: 30,
            rules: None,
            sites: BTreeMap::new(),
        }
    }
}

impl QcSettings {
    /// The worker configuration these settings describe (loading the override file).
    pub fn worker_config(&self) -> Result<WorkerConfig, crate::RulesError> {
        let rules = match &self.rules {
            Some(path) => RuleSet::load_with_overrides(path)?,
            None => RuleSet::default(),
        };
        let mut sites = HashMap::new();
        for (site, path) in &self.sites {
            let text = std::fs::read_to_string(path).map_err(|source| crate::RulesError::Io {
                path: path.display().to_string(),
                source,
            })?;
            let mut site_rules = rules.clone();
            site_rules.apply_overrides(&text)?;
            sites.insert(site.clone(), Arc::new(site_rules));
        }
        Ok(WorkerConfig {
            rules: Arc::new(rules),
            sites,
            settle: Duration::from_secs(self.settle_secs),
        })
    }
}

/// Settings of the QC worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The rules.
    pub rules: Arc<RuleSet>,
    /// The rules of sites with their own overrides, by Institution Name.
    pub sites: HashMap<String, Arc<RuleSet>>,
    /// How long a study must receive nothing before it counts as complete.
    pub settle: Duration,
}

impl WorkerConfig {
    /// The rules for an instance or study of `site` (Institution Name).
    pub fn rules_for(&self, site: Option<&str>) -> Arc<RuleSet> {
        site.and_then(|s| self.sites.get(s))
            .unwrap_or(&self.rules)
            .clone()
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            rules: Arc::new(RuleSet::default()),
            sites: HashMap::new(),
            settle: Duration::from_secs(30),
        }
    }
}

/// Starts the worker on the ingest pipeline's events; it stops when `shutdown` turns true
/// (after checking the studies still waiting) or when the pipeline closes.
pub fn spawn(
    ingest: &Ingest,
    config: WorkerConfig,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let events = ingest.subscribe();
    let archive = ingest.archive().clone();
    tokio::spawn(run(archive, events, config, shutdown))
}

/// An instance to check: SOP Instance UID, Study Instance UID, blob key.
type Job = (String, String, String);

async fn run(
    archive: mira_store::Archive,
    mut events: tokio::sync::broadcast::Receiver<InstanceStored>,
    config: WorkerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let store = QcStore::new(archive.catalogue.pool().clone());
    let mut pending: HashMap<String, Instant> = HashMap::new();
    // what a restart, a crash or a lagging subscription left unchecked
    let mut backlog: VecDeque<Job> = VecDeque::new();
    catch_up(&archive, &mut backlog, &mut pending).await;
    let tick = (config.settle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut ticker = tokio::time::interval(tick);
    let mut flush_ticker = tokio::time::interval(FLUSH_EVERY);
    // instance results are stored in batches: one database flush per batch, not per instance,
    // so that QC does not compete with the archive's group commits
    let mut done: Vec<(Report, Provenance)> = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            event = events.recv() => match event {
                Ok(e) => {
                    pending.insert(e.study_instance_uid.clone(), Instant::now());
                    instance_qc(&archive, &config, &e.key, &e.sop_instance_uid, &mut done).await;
                    if done.len() >= BATCH {
                        flush(&store, &mut done).await;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "qc: fell behind the ingest pipeline; catching up from the catalogue");
                    catch_up(&archive, &mut backlog, &mut pending).await;
                }
                Err(RecvError::Closed) => break,
            },
            _ = ticker.tick() => {
                let now = Instant::now();
                let ready: Vec<String> = pending
                    .iter()
                    .filter(|(_, t)| now.duration_since(**t) >= config.settle)
                    .map(|(s, _)| s.clone())
                    .collect();
                if !ready.is_empty() {
                    flush(&store, &mut done).await;
                }
                for study in ready {
                    pending.remove(&study);
                    study_qc(&archive, &store, &config, &study).await;
                }
            }
            _ = flush_ticker.tick(), if !done.is_empty() => flush(&store, &mut done).await,
            Some((sop, study, key)) = async { backlog.pop_front() }, if !backlog.is_empty() => {
                instance_qc(&archive, &config, &key, &sop, &mut done).await;
                pending.entry(study).or_insert_with(Instant::now);
                if done.len() >= BATCH {
                    flush(&store, &mut done).await;
                }
            }
        }
    }
    flush(&store, &mut done).await;
    for study in pending.into_keys() {
        study_qc(&archive, &store, &config, &study).await;
    }
}

/// Most instance results stored in one transaction.
const BATCH: usize = 64;
/// Longest an instance result waits to be stored.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

async fn flush(store: &QcStore, done: &mut Vec<(Report, Provenance)>) {
    if let Err(e) = store.save_all(done).await {
        tracing::error!(error = %e, results = done.len(), "qc: cannot store instance results");
    }
    done.clear();
}

/// Queues the stored instances that have no QC result and the studies whose study result is
/// missing or older than one of their instance results.
async fn catch_up(
    archive: &mira_store::Archive,
    backlog: &mut VecDeque<Job>,
    pending: &mut HashMap<String, Instant>,
) {
    let pool = archive.catalogue.pool();
    let unchecked = sqlx::query(
        "SELECT i.sop_instance_uid, st.study_instance_uid, i.blob_key
         FROM instances i JOIN series se ON i.series_pk = se.id JOIN studies st ON se.study_pk = st.id
         WHERE NOT EXISTS (SELECT 1 FROM qc_results r
                           WHERE r.level = 'instance' AND r.subject_uid = i.sop_instance_uid)
         ORDER BY i.id",
    )
    .fetch_all(pool)
    .await;
    let unsettled = sqlx::query(
        "SELECT DISTINCT r.study_instance_uid FROM qc_results r
         WHERE r.level = 'instance' AND NOT EXISTS (
            SELECT 1 FROM qc_results s WHERE s.level = 'study'
            AND s.subject_uid = r.study_instance_uid AND s.checked_at >= r.checked_at)",
    )
    .fetch_all(pool)
    .await;
    match (unchecked, unsettled) {
        (Ok(unchecked), Ok(unsettled)) => {
            let queued: std::collections::HashSet<String> =
                backlog.iter().map(|j| j.0.clone()).collect();
            let before = backlog.len();
            backlog.extend(
                unchecked
                    .into_iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .filter(|j: &Job| !queued.contains(&j.0)),
            );
            for r in unsettled {
                pending.entry(r.get(0)).or_insert_with(Instant::now);
            }
            if backlog.len() > before {
                tracing::info!(
                    instances = backlog.len() - before,
                    "qc: catching up on unchecked instances"
                );
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "qc: cannot list unchecked instances");
        }
    }
}

/// Checks one instance; its result joins `done`, which the worker stores in batches.
async fn instance_qc(
    archive: &mira_store::Archive,
    config: &WorkerConfig,
    blob_key: &str,
    sop_instance_uid: &str,
    done: &mut Vec<(Report, Provenance)>,
) {
    let Ok(key) = BlobKey::parse(blob_key) else {
        tracing::warn!(key = blob_key, "qc: invalid blob key");
        return;
    };
    let path = archive.blobs.path_of(&key);
    let config = config.clone();
    let subject = sop_instance_uid.to_string();
    let result = tokio::task::spawn_blocking(move || {
        let head = read_file(&path, Pixels::Skip)?;
        let rules = config.rules_for(head.header.institution_name.as_deref());
        let ctx = Context::now(&rules);
        let instance = if crate::header::needs_pixels(&head.header) {
            read_file(&path, Pixels::Read)?
        } else {
            head
        };
        let report = crate::check_dicom(&ctx, &subject, &instance);
        Ok::<_, crate::header::ReadError>((report, Provenance::from_header(&instance.header)))
    })
    .await;
    match result {
        Ok(Ok((report, provenance))) => {
            tracing::debug!(
                key = blob_key,
                outcome = report.outcome().as_str(),
                "qc: instance checked"
            );
            done.push((report, provenance));
        }
        Ok(Err(e)) => tracing::warn!(key = blob_key, error = %e, "qc: instance not checked"),
        Err(e) => tracing::error!(key = blob_key, error = %e, "qc: instance check panicked"),
    }
}

/// Series and study QC of a stored study.
pub async fn study_qc(
    archive: &mira_store::Archive,
    store: &QcStore,
    config: &WorkerConfig,
    study_uid: &str,
) {
    let rows = match sqlx::query(
        "SELECT i.blob_key FROM instances i JOIN series se ON i.series_pk = se.id
         JOIN studies st ON se.study_pk = st.id WHERE st.study_instance_uid = ?",
    )
    .bind(study_uid)
    .fetch_all(archive.catalogue.pool())
    .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "qc: cannot list a study's instances");
            return;
        }
    };
    let paths: Vec<_> = rows
        .iter()
        .filter_map(|r| BlobKey::parse(r.get::<&str, _>(0)).ok())
        .map(|k| archive.blobs.path_of(&k))
        .collect();
    let config = config.clone();
    let subject = study_uid.to_string();
    let reports = tokio::task::spawn_blocking(move || {
        let headers: Vec<Header> = paths
            .iter()
            .filter_map(|p| read_file(p, Pixels::Skip).ok().map(|i| i.header))
            .collect();
        let rules = config.rules_for(headers.first().and_then(|h| h.institution_name.as_deref()));
        let ctx = Context::now(&rules);
        let mut series: BTreeMap<String, Vec<&Header>> = BTreeMap::new();
        for h in &headers {
            series
                .entry(h.series_instance_uid.clone().unwrap_or_default())
                .or_default()
                .push(h);
        }
        let mut out: Vec<(Report, Provenance)> = Vec::new();
        for (uid, members) in &series {
            let mut report = if members.iter().any(|h| h.modality.as_deref() == Some("CT")) {
                crate::ct::check_series(&ctx, uid, members)
            } else {
                let mut r = Report::new(crate::Level::Series, uid.as_str());
                r.measurements
                    .insert("instances".into(), members.len() as f64);
                r
            };
            report
                .checks
                .extend(crate::study::check_series_consistency(&ctx, members));
            out.push((report, Provenance::from_header(members[0])));
        }
        let all: Vec<&Header> = headers.iter().collect();
        if let Some(first) = all.first() {
            let mut p = Provenance::from_header(first);
            p.series_instance_uid = None;
            out.push((crate::study::check_study(&ctx, &subject, &all), p));
        }
        out
    })
    .await;
    match reports {
        Ok(reports) => {
            if let Err(e) = store.save_all(&reports).await {
                tracing::error!(error = %e, "qc: cannot store series or study results");
            }
        }
        Err(e) => tracing::error!(error = %e, "qc: study check panicked"),
    }
}
