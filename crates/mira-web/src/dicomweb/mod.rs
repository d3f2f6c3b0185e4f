//! DICOMweb (PS3.18) under `/dicom-web`: STOW-RS ([`stow`]), QIDO-RS ([`qido`]), WADO-RS
//! ([`wado`], with rendering in [`render`]), over multipart/related bodies ([`multipart`]).
//!
//! Instances are found through the catalogue and served from the blob store as they were
//! stored: a WADO-RS retrieve returns the PS3.10 files byte for byte unless the client asks
//! for a different (uncompressed) transfer syntax.

pub mod multipart;
pub mod qido;
pub mod render;
pub mod stow;
pub mod wado;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::get;
use mira_store::{Archive, BlobKey, InstanceLocation, Scope};
use serde::{Deserialize, Serialize};

use crate::{Problem, WebState};

/// The path prefix of the DICOMweb service.
pub const PREFIX: &str = "/dicom-web";

/// DICOMweb settings (`[http.dicomweb]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DicomWebConfig {
    /// Results of a QIDO-RS query without `limit`.
    pub qido_default_limit: u32,
    /// Most results of one QIDO-RS query, whatever `limit` asks; a query cut by it gets a
    /// `Warning` header.
    pub qido_max_limit: u32,
    /// Honour `fuzzymatching=true` on person names (PS3.18 §8.3.4.2); when off, the parameter
    /// is accepted and ignored, as the standard allows.
    pub fuzzy_matching: bool,
    /// Absolute URL of the service as clients reach it (e.g.
    /// `https://pacs.example.org/dicom-web`), for Retrieve URLs and Bulk Data URIs. Unset:
    /// `http://<Host header>/dicom-web`.
    pub public_url: Option<String>,
    /// Width and height of a thumbnail when the request gives no `viewport`.
    pub thumbnail_size: u32,
}

impl Default for DicomWebConfig {
    fn default() -> Self {
        DicomWebConfig {
            qido_default_limit: 100,
            qido_max_limit: 1000,
            fuzzy_matching: false,
            public_url: None,
            thumbnail_size: 128,
        }
    }
}

/// The DICOMweb routes, to be merged into the application router.
pub fn routes() -> Router<WebState> {
    let study = "/dicom-web/studies/{study}";
    let series = "/dicom-web/studies/{study}/series/{series}";
    let instance = "/dicom-web/studies/{study}/series/{series}/instances/{sop}";
    Router::new()
        .route(
            "/dicom-web/studies",
            get(qido::search_studies).post(stow::store),
        )
        .route("/dicom-web/series", get(qido::search_all_series))
        .route("/dicom-web/instances", get(qido::search_all_instances))
        .route(study, get(wado::retrieve).post(stow::store_in_study))
        .route(&format!("{study}/metadata"), get(wado::metadata))
        .route(&format!("{study}/thumbnail"), get(render::thumbnail))
        .route(&format!("{study}/series"), get(qido::search_study_series))
        .route(
            &format!("{study}/instances"),
            get(qido::search_study_instances),
        )
        .route(series, get(wado::retrieve))
        .route(&format!("{series}/metadata"), get(wado::metadata))
        .route(&format!("{series}/thumbnail"), get(render::thumbnail))
        .route(
            &format!("{series}/instances"),
            get(qido::search_series_instances),
        )
        .route(instance, get(wado::retrieve))
        .route(&format!("{instance}/metadata"), get(wado::metadata))
        .route(&format!("{instance}/rendered"), get(render::rendered))
        .route(&format!("{instance}/thumbnail"), get(render::thumbnail))
        .route(&format!("{instance}/frames/{{frames}}"), get(wado::frames))
        .route(
            &format!("{instance}/frames/{{frames}}/rendered"),
            get(render::rendered_frame),
        )
        .route(
            &format!("{instance}/frames/{{frames}}/thumbnail"),
            get(render::thumbnail_frame),
        )
        .route(
            &format!("{instance}/bulkdata/{{*path}}"),
            get(wado::bulkdata),
        )
}

/// The URL of the service as the client sees it, without a trailing slash.
pub(crate) fn base_url(state: &WebState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.dicomweb.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    format!("http://{host}{PREFIX}")
}

/// A UID from a path segment or a query: 1 to 64 characters of digits and dots.
pub(crate) fn check_uid<'a>(uid: &'a str, what: &str) -> Result<&'a str, Problem> {
    let valid =
        !uid.is_empty() && uid.len() <= 64 && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if valid {
        Ok(uid)
    } else {
        Err(Problem::bad_request(format!(
            "the {what} is not a valid UID (1 to 64 digits and dots)"
        )))
    }
}

/// The scope of a request path, its UIDs checked.
pub(crate) fn scope_from_path(
    study: &str,
    series: Option<&str>,
    sop: Option<&str>,
) -> Result<Scope, Problem> {
    Ok(Scope {
        study_instance_uid: check_uid(study, "Study Instance UID")?.to_string(),
        series_instance_uid: series
            .map(|s| check_uid(s, "Series Instance UID").map(str::to_string))
            .transpose()?,
        sop_instance_uid: sop
            .map(|s| check_uid(s, "SOP Instance UID").map(str::to_string))
            .transpose()?,
    })
}

/// The level of a scope, for messages.
pub(crate) fn scope_level(scope: &Scope) -> &'static str {
    match (&scope.series_instance_uid, &scope.sop_instance_uid) {
        (_, Some(_)) => "instance",
        (Some(_), None) => "series",
        _ => "study",
    }
}

/// The stored instances in `scope`; 404 when there are none.
pub(crate) async fn locate(
    archive: &Archive,
    scope: &Scope,
) -> Result<Vec<InstanceLocation>, Problem> {
    // site isolation: a study of another site is as absent as an unknown one
    let sites = crate::auth::caller_sites();
    let found = archive
        .catalogue
        .locate_within(scope, &sites)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "catalogue lookup failed");
            Problem::internal("the catalogue could not be read")
        })?;
    if found.is_empty() {
        return Err(Problem::not_found(format!(
            "no such {} in the archive",
            scope_level(scope)
        )));
    }
    Ok(found)
}

/// The file of a located instance (fetched into this node's cache from a shared object store
/// when needed).
pub(crate) async fn blob_path(
    archive: &Archive,
    located: &InstanceLocation,
) -> Result<std::path::PathBuf, Problem> {
    let key = BlobKey::parse(&located.blob_key).map_err(|e| {
        tracing::error!(error = %e, "catalogue holds an invalid blob key");
        Problem::internal("the catalogue holds an invalid blob key")
    })?;
    archive.blobs.local_path(&key).await.map_err(|e| {
        tracing::error!(error = %e, "an instance's file cannot be read");
        Problem::internal("an instance's file cannot be read")
    })
}

/// Retrieve URL of a study, series or instance.
pub(crate) fn retrieve_url(
    base: &str,
    study: &str,
    series: Option<&str>,
    sop: Option<&str>,
) -> String {
    let mut url = format!("{base}/studies/{study}");
    if let Some(series) = series {
        url.push_str("/series/");
        url.push_str(series);
        if let Some(sop) = sop {
            url.push_str("/instances/");
            url.push_str(sop);
        }
    }
    url
}

/// One entry of an `Accept` header: a media range, its parameters (names in lower case,
/// values unquoted) and its quality.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange {
    /// `type/subtype` in lower case, `*/*` and `type/*` included.
    pub essence: String,
    /// Parameters other than `q`.
    pub params: Vec<(String, String)>,
    /// The `q` value (1 when absent).
    pub q: f32,
}

impl MediaRange {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this range covers `essence` (e.g. `image/*` covers `image/png`).
    pub fn covers(&self, essence: &str) -> bool {
        if self.essence == "*/*" || self.essence == essence {
            return true;
        }
        match self.essence.strip_suffix("/*") {
            Some(kind) => essence.split('/').next() == Some(kind),
            None => false,
        }
    }
}

/// Splits `text` at `sep` outside double quotes.
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&text[start..i]);
            start = i + 1;
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Parses one media type with parameters (`multipart/related; type="application/dicom"`).
pub fn parse_media_range(text: &str) -> Option<MediaRange> {
    let mut pieces = split_unquoted(text, ';').into_iter();
    let essence = pieces.next()?.trim().to_ascii_lowercase();
    if !essence.contains('/') {
        return None;
    }
    let mut params = Vec::new();
    let mut q = 1.0;
    for piece in pieces {
        let Some((name, value)) = piece.split_once('=') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().trim_matches('"').to_string();
        if name == "q" {
            q = value.parse().unwrap_or(0.0);
        } else {
            params.push((name, value));
        }
    }
    Some(MediaRange { essence, params, q })
}

/// The media ranges of the `Accept` headers, best first (stable for equal `q`); `*/*` when
/// there is none.
pub fn accepted(headers: &HeaderMap) -> Vec<MediaRange> {
    let mut ranges: Vec<MediaRange> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| split_unquoted(v, ','))
        .filter_map(parse_media_range)
        .filter(|r| r.q > 0.0)
        .collect();
    if ranges.is_empty() {
        ranges.push(MediaRange {
            essence: "*/*".into(),
            params: Vec::new(),
            q: 1.0,
        });
    }
    ranges.sort_by(|a, b| b.q.total_cmp(&a.q));
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn accept_ranges_keep_quoted_parameters_and_order_by_quality() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "image/png;q=0.5, multipart/related; type=\"application/dicom\"; transfer-syntax=*",
            ),
        );
        let ranges = accepted(&headers);
        assert_eq!(ranges.len(), 2);
        assert_eq!(ranges[0].essence, "multipart/related");
        assert_eq!(ranges[0].param("type"), Some("application/dicom"));
        assert_eq!(ranges[0].param("transfer-syntax"), Some("*"));
        assert_eq!(ranges[1].essence, "image/png");
        assert!(ranges[1].covers("image/png"));
        assert!(!ranges[1].covers("image/jpeg"));
        assert!(accepted(&HeaderMap::new())[0].covers("image/jpeg"));
    }

    #[test]
    fn uids_are_digits_and_dots() {
        assert!(check_uid("1.2.840.10008.1.2", "UID").is_ok());
        assert!(check_uid("1.2.3; DROP", "UID").is_err());
        assert!(check_uid("", "UID").is_err());
        assert!(check_uid(&"1".repeat(65), "UID").is_err());
    }
}
