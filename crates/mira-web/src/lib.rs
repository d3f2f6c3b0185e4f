//! mira's HTTP edge: DICOMweb (PS3.18) under `/dicom-web`, liveness, readiness and Prometheus
//! metrics, mira's REST API (QC, analysis, reading, administration, datasets, models).
//!
//! | Path | Answers |
//! |---|---|
//! | `GET /healthz` | `200 ok` while the process serves HTTP |
//! | `GET /readyz` | `200` when the catalogue answers a query, `503` problem+json otherwise |
//! | `GET /metrics` | Prometheus text format: ingest counters and the number of stored instances |
//! | `POST /dicom-web/studies[/{study}]` | STOW-RS: `multipart/related; type="application/dicom"` in, DICOM JSON store report out |
//! | `GET /dicom-web/studies[/{study}/series[/{series}/instances]]` | QIDO-RS: matching keys, `includefield`, `limit`/`offset`, `fuzzymatching` |
//! | `GET /dicom-web/studies/{study}[/series/{series}[/instances/{sop}]]` | WADO-RS: the stored PS3.10 files as `multipart/related; type="application/dicom"` |
//! | `GET …/metadata` (study, series, instance) | WADO-RS: DICOM JSON array; large binary values as `BulkDataURI` |
//! | `GET …/instances/{sop}/bulkdata/{tag}[/{item}/{tag}…]` | WADO-RS: one binary value, `multipart/related; type="application/octet-stream"` |
//! | `GET …/instances/{sop}/frames/{n[,m…]}` | WADO-RS: frames, uncompressed (`application/octet-stream`) or as stored (`transfer-syntax=*`) |
//! | `GET …/instances/{sop}[/frames/{n}]/rendered` | `image/jpeg` or `image/png`; `window=center,width[,function]`, `viewport=w,h`, `quality` |
//! | `GET …/thumbnail` (study, series, instance, frame) | a small rendered image (`viewport`, default 128×128) |
//! | `GET /api/qc/...` | QC indicators and study results (`qc_api`) |
//! | `GET /api/analysis/...` | AI results of a study and the analysis job queue (`analysis_api`) |
//! | `/api/reading/...` | the worklist, decisions on AI findings, reports, signing, exports, agreement (`reading_api`) |
//! | `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/auth/me` | sessions (`auth`) |
//! | `/api/admin/...` | users, sites and AE titles (`admin_api`) |
//! | `/api/datasets/...` | dataset release: request, decision, export, download, feedback (`datasets_api`) |
//! | `GET /`, `/assets/...` | the web UI (`ui`), from `[http] ui_dir` when it was built |
//!
//! Every path but `/healthz`, `/readyz`, the login and the web UI's files needs a token (`auth`): `401` without
//! one, `403` when the caller's roles lack the permission the path needs, and every query and
//! retrieve reaches only the studies of the caller's sites.
//!
//! CORS is off unless `[http.cors] allowed_origins` names origins (see [`CorsConfig`]).
//!
//! Invariant: this is the only crate that depends on axum/hyper and the only one that shapes
//! JSON for HTTP clients. Errors leave as `application/problem+json` (RFC 9457), except where
//! PS3.18 prescribes a DICOM response (the STOW-RS store report). Logs never name patients:
//! they carry blob keys, statuses and reasons.
#![warn(missing_docs)]

pub mod dicomweb;
mod problem;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mira_ingest::Ingest;
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};

mod admin_api;
mod analysis_api;
pub mod auth;
mod datasets_api;
mod models_page;
mod qc_api;
mod reading_api;
pub mod tls;
pub mod ui;
pub use analysis_api::analysis_routes;
pub use dicomweb::DicomWebConfig;
pub use problem::Problem;
pub use qc_api::qc_routes;

/// What the handlers share: the ingest pipeline (and through it the archive) and the settings.
#[derive(Debug, Clone)]
pub struct WebState {
    /// The ingest pipeline; `ingest.archive()` gives the catalogue and the blob store.
    pub ingest: Ingest,
    /// The HTTP settings.
    pub config: Arc<WebConfig>,
    /// Accounts and tokens; `None` serves everything to everyone (library use and this
    /// crate's tests only: `mira serve` always has a directory).
    pub directory: Option<mira_access::Directory>,
    /// Where accesses to patient data are recorded.
    pub audit: Option<mira_audit::AuditSink>,
    /// Dataset release: the de-identification key (if any) and where exports go.
    pub datasets: Option<(Option<mira_deid::DeidKey>, std::path::PathBuf)>,
    /// The reading workflow's settings (language, report time limits) and when agreement
    /// drifts.
    pub reading: (
        mira_reading::ReadingSettings,
        mira_eval::monitoring::DriftSettings,
    ),
}

impl WebState {
    /// State over `ingest` with `config`, without access control.
    pub fn new(ingest: Ingest, config: WebConfig) -> Self {
        WebState {
            ingest,
            config: Arc::new(config),
            directory: None,
            audit: None,
            datasets: None,
            reading: Default::default(),
        }
    }

    /// The same state with the dataset release API, exporting into `export_dir`.
    pub fn with_datasets(
        mut self,
        key: Option<mira_deid::DeidKey>,
        export_dir: std::path::PathBuf,
    ) -> Self {
        self.datasets = Some((key, export_dir));
        self
    }

    /// The same state with these reading settings.
    pub fn with_reading(
        mut self,
        settings: mira_reading::ReadingSettings,
        drift: mira_eval::monitoring::DriftSettings,
    ) -> Self {
        self.reading = (settings, drift);
        self
    }

    /// The same state recording every access to patient data in the audit log.
    pub fn with_audit(mut self, audit: mira_audit::AuditSink) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The same state with access control: every request but the health checks and the
    /// login must carry a valid token.
    pub fn with_access(mut self, directory: mira_access::Directory) -> Self {
        self.directory = Some(directory);
        self
    }
}

/// Settings of the HTTP edge beyond its listen address.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Cross-origin access for browser viewers.
    pub cors: CorsConfig,
    /// DICOMweb options.
    pub dicomweb: DicomWebConfig,
    /// The built web UI (`web/dist`); `None`: no UI, API only.
    pub ui_dir: Option<std::path::PathBuf>,
}

/// Cross-Origin Resource Sharing, so that a browser viewer served from another origin (OHIF,
/// say) can use DICOMweb. Off while `allowed_origins` is empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call the API, e.g. `["https://viewer.example.org"]`; `["*"]` allows
    /// any origin. Empty (the default): no CORS headers, browsers refuse cross-origin calls.
    pub allowed_origins: Vec<String>,
    /// How long a browser may cache a preflight answer, in seconds.
    pub max_age_secs: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: Vec::new(),
            max_age_secs: 600,
        }
    }
}

/// Why the HTTP edge cannot be built from its settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An allowed CORS origin that is not a valid header value.
    #[error("invalid CORS origin {0:?}")]
    CorsOrigin(String),
}

impl CorsConfig {
    /// The CORS layer, or `None` when CORS is off.
    pub fn layer(&self) -> Result<Option<CorsLayer>, ConfigError> {
        if self.allowed_origins.is_empty() {
            return Ok(None);
        }
        let origins = if self.allowed_origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            let values = self
                .allowed_origins
                .iter()
                .map(|o| {
                    HeaderValue::from_str(o.trim_end_matches('/'))
                        .map_err(|_| ConfigError::CorsOrigin(o.clone()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            AllowOrigin::list(values)
        };
        Ok(Some(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers([
                    header::ACCEPT,
                    header::CONTENT_TYPE,
                    header::AUTHORIZATION,
                    header::CACHE_CONTROL,
                ])
                .expose_headers([
                    header::CONTENT_TYPE,
                    header::CONTENT_LENGTH,
                    header::WARNING,
                    HeaderName::from_static("content-location"),
                ])
                .max_age(Duration::from_secs(self.max_age_secs)),
        ))
    }
}

/// Builds the application: health, metrics and DICOMweb, with CORS when configured. Other
/// route sets join with `Router::merge` before the state is applied.
pub fn router(state: WebState) -> Result<Router, ConfigError> {
    let cors = state.config.cors.layer()?;
    let qc = qc_routes(
        mira_qc::store::QcStore::new(state.ingest.archive().catalogue.pool().clone()),
        state.ingest.archive().catalogue.clone(),
    );
    let analysis = analysis_routes(
        mira_analysis::JobQueue::new(state.ingest.archive().catalogue.pool().clone()),
        state.ingest.archive().catalogue.clone(),
    );
    let datasets = state
        .datasets
        .clone()
        .map(|(key, export_dir)| {
            datasets_api::dataset_routes(datasets_api::DatasetsState {
                releases: mira_datasets::Releases::new(
                    state.ingest.archive().catalogue.pool().clone(),
                ),
                ingest: state.ingest.clone(),
                key,
                export_dir,
                audit: state.audit.clone(),
            })
        })
        .unwrap_or_default();
    let admin = state
        .directory
        .clone()
        .map(admin_api::admin_routes)
        .unwrap_or_default();
    let models = models_page::models_routes(mira_eval::catalogue::ModelCatalogue::new(
        state.ingest.archive().catalogue.pool().clone(),
    ));
    let reading = reading_api::reading_routes(reading_api::ReadingState {
        reading: mira_reading::Reading::new(
            state.ingest.archive().catalogue.pool().clone(),
            state.reading.0.clone(),
        ),
        ingest: state.ingest.clone(),
        directory: state.directory.clone(),
        audit: state.audit.clone(),
        drift: state.reading.1,
    });
    let ui = ui::ui_dir(state.config.ui_dir.as_deref());
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .merge(dicomweb::routes())
        .merge(auth::auth_routes())
        .fallback(move |request: axum::extract::Request| ui::fallback(ui.clone(), request))
        .with_state(state.clone())
        .merge(qc)
        .merge(analysis)
        .merge(admin)
        .merge(datasets)
        .merge(models)
        .merge(reading)
        // after every route set is merged, so that none escapes it
        .layer(axum::middleware::from_fn_with_state(
            state,
            auth::authenticate,
        ));
    Ok(match cors {
        Some(layer) => app.layer(layer),
        None => app,
    })
}

/// Ready when the catalogue database and the blob store both answer: a node that cannot
/// reach either must not be sent traffic.
async fn ready(State(state): State<WebState>) -> Response {
    let archive = state.ingest.archive();
    if let Err(e) = archive.catalogue.ping().await {
        tracing::error!(error = %e, "readiness check failed: catalogue");
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Catalogue unavailable",
            "the catalogue database did not answer",
        )
        .into_response();
    }
    if let Err(e) = archive.blobs.ping().await {
        tracing::error!(error = %e, "readiness check failed: blob store");
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Blob store unavailable",
            "the blob store did not answer",
        )
        .into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}

async fn metrics(State(state): State<WebState>) -> Response {
    let ingest = &state.ingest;
    let stats = ingest.stats();
    let mut out = String::new();
    let counters = [
        ("stored", &stats.stored),
        ("duplicate", &stats.duplicates),
        ("replaced", &stats.replaced),
        ("conflict", &stats.conflicts),
        ("rejected", &stats.rejected),
        ("failed", &stats.failed),
    ];
    out.push_str("# HELP mira_ingest_instances_total Instances handled by the ingest pipeline, by outcome.\n");
    out.push_str("# TYPE mira_ingest_instances_total counter\n");
    for (outcome, counter) in counters {
        let _ = writeln!(
            out,
            "mira_ingest_instances_total{{outcome=\"{outcome}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    out.push_str(
        "# HELP mira_ingest_batches_total Catalogue transactions committed by the ingest writer.\n",
    );
    out.push_str("# TYPE mira_ingest_batches_total counter\n");
    let _ = writeln!(
        out,
        "mira_ingest_batches_total {}",
        stats.batches.load(Ordering::Relaxed)
    );
    match ingest.archive().catalogue.count_instances().await {
        Ok(n) => {
            out.push_str("# HELP mira_archive_instances Instances in the catalogue.\n");
            out.push_str("# TYPE mira_archive_instances gauge\n");
            let _ = writeln!(out, "mira_archive_instances {n}");
        }
        Err(e) => tracing::warn!(error = %e, "metrics: catalogue count failed"),
    }
    // the queue is shared by every node: these are the cluster's figures, not this node's
    let queue = mira_analysis::JobQueue::new(ingest.archive().catalogue.pool().clone());
    match queue.counts().await {
        Ok(counts) => {
            out.push_str(
                "# HELP mira_analysis_jobs Analysis jobs in the shared queue, by state.\n",
            );
            out.push_str("# TYPE mira_analysis_jobs gauge\n");
            for (state, n) in [
                ("queued", counts.queued),
                ("running", counts.running),
                ("done", counts.done),
                ("failed", counts.failed),
            ] {
                let _ = writeln!(out, "mira_analysis_jobs{{state=\"{state}\"}} {n}");
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: job counts failed"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// The address of the client of a connection (plain or TLS), for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::TlsListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// Serves the application on `listener` until `shutdown` completes: HTTPS when `tls` is
/// given, plain HTTP otherwise.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).map_err(std::io::Error::other)?;
    // the peer's address, for the audit log
    let app = app.into_make_service_with_connect_info::<PeerAddr>();
    match tls {
        Some(config) => {
            axum::serve(tls::TlsListener::new(listener, config)?, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}
