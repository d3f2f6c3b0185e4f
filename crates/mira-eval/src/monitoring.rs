//! Post-deployment monitoring: how physicians receive a deployed model's findings, and an
//! alert when that drifts.
//!
//! The input is what the reading workflow records when a report is signed: per model version,
//! site and period, the AI findings accepted, edited and rejected (DECIDE-AI's human–AI
//! agreement, "how often users followed, edited or overrode AI output";
//! ai-evaluation-standards.md §7 and the checklist's "post-deployment monitoring plan:
//! per-version and per-site acceptance, edit and rejection rates, drift alert thresholds").
//!
//! The rule: a period's rejection rate is compared with the same model and site's earlier
//! periods pooled (the baseline). It drifts when it is higher by more than
//! [`DriftSettings::margin`] **and** the difference is significant by a one-sided
//! two-proportion z-test (pooled variance) at [`DriftSettings::z`]; periods and baselines
//! with fewer than [`DriftSettings::min_reviewed`] reviewed findings are not judged, so that a
//! handful of rejections in a quiet week does not raise an alarm.

use serde::{Deserialize, Serialize};

/// Review counts of one model version at one site in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewCounts {
    /// Model (analyzer and version).
    pub model: String,
    /// Site code.
    pub site: String,
    /// Period label; periods sort in time order as text (`2026-W48`, `2026-12`).
    pub period: String,
    /// Findings accepted as they were.
    pub accepted: u64,
    /// Findings accepted with changes.
    pub edited: u64,
    /// Findings rejected.
    pub rejected: u64,
}

impl ReviewCounts {
    /// Findings a physician decided on.
    pub fn reviewed(&self) -> u64 {
        self.accepted + self.edited + self.rejected
    }
}

/// When to alert.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftSettings {
    /// Least increase of the rejection rate over the baseline (absolute, 0..1).
    pub margin: f64,
    /// One-sided z threshold (1.645: 5%).
    pub z: f64,
    /// Least reviewed findings in the period and in the baseline.
    pub min_reviewed: u64,
}

impl Default for DriftSettings {
    fn default() -> Self {
        DriftSettings {
            margin: 0.15,
            z: 1.645,
            min_reviewed: 20,
        }
    }
}

/// A drift alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftAlert {
    /// Model.
    pub model: String,
    /// Site.
    pub site: String,
    /// The period that drifted.
    pub period: String,
    /// Its rejection rate and reviewed count.
    pub rejection_rate: f64,
    /// Reviewed findings in the period.
    pub reviewed: u64,
    /// The earlier periods' pooled rejection rate and reviewed count.
    pub baseline_rate: f64,
    /// Reviewed findings in the baseline.
    pub baseline_reviewed: u64,
    /// The z statistic.
    pub z: f64,
}

/// Alerts over every model and site in `rows` (any order).
pub fn drift_alerts(rows: &[ReviewCounts], settings: &DriftSettings) -> Vec<DriftAlert> {
    let mut sorted: Vec<&ReviewCounts> = rows.iter().collect();
    sorted.sort_by(|a, b| (&a.model, &a.site, &a.period).cmp(&(&b.model, &b.site, &b.period)));
    let mut alerts = Vec::new();
    let mut base_rejected = 0u64;
    let mut base_reviewed = 0u64;
    for (i, row) in sorted.iter().enumerate() {
        let new_series = i == 0 || {
            let prev = sorted[i - 1];
            prev.model != row.model || prev.site != row.site
        };
        if new_series {
            base_rejected = 0;
            base_reviewed = 0;
        }
        let reviewed = row.reviewed();
        if reviewed >= settings.min_reviewed && base_reviewed >= settings.min_reviewed {
            let rate = row.rejected as f64 / reviewed as f64;
            let base = base_rejected as f64 / base_reviewed as f64;
            let z = two_proportion_z(row.rejected, reviewed, base_rejected, base_reviewed);
            // "more than the margin": a difference equal to it, up to rounding, is not
            if rate - base > settings.margin + 1e-12 && z >= settings.z {
                alerts.push(DriftAlert {
                    model: row.model.clone(),
                    site: row.site.clone(),
                    period: row.period.clone(),
                    rejection_rate: rate,
                    reviewed,
                    baseline_rate: base,
                    baseline_reviewed: base_reviewed,
                    z,
                });
            }
        }
        base_rejected += row.rejected;
        base_reviewed += reviewed;
    }
    alerts
}

/// z of `x1/n1 − x2/n2` with the pooled proportion's standard error; 0 when undefined.
fn two_proportion_z(x1: u64, n1: u64, x2: u64, n2: u64) -> f64 {
    let (x1, n1, x2, n2) = (x1 as f64, n1 as f64, x2 as f64, n2 as f64);
    let pooled = (x1 + x2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 || !se.is_finite() {
        return 0.0;
    }
    (x1 / n1 - x2 / n2) / se
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(period: &str, accepted: u64, rejected: u64) -> ReviewCounts {
        ReviewCounts {
            model: "lung-ct 1".into(),
            site: "cc-1".into(),
            period: period.into(),
            accepted,
            edited: 0,
            rejected,
        }
    }

    #[test]
    fn z_matches_a_worked_example() {
        // 30/100 vs 15/100: pooled 0.225, SE sqrt(0.225*0.775*0.02) = 0.059055, z = 2.5400
        let z = two_proportion_z(30, 100, 15, 100);
        assert!((z - 2.5400).abs() < 1e-4, "{z}");
    }

    /// Table: (baseline accepted, rejected; period accepted, rejected; alert?)
    #[test]
    fn drift_rule_boundaries() {
        let settings = DriftSettings::default();
        let cases: &[(u64, u64, u64, u64, bool, &str)] = &[
            (90, 10, 60, 40, true, "10% → 40%: large and significant"),
            (
                90,
                10,
                75,
                25,
                false,
                "10% → 25%: exactly the margin, not more",
            ),
            (90, 10, 74, 26, true, "10% → 26%: over the margin, z 2.9"),
            (
                90,
                10,
                12,
                8,
                true,
                "period of exactly 20 reviewed: 40%, z 3.4",
            ),
            (
                90,
                10,
                11,
                8,
                false,
                "period of 19 reviewed: below the minimum",
            ),
            (
                15,
                4,
                60,
                40,
                false,
                "baseline of 19 reviewed: below the minimum",
            ),
            (90, 10, 95, 5, false, "rejections fell"),
        ];
        for &(ba, br, pa, pr, alert, why) in cases {
            let rows = [row("2026-W40", ba, br), row("2026-W41", pa, pr)];
            let alerts = drift_alerts(&rows, &settings);
            assert_eq!(!alerts.is_empty(), alert, "{why}: {alerts:?}");
        }
    }

    #[test]
    fn baselines_are_per_model_and_site() {
        let mut other = row("2026-W41", 60, 40);
        other.site = "cc-2".into();
        // cc-2 has no baseline of its own: no alert, whatever cc-1 did
        let rows = [row("2026-W40", 90, 10), other];
        assert!(drift_alerts(&rows, &DriftSettings::default()).is_empty());
    }

    #[test]
    fn later_periods_pool_every_earlier_one() {
        let rows = [
            row("2026-W40", 45, 5),
            row("2026-W41", 45, 5),
            row("2026-W42", 50, 50),
        ];
        let alerts = drift_alerts(&rows, &DriftSettings::default());
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].period, "2026-W42");
        assert_eq!(alerts[0].baseline_reviewed, 100);
        assert!((alerts[0].baseline_rate - 0.10).abs() < 1e-12);
    }
}
