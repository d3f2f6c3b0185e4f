//! Evaluation on the 40 IDRiD photographs of the test data (see the crate docs for the
//! measures): optic disc hit rate, image-level lesion score AUC, box-level sensitivity at 1 and
//! 4 false-positive boxes per image. The crate is built at opt-level 3 in the dev profile so
//! that this runs in seconds.

use std::path::Path;

use mira_fundus::detect::{self, LesionKind, Parameters, PixelBox};

struct Truth {
    disc: (f64, f64, f64),
    lesions: Vec<(LesionKind, PixelBox)>,
    label: bool,
}

fn read_truth(dir: &Path, stem: &str, w: f64, h: f64, label: bool) -> Truth {
    let text = std::fs::read_to_string(dir.join(format!("{stem}.txt"))).unwrap();
    let mut disc = None;
    let mut lesions = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|t| t.parse().unwrap())
            .collect();
        let (xc, yc, bw, bh) = (v[1] * w, v[2] * h, v[3] * w, v[4] * h);
        let b = PixelBox {
            x: (xc - bw / 2.0).max(0.0) as u32,
            y: (yc - bh / 2.0).max(0.0) as u32,
            width: bw.round() as u32,
            height: bh.round() as u32,
        };
        match v[0] as u32 {
            0 => disc = Some((xc, yc, (bw + bh) / 4.0)),
            1 => lesions.push((LesionKind::Bright, b)),
            _ => lesions.push((LesionKind::Red, b)),
        }
    }
    Truth {
        disc: disc.unwrap(),
        lesions,
        label,
    }
}

fn tune_sets() -> Vec<Parameters> {
    let d = Parameters::default();
    vec![
        Parameters {
            background_radius: 0.07,
            line_half_length: 0.012,
            blob_weight: 0.0,
            blue_weight: 0.0,
            ..d.clone()
        },
        Parameters {
            background_radius: 0.07,
            line_half_length: 0.012,
            blob_weight: 0.0,
            blue_weight: 1.0,
            ..d.clone()
        },
        Parameters {
            background_radius: 0.07,
            line_half_length: 0.012,
            blob_weight: 0.0,
            blue_weight: 2.0,
            ..d.clone()
        },
        Parameters {
            background_radius: 0.04,
            line_half_length: 0.012,
            blob_weight: 0.0,
            blue_weight: 1.0,
            ..d.clone()
        },
    ]
}

fn auc(scores: &[(f64, bool)]) -> f64 {
    let pos: Vec<f64> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
    let neg: Vec<f64> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

#[test]
fn idrid_disc_auc_and_box_sensitivity() {
    let Some(dir) = mira_testdata::file("fundus/idrid_codras") else {
        return;
    };
    let labels = std::fs::read_to_string(dir.join("labels.csv")).unwrap();
    let params = Parameters::default();
    let mut disc_hits = 0;
    let mut image_scores = Vec::new();
    // (score, kind, image, box)
    let mut candidates: Vec<(f64, LesionKind, usize, PixelBox)> = Vec::new();
    let mut truths = Vec::new();
    let mut tune: Vec<(Vec<f64>, bool)> = Vec::new();
    for (index, line) in labels.lines().skip(1).enumerate() {
        let (name, label) = line.split_once(',').unwrap();
        let img = image::open(dir.join(name)).unwrap().to_rgb8();
        let (w, h) = (img.width() as f64, img.height() as f64);
        let truth = read_truth(
            &dir,
            name.trim_end_matches(".jpg"),
            w,
            h,
            label.trim() == "1",
        );
        let a = detect::analyze_pixels(&img, &params);
        let disc = a.disc.unwrap();
        let dist = ((disc.centre.0 - truth.disc.0).powi(2)
            + (disc.centre.1 - truth.disc.1).powi(2))
        .sqrt();
        let hit = dist <= truth.disc.2;
        disc_hits += usize::from(hit);
        let red = a
            .lesions
            .iter()
            .filter(|l| l.kind == LesionKind::Red)
            .count();
        let bright = a.lesions.len() - red;
        eprintln!(
            "{name} label {} score {:.3} red {red} bright {bright} disc {} ({:.0} px vs r {:.0}; est r {:.0}) field r {:.0} vessels {:.3}",
            label.trim(),
            a.lesion_score,
            if hit { "hit" } else { "MISS" },
            dist,
            truth.disc.2,
            disc.radius,
            a.field.unwrap().radius,
            a.vessel_fraction
        );
        image_scores.push((a.lesion_score, truth.label));
        if std::env::var_os("FUNDUS_TUNE").is_some() {
            for set in tune_sets() {
                let a = detect::analyze_pixels(&img, &set);
                let mut feats = Vec::new();
                for kind in [LesionKind::Red, LesionKind::Bright] {
                    let ls: Vec<_> = a.lesions.iter().filter(|l| l.kind == kind).collect();
                    let area_s = |l: &&detect::Lesion| (l.area_px as f64 / 16.0).sqrt();
                    feats.push(ls.iter().map(|l| l.contrast).fold(0.0, f64::max));
                    feats.push(
                        ls.iter()
                            .map(|l| l.contrast * area_s(l))
                            .fold(0.0, f64::max),
                    );
                    for t in [0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8] {
                        feats.push(ls.iter().filter(|l| l.contrast > t).count() as f64);
                    }
                    for t in [0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8] {
                        feats.push(
                            ls.iter()
                                .filter(|l| l.contrast > t && l.area_px >= 64)
                                .count() as f64,
                        );
                    }
                }
                let (r0, b0) = (feats[0], feats[18]);
                feats.push(r0 / 0.3 + b0 / 0.5);
                feats.push(r0.max(0.1) * b0.max(0.1));
                tune.push((feats, truth.label));
            }
        }
        for l in &a.lesions {
            candidates.push((l.score, l.kind, index, l.bbox));
        }
        truths.push(truth);
    }
    let images = truths.len();
    if !tune.is_empty() {
        let sets = tune_sets().len();
        for s in 0..sets {
            let mut line = format!("set {s}:");
            for k in 0..tune[0].0.len() {
                let v: Vec<(f64, bool)> = tune
                    .iter()
                    .skip(s)
                    .step_by(sets)
                    .map(|(f, l)| (f[k], *l))
                    .collect();
                line += &format!(" {:.2}", auc(&v));
            }
            eprintln!("{line}");
        }
    }
    let disc_rate = disc_hits as f64 / images as f64;
    let image_auc = auc(&image_scores);
    eprintln!(
        "optic disc within one disc radius: {disc_hits}/{images} = {:.1}%",
        100.0 * disc_rate
    );
    eprintln!("image-level lesion score ROC AUC: {image_auc:.3}");
    // box-level sensitivity, class-agnostic and per class
    for (what, kind) in [
        ("any lesion", None),
        ("red (haemorrhages/MAs)", Some(LesionKind::Red)),
        ("bright (exudates)", Some(LesionKind::Bright)),
    ] {
        let mut sorted: Vec<_> = candidates
            .iter()
            .filter(|c| kind.is_none_or(|k| c.1 == k))
            .collect();
        sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
        let total: usize = truths
            .iter()
            .map(|t| {
                t.lesions
                    .iter()
                    .filter(|l| kind.is_none_or(|k| l.0 == k))
                    .count()
            })
            .sum();
        let mut hit = vec![vec![false; 0]; images];
        for (i, t) in truths.iter().enumerate() {
            hit[i] = vec![false; t.lesions.len()];
        }
        let (mut fps, mut hits) = (0usize, 0usize);
        let mut at = [None, None];
        for c in &sorted {
            let t = &truths[c.2];
            let mut is_tp = false;
            for (j, l) in t.lesions.iter().enumerate() {
                if kind.is_some_and(|k| l.0 != k) {
                    continue;
                }
                if l.1.overlaps(&c.3) {
                    is_tp = true;
                    if !hit[c.2][j] {
                        hit[c.2][j] = true;
                        hits += 1;
                    }
                }
            }
            if !is_tp {
                fps += 1;
            }
            let fppi = fps as f64 / images as f64;
            for (k, limit) in [1.0, 4.0].iter().enumerate() {
                if fppi <= *limit {
                    at[k] = Some(hits as f64 / total as f64);
                }
            }
        }
        eprintln!(
            "box sensitivity, {what} ({total} boxes): {:.1}% at 1 FP/image, {:.1}% at 4 FP/image ({} candidates, {} FP in all)",
            100.0 * at[0].unwrap_or(0.0),
            100.0 * at[1].unwrap_or(0.0),
            sorted.len(),
            fps
        );
    }
    assert!(disc_rate >= 0.95, "disc hit rate {disc_rate}");
    assert!(image_auc >= 0.85, "AUC {image_auc}");
}
