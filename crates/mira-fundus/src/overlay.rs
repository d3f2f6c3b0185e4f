//! The overlay: the photograph with the optic disc (green square), red-lesion candidates (red
//! boxes) and bright-lesion candidates (yellow boxes), candidates below the screening threshold
//! drawn thin. Written as a PNG at most [`OVERLAY_MAX_WIDTH`] pixels wide (a full-size PNG of a
//! 4288×2848 photograph is tens of megabytes for no gain in review).

use std::path::Path;

use image::{Rgb, RgbImage, imageops};

use crate::detect::LesionKind;
use crate::{FundusError, FundusReport, screening};

/// Largest overlay width.
pub const OVERLAY_MAX_WIDTH: u32 = 1600;

/// Disc colour.
pub const DISC_COLOUR: Rgb<u8> = Rgb([0, 255, 0]);
/// Red-lesion colour.
pub const RED_COLOUR: Rgb<u8> = Rgb([255, 0, 0]);
/// Bright-lesion colour.
pub const BRIGHT_COLOUR: Rgb<u8> = Rgb([255, 255, 0]);

fn rectangle(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, thickness: i64, c: Rgb<u8>) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let mut put = |x: i64, y: i64| {
        if (0..w).contains(&x) && (0..h).contains(&y) {
            img.put_pixel(x as u32, y as u32, c);
        }
    };
    for t in 0..thickness {
        for x in x0..=x1 {
            put(x, y0 + t);
            put(x, y1 - t);
        }
        for y in y0..=y1 {
            put(x0 + t, y);
            put(x1 - t, y);
        }
    }
}

/// Draws the report's disc and lesions on (a reduced copy of) the photograph.
pub fn render(image: &RgbImage, report: &FundusReport) -> RgbImage {
    let scale = if image.width() > OVERLAY_MAX_WIDTH {
        f64::from(OVERLAY_MAX_WIDTH) / f64::from(image.width())
    } else {
        1.0
    };
    let mut out = if scale < 1.0 {
        imageops::resize(
            image,
            OVERLAY_MAX_WIDTH,
            (f64::from(image.height()) * scale).round() as u32,
            imageops::FilterType::Triangle,
        )
    } else {
        image.clone()
    };
    let s = |v: f64| (v * scale).round() as i64;
    for l in report.lesions.iter().rev() {
        let colour = match l.kind {
            LesionKind::Red => RED_COLOUR,
            LesionKind::Bright => BRIGHT_COLOUR,
        };
        let thickness = if l.score >= screening::CANDIDATE_THRESHOLD {
            3
        } else {
            1
        };
        let b = l.bbox;
        rectangle(
            &mut out,
            s(f64::from(b.x)) - 2,
            s(f64::from(b.y)) - 2,
            s(f64::from(b.x + b.width)) + 2,
            s(f64::from(b.y + b.height)) + 2,
            thickness,
            colour,
        );
    }
    if let Some(d) = report.optic_disc {
        rectangle(
            &mut out,
            s(d.centre.0 - d.radius),
            s(d.centre.1 - d.radius),
            s(d.centre.0 + d.radius),
            s(d.centre.1 + d.radius),
            3,
            DISC_COLOUR,
        );
    }
    out
}

/// Renders and writes the overlay as PNG.
pub fn write(image: &RgbImage, report: &FundusReport, path: &Path) -> Result<(), FundusError> {
    render(image, report)
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| FundusError::Overlay {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}
