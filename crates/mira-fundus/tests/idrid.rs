//! Evaluation on the 40 IDRiD photographs of the test data (`fundus/idrid_codras`), through
//! the public API (decode, QC gradability, classical analysis, screening):
//!
//! - optic disc found within one disc radius of the boxed disc (radius: the mean of the box's
//!   half-width and half-height);
//! - ROC AUC of the image-level lesion score against labels.csv ("any haemorrhage or
//!   exudate", a proxy for referable DR per the test data's README);
//! - box-level sensitivity for the boxed lesion regions (hard exudates, haemorrhages and
//!   microaneurysms): a box is hit when a candidate box overlaps it; a candidate that overlaps
//!   no boxed lesion is a false positive; candidates are taken in order of score over all
//!   images, and the sensitivity is read where false positives reach 1 and 4 per image;
//! - the screening decision (referable or not) against labels.csv;
//! - the lesion score's leave-one-out AUC: its logistic weights
//!   ([`mira_fundus::Parameters::image_weights`]) were fitted on these 40 photographs, so the
//!   test refits them (the same L2-penalised logistic regression on standardised features)
//!   without each photograph in turn and scores that photograph with the refit.
//!
//! The parameters were chosen on these same 40 photographs (one set for all; nothing per
//! image), so the figures are optimistic for other data: the in-sample AUC most, the
//! leave-one-out AUC less (it refits the weights, not the two cut-offs on red candidates
//! and the choice of features, which were also made on these photographs). The crate is built at opt-level 3 in
//! the dev profile so that this runs in about a minute.

use std::path::Path;

use mira_fundus::{Analyzer, ImageFeatures, LesionKind, PixelBox};

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

/// Mann-Whitney AUC, ties counted half.
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

/// Sensitivity at 1 and 4 false positives per image for boxes of `kind` (all when `None`).
fn box_sensitivity(
    candidates: &[(f64, LesionKind, usize, PixelBox)],
    truths: &[Truth],
    kind: Option<LesionKind>,
) -> (usize, [f64; 2]) {
    let wanted = |k: LesionKind| kind.is_none_or(|w| w == k);
    let mut sorted: Vec<_> = candidates.iter().filter(|c| wanted(c.1)).collect();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let total: usize = truths
        .iter()
        .map(|t| t.lesions.iter().filter(|l| wanted(l.0)).count())
        .sum();
    let mut hit: Vec<Vec<bool>> = truths
        .iter()
        .map(|t| vec![false; t.lesions.len()])
        .collect();
    let (mut fps, mut hits) = (0usize, 0usize);
    let mut at = [0.0; 2];
    for c in sorted {
        let mut true_positive = false;
        for (j, l) in truths[c.2].lesions.iter().enumerate() {
            if wanted(l.0) && l.1.overlaps(&c.3) {
                true_positive = true;
                if !hit[c.2][j] {
                    hit[c.2][j] = true;
                    hits += 1;
                }
            }
        }
        fps += usize::from(!true_positive);
        let per_image = fps as f64 / truths.len() as f64;
        for (slot, limit) in at.iter_mut().zip([1.0, 4.0]) {
            if per_image <= limit {
                *slot = hits as f64 / total as f64;
            }
        }
    }
    (total, at)
}

/// The lesion score's inputs, in [`ImageFeatures::lesion_score`]'s order.
fn inputs(f: &ImageFeatures) -> [f64; 3] {
    [f.bright_strength, f.red_strength, f.red_texture]
}

/// L2-penalised (λ = 1) logistic regression on standardised features by Newton's method, as
/// the default weights were fitted; returns a scorer of raw features.
fn fit_logistic(x: &[[f64; 3]], y: &[bool]) -> impl Fn(&[f64; 3]) -> f64 {
    let n = x.len() as f64;
    let mut mean = [0.0; 3];
    let mut sd = [0.0; 3];
    for k in 0..3 {
        mean[k] = x.iter().map(|r| r[k]).sum::<f64>() / n;
        sd[k] = (x.iter().map(|r| (r[k] - mean[k]).powi(2)).sum::<f64>() / n)
            .sqrt()
            .max(1e-12);
    }
    let z: Vec<[f64; 4]> = x
        .iter()
        .map(|r| {
            [
                1.0,
                (r[0] - mean[0]) / sd[0],
                (r[1] - mean[1]) / sd[1],
                (r[2] - mean[2]) / sd[2],
            ]
        })
        .collect();
    let mut w = [0.0f64; 4];
    for _ in 0..25 {
        let mut g = [0.0; 4];
        let mut hess = [[0.0; 4]; 4];
        for (r, t) in z.iter().zip(y) {
            let s: f64 = (0..4).map(|k| w[k] * r[k]).sum();
            let p = 1.0 / (1.0 + (-s).exp());
            for j in 0..4 {
                g[j] += (p - f64::from(u8::from(*t))) * r[j];
                for k in 0..4 {
                    hess[j][k] += p * (1.0 - p) * r[j] * r[k];
                }
            }
        }
        for j in 1..4 {
            g[j] += w[j];
            hess[j][j] += 1.0;
        }
        // solve hess · step = g (Gauss-Jordan with partial pivoting)
        let mut m: Vec<[f64; 5]> = (0..4)
            .map(|j| [hess[j][0], hess[j][1], hess[j][2], hess[j][3], g[j]])
            .collect();
        for c in 0..4 {
            let pivot = (c..4)
                .max_by(|a, b| m[*a][c].abs().total_cmp(&m[*b][c].abs()))
                .unwrap();
            m.swap(c, pivot);
            for r in 0..4 {
                if r != c {
                    let f = m[r][c] / m[c][c];
                    let pivot_row = m[c];
                    for (a, b) in m[r].iter_mut().zip(pivot_row).skip(c) {
                        *a -= f * b;
                    }
                }
            }
        }
        for j in 0..4 {
            w[j] -= m[j][4] / m[j][j];
        }
    }
    move |r: &[f64; 3]| {
        w[0] + (0..3)
            .map(|k| w[k + 1] * (r[k] - mean[k]) / sd[k])
            .sum::<f64>()
    }
}

/// AUC of the held-out scores when the weights are refitted without each photograph.
fn leave_one_out_auc(x: &[[f64; 3]], y: &[bool]) -> f64 {
    let scores: Vec<(f64, bool)> = (0..x.len())
        .map(|i| {
            let (xs, ys): (Vec<[f64; 3]>, Vec<bool>) = x
                .iter()
                .zip(y)
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (a, b))| (*a, *b))
                .unzip();
            (fit_logistic(&xs, &ys)(&x[i]), y[i])
        })
        .collect();
    auc(&scores)
}

#[test]
fn idrid_disc_lesion_score_and_box_sensitivity() {
    let Some(dir) = mira_testdata::file("fundus/idrid_codras") else {
        return;
    };
    let labels = std::fs::read_to_string(dir.join("labels.csv")).unwrap();
    let analyzer = Analyzer::new();
    let mut disc_hits = 0;
    let mut image_scores = Vec::new();
    let mut image_inputs = Vec::new();
    let mut candidates = Vec::new();
    let mut truths = Vec::new();
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    for (index, line) in labels.lines().skip(1).enumerate() {
        let (name, label) = line.split_once(',').unwrap();
        let report = analyzer.analyze_path(&dir.join(name)).unwrap();
        let (w, h) = (
            f64::from(report.source.width),
            f64::from(report.source.height),
        );
        let truth = read_truth(
            &dir,
            name.trim_end_matches(".jpg"),
            w,
            h,
            label.trim() == "1",
        );
        let disc = report.optic_disc.expect("a field and a disc");
        let distance = (disc.centre.0 - truth.disc.0).hypot(disc.centre.1 - truth.disc.1);
        disc_hits += usize::from(distance <= truth.disc.2);
        image_scores.push((report.lesion_score, truth.label));
        image_inputs.push(inputs(&report.image_features));
        for l in &report.lesions {
            candidates.push((l.score, l.kind, index, l.bbox));
        }
        match (report.screening.referable, truth.label) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
        truths.push(truth);
    }
    let images = truths.len();
    assert_eq!(images, 40);
    let disc_rate = disc_hits as f64 / images as f64;
    let image_auc = auc(&image_scores);
    eprintln!(
        "optic disc within one disc radius: {disc_hits}/{images} = {:.1}%",
        100.0 * disc_rate
    );
    let labels: Vec<bool> = truths.iter().map(|t| t.label).collect();
    let loo_auc = leave_one_out_auc(&image_inputs, &labels);
    let refit = fit_logistic(&image_inputs, &labels);
    let refit_auc = auc(&image_inputs
        .iter()
        .zip(&labels)
        .map(|(x, l)| (refit(x), *l))
        .collect::<Vec<_>>());
    eprintln!(
        "image-level lesion score ROC AUC (labels.csv): {image_auc:.3} in-sample (refit here: \
         {refit_auc:.3}), {loo_auc:.3} leave-one-out (weights refitted without each photograph)"
    );
    for (what, k) in [
        ("bright strength", 0),
        ("red strength", 1),
        ("red texture", 2),
    ] {
        let single: Vec<(f64, bool)> = image_inputs
            .iter()
            .zip(&labels)
            .map(|(x, l)| (x[k], *l))
            .collect();
        eprintln!("  {what} alone: AUC {:.3}", auc(&single));
    }
    for (what, kind) in [
        ("any lesion", None),
        (
            "haemorrhages/microaneurysms by red candidates",
            Some(LesionKind::Red),
        ),
        (
            "hard exudates by bright candidates",
            Some(LesionKind::Bright),
        ),
    ] {
        let (total, at) = box_sensitivity(&candidates, &truths, kind);
        eprintln!(
            "box sensitivity, {what} ({total} boxes): {:.1}% at 1 FP/image, {:.1}% at 4 FP/image",
            100.0 * at[0],
            100.0 * at[1]
        );
    }
    eprintln!(
        "screening 'referable' vs labels.csv: sensitivity {tp}/{} , specificity {tn}/{}",
        tp + fn_,
        tn + fp
    );
    assert!(disc_rate >= 0.95, "disc hit rate {disc_rate}");
    // issue 6: image-level lesion score AUC >= 0.85, held to for the honest (leave-one-out)
    // figure as well as the in-sample one
    assert!(image_auc >= 0.85, "AUC {image_auc}");
    assert!(loo_auc >= 0.85, "leave-one-out AUC {loo_auc}");
    assert!(
        (refit_auc - image_auc).abs() < 0.02,
        "the default weights are the fit on these photographs: {refit_auc} vs {image_auc}"
    );
}
