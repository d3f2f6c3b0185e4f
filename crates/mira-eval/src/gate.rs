//! The deployment gate: per intended use, the dataset a model must be evaluated on and the
//! minimum of each metric. Thresholds are data (TOML), e.g.
//!
//! ```toml
//! [[gate]]
//! intended_use = "Second read of colour fundus photographs of adults with diabetes"
//! dataset = "dr-regional-test"
//! bound = "lower"            # compare the interval's lower bound ("estimate": the value)
//! [gate.minimum]
//! auc = 0.90
//! sensitivity = 0.85
//! specificity = 0.80
//! ```
//!
//! Metric names are those of [`crate::classify::ClassificationMetrics::headline`] and `cpm`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::InputError;
use crate::stats::Estimate;

/// The metrics a gate may set a minimum for.
pub const GATED_METRICS: [&str; 8] = [
    "auc",
    "sensitivity",
    "specificity",
    "accuracy",
    "macro_f1",
    "kappa",
    "quadratic_kappa",
    "cpm",
];

/// Which number of an estimate is compared with the minimum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// The point estimate.
    #[default]
    Estimate,
    /// The lower bound of its confidence interval (stricter).
    Lower,
}

/// The gate of one intended use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// The intended use, exactly as the model's manifest states it.
    pub intended_use: String,
    /// The dataset (by name) the evaluation must be on.
    pub dataset: String,
    /// Estimate or lower bound.
    #[serde(default)]
    pub bound: Bound,
    /// Minimum per metric.
    pub minimum: BTreeMap<String, f64>,
}

/// Every gate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// The gates, one per intended use.
    #[serde(default, rename = "gate")]
    pub gates: Vec<Gate>,
}

impl Gates {
    /// Reads and validates a gate file.
    pub fn from_path(path: &Path) -> Result<Gates, InputError> {
        let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let gates: Gates =
            toml::from_str(&text).map_err(|e| InputError::file(path, e.to_string()))?;
        for gate in &gates.gates {
            if gate.minimum.is_empty() {
                return Err(InputError::file(
                    path,
                    format!("gate for '{}' sets no minimum", gate.intended_use),
                ));
            }
            for name in gate.minimum.keys() {
                if !GATED_METRICS.contains(&name.as_str()) {
                    return Err(InputError::file(
                        path,
                        format!(
                            "unknown metric '{name}' (known: {})",
                            GATED_METRICS.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(gates)
    }

    /// The gate for `intended_use`.
    pub fn for_intended_use(&self, intended_use: &str) -> Option<&Gate> {
        self.gates.iter().find(|g| g.intended_use == intended_use)
    }
}

impl Gate {
    /// Every shortfall of `metrics` against the minimums, as sentences; empty when it passes.
    pub fn shortfalls(&self, metrics: &BTreeMap<String, Estimate>) -> Vec<String> {
        self.minimum
            .iter()
            .filter_map(|(name, &minimum)| match metrics.get(name) {
                None => Some(format!("{name} was not measured (minimum {minimum})")),
                Some(e) => {
                    let (value, what) = match self.bound {
                        Bound::Estimate => (e.value, ""),
                        Bound::Lower => (e.low, " (lower bound)"),
                    };
                    (value < minimum)
                        .then(|| format!("{name}{what} {value:.4} < {minimum} required"))
                }
            })
            .collect()
    }
}
