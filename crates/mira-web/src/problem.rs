//! RFC 9457 problem documents: how every error leaves this crate.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An `application/problem+json` answer. Built at the edge from typed errors; logged when it
/// is turned into a response (server errors at `error`, the client's at `info`).
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
    /// The detail quotes request values (query keys may carry patient attributes): it goes
    /// to the client, not to the log.
    private: bool,
}

impl Problem {
    /// A problem with `status`, a short `title` and a `detail` that says what to do.
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            title,
            detail: detail.into(),
            private: false,
        }
    }

    /// Keeps the detail out of the log, for details that quote what the client sent.
    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }

    /// 400 Bad Request.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "Bad request", detail)
    }

    /// 404 Not Found.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "Not found", detail)
    }

    /// 406 Not Acceptable.
    pub fn not_acceptable(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_ACCEPTABLE, "Not acceptable", detail)
    }

    /// 415 Unsupported Media Type.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            detail,
        )
    }

    /// 500 Internal Server Error; the detail is logged, the client gets `public_detail`.
    pub fn internal(public_detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
            public_detail,
        )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The detail text.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.title,
            self.detail
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let logged = if self.private {
            "(withheld: it quotes request values)"
        } else {
            self.detail.as_str()
        };
        if self.status.is_server_error() {
            tracing::error!(
                status = self.status.as_u16(),
                detail = logged,
                "request failed"
            );
        } else {
            tracing::info!(
                status = self.status.as_u16(),
                title = self.title,
                detail = logged,
                "request refused"
            );
        }
        let body = serde_json::json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}
