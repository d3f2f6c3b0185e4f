//! Classification: the confusion matrix at the operating point, sensitivity and specificity
//! with Wilson intervals, ROC AUC with DeLong's interval, accuracy, macro-F1, Cohen's kappa
//! and quadratic-weighted kappa (bootstrap intervals), the ROC curve and a calibration table.
//!
//! Definitions follow scikit-learn's, so that the two agree to rounding: `roc_auc_score`
//! (one-vs-rest per class), `f1_score(average="macro")` over the classes 0..K−1 (an
//! undefined F1 counts 0), `cohen_kappa_score(labels=0..K−1, weights=None | "quadratic")`.
//! A kappa whose expected disagreement is zero (every case in one class for both raters) is
//! undefined: `None`, where scikit-learn gives NaN.
//!
//! The predicted class is, for two classes, positive (1) when p1 ≥ the operating threshold;
//! for more, the first class of highest probability.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::InputError;
use crate::stats::{DeLong, Estimate, SplitMix64, percentile_interval, wilson};
use crate::table::Table;

/// The subgroup attributes a truth file may carry, besides `id` and `label`.
pub const SUBGROUP_ATTRIBUTES: [&str; 5] = ["sex", "age", "site", "manufacturer", "model"];

/// Cases with their true class and the system's class probabilities.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassificationInput {
    /// Number of classes K.
    pub classes: usize,
    /// Case identifiers.
    pub ids: Vec<String>,
    /// True class of each case, 0..K−1.
    pub truth: Vec<usize>,
    /// K probabilities (or scores) per case.
    pub probabilities: Vec<Vec<f64>>,
    /// Subgroup attributes per case (sex, age, site, manufacturer, model), where known.
    pub attributes: Vec<BTreeMap<String, String>>,
}

impl ClassificationInput {
    /// Reads a truth file (`id,label`, labels 0..K−1, optional subgroup columns
    /// [`SUBGROUP_ATTRIBUTES`]) and a predictions file (`id` and `p0..p{K−1}`, or `id,score`
    /// for two classes).
    pub fn read_csv(truth: &Path, predictions: &Path) -> Result<ClassificationInput, InputError> {
        let predictions_table = Table::read(predictions, true)?;
        let id_column = predictions_table.column("id")?;
        let probability_columns: Vec<usize> = if let Some(score) =
            predictions_table.optional_column("score")
        {
            vec![score]
        } else {
            let mut columns = Vec::new();
            while let Some(c) = predictions_table.optional_column(&format!("p{}", columns.len())) {
                columns.push(c);
            }
            if columns.len() < 2 {
                return Err(InputError::file(
                    predictions,
                    format!(
                        "expected columns p0..p{{K-1}} (K ≥ 2) or score (columns: {})",
                        predictions_table.header.join(", ")
                    ),
                ));
            }
            columns
        };
        let classes = probability_columns.len().max(2);
        let mut predicted: HashMap<String, (usize, Vec<f64>)> = HashMap::new();
        for (line, fields) in &predictions_table.rows {
            let id = fields[id_column].trim().to_string();
            if id.is_empty() {
                return Err(InputError::line(predictions, *line, "empty id"));
            }
            let mut p = Vec::with_capacity(classes);
            for &c in &probability_columns {
                p.push(predictions_table.number(*line, fields, c)?);
            }
            if p.len() == 1 {
                p = vec![1.0 - p[0], p[0]];
            }
            if let Some((first, _)) = predicted.insert(id.clone(), (*line, p)) {
                return Err(InputError::line(
                    predictions,
                    *line,
                    format!("id '{id}' already has a prediction on line {first}"),
                ));
            }
        }

        let truth_table = Table::read(truth, true)?;
        let id_column = truth_table.column("id")?;
        let label_column = truth_table.column("label")?;
        let attribute_columns: Vec<(&str, usize)> = SUBGROUP_ATTRIBUTES
            .iter()
            .filter_map(|&a| truth_table.optional_column(a).map(|c| (a, c)))
            .collect();
        let mut input = ClassificationInput {
            classes,
            ..ClassificationInput::default()
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (line, fields) in &truth_table.rows {
            let id = fields[id_column].trim().to_string();
            let text = fields[label_column].trim();
            let label: usize = text.parse().map_err(|_| {
                InputError::line(
                    truth,
                    *line,
                    format!("label '{text}' is not a class number 0..{}", classes - 1),
                )
            })?;
            if label >= classes {
                return Err(InputError::line(
                    truth,
                    *line,
                    format!(
                        "label {label} is outside 0..{} (the predictions have {classes} classes)",
                        classes - 1
                    ),
                ));
            }
            if let Some(first) = seen.insert(id.clone(), *line) {
                return Err(InputError::line(
                    truth,
                    *line,
                    format!("id '{id}' already on line {first}"),
                ));
            }
            let Some((_, p)) = predicted.remove(&id) else {
                return Err(InputError::Mismatch(format!(
                    "{}: id '{id}' (line {line}) has no prediction in {}",
                    truth.display(),
                    predictions.display()
                )));
            };
            let attributes = attribute_columns
                .iter()
                .filter(|(_, c)| !fields[*c].trim().is_empty())
                .map(|(a, c)| (a.to_string(), fields[*c].trim().to_string()))
                .collect();
            input.ids.push(id);
            input.truth.push(label);
            input.probabilities.push(p);
            input.attributes.push(attributes);
        }
        if let Some((id, (line, _))) = predicted.iter().min_by_key(|(_, (line, _))| *line) {
            return Err(InputError::Mismatch(format!(
                "{}: id '{id}' (line {line}) has no ground truth in {}",
                predictions.display(),
                truth.display()
            )));
        }
        Ok(input)
    }

    /// The cases at `indices`, in that order (a subgroup, a bootstrap sample).
    pub fn select(&self, indices: &[usize]) -> ClassificationInput {
        ClassificationInput {
            classes: self.classes,
            ids: indices.iter().map(|&i| self.ids[i].clone()).collect(),
            truth: indices.iter().map(|&i| self.truth[i]).collect(),
            probabilities: indices
                .iter()
                .map(|&i| self.probabilities[i].clone())
                .collect(),
            attributes: indices
                .iter()
                .map(|&i| self.attributes.get(i).cloned().unwrap_or_default())
                .collect(),
        }
    }

    /// The predicted class of every case at `threshold` (see the module's documentation).
    pub fn predicted(&self, threshold: f64) -> Vec<usize> {
        self.probabilities
            .iter()
            .map(|p| {
                if self.classes == 2 {
                    usize::from(p[1] >= threshold)
                } else {
                    let mut best = 0;
                    for (k, &v) in p.iter().enumerate() {
                        if v > p[best] {
                            best = k;
                        }
                    }
                    best
                }
            })
            .collect()
    }
}

/// Options of a classification evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassifyOptions {
    /// Operating threshold on p1 for two classes.
    pub threshold: f64,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// Bootstrap resamples of the cases for F1 and kappa intervals (and the macro AUC's);
    /// 0 for none.
    pub bootstrap_samples: usize,
    /// Seed of the resampling generator.
    pub seed: u64,
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        ClassifyOptions {
            threshold: 0.5,
            confidence: 0.95,
            bootstrap_samples: 1000,
            seed: 16,
        }
    }
}

/// One class against the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The class.
    pub class: usize,
    /// Cases of this class.
    pub support: u64,
    /// Recall of the class (Wilson interval); `None` without cases of it.
    pub sensitivity: Option<Estimate>,
    /// Specificity against the rest (Wilson interval); `None` without other cases.
    pub specificity: Option<Estimate>,
    /// Precision; `None` when nothing was predicted as this class.
    pub precision: Option<f64>,
    /// F1 = 2TP / (2TP + FP + FN); 0 when undefined.
    pub f1: f64,
    /// One-vs-rest ROC AUC with DeLong's interval; `None` without both.
    pub auc: Option<Estimate>,
}

/// A point of a ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// 1 − specificity.
    pub fpr: f64,
    /// Sensitivity.
    pub tpr: f64,
}

/// A bin of the calibration table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge of predicted probability.
    pub from: f64,
    /// Upper edge.
    pub to: f64,
    /// Cases in the bin.
    pub cases: u64,
    /// Mean predicted probability.
    pub predicted: f64,
    /// Observed frequency.
    pub observed: f64,
}

/// Classification metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationMetrics {
    /// Cases.
    pub cases: u64,
    /// Classes K.
    pub classes: usize,
    /// Operating threshold (two classes).
    pub threshold: f64,
    /// Confusion matrix: rows true class, columns predicted class.
    pub confusion: Vec<Vec<u64>>,
    /// Accuracy (Wilson interval); `None` without cases.
    pub accuracy: Option<Estimate>,
    /// Two classes: sensitivity for class 1 at the operating point.
    pub sensitivity: Option<Estimate>,
    /// Two classes: specificity (class 0 called 0).
    pub specificity: Option<Estimate>,
    /// Two classes: the AUC of p1 (DeLong); more: the mean of the one-vs-rest AUCs
    /// (bootstrap interval).
    pub auc: Option<Estimate>,
    /// Macro-averaged F1 (bootstrap interval).
    pub macro_f1: Option<Estimate>,
    /// Cohen's kappa (bootstrap interval); `None` when undefined.
    pub kappa: Option<Estimate>,
    /// Quadratic-weighted kappa (bootstrap interval); `None` when undefined.
    pub quadratic_kappa: Option<Estimate>,
    /// Per class, one against the rest.
    pub per_class: Vec<ClassMetrics>,
    /// ROC curve of p1 (two classes) or of the last class against the rest.
    pub roc: Vec<RocPoint>,
    /// Calibration of p1 (two classes) or of the top class's probability, ten bins.
    pub calibration: Vec<CalibrationBin>,
}

impl ClassificationMetrics {
    /// The headline metrics by name, as gates and subgroup flags read them.
    pub fn headline(&self) -> Vec<(&'static str, Estimate)> {
        [
            ("auc", self.auc),
            ("sensitivity", self.sensitivity),
            ("specificity", self.specificity),
            ("accuracy", self.accuracy),
            ("macro_f1", self.macro_f1),
            ("kappa", self.kappa),
            ("quadratic_kappa", self.quadratic_kappa),
        ]
        .into_iter()
        .filter_map(|(name, e)| e.map(|e| (name, e)))
        .collect()
    }
}

/// The confusion matrix (rows truth, columns predicted) of `truth` and `predicted`.
pub fn confusion_matrix(truth: &[usize], predicted: &[usize], classes: usize) -> Vec<Vec<u64>> {
    let mut m = vec![vec![0u64; classes]; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        m[t][p] += 1;
    }
    m
}

/// Weighting of disagreements in Cohen's kappa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KappaWeights {
    /// Every disagreement weighs 1.
    Unweighted,
    /// A disagreement between classes i and j weighs (i − j)².
    Quadratic,
}

/// Cohen's kappa of a confusion matrix, as scikit-learn computes it; `None` when the expected
/// weighted disagreement is zero.
pub fn cohen_kappa(confusion: &[Vec<u64>], weights: KappaWeights) -> Option<f64> {
    let k = confusion.len();
    let total: f64 = confusion.iter().flatten().map(|&v| v as f64).sum();
    if total == 0.0 {
        return None;
    }
    let rows: Vec<f64> = confusion
        .iter()
        .map(|r| r.iter().map(|&v| v as f64).sum())
        .collect();
    let cols: Vec<f64> = (0..k)
        .map(|j| confusion.iter().map(|r| r[j] as f64).sum())
        .collect();
    let (mut observed, mut expected) = (0.0, 0.0);
    for i in 0..k {
        for j in 0..k {
            let w = match weights {
                KappaWeights::Unweighted => f64::from(u8::from(i != j)),
                KappaWeights::Quadratic => ((i as f64) - (j as f64)).powi(2),
            };
            observed += w * confusion[i][j] as f64;
            // sklearn: np.outer(sum0, sum1) / sum, sum0 = column sums, sum1 = row sums
            expected += w * (cols[i] * rows[j] / total);
        }
    }
    if expected == 0.0 {
        return None;
    }
    Some(1.0 - observed / expected)
}

/// Macro-F1 over classes 0..K−1 (undefined F1 counts 0).
pub fn macro_f1(confusion: &[Vec<u64>]) -> Option<f64> {
    let k = confusion.len();
    if k == 0 {
        return None;
    }
    Some((0..k).map(|c| class_f1(confusion, c)).sum::<f64>() / k as f64)
}

fn class_f1(confusion: &[Vec<u64>], c: usize) -> f64 {
    let tp = confusion[c][c] as f64;
    let fp: f64 = (0..confusion.len())
        .filter(|&r| r != c)
        .map(|r| confusion[r][c] as f64)
        .sum();
    let fn_: f64 = (0..confusion.len())
        .filter(|&j| j != c)
        .map(|j| confusion[c][j] as f64)
        .sum();
    let denominator = 2.0 * tp + fp + fn_;
    if denominator == 0.0 {
        0.0
    } else {
        2.0 * tp / denominator
    }
}

/// The one-vs-rest AUC of class `class` with DeLong's variance.
pub fn one_vs_rest_auc(input: &ClassificationInput, class: usize) -> Option<DeLong> {
    let mut positives = Vec::new();
    let mut negatives = Vec::new();
    for (t, p) in input.truth.iter().zip(&input.probabilities) {
        if *t == class {
            positives.push(p[class]);
        } else {
            negatives.push(p[class]);
        }
    }
    DeLong::new(&positives, &negatives)
}

fn macro_auc(input: &ClassificationInput) -> Option<f64> {
    let aucs: Option<Vec<f64>> = (0..input.classes)
        .map(|c| one_vs_rest_auc(input, c).map(|d| d.auc))
        .collect();
    aucs.map(|a| a.iter().sum::<f64>() / a.len() as f64)
}

/// Evaluates `input` at the options' operating point.
pub fn evaluate(input: &ClassificationInput, options: &ClassifyOptions) -> ClassificationMetrics {
    let k = input.classes;
    let predicted = input.predicted(options.threshold);
    let confusion = confusion_matrix(&input.truth, &predicted, k);
    let n = input.truth.len() as u64;
    let correct: u64 = (0..k).map(|c| confusion[c][c]).sum();
    let confidence = options.confidence;

    let per_class: Vec<ClassMetrics> = (0..k)
        .map(|c| {
            let support: u64 = confusion[c].iter().sum();
            let tp = confusion[c][c];
            let predicted_c: u64 = confusion.iter().map(|r| r[c]).sum();
            let negatives = n - support;
            let true_negatives = negatives - (predicted_c - tp);
            ClassMetrics {
                class: c,
                support,
                sensitivity: wilson(tp, support, confidence),
                specificity: wilson(true_negatives, negatives, confidence),
                precision: (predicted_c > 0).then(|| tp as f64 / predicted_c as f64),
                f1: class_f1(&confusion, c),
                auc: one_vs_rest_auc(input, c).map(|d| d.estimate(confidence)),
            }
        })
        .collect();

    // bootstrap over cases for F1, kappas and (K > 2) the macro AUC
    let mut reps_f1 = Vec::new();
    let mut reps_kappa = Vec::new();
    let mut reps_qwk = Vec::new();
    let mut reps_auc = Vec::new();
    if options.bootstrap_samples > 0 && n > 0 {
        let mut rng = SplitMix64::new(options.seed);
        let mut indices = vec![0usize; n as usize];
        for _ in 0..options.bootstrap_samples {
            for i in indices.iter_mut() {
                *i = rng.below(n as usize);
            }
            let truth: Vec<usize> = indices.iter().map(|&i| input.truth[i]).collect();
            let pred: Vec<usize> = indices.iter().map(|&i| predicted[i]).collect();
            let m = confusion_matrix(&truth, &pred, k);
            reps_f1.extend(macro_f1(&m));
            reps_kappa.push(cohen_kappa(&m, KappaWeights::Unweighted).unwrap_or(f64::NAN));
            reps_qwk.push(cohen_kappa(&m, KappaWeights::Quadratic).unwrap_or(f64::NAN));
            if k > 2 {
                reps_auc.push(macro_auc(&input.select(&indices)).unwrap_or(f64::NAN));
            }
        }
    }
    let with_interval = |value: Option<f64>, reps: &mut Vec<f64>| {
        value.map(|v| percentile_interval(v, reps, confidence).unwrap_or(Estimate::exact(v)))
    };
    let auc = if k == 2 {
        one_vs_rest_auc(input, 1).map(|d| d.estimate(confidence))
    } else {
        with_interval(macro_auc(input), &mut reps_auc)
    };

    let positive = k - 1;
    let (roc, calibration) = roc_and_calibration(input, &predicted, positive);
    ClassificationMetrics {
        cases: n,
        classes: k,
        threshold: options.threshold,
        accuracy: wilson(correct, n, confidence),
        sensitivity: if k == 2 {
            per_class[1].sensitivity
        } else {
            None
        },
        specificity: if k == 2 {
            per_class[1].specificity
        } else {
            None
        },
        auc,
        macro_f1: with_interval(
            (n > 0).then(|| macro_f1(&confusion)).flatten(),
            &mut reps_f1,
        ),
        kappa: with_interval(
            cohen_kappa(&confusion, KappaWeights::Unweighted),
            &mut reps_kappa,
        ),
        quadratic_kappa: with_interval(
            cohen_kappa(&confusion, KappaWeights::Quadratic),
            &mut reps_qwk,
        ),
        confusion,
        per_class,
        roc,
        calibration,
    }
}

fn roc_and_calibration(
    input: &ClassificationInput,
    predicted: &[usize],
    positive: usize,
) -> (Vec<RocPoint>, Vec<CalibrationBin>) {
    // ROC of the positive class's probability, every distinct threshold
    let mut order: Vec<usize> = (0..input.truth.len()).collect();
    let score = |i: usize| input.probabilities[i][positive];
    order.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
    let p_total = input.truth.iter().filter(|&&t| t == positive).count() as f64;
    let n_total = input.truth.len() as f64 - p_total;
    let mut roc = vec![RocPoint { fpr: 0.0, tpr: 0.0 }];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (rank, &i) in order.iter().enumerate() {
        if input.truth[i] == positive {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        if rank + 1 == order.len() || score(order[rank + 1]) != score(i) {
            roc.push(RocPoint {
                fpr: if n_total > 0.0 { fp / n_total } else { 0.0 },
                tpr: if p_total > 0.0 { tp / p_total } else { 0.0 },
            });
        }
    }
    // calibration: two classes, p1 against class 1; more, the top probability against correctness
    let mut bins: Vec<(u64, f64, f64)> = vec![(0, 0.0, 0.0); 10];
    for ((&truth, probabilities), &predicted) in
        input.truth.iter().zip(&input.probabilities).zip(predicted)
    {
        let (p, hit) = if input.classes == 2 {
            (probabilities[1], truth == 1)
        } else {
            (probabilities[predicted], truth == predicted)
        };
        let b = ((p.clamp(0.0, 1.0) * 10.0) as usize).min(9);
        bins[b].0 += 1;
        bins[b].1 += p;
        bins[b].2 += f64::from(u8::from(hit));
    }
    let calibration = bins
        .iter()
        .enumerate()
        .filter(|(_, b)| b.0 > 0)
        .map(|(k, b)| CalibrationBin {
            from: k as f64 / 10.0,
            to: (k + 1) as f64 / 10.0,
            cases: b.0,
            predicted: b.1 / b.0 as f64,
            observed: b.2 / b.0 as f64,
        })
        .collect();
    (roc, calibration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kappa_edge_cases() {
        type Case = (&'static str, Vec<Vec<u64>>, Option<f64>, Option<f64>);
        let cases: &[Case] = &[
            (
                "perfect agreement",
                vec![vec![5, 0], vec![0, 5]],
                Some(1.0),
                Some(1.0),
            ),
            (
                "all one class, both raters",
                vec![vec![10, 0], vec![0, 0]],
                None,
                None,
            ),
            (
                "complete disagreement",
                vec![vec![0, 5], vec![5, 0]],
                Some(-1.0),
                Some(-1.0),
            ),
            (
                "chance: one rater constant",
                vec![vec![5, 0], vec![5, 0]],
                Some(0.0),
                Some(0.0),
            ),
            ("no cases", vec![vec![0, 0], vec![0, 0]], None, None),
            // 3 classes, one-step errors weigh 1/4 of two-step errors under quadratic weights
            (
                "ordinal",
                vec![vec![4, 1, 0], vec![1, 3, 1], vec![0, 1, 4]],
                Some(0.6),
                Some(0.8),
            ),
        ];
        for (name, m, kappa, qwk) in cases {
            let got = cohen_kappa(m, KappaWeights::Unweighted);
            let got_q = cohen_kappa(m, KappaWeights::Quadratic);
            let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-12,
                (None, None) => true,
                _ => false,
            };
            assert!(close(got, *kappa), "{name}: kappa {got:?}");
            assert!(close(got_q, *qwk), "{name}: quadratic {got_q:?}");
        }
    }

    #[test]
    fn f1_of_a_class_never_predicted_nor_present_is_zero() {
        let m = vec![vec![3, 0, 0], vec![0, 2, 0], vec![0, 0, 0]];
        assert!((macro_f1(&m).unwrap() - 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn binary_operating_point() {
        let input = ClassificationInput {
            classes: 2,
            ids: (0..4).map(|i| i.to_string()).collect(),
            truth: vec![0, 0, 1, 1],
            probabilities: [0.1, 0.6, 0.4, 0.9]
                .iter()
                .map(|&p| vec![1.0 - p, p])
                .collect(),
            attributes: vec![BTreeMap::new(); 4],
        };
        let m = evaluate(&input, &ClassifyOptions::default());
        assert_eq!(m.confusion, vec![vec![1, 1], vec![1, 1]]);
        assert_eq!(m.sensitivity.unwrap().value, 0.5);
        assert_eq!(m.specificity.unwrap().value, 0.5);
        assert_eq!(m.auc.unwrap().value, 0.75);
        assert_eq!(m.roc.last().copied(), Some(RocPoint { fpr: 1.0, tpr: 1.0 }));
    }
}
