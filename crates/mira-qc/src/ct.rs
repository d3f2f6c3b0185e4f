//! CT series completeness and protocol: slices sorted along the slice normal; gaps,
//! duplicates, orientation, spacing uniformity, gantry tilt; thickness, reconstruction
//! interval, kVp and CTDIvol against the low-dose lung screening protocol.
//!
//! Spacing is derived from Image Position (Patient) projected on the normal of Image
//! Orientation (Patient), never from Spacing Between Slices or Slice Location
//! (clinical-rules.md 3.3). LDCT criteria: ACR–AAPM lung cancer screening protocols
//! (PMC6350468): section thickness ≤ 2.5 mm, reconstruction interval ≤ thickness, 100–140 kVp,
//! CTDIvol ≤ 3.0 mGy for a standard-size patient (also the CMS coverage decision, PMC9675046).

use crate::header::Header;
use crate::instance::Context;
use crate::report::{Check, Level, Report, num};

type V3 = [f64; 3];

fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn norm(a: V3) -> f64 {
    dot(a, a).sqrt()
}

fn angle_deg(a: V3, b: V3) -> f64 {
    let c = (dot(a, b) / (norm(a) * norm(b))).clamp(-1.0, 1.0);
    c.acos().to_degrees()
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Checks a CT series: `slices` are the headers of its instances, in any order.
pub fn check_series(ctx: &Context<'_>, subject: &str, slices: &[&Header]) -> Report {
    let mut report = Report::new(Level::Series, subject);
    let rules = ctx.rules;
    let rule = |id: &str| rules.active(id, Some("CT"));
    report
        .measurements
        .insert("slice_count".into(), slices.len() as f64);

    let geometric: Vec<(V3, [f64; 6], &Header)> = slices
        .iter()
        .filter_map(|h| Some((h.image_position?, h.image_orientation?, *h)))
        .collect();
    let missing_geometry = slices.len() - geometric.len();
    if let Some(r) = rule("ct.geometry-present") {
        report.checks.push(Check::new(
            r,
            missing_geometry == 0 && !slices.is_empty(),
            Some(format!(
                "{missing_geometry} of {} slices without position or orientation",
                slices.len()
            )),
            Some("every slice".into()),
            if missing_geometry == 0 {
                "every slice has Image Position and Orientation (Patient)"
            } else {
                "slices without geometry cannot be placed in the volume"
            },
        ));
    }
    let Some(&(_, reference, _)) = geometric.first() else {
        return report;
    };
    let row_ref: V3 = [reference[0], reference[1], reference[2]];
    let col_ref: V3 = [reference[3], reference[4], reference[5]];
    let normal = cross(row_ref, col_ref);
    if norm(normal) < 1e-6 {
        if let Some(r) = rule("ct.orientation") {
            report.checks.push(Check::new(
                r,
                false,
                Some("row and column cosines are parallel".into()),
                Some("orthogonal unit vectors".into()),
                "Image Orientation (Patient) is degenerate",
            ));
        }
        return report;
    }
    let normal = normal.map(|v| v / norm(normal));

    if let Some(r) = rule("ct.orientation") {
        let max_deg = r.threshold("max_deg");
        let worst = geometric
            .iter()
            .map(|(_, o, _)| {
                let row: V3 = [o[0], o[1], o[2]];
                let col: V3 = [o[3], o[4], o[5]];
                angle_deg(row, row_ref).max(angle_deg(col, col_ref))
            })
            .fold(0.0, f64::max);
        report.checks.push(Check::new(
            r,
            worst <= max_deg,
            Some(format!("{} deg", num(round(worst, 3)))),
            Some(format!("<= {} deg between slices", num(max_deg))),
            if worst <= max_deg {
                "all slices share one orientation"
            } else {
                "slices have different orientations"
            },
        ));
    }

    let mut sorted: Vec<(f64, &Header)> = geometric
        .iter()
        .map(|(p, _, h)| (dot(*p, normal), *h))
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let diffs: Vec<f64> = sorted.windows(2).map(|w| w[1].0 - w[0].0).collect();

    let min_distance = rule("ct.duplicates").map_or(0.01, |r| r.threshold("min_distance_mm"));
    let duplicates = diffs.iter().filter(|d| **d < min_distance).count();
    if let Some(r) = rule("ct.duplicates")
        && sorted.len() >= 2
    {
        report.checks.push(Check::new(
            r,
            duplicates == 0,
            Some(format!("{duplicates} duplicate position(s)")),
            Some(format!(
                "slices at least {} mm apart",
                num(r.threshold("min_distance_mm"))
            )),
            if duplicates == 0 {
                "no duplicate slices"
            } else {
                "slices share a position"
            },
        ));
    }

    let mut steps: Vec<f64> = diffs
        .iter()
        .copied()
        .filter(|d| *d >= min_distance)
        .collect();
    let nominal = median(&mut steps);
    if let Some(spacing) = nominal {
        report
            .measurements
            .insert("spacing_mm".into(), round(spacing, 4));
        report.measurements.insert(
            "extent_mm".into(),
            round(sorted[sorted.len() - 1].0 - sorted[0].0, 3),
        );
    }
    let mut thicknesses: Vec<f64> = slices.iter().filter_map(|h| h.slice_thickness).collect();
    let thickness = median(&mut thicknesses);
    if let Some(t) = thickness {
        report
            .measurements
            .insert("slice_thickness_mm".into(), round(t, 4));
    }

    if let (Some(r), Some(spacing)) = (rule("ct.gaps"), nominal) {
        let ratio = r.threshold("max_ratio");
        let mut gaps = 0;
        let mut missing = 0i64;
        let mut largest = 0.0f64;
        for d in diffs.iter().filter(|d| **d >= min_distance) {
            largest = largest.max(*d);
            if *d > ratio * spacing {
                gaps += 1;
                missing += ((d / spacing).round() as i64 - 1).max(1);
            }
        }
        report
            .measurements
            .insert("missing_slices".into(), missing as f64);
        report.checks.push(Check::new(
            r,
            gaps == 0,
            Some(format!(
                "largest step {} mm; {gaps} gap(s), about {missing} slice(s) missing",
                num(round(largest, 3))
            )),
            Some(format!(
                "steps <= {} x {} mm",
                num(ratio),
                num(round(spacing, 3))
            )),
            if gaps == 0 {
                "no missing slices"
            } else {
                "slices are missing"
            },
        ));
    }

    if let (Some(r), Some(spacing)) = (rule("ct.spacing-uniform"), nominal) {
        let tol = r.threshold("tolerance_mm");
        let worst = diffs
            .iter()
            .map(|d| (d - spacing).abs())
            .fold(0.0, f64::max);
        report.checks.push(Check::new(
            r,
            worst <= tol,
            Some(format!("max deviation {} mm", num(round(worst, 4)))),
            Some(format!("{} +/- {} mm", num(round(spacing, 4)), num(tol))),
            if worst <= tol {
                "uniform slice spacing"
            } else {
                "non-uniform slice spacing"
            },
        ));
    }

    if let Some(r) = rule("ct.gantry-tilt") {
        let max_deg = r.threshold("max_deg");
        let declared = slices
            .iter()
            .filter_map(|h| h.gantry_tilt)
            .map(f64::abs)
            .fold(0.0, f64::max);
        let geometric_tilt = if sorted.len() >= 2 {
            let first = geometric
                .iter()
                .find(|(_, _, h)| std::ptr::eq(*h, sorted[0].1))
                .map(|g| g.0);
            let last = geometric
                .iter()
                .find(|(_, _, h)| std::ptr::eq(*h, sorted[sorted.len() - 1].1))
                .map(|g| g.0);
            match (first, last) {
                (Some(a), Some(b)) => {
                    let v = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
                    if norm(v) > 1e-6 {
                        let a = angle_deg(v, normal);
                        a.min(180.0 - a)
                    } else {
                        0.0
                    }
                }
                _ => 0.0,
            }
        } else {
            0.0
        };
        let tilt = declared.max(geometric_tilt);
        report
            .measurements
            .insert("tilt_deg".into(), round(tilt, 3));
        report.checks.push(Check::new(
            r,
            tilt <= max_deg,
            Some(format!(
                "{} deg (declared {}, from positions {})",
                num(round(tilt, 3)),
                num(round(declared, 3)),
                num(round(geometric_tilt, 3))
            )),
            Some(format!("<= {} deg", num(max_deg))),
            if tilt <= max_deg {
                "no gantry tilt"
            } else {
                "gantry tilt"
            },
        ));
    }

    if let (Some(r), Some(spacing), Some(t)) =
        (rule("ct.interval-vs-thickness"), nominal, thickness)
    {
        let tol = r.threshold("tolerance_mm");
        report.checks.push(Check::new(
            r,
            spacing <= t + tol,
            Some(format!(
                "interval {} mm, thickness {} mm",
                num(round(spacing, 3)),
                num(t)
            )),
            Some("interval <= thickness".into()),
            if spacing <= t + tol {
                "slices contiguous or overlapping"
            } else {
                "anatomy between slices is not imaged"
            },
        ));
    }

    let first = slices.first();
    let is_ldct = rules.protocol("ldct").is_some_and(|p| {
        slices.iter().any(|h| {
            p.matches([
                h.protocol_name.as_deref(),
                h.series_description.as_deref(),
                h.study_description.as_deref(),
            ])
        })
    });
    report
        .measurements
        .insert("ldct_protocol".into(), if is_ldct { 1.0 } else { 0.0 });
    let mut ctdi: Vec<f64> = slices.iter().filter_map(|h| h.ctdi_vol).collect();
    let ctdi_mean = (!ctdi.is_empty()).then(|| ctdi.iter().sum::<f64>() / ctdi.len() as f64);
    if let Some(c) = ctdi_mean {
        report
            .measurements
            .insert("ctdivol_mgy".into(), round(c, 3));
    }
    let mut kvps: Vec<f64> = slices.iter().filter_map(|h| h.kvp).collect();
    let kvp = median(&mut kvps);
    ctdi.clear();
    if !is_ldct {
        return report;
    }
    if let (Some(r), Some(t)) = (rule("ct.ldct.thickness"), thickness) {
        let max = r.threshold("max_mm");
        report.checks.push(Check::new(
            r,
            t <= max,
            Some(format!("{} mm", num(t))),
            Some(format!("<= {} mm", num(max))),
            if t <= max {
                "thin enough for screening"
            } else {
                "slices too thick for lung screening"
            },
        ));
    }
    if let (Some(r), Some(spacing), Some(t)) = (rule("ct.ldct.interval"), nominal, thickness) {
        let tol = r.threshold("tolerance_mm");
        report.checks.push(Check::new(
            r,
            spacing <= t + tol,
            Some(format!("{} mm", num(round(spacing, 3)))),
            Some(format!("<= thickness {} mm", num(t))),
            if spacing <= t + tol {
                "reconstruction interval within the thickness"
            } else {
                "reconstruction interval larger than the thickness"
            },
        ));
    }
    if let (Some(r), Some(kv)) = (rule("ct.ldct.kvp"), kvp) {
        let (lo, hi) = (r.threshold("min_kv"), r.threshold("max_kv"));
        let ok = (lo..=hi).contains(&kv);
        report.checks.push(Check::new(
            r,
            ok,
            Some(format!("{} kV", num(kv))),
            Some(format!("{}-{} kV", num(lo), num(hi))),
            if ok {
                "tube voltage within the screening range"
            } else {
                "tube voltage outside the screening range"
            },
        ));
    }
    if let (Some(r), Some(c)) = (rule("ct.ldct.ctdivol"), ctdi_mean) {
        let max = r.threshold("max_mgy");
        let weight = first.and_then(|h| h.patient_weight);
        let (lo, hi) = (
            r.threshold("standard_weight_min_kg"),
            r.threshold("standard_weight_max_kg"),
        );
        let standard = weight.is_none_or(|w| (lo..=hi).contains(&w));
        let mut check = Check::new(
            r,
            c <= max,
            Some(format!("{} mGy", num(round(c, 2)))),
            Some(format!("<= {} mGy", num(max))),
            if c <= max {
                "dose within the screening limit"
            } else {
                "dose above the screening limit"
            },
        );
        if !standard && c > max {
            // the limit is for a standard-size patient: report, do not fail
            check.status = crate::Status::Info;
            check.message = format!(
                "dose above the standard-size limit, patient weight {} kg outside {}-{} kg",
                num(weight.unwrap_or(0.0)),
                num(lo),
                num(hi)
            );
        }
        report.checks.push(check);
    }
    report
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status::{self, *};
    use crate::rules::RuleSet;

    fn slice(z: f64) -> Header {
        Header {
            modality: Some("CT".into()),
            image_position: Some([-250.0, -250.0, z]),
            image_orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            slice_thickness: Some(1.0),
            ..Header::default()
        }
    }

    fn run(slices: &[Header]) -> Report {
        let rules = RuleSet::default();
        let refs: Vec<&Header> = slices.iter().collect();
        check_series(&Context::now(&rules), "s", &refs)
    }

    fn status(r: &Report, rule: &str) -> Option<Status> {
        r.check(rule).map(|c| c.status)
    }

    #[test]
    fn a_regular_stack_passes_in_any_order() {
        let mut slices: Vec<Header> = (0..50).map(|i| slice(i as f64 * 0.8)).collect();
        slices.reverse();
        slices.swap(3, 40);
        let r = run(&slices);
        assert_eq!(r.outcome(), Pass, "{:#?}", r.findings().collect::<Vec<_>>());
        assert_eq!(r.measurements["spacing_mm"], 0.8);
        assert_eq!(r.measurements["slice_count"], 50.0);
    }

    #[test]
    fn gap_boundaries() {
        // nominal 1 mm; a step of exactly 1.5 x is allowed, beyond is a gap
        for (step, expected, missing) in [(1.5, Pass, 0.0), (1.51, Fail, 1.0), (3.0, Fail, 2.0)] {
            let mut z: Vec<f64> = (0..10).map(|i| i as f64).collect();
            for v in z.iter_mut().skip(5) {
                *v += step - 1.0;
            }
            let r = run(&z.iter().map(|z| slice(*z)).collect::<Vec<_>>());
            assert_eq!(status(&r, "ct.gaps"), Some(expected), "step {step}");
            assert_eq!(r.measurements["missing_slices"], missing, "step {step}");
        }
    }

    #[test]
    fn duplicates_spacing_and_orientation() {
        let mut s: Vec<Header> = (0..10).map(|i| slice(i as f64)).collect();
        s.push(slice(4.005));
        let r = run(&s);
        assert_eq!(status(&r, "ct.duplicates"), Some(Fail));
        let mut s: Vec<Header> = (0..10).map(|i| slice(i as f64)).collect();
        s.push(slice(10.011));
        assert_eq!(status(&run(&s), "ct.spacing-uniform"), Some(Warning));
        let mut s: Vec<Header> = (0..10).map(|i| slice(i as f64)).collect();
        s.push(slice(10.01));
        assert_eq!(status(&run(&s), "ct.spacing-uniform"), Some(Pass));
        let mut s: Vec<Header> = (0..10).map(|i| slice(i as f64)).collect();
        let a = 1.0f64.to_radians();
        s[3].image_orientation = Some([1.0, 0.0, 0.0, 0.0, a.cos(), a.sin()]);
        assert_eq!(status(&run(&s), "ct.orientation"), Some(Fail));
        s[3].image_orientation = Some([
            1.0,
            0.0,
            0.0,
            0.0,
            0.4f64.to_radians().cos(),
            0.4f64.to_radians().sin(),
        ]);
        assert_eq!(status(&run(&s), "ct.orientation"), Some(Pass));
    }

    #[test]
    fn interval_against_thickness_boundaries() {
        // thickness 1 mm; an interval up to 1 mm + 0.01 mm tolerance is contiguous
        for (spacing, expected) in [(1.0, Pass), (1.01, Pass), (1.02, Warning), (0.5, Pass)] {
            let s: Vec<Header> = (0..10).map(|i| slice(i as f64 * spacing)).collect();
            let r = run(&s);
            assert_eq!(
                status(&r, "ct.interval-vs-thickness"),
                Some(expected),
                "{spacing}"
            );
        }
        // without a thickness the rule has nothing to compare
        let mut s: Vec<Header> = (0..10).map(|i| slice(i as f64)).collect();
        s.iter_mut().for_each(|h| h.slice_thickness = None);
        assert_eq!(status(&run(&s), "ct.interval-vs-thickness"), None);
    }

    #[test]
    fn gantry_tilt_from_positions_and_header() {
        // slices stacked along z but shifted in y: a tilted acquisition
        let t = 10f64.to_radians().tan();
        let s: Vec<Header> = (0..10)
            .map(|i| {
                let mut h = slice(i as f64);
                h.image_position = Some([-250.0, -250.0 + i as f64 * t, i as f64]);
                h
            })
            .collect();
        let r = run(&s);
        assert_eq!(status(&r, "ct.gantry-tilt"), Some(Warning));
        assert!((r.measurements["tilt_deg"] - 10.0).abs() < 0.01);
        let mut s: Vec<Header> = (0..10).map(|i| slice(i as f64)).collect();
        s[0].gantry_tilt = Some(0.5);
        assert_eq!(status(&run(&s), "ct.gantry-tilt"), Some(Pass));
        s[0].gantry_tilt = Some(-0.6);
        assert_eq!(status(&run(&s), "ct.gantry-tilt"), Some(Warning));
    }

    fn ldct(thickness: f64, spacing: f64, kvp: f64, ctdi: f64, weight: Option<f64>) -> Report {
        let s: Vec<Header> = (0..20)
            .map(|i| {
                let mut h = slice(i as f64 * spacing);
                h.slice_thickness = Some(thickness);
                h.kvp = Some(kvp);
                h.ctdi_vol = Some(ctdi);
                h.patient_weight = weight;
                h.protocol_name = Some("Thorax LDCT Screening".into());
                h
            })
            .collect();
        run(&s)
    }

    #[test]
    fn ldct_protocol_boundaries() {
        // thickness, spacing, kVp, CTDIvol, weight, rule, expected
        type Case = (f64, f64, f64, f64, Option<f64>, &'static str, Status);
        let cases: [Case; 16] = [
            (2.5, 2.5, 120.0, 3.0, None, "ct.ldct.thickness", Pass),
            (2.6, 2.5, 120.0, 3.0, None, "ct.ldct.thickness", Fail),
            (1.0, 1.0, 120.0, 3.0, None, "ct.ldct.interval", Pass),
            (1.0, 1.25, 120.0, 3.0, None, "ct.ldct.interval", Fail),
            (1.0, 0.7, 100.0, 3.0, None, "ct.ldct.kvp", Pass),
            (1.0, 0.7, 140.0, 3.0, None, "ct.ldct.kvp", Pass),
            (1.0, 0.7, 80.0, 3.0, None, "ct.ldct.kvp", Warning),
            (1.0, 0.7, 150.0, 3.0, None, "ct.ldct.kvp", Warning),
            (1.0, 0.7, 120.0, 3.0, None, "ct.ldct.ctdivol", Pass),
            (1.0, 0.7, 120.0, 3.01, None, "ct.ldct.ctdivol", Fail),
            (1.0, 0.7, 120.0, 3.5, Some(70.0), "ct.ldct.ctdivol", Fail),
            (1.0, 0.7, 120.0, 3.5, Some(90.0), "ct.ldct.ctdivol", Fail),
            (1.0, 0.7, 120.0, 3.5, Some(50.0), "ct.ldct.ctdivol", Fail),
            (1.0, 0.7, 120.0, 3.5, Some(49.0), "ct.ldct.ctdivol", Info),
            (1.0, 0.7, 120.0, 3.5, Some(120.0), "ct.ldct.ctdivol", Info),
            (1.0, 0.7, 120.0, 2.0, Some(120.0), "ct.ldct.ctdivol", Pass),
        ];
        for (t, s, kv, c, w, rule, expected) in cases {
            let r = ldct(t, s, kv, c, w);
            assert_eq!(
                status(&r, rule),
                Some(expected),
                "{t} {s} {kv} {c} {w:?} {rule}"
            );
        }
        // without the protocol, the LDCT rules do not run
        let mut s: Vec<Header> = (0..5).map(|i| slice(i as f64)).collect();
        s[0].ctdi_vol = Some(18.0);
        let r = run(&s);
        assert_eq!(status(&r, "ct.ldct.ctdivol"), None);
        assert_eq!(r.measurements["ctdivol_mgy"], 18.0);
    }
}
