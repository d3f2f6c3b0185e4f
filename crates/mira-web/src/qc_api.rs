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
use mira_store::Catalogue;
use serde::Deserialize;

use crate::Problem;

/// The QC routes, with their state applied (merge them into any router).
pub fn qc_routes(store: QcStore, catalogue: Catalogue) -> Router {
    Router::new()
        .route("/api/qc/indicators", get(indicators))
        .route("/api/qc/studies/{study_uid}", get(study))
        .with_state((store, catalogue))
}

#[derive(Debug, Deserialize)]
struct IndicatorQuery {
    from: Option<String>,
    to: Option<String>,
    #[serde(rename = "group-by")]
    group_by: Option<String>,
}

async fn indicators(
    State((store, _)): State<(QcStore, Catalogue)>,
    Query(q): Query<IndicatorQuery>,
) -> Response {
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
    // the caller's sites only
    let sites = crate::auth::caller_sites();
    match store.indicators_within(&from, &to, group_by, &sites).await {
        Ok(ind) => Json(ind).into_response(),
        Err(e) => store_problem(&e),
    }
}

async fn study(
    State((store, catalogue)): State<(QcStore, Catalogue)>,
    Path(study_uid): Path<String>,
) -> Response {
    match catalogue.study_site(&study_uid).await {
        Ok(Some(site)) if crate::auth::caller_sees(site) => {}
        // another site's study is as unknown as a missing one
        Ok(_) => return Problem::not_found("no such study in the archive").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "qc api: catalogue error");
            return Problem::internal("the catalogue could not be read").into_response();
        }
    }
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
