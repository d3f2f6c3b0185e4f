//! Rendered resources and thumbnails (PS3.18 §10.4.1.1.3, §10.4.1.1.4): one frame decoded
//! with dicom-pixeldata, windowed to 8 bits and encoded with the `image` crate.
//!
//! | Query parameter | Meaning |
//! |---|---|
//! | `window=center,width[,function]` | VOI window; `function` is `linear` (default), `linear-exact` or `sigmoid`. Absent: the instance's first Window Center/Width, else its min/max |
//! | `viewport=w,h` | scale to fit `w`×`h`, keeping the aspect ratio (thumbnails default to `[http.dicomweb] thumbnail_size`) |
//! | `quality=1..100` | JPEG quality (default 90) |
//!
//! MONOCHROME1 is inverted so that it displays like MONOCHROME2; RGB and YBR are shown as
//! RGB. `image/jpeg` is the default, `image/png` on request. A rendered instance is its first
//! frame. Pixel data this build cannot decode (JPEG-LS, 12-bit JPEG, …) answers 501.

use std::collections::HashMap;
use std::io::Cursor;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dicom_dictionary_std::tags;
use dicom_pixeldata::{ConvertOptions, PixelDecoder, VoiLutFunction, VoiLutOption, WindowLevel};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat};

use super::wado::{blocking, can_decode, check_frames, open_instance, syntax_name};
use super::{accepted, blob_path, locate, scope_from_path};
use crate::{Problem, WebState};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jpeg,
    Png,
}

impl Format {
    fn media_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
        }
    }
}

/// How to render, from the query.
#[derive(Debug, Clone, PartialEq)]
struct RenderOptions {
    window: Option<(WindowLevel, VoiLutFunction)>,
    viewport: Option<(u32, u32)>,
    quality: u8,
}

fn parse_options(query: &HashMap<String, String>) -> Result<RenderOptions, Problem> {
    let mut options = RenderOptions {
        window: None,
        viewport: None,
        quality: 90,
    };
    if let Some(window) = query.get("window") {
        let parts: Vec<&str> = window.split(',').map(str::trim).collect();
        let bad = || {
            Problem::bad_request(
                "window is center,width[,function] with a positive width and function linear, linear-exact or sigmoid",
            )
        };
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let center: f64 = parts[0].parse().map_err(|_| bad())?;
        let width: f64 = parts[1].parse().map_err(|_| bad())?;
        if !center.is_finite() || !width.is_finite() || width <= 0.0 {
            return Err(bad());
        }
        let function = match parts.get(2).map(|f| f.to_ascii_lowercase()).as_deref() {
            None | Some("linear") => VoiLutFunction::Linear,
            Some("linear-exact" | "linear_exact") => VoiLutFunction::LinearExact,
            Some("sigmoid") => VoiLutFunction::Sigmoid,
            Some(_) => return Err(bad()),
        };
        options.window = Some((WindowLevel { center, width }, function));
    }
    if let Some(viewport) = query.get("viewport") {
        let bad = || Problem::bad_request("viewport is width,height in pixels (1 to 4096)");
        let (w, h) = viewport.split_once(',').ok_or_else(bad)?;
        let w: u32 = w.trim().parse().map_err(|_| bad())?;
        let h: u32 = h.trim().parse().map_err(|_| bad())?;
        if !(1..=4096).contains(&w) || !(1..=4096).contains(&h) {
            return Err(bad());
        }
        options.viewport = Some((w, h));
    }
    if let Some(quality) = query.get("quality") {
        options.quality = quality
            .trim()
            .parse()
            .ok()
            .filter(|q| (1..=100).contains(q))
            .ok_or_else(|| Problem::bad_request("quality is a number from 1 to 100"))?;
    }
    Ok(options)
}

fn negotiate(headers: &HeaderMap) -> Result<Format, Problem> {
    for range in accepted(headers) {
        if range.essence == "image/png" {
            return Ok(Format::Png);
        }
        if range.covers("image/jpeg") {
            return Ok(Format::Jpeg);
        }
    }
    Err(Problem::not_acceptable(
        "rendered images are served as image/jpeg or image/png",
    ))
}

/// `GET …/instances/{sop}/rendered`.
pub async fn rendered(
    State(state): State<WebState>,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    render_request(state, params, query, headers, false)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `GET …/instances/{sop}/frames/{n}/rendered`.
pub async fn rendered_frame(
    state: State<WebState>,
    params: Path<HashMap<String, String>>,
    query: Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    rendered(state, params, query, headers).await
}

/// `GET …/thumbnail` at study, series, instance or frame level.
pub async fn thumbnail(
    State(state): State<WebState>,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    render_request(state, params, query, headers, true)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `GET …/instances/{sop}/frames/{n}/thumbnail`.
pub async fn thumbnail_frame(
    state: State<WebState>,
    params: Path<HashMap<String, String>>,
    query: Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    thumbnail(state, params, query, headers).await
}

async fn render_request(
    state: WebState,
    params: HashMap<String, String>,
    query: HashMap<String, String>,
    headers: HeaderMap,
    thumbnail: bool,
) -> Result<Response, Problem> {
    let study = params
        .get("study")
        .ok_or_else(|| Problem::bad_request("no Study Instance UID in the path"))?;
    let scope = scope_from_path(
        study,
        params.get("series").map(String::as_str),
        params.get("sop").map(String::as_str),
    )?;
    let frame = match params.get("frames") {
        None => 1,
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| Problem::bad_request("a rendered frame is one number from 1"))?,
    };
    let mut options = parse_options(&query)?;
    if thumbnail && options.viewport.is_none() {
        let side = state.config.dicomweb.thumbnail_size.clamp(1, 4096);
        options.viewport = Some((side, side));
    }
    let format = negotiate(&headers)?;
    let archive = state.ingest.archive();
    let found = locate(archive, &scope).await?;
    // a study or series thumbnail shows the middle instance that renders
    let middle = found.len() / 2;
    let mut order: Vec<usize> = (middle..found.len()).chain(0..middle).collect();
    if scope.sop_instance_uid.is_some() {
        order.truncate(1);
    }
    let mut last_problem = None;
    for i in order {
        let located = &found[i];
        let path = blob_path(archive, located).await?;
        let ts = located.transfer_syntax_uid.clone();
        let options = options.clone();
        let result = blocking("rendering", move || {
            render_file(&path, &ts, frame, &options, format)
        })
        .await;
        match result {
            Ok(bytes) => {
                return Ok((
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, format.media_type())],
                    bytes,
                )
                    .into_response());
            }
            Err(problem) => last_problem = Some(problem),
        }
    }
    Err(last_problem.unwrap_or_else(|| Problem::not_found("nothing to render")))
}

fn render_file(
    path: &std::path::Path,
    ts: &str,
    frame: u32,
    options: &RenderOptions,
    format: Format,
) -> Result<Vec<u8>, Problem> {
    let obj = open_instance(path)?;
    if obj.element(tags::PIXEL_DATA).is_err() {
        return Err(Problem::not_acceptable(
            "the instance has no pixel data: it cannot be rendered as an image",
        ));
    }
    check_frames(&obj, &[frame])?;
    let not_implemented =
        |why: String| Problem::new(StatusCode::NOT_IMPLEMENTED, "Cannot render", why);
    if !can_decode(ts) {
        return Err(not_implemented(format!(
            "this build cannot decode {} pixel data",
            syntax_name(ts)
        )));
    }
    let decoded = obj.decode_pixel_data_frame(frame - 1).map_err(|e| {
        not_implemented(format!(
            "the pixel data ({}) could not be decoded: {e}",
            syntax_name(ts)
        ))
    })?;
    let mut convert = ConvertOptions::new().force_8bit();
    if let Some((window, function)) = options.window {
        convert = convert.with_voi_lut(VoiLutOption::CustomWithFunction(window, function));
    }
    let image = decoded
        .to_dynamic_image_with_options(0, &convert)
        .map_err(|e| not_implemented(format!("the pixel data cannot be shown as an image: {e}")))?;
    let image = match options.viewport {
        Some((w, h)) => image.resize(w, h, FilterType::Triangle),
        None => image,
    };
    let image = match image {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => image,
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageLuma16(_) => {
            DynamicImage::ImageLuma8(image.to_luma8())
        }
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    };
    let mut out = Vec::new();
    let written = match format {
        Format::Png => image.write_to(&mut Cursor::new(&mut out), ImageFormat::Png),
        Format::Jpeg => {
            JpegEncoder::new_with_quality(&mut out, options.quality).encode_image(&image)
        }
    };
    written.map_err(|e| {
        tracing::error!(error = %e, "image encoding failed");
        Problem::internal("the image could not be encoded")
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn window_viewport_and_quality_are_parsed_and_checked() {
        let options = parse_options(&query(&[
            ("window", "40,400,sigmoid"),
            ("viewport", "64,32"),
        ]))
        .unwrap();
        assert_eq!(
            options.window,
            Some((
                WindowLevel {
                    center: 40.0,
                    width: 400.0
                },
                VoiLutFunction::Sigmoid
            ))
        );
        assert_eq!(options.viewport, Some((64, 32)));
        for bad in [
            ("window", "40"),
            ("window", "40,0"),
            ("window", "40,400,cubic"),
            ("viewport", "0,10"),
            ("quality", "0"),
        ] {
            assert!(parse_options(&query(&[bad])).is_err(), "{bad:?}");
        }
    }
}
