//! Projection radiograph checks (CR, DX), chest first: exposure index and deviation index
//! (IEC 62494-1), view position, and pixel-level checks that are reliable without AI:
//! photometric polarity (MONOCHROME1/2 against the anatomy), clipping, dynamic range and an
//! estimate of the exposed field.
//!
//! Deviation Index: DI = 10·log10(EI / EI_T) (IEC 62494-1); the response bands follow
//! AAPM TG-116 (clinical-rules.md 3.2; the ±3 bands are marked unverified there and are
//! configurable).

use dicom_object::DefaultDicomObject;
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};

use crate::header::{Header, ReadError};
use crate::instance::Context;
use crate::report::{Check, num};

/// A greyscale image in display polarity: higher values display brighter, whatever the
/// Photometric Interpretation says (MONOCHROME1 is inverted on the way in).
#[derive(Debug, Clone)]
pub struct Greyscale {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Row-major values, `0..=max`.
    pub pixels: Vec<u16>,
    /// Largest storable value, `2^BitsStored - 1`.
    pub max: u16,
}

impl Greyscale {
    /// Decodes the first frame of a greyscale instance (one sample per pixel).
    pub fn decode(obj: &DefaultDicomObject, header: &Header) -> Result<Self, ReadError> {
        let decoded = obj
            .decode_pixel_data()
            .map_err(|e| ReadError::Pixels(e.to_string()))?;
        if decoded.samples_per_pixel() != 1 {
            return Err(ReadError::Pixels(format!(
                "{} samples per pixel, expected 1",
                decoded.samples_per_pixel()
            )));
        }
        let options = ConvertOptions::new().with_modality_lut(ModalityLutOption::None);
        let mut pixels: Vec<u16> = decoded
            .to_vec_frame_with_options(0, &options)
            .map_err(|e| ReadError::Pixels(e.to_string()))?;
        let bits = decoded.bits_stored().clamp(1, 16);
        let max = ((1u32 << bits) - 1) as u16;
        for p in &mut pixels {
            *p = (*p).min(max);
        }
        if header.photometric_interpretation.as_deref() == Some("MONOCHROME1") {
            for p in &mut pixels {
                *p = max - *p;
            }
        }
        Ok(Greyscale {
            width: decoded.columns() as usize,
            height: decoded.rows() as usize,
            pixels,
            max,
        })
    }

    fn at(&self, x: usize, y: usize) -> u16 {
        self.pixels[y * self.width + x]
    }

    /// Mean over a rectangle given as fractions of the image.
    fn region_mean(&self, x0: f64, x1: f64, y0: f64, y1: f64) -> f64 {
        let (w, h) = (self.width as f64, self.height as f64);
        let (xa, xb) = ((x0 * w) as usize, ((x1 * w) as usize).min(self.width));
        let (ya, yb) = ((y0 * h) as usize, ((y1 * h) as usize).min(self.height));
        let mut sum = 0u64;
        let mut n = 0u64;
        for y in (ya..yb).step_by(2) {
            for x in (xa..xb).step_by(2) {
                sum += self.at(x, y) as u64;
                n += 1;
            }
        }
        if n == 0 { 0.0 } else { sum as f64 / n as f64 }
    }
}

/// Pixel measurements of a radiograph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelStats {
    /// Fraction of pixels at 0 or at the largest storable value.
    pub clipped_fraction: f64,
    /// 1st and 99th percentiles of the display values.
    pub p1: f64,
    /// 99th percentile.
    pub p99: f64,
    /// (p99 - p1) / largest storable value.
    pub dynamic_range: f64,
    /// (mediastinum - lungs) / (p99 - p1), in display polarity: positive for a correctly
    /// labelled chest radiograph.
    pub polarity_contrast: f64,
    /// Estimated fraction of the image inside the exposed field (uniform borders removed).
    pub field_fraction: f64,
}

/// Measures a decoded radiograph.
pub fn measure(img: &Greyscale) -> PixelStats {
    let n = img.pixels.len().max(1);
    let mut histogram = vec![0u32; img.max as usize + 1];
    let mut clipped = 0usize;
    for &p in &img.pixels {
        histogram[p as usize] += 1;
        if p == 0 || p == img.max {
            clipped += 1;
        }
    }
    let percentile = |q: f64| -> f64 {
        let target = (q * n as f64) as u64;
        let mut acc = 0u64;
        for (v, c) in histogram.iter().enumerate() {
            acc += *c as u64;
            if acc > target {
                return v as f64;
            }
        }
        img.max as f64
    };
    let (p1, p99) = (percentile(0.01), percentile(0.99));
    let spread = (p99 - p1).max(1.0);
    let mediastinum = img.region_mean(0.45, 0.55, 0.25, 0.65);
    let lungs =
        (img.region_mean(0.18, 0.33, 0.25, 0.65) + img.region_mean(0.67, 0.82, 0.25, 0.65)) / 2.0;
    PixelStats {
        clipped_fraction: clipped as f64 / n as f64,
        p1,
        p99,
        dynamic_range: (p99 - p1) / img.max.max(1) as f64,
        polarity_contrast: (mediastinum - lungs) / spread,
        field_fraction: field_fraction(img, spread),
    }
}

/// Strips uniform rows and columns (collimator blades or background) from each border and
/// returns the fraction of the image that remains.
fn field_fraction(img: &Greyscale, spread: f64) -> f64 {
    let threshold = 0.02 * spread;
    let line_std = |values: &mut dyn Iterator<Item = u16>| -> f64 {
        let (mut s, mut s2, mut k) = (0f64, 0f64, 0f64);
        for v in values {
            let v = v as f64;
            s += v;
            s2 += v * v;
            k += 1.0;
        }
        if k < 2.0 {
            return 0.0;
        }
        let mean = s / k;
        (s2 / k - mean * mean).max(0.0).sqrt()
    };
    let (w, h) = (img.width, img.height);
    let row_std = |y: usize| line_std(&mut (0..w).step_by(2).map(|x| img.at(x, y)));
    let col_std = |x: usize| line_std(&mut (0..h).step_by(2).map(|y| img.at(x, y)));
    let top = (0..h / 2).take_while(|y| row_std(*y) < threshold).count();
    let bottom = (h / 2..h)
        .rev()
        .take_while(|y| row_std(*y) < threshold)
        .count();
    let left = (0..w / 2).take_while(|x| col_std(*x) < threshold).count();
    let right = (w / 2..w)
        .rev()
        .take_while(|x| col_std(*x) < threshold)
        .count();
    let fw = w.saturating_sub(left + right) as f64;
    let fh = h.saturating_sub(top + bottom) as f64;
    (fw * fh) / (w * h).max(1) as f64
}

/// Header rules of projection radiographs: exposure index, deviation index, view position.
pub fn check_header(ctx: &Context<'_>, h: &Header) -> Vec<Check> {
    let modality = h.modality.as_deref();
    let rule = |id: &str| ctx.rules.active(id, modality);
    let mut checks = Vec::new();
    if let Some(r) = rule("cxr.exposure-index-present") {
        checks.push(Check::new(
            r,
            h.exposure_index.is_some(),
            Some(
                h.exposure_index
                    .map_or("absent".to_string(), |e| format!("EI {}", num(e))),
            ),
            Some("Exposure Index (0018,1411) present".into()),
            if h.exposure_index.is_some() {
                "exposure index recorded"
            } else {
                "no exposure index: exposure cannot be audited"
            },
        ));
    }
    let di = h
        .deviation_index
        .or_else(|| match (h.exposure_index, h.target_exposure_index) {
            (Some(ei), Some(t)) if ei > 0.0 && t > 0.0 => Some(10.0 * (ei / t).log10()),
            _ => None,
        });
    if let Some(di) = di {
        let shown = Some(format!("DI {}", num((di * 100.0).round() / 100.0)));
        if let Some(r) = rule("cxr.di-target") {
            let max = r.threshold("max_abs");
            checks.push(Check::new(
                r,
                di.abs() <= max,
                shown.clone(),
                Some(format!("-{0} <= DI <= +{0}", num(max))),
                if di.abs() <= max {
                    "exposure on target"
                } else if di > 0.0 {
                    "exposure above target"
                } else {
                    "exposure below target"
                },
            ));
        }
        if let Some(r) = rule("cxr.di-underexposed") {
            let min = r.threshold("min");
            checks.push(Check::new(
                r,
                di >= min,
                shown.clone(),
                Some(format!("DI >= {}", num(min))),
                if di >= min {
                    "not underexposed"
                } else {
                    "underexposed"
                },
            ));
        }
        if let Some(r) = rule("cxr.di-overexposed") {
            let max = r.threshold("max");
            checks.push(Check::new(
                r,
                di <= max,
                shown,
                Some(format!("DI <= +{}", num(max))),
                if di <= max {
                    "not overexposed"
                } else {
                    "excessive exposure"
                },
            ));
        }
    }
    if let Some(r) = rule("cxr.view-position") {
        checks.push(Check::new(
            r,
            h.view_position.is_some(),
            Some(h.view_position.clone().unwrap_or_else(|| "absent".into())),
            Some("AP, PA, LL, RL, ...".into()),
            if h.view_position.is_some() {
                "view position recorded"
            } else {
                "no view position"
            },
        ));
    }
    if let Some(r) = rule("cxr.view-ap")
        && h.is_chest_or_unspecified()
        && let Some(view) = &h.view_position
    {
        let ap = view.eq_ignore_ascii_case("AP");
        checks.push(Check::new(
            r,
            !ap,
            Some(view.clone()),
            Some("PA (or lateral)".into()),
            if ap {
                "AP projection: heart size not assessable"
            } else {
                "not an AP projection"
            },
        ));
    }
    checks
}

/// Pixel rules of projection radiographs, on measured [`PixelStats`].
pub fn check_pixels(ctx: &Context<'_>, h: &Header, stats: &PixelStats) -> Vec<Check> {
    let modality = h.modality.as_deref();
    let rule = |id: &str| ctx.rules.active(id, modality);
    let mut checks = Vec::new();
    // frontal chest views only: on a lateral view the spine, not the mediastinum, is central
    let frontal = h
        .view_position
        .as_deref()
        .is_none_or(|v| matches!(v.to_ascii_uppercase().as_str(), "PA" | "AP"));
    if let Some(r) = rule("cxr.polarity")
        && h.is_chest_or_unspecified()
        && frontal
    {
        let min = r.threshold("min_contrast");
        let ok = stats.polarity_contrast >= min;
        checks.push(Check::new(
            r,
            ok,
            Some(format!(
                "{}: mediastinum - lungs = {} of the range",
                h.photometric_interpretation.as_deref().unwrap_or("?"),
                num((stats.polarity_contrast * 1000.0).round() / 1000.0)
            )),
            Some(format!(">= {} (mediastinum displays brighter)", num(min))),
            if ok {
                "displayed polarity agrees with the anatomy"
            } else {
                "image displays inverted: Photometric Interpretation inconsistent with the pixel data"
            },
        ));
    }
    if let Some(r) = rule("cxr.clipping") {
        let max = r.threshold("max_fraction");
        let ok = stats.clipped_fraction <= max;
        checks.push(Check::new(
            r,
            ok,
            Some(format!(
                "{}% of pixels at the range limits",
                num((stats.clipped_fraction * 1000.0).round() / 10.0)
            )),
            Some(format!("<= {}%", num(max * 100.0))),
            if ok {
                "no significant clipping"
            } else {
                "clipped or saturated regions"
            },
        ));
    }
    if let Some(r) = rule("cxr.dynamic-range") {
        let min = r.threshold("min_fraction");
        let ok = stats.dynamic_range >= min;
        checks.push(Check::new(
            r,
            ok,
            Some(format!(
                "p1-p99 spans {}% of the stored range",
                num((stats.dynamic_range * 1000.0).round() / 10.0)
            )),
            Some(format!(">= {}%", num(min * 100.0))),
            if ok {
                "dynamic range adequate"
            } else {
                "narrow dynamic range"
            },
        ));
    }
    if let Some(r) = rule("cxr.collimation") {
        let min = r.threshold("min_field_fraction");
        let ok = stats.field_fraction >= min;
        checks.push(Check::new(
            r,
            ok,
            Some(format!(
                "exposed field about {}% of the image",
                num((stats.field_fraction * 100.0).round())
            )),
            Some(format!(">= {}%", num(min * 100.0))),
            if ok {
                "field coverage adequate"
            } else {
                "field too tightly collimated"
            },
        ));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status::{self, *};
    use crate::rules::RuleSet;

    fn header(di: Option<f64>, ei: Option<f64>, target: Option<f64>) -> Header {
        Header {
            modality: Some("DX".into()),
            deviation_index: di,
            exposure_index: ei,
            target_exposure_index: target,
            view_position: Some("PA".into()),
            ..Header::default()
        }
    }

    fn status(checks: &[Check], rule: &str) -> Option<Status> {
        checks.iter().find(|c| c.rule == rule).map(|c| c.status)
    }

    /// IEC 62494-1 / AAPM TG-116 bands, at and just past every boundary.
    #[test]
    fn deviation_index_bands() {
        let rules = RuleSet::default();
        let ctx = Context::now(&rules);
        let cases = [
            // DI, target band, underexposed, overexposed
            (0.0, Pass, Pass, Pass),
            (1.0, Pass, Pass, Pass),
            (1.01, Warning, Pass, Pass),
            (-1.0, Pass, Pass, Pass),
            (-1.01, Warning, Pass, Pass),
            (3.0, Warning, Pass, Pass),
            (3.01, Warning, Pass, Warning),
            (-3.0, Warning, Pass, Pass),
            (-3.01, Warning, Fail, Pass),
        ];
        for (di, target, under, over) in cases {
            let checks = check_header(&ctx, &header(Some(di), None, None));
            assert_eq!(status(&checks, "cxr.di-target"), Some(target), "DI {di}");
            assert_eq!(
                status(&checks, "cxr.di-underexposed"),
                Some(under),
                "DI {di}"
            );
            assert_eq!(status(&checks, "cxr.di-overexposed"), Some(over), "DI {di}");
        }
    }

    #[test]
    fn deviation_index_is_derived_from_ei_and_its_target() {
        let rules = RuleSet::default();
        let ctx = Context::now(&rules);
        // EI twice the target: DI = 10 log10(2) = 3.01
        let checks = check_header(&ctx, &header(None, Some(800.0), Some(400.0)));
        let c = checks
            .iter()
            .find(|c| c.rule == "cxr.di-overexposed")
            .unwrap();
        assert_eq!(c.status, Warning);
        assert_eq!(c.measured.as_deref(), Some("DI 3.01"));
        assert_eq!(status(&checks, "cxr.exposure-index-present"), Some(Pass));
        // a recorded DI wins over the derived one
        let checks = check_header(&ctx, &header(Some(0.2), Some(800.0), Some(400.0)));
        assert_eq!(status(&checks, "cxr.di-target"), Some(Pass));
        // no EI: no DI rules, an info that exposure cannot be audited
        let checks = check_header(&ctx, &header(None, None, Some(400.0)));
        assert_eq!(status(&checks, "cxr.di-target"), None);
        assert_eq!(status(&checks, "cxr.exposure-index-present"), Some(Info));
    }

    #[test]
    fn view_position() {
        let rules = RuleSet::default();
        let ctx = Context::now(&rules);
        let mut h = header(None, None, None);
        h.view_position = Some("AP".into());
        let checks = check_header(&ctx, &h);
        assert_eq!(status(&checks, "cxr.view-ap"), Some(Info));
        assert_eq!(status(&checks, "cxr.view-position"), Some(Pass));
        h.view_position = None;
        let checks = check_header(&ctx, &h);
        assert_eq!(status(&checks, "cxr.view-position"), Some(Warning));
        assert_eq!(status(&checks, "cxr.view-ap"), None);
    }

    #[test]
    fn pixel_rule_boundaries() {
        let rules = RuleSet::default();
        let ctx = Context::now(&rules);
        let h = header(None, None, None);
        let base = PixelStats {
            clipped_fraction: 0.0,
            p1: 0.0,
            p99: 255.0,
            dynamic_range: 0.5,
            polarity_contrast: 0.3,
            field_fraction: 1.0,
        };
        let cases: [(&str, PixelStats, Status); 8] = [
            (
                "cxr.polarity",
                PixelStats {
                    polarity_contrast: 0.02,
                    ..base
                },
                Pass,
            ),
            (
                "cxr.polarity",
                PixelStats {
                    polarity_contrast: 0.019,
                    ..base
                },
                Fail,
            ),
            (
                "cxr.clipping",
                PixelStats {
                    clipped_fraction: 0.05,
                    ..base
                },
                Pass,
            ),
            (
                "cxr.clipping",
                PixelStats {
                    clipped_fraction: 0.051,
                    ..base
                },
                Warning,
            ),
            (
                "cxr.dynamic-range",
                PixelStats {
                    dynamic_range: 0.15,
                    ..base
                },
                Pass,
            ),
            (
                "cxr.dynamic-range",
                PixelStats {
                    dynamic_range: 0.149,
                    ..base
                },
                Warning,
            ),
            (
                "cxr.collimation",
                PixelStats {
                    field_fraction: 0.5,
                    ..base
                },
                Pass,
            ),
            (
                "cxr.collimation",
                PixelStats {
                    field_fraction: 0.49,
                    ..base
                },
                Warning,
            ),
        ];
        for (rule, stats, expected) in cases {
            let checks = check_pixels(&ctx, &h, &stats);
            assert_eq!(status(&checks, rule), Some(expected), "{rule} {stats:?}");
        }
        // polarity is a chest rule: a hand radiograph is not judged by it
        let mut hand = h.clone();
        hand.body_part_examined = Some("HAND".into());
        let checks = check_pixels(&ctx, &hand, &base);
        assert_eq!(status(&checks, "cxr.polarity"), None);
        // and a lateral view is not either
        let mut lateral = h.clone();
        lateral.view_position = Some("LL".into());
        let checks = check_pixels(&ctx, &lateral, &base);
        assert_eq!(status(&checks, "cxr.polarity"), None);
    }
}
