//! Dataset release over HTTP: researchers request, data stewards decide and export,
//! researchers download and report back. Every step is audited.
//!
//! | Path | Who | Answers |
//! |---|---|---|
//! | `POST /api/datasets` | researcher | `{"purpose","criteria":{…}}` → `201` the request |
//! | `GET /api/datasets`, `GET /api/datasets/{id}` | researcher (own), steward (all) | requests with their state and manifest |
//! | `POST /api/datasets/{id}/decision` | steward | `{"approve": bool, "note"}` |
//! | `POST /api/datasets/{id}/export` | steward | de-identifies the matching studies of the steward's sites; the manifest |
//! | `GET /api/datasets/{id}/archive` | the requester | the tar (`application/x-tar`) |
//! | `POST /api/datasets/{id}/feedback` | the requester | `{"feedback"}`: use and results; closes the request |

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mira_access::{Permission, Principal};
use mira_audit::{Actor, AuditAction, AuditEvent, AuditObject, AuditSink, Outcome};
use mira_datasets::{Criteria, ReleaseError, Releases};
use mira_ingest::Ingest;
use serde::Deserialize;

use crate::Problem;

/// What the dataset routes need.
#[derive(Debug, Clone)]
pub struct DatasetsState {
    /// The release process.
    pub releases: Releases,
    /// The archive the exports read.
    pub ingest: Ingest,
    /// The de-identification key (`[deid] key_file`); exports are refused without one.
    pub key: Option<mira_deid::DeidKey>,
    /// Where archives are written.
    pub export_dir: PathBuf,
    /// The audit log.
    pub audit: Option<AuditSink>,
}

/// The dataset routes.
pub fn dataset_routes(state: DatasetsState) -> Router {
    Router::new()
        .route("/api/datasets", post(request).get(list))
        .route("/api/datasets/{id}", get(one))
        .route("/api/datasets/{id}/decision", post(decide))
        .route("/api/datasets/{id}/export", post(export))
        .route("/api/datasets/{id}/archive", get(archive))
        .route("/api/datasets/{id}/feedback", post(feedback))
        .with_state(Arc::new(state))
}

fn no_principal() -> Response {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "Authentication required",
        "no principal",
    )
    .into_response()
}

fn problem(e: &ReleaseError) -> Response {
    match e {
        ReleaseError::NotFound(_) => Problem::not_found(e.to_string()).into_response(),
        ReleaseError::State { .. } => {
            Problem::new(StatusCode::CONFLICT, "Wrong state", e.to_string()).into_response()
        }
        ReleaseError::NotRequester(_) => {
            Problem::new(StatusCode::FORBIDDEN, "Forbidden", e.to_string()).into_response()
        }
        ReleaseError::Invalid(_) => Problem::bad_request(e.to_string()).into_response(),
        ReleaseError::NoKey => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "No de-identification key",
            e.to_string(),
        )
        .into_response(),
        _ => {
            tracing::error!(error = %e, "datasets api");
            Problem::internal("the dataset request could not be processed").into_response()
        }
    }
}

async fn audit(
    state: &DatasetsState,
    who: &Principal,
    action: AuditAction,
    id: i64,
    outcome: Outcome,
    detail: String,
) {
    if let Some(sink) = &state.audit {
        sink.record(AuditEvent {
            actor: Actor::User(who.name().to_string()),
            site: who.site.code.clone(),
            action,
            object: AuditObject::Dataset(id.to_string()),
            outcome,
            source_address: String::new(),
            detail,
        })
        .await;
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    purpose: String,
    #[serde(default)]
    criteria: Criteria,
}

async fn request(
    State(state): State<Arc<DatasetsState>>,
    body: Result<Json<RequestBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(who) = crate::auth::caller() else {
        return no_principal();
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return Problem::bad_request(e.body_text()).into_response(),
    };
    match state
        .releases
        .request(who.name(), &who.site.code, &body.purpose, &body.criteria)
        .await
    {
        Ok(req) => {
            audit(
                &state,
                &who,
                AuditAction::DatasetRelease,
                req.id,
                Outcome::Success,
                "requested".into(),
            )
            .await;
            (StatusCode::CREATED, Json(req)).into_response()
        }
        Err(e) => problem(&e),
    }
}

/// A steward sees every request; a researcher only theirs.
fn may_see(who: &Principal, requester: &str) -> bool {
    who.can(Permission::ReleaseDatasets)
        || (who.can(Permission::RequestDatasets) && who.name() == requester)
}

async fn list(State(state): State<Arc<DatasetsState>>) -> Response {
    let Some(who) = crate::auth::caller() else {
        return no_principal();
    };
    let filter = if who.can(Permission::ReleaseDatasets) {
        None
    } else if who.can(Permission::RequestDatasets) {
        Some(who.name())
    } else {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "datasets are for researchers and data stewards",
        )
        .into_response();
    };
    match state.releases.list(filter).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => problem(&e),
    }
}

async fn one(State(state): State<Arc<DatasetsState>>, Path(id): Path<i64>) -> Response {
    let Some(who) = crate::auth::caller() else {
        return no_principal();
    };
    match state.releases.get(id).await {
        Ok(req) if may_see(&who, &req.requested_by) => Json(req).into_response(),
        Ok(_) => problem(&ReleaseError::NotFound(id)),
        Err(e) => problem(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    approve: bool,
    #[serde(default)]
    note: String,
}

async fn decide(
    State(state): State<Arc<DatasetsState>>,
    Path(id): Path<i64>,
    body: Result<Json<DecisionBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(who) = crate::auth::caller() else {
        return no_principal();
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return Problem::bad_request(e.body_text()).into_response(),
    };
    match state
        .releases
        .decide(id, who.name(), body.approve, &body.note)
        .await
    {
        Ok(req) => {
            let what = if body.approve { "approved" } else { "refused" };
            audit(
                &state,
                &who,
                AuditAction::DatasetRelease,
                id,
                Outcome::Success,
                what.into(),
            )
            .await;
            Json(req).into_response()
        }
        Err(e) => problem(&e),
    }
}

async fn export(State(state): State<Arc<DatasetsState>>, Path(id): Path<i64>) -> Response {
    let Some(who) = crate::auth::caller() else {
        return no_principal();
    };
    let result = state
        .releases
        .export(
            id,
            who.name(),
            &who.scope,
            state.ingest.archive(),
            state.key.as_ref(),
            &state.export_dir,
        )
        .await;
    match result {
        Ok(req) => {
            let instances = req
                .manifest
                .as_ref()
                .and_then(|m| m["instances"].as_u64())
                .unwrap_or(0);
            audit(
                &state,
                &who,
                AuditAction::Deidentify,
                id,
                Outcome::Success,
                format!("dataset exported: {instances} instances de-identified"),
            )
            .await;
            Json(req).into_response()
        }
        Err(e) => {
            audit(
                &state,
                &who,
                AuditAction::Deidentify,
                id,
                Outcome::Failure,
                e.to_string(),
            )
            .await;
            problem(&e)
        }
    }
}

async fn archive(State(state): State<Arc<DatasetsState>>, Path(id): Path<i64>) -> Response {
    let Some(who) = crate::auth::caller() else {
        return no_principal();
    };
    let path = match state.releases.archive_for(id, who.name()).await {
        Ok(p) => p,
        Err(e) => {
            audit(
                &state,
                &who,
                AuditAction::Export,
                id,
                Outcome::Denied,
                e.to_string(),
            )
            .await;
            return problem(&e);
        }
    };
    if let Err(e) = tokio::fs::metadata(&path).await {
        return problem(&ReleaseError::Io(e.to_string()));
    }
    audit(
        &state,
        &who,
        AuditAction::Export,
        id,
        Outcome::Success,
        "dataset downloaded".into(),
    )
    .await;
    (
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"dataset-{id}.tar\""),
            ),
        ],
        Body::from_stream(crate::dicomweb::multipart::file_stream(path)),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackBody {
    feedback: String,
}

async fn feedback(
    State(state): State<Arc<DatasetsState>>,
    Path(id): Path<i64>,
    body: Result<Json<FeedbackBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(who) = crate::auth::caller() else {
        return no_principal();
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return Problem::bad_request(e.body_text()).into_response(),
    };
    match state
        .releases
        .feedback(id, who.name(), &body.feedback)
        .await
    {
        Ok(req) => {
            audit(
                &state,
                &who,
                AuditAction::DatasetRelease,
                id,
                Outcome::Success,
                "feedback".into(),
            )
            .await;
            Json(req).into_response()
        }
        Err(e) => problem(&e),
    }
}
