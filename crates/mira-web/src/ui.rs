//! The web UI: the built single-page application (`web/`, built into `web/dist` by `npm run
//! build`) served at `/` from the directory `[http] ui_dir` names.
//!
//! The UI's files carry no patient data (everything it shows comes from `/api` and
//! `/dicom-web`, which stay protected), so `/`, `/index.html` and `/assets/…` are public in
//! [`crate::auth::requirement`]: the login page must load before there is a session. Other
//! paths that no route answers get `index.html` too (client-side routes), except under `/api`
//! and `/dicom-web`, which answer `404` problem+json as before.
//!
//! Without the directory (not built, or `ui_dir` unset) the server runs as an API server and
//! says so once in its log; `/` then answers `404`.

use std::path::{Path, PathBuf};

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::services::{ServeDir, ServeFile};

use crate::Problem;

/// The paths of the UI's own files: public, since the login page is among them.
pub fn is_ui_asset(path: &str) -> bool {
    matches!(
        path,
        "" | "/" | "/index.html" | "/favicon.ico" | "/favicon.svg"
    ) || path.starts_with("/assets/")
}

/// The built UI in `dir`, or `None` (with a log line saying why) when it is not there.
pub fn ui_dir(dir: Option<&Path>) -> Option<PathBuf> {
    let Some(dir) = dir else {
        tracing::info!("web UI off: no [http] ui_dir");
        return None;
    };
    if dir.join("index.html").is_file() {
        tracing::info!(dir = %dir.display(), "serving the web UI");
        Some(dir.to_path_buf())
    } else {
        tracing::warn!(
            dir = %dir.display(),
            "web UI not found (no index.html there): build it with `npm ci && npm run build` in web/, \
             or set [http] ui_dir; serving the API and DICOMweb without it"
        );
        None
    }
}

/// Answers a request no route took: a UI file (or `index.html` for client-side routes) when
/// the UI is there and the path is not an API path, `404` problem+json otherwise.
pub async fn fallback(dir: Option<PathBuf>, request: Request) -> Response {
    let path = request.uri().path();
    let api = path == "/api"
        || path.starts_with("/api/")
        || path == "/dicom-web"
        || path.starts_with("/dicom-web/");
    let readable = request.method() == Method::GET || request.method() == Method::HEAD;
    let Some(dir) = dir.filter(|_| !api && readable) else {
        // the path is not echoed: it may carry UIDs, which stay out of logs
        return Problem::not_found("no resource at this path").into_response();
    };
    let asset = path.starts_with("/assets/");
    let result = if asset {
        // a missing hashed file is a 404, not the page
        ServeDir::new(&dir)
            .try_call(request)
            .await
            .map(IntoResponse::into_response)
    } else {
        ServeDir::new(&dir)
            .fallback(ServeFile::new(dir.join("index.html")))
            .try_call(request)
            .await
            .map(IntoResponse::into_response)
    };
    match result {
        Ok(mut response) => {
            if response.status() == StatusCode::NOT_FOUND {
                return Problem::not_found("no such UI file").into_response();
            }
            // hashed file names never change; index.html must be revalidated
            let cache = if asset && response.status().is_success() {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static(cache),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read a UI file");
            Problem::internal("the UI file could not be read").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ui_files_are_assets() {
        for path in ["/", "/index.html", "/assets/index-abc.js", "/assets/x.wasm"] {
            assert!(is_ui_asset(path), "{path}");
        }
        for path in [
            "/api/reading/worklist",
            "/dicom-web/studies",
            "/models",
            "/metrics",
            "/study/1.2.3",
        ] {
            assert!(!is_ui_asset(path), "{path}");
        }
    }
}
