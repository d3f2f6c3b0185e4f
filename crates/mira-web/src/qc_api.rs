//! The QC API: indicators for a period and the results of a study.
//!
//! | Path | Answers |
//! |---|---|
//! | `GET /api/qc/indicators?from=YYYY-MM-DD&to=YYYY-MM-DD&group-by=site\|device\|operator` | pass rate per rule, first-class-image rate, repeat rate, LDCT dose compliance per group |
//! | `GET /api/qc/studies/{study_uid}` | every stored check of the study, its series and instances; `404` when QC has not run on it |
//!
//! Errors are `application/problem+json`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mira_qc::store::{GroupBy, QcStore, StoreError};
use serde::Deserialize;

use crate::Problem;

/// The QC routes, with their state applied (merge them into any router).
pub fn qc_routes(store: QcStore) -> Router {
    Router::new()
        .route("/api/qc/indicators", get(indicators))
        .route("/api/qc/studies/{study_uid}", get(study))
        .with_state(store)
}

#[derive(Debug, Deserialize)]
struct IndicatorQuery {
    from: Option<String>,
    to: Option<String>,
    #[serde(rename = "group-by")]
    group_by: Option<String>,
}

async fn indicators(State(store): State<QcStore>, Query(q): Query<IndicatorQuery>) -> Response {
    let (Some(from), Some(to)) = (q.from, q.to) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "Missing period",
            "give the period as from=YYYY-MM-DD&to=YYYY-MM-DD",
        )
        .into_response();
    };
    let group_by = match q.group_by.as_deref().map(GroupBy::parse) {
        None => GroupBy::Site,
        Some(Some(g)) => g,
        Some(None) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "Invalid grouping",
                "group-by must be site, device or operator",
            )
            .into_response();
        }
    };
    match store.indicators(&from, &to, group_by).await {
        Ok(ind) => Json(ind).into_response(),
        Err(e) => store_problem(&e),
    }
}

async fn study(State(store): State<QcStore>, Path(study_uid): Path<String>) -> Response {
    match store.study_results(&study_uid).await {
        Ok(results) if results.is_empty() => Problem::new(
            StatusCode::NOT_FOUND,
            "No QC results",
            "QC has not run on this study (unknown, or not complete yet)",
        )
        .into_response(),
        Ok(results) => Json(serde_json::json!({
            "study_instance_uid": study_uid,
            "results": results,
        }))
        .into_response(),
        Err(e) => store_problem(&e),
    }
}

fn store_problem(e: &StoreError) -> Response {
    match e {
        StoreError::InvalidDate(_) => {
            Problem::new(StatusCode::BAD_REQUEST, "Invalid date", e.to_string()).into_response()
        }
        _ => {
            tracing::error!(error = %e, "qc api: database error");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "QC results unavailable",
                "the catalogue did not answer",
            )
            .into_response()
        }
    }
}
