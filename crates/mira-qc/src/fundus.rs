//! Fundus photograph gradability: field of view, illumination (too dark, washed out, uneven),
//! focus, contrast and optic disc, combined into an EyeQ grade (Good / Usable / Reject; Fu et
//! al., MICCAI 2019).
//!
//! Criteria (clinical-rules.md 2.6): the BJO rubric rejects an image whose field seen is ¾ or
//! less, or whose small vessels are undefinable; EyeQ's Reject means a full and reliable
//! diagnosis is impossible; EyeQ-D labels illumination, clarity and contrast separately, which
//! is what the separate rules below measure. Thresholds are engineering choices calibrated on
//! the IDRiD photographs (marked `[P]` in the catalogue) and are site-configurable.
//!
//! An image graded Reject is never "no retinopathy": [`Grade::is_gradable`] is false and
//! every failing rule's action says to re-image or refer.
//!
//! The measures run on a copy reduced to about [`WORKING_WIDTH`] pixels wide (box filter):
//! vessels a few pixels wide at that size carry the focus signal, and the check stays fast on
//! 4288×2848 photographs.

use image::RgbImage;

use crate::instance::Context;
use crate::report::{Check, Grade, Level, Report, Status, num};

/// Width of the reduced copy the measures run on.
pub const WORKING_WIDTH: usize = 1024;

/// What was measured on a photograph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FundusMeasures {
    /// Fraction of the fitted fundus circle that lies in the image and is lit.
    pub field_fraction: f64,
    /// Distance of the fitted circle's centre from the image centre, over the circle's radius.
    pub centre_offset: f64,
    /// Mean luminance in the field, 0..1.
    pub brightness: f64,
    /// Fraction of field pixels with a saturated green channel.
    pub saturated_fraction: f64,
    /// Brightest over darkest mean luminance of the field's 3×3 regions.
    pub illumination_ratio: f64,
    /// 1 − the blur effect of Crete et al. (SPIE 2007) on the green channel of the reduced
    /// copy: the share of neighbour-to-neighbour variation that a 9-pixel box blur removes.
    /// Sharp vessel edges lose much of it, an already blurred image little. Independent of
    /// exposure (a ratio of differences of the same image).
    pub sharpness: f64,
    /// Standard deviation over mean of the green channel in the field.
    pub contrast: f64,
    /// Peak of the smoothed luminance over the field's median: how much the optic disc
    /// stands out.
    pub disc_prominence: f64,
    /// Where the optic disc was found, as fractions of the image width and height.
    pub disc_centre: (f64, f64),
}

/// A reduced RGB copy as floats.
struct Small {
    w: usize,
    h: usize,
    r: Vec<f32>,
    g: Vec<f32>,
    b: Vec<f32>,
}

fn reduce(img: &RgbImage) -> Small {
    let (fw, fh) = (img.width() as usize, img.height() as usize);
    let f = fw.div_ceil(WORKING_WIDTH).max(1);
    let (w, h) = (fw / f, fh / f);
    let mut r = vec![0f32; w * h];
    let mut g = vec![0f32; w * h];
    let mut b = vec![0f32; w * h];
    let raw = img.as_raw();
    let norm = 1.0 / (f * f) as f32;
    let mut acc = vec![[0u32; 3]; w];
    for y in 0..h {
        acc.iter_mut().for_each(|a| *a = [0; 3]);
        for dy in 0..f {
            let start = (y * f + dy) * fw * 3;
            let row = &raw[start..start + w * f * 3];
            for (a, block) in acc.iter_mut().zip(row.chunks_exact(3 * f)) {
                for px in block.chunks_exact(3) {
                    a[0] += px[0] as u32;
                    a[1] += px[1] as u32;
                    a[2] += px[2] as u32;
                }
            }
        }
        for (x, a) in acc.iter().enumerate() {
            r[y * w + x] = a[0] as f32 * norm;
            g[y * w + x] = a[1] as f32 * norm;
            b[y * w + x] = a[2] as f32 * norm;
        }
    }
    Small { w, h, r, g, b }
}

/// Measures a fundus photograph.
pub fn measure(img: &RgbImage) -> FundusMeasures {
    let s = reduce(img);
    let (w, h) = (s.w, s.h);
    if w < 32 || h < 32 {
        // too small to hold a fundus field at all
        return FundusMeasures {
            field_fraction: 0.0,
            centre_offset: f64::INFINITY,
            brightness: 0.0,
            saturated_fraction: 0.0,
            illumination_ratio: f64::INFINITY,
            sharpness: 0.0,
            contrast: 0.0,
            disc_prominence: 0.0,
            disc_centre: (0.5, 0.5),
        };
    }
    let n = w * h;
    let lum: Vec<f32> = (0..n)
        .map(|i| 0.299 * s.r[i] + 0.587 * s.g[i] + 0.114 * s.b[i])
        .collect();

    // The field: lit pixels, against the camera's black surround. The threshold follows the
    // image's own brightness so that an underexposed field is still found (and then called
    // dark, not missing).
    let mut sorted: Vec<f32> = lum.iter().step_by(7).copied().collect();
    sorted.sort_by(f32::total_cmp);
    let p99 = sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)];
    let threshold = (0.12 * p99).clamp(4.0, 25.0);
    let mask: Vec<bool> = lum.iter().map(|v| *v > threshold).collect();
    let area = mask.iter().filter(|m| **m).count();

    // Fit a circle to the field's border points that are not on the image edge (Kåsa fit).
    let (mut sx, mut sy, mut sxx, mut syy, mut sxy, mut sz, mut sxz, mut syz, mut k) =
        (0f64, 0f64, 0f64, 0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            if mask[i] && (!mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w]) {
                let (xf, yf) = (x as f64, y as f64);
                let z = xf * xf + yf * yf;
                sx += xf;
                sy += yf;
                sxx += xf * xf;
                syy += yf * yf;
                sxy += xf * yf;
                sz += z;
                sxz += xf * z;
                syz += yf * z;
                k += 1.0;
            }
        }
    }
    let circle = solve3(
        [[sxx, sxy, sx], [sxy, syy, sy], [sx, sy, k]],
        [sxz, syz, sz],
    )
    .and_then(|[a, b, c]| {
        let (cx, cy) = (a / 2.0, b / 2.0);
        let r2 = c + cx * cx + cy * cy;
        (r2 > 0.0).then(|| (cx, cy, r2.sqrt()))
    });
    let (field_fraction, centre_offset, radius) = match circle {
        Some((cx, cy, r)) if k >= 20.0 && r > 0.05 * w as f64 => {
            let full = std::f64::consts::PI * r * r;
            let offset = ((cx - w as f64 / 2.0).powi(2) + (cy - h as f64 / 2.0).powi(2)).sqrt() / r;
            ((area as f64 / full).min(1.0), offset, r)
        }
        _ => (0.0, f64::INFINITY, 0.0),
    };

    // Inside the field, away from its rim (the rim is dark and sharp by construction).
    let inner = erode(&mask, w, h, (w / 60).max(2));
    let count = inner.iter().filter(|m| **m).count().max(1) as f64;
    let mean = |c: &[f32]| -> f64 {
        c.iter()
            .zip(&inner)
            .filter(|(_, m)| **m)
            .map(|(v, _)| *v as f64)
            .sum::<f64>()
            / count
    };
    let mean_lum = mean(&lum);
    let mean_g = mean(&s.g).max(1e-3);
    let var_g =
        s.g.iter()
            .zip(&inner)
            .filter(|(_, m)| **m)
            .map(|(v, _)| (*v as f64 - mean_g).powi(2))
            .sum::<f64>()
            / count;
    let saturated =
        s.g.iter()
            .zip(&inner)
            .filter(|(v, m)| **m && **v >= 250.0)
            .count() as f64
            / count;

    let sharpness = crete_sharpness(&s.g, &inner, w, h);

    // Illumination evenness over a 3×3 grid of the field's bounding square.
    let ratio = if radius > 0.0 {
        let (cx, cy) = circle.map_or((0.0, 0.0), |c| (c.0, c.1));
        let mut cells = [(0f64, 0usize); 9];
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                if inner[i] {
                    let u = (((x as f64 - cx) / radius + 1.0) * 1.5).floor();
                    let v = (((y as f64 - cy) / radius + 1.0) * 1.5).floor();
                    if (0.0..3.0).contains(&u) && (0.0..3.0).contains(&v) {
                        let c = &mut cells[v as usize * 3 + u as usize];
                        c.0 += lum[i] as f64;
                        c.1 += 1;
                    }
                }
            }
        }
        let cell_min = (w * h / 200).max(10);
        let means: Vec<f64> = cells
            .iter()
            .filter(|c| c.1 >= cell_min)
            .map(|c| c.0 / c.1 as f64)
            .collect();
        let hi = means.iter().copied().fold(0.0, f64::max);
        let lo = means.iter().copied().fold(f64::INFINITY, f64::min);
        if means.len() >= 2 && lo > 0.0 {
            hi / lo
        } else {
            f64::INFINITY
        }
    } else {
        f64::INFINITY
    };

    // Optic disc: the brightest disc-sized blob of the field.
    let box_radius = ((radius / 8.0) as usize).max(3);
    let (disc, peak) = brightest_box(&lum, &inner, w, h, box_radius);
    let mut field_lum: Vec<f32> = lum
        .iter()
        .zip(&inner)
        .filter(|(_, m)| **m)
        .map(|(v, _)| *v)
        .step_by(3)
        .collect();
    field_lum.sort_by(f32::total_cmp);
    let median = field_lum
        .get(field_lum.len() / 2)
        .copied()
        .unwrap_or(0.0)
        .max(1.0) as f64;

    FundusMeasures {
        field_fraction,
        centre_offset,
        brightness: mean_lum / 255.0,
        saturated_fraction: saturated,
        illumination_ratio: ratio,
        sharpness,
        contrast: var_g.sqrt() / mean_g,
        disc_prominence: peak / median,
        disc_centre: (disc.0 as f64 / w as f64, disc.1 as f64 / h as f64),
    }
}

/// Crete et al.'s no-reference blur metric, as sharpness (1 − blur), the lesser of the
/// horizontal and vertical values, over the masked pixels.
fn crete_sharpness(c: &[f32], mask: &[bool], w: usize, h: usize) -> f64 {
    const R: usize = 4; // 9-tap box
    let mut out = f64::INFINITY;
    for vertical in [false, true] {
        let (len, lines) = if vertical { (h, w) } else { (w, h) };
        let at = |line: usize, i: usize| {
            if vertical { i * w + line } else { line * w + i }
        };
        let (mut sum_d, mut sum_v) = (0f64, 0f64);
        let mut blurred = vec![0f32; len];
        for line in 0..lines {
            let mut acc = 0f32;
            for i in 0..len.min(2 * R + 1) {
                acc += c[at(line, i)];
            }
            for (i, b) in blurred
                .iter_mut()
                .enumerate()
                .take(len.saturating_sub(R))
                .skip(R)
            {
                *b = acc / (2 * R + 1) as f32;
                if i + R + 1 < len {
                    acc += c[at(line, i + R + 1)] - c[at(line, i - R)];
                }
            }
            for i in R + 1..len.saturating_sub(R) {
                let (p, q) = (at(line, i), at(line, i - 1));
                if mask[p] && mask[q] {
                    let d_f = (c[p] - c[q]).abs() as f64;
                    let d_b = (blurred[i] - blurred[i - 1]).abs() as f64;
                    sum_d += d_f;
                    sum_v += (d_f - d_b).max(0.0);
                }
            }
        }
        if sum_d > 0.0 {
            out = out.min(sum_v / sum_d);
        } else {
            out = 0.0;
        }
    }
    if out.is_finite() { out } else { 0.0 }
}

/// Solves a 3×3 linear system by Cramer's rule.
fn solve3(m: [[f64; 3]; 3], v: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(m);
    if d.abs() < 1e-9 {
        return None;
    }
    let mut out = [0.0; 3];
    for (col, slot) in out.iter_mut().enumerate() {
        let mut mc = m;
        for row in 0..3 {
            mc[row][col] = v[row];
        }
        *slot = det(mc) / d;
    }
    Some(out)
}

/// Erodes a mask by a square of half-size `r` (separable min filter via running counts).
fn erode(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    let run = |line: &[bool]| -> Vec<bool> {
        let n = line.len();
        let mut prefix = vec![0u32; n + 1];
        for (i, m) in line.iter().enumerate() {
            prefix[i + 1] = prefix[i] + u32::from(*m);
        }
        (0..n)
            .map(|i| {
                let (a, b) = (i.saturating_sub(r), (i + r + 1).min(n));
                prefix[b] - prefix[a] == (b - a) as u32 && i >= r && i + r < n
            })
            .collect()
    };
    let mut rows = vec![false; w * h];
    for y in 0..h {
        let out = run(&mask[y * w..(y + 1) * w]);
        rows[y * w..(y + 1) * w].copy_from_slice(&out);
    }
    let mut out = vec![false; w * h];
    let mut column = vec![false; h];
    for x in 0..w {
        for y in 0..h {
            column[y] = rows[y * w + x];
        }
        for (y, v) in run(&column).into_iter().enumerate() {
            out[y * w + x] = v;
        }
    }
    out
}

/// The centre and mean of the brightest `(2r+1)²` box whose centre lies in the mask.
fn brightest_box(
    lum: &[f32],
    mask: &[bool],
    w: usize,
    h: usize,
    r: usize,
) -> ((usize, usize), f64) {
    // summed-area table
    let mut sat = vec![0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0f64;
        for x in 0..w {
            row += lum[y * w + x] as f64;
            sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + row;
        }
    }
    let mut best = ((w / 2, h / 2), 0f64);
    for y in r..h.saturating_sub(r) {
        for x in r..w.saturating_sub(r) {
            if !mask[y * w + x] {
                continue;
            }
            let (x0, y0, x1, y1) = (x - r, y - r, x + r + 1, y + r + 1);
            let sum = sat[y1 * (w + 1) + x1] - sat[y0 * (w + 1) + x1] - sat[y1 * (w + 1) + x0]
                + sat[y0 * (w + 1) + x0];
            let mean = sum / ((2 * r + 1) * (2 * r + 1)) as f64;
            if mean > best.1 {
                best = ((x, y), mean);
            }
        }
    }
    best
}

/// Applies the fundus rules to measures and grades the photograph: any failing rule →
/// Reject, any warning → Usable, otherwise Good.
pub fn check(ctx: &Context<'_>, subject: &str, m: &FundusMeasures) -> Report {
    let mut report = Report::new(Level::Instance, subject);
    let rule = |id: &str| ctx.rules.active(id, Some("OP"));
    let pct = |v: f64| format!("{}%", num((v * 1000.0).round() / 10.0));
    let r3 = |v: f64| num((v * 1000.0).round() / 1000.0);

    if let Some(r) = rule("fundus.field-of-view") {
        let (min_f, max_o) = (
            r.threshold("min_field_fraction"),
            r.threshold("max_centre_offset"),
        );
        let ok = m.field_fraction > min_f && m.centre_offset <= max_o;
        report.checks.push(Check::new(
            r,
            ok,
            Some(format!(
                "{} of the field in view, centre offset {} radius",
                pct(m.field_fraction),
                if m.centre_offset.is_finite() {
                    r3(m.centre_offset)
                } else {
                    "unknown".into()
                }
            )),
            Some(format!("> {} in view, offset <= {}", pct(min_f), r3(max_o))),
            if ok {
                "field of view found and centred"
            } else if m.field_fraction == 0.0 {
                "no fundus field found"
            } else {
                "field of view cut off or off centre"
            },
        ));
    }
    if let Some(r) = rule("fundus.too-dark") {
        let min = r.threshold("min_brightness");
        let ok = m.brightness >= min;
        report.checks.push(Check::new(
            r,
            ok,
            Some(format!("mean brightness {}", r3(m.brightness))),
            Some(format!(">= {}", r3(min))),
            if ok {
                "illumination sufficient"
            } else {
                "too dark"
            },
        ));
    }
    if let Some(r) = rule("fundus.over-exposed") {
        let max = r.threshold("max_saturated_fraction");
        let ok = m.saturated_fraction <= max;
        report.checks.push(Check::new(
            r,
            ok,
            Some(format!(
                "{} of the field saturated",
                pct(m.saturated_fraction)
            )),
            Some(format!("<= {}", pct(max))),
            if ok {
                "not washed out"
            } else {
                "over-exposed: washed out"
            },
        ));
    }
    if let Some(r) = rule("fundus.uneven-illumination") {
        let max = r.threshold("max_ratio");
        let ok = m.illumination_ratio <= max;
        report.checks.push(Check::new(
            r,
            ok,
            Some(format!(
                "brightest/darkest region {}",
                r3(m.illumination_ratio)
            )),
            Some(format!("<= {}", r3(max))),
            if ok {
                "illumination even"
            } else {
                "uneven illumination"
            },
        ));
    }
    if let Some(r) = rule("fundus.focus") {
        let min = r.threshold("min_sharpness");
        let ok = m.sharpness >= min;
        report.checks.push(Check::new(
            r,
            ok,
            Some(format!("sharpness {}", r3(m.sharpness))),
            Some(format!(">= {}", r3(min))),
            if ok {
                "in focus"
            } else {
                "blurred: small vessels not defined"
            },
        ));
    }
    if let Some(r) = rule("fundus.contrast") {
        let min = r.threshold("min_contrast");
        let ok = m.contrast >= min;
        report.checks.push(Check::new(
            r,
            ok,
            Some(format!("contrast {}", r3(m.contrast))),
            Some(format!(">= {}", r3(min))),
            if ok {
                "contrast sufficient"
            } else {
                "low contrast"
            },
        ));
    }
    if let Some(r) = rule("fundus.optic-disc") {
        let min = r.threshold("min_prominence");
        let ok = m.disc_prominence >= min;
        report.checks.push(Check::new(
            r,
            ok,
            Some(format!(
                "brightest disc-sized region {} x the field median at ({}, {})",
                r3(m.disc_prominence),
                r3(m.disc_centre.0),
                r3(m.disc_centre.1)
            )),
            Some(format!(">= {}", r3(min))),
            if ok {
                "optic disc visible"
            } else {
                "optic disc not found"
            },
        ));
    }
    for (name, value) in [
        ("field_fraction", m.field_fraction),
        ("centre_offset", m.centre_offset),
        ("brightness", m.brightness),
        ("saturated_fraction", m.saturated_fraction),
        ("illumination_ratio", m.illumination_ratio),
        ("sharpness", m.sharpness),
        ("contrast", m.contrast),
        ("disc_prominence", m.disc_prominence),
        ("quality_score", quality_score(ctx, m)),
    ] {
        if value.is_finite() {
            report
                .measurements
                .insert(name.into(), (value * 10000.0).round() / 10000.0);
        }
    }
    report.grade = Some(match report.outcome() {
        Status::Fail => Grade::Reject,
        Status::Warning => Grade::Usable,
        Status::Pass | Status::Info => Grade::Good,
    });
    report
}

/// One number for gradability: the smallest margin of the failing-severity measures to their
/// thresholds (measured / threshold for minimums, threshold / measured for maximums). Below 1
/// some measure is past its threshold. Used to rank photographs and for ROC analysis.
pub fn quality_score(ctx: &Context<'_>, m: &FundusMeasures) -> f64 {
    let t = |id: &str, name: &str| ctx.rules.get(id).map_or(f64::NAN, |r| r.threshold(name));
    let ratio_min = |v: f64, th: f64| if th > 0.0 { v / th } else { f64::INFINITY };
    let ratio_max = |v: f64, th: f64| {
        if v <= 0.0 { f64::INFINITY } else { th / v }
    };
    [
        ratio_min(
            m.field_fraction,
            t("fundus.field-of-view", "min_field_fraction"),
        ),
        ratio_max(
            m.centre_offset,
            t("fundus.field-of-view", "max_centre_offset"),
        ),
        ratio_min(m.brightness, t("fundus.too-dark", "min_brightness")),
        ratio_max(
            m.saturated_fraction,
            t("fundus.over-exposed", "max_saturated_fraction"),
        ),
        ratio_min(m.sharpness, t("fundus.focus", "min_sharpness")),
        ratio_min(m.contrast, t("fundus.contrast", "min_contrast")),
    ]
    .into_iter()
    .filter(|v| !v.is_nan())
    .fold(f64::INFINITY, f64::min)
    .min(10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circle_fit_recovers_a_synthetic_field() {
        // a lit disc of radius 300 centred at (500, 350) in a 1000x700 image, with texture
        let mut img = RgbImage::new(1000, 700);
        for (x, y, p) in img.enumerate_pixels_mut() {
            let (dx, dy) = (x as f64 - 500.0, y as f64 - 350.0);
            if dx * dx + dy * dy < 300.0 * 300.0 {
                let v = 120 + ((x / 3 + y / 5) % 40) as u8;
                *p = image::Rgb([v + 60, v, v / 2]);
            }
        }
        let m = measure(&img);
        assert!(m.field_fraction > 0.95, "{m:?}");
        assert!(m.centre_offset < 0.02, "{m:?}");
    }

    #[test]
    fn a_tiny_or_black_image_is_rejected_not_a_panic() {
        let rules = crate::RuleSet::default();
        let ctx = Context::now(&rules);
        for (w, h) in [(1, 1), (10, 300), (400, 300)] {
            let m = measure(&RgbImage::new(w, h));
            let r = check(&ctx, "x", &m);
            assert_eq!(r.grade, Some(Grade::Reject), "{w}x{h}");
            assert_eq!(
                r.check("fundus.field-of-view").unwrap().status,
                Status::Fail
            );
        }
    }

    /// Every fundus rule at and just past its threshold, and the grade that follows.
    #[test]
    fn threshold_boundaries_and_grades() {
        let rules = crate::RuleSet::default();
        let ctx = Context::now(&rules);
        let good = FundusMeasures {
            field_fraction: 0.92,
            centre_offset: 0.1,
            brightness: 0.35,
            saturated_fraction: 0.0,
            illumination_ratio: 1.5,
            sharpness: 0.74,
            contrast: 0.25,
            disc_prominence: 1.6,
            disc_centre: (0.2, 0.5),
        };
        let r = check(&ctx, "x", &good);
        assert_eq!((r.outcome(), r.grade), (Status::Pass, Some(Grade::Good)));
        type Case = (&'static str, fn(&mut FundusMeasures), Status, Grade);
        let cases: [Case; 14] = [
            (
                "fundus.field-of-view",
                |m| m.field_fraction = 0.7501,
                Status::Pass,
                Grade::Good,
            ),
            (
                "fundus.field-of-view",
                |m| m.field_fraction = 0.75,
                Status::Fail,
                Grade::Reject,
            ),
            (
                "fundus.field-of-view",
                |m| m.centre_offset = 0.5,
                Status::Pass,
                Grade::Good,
            ),
            (
                "fundus.field-of-view",
                |m| m.centre_offset = 0.51,
                Status::Fail,
                Grade::Reject,
            ),
            (
                "fundus.too-dark",
                |m| m.brightness = 0.10,
                Status::Pass,
                Grade::Good,
            ),
            (
                "fundus.too-dark",
                |m| m.brightness = 0.099,
                Status::Fail,
                Grade::Reject,
            ),
            (
                "fundus.over-exposed",
                |m| m.saturated_fraction = 0.10,
                Status::Pass,
                Grade::Good,
            ),
            (
                "fundus.over-exposed",
                |m| m.saturated_fraction = 0.101,
                Status::Fail,
                Grade::Reject,
            ),
            (
                "fundus.focus",
                |m| m.sharpness = 0.55,
                Status::Pass,
                Grade::Good,
            ),
            (
                "fundus.focus",
                |m| m.sharpness = 0.549,
                Status::Fail,
                Grade::Reject,
            ),
            (
                "fundus.contrast",
                |m| m.contrast = 0.079,
                Status::Fail,
                Grade::Reject,
            ),
            (
                "fundus.uneven-illumination",
                |m| m.illumination_ratio = 4.01,
                Status::Warning,
                Grade::Usable,
            ),
            (
                "fundus.optic-disc",
                |m| m.disc_prominence = 1.2,
                Status::Pass,
                Grade::Good,
            ),
            (
                "fundus.optic-disc",
                |m| m.disc_prominence = 1.19,
                Status::Warning,
                Grade::Usable,
            ),
        ];
        for (rule, change, status, grade) in cases {
            let mut m = good;
            change(&mut m);
            let r = check(&ctx, "x", &m);
            assert_eq!(r.check(rule).unwrap().status, status, "{rule} {m:?}");
            assert_eq!(r.grade, Some(grade), "{rule} {m:?}");
            assert_eq!(r.grade.unwrap().is_gradable(), grade != Grade::Reject);
            let score = r.measurements["quality_score"];
            // the score falls below 1 with every rejection past a threshold (at exactly 3/4
            // of the field seen, the rubric rejects while the margin is exactly 1)
            if grade != Grade::Reject {
                assert!(score >= 1.0, "{rule} score {score}");
            } else if m.field_fraction != 0.75 {
                assert!(score < 1.0, "{rule} score {score}");
            }
        }
    }

    #[test]
    fn solve3_solves() {
        let x = solve3(
            [[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [1.0, 1.0, 1.0]],
            [2.0, 6.0, 6.0],
        )
        .unwrap();
        assert_eq!(x, [1.0, 2.0, 3.0]);
    }
}
