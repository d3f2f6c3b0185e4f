//! STOW-RS (PS3.18 §10.5): `POST /dicom-web/studies[/{study}]` with a
//! `multipart/related; type="application/dicom"` body, one PS3.10 file per part.
//!
//! Each part streams to a staging file as it arrives, its data set digested on the way
//! ([`DatasetDigest`]), and goes through [`Ingest::accept`], exactly as a C-STORE does; the
//! response is sent only after every instance's outcome is durable. The response is a Store
//! Instances Response Module in DICOM JSON: Referenced SOP Sequence (0008,1199) for the stored
//! instances, Failed SOP Sequence (0008,1198) with a Failure Reason (0008,1197) for the others.
//!
//! | HTTP status | When |
//! |---|---|
//! | 200 | every instance stored (or already stored) |
//! | 202 | some stored, some failed |
//! | 409 | none stored |
//! | 400 | not a readable multipart body (problem+json) |
//! | 415 | not `multipart/related; type="application/dicom"` (problem+json) |
//!
//! Failure reasons: `A700` out of resources, `A900` the instance contradicts the request (a
//! Study Instance UID other than the one in the path), `C000` cannot understand (not DICOM,
//! unreadable, missing attributes), `C122` transfer syntax not supported, `0110` processing
//! failure (storage), `0111` a different instance stored under the same SOP Instance UID and
//! the conflict policy refuses it.
//!
//! `multer` parses the body: it takes the boundary as an argument and does not insist on
//! `multipart/form-data` or on `Content-Disposition` headers in the parts, so it reads
//! `multipart/related` as it is. Only its `parse_boundary` helper is form-data specific, hence
//! the boundary is read from the `Content-Type` here.

use std::io::Cursor;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mira_dicom::InvalidInstance;
use mira_dicom::part10::{Part10Head, read_head};
use mira_ingest::{DatasetDigest, IngestError, Outcome, Receipt, StagedReceipt, StagingFile};
use serde_json::{Map, Value, json};

use super::{base_url, check_uid, retrieve_url};
use crate::{Problem, WebState};

/// Failure Reason: out of resources.
pub const OUT_OF_RESOURCES: u16 = 0xA700;
/// Failure Reason: the data set does not match what the request says it is.
pub const DATA_SET_MISMATCH: u16 = 0xA900;
/// Failure Reason: cannot understand.
pub const CANNOT_UNDERSTAND: u16 = 0xC000;
/// Failure Reason: transfer syntax not supported.
pub const TRANSFER_SYNTAX_NOT_SUPPORTED: u16 = 0xC122;
/// Failure Reason: processing failure.
pub const PROCESSING_FAILURE: u16 = 0x0110;
/// Failure Reason: duplicate SOP instance (different content, refused by policy).
pub const DUPLICATE_SOP_INSTANCE: u16 = 0x0111;

/// How many bytes of a part are held in memory to read its File Meta Information before
/// anything is written: the preamble, the prefix and the largest meta group
/// `mira_dicom::part10` accepts.
const HEAD_BUFFER: usize = 132 + 64 * 1024 + 16;

/// `POST /dicom-web/studies`.
pub async fn store(State(state): State<WebState>, headers: HeaderMap, body: Body) -> Response {
    store_request(state, headers, None, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /dicom-web/studies/{study}`: instances of another study fail.
pub async fn store_in_study(
    State(state): State<WebState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    store_request(state, headers, Some(study), body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// What became of one part.
#[derive(Debug)]
enum PartOutcome {
    Stored(Receipt),
    Failed {
        sop_class_uid: Option<String>,
        sop_instance_uid: Option<String>,
        reason: u16,
        why: String,
    },
}

/// The boundary of a `multipart/related; type="application/dicom"` request, or why not.
fn request_boundary(headers: &HeaderMap) -> Result<String, Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Problem::unsupported_media_type(
                "no Content-Type: send multipart/related; type=\"application/dicom\"",
            )
        })?;
    let mime: mime::Mime = content_type.parse().map_err(|_| {
        Problem::unsupported_media_type("the Content-Type is not a valid media type")
    })?;
    if mime.type_() != mime::MULTIPART || mime.subtype().as_str() != "related" {
        return Err(Problem::unsupported_media_type(format!(
            "{} is not supported: send multipart/related; type=\"application/dicom\"",
            mime.essence_str()
        )));
    }
    if let Some(kind) = mime.get_param("type")
        && !kind.as_str().eq_ignore_ascii_case("application/dicom")
    {
        return Err(Problem::unsupported_media_type(format!(
            "parts of type {} are not supported: only application/dicom (PS3.10 files)",
            kind.as_str()
        )));
    }
    mime.get_param(mime::BOUNDARY)
        .map(|b| b.as_str().to_string())
        .ok_or_else(|| Problem::bad_request("the multipart Content-Type has no boundary"))
}

async fn store_request(
    state: WebState,
    headers: HeaderMap,
    study: Option<String>,
    body: Body,
) -> Result<Response, Problem> {
    if let Some(study) = &study {
        check_uid(study, "Study Instance UID")?;
    }
    let boundary = request_boundary(&headers)?;
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut outcomes = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if outcomes.is_empty() => {
                return Err(Problem::bad_request(format!(
                    "the body is not a readable multipart/related message: {e}"
                )));
            }
            Err(e) => {
                // what was stored stays stored; the report says the rest was unreadable
                outcomes.push(PartOutcome::Failed {
                    sop_class_uid: None,
                    sop_instance_uid: None,
                    reason: CANNOT_UNDERSTAND,
                    why: format!("the multipart body is unreadable after this point: {e}"),
                });
                break;
            }
        };
        let index = outcomes.len();
        let outcome = store_part(&state, study.as_deref(), field).await;
        match &outcome {
            PartOutcome::Stored(receipt) => {
                tracing::debug!(part = index, blob = %receipt.key, outcome = ?receipt.outcome, "STOW-RS part stored")
            }
            PartOutcome::Failed { reason, why, .. } => {
                tracing::warn!(
                    part = index,
                    reason = format_args!("{reason:#06X}"),
                    why,
                    "STOW-RS part failed"
                )
            }
        }
        let unreadable = matches!(
            &outcome,
            PartOutcome::Failed { why, .. } if why.starts_with("the multipart body")
        );
        outcomes.push(outcome);
        if unreadable {
            break;
        }
    }
    if outcomes.is_empty() {
        return Err(Problem::bad_request(
            "the multipart body has no parts: send one PS3.10 file per part",
        ));
    }
    let base = base_url(&state, &headers);
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, PartOutcome::Stored(_)))
        .count();
    let status = if stored == outcomes.len() {
        StatusCode::OK
    } else if stored == 0 {
        StatusCode::CONFLICT
    } else {
        StatusCode::ACCEPTED
    };
    tracing::info!(
        parts = outcomes.len(),
        stored,
        status = status.as_u16(),
        "STOW-RS request done"
    );
    let report = store_report(&base, study.as_deref(), &outcomes);
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/dicom+json")],
        report.to_string(),
    )
        .into_response())
}

/// A DICOM JSON element.
fn element(vr: &str, values: Vec<Value>) -> Value {
    if values.is_empty() {
        json!({ "vr": vr })
    } else {
        json!({ "vr": vr, "Value": values })
    }
}

fn uid_element(uid: Option<&str>) -> Value {
    element("UI", uid.map(|u| vec![json!(u)]).unwrap_or_default())
}

/// The Store Instances Response Module (PS3.18 §10.5.3, Table 10.5.3-1) in DICOM JSON.
fn store_report(base: &str, study: Option<&str>, outcomes: &[PartOutcome]) -> Value {
    let mut referenced = Vec::new();
    let mut failed = Vec::new();
    let mut studies = Vec::new();
    for outcome in outcomes {
        match outcome {
            PartOutcome::Stored(r) => {
                if !studies.contains(&r.study_instance_uid) {
                    studies.push(r.study_instance_uid.clone());
                }
                let url = retrieve_url(
                    base,
                    &r.study_instance_uid,
                    Some(&r.series_instance_uid),
                    Some(&r.sop_instance_uid),
                );
                referenced.push(json!({
                    "00081150": uid_element(Some(&r.sop_class_uid)),
                    "00081155": uid_element(Some(&r.sop_instance_uid)),
                    "00081190": element("UR", vec![json!(url)]),
                }));
            }
            PartOutcome::Failed {
                sop_class_uid,
                sop_instance_uid,
                reason,
                ..
            } => {
                failed.push(json!({
                    "00081150": uid_element(sop_class_uid.as_deref()),
                    "00081155": uid_element(sop_instance_uid.as_deref()),
                    "00081197": element("US", vec![json!(reason)]),
                }));
            }
        }
    }
    let mut report = Map::new();
    // the Retrieve URL of the study, when the request names one study
    let study = study.map(str::to_string).or_else(|| {
        if studies.len() == 1 {
            studies.pop()
        } else {
            None
        }
    });
    if let Some(study) = study {
        report.insert(
            "00081190".into(),
            element("UR", vec![json!(retrieve_url(base, &study, None, None))]),
        );
    }
    if !failed.is_empty() {
        report.insert("00081198".into(), element("SQ", failed));
    }
    if !referenced.is_empty() {
        report.insert("00081199".into(), element("SQ", referenced));
    }
    Value::Object(report)
}

/// The Failure Reason of an ingest refusal (PS3.18 Table I.2-2, PS3.4 B.2.3).
pub fn failure_reason(error: &IngestError) -> u16 {
    match error {
        e if e.is_out_of_space() => OUT_OF_RESOURCES,
        IngestError::Closed => OUT_OF_RESOURCES,
        IngestError::Store(_) => PROCESSING_FAILURE,
        IngestError::RequestMismatch { .. } => DATA_SET_MISMATCH,
        IngestError::Invalid(InvalidInstance::Io(_)) => PROCESSING_FAILURE,
        IngestError::Invalid(InvalidInstance::UnsupportedTransferSyntax(_)) => {
            TRANSFER_SYNTAX_NOT_SUPPORTED
        }
        _ => CANNOT_UNDERSTAND,
    }
}

/// A part being received: its start held in memory until the File Meta Information is read,
/// then a staging file.
enum Sink {
    Head(Vec<u8>),
    Staging {
        file: StagingFile,
        digest: DatasetDigest,
        head: Box<Part10Head>,
    },
    Failed {
        reason: u16,
        why: String,
        head: Option<Box<Part10Head>>,
    },
}

impl Sink {
    /// Moves from `Head` to `Staging` (or `Failed`) once the head is complete, or `force`d
    /// at the end of the part.
    fn open(self, state: &WebState, force: bool) -> Sink {
        let Sink::Head(buffer) = self else {
            return self;
        };
        if buffer.len() < HEAD_BUFFER && !force {
            return Sink::Head(buffer);
        }
        let head = match read_head(&mut Cursor::new(&buffer)) {
            Ok(head) => Box::new(head),
            Err(e) => {
                return Sink::Failed {
                    reason: CANNOT_UNDERSTAND,
                    why: InvalidInstance::from(e).to_string(),
                    head: None,
                };
            }
        };
        let mut file = match state.ingest.stage() {
            Ok(file) => file,
            Err(e) => {
                return Sink::Failed {
                    reason: failure_reason(&e),
                    why: e.to_string(),
                    head: Some(head),
                };
            }
        };
        let mut digest = DatasetDigest::new(head.dataset_offset);
        digest.update(&buffer);
        if let Err(e) = file.write_all(&buffer) {
            let e = IngestError::from(e);
            return Sink::Failed {
                reason: failure_reason(&e),
                why: e.to_string(),
                head: Some(head),
            };
        }
        Sink::Staging { file, digest, head }
    }

    fn write(self, state: &WebState, chunk: &Bytes) -> Sink {
        match self {
            Sink::Head(mut buffer) => {
                buffer.extend_from_slice(chunk);
                Sink::Head(buffer).open(state, false)
            }
            Sink::Staging {
                mut file,
                mut digest,
                head,
            } => {
                digest.update(chunk);
                match file.write_all(chunk) {
                    Ok(()) => Sink::Staging { file, digest, head },
                    Err(e) => {
                        let e = IngestError::from(e);
                        Sink::Failed {
                            reason: failure_reason(&e),
                            why: e.to_string(),
                            head: Some(head),
                        }
                    }
                }
            }
            failed @ Sink::Failed { .. } => failed,
        }
    }
}

fn meta_uid(head: Option<&Part10Head>, class: bool) -> Option<String> {
    head.map(|h| {
        let uid = if class {
            h.meta.media_storage_sop_class_uid()
        } else {
            h.meta.media_storage_sop_instance_uid()
        };
        mira_dicom::syntax::trim_uid(uid).to_string()
    })
    .filter(|u| !u.is_empty())
}

async fn store_part(
    state: &WebState,
    study: Option<&str>,
    mut field: multer::Field<'static>,
) -> PartOutcome {
    if let Some(kind) = field.content_type()
        && !kind.essence_str().eq_ignore_ascii_case("application/dicom")
    {
        let why = format!("a part of type {} is not a PS3.10 file", kind.essence_str());
        // read the part through so that the next one can be found
        while let Ok(Some(_)) = field.chunk().await {}
        return PartOutcome::Failed {
            sop_class_uid: None,
            sop_instance_uid: None,
            reason: CANNOT_UNDERSTAND,
            why,
        };
    }
    let mut sink = Sink::Head(Vec::with_capacity(64 * 1024));
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => sink = sink.write(state, &chunk),
            Ok(None) => break,
            Err(e) => {
                return PartOutcome::Failed {
                    sop_class_uid: None,
                    sop_instance_uid: None,
                    reason: CANNOT_UNDERSTAND,
                    why: format!("the multipart body is unreadable: {e}"),
                };
            }
        }
    }
    let (file, digest, head) = match sink.open(state, true) {
        Sink::Staging { file, digest, head } => (file, digest, head),
        Sink::Failed { reason, why, head } => {
            return PartOutcome::Failed {
                sop_class_uid: meta_uid(head.as_deref(), true),
                sop_instance_uid: meta_uid(head.as_deref(), false),
                reason,
                why,
            };
        }
        Sink::Head(_) => {
            // `open(.., true)` always leaves the head state; kept total rather than panicking
            return PartOutcome::Failed {
                sop_class_uid: None,
                sop_instance_uid: None,
                reason: PROCESSING_FAILURE,
                why: "the part could not be staged".into(),
            };
        }
    };
    let sop_class_uid = meta_uid(Some(&head), true);
    let sop_instance_uid = meta_uid(Some(&head), false);
    if let Some(study) = study {
        // the instance must belong to the study of the path: checked before it is accepted
        let path = file.path().to_path_buf();
        let parsed = tokio::task::spawn_blocking(move || mira_dicom::parse_instance(&path)).await;
        if let Ok(Ok(parsed)) = parsed
            && parsed.attributes.study.study_instance_uid != study
        {
            return PartOutcome::Failed {
                sop_class_uid,
                sop_instance_uid,
                reason: DATA_SET_MISMATCH,
                why: "the Study Instance UID of the instance differs from the one in the request path"
                    .into(),
            };
        }
        // an unparsable instance fails in `accept`, with the reason it gives
    }
    let receipt = StagedReceipt {
        file,
        key: digest.finish(),
        dataset_offset: head.dataset_offset,
        received_from: "stow-rs".to_string(),
        site: crate::auth::caller_site_code(),
        expected: None,
    };
    match state.ingest.accept(receipt).await {
        Ok(receipt) if receipt.outcome == Outcome::RejectedConflict => PartOutcome::Failed {
            sop_class_uid: Some(receipt.sop_class_uid),
            sop_instance_uid: Some(receipt.sop_instance_uid),
            reason: DUPLICATE_SOP_INSTANCE,
            why: "a different instance is stored under this SOP Instance UID".into(),
        },
        Ok(receipt) => PartOutcome::Stored(receipt),
        Err(e) => PartOutcome::Failed {
            sop_class_uid,
            sop_instance_uid,
            reason: failure_reason(&e),
            why: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn content_type(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn only_multipart_related_dicom_is_accepted() {
        let ok = content_type("multipart/related; type=\"application/dicom\"; boundary=\"abc\"");
        assert_eq!(request_boundary(&ok).unwrap(), "abc");
        let untyped = content_type("multipart/related; boundary=xyz");
        assert_eq!(request_boundary(&untyped).unwrap(), "xyz");
        for refused in [
            "application/dicom",
            "multipart/form-data; boundary=abc",
            "multipart/related; type=\"application/dicom+json\"; boundary=abc",
        ] {
            let e = request_boundary(&content_type(refused)).unwrap_err();
            assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{refused}");
        }
        let e = request_boundary(&content_type(
            "multipart/related; type=\"application/dicom\"",
        ))
        .unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = request_boundary(&HeaderMap::new()).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn report_lists_stored_and_failed_instances() {
        let outcomes = vec![
            PartOutcome::Stored(Receipt {
                outcome: Outcome::Stored,
                key: "k".into(),
                sop_instance_uid: "1.2.3.4".into(),
                sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
                series_instance_uid: "1.2.3.2".into(),
                study_instance_uid: "1.2.3".into(),
            }),
            PartOutcome::Failed {
                sop_class_uid: None,
                sop_instance_uid: None,
                reason: CANNOT_UNDERSTAND,
                why: "x".into(),
            },
        ];
        let report = store_report("http://h/dicom-web", None, &outcomes);
        assert_eq!(
            report["00081190"]["Value"][0],
            "http://h/dicom-web/studies/1.2.3"
        );
        let stored = &report["00081199"]["Value"][0];
        assert_eq!(stored["00081155"]["Value"][0], "1.2.3.4");
        assert_eq!(
            stored["00081190"]["Value"][0],
            "http://h/dicom-web/studies/1.2.3/series/1.2.3.2/instances/1.2.3.4"
        );
        let failed = &report["00081198"]["Value"][0];
        assert_eq!(failed["00081197"]["Value"][0], 0xC000);
        assert_eq!(failed["00081155"], json!({"vr": "UI"}));
    }
}
