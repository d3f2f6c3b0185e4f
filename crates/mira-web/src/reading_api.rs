//! The reading API: the worklist, a study opened for reading, decisions on AI findings,
//! reports (draft, QC, sign with re-authentication, addenda), critical-finding notifications,
//! exports (DICOM SR, FHIR R4, PDF), and agreement for the evaluation centre.
//!
//! | Path | Permission | Answers |
//! |---|---|---|
//! | `GET /api/reading/worklist?state=&modality=&site=&urgent=&q=&sort=urgency\|date&limit=` | read-analysis | studies of the caller's sites, urgent AI findings first, and counts per state |
//! | `GET /api/reading/studies/{uid}` | read-analysis | header, series, findings, reports, notifications |
//! | `POST /api/reading/studies/{uid}/open` | sign | marks it in review |
//! | `PUT /api/reading/studies/{uid}/priority` `{"priority"}` | sign | routine, urgent or stat |
//! | `POST /api/reading/studies/{uid}/findings` | sign | adds a physician's finding |
//! | `POST /api/reading/studies/{uid}/findings/{id}/decision` | sign | accept, edit or reject (with a reason) |
//! | `POST /api/reading/studies/{uid}/report` `{"template"?}` | sign | the draft, pre-filled from the kept findings |
//! | `POST /api/reading/studies/{uid}/notifications` | sign | records a critical-finding notification |
//! | `GET`/`PUT /api/reading/reports/{id}` | read-analysis / sign | a report; edits a draft (`409` once signed) |
//! | `GET /api/reading/reports/{id}/qc` | read-analysis | report QC as it stands |
//! | `POST /api/reading/reports/{id}/sign` `{"password"}` | sign | re-authenticates, runs QC (`422` with the issues), signs, stores the SR |
//! | `POST /api/reading/reports/{id}/addendum` `{"text","password"}` | sign | a signed addendum |
//! | `GET /api/reading/reports/{id}/sr`, `/fhir`, `/pdf` | read-analysis | the signed report as DICOM SR, FHIR R4 Bundle, PDF |
//! | `GET /api/reading/agreement?from=&to=&bucket=all\|week\|month` | read-qc | AI findings accepted/edited/rejected per model version and site, with drift alerts |
//! | `GET /api/reading/indicators?from=&to=` | read-qc | report indicators per site |
//!
//! Only a physician signs: `sign` belongs to radiologists alone, and the API refuses everyone
//! else whatever the UI shows. Every access is audited with the study; errors are
//! `application/problem+json`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mira_access::{Directory, Permission, Principal};
use mira_audit::{Actor, AuditAction, AuditEvent, AuditObject, AuditSink, Outcome};
use mira_ingest::Ingest;
use mira_reading::findings::NewFinding;
use mira_reading::review::Bucket;
use mira_reading::{
    DecisionInput, NewNotification, Reading, ReadingError, ReportPatch, SignedBy, WorklistFilter,
};
use serde::Deserialize;

use crate::Problem;

/// What the reading routes need.
#[derive(Clone)]
pub struct ReadingState {
    pub reading: Reading,
    pub ingest: Ingest,
    pub directory: Option<Directory>,
    pub audit: Option<AuditSink>,
    /// Alert when a model version's rejection rate in a period exceeds its earlier rate by
    /// more than this (post-deployment monitoring).
    pub drift: mira_eval::monitoring::DriftSettings,
}

/// The reading routes, with their state applied.
pub fn reading_routes(state: ReadingState) -> Router {
    Router::new()
        .route("/api/reading/worklist", get(worklist))
        .route("/api/reading/studies/{study_uid}", get(study))
        .route("/api/reading/studies/{study_uid}/open", post(open))
        .route(
            "/api/reading/studies/{study_uid}/priority",
            axum::routing::put(priority),
        )
        .route(
            "/api/reading/studies/{study_uid}/findings",
            post(add_finding),
        )
        .route(
            "/api/reading/studies/{study_uid}/findings/{finding_id}/decision",
            post(decide),
        )
        .route(
            "/api/reading/studies/{study_uid}/report",
            post(create_report),
        )
        .route(
            "/api/reading/studies/{study_uid}/notifications",
            post(notify),
        )
        .route("/api/reading/reports/{id}", get(report).put(update_report))
        .route("/api/reading/reports/{id}/qc", get(report_qc))
        .route("/api/reading/reports/{id}/sign", post(sign))
        .route("/api/reading/reports/{id}/addendum", post(addendum))
        .route("/api/reading/reports/{id}/sr", get(export_sr))
        .route("/api/reading/reports/{id}/fhir", get(export_fhir))
        .route("/api/reading/reports/{id}/pdf", get(export_pdf))
        .route("/api/reading/agreement", get(agreement))
        .route("/api/reading/indicators", get(indicators))
        .with_state(Arc::new(state))
}

type St = State<Arc<ReadingState>>;

/// The authenticated caller: the auth middleware's principal; `401` when there is none (a
/// route set used without the middleware).
struct Caller(Arc<Principal>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        _parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        crate::auth::caller().map(Caller).ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "Authentication required",
                "no principal",
            )
            .into_response()
        })
    }
}

fn problem(error: ReadingError) -> Response {
    match error {
        ReadingError::UnknownStudy => {
            Problem::not_found("no such study in the archive").into_response()
        }
        ReadingError::UnknownFinding => {
            Problem::not_found("no such finding on this study").into_response()
        }
        ReadingError::UnknownReport => Problem::not_found("no such report").into_response(),
        ReadingError::Signed => Problem::new(
            StatusCode::CONFLICT,
            "Report signed",
            "the report is signed and immutable; add a signed addendum instead",
        )
        .into_response(),
        ReadingError::NotSigned => Problem::new(
            StatusCode::CONFLICT,
            "Report not signed",
            "the report is not signed yet",
        )
        .into_response(),
        ReadingError::Invalid(why) => Problem::bad_request(why).private().into_response(),
        ReadingError::QcFailed(qc) => {
            let body = serde_json::json!({
                "type": "about:blank",
                "title": "Report QC failed",
                "status": 422,
                "detail": "report QC found errors; correct the report before signing",
                "issues": qc.issues,
            });
            tracing::info!(status = 422, "sign refused by report QC");
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                [(header::CONTENT_TYPE, "application/problem+json")],
                body.to_string(),
            )
                .into_response()
        }
        ReadingError::Database(e) => {
            tracing::error!(error = %e, "reading: catalogue error");
            Problem::internal("the reading data could not be read or written").into_response()
        }
        ReadingError::Corrupt(e) => {
            tracing::error!(error = %e, "reading: stored data is corrupt");
            Problem::internal("stored reading data is corrupt").into_response()
        }
    }
}

fn bad_json(rejection: JsonRejection) -> Response {
    Problem::bad_request(format!(
        "the request body is not valid: {}",
        rejection.body_text()
    ))
    .private()
    .into_response()
}

async fn audit(
    state: &ReadingState,
    who: &Principal,
    action: AuditAction,
    study: &str,
    detail: &str,
) {
    if let Some(sink) = &state.audit {
        sink.record(AuditEvent {
            actor: Actor::User(who.name().to_string()),
            site: who.site.code.clone(),
            action,
            object: AuditObject::Study(study.to_string()),
            outcome: Outcome::Success,
            source_address: String::new(),
            detail: detail.to_string(),
        })
        .await;
    }
}

async fn worklist(
    State(state): St,
    Caller(who): Caller,
    Query(filter): Query<WorklistFilter>,
) -> Response {
    match state.reading.worklist(&filter, &who.scope).await {
        Ok((studies, counts)) => {
            if let Some(sink) = &state.audit {
                sink.record(AuditEvent {
                    actor: Actor::User(who.name().to_string()),
                    site: who.site.code.clone(),
                    action: AuditAction::Query,
                    object: AuditObject::Query("worklist".into()),
                    outcome: Outcome::Success,
                    source_address: String::new(),
                    detail: format!("worklist: {} studies", studies.len()),
                })
                .await;
            }
            Json(serde_json::json!({ "studies": studies, "counts": counts })).into_response()
        }
        Err(e) => problem(e),
    }
}

async fn study_json(
    state: &ReadingState,
    uid: &str,
    who: &Principal,
) -> Result<serde_json::Value, ReadingError> {
    let summary = state.reading.study_summary(uid, &who.scope).await?;
    let header = state.reading.report_header(uid, &who.scope).await?;
    let derived = series_from_analysis(state, uid).await?;
    let series: Vec<serde_json::Value> = header
        .series
        .iter()
        .map(|s| {
            serde_json::json!({
                "series_instance_uid": s.series_instance_uid,
                "modality": s.modality,
                "series_number": s.series_number,
                "series_description": s.description,
                "instance_count": s.instances.len(),
                "derived": derived.contains(&s.series_instance_uid),
                "instances": s.instances.iter().map(|i| serde_json::json!({
                    "sop_instance_uid": i.sop_instance_uid,
                    "sop_class_uid": i.sop_class_uid,
                    "instance_number": i.instance_number,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let findings = state.reading.findings(uid).await?;
    let reports = state.reading.reports_of(uid).await?;
    let current = match reports.last() {
        Some(r) => Some(state.reading.report(r.id, &who.scope).await?),
        None => None,
    };
    let notifications = state.reading.notifications(uid).await?;
    Ok(serde_json::json!({
        "study": summary,
        "series": series,
        "findings": findings,
        "report": current,
        "reports": reports,
        "notifications": notifications,
    }))
}

/// Series whose instances an analyzer made (its SR): not images to read.
async fn series_from_analysis(
    state: &ReadingState,
    uid: &str,
) -> Result<Vec<String>, ReadingError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT se.series_instance_uid FROM series se JOIN studies s ON s.id = se.study_pk \
         JOIN instances i ON i.series_pk = se.id WHERE s.study_instance_uid = $1 \
         AND (i.received_from LIKE 'analysis:%' OR i.received_from LIKE 'reading:%')",
    )
    .bind(uid)
    .fetch_all(state.ingest.archive().catalogue.pool())
    .await?)
}

async fn study(State(state): St, Caller(who): Caller, Path(uid): Path<String>) -> Response {
    match study_json(&state, &uid, &who).await {
        Ok(body) => {
            audit(
                &state,
                &who,
                AuditAction::View,
                &uid,
                "reading: study opened",
            )
            .await;
            Json(body).into_response()
        }
        Err(e) => problem(e),
    }
}

async fn open(State(state): St, Caller(who): Caller, Path(uid): Path<String>) -> Response {
    if let Err(e) = state.reading.study_summary(&uid, &who.scope).await {
        return problem(e);
    }
    if let Err(e) = state.reading.open(&uid, who.name()).await {
        return problem(e);
    }
    match study_json(&state, &uid, &who).await {
        Ok(body) => {
            audit(
                &state,
                &who,
                AuditAction::View,
                &uid,
                "reading: review started",
            )
            .await;
            Json(body).into_response()
        }
        Err(e) => problem(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriorityBody {
    priority: String,
}

async fn priority(
    State(state): St,
    Caller(who): Caller,
    Path(uid): Path<String>,
    body: Result<Json<PriorityBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(r) => return bad_json(r),
    };
    if let Err(e) = state.reading.study_summary(&uid, &who.scope).await {
        return problem(e);
    }
    match state.reading.set_priority(&uid, &body.priority).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => problem(e),
    }
}

async fn add_finding(
    State(state): St,
    Caller(who): Caller,
    Path(uid): Path<String>,
    body: Result<Json<NewFinding>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(r) => return bad_json(r),
    };
    if let Err(e) = state.reading.study_summary(&uid, &who.scope).await {
        return problem(e);
    }
    match state.reading.add_finding(&uid, body, who.name()).await {
        Ok(finding) => {
            audit(
                &state,
                &who,
                AuditAction::PatientRecord,
                &uid,
                "reading: finding added",
            )
            .await;
            (StatusCode::CREATED, Json(finding)).into_response()
        }
        Err(e) => problem(e),
    }
}

async fn decide(
    State(state): St,
    Caller(who): Caller,
    Path((uid, finding_id)): Path<(String, String)>,
    body: Result<Json<DecisionInput>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(r) => return bad_json(r),
    };
    if let Err(e) = state.reading.study_summary(&uid, &who.scope).await {
        return problem(e);
    }
    let what = match &body {
        DecisionInput::Accept => "accepted",
        DecisionInput::Edit { .. } => "edited",
        DecisionInput::Reject { .. } => "rejected",
    };
    match state
        .reading
        .decide(&uid, &finding_id, body, who.name())
        .await
    {
        Ok(finding) => {
            audit(
                &state,
                &who,
                AuditAction::PatientRecord,
                &uid,
                &format!("reading: AI finding {what}"),
            )
            .await;
            Json(finding).into_response()
        }
        Err(e) => problem(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateReportBody {
    #[serde(default)]
    template: Option<mira_report::Template>,
}

async fn create_report(
    State(state): St,
    Caller(who): Caller,
    Path(uid): Path<String>,
    body: Option<Json<CreateReportBody>>,
) -> Response {
    let template = body.and_then(|Json(b)| b.template);
    match state
        .reading
        .create_report(&uid, template, who.name(), &who.scope)
        .await
    {
        Ok(report) => {
            audit(
                &state,
                &who,
                AuditAction::PatientRecord,
                &uid,
                "reading: report drafted",
            )
            .await;
            Json(report).into_response()
        }
        Err(e) => problem(e),
    }
}

async fn notify(
    State(state): St,
    Caller(who): Caller,
    Path(uid): Path<String>,
    body: Result<Json<NewNotification>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(r) => return bad_json(r),
    };
    if let Err(e) = state.reading.study_summary(&uid, &who.scope).await {
        return problem(e);
    }
    match state.reading.notify(&uid, body, who.name()).await {
        Ok(n) => {
            audit(
                &state,
                &who,
                AuditAction::PatientRecord,
                &uid,
                "reading: critical finding notified",
            )
            .await;
            (StatusCode::CREATED, Json(n)).into_response()
        }
        Err(e) => problem(e),
    }
}

async fn report(State(state): St, Caller(who): Caller, Path(id): Path<i64>) -> Response {
    match state.reading.report(id, &who.scope).await {
        Ok(report) => {
            audit(
                &state,
                &who,
                AuditAction::View,
                &report.study_instance_uid,
                "reading: report",
            )
            .await;
            Json(report).into_response()
        }
        Err(e) => problem(e),
    }
}

async fn update_report(
    State(state): St,
    Caller(who): Caller,
    Path(id): Path<i64>,
    body: Result<Json<ReportPatch>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(r) => return bad_json(r),
    };
    match state.reading.update_report(id, body, &who.scope).await {
        Ok(report) => {
            audit(
                &state,
                &who,
                AuditAction::PatientRecord,
                &report.study_instance_uid,
                "reading: report edited",
            )
            .await;
            Json(report).into_response()
        }
        Err(e) => problem(e),
    }
}

async fn report_qc(State(state): St, Caller(who): Caller, Path(id): Path<i64>) -> Response {
    match state.reading.report(id, &who.scope).await {
        Ok(report) => Json(report.qc).into_response(),
        Err(e) => problem(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    password: String,
}

/// Re-authenticates the caller with their password (a signature is a deliberate act, not a
/// session that happens to be open), and checks they still may sign.
async fn reauthenticate(
    state: &ReadingState,
    who: &Principal,
    password: &str,
) -> Result<SignedBy, Problem> {
    let refused = || {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "Re-authentication failed",
            "the password is not correct; signing needs the signer's own password",
        )
    };
    let Some(directory) = &state.directory else {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "No accounts",
            "signing needs mira's account directory",
        ));
    };
    let mira_access::Identity::User { username, .. } = &who.identity else {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "only a physician signs",
        ));
    };
    match directory.authenticate(username, password).await {
        Ok(again) if again.can(Permission::Sign) && again.identity == who.identity => {}
        Ok(_) => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "only a physician signs",
            ));
        }
        Err(_) => {
            if let Some(sink) = &state.audit {
                sink.record(AuditEvent {
                    actor: Actor::User(username.clone()),
                    site: who.site.code.clone(),
                    action: AuditAction::FailedLogin,
                    object: AuditObject::User(username.clone()),
                    outcome: Outcome::Failure,
                    source_address: String::new(),
                    detail: "re-authentication to sign failed".into(),
                })
                .await;
            }
            return Err(refused());
        }
    }
    let display_name = directory
        .users()
        .await
        .ok()
        .and_then(|users| users.into_iter().find(|u| &u.username == username))
        .map(|u| u.display_name)
        .unwrap_or_else(|| username.clone());
    Ok(SignedBy {
        user: username.clone(),
        display_name,
    })
}

async fn sign(
    State(state): St,
    Caller(who): Caller,
    Path(id): Path<i64>,
    body: Result<Json<SignBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(r) => return bad_json(r),
    };
    // the report must be visible before the password is tried
    if let Err(e) = state.reading.report(id, &who.scope).await {
        return problem(e);
    }
    let signer = match reauthenticate(&state, &who, &body.password).await {
        Ok(s) => s,
        Err(problem) => return problem.into_response(),
    };
    let report = match state.reading.sign(id, &signer, &who.scope).await {
        Ok(r) => r,
        Err(e) => return problem(e),
    };
    audit(
        &state,
        &who,
        AuditAction::Sign,
        &report.study_instance_uid,
        "reading: report signed",
    )
    .await;
    // the signed report also goes into the archive as an SR; a failure here leaves the
    // signature valid (the SR export is made again on demand, with the same UID)
    if let Err(e) = store_sr(&state, id, &who).await {
        tracing::error!(report = id, error = %e, "the signed report's SR could not be stored in the archive");
    }
    Json(report).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddendumBody {
    text: String,
    password: String,
}

async fn addendum(
    State(state): St,
    Caller(who): Caller,
    Path(id): Path<i64>,
    body: Result<Json<AddendumBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(r) => return bad_json(r),
    };
    if let Err(e) = state.reading.report(id, &who.scope).await {
        return problem(e);
    }
    let signer = match reauthenticate(&state, &who, &body.password).await {
        Ok(s) => s,
        Err(problem) => return problem.into_response(),
    };
    match state
        .reading
        .addendum(id, &body.text, &signer, &who.scope)
        .await
    {
        Ok(report) => {
            audit(
                &state,
                &who,
                AuditAction::Sign,
                &report.study_instance_uid,
                "reading: addendum signed",
            )
            .await;
            if let Err(e) = store_sr(&state, report.id, &who).await {
                tracing::error!(report = report.id, error = %e, "the addendum's SR could not be stored in the archive");
            }
            (StatusCode::CREATED, Json(report)).into_response()
        }
        Err(e) => problem(e),
    }
}

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error(transparent)]
    Reading(#[from] ReadingError),
    #[error("no image of the study to take the patient and study modules from")]
    NoSource,
    #[error("source image: {0}")]
    Source(String),
    #[error("export: {0}")]
    Report(#[from] mira_report::ReportError),
    #[error("archive: {0}")]
    Ingest(#[from] mira_ingest::IngestError),
}

impl ExportError {
    fn into_response(self) -> Response {
        match self {
            ExportError::Reading(e) => problem(e),
            other => {
                tracing::error!(error = %other, "report export failed");
                Problem::internal("the export could not be made").into_response()
            }
        }
    }
}

/// The signed report as a Part 10 SR file.
async fn sr_bytes(
    state: &ReadingState,
    id: i64,
    who: &Principal,
) -> Result<(String, Vec<u8>), ExportError> {
    let signed = state.reading.signed_report(id, &who.scope).await?;
    let view = state.reading.report(id, &who.scope).await?;
    let study = signed.document.header.study_instance_uid.clone();
    // any image of the study gives the patient and study modules
    let source_uid = signed
        .document
        .header
        .series
        .iter()
        .filter(|s| s.modality.as_deref() != Some("SR"))
        .flat_map(|s| s.instances.first())
        .map(|i| i.sop_instance_uid.clone())
        .next()
        .ok_or(ExportError::NoSource)?;
    let archive = state.ingest.archive();
    let location = archive
        .catalogue
        .instance_location(&source_uid)
        .await
        .map_err(|e| ExportError::Source(e.to_string()))?
        .ok_or(ExportError::NoSource)?;
    let key = mira_store::BlobKey::parse(&location.blob_key)
        .map_err(|e| ExportError::Source(e.to_string()))?;
    let path = archive
        .blobs
        .local_path(&key)
        .await
        .map_err(|e| ExportError::Source(e.to_string()))?;
    let uids = mira_sr::model::DocumentUids::Given {
        series_instance_uid: mira_reading::reports::report_series_uid(&study),
        sop_instance_uid: view.sr_sop_instance_uid.clone().unwrap_or_default(),
    };
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ExportError> {
        let source = dicom_object::OpenFileOptions::new()
            .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
            .open_file(&path)
            .map_err(|e| ExportError::Source(e.to_string()))?;
        let mut model = mira_report::sr::measurement_report(&signed, &source)?;
        // the same report version always has the same UIDs: storing it twice stores one
        model.document.uids = uids;
        let file = mira_sr::to_dataset(&model)
            .and_then(mira_sr::SrDocument::into_file_object)
            .map_err(|e| ExportError::Source(e.to_string()))?;
        let mut bytes = Vec::new();
        file.write_all(&mut bytes)
            .map_err(|e| ExportError::Source(e.to_string()))?;
        Ok(bytes)
    })
    .await
    .map_err(|e| ExportError::Source(e.to_string()))??;
    Ok((study, bytes))
}

async fn store_sr(state: &ReadingState, id: i64, who: &Principal) -> Result<(), ExportError> {
    let (_, bytes) = sr_bytes(state, id, who).await?;
    state
        .ingest
        .store_bytes(bytes, "reading:signed-report")
        .await?;
    Ok(())
}

async fn export_sr(State(state): St, Caller(who): Caller, Path(id): Path<i64>) -> Response {
    match sr_bytes(&state, id, &who).await {
        Ok((study, bytes)) => {
            audit(
                &state,
                &who,
                AuditAction::Export,
                &study,
                "reading: report as DICOM SR",
            )
            .await;
            (
                [(header::CONTENT_TYPE, "application/dicom")],
                Body::from(bytes),
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn export_fhir(State(state): St, Caller(who): Caller, Path(id): Path<i64>) -> Response {
    match state.reading.signed_report(id, &who.scope).await {
        Ok(signed) => {
            let study = signed.document.header.study_instance_uid.clone();
            let bundle = mira_report::fhir::bundle(&signed);
            audit(
                &state,
                &who,
                AuditAction::Export,
                &study,
                "reading: report as FHIR R4",
            )
            .await;
            (
                [(header::CONTENT_TYPE, "application/fhir+json")],
                bundle.to_string(),
            )
                .into_response()
        }
        Err(e) => problem(e),
    }
}

async fn export_pdf(State(state): St, Caller(who): Caller, Path(id): Path<i64>) -> Response {
    let signed = match state.reading.signed_report(id, &who.scope).await {
        Ok(s) => s,
        Err(e) => return problem(e),
    };
    let study = signed.document.header.study_instance_uid.clone();
    match tokio::task::spawn_blocking(move || mira_report::pdf::render(&signed)).await {
        Ok(Ok(pdf)) => {
            audit(
                &state,
                &who,
                AuditAction::Export,
                &study,
                "reading: report as PDF",
            )
            .await;
            ([(header::CONTENT_TYPE, "application/pdf")], Body::from(pdf)).into_response()
        }
        Ok(Err(e)) => ExportError::Report(e).into_response(),
        Err(e) => ExportError::Source(e.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    bucket: Bucket,
}

fn valid_day(day: &Option<String>) -> bool {
    day.as_deref().is_none_or(|d| {
        d.len() == 10
            && d.as_bytes()[4] == b'-'
            && d.as_bytes()[7] == b'-'
            && d.bytes()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
    })
}

async fn agreement(
    State(state): St,
    Caller(who): Caller,
    Query(q): Query<PeriodQuery>,
) -> Response {
    if !valid_day(&q.from) || !valid_day(&q.to) {
        return Problem::bad_request("from and to are dates, YYYY-MM-DD").into_response();
    }
    match state
        .reading
        .agreement(q.from.as_deref(), q.to.as_deref(), q.bucket, &who.scope)
        .await
    {
        Ok(rows) => {
            let alerts = mira_eval::monitoring::drift_alerts(
                &rows
                    .iter()
                    .map(|r| mira_eval::monitoring::ReviewCounts {
                        model: format!("{} {}", r.analyzer, r.analyzer_version),
                        site: r.site.clone().unwrap_or_default(),
                        period: r.period.clone(),
                        accepted: r.accepted as u64,
                        edited: r.edited as u64,
                        rejected: r.rejected as u64,
                    })
                    .collect::<Vec<_>>(),
                &state.drift,
            );
            Json(serde_json::json!({ "rows": rows, "alerts": alerts })).into_response()
        }
        Err(e) => problem(e),
    }
}

async fn indicators(
    State(state): St,
    Caller(who): Caller,
    Query(q): Query<PeriodQuery>,
) -> Response {
    if !valid_day(&q.from) || !valid_day(&q.to) {
        return Problem::bad_request("from and to are dates, YYYY-MM-DD").into_response();
    }
    match state
        .reading
        .report_indicators(q.from.as_deref(), q.to.as_deref(), &who.scope)
        .await
    {
        Ok(sites) => Json(serde_json::json!({ "sites": sites })).into_response(),
        Err(e) => problem(e),
    }
}
