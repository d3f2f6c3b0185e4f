//! Account administration (the `manage-access` permission: administrators), the HTTP face of
//! `mira access apply`.
//!
//! | Path | Answers |
//! |---|---|
//! | `GET /api/admin/users`, `/api/admin/sites`, `/api/admin/ae-titles` | the lists (no password hashes) |
//! | `PUT /api/admin/users/{username}` | `{"display_name","password","roles":[…],"site","grants":[…],"all_sites"}`: creates or replaces the account |
//! | `DELETE /api/admin/users/{username}` | deactivates the account and revokes its tokens |
//! | `PUT /api/admin/sites/{code}` | `{"name","kind"}` |
//! | `PUT /api/admin/ae-titles/{ae_title}` | `{"site","all_sites","description"}` |

use std::collections::BTreeSet;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use mira_access::{AccessError, Directory, NewUser, Role, SiteKind};
use serde::Deserialize;

use crate::Problem;

/// The administration routes over `directory`.
pub fn admin_routes(directory: Directory) -> Router {
    Router::new()
        .route("/api/admin/users", get(users))
        .route(
            "/api/admin/users/{username}",
            put(put_user).delete(delete_user),
        )
        .route("/api/admin/sites", get(sites))
        .route("/api/admin/sites/{code}", put(put_site))
        .route("/api/admin/ae-titles", get(ae_titles))
        .route("/api/admin/ae-titles/{ae_title}", put(put_ae_title))
        .with_state(directory)
}

fn access_problem(e: &AccessError) -> Response {
    match e {
        AccessError::Invalid(_) => Problem::bad_request(e.to_string()).into_response(),
        AccessError::UnknownSite(_) | AccessError::UnknownUser(_) => {
            Problem::not_found(e.to_string()).into_response()
        }
        _ => {
            tracing::error!(error = %e, "admin api: directory error");
            Problem::internal("the directory could not be changed").into_response()
        }
    }
}

/// Records a change of who may do what (the audit log takes it from here).
fn changed(what: &str, subject: &str) {
    let actor = crate::auth::caller().map(|p| p.name().to_string());
    tracing::info!(
        actor = actor.as_deref().unwrap_or("?"),
        what,
        subject,
        "permission change"
    );
}

async fn users(State(directory): State<Directory>) -> Response {
    match directory.users().await {
        Ok(list) => Json(list).into_response(),
        Err(e) => access_problem(&e),
    }
}

async fn sites(State(directory): State<Directory>) -> Response {
    match directory.sites().await {
        Ok(list) => Json(list).into_response(),
        Err(e) => access_problem(&e),
    }
}

async fn ae_titles(State(directory): State<Directory>) -> Response {
    match directory.ae_titles().await {
        Ok(list) => Json(list).into_response(),
        Err(e) => access_problem(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    display_name: String,
    password: String,
    roles: Vec<Role>,
    site: String,
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default)]
    all_sites: bool,
}

async fn put_user(
    State(directory): State<Directory>,
    Path(username): Path<String>,
    body: Result<Json<UserBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return Problem::bad_request(e.body_text()).into_response(),
    };
    let user = NewUser {
        username: username.clone(),
        display_name: body.display_name,
        password: body.password,
        roles: body.roles.into_iter().collect::<BTreeSet<_>>(),
        site: body.site,
        grants: body.grants,
        all_sites: body.all_sites,
    };
    match directory.upsert_user(&user).await {
        Ok(_) => {
            changed("user", &username);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => access_problem(&e),
    }
}

async fn delete_user(State(directory): State<Directory>, Path(username): Path<String>) -> Response {
    match directory.deactivate_user(&username).await {
        Ok(()) => {
            changed("user deactivated", &username);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => access_problem(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteBody {
    name: String,
    kind: SiteKind,
}

async fn put_site(
    State(directory): State<Directory>,
    Path(code): Path<String>,
    body: Result<Json<SiteBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return Problem::bad_request(e.body_text()).into_response(),
    };
    match directory.upsert_site(&code, &body.name, body.kind).await {
        Ok(_) => {
            changed("site", &code);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => access_problem(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AeBody {
    site: String,
    #[serde(default)]
    all_sites: bool,
    #[serde(default)]
    description: String,
}

async fn put_ae_title(
    State(directory): State<Directory>,
    Path(ae_title): Path<String>,
    body: Result<Json<AeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return Problem::bad_request(e.body_text()).into_response(),
    };
    match directory
        .upsert_ae_title(&ae_title, &body.site, body.all_sites, &body.description)
        .await
    {
        Ok(()) => {
            changed("AE title", &ae_title);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => access_problem(&e),
    }
}
