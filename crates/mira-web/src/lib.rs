//! mira's HTTP edge. For now: liveness, readiness and Prometheus metrics; DICOMweb, the REST
//! API and the web UI will live here too.
//!
//! | Path | Answers |
//! |---|---|
//! | `GET /healthz` | `200 ok` while the process serves HTTP |
//! | `GET /readyz` | `200` when the catalogue answers a query, `503` problem+json otherwise |
//! | `GET /metrics` | Prometheus text format: ingest counters and the number of stored instances |
//! | `GET /api/qc/...` | QC indicators and study results (`qc_api`) |
//!
//! Invariant: this is the only crate that depends on axum/hyper and the only one that shapes
//! JSON for HTTP clients. Errors leave as `application/problem+json` (RFC 9457).
#![warn(missing_docs)]

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mira_ingest::Ingest;

mod qc_api;
pub use qc_api::qc_routes;

/// Builds the router.
pub fn router(ingest: Ingest) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(ingest.clone())
        .merge(qc_routes(mira_qc::store::QcStore::new(
            ingest.archive().catalogue.pool().clone(),
        )))
}

/// An RFC 9457 problem document.
fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

async fn ready(State(ingest): State<Ingest>) -> Response {
    match ingest.archive().catalogue.count_instances().await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Catalogue unavailable",
                "the catalogue did not answer",
            )
        }
    }
}

async fn metrics(State(ingest): State<Ingest>) -> Response {
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// Serves the router on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Ingest,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(ingest))
        .with_graceful_shutdown(shutdown)
        .await
}
