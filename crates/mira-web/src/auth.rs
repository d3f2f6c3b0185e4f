//! Authentication and authorisation at the HTTP edge.
//!
//! Every request except the health checks and the login carries a token: `Authorization:
//! Bearer <token>` (API tokens, sessions) or the `mira_session` cookie the login sets for the
//! browser. [`authenticate`] turns it into a [`Principal`], refuses with `401` (no or bad
//! token) or `403` (a permission the principal lacks, decided per path by [`requirement`]),
//! and runs the handler with the principal in scope. The site filter of every query and
//! retrieve comes from [`caller_sites`], which fails closed: no principal, no studies.
//!
//! | Path | Answers |
//! |---|---|
//! | `POST /api/auth/login` | `{"username","password"}` → `{"token","expires_at","user"}` and the session cookie; `401` on bad credentials |
//! | `POST /api/auth/logout` | revokes the token of the request |
//! | `GET /api/auth/me` | the caller: identity, roles, permissions, site |

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mira_access::{AccessError, Identity, Permission, Principal, SiteRef, TokenKind};
use mira_audit::{Actor, AuditAction, AuditEvent, AuditObject, Outcome as AuditOutcome};
use mira_store::SiteFilter;
use serde::Deserialize;

use crate::{Problem, WebState};

tokio::task_local! {
    static CALLER: Arc<Principal>;
    /// The client's IP address, for public paths (the login) that have no principal yet.
    static PEER: String;
}

/// The principal of the request being handled.
pub(crate) fn caller() -> Option<Arc<Principal>> {
    CALLER.try_with(Arc::clone).ok()
}

/// The sites whose studies the request may reach; none outside a request (fail closed).
pub(crate) fn caller_sites() -> SiteFilter {
    caller().map_or(SiteFilter::Only(Vec::new()), |p| p.scope.clone())
}

/// The code of the caller's site, for what it stores (none without access control).
pub(crate) fn caller_site_code() -> Option<String> {
    caller()
        .filter(|p| p.site.id > 0)
        .map(|p| p.site.code.clone())
}

/// Whether the caller may see a study of `site_pk` (`None`: a study of no site).
pub(crate) fn caller_sees(site_pk: Option<i64>) -> bool {
    caller_sites().allows(site_pk)
}

/// How long a login session lasts.
pub const SESSION_SECS: u64 = 12 * 3600;
const COOKIE: &str = "mira_session";

/// What a path requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing (health checks, login).
    Public,
    /// Any authenticated principal.
    Authenticated,
    /// This permission.
    Permission(Permission),
}

/// The permission a request needs, by method and path: one table for the whole edge, so
/// that what each path demands can be read (and tested) in one place.
pub fn requirement(method: &Method, path: &str) -> Requirement {
    use Permission::*;
    let path = path.trim_end_matches('/');
    if path == "/healthz" || path == "/readyz" || path == "/api/auth/login" {
        return Requirement::Public;
    }
    // the web UI's own files: no patient data, and the login page is among them
    if crate::ui::is_ui_asset(path) {
        return Requirement::Public;
    }
    if let Some(rest) = path.strip_prefix("/dicom-web") {
        if method == Method::POST {
            return Requirement::Permission(Store);
        }
        // QIDO-RS: a search ends in a collection (`/studies`, `…/series`, `…/instances`)
        let last = rest.rsplit('/').next().unwrap_or_default();
        return if matches!(last, "studies" | "series" | "instances") {
            Requirement::Permission(Query)
        } else {
            Requirement::Permission(Retrieve)
        };
    }
    if path.starts_with("/api/qc/") {
        return Requirement::Permission(ReadQc);
    }
    if path == "/api/analysis/jobs" {
        return Requirement::Permission(ManageJobs);
    }
    if path.starts_with("/api/analysis/") {
        return Requirement::Permission(ReadAnalysis);
    }
    if let Some(rest) = path.strip_prefix("/api/reading/") {
        // reading: the worklist and studies for those who see AI results; every change
        // (decisions, reports, signatures, notifications) for physicians who sign
        return if rest == "agreement" || rest == "indicators" {
            Requirement::Permission(ReadQc)
        } else if method == Method::GET {
            Requirement::Permission(ReadAnalysis)
        } else {
            Requirement::Permission(Sign)
        };
    }
    if path.starts_with("/api/admin/") {
        return Requirement::Permission(ManageAccess);
    }
    if let Some(rest) = path.strip_prefix("/api/datasets") {
        // listing and reading: researchers (their own) and stewards (all), decided inside
        return match rest.rsplit('/').next().unwrap_or_default() {
            "decision" | "export" => Requirement::Permission(ReleaseDatasets),
            "archive" | "feedback" => Requirement::Permission(RequestDatasets),
            "" if method == Method::POST => Requirement::Permission(RequestDatasets),
            _ => Requirement::Authenticated,
        };
    }
    Requirement::Authenticated
}

/// The token of a request: the bearer token, else the session cookie.
fn token_of(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

fn unauthorized(detail: &'static str) -> Response {
    let mut response =
        Problem::new(StatusCode::UNAUTHORIZED, "Authentication required", detail).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"mira\""),
    );
    response
}

/// A principal that may do anything on every site: what the edge runs as when it was built
/// without a directory (library use and tests of this crate; `mira serve` always has one).
fn unrestricted() -> Principal {
    Principal {
        identity: Identity::User {
            id: 0,
            username: "unrestricted".into(),
        },
        roles: Default::default(),
        permissions: [
            Permission::Query,
            Permission::Retrieve,
            Permission::Store,
            Permission::ReadQc,
            Permission::ReadAnalysis,
            Permission::Sign,
            Permission::ManageAccess,
            Permission::ReadAudit,
            Permission::ManageJobs,
            Permission::ReleaseDatasets,
            Permission::RequestDatasets,
        ]
        .into_iter()
        .collect(),
        site: SiteRef {
            id: 0,
            code: String::new(),
        },
        scope: SiteFilter::All,
    }
}

/// What the audit log records of a request, by method and path: `None` for requests that
/// touch no patient data (health, metrics, indicators, the job queue). Query keys are never
/// recorded: they can hold names.
pub fn audited(method: &Method, path: &str) -> Option<(AuditAction, AuditObject, String)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let after = |name: &str| {
        segments
            .iter()
            .position(|s| *s == name)
            .and_then(|i| segments.get(i + 1))
            .map(|s| s.to_string())
    };
    let study = after("studies");
    let study_or = |fallback: &str| match &study {
        Some(uid) => AuditObject::Study(uid.clone()),
        None => AuditObject::Query(fallback.to_string()),
    };
    match segments.as_slice() {
        ["dicom-web", ..] => {
            let last = *segments.last().unwrap_or(&"");
            if method == Method::POST {
                Some((AuditAction::Store, study_or("STOW-RS"), "STOW-RS".into()))
            } else if matches!(last, "studies" | "series" | "instances") {
                Some((
                    AuditAction::Query,
                    study_or("QIDO-RS"),
                    format!("QIDO-RS {last}"),
                ))
            } else if matches!(last, "rendered" | "thumbnail") {
                Some((
                    AuditAction::View,
                    study_or("WADO-RS"),
                    format!("WADO-RS {last}"),
                ))
            } else {
                let what = if segments.contains(&"frames") {
                    "frames"
                } else if segments.contains(&"bulkdata") {
                    "bulkdata"
                } else if last == "metadata" {
                    "metadata"
                } else {
                    "instances"
                };
                Some((
                    AuditAction::Retrieve,
                    study_or("WADO-RS"),
                    format!("WADO-RS {what}"),
                ))
            }
        }
        ["api", "qc", "studies", uid] => Some((
            AuditAction::View,
            AuditObject::Study(uid.to_string()),
            "QC results".into(),
        )),
        ["api", "analysis", "studies", uid] => Some((
            AuditAction::View,
            AuditObject::Study(uid.to_string()),
            "AI results".into(),
        )),
        ["api", "admin", kind, name] if method == Method::PUT || method == Method::DELETE => {
            let object = if *kind == "users" {
                AuditObject::User(name.to_string())
            } else {
                AuditObject::None
            };
            Some((
                AuditAction::PermissionChange,
                object,
                format!("{} {kind} {name}", method.as_str()),
            ))
        }
        ["api", "auth", "logout"] => Some((AuditAction::Logout, AuditObject::None, String::new())),
        _ => None,
    }
}

fn peer_of(request: &Request) -> String {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<crate::PeerAddr>>()
        .map(|c| c.0.0.ip().to_string())
        .unwrap_or_default()
}

/// The middleware: authenticate, authorise, then run the handler as the principal; record
/// what touched patient data.
pub async fn authenticate(State(state): State<WebState>, request: Request, next: Next) -> Response {
    let needed = requirement(request.method(), request.uri().path());
    let audit = audited(request.method(), request.uri().path());
    let peer = peer_of(&request);
    if needed == Requirement::Public {
        return PEER.scope(peer, next.run(request)).await;
    }
    let principal = match &state.directory {
        None => unrestricted(),
        Some(directory) => {
            let Some(token) = token_of(request.headers()) else {
                return unauthorized("send a bearer token (Authorization: Bearer …) or log in");
            };
            match directory.principal_for_token(&token).await {
                Ok(p) => p,
                Err(AccessError::InvalidToken) => {
                    return unauthorized("the token is unknown, expired or revoked");
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot check a token");
                    return Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Directory unavailable",
                        "the credential could not be checked",
                    )
                    .into_response();
                }
            }
        }
    };
    if let Requirement::Permission(permission) = needed
        && !principal.can(permission)
    {
        tracing::info!(
            user = principal.name(),
            ?permission,
            "request refused: permission missing"
        );
        if let (Some(sink), Some((action, object, detail))) = (&state.audit, audit) {
            sink.record(AuditEvent {
                actor: Actor::User(principal.name().to_string()),
                site: principal.site.code.clone(),
                action,
                object,
                outcome: AuditOutcome::Denied,
                source_address: peer,
                detail: format!("{detail}: permission missing"),
            })
            .await;
        }
        return Problem::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "this needs the {} permission, which your roles do not give",
                serde_json::to_value(permission)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
        )
        .into_response();
    }
    let principal = Arc::new(principal);
    let response = CALLER.scope(principal.clone(), next.run(request)).await;
    if let (Some(sink), Some((action, object, detail))) = (&state.audit, audit) {
        let status = response.status();
        sink.record(AuditEvent {
            actor: Actor::User(principal.name().to_string()),
            site: principal.site.code.clone(),
            action,
            object,
            outcome: if status.is_success() {
                AuditOutcome::Success
            } else if status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND {
                // a study outside the caller's sites answers 404
                AuditOutcome::Denied
            } else {
                AuditOutcome::Failure
            },
            source_address: peer,
            detail: format!("{detail} ({})", status.as_u16()),
        })
        .await;
    }
    response
}

/// The login, logout and `me` routes.
pub fn auth_routes() -> Router<WebState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
}

#[derive(Debug, Deserialize)]
struct Login {
    username: String,
    password: String,
}

async fn login(State(state): State<WebState>, body: Option<Json<Login>>) -> Response {
    let peer = PEER.try_with(Clone::clone).unwrap_or_default();
    let Some(directory) = &state.directory else {
        return Problem::not_found("this server has no accounts").into_response();
    };
    let Some(Json(login)) = body else {
        return Problem::bad_request("send {\"username\": …, \"password\": …} as JSON")
            .into_response();
    };
    let principal = match directory
        .authenticate(&login.username, &login.password)
        .await
    {
        Ok(p) => p,
        Err(AccessError::InvalidCredentials) => {
            tracing::info!("login refused");
            if let Some(sink) = &state.audit {
                sink.record(AuditEvent {
                    actor: Actor::User(login.username.clone()),
                    site: String::new(),
                    action: AuditAction::FailedLogin,
                    object: AuditObject::User(login.username.clone()),
                    outcome: AuditOutcome::Failure,
                    source_address: peer.clone(),
                    detail: "invalid username or password".into(),
                })
                .await;
            }
            return Problem::new(
                StatusCode::UNAUTHORIZED,
                "Login failed",
                "invalid username or password",
            )
            .into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            return Problem::internal("the login could not be checked").into_response();
        }
    };
    let Some(user_id) = principal.user_id() else {
        return Problem::internal("not a user").into_response();
    };
    match directory
        .issue_token(user_id, TokenKind::Session, "login", SESSION_SECS)
        .await
    {
        Ok(token) => {
            tracing::info!(user = principal.name(), "login");
            if let Some(sink) = &state.audit {
                sink.record(AuditEvent {
                    actor: Actor::User(principal.name().to_string()),
                    site: principal.site.code.clone(),
                    action: AuditAction::Login,
                    object: AuditObject::User(principal.name().to_string()),
                    outcome: AuditOutcome::Success,
                    source_address: peer,
                    detail: "session".into(),
                })
                .await;
            }
            let cookie = format!(
                "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}"
            );
            (
                [(header::SET_COOKIE, cookie)],
                Json(serde_json::json!({
                    "token": token,
                    "expires_in": SESSION_SECS,
                    "user": principal,
                })),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot issue a session");
            Problem::internal("the session could not be created").into_response()
        }
    }
}

async fn logout(State(state): State<WebState>, headers: HeaderMap) -> Response {
    if let (Some(directory), Some(token)) = (&state.directory, token_of(&headers))
        && let Err(e) = directory.revoke_token(&token).await
    {
        tracing::error!(error = %e, "cannot revoke a token");
        return Problem::internal("the session could not be ended").into_response();
    }
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response()
}

async fn me() -> Response {
    match caller() {
        Some(p) => Json(serde_json::json!(*p)).into_response(),
        None => unauthorized("no principal"),
    }
}
