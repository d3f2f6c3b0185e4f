//! The LUNA16 evaluation on `../shared/testdata/eval/luna16` (the challenge's reference
//! standard and a synthetic submission) reproduces the official script's own output in
//! `expected/`: the counts of `CADAnalysis.txt` and every point of
//! `froc_synthetic_submission.txt` (false positives per scan, sensitivity, threshold) to
//! 4 decimals.

use std::path::PathBuf;

use mira_eval::froc::{self, FrocInput, FrocOptions};

fn luna16() -> Option<PathBuf> {
    mira_testdata::file("eval/luna16")
}

fn expected_count(text: &str, label: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(label)
                .map(|v| v.trim().parse::<f64>().unwrap())
        })
        .unwrap_or_else(|| panic!("CADAnalysis.txt has no '{label}'"))
}

#[test]
fn reproduces_the_scripts_counts_and_curve() {
    let Some(dir) = luna16() else { return };
    let input = FrocInput::read_luna16(
        &dir.join("annotations.csv"),
        &dir.join("annotations_excluded.csv"),
        &dir.join("seriesuids.csv"),
        &dir.join("synthetic_submission.csv"),
    )
    .unwrap();
    let result = froc::evaluate(&input, &FrocOptions::default());
    let c = &result.counts;

    let analysis = std::fs::read_to_string(dir.join("expected/CADAnalysis.txt")).unwrap();
    let want = |label| expected_count(&analysis, label);
    assert_eq!(c.true_positives as f64, want("True positives:"));
    assert_eq!(c.false_positives as f64, want("False positives:"));
    assert_eq!(c.false_negatives as f64, want("False negatives:"));
    assert_eq!(c.true_negatives as f64, want("True negatives:"));
    assert_eq!(c.candidates as f64, want("Total number of candidates:"));
    assert_eq!(c.nodules as f64, want("Total number of nodules:"));
    assert_eq!(
        c.ignored_on_excluded as f64,
        want("Ignored candidates on excluded nodules:")
    );
    assert_eq!(
        c.ignored_double_detections as f64,
        want("Ignored candidates which were double detections on a nodule:")
    );
    assert!((c.sensitivity - want("Sensitivity:")).abs() < 5e-10);
    assert!((c.candidates_per_scan - want("Average number of candidates per scan:")).abs() < 5e-10);

    let curve =
        std::fs::read_to_string(dir.join("expected/froc_synthetic_submission.txt")).unwrap();
    let expected: Vec<(f64, f64, Option<f64>)> = curve
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let threshold = match f[2].trim() {
                "inf" => None,
                t => Some(t.parse().unwrap()),
            };
            (f[0].parse().unwrap(), f[1].parse().unwrap(), threshold)
        })
        .collect();
    assert_eq!(result.curve.len(), expected.len(), "number of FROC points");
    let round4 = |v: f64| (v * 1e4).round() / 1e4;
    for (i, (point, want)) in result.curve.iter().zip(&expected).enumerate() {
        assert_eq!(round4(point.fps), round4(want.0), "point {i}: fps");
        assert_eq!(
            round4(point.sensitivity),
            round4(want.1),
            "point {i}: sensitivity"
        );
        assert_eq!(
            point.threshold.map(round4),
            want.2.map(round4),
            "point {i}: threshold"
        );
        // the script prints 9 decimals; ours agree to the last one
        assert!((point.fps - want.0).abs() < 1e-9 && (point.sensitivity - want.1).abs() < 1e-9);
    }

    // the operating points and CPM: np.interp on the curve, inside their bootstrap intervals
    assert_eq!(result.sensitivities.len(), 7);
    for s in &result.sensitivities {
        let e = s.sensitivity;
        assert!(e.low <= e.value && e.value <= e.high, "{s:?}");
    }
    let mean = result
        .sensitivities
        .iter()
        .map(|s| s.sensitivity.value)
        .sum::<f64>()
        / 7.0;
    assert!((result.cpm.value - mean).abs() < 1e-15);
    assert!(result.cpm.low < result.cpm.value && result.cpm.value < result.cpm.high);
    // beyond the curve's last point (3 FP/scan) the sensitivity is the last one
    assert_eq!(result.sensitivities[5].sensitivity.value, c.sensitivity);
}
