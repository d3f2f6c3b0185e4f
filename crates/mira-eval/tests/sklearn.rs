//! Classification metrics agree with scikit-learn to 1e-9 on randomised data: ROC AUC (two
//! classes, and one-vs-rest per class and macro for more), Cohen's kappa, quadratic-weighted
//! kappa and macro-F1. The data are generated here (seeded), written as CSV, scored by a
//! Python script with scikit-learn and by mira-eval, and compared. Without python3 or
//! scikit-learn the test is skipped, except under `CI=true`, where it fails.

use std::fmt::Write as _;
use std::process::Command;

use mira_eval::classify::{self, ClassificationInput, ClassifyOptions};
use mira_eval::stats::SplitMix64;

const SCRIPT: &str = r#"
import json, sys
import numpy as np
from sklearn.metrics import roc_auc_score, cohen_kappa_score, f1_score
out = []
for path in sys.argv[1:]:
    rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    y = rows[:, 0].astype(int)
    p = rows[:, 1:]
    k = p.shape[1]
    labels = list(range(k))
    if k == 2:
        pred = (p[:, 1] >= 0.5).astype(int)
        auc = roc_auc_score(y, p[:, 1])
        per_class = [roc_auc_score(y == c, p[:, c]) for c in labels]
    else:
        pred = np.argmax(p, axis=1)
        auc = roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels)
        per_class = [roc_auc_score(y == c, p[:, c]) for c in labels]
    out.append({
        "auc": auc,
        "per_class_auc": per_class,
        "kappa": cohen_kappa_score(y, pred, labels=labels),
        "quadratic_kappa": cohen_kappa_score(y, pred, labels=labels, weights="quadratic"),
        "macro_f1": f1_score(y, pred, labels=labels, average="macro", zero_division=0),
    })
print(json.dumps(out))
"#;

fn sklearn_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import sklearn, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "scikit-learn is required under CI=true (scripts/install-test-deps installs it)"
        );
        eprintln!("skipped: python3 with scikit-learn is not available");
    }
    ok
}

/// A random data set: `n` cases, `k` classes; probabilities normalised to sum to 1 and, with
/// `coarse`, rounded to two decimals so that ties occur.
fn random_case(rng: &mut SplitMix64, n: usize, k: usize, coarse: bool) -> ClassificationInput {
    let uniform = |rng: &mut SplitMix64| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut input = ClassificationInput {
        classes: k,
        ..ClassificationInput::default()
    };
    for i in 0..n {
        // every class appears: the first k cases take each in turn
        let label = if i < k { i } else { rng.below(k) };
        let mut p: Vec<f64> = (0..k)
            .map(|c| uniform(rng) + if c == label { 0.6 * uniform(rng) } else { 0.0 })
            .collect();
        let sum: f64 = p.iter().sum();
        p.iter_mut().for_each(|v| *v /= sum);
        if coarse && k == 2 {
            p[1] = (p[1] * 100.0).round() / 100.0;
            p[0] = 1.0 - p[1];
        }
        input.ids.push(format!("case{i}"));
        input.truth.push(label);
        input.probabilities.push(p);
        input.attributes.push(Default::default());
    }
    input
}

fn to_csv(input: &ClassificationInput) -> String {
    let mut csv = String::from("label");
    for c in 0..input.classes {
        write!(csv, ",p{c}").unwrap();
    }
    csv.push('\n');
    for (t, p) in input.truth.iter().zip(&input.probabilities) {
        write!(csv, "{t}").unwrap();
        for v in p {
            // 17 significant digits: the same double on both sides
            write!(csv, ",{v:.17e}").unwrap();
        }
        csv.push('\n');
    }
    csv
}

#[test]
fn agrees_with_scikit_learn_on_random_data() {
    if !sklearn_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SplitMix64::new(2026);
    let mut cases = Vec::new();
    for (n, k, coarse) in [
        (50, 2, false),
        (200, 2, true),
        (500, 2, false),
        (31, 2, true),
        (120, 3, false),
        (300, 4, false),
        (400, 5, false),
        (60, 3, false),
    ] {
        cases.push(random_case(&mut rng, n, k, coarse));
    }
    let mut paths = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.csv"));
        std::fs::write(&path, to_csv(case)).unwrap();
        paths.push(path);
    }
    let script = dir.path().join("score.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let output = Command::new("python3")
        .arg(&script)
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let mut worst = 0.0f64;
    for (i, case) in cases.iter().enumerate() {
        let want = &expected[i];
        let options = ClassifyOptions {
            bootstrap_samples: 0,
            ..ClassifyOptions::default()
        };
        let got = classify::evaluate(case, &options);
        let mut check = |name: &str, ours: f64, theirs: &serde_json::Value| {
            let theirs = theirs.as_f64().unwrap();
            let diff = (ours - theirs).abs();
            worst = worst.max(diff);
            assert!(
                diff < 1e-9,
                "case {i} ({} classes): {name} {ours} vs scikit-learn {theirs}",
                case.classes
            );
        };
        check("auc", got.auc.unwrap().value, &want["auc"]);
        for (c, class) in got.per_class.iter().enumerate() {
            check(
                "one-vs-rest auc",
                class.auc.unwrap().value,
                &want["per_class_auc"][c],
            );
        }
        check("kappa", got.kappa.unwrap().value, &want["kappa"]);
        check(
            "quadratic kappa",
            got.quadratic_kappa.unwrap().value,
            &want["quadratic_kappa"],
        );
        check("macro f1", got.macro_f1.unwrap().value, &want["macro_f1"]);
    }
    eprintln!(
        "largest difference from scikit-learn over {} data sets: {worst:e}",
        cases.len()
    );
}
