//! The server's QC jobs: every `InstanceStored` event gets instance QC at once, on the node
//! that stored the instance (so that a technologist can repeat an exposure while the patient is
//! still there); a study that has received nothing for the settle time is taken as complete and
//! gets series (CT completeness) and study QC.
//!
//! Completeness is a stability window, as in Orthanc's "stable study": DICOM says nothing
//! about when a study is done. It is decided in the catalogue database, which every node
//! shares, not in a node's memory: a study's `updated_at` moves with every instance stored
//! into it on any node, and a study whose `updated_at` is older than the settle time and newer
//! than the state last checked is claimed by one node (`UPDATE … RETURNING`, with `FOR UPDATE
//! SKIP LOCKED` on PostgreSQL, under a lease), checked, and marked as checked for that state.
//! A study that receives more instances later is due again after it settles again (results
//! are replaced, not duplicated).
//!
//! Nothing is lost across restarts or when a node dies: on start, when the event subscription
//! lags, and periodically (twice the settle time, at most a minute), the worker queues from the
//! catalogue every stored instance that has no QC result (the periodic pass only those older
//! than that period, which their own node has had time to check), and works through them between live events; a study claimed by a dead
//! node is claimed again when the lease runs out. Logs name instances by blob key and never
//! carry patient attributes.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use mira_ingest::{Ingest, InstanceStored};
use mira_store::BlobKey;
use sqlx::Row;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

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
    /// Seconds a node holds a settled study it claimed for series and study QC before another
    /// node may take it over (a node that died while checking it).
    pub study_lease_secs: u64,
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
            study_lease_secs: 300,
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
            study_lease: Duration::from_secs(self.study_lease_secs),
            node: "mira".into(),
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
    /// How long a claimed study is held before another node may take it over.
    pub study_lease: Duration,
    /// This node's name, under which it claims settled studies.
    pub node: String,
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
            study_lease: Duration::from_secs(300),
            node: "mira".into(),
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
    // studies this node stored into: checked at shutdown without waiting to settle
    let mut touched: HashSet<String> = HashSet::new();
    // what a restart, a crash, a dead node or a lagging subscription left unchecked
    let mut backlog: VecDeque<Job> = VecDeque::new();
    catch_up(&archive, &mut backlog, None, None).await;
    let tick = (config.settle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut ticker = tokio::time::interval(tick);
    let mut flush_ticker = tokio::time::interval(FLUSH_EVERY);
    let catch_up_every = catch_up_every(config.settle);
    let mut catch_up_ticker = tokio::time::interval(catch_up_every);
    catch_up_ticker.reset();
    // instance results are stored in batches: one database flush per batch, not per instance,
    // so that QC does not compete with the archive's group commits
    let mut done: Vec<(Report, Provenance)> = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            event = events.recv() => match event {
                Ok(e) => {
                    touched.insert(e.study_instance_uid.clone());
                    instance_qc(&archive, &config, &e.key, &e.sop_instance_uid, &mut done).await;
                    if done.len() >= BATCH {
                        flush(&store, &mut done).await;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "qc: fell behind the ingest pipeline; catching up from the catalogue");
                    catch_up(&archive, &mut backlog, None, None).await;
                }
                Err(RecvError::Closed) => break,
            },
            _ = ticker.tick() => {
                flush(&store, &mut done).await;
                let cutoff = mira_store::db::now_minus(config.settle.as_secs());
                check_settled(&archive, &store, &config, &cutoff, None).await;
            }
            _ = flush_ticker.tick(), if !done.is_empty() => flush(&store, &mut done).await,
            _ = catch_up_ticker.tick() => {
                // what was stored in the last day and has had time to be checked by its node
                let older_than = mira_store::db::now_minus(catch_up_every.as_secs());
                let newer_than = mira_store::db::now_minus(RECENT_SECS);
                catch_up(&archive, &mut backlog, Some(&newer_than), Some(&older_than)).await;
            }
            Some((sop, _study, key)) = async { backlog.pop_front() }, if !backlog.is_empty() => {
                instance_qc(&archive, &config, &key, &sop, &mut done).await;
                if done.len() >= BATCH {
                    flush(&store, &mut done).await;
                }
            }
        }
    }
    flush(&store, &mut done).await;
    let now = mira_store::db::now();
    for study in touched {
        check_settled(&archive, &store, &config, &now, Some(&study)).await;
    }
}

/// Most instance results stored in one transaction.
const BATCH: usize = 64;
/// Longest an instance result waits to be stored.
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// How often the catalogue is searched for instances no node checked (a node that died
/// between storing and checking), and how old such an instance must be (its own node has
/// had time to check it): twice the settle time, between 5 s and a minute.
fn catch_up_every(settle: Duration) -> Duration {
    (settle * 2).clamp(Duration::from_secs(5), Duration::from_secs(60))
}

async fn flush(store: &QcStore, done: &mut Vec<(Report, Provenance)>) {
    if done.is_empty() {
        return;
    }
    if let Err(e) = store.save_all(done).await {
        tracing::error!(error = %e, results = done.len(), "qc: cannot store instance results");
    }
    done.clear();
}

/// Claims, one after another, the studies that settled (last stored into before `cutoff`)
/// and were not checked in that state, and checks them; `only` narrows to one study.
async fn check_settled(
    archive: &mira_store::Archive,
    store: &QcStore,
    config: &WorkerConfig,
    cutoff: &str,
    only: Option<&str>,
) {
    loop {
        let lease = config.study_lease.as_secs();
        match claim_settled(archive.catalogue.pool(), &config.node, lease, cutoff, only).await {
            Ok(Some((study, state))) => {
                study_qc(archive, store, config, &study).await;
                if let Err(e) =
                    mark_checked(archive.catalogue.pool(), &config.node, &study, &state).await
                {
                    tracing::error!(error = %e, "qc: cannot record a study as checked");
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "qc: cannot claim a settled study");
                return;
            }
        }
    }
}

/// Claims one settled, unchecked study for `node`: its UID and the state (`updated_at`) seen.
async fn claim_settled(
    pool: &sqlx::AnyPool,
    node: &str,
    lease_secs: u64,
    cutoff: &str,
    only: Option<&str>,
) -> Result<Option<(String, String)>, sqlx::Error> {
    let lock = match mira_store::db::backend(pool) {
        mira_store::db::Backend::Sqlite => "",
        mira_store::db::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE studies SET qc_claimed_by = $1, qc_lease_until = $2
         WHERE id = (SELECT id FROM studies
                     WHERE updated_at <= $3 AND (qc_done_for IS NULL OR qc_done_for < updated_at)
                       AND (qc_lease_until IS NULL OR qc_lease_until < $4)
                       AND ($5 IS NULL OR study_instance_uid = $5)
                     ORDER BY updated_at LIMIT 1 {lock})
         RETURNING study_instance_uid, updated_at"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(node)
        .bind(mira_store::db::now_plus(lease_secs))
        .bind(cutoff)
        .bind(mira_store::db::now())
        .bind(only)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Records that `node` checked `study` as it was at `state`, and gives up the claim.
async fn mark_checked(
    pool: &sqlx::AnyPool,
    node: &str,
    study: &str,
    state: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE studies SET qc_done_for = $1, qc_lease_until = NULL
         WHERE study_instance_uid = $2 AND qc_claimed_by = $3",
    )
    .bind(state)
    .bind(study)
    .bind(node)
    .execute(pool)
    .await?;
    Ok(())
}

/// How far back the periodic catch-up looks (the one at start looks at everything).
const RECENT_SECS: u64 = 24 * 3600;

/// Queues the stored instances that have no QC result (stored between `newer_than` and
/// `older_than`, when given).
async fn catch_up(
    archive: &mira_store::Archive,
    backlog: &mut VecDeque<Job>,
    newer_than: Option<&str>,
    older_than: Option<&str>,
) {
    let pool = archive.catalogue.pool();
    let unchecked = sqlx::query(
        "SELECT i.sop_instance_uid, st.study_instance_uid, i.blob_key
         FROM instances i JOIN series se ON i.series_pk = se.id JOIN studies st ON se.study_pk = st.id
         WHERE NOT EXISTS (SELECT 1 FROM qc_results r
                           WHERE r.level = 'instance' AND r.subject_uid = i.sop_instance_uid)
           AND ($1 IS NULL OR i.received_at < $1) AND ($2 IS NULL OR i.received_at >= $2)
         ORDER BY i.id",
    )
    .bind(older_than)
    .bind(newer_than)
    .fetch_all(pool)
    .await;
    match unchecked {
        Ok(unchecked) => {
            let queued: HashSet<String> = backlog.iter().map(|j| j.0.clone()).collect();
            let before = backlog.len();
            backlog.extend(
                unchecked
                    .into_iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .filter(|j: &Job| !queued.contains(&j.0)),
            );
            if backlog.len() > before {
                tracing::info!(
                    instances = backlog.len() - before,
                    "qc: catching up on unchecked instances"
                );
            }
        }
        Err(e) => {
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
    let path = match archive.blobs.local_path(&key).await {
        Ok(path) => path,
        Err(e) => {
            tracing::warn!(key = blob_key, error = %e, "qc: instance not readable");
            return;
        }
    };
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
         JOIN studies st ON se.study_pk = st.id WHERE st.study_instance_uid = $1",
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
    let mut paths = Vec::with_capacity(rows.len());
    for key in rows
        .iter()
        .filter_map(|r| BlobKey::parse(r.get::<&str, _>(0)).ok())
    {
        match archive.blobs.local_path(&key).await {
            Ok(path) => paths.push(path),
            Err(e) => tracing::warn!(key = %key, error = %e, "qc: instance not readable"),
        }
    }
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
