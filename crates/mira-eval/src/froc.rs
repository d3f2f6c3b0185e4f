//! Nodule detection: FROC and CPM exactly as the LUNA16 evaluation script
//! (`noduleCADEvaluationLUNA16.py`, Setio et al., Med Image Anal 2017) defines them.
//!
//! - Ground truth per scan: the included nodules (`annotations.csv`) first, then the excluded
//!   findings (`annotations_excluded.csv`; a negative diameter counts as 10 mm), in file order.
//! - A candidate hits a finding when its squared distance in world millimetres is strictly
//!   below the squared radius (diameter / 2).
//! - A nodule hit by several candidates counts once, with the highest probability; the other
//!   candidates are neither true nor false positives ("double detections"). A candidate that
//!   hits an excluded finding and no included nodule before it is ignored.
//! - A missed nodule enters the FROC list as a positive with probability −1 that is then left
//!   out of the ROC analysis, but stays in the count of nodules.
//! - The curve is scikit-learn's `roc_curve` (with `drop_intermediate`, the first threshold
//!   +∞) over the remaining list: false positives per scan = FPR × false positives / scans,
//!   sensitivity = TPR × detected / nodules.
//! - Sensitivities at 1/8 … 8 false positives per scan are NumPy's `interp` on that curve (the
//!   last point at repeated abscissae, the last sensitivity beyond the curve); the CPM is
//!   their mean. Confidence intervals come from the script's bootstrap: scans resampled with
//!   replacement, the curve recomputed, the replicates' ⌊2.5 %⌋ and ⌊97.5 %⌋ order statistics.
//!   The generator is seeded, so a report is reproducible.
//!
//! Beyond the script: with no candidates at all (or none left after exclusions) the curve is
//! the single point (0, 0) and every sensitivity 0, where the script would fail.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::InputError;
use crate::stats::{Estimate, SplitMix64, percentile_interval};
use crate::table::Table;

/// The false-positive rates per scan at which LUNA16 reads sensitivities.
pub const FP_RATES: [f64; 7] = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0];

/// A finding of the reference standard: a nodule (or an excluded finding) in world mm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The scan's series instance UID.
    pub seriesuid: String,
    /// Centre, world coordinates in mm.
    pub centre: [f64; 3],
    /// Diameter in mm (negative: unknown, counted as 10 mm as the script does).
    pub diameter_mm: f64,
}

/// A detection: a candidate position with the system's probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The scan's series instance UID.
    pub seriesuid: String,
    /// Position, world coordinates in mm.
    pub centre: [f64; 3],
    /// The system's probability (or score) that it is a nodule.
    pub probability: f64,
}

/// Everything a FROC evaluation needs.
#[derive(Debug, Clone, Default)]
pub struct FrocInput {
    /// Included nodules.
    pub nodules: Vec<Finding>,
    /// Excluded findings: hits on them are neither true nor false positives.
    pub excluded: Vec<Finding>,
    /// The scans evaluated; candidates and findings on other scans are ignored.
    pub scans: Vec<String>,
    /// The system's candidates.
    pub candidates: Vec<Candidate>,
}

impl FrocInput {
    /// Reads the LUNA16 CSV files: annotations and excluded findings
    /// (`seriesuid,coordX,coordY,coordZ,diameter_mm`), the series list (one UID a line, no
    /// header) and the predictions (`seriesuid,coordX,coordY,coordZ,probability`).
    pub fn read_luna16(
        annotations: &Path,
        excluded: &Path,
        series: &Path,
        predictions: &Path,
    ) -> Result<FrocInput, InputError> {
        let nodules = read_findings(annotations)?;
        let excluded = read_findings(excluded)?;
        let series_table = Table::read(series, false)?;
        let mut scans = Vec::new();
        for (line, fields) in &series_table.rows {
            let uid = fields[0].trim();
            if uid.is_empty()
                || fields.len() > 1 && fields[1..].iter().any(|f| !f.trim().is_empty())
            {
                return Err(InputError::line(series, *line, "expected one series UID"));
            }
            if uid == "seriesuid" && scans.is_empty() {
                continue; // a header line, if the file has one
            }
            scans.push(uid.to_string());
        }
        let table = Table::read(predictions, true)?;
        let columns = [
            table.column("seriesuid")?,
            table.column("coordX")?,
            table.column("coordY")?,
            table.column("coordZ")?,
            table.column("probability")?,
        ];
        let mut candidates = Vec::with_capacity(table.rows.len());
        for (line, fields) in &table.rows {
            candidates.push(Candidate {
                seriesuid: fields[columns[0]].trim().to_string(),
                centre: [
                    table.number(*line, fields, columns[1])?,
                    table.number(*line, fields, columns[2])?,
                    table.number(*line, fields, columns[3])?,
                ],
                probability: table.number(*line, fields, columns[4])?,
            });
        }
        Ok(FrocInput {
            nodules,
            excluded,
            scans,
            candidates,
        })
    }
}

fn read_findings(path: &Path) -> Result<Vec<Finding>, InputError> {
    let table = Table::read(path, true)?;
    let columns = [
        table.column("seriesuid")?,
        table.column("coordX")?,
        table.column("coordY")?,
        table.column("coordZ")?,
        table.column("diameter_mm")?,
    ];
    let mut findings = Vec::with_capacity(table.rows.len());
    for (line, fields) in &table.rows {
        findings.push(Finding {
            seriesuid: fields[columns[0]].trim().to_string(),
            centre: [
                table.number(*line, fields, columns[1])?,
                table.number(*line, fields, columns[2])?,
                table.number(*line, fields, columns[3])?,
            ],
            diameter_mm: table.number(*line, fields, columns[4])?,
        });
    }
    Ok(findings)
}

/// Options of a FROC evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrocOptions {
    /// Bootstrap resamples of the scans (the script uses 1000); 0 for no intervals.
    pub bootstrap_samples: usize,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// Seed of the resampling generator.
    pub seed: u64,
}

impl Default for FrocOptions {
    fn default() -> Self {
        FrocOptions {
            bootstrap_samples: 1000,
            confidence: 0.95,
            seed: 16,
        }
    }
}

/// The candidate-level counts the script writes to `CADAnalysis.txt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateCounts {
    /// Nodules hit by at least one candidate.
    pub true_positives: u64,
    /// Candidates that hit no finding.
    pub false_positives: u64,
    /// Nodules hit by no candidate.
    pub false_negatives: u64,
    /// Always 0 (the script's field).
    pub true_negatives: u64,
    /// Candidates on the evaluated scans.
    pub candidates: u64,
    /// Included nodules on the evaluated scans.
    pub nodules: u64,
    /// Candidates ignored because they hit an excluded finding.
    pub ignored_on_excluded: u64,
    /// Candidates ignored because another candidate already hit the same nodule.
    pub ignored_double_detections: u64,
    /// True positives / nodules.
    pub sensitivity: f64,
    /// Candidates / scans.
    pub candidates_per_scan: f64,
    /// Scans evaluated.
    pub scans: u64,
}

/// A point of the FROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrocPoint {
    /// Average false positives per scan.
    pub fps: f64,
    /// Sensitivity.
    pub sensitivity: f64,
    /// The probability threshold; `None` for the first point (+∞: nothing called positive).
    pub threshold: Option<f64>,
}

/// Sensitivity at one false-positive rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SensitivityAt {
    /// False positives per scan.
    pub fps: f64,
    /// The sensitivity read from the curve, with its bootstrap interval.
    pub sensitivity: Estimate,
}

/// A FROC evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrocResult {
    /// The counts.
    pub counts: CandidateCounts,
    /// The curve, as the script writes it to `froc_<system>.txt`.
    pub curve: Vec<FrocPoint>,
    /// Sensitivities at [`FP_RATES`].
    pub sensitivities: Vec<SensitivityAt>,
    /// Competition performance metric: the mean of those seven sensitivities.
    pub cpm: Estimate,
    /// The bootstrap band of the curve at [`band_fps`] points (lower, upper), empty without
    /// bootstrap.
    pub band: Vec<(f64, f64, f64)>,
    /// The options used.
    pub options: FrocOptions,
}

/// One entry of the script's FROC list.
#[derive(Debug, Clone, Copy)]
struct Entry {
    positive: bool,
    probability: f64,
    excluded: bool,
}

/// Evaluates `input` as the LUNA16 script does.
pub fn evaluate(input: &FrocInput, options: &FrocOptions) -> FrocResult {
    let mut by_scan_nodules: HashMap<&str, Vec<(&Finding, bool)>> = HashMap::new();
    for finding in &input.nodules {
        by_scan_nodules
            .entry(finding.seriesuid.as_str())
            .or_default()
            .push((finding, true));
    }
    for finding in &input.excluded {
        by_scan_nodules
            .entry(finding.seriesuid.as_str())
            .or_default()
            .push((finding, false));
    }
    let mut by_scan_candidates: HashMap<&str, Vec<&Candidate>> = HashMap::new();
    for candidate in &input.candidates {
        by_scan_candidates
            .entry(candidate.seriesuid.as_str())
            .or_default()
            .push(candidate);
    }

    let mut counts = CandidateCounts {
        true_positives: 0,
        false_positives: 0,
        false_negatives: 0,
        true_negatives: 0,
        candidates: 0,
        nodules: 0,
        ignored_on_excluded: 0,
        ignored_double_detections: 0,
        sensitivity: 0.0,
        candidates_per_scan: 0.0,
        scans: input.scans.len() as u64,
    };
    let mut per_scan: Vec<Vec<Entry>> = Vec::with_capacity(input.scans.len());
    for scan in &input.scans {
        let mut entries = Vec::new();
        let candidates = by_scan_candidates
            .get(scan.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        counts.candidates += candidates.len() as u64;
        let mut remaining = vec![true; candidates.len()];
        for &(finding, included) in by_scan_nodules
            .get(scan.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if included {
                counts.nodules += 1;
            }
            let diameter = if finding.diameter_mm < 0.0 {
                10.0
            } else {
                finding.diameter_mm
            };
            let radius_squared = (diameter / 2.0).powi(2);
            let mut best: Option<f64> = None;
            let mut matches = 0u64;
            for (index, candidate) in candidates.iter().enumerate() {
                let d = (0..3)
                    .map(|k| (finding.centre[k] - candidate.centre[k]).powi(2))
                    .sum::<f64>();
                if d < radius_squared {
                    if included {
                        matches += 1;
                        remaining[index] = false;
                        if best.is_none_or(|b| candidate.probability > b) {
                            best = Some(candidate.probability);
                        }
                    } else if remaining[index] {
                        counts.ignored_on_excluded += 1;
                        remaining[index] = false;
                    }
                }
            }
            if matches > 1 {
                counts.ignored_double_detections += matches - 1;
            }
            if included {
                match best {
                    Some(probability) => {
                        counts.true_positives += 1;
                        entries.push(Entry {
                            positive: true,
                            probability,
                            excluded: false,
                        });
                    }
                    None => {
                        counts.false_negatives += 1;
                        entries.push(Entry {
                            positive: true,
                            probability: -1.0,
                            excluded: true,
                        });
                    }
                }
            }
        }
        for (index, candidate) in candidates.iter().enumerate() {
            if remaining[index] {
                counts.false_positives += 1;
                entries.push(Entry {
                    positive: false,
                    probability: candidate.probability,
                    excluded: false,
                });
            }
        }
        per_scan.push(entries);
    }
    if counts.nodules > 0 {
        counts.sensitivity = counts.true_positives as f64 / counts.nodules as f64;
    }
    if counts.scans > 0 {
        counts.candidates_per_scan = counts.candidates as f64 / counts.scans as f64;
    }

    let all: Vec<Entry> = per_scan.iter().flatten().copied().collect();
    let curve = froc_curve(&all, per_scan.len());
    let point_sensitivities: Vec<f64> = FP_RATES.iter().map(|&x| interp(x, &curve)).collect();
    let cpm_value = point_sensitivities.iter().sum::<f64>() / FP_RATES.len() as f64;

    let band_points = band_fps();
    let mut replicate_points: Vec<Vec<f64>> = vec![Vec::new(); FP_RATES.len()];
    let mut replicate_cpm = Vec::new();
    let mut replicate_band: Vec<Vec<f64>> = vec![Vec::new(); band_points.len()];
    if options.bootstrap_samples > 0 && !per_scan.is_empty() {
        let mut rng = SplitMix64::new(options.seed);
        let mut sample = Vec::with_capacity(all.len());
        for _ in 0..options.bootstrap_samples {
            sample.clear();
            for _ in 0..per_scan.len() {
                sample.extend_from_slice(&per_scan[rng.below(per_scan.len())]);
            }
            let curve = froc_curve(&sample, per_scan.len());
            let mut total = 0.0;
            for (k, &x) in FP_RATES.iter().enumerate() {
                let s = interp(x, &curve);
                total += s;
                replicate_points[k].push(s);
            }
            replicate_cpm.push(total / FP_RATES.len() as f64);
            for (k, &x) in band_points.iter().enumerate() {
                replicate_band[k].push(interp(x, &curve));
            }
        }
    }
    let interval = |value: f64, reps: &mut Vec<f64>| {
        percentile_interval(value, reps, options.confidence).unwrap_or(Estimate::exact(value))
    };
    let sensitivities = FP_RATES
        .iter()
        .zip(&point_sensitivities)
        .zip(replicate_points.iter_mut())
        .map(|((&fps, &s), reps)| SensitivityAt {
            fps,
            sensitivity: interval(s, reps),
        })
        .collect();
    let cpm = interval(cpm_value, &mut replicate_cpm);
    let band = if options.bootstrap_samples > 0 && !per_scan.is_empty() {
        band_points
            .iter()
            .zip(replicate_band.iter_mut())
            .filter_map(|(&x, reps)| {
                percentile_interval(0.0, reps, options.confidence).map(|e| (x, e.low, e.high))
            })
            .collect()
    } else {
        Vec::new()
    };
    FrocResult {
        counts,
        curve,
        sensitivities,
        cpm,
        band,
        options: *options,
    }
}

/// The false-positive rates at which the bootstrap band is drawn: 1/8 to 8, log-spaced.
pub fn band_fps() -> Vec<f64> {
    (0..=48)
        .map(|k| 0.125 * 2f64.powf(k as f64 / 8.0))
        .collect()
}

/// The script's `computeFROC`: scikit-learn's `roc_curve` over the entries not excluded,
/// rescaled to false positives per scan and to sensitivity over all nodules.
fn froc_curve(entries: &[Entry], scans: usize) -> Vec<FrocPoint> {
    let total_lesions = entries.iter().filter(|e| e.positive).count();
    let local: Vec<Entry> = entries.iter().filter(|e| !e.excluded).copied().collect();
    let detected = local.iter().filter(|e| e.positive).count();
    let no_false_positives = total_lesions == entries.len();
    if local.is_empty() || scans == 0 {
        return vec![FrocPoint {
            fps: 0.0,
            sensitivity: 0.0,
            threshold: None,
        }];
    }
    let (fps, tps, thresholds) = roc_counts(&local);
    let fp_total = *fps.last().unwrap_or(&0.0);
    let tp_total = *tps.last().unwrap_or(&0.0);
    let n_local = local.len() as f64;
    fps.iter()
        .zip(&tps)
        .zip(&thresholds)
        .map(|((&fp, &tp), &threshold)| {
            let fps_per_scan = if no_false_positives || fp_total == 0.0 {
                0.0
            } else {
                fp / fp_total * (n_local - detected as f64) / scans as f64
            };
            let sensitivity = if tp_total == 0.0 || total_lesions == 0 {
                0.0
            } else {
                tp / tp_total * detected as f64 / total_lesions as f64
            };
            FrocPoint {
                fps: fps_per_scan,
                sensitivity,
                threshold,
            }
        })
        .collect()
}

/// scikit-learn's `roc_curve(drop_intermediate=True)` as counts: cumulative false and true
/// positives at each distinct threshold (descending), collinear points dropped, and the
/// (0, 0, +∞) point prepended.
fn roc_counts(entries: &[Entry]) -> (Vec<f64>, Vec<f64>, Vec<Option<f64>>) {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| entries[b].probability.total_cmp(&entries[a].probability));
    let mut fps = Vec::new();
    let mut tps = Vec::new();
    let mut thresholds = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    for (rank, &i) in order.iter().enumerate() {
        if entries[i].positive {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_value = rank + 1 == order.len()
            || entries[order[rank + 1]].probability != entries[i].probability;
        if last_of_value {
            fps.push(fp);
            tps.push(tp);
            thresholds.push(Some(entries[i].probability));
        }
    }
    if fps.len() > 2 {
        let keep: Vec<bool> = (0..fps.len())
            .map(|k| {
                k == 0
                    || k + 1 == fps.len()
                    || fps[k + 1] - 2.0 * fps[k] + fps[k - 1] != 0.0
                    || tps[k + 1] - 2.0 * tps[k] + tps[k - 1] != 0.0
            })
            .collect();
        let filter = |v: Vec<f64>| -> Vec<f64> {
            v.into_iter()
                .zip(&keep)
                .filter_map(|(x, &k)| k.then_some(x))
                .collect()
        };
        fps = filter(fps);
        tps = filter(tps);
        thresholds = thresholds
            .into_iter()
            .zip(&keep)
            .filter_map(|(x, &k)| k.then_some(x))
            .collect();
    }
    fps.insert(0, 0.0);
    tps.insert(0, 0.0);
    thresholds.insert(0, None);
    (fps, tps, thresholds)
}

/// NumPy's `interp(x, fps, sens)` on a curve whose abscissae do not decrease: the
/// sensitivity of the last point at or before `x`, linear to the next one; the first
/// sensitivity before the curve and the last beyond it.
pub fn interp(x: f64, curve: &[FrocPoint]) -> f64 {
    let Some(first) = curve.first() else {
        return 0.0;
    };
    if x < first.fps {
        return first.sensitivity;
    }
    // the last j with fps[j] <= x
    let j = curve.partition_point(|p| p.fps <= x) - 1;
    if j + 1 == curve.len() || curve[j].fps == x {
        return curve[j].sensitivity;
    }
    let (a, b) = (curve[j], curve[j + 1]);
    let slope = (b.sensitivity - a.sensitivity) / (b.fps - a.fps);
    slope * (x - a.fps) + a.sensitivity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(uid: &str, centre: [f64; 3], diameter_mm: f64) -> Finding {
        Finding {
            seriesuid: uid.into(),
            centre,
            diameter_mm,
        }
    }

    fn candidate(uid: &str, centre: [f64; 3], probability: f64) -> Candidate {
        Candidate {
            seriesuid: uid.into(),
            centre,
            probability,
        }
    }

    fn no_bootstrap() -> FrocOptions {
        FrocOptions {
            bootstrap_samples: 0,
            ..FrocOptions::default()
        }
    }

    #[test]
    fn zero_candidates_give_a_zero_curve() {
        let input = FrocInput {
            nodules: vec![finding("a", [0.0; 3], 6.0)],
            scans: vec!["a".into(), "b".into()],
            ..FrocInput::default()
        };
        let result = evaluate(&input, &FrocOptions::default());
        assert_eq!(result.counts.false_negatives, 1);
        assert_eq!(result.counts.candidates, 0);
        assert_eq!(result.curve.len(), 1);
        assert_eq!(result.cpm.value, 0.0);
        assert!(
            result
                .sensitivities
                .iter()
                .all(|s| s.sensitivity.value == 0.0)
        );
    }

    #[test]
    fn no_scans_no_nodules() {
        let result = evaluate(&FrocInput::default(), &FrocOptions::default());
        assert_eq!(result.counts.sensitivity, 0.0);
        assert_eq!(result.cpm.value, 0.0);
    }

    #[test]
    fn hits_are_strictly_inside_the_radius() {
        // radius 3 mm: a candidate at exactly 3 mm misses
        let input = FrocInput {
            nodules: vec![finding("a", [0.0; 3], 6.0)],
            scans: vec!["a".into()],
            candidates: vec![candidate("a", [3.0, 0.0, 0.0], 0.9)],
            ..FrocInput::default()
        };
        let result = evaluate(&input, &no_bootstrap());
        assert_eq!(
            (result.counts.true_positives, result.counts.false_positives),
            (0, 1)
        );
        let input = FrocInput {
            candidates: vec![candidate("a", [2.999, 0.0, 0.0], 0.9)],
            ..input
        };
        let result = evaluate(&input, &no_bootstrap());
        assert_eq!(
            (result.counts.true_positives, result.counts.false_positives),
            (1, 0)
        );
    }

    #[test]
    fn double_detections_count_once_with_the_highest_probability() {
        let input = FrocInput {
            nodules: vec![finding("a", [0.0; 3], 10.0)],
            excluded: vec![finding("a", [20.0, 0.0, 0.0], -1.0)],
            scans: vec!["a".into()],
            candidates: vec![
                candidate("a", [1.0, 0.0, 0.0], 0.3),
                candidate("a", [0.0, 1.0, 0.0], 0.8),
                candidate("a", [22.0, 0.0, 0.0], 0.99),
                candidate("a", [50.0, 0.0, 0.0], 0.5),
            ],
        };
        let result = evaluate(&input, &no_bootstrap());
        let c = &result.counts;
        assert_eq!(
            (
                c.true_positives,
                c.false_positives,
                c.ignored_double_detections,
                c.ignored_on_excluded
            ),
            (1, 1, 1, 1)
        );
        // the nodule enters at 0.8, the one false positive at 0.5
        let thresholds: Vec<_> = result.curve.iter().map(|p| p.threshold).collect();
        assert_eq!(thresholds, vec![None, Some(0.8), Some(0.5)]);
        assert_eq!(result.curve[1].sensitivity, 1.0);
        assert_eq!(result.curve[2].fps, 1.0);
    }

    #[test]
    fn interp_follows_numpy() {
        let p = |fps, sensitivity| FrocPoint {
            fps,
            sensitivity,
            threshold: None,
        };
        let curve = [
            p(0.0, 0.0),
            p(0.0, 0.2),
            p(1.0, 0.4),
            p(1.0, 0.5),
            p(3.0, 0.9),
        ];
        let cases = [
            (-1.0, 0.0),
            (0.0, 0.2),
            (0.5, 0.3),
            (1.0, 0.5),
            (2.0, 0.7),
            (3.0, 0.9),
            (8.0, 0.9),
        ];
        for (x, want) in cases {
            assert!((interp(x, &curve) - want).abs() < 1e-12, "{x}");
        }
    }
}
