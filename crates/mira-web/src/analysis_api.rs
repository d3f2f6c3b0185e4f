//! The analysis API: AI results of a study, and the job queue for administrators.
//!
//! | Path | Answers |
//! |---|---|
//! | `GET /api/analysis/studies/{study_uid}` | every analysis job of the study with its state, report, flags and derived SR UIDs; `404` when none was routed |
//! | `GET /api/analysis/jobs?state=queued\|running\|done\|failed&limit=N` | the most recent jobs (default 100, at most 1000) and the counts per state |
//!
//! Results are drafts for a physician to review; nothing here signs anything. Errors are
//! `application/problem+json`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mira_analysis::{JobQueue, JobState, QueueError};
use mira_store::Catalogue;
use serde::Deserialize;

use crate::Problem;

/// The analysis routes, with their state applied (merge them into any router).
pub fn analysis_routes(queue: JobQueue, catalogue: Catalogue) -> Router {
    Router::new()
        .route("/api/analysis/studies/{study_uid}", get(study))
        .route("/api/analysis/jobs", get(jobs))
        .with_state((queue, catalogue))
}

async fn study(
    State((queue, catalogue)): State<(JobQueue, Catalogue)>,
    Path(study_uid): Path<String>,
) -> Response {
    match catalogue.study_site(&study_uid).await {
        Ok(Some(site)) if crate::auth::caller_sees(site) => {}
        // another site's study is as unknown as a missing one
        Ok(_) => return Problem::not_found("no such study in the archive").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "analysis api: catalogue error");
            return Problem::internal("the catalogue could not be read").into_response();
        }
    }
    match queue.for_study(&study_uid).await {
        Ok(jobs) if jobs.is_empty() => Problem::new(
            StatusCode::NOT_FOUND,
            "No analysis",
            "no analysis was routed for this study (unknown, not complete yet, or nothing applies)",
        )
        .into_response(),
        Ok(jobs) => Json(serde_json::json!({
            "study_instance_uid": study_uid,
            "jobs": jobs,
        }))
        .into_response(),
        Err(e) => queue_problem(&e),
    }
}

#[derive(Debug, Deserialize)]
struct JobsQuery {
    state: Option<String>,
    limit: Option<u32>,
}

async fn jobs(
    State((queue, _)): State<(JobQueue, Catalogue)>,
    Query(q): Query<JobsQuery>,
) -> Response {
    let state = match q.state.as_deref().map(JobState::parse) {
        None => None,
        Some(Some(state)) => Some(state),
        Some(None) => {
            return Problem::bad_request("state must be queued, running, done or failed")
                .into_response();
        }
    };
    let limit = q.limit.unwrap_or(100).min(1000);
    match (queue.list(state, limit).await, queue.counts().await) {
        (Ok(jobs), Ok(counts)) => Json(serde_json::json!({
            "counts": counts,
            "jobs": jobs,
        }))
        .into_response(),
        (Err(e), _) | (_, Err(e)) => queue_problem(&e),
    }
}

fn queue_problem(e: &QueueError) -> Response {
    tracing::error!(error = %e, "analysis api: database error");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Analysis results unavailable",
        "the catalogue did not answer",
    )
    .into_response()
}
