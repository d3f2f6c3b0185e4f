//! WADO-RS (PS3.18 §10.4): instances, metadata, bulk data and frames.
//!
//! | Resource | Media type | Notes |
//! |---|---|---|
//! | study, series, instance | `multipart/related; type="application/dicom"` | the stored files byte for byte when `transfer-syntax` is `*`, absent or the stored one; converted to Explicit or Implicit VR Little Endian when asked and the stored syntax is uncompressed; else 406 |
//! | `…/metadata` | `application/dicom+json` | binary values over 1 KiB and pixel data become `BulkDataURI`s |
//! | `…/bulkdata/{tag}[/{item}/{tag}…]` | `multipart/related; type="application/octet-stream"` | items counted from 0; encapsulated pixel data comes one part per frame, compressed |
//! | `…/frames/{n[,m…]}` | `multipart/related; type="application/octet-stream"` | decoded, uncompressed, little endian; with `transfer-syntax=*` (or the stored compressed media type) the frames as stored |

use std::collections::HashMap;
use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dicom_core::{DicomValue, Tag};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use futures::FutureExt;
use mira_store::{InstanceLocation, Scope};
use serde_json::{Map, Value, json};

use super::multipart::{self, Part, PartBody};
use super::{
    MediaRange, accepted, base_url, blob_path, locate, retrieve_url, scope_from_path, scope_level,
};
use crate::{Problem, WebState};

/// Binary values longer than this many bytes go out as a Bulk Data URI in metadata.
const INLINE_BINARY_MAX: usize = 1024;

/// Transfer syntaxes mira converts from (uncompressed, possibly deflated or big endian).
const CONVERTIBLE_FROM: &[&str] = &[
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    #[allow(deprecated)]
    uids::EXPLICIT_VR_BIG_ENDIAN,
];

/// Transfer syntaxes mira converts to.
const CONVERTIBLE_TO: &[&str] = &[
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
];

/// The scope of a path with `study`, optionally `series` and `sop`.
fn scope_of(params: &HashMap<String, String>) -> Result<Scope, Problem> {
    let study = params
        .get("study")
        .ok_or_else(|| Problem::bad_request("no Study Instance UID in the path"))?;
    scope_from_path(
        study,
        params.get("series").map(String::as_str),
        params.get("sop").map(String::as_str),
    )
}

/// A blocking step on the blocking pool; a panic in it (a decoder's, say) becomes a 500.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, what, "blocking task failed");
        Err(Problem::internal(format!("{what} failed unexpectedly")))
    })
}

/// Opens a stored instance whole.
pub(crate) fn open_instance(path: &std::path::Path) -> Result<DefaultDicomObject, Problem> {
    dicom_object::open_file(path).map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "a stored instance does not parse");
        Problem::internal("a stored instance could not be read")
    })
}

/// Opens a stored instance up to, not including, its Pixel Data.
fn open_instance_header(path: &std::path::Path) -> Result<DefaultDicomObject, Problem> {
    dicom_object::OpenFileOptions::new()
        .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "a stored instance does not parse");
            Problem::internal("a stored instance could not be read")
        })
}

/// The VR of the Pixel Data an image's header announces (Rows present): OB when encapsulated
/// or of 8-bit samples, OW otherwise (PS3.5 8.2).
fn pixel_data_vr(obj: &DefaultDicomObject) -> Option<&'static str> {
    obj.get(dicom_dictionary_std::tags::ROWS)?;
    let ts = obj.meta().transfer_syntax();
    let encapsulated = dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(ts)
        .is_some_and(|ts| ts.is_encapsulated_pixel_data());
    let bits = obj
        .get(dicom_dictionary_std::tags::BITS_ALLOCATED)
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(8);
    Some(if encapsulated || bits <= 8 {
        "OB"
    } else {
        "OW"
    })
}

/// The name of a transfer syntax, for messages.
pub(crate) fn syntax_name(uid: &str) -> String {
    TransferSyntaxRegistry
        .get(uid)
        .map(|ts| ts.name().to_string())
        .unwrap_or_else(|| uid.to_string())
}

/// The media type of frames encoded in `ts` (PS3.18 Table 8.7.3-2), or `None` for
/// uncompressed syntaxes.
pub(crate) fn frame_media_type(ts: &str) -> Option<&'static str> {
    Some(match ts {
        uids::JPEG_BASELINE8_BIT
        | uids::JPEG_EXTENDED12_BIT
        | uids::JPEG_LOSSLESS
        | uids::JPEG_LOSSLESS_SV1 => "image/jpeg",
        uids::JPEGLS_LOSSLESS | uids::JPEGLS_NEAR_LOSSLESS => "image/jls",
        uids::JPEG2000_LOSSLESS | uids::JPEG2000 => "image/jp2",
        uids::JPEG2000MC_LOSSLESS | uids::JPEG2000MC => "image/jpx",
        uids::RLE_LOSSLESS => "image/dicom-rle",
        _ if CONVERTIBLE_FROM.contains(&ts) => return None,
        _ => "application/octet-stream",
    })
}

/// What the client will take for instances.
#[derive(Debug, Clone, PartialEq)]
enum InstanceSyntax {
    AsStored,
    Exactly(String),
}

fn negotiate_instances(ranges: &[MediaRange]) -> Result<InstanceSyntax, Problem> {
    for range in ranges {
        let dicom = match range.essence.as_str() {
            "*/*" | "multipart/*" | "application/dicom" => true,
            "multipart/related" => range
                .param("type")
                .is_none_or(|t| t.eq_ignore_ascii_case("application/dicom")),
            _ => false,
        };
        if dicom {
            return Ok(match range.param("transfer-syntax") {
                None | Some("*") => InstanceSyntax::AsStored,
                Some(uid) => InstanceSyntax::Exactly(uid.to_string()),
            });
        }
    }
    Err(Problem::not_acceptable(
        "instances are served as multipart/related; type=\"application/dicom\"",
    ))
}

/// `GET /dicom-web/studies/{study}[/series/{series}[/instances/{sop}]]`.
pub async fn retrieve(
    State(state): State<WebState>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    retrieve_inner(state, params, headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn retrieve_inner(
    state: WebState,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let scope = scope_of(&params)?;
    let wanted = negotiate_instances(&accepted(&headers))?;
    let archive = state.ingest.archive();
    let found = locate(archive, &scope).await?;
    let base = base_url(&state, &headers);
    let mut parts = Vec::with_capacity(found.len());
    for located in &found {
        let path = blob_path(archive, located).await?;
        let stored = located.transfer_syntax_uid.as_str();
        let (syntax, body) = match &wanted {
            InstanceSyntax::AsStored => (stored.to_string(), PartBody::File(path)),
            InstanceSyntax::Exactly(uid) if uid == stored => {
                (stored.to_string(), PartBody::File(path))
            }
            InstanceSyntax::Exactly(uid)
                if CONVERTIBLE_TO.contains(&uid.as_str()) && CONVERTIBLE_FROM.contains(&stored) =>
            {
                let target = uid.clone();
                let body = PartBody::Deferred(convert(path, target).boxed());
                (uid.clone(), body)
            }
            InstanceSyntax::Exactly(uid) => {
                return Err(Problem::not_acceptable(format!(
                    "an instance in this {} is stored as {}; mira converts only between uncompressed transfer syntaxes, not to {}: ask for transfer-syntax=* to get it as stored",
                    scope_level(&scope),
                    syntax_name(stored),
                    syntax_name(uid)
                )));
            }
        };
        parts.push(Part {
            content_type: format!("application/dicom; transfer-syntax={syntax}"),
            content_location: Some(retrieve_url(
                &base,
                &located.study_instance_uid,
                Some(&located.series_instance_uid),
                Some(&located.sop_instance_uid),
            )),
            body,
        });
    }
    tracing::debug!(
        instances = parts.len(),
        level = scope_level(&scope),
        "WADO-RS retrieve"
    );
    Ok(multipart::response("application/dicom", parts))
}

/// The instance at `path` written in `target`, an uncompressed transfer syntax.
async fn convert(path: PathBuf, target: String) -> std::io::Result<Bytes> {
    tokio::task::spawn_blocking(move || {
        let mut obj = dicom_object::open_file(&path).map_err(std::io::Error::other)?;
        let ts = TransferSyntaxRegistry
            .get(&target)
            .ok_or_else(|| std::io::Error::other("unknown transfer syntax"))?;
        obj.update_meta(|meta| meta.set_transfer_syntax(ts));
        let mut out = Vec::new();
        obj.write_all(&mut out).map_err(std::io::Error::other)?;
        Ok(Bytes::from(out))
    })
    .await
    .map_err(std::io::Error::other)?
    .inspect_err(|e| tracing::error!(error = %e, "converting an instance failed"))
}

/// `GET …/metadata` at study, series or instance level.
pub async fn metadata(
    State(state): State<WebState>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    metadata_inner(state, params, headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn metadata_inner(
    state: WebState,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let scope = scope_of(&params)?;
    let json_ok = accepted(&headers).iter().any(|r| {
        ["application/dicom+json", "application/json"]
            .iter()
            .any(|t| r.covers(t))
    });
    if !json_ok {
        return Err(Problem::not_acceptable(
            "metadata is served as application/dicom+json",
        ));
    }
    let archive = state.ingest.archive();
    let found = locate(archive, &scope).await?;
    let base = base_url(&state, &headers);
    let mut jobs = Vec::with_capacity(found.len());
    for located in found {
        let path = blob_path(archive, &located).await?;
        let prefix = format!(
            "{}/bulkdata/",
            retrieve_url(
                &base,
                &located.study_instance_uid,
                Some(&located.series_instance_uid),
                Some(&located.sop_instance_uid)
            )
        );
        jobs.push((path, prefix));
    }
    let body = blocking("metadata", move || {
        let mut out = Vec::with_capacity(jobs.len());
        for (path, prefix) in jobs {
            // Pixel data is only ever a Bulk Data URI here, so the file is read up to it:
            // a 1,000-slice CT series is read in a fraction of the time (bench/query).
            let obj = open_instance_header(&path)?;
            let data_set: &InMemDicomObject = &obj;
            let mut value = dicom_json::to_value(data_set).map_err(|e| {
                tracing::error!(error = %e, "a stored instance has no DICOM JSON form");
                Problem::internal("a stored instance could not be converted to DICOM JSON")
            })?;
            if let Value::Object(map) = &mut value {
                bulk_data_uris(map, &prefix, "");
                if let Some(vr) = pixel_data_vr(&obj) {
                    map.insert(
                        "7FE00010".into(),
                        json!({ "vr": vr, "BulkDataURI": format!("{prefix}7FE00010") }),
                    );
                }
            }
            out.push(value);
        }
        Ok(Value::Array(out).to_string())
    })
    .await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/dicom+json")],
        body,
    )
        .into_response())
}

const BINARY_VRS: &[&str] = &["OB", "OD", "OF", "OL", "OV", "OW", "UN"];
const PIXEL_TAGS: &[&str] = &["7FE00010", "7FE00008", "7FE00009"];

/// Replaces pixel data and binary values longer than [`INLINE_BINARY_MAX`] with Bulk Data
/// URIs `prefix` + `path` + tag, recursing into sequence items (`tag/index/`).
fn bulk_data_uris(map: &mut Map<String, Value>, prefix: &str, path: &str) {
    for (tag, element) in map.iter_mut() {
        let vr = element["vr"].as_str().unwrap_or_default().to_string();
        if vr == "SQ" {
            if let Some(Value::Array(items)) = element.get_mut("Value") {
                for (i, item) in items.iter_mut().enumerate() {
                    if let Value::Object(item) = item {
                        bulk_data_uris(item, prefix, &format!("{path}{tag}/{i}/"));
                    }
                }
            }
            continue;
        }
        if !BINARY_VRS.contains(&vr.as_str()) {
            continue;
        }
        // base64 takes 4 characters per 3 bytes
        let inline_len = element["InlineBinary"]
            .as_str()
            .map_or(0, |s| s.len() / 4 * 3);
        if PIXEL_TAGS.contains(&tag.as_str()) || inline_len > INLINE_BINARY_MAX {
            *element = json!({ "vr": vr, "BulkDataURI": format!("{prefix}{path}{tag}") });
        }
    }
}

/// A tag of 8 hex digits.
fn parse_tag(text: &str) -> Option<Tag> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let n = u32::from_str_radix(text, 16).ok()?;
    Some(Tag((n >> 16) as u16, (n & 0xFFFF) as u16))
}

/// `GET …/instances/{sop}/bulkdata/{tag}[/{item}/{tag}…]`.
pub async fn bulkdata(
    State(state): State<WebState>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    bulkdata_inner(state, params, headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn bulkdata_inner(
    state: WebState,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let scope = scope_of(&params)?;
    let ok = accepted(&headers)
        .iter()
        .any(|r| r.covers("multipart/related") || r.covers("application/octet-stream"));
    if !ok {
        return Err(Problem::not_acceptable(
            "bulk data is served as multipart/related; type=\"application/octet-stream\"",
        ));
    }
    let raw_path = params.get("path").cloned().unwrap_or_default();
    let segments: Vec<&str> = raw_path.split('/').filter(|s| !s.is_empty()).collect();
    let mut steps = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        if i % 2 == 0 {
            steps.push((
                parse_tag(segment).ok_or_else(|| {
                    Problem::bad_request("a bulk data path names tags as 8 hex digits")
                })?,
                None,
            ));
        } else {
            let index: usize = segment.parse().map_err(|_| {
                Problem::bad_request("a bulk data path names sequence items by number (from 0)")
            })?;
            if let Some(last) = steps.last_mut() {
                last.1 = Some(index);
            }
        }
    }
    if steps.is_empty() || steps.last().is_some_and(|s| s.1.is_some()) {
        return Err(Problem::bad_request(
            "a bulk data path ends with the tag of a binary value",
        ));
    }
    let archive = state.ingest.archive();
    let located = locate(archive, &scope).await?.remove(0);
    let path = blob_path(archive, &located).await?;
    let stored = located.transfer_syntax_uid.clone();
    let parts = blocking("bulk data", move || {
        let obj = open_instance(&path)?;
        let missing = || Problem::not_found("the instance has no value at this bulk data path");
        let mut current: &InMemDicomObject = &obj;
        let Some((last, nested)) = steps.split_last() else {
            return Err(Problem::bad_request("an empty bulk data path"));
        };
        for (tag, index) in nested {
            let element = current.element(*tag).map_err(|_| missing())?;
            let items = element.items().ok_or_else(missing)?;
            current = items.get(index.unwrap_or(0)).ok_or_else(missing)?;
        }
        let element = current.element(last.0).map_err(|_| missing())?;
        match element.value() {
            DicomValue::Primitive(value) => Ok(vec![Part {
                content_type: "application/octet-stream".into(),
                content_location: None,
                body: PartBody::Bytes(Bytes::copy_from_slice(&value.to_bytes())),
            }]),
            DicomValue::PixelSequence(seq) => {
                let frames = encapsulated_frames(
                    seq.offset_table(),
                    seq.fragments(),
                    number_of_frames(&obj),
                )?;
                let media = frame_media_type(&stored).unwrap_or("application/octet-stream");
                Ok(frames
                    .into_iter()
                    .map(|frame| Part {
                        content_type: format!("{media}; transfer-syntax={stored}"),
                        content_location: None,
                        body: PartBody::Bytes(Bytes::from(frame)),
                    })
                    .collect())
            }
            DicomValue::Sequence(_) => Err(Problem::not_found(
                "the bulk data path names a sequence, not a binary value",
            )),
        }
    })
    .await?;
    Ok(multipart::response("application/octet-stream", parts))
}

/// Number of Frames, 1 when absent.
pub(crate) fn number_of_frames(obj: &InMemDicomObject) -> u32 {
    obj.element(tags::NUMBER_OF_FRAMES)
        .ok()
        .and_then(|e| e.to_int::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1)
}

/// Splits encapsulated pixel data into frames: one frame of all fragments, one fragment per
/// frame, or by the Basic Offset Table.
fn encapsulated_frames(
    offsets: &[u32],
    fragments: &[Vec<u8>],
    frames: u32,
) -> Result<Vec<Vec<u8>>, Problem> {
    let frames = frames as usize;
    if frames <= 1 {
        return Ok(vec![fragments.concat()]);
    }
    if fragments.len() == frames {
        return Ok(fragments.to_vec());
    }
    if offsets.len() == frames {
        // the offset of each fragment's item from the first, as the table counts them
        let mut out: Vec<Vec<u8>> = vec![Vec::new(); frames];
        let mut position: u64 = 0;
        for fragment in fragments {
            let frame = offsets
                .iter()
                .rposition(|&o| u64::from(o) <= position)
                .unwrap_or(0);
            out[frame].extend_from_slice(fragment);
            position += 8 + fragment.len() as u64;
        }
        return Ok(out);
    }
    Err(Problem::new(
        StatusCode::NOT_IMPLEMENTED,
        "Not implemented",
        "the frames of this instance cannot be told apart: several fragments per frame and no Basic Offset Table",
    ))
}

/// How the client wants frames.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FrameSyntax {
    Uncompressed,
    AsStored,
}

fn negotiate_frames(ranges: &[MediaRange], stored: &str) -> Result<FrameSyntax, Problem> {
    let stored_media = frame_media_type(stored);
    for range in ranges {
        let kind = match range.essence.as_str() {
            "multipart/related" => range.param("type").unwrap_or("application/octet-stream"),
            other => other,
        }
        .to_ascii_lowercase();
        let ts = range.param("transfer-syntax");
        if kind == "application/octet-stream" || kind == "*/*" || kind == "multipart/*" {
            match ts {
                None => return Ok(FrameSyntax::Uncompressed),
                Some("*") => return Ok(FrameSyntax::AsStored),
                Some(uid) if uid == uids::EXPLICIT_VR_LITTLE_ENDIAN => {
                    return Ok(FrameSyntax::Uncompressed);
                }
                Some(uid) if uid == stored => return Ok(FrameSyntax::AsStored),
                Some(_) => continue,
            }
        }
        if stored_media == Some(kind.as_str()) && ts.is_none_or(|t| t == "*" || t == stored) {
            return Ok(FrameSyntax::AsStored);
        }
    }
    Err(Problem::not_acceptable(format!(
        "frames of this instance are served uncompressed (application/octet-stream) or as stored ({}, transfer-syntax=*)",
        syntax_name(stored)
    )))
}

/// Frame numbers of a `frames/{list}` segment: 1-based, comma-separated.
fn parse_frame_list(text: &str) -> Result<Vec<u32>, Problem> {
    let numbers: Result<Vec<u32>, _> = text.split(',').map(|n| n.trim().parse::<u32>()).collect();
    match numbers {
        Ok(numbers) if !numbers.is_empty() && numbers.iter().all(|&n| n >= 1) => Ok(numbers),
        _ => Err(Problem::bad_request(
            "frames are named by numbers from 1, separated by commas (frames/1,3)",
        )),
    }
}

/// Checks that `wanted` frames exist in `obj`.
pub(crate) fn check_frames(obj: &InMemDicomObject, wanted: &[u32]) -> Result<(), Problem> {
    if obj.element(tags::PIXEL_DATA).is_err() {
        return Err(Problem::not_found("the instance has no pixel data"));
    }
    let count = number_of_frames(obj);
    if let Some(n) = wanted.iter().find(|&&n| n > count) {
        return Err(Problem::not_found(format!(
            "frame {n} does not exist: the instance has {count}"
        )));
    }
    Ok(())
}

/// Whether this build has a decoder for `ts`.
pub(crate) fn can_decode(ts: &str) -> bool {
    TransferSyntaxRegistry
        .get(ts)
        .is_some_and(|t| t.can_decode_all())
}

/// `GET …/instances/{sop}/frames/{list}`.
pub async fn frames(
    State(state): State<WebState>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    frames_inner(state, params, headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn frames_inner(
    state: WebState,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let scope = scope_of(&params)?;
    let wanted = parse_frame_list(params.get("frames").map_or("", String::as_str))?;
    let archive = state.ingest.archive();
    let located: InstanceLocation = locate(archive, &scope).await?.remove(0);
    let stored = located.transfer_syntax_uid.clone();
    let mut syntax = negotiate_frames(&accepted(&headers), &stored)?;
    if frame_media_type(&stored).is_none() {
        // uncompressed as stored: the same bytes either way, little endian
        syntax = FrameSyntax::Uncompressed;
    }
    if syntax == FrameSyntax::Uncompressed && !can_decode(&stored) {
        return Err(Problem::not_acceptable(format!(
            "this build cannot decode {}: ask for transfer-syntax=* to get the frames as stored",
            syntax_name(&stored)
        )));
    }
    let path = blob_path(archive, &located).await?;
    let parts = blocking("frame decoding", move || {
        let obj = open_instance(&path)?;
        check_frames(&obj, &wanted)?;
        match syntax {
            FrameSyntax::AsStored => {
                let element = obj
                    .element(tags::PIXEL_DATA)
                    .map_err(|_| Problem::not_found("the instance has no pixel data"))?;
                let DicomValue::PixelSequence(seq) = element.value() else {
                    return Err(Problem::internal("stored pixel data is not encapsulated"));
                };
                let frames = encapsulated_frames(
                    seq.offset_table(),
                    seq.fragments(),
                    number_of_frames(&obj),
                )?;
                let media = frame_media_type(&stored).unwrap_or("application/octet-stream");
                wanted
                    .iter()
                    .map(|&n| {
                        let frame = frames.get(n as usize - 1).ok_or_else(|| {
                            Problem::not_found(format!("frame {n} is not in the pixel data"))
                        })?;
                        Ok(Part {
                            content_type: format!("{media}; transfer-syntax={stored}"),
                            content_location: None,
                            body: PartBody::Bytes(Bytes::from(frame.clone())),
                        })
                    })
                    .collect()
            }
            FrameSyntax::Uncompressed => wanted
                .iter()
                .map(|&n| {
                    let decoded = obj.decode_pixel_data_frame(n - 1).map_err(|e| {
                        Problem::not_acceptable(format!(
                            "the pixel data ({}) could not be decoded: {e}; ask for transfer-syntax=* to get the frames as stored",
                            syntax_name(&stored)
                        ))
                    })?;
                    Ok(Part {
                        content_type: format!(
                            "application/octet-stream; transfer-syntax={}",
                            uids::EXPLICIT_VR_LITTLE_ENDIAN
                        ),
                        content_location: None,
                        body: PartBody::Bytes(Bytes::from(decoded.data().to_vec())),
                    })
                })
                .collect(),
        }
    })
    .await?;
    Ok(multipart::response(
        match syntax {
            FrameSyntax::Uncompressed => "application/octet-stream",
            FrameSyntax::AsStored => {
                frame_media_type(&located.transfer_syntax_uid).unwrap_or("application/octet-stream")
            }
        },
        parts,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicomweb::parse_media_range;

    fn ranges(list: &[&str]) -> Vec<MediaRange> {
        list.iter().filter_map(|r| parse_media_range(r)).collect()
    }

    #[test]
    fn instance_negotiation() {
        assert_eq!(
            negotiate_instances(&ranges(&["multipart/related; type=\"application/dicom\""]))
                .unwrap(),
            InstanceSyntax::AsStored
        );
        assert_eq!(
            negotiate_instances(&ranges(&[
                "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.1"
            ]))
            .unwrap(),
            InstanceSyntax::Exactly("1.2.840.10008.1.2.1".into())
        );
        assert!(negotiate_instances(&ranges(&["image/png"])).is_err());
    }

    #[test]
    fn frame_negotiation() {
        let j2k = uids::JPEG2000_LOSSLESS;
        let any =
            ranges(&["multipart/related; type=\"application/octet-stream\"; transfer-syntax=*"]);
        assert_eq!(negotiate_frames(&any, j2k).unwrap(), FrameSyntax::AsStored);
        let plain = ranges(&["multipart/related; type=\"application/octet-stream\""]);
        assert_eq!(
            negotiate_frames(&plain, j2k).unwrap(),
            FrameSyntax::Uncompressed
        );
        let jp2 = ranges(&["multipart/related; type=\"image/jp2\""]);
        assert_eq!(negotiate_frames(&jp2, j2k).unwrap(), FrameSyntax::AsStored);
        assert!(negotiate_frames(&jp2, uids::JPEG_BASELINE8_BIT).is_err());
    }

    #[test]
    fn frames_split_by_offset_table() {
        let fragments = vec![vec![1u8; 4], vec![2u8; 6], vec![3u8; 2]];
        // frame 1: fragments 1 and 2 (items of 12 and 14 bytes); frame 2: fragment 3
        let frames = encapsulated_frames(&[0, 26], &fragments, 2).unwrap();
        assert_eq!(frames[0], [vec![1u8; 4], vec![2u8; 6]].concat());
        assert_eq!(frames[1], vec![3u8; 2]);
        assert_eq!(encapsulated_frames(&[], &fragments, 1).unwrap().len(), 1);
        assert!(encapsulated_frames(&[], &fragments, 2).is_err());
    }

    #[test]
    fn frame_lists() {
        assert_eq!(parse_frame_list("1,3").unwrap(), vec![1, 3]);
        assert!(parse_frame_list("0").is_err());
        assert!(parse_frame_list("a").is_err());
        assert!(parse_frame_list("").is_err());
    }

    #[test]
    fn large_binaries_become_bulk_data_uris() {
        let mut map = json!({
            "7FE00010": {"vr": "OB"},
            "00091010": {"vr": "OB", "InlineBinary": "AAAA"},
            "00091011": {"vr": "OB", "InlineBinary": "A".repeat(2000)},
            "00540016": {"vr": "SQ", "Value": [{"00091011": {"vr": "OW", "InlineBinary": "A".repeat(2000)}}]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "X"}]},
        });
        bulk_data_uris(map.as_object_mut().unwrap(), "u/bulkdata/", "");
        assert_eq!(map["7FE00010"]["BulkDataURI"], "u/bulkdata/7FE00010");
        assert_eq!(map["00091010"]["InlineBinary"], "AAAA");
        assert_eq!(map["00091011"]["BulkDataURI"], "u/bulkdata/00091011");
        assert_eq!(
            map["00540016"]["Value"][0]["00091011"]["BulkDataURI"],
            "u/bulkdata/00540016/0/00091011"
        );
        assert_eq!(map["00100010"]["Value"][0]["Alphabetic"], "X");
    }
}
