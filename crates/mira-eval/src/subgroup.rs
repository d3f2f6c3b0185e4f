//! Subgroups: every classification metric split by sex, age band, site, manufacturer and
//! model, with a flag on each subgroup whose metric falls below the whole by more than a
//! margin (the regional plan's "algorithm bias" check).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classify::{self, ClassificationInput, ClassificationMetrics, ClassifyOptions};
use crate::stats::Estimate;

/// The attributes subgroups are formed on, in report order (`age` becomes `age_band`).
pub const SPLITS: [&str; 5] = ["sex", "age_band", "site", "manufacturer", "model"];

/// A metric of a subgroup below the whole by more than the margin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shortfall {
    /// The metric's name (as in [`ClassificationMetrics::headline`]).
    pub metric: String,
    /// The subgroup's value.
    pub subgroup: f64,
    /// The whole's value.
    pub overall: f64,
}

/// One subgroup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subgroup {
    /// The attribute (`sex`, `age_band`, `site`, `manufacturer`, `model`).
    pub attribute: String,
    /// Its value.
    pub value: String,
    /// Cases in it.
    pub cases: u64,
    /// The plotted metric with its interval.
    pub estimate: Option<Estimate>,
    /// Whether any metric falls short.
    pub flagged: bool,
    /// The metrics that fall short.
    pub shortfalls: Vec<Shortfall>,
    /// Every metric.
    pub metrics: ClassificationMetrics,
}

/// Subgroups of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubgroupReport {
    /// The metric the forest plot shows (`auc` when defined, else `accuracy`).
    pub metric: String,
    /// The flagging margin.
    pub margin: f64,
    /// The whole's value of the plotted metric.
    pub overall: Option<Estimate>,
    /// The subgroups.
    pub groups: Vec<Subgroup>,
}

/// The age band of an age in years: `<40`, `40-49`, …, `80+`; `None` when not a number.
pub fn age_band(age: &str) -> Option<String> {
    let years: f64 = age.trim().trim_end_matches(['Y', 'y']).parse().ok()?;
    Some(match years {
        y if y < 40.0 => "<40".to_string(),
        y if y >= 80.0 => "80+".to_string(),
        y => {
            let decade = (y / 10.0).floor() as u32 * 10;
            format!("{decade}-{}", decade + 9)
        }
    })
}

/// Splits `input` and evaluates every subgroup; flags shortfalls beyond `margin`.
pub fn evaluate(
    input: &ClassificationInput,
    overall: &ClassificationMetrics,
    options: &ClassifyOptions,
    margin: f64,
) -> SubgroupReport {
    let metric = if overall.auc.is_some() {
        "auc"
    } else {
        "accuracy"
    };
    let overall_headline: BTreeMap<&str, Estimate> = overall.headline().into_iter().collect();
    let mut groups = Vec::new();
    for split in SPLITS {
        let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, attributes) in input.attributes.iter().enumerate() {
            let value = if split == "age_band" {
                attributes.get("age").and_then(|a| age_band(a))
            } else {
                attributes.get(split).cloned()
            };
            if let Some(value) = value {
                members.entry(value).or_default().push(i);
            }
        }
        for (value, indices) in members {
            let metrics = classify::evaluate(&input.select(&indices), options);
            let shortfalls: Vec<Shortfall> = metrics
                .headline()
                .into_iter()
                .filter_map(|(name, e)| {
                    let whole = overall_headline.get(name)?;
                    (e.value < whole.value - margin).then(|| Shortfall {
                        metric: name.to_string(),
                        subgroup: e.value,
                        overall: whole.value,
                    })
                })
                .collect();
            groups.push(Subgroup {
                attribute: split.to_string(),
                value,
                cases: indices.len() as u64,
                estimate: metrics
                    .headline()
                    .into_iter()
                    .find(|(n, _)| *n == metric)
                    .map(|(_, e)| e),
                flagged: !shortfalls.is_empty(),
                shortfalls,
                metrics,
            });
        }
    }
    SubgroupReport {
        metric: metric.to_string(),
        margin,
        overall: overall_headline.get(metric).copied(),
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_bands() {
        let cases = [
            ("39", Some("<40")),
            ("40", Some("40-49")),
            ("065Y", Some("60-69")),
            ("80", Some("80+")),
            ("n/a", None),
        ];
        for (age, want) in cases {
            assert_eq!(age_band(age).as_deref(), want, "{age}");
        }
    }

    #[test]
    fn a_weak_site_is_flagged() {
        let mut input = ClassificationInput {
            classes: 2,
            ..Default::default()
        };
        for i in 0..40 {
            let site = if i < 20 { "A" } else { "B" };
            let truth = i % 2;
            // site A perfect, site B always wrong
            let p1 = if (truth == 1) == (site == "A") {
                0.9
            } else {
                0.1
            };
            input.ids.push(i.to_string());
            input.truth.push(truth);
            input.probabilities.push(vec![1.0 - p1, p1]);
            input
                .attributes
                .push([("site".to_string(), site.to_string())].into());
        }
        let options = ClassifyOptions {
            bootstrap_samples: 20,
            ..Default::default()
        };
        let overall = classify::evaluate(&input, &options);
        let report = evaluate(&input, &overall, &options, 0.05);
        let flagged: Vec<_> = report
            .groups
            .iter()
            .filter(|g| g.flagged)
            .map(|g| g.value.as_str())
            .collect();
        assert_eq!(flagged, vec!["B"]);
    }
}

/// One FROC subgroup: the scans with one value of one attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrocSubgroup {
    /// The attribute (`sex`, `age_band`, `site`, `manufacturer`, `model`).
    pub attribute: String,
    /// Its value.
    pub value: String,
    /// Scans in it.
    pub scans: u64,
    /// Nodules in it.
    pub nodules: u64,
    /// CPM with its bootstrap interval (over the subgroup's scans).
    pub cpm: Estimate,
    /// Sensitivity over every candidate.
    pub sensitivity: f64,
    /// Whether CPM or sensitivity falls short of the whole by more than the margin.
    pub flagged: bool,
    /// The metrics that fall short (`cpm`, `sensitivity`).
    pub shortfalls: Vec<Shortfall>,
}

/// FROC by subgroup: the detection counterpart of [`SubgroupReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrocSubgroupReport {
    /// The flagging margin.
    pub margin: f64,
    /// The whole's CPM.
    pub overall_cpm: Estimate,
    /// The whole's sensitivity.
    pub overall_sensitivity: f64,
    /// The subgroups, in [`SPLITS`] order, then by value.
    pub groups: Vec<FrocSubgroup>,
}

/// Splits a FROC evaluation by the scans' attributes (`seriesuid` → `sex`, `age`, `site`,
/// `manufacturer`, `model`): each subgroup keeps its scans' nodules, excluded findings and
/// candidates and is scored exactly as the whole (LUNA16's rules, the same bootstrap). A
/// subgroup is flagged when its CPM or sensitivity is below the whole's by more than `margin`.
/// Scans without a value for an attribute are in no subgroup of it.
pub fn evaluate_froc(
    input: &crate::froc::FrocInput,
    overall: &crate::froc::FrocResult,
    attributes: &BTreeMap<String, BTreeMap<String, String>>,
    options: &crate::froc::FrocOptions,
    margin: f64,
) -> FrocSubgroupReport {
    use std::collections::BTreeSet;
    let mut groups = Vec::new();
    for split in SPLITS {
        let mut members: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for scan in &input.scans {
            let Some(attrs) = attributes.get(scan) else {
                continue;
            };
            let value = if split == "age_band" {
                attrs.get("age").and_then(|a| age_band(a))
            } else {
                attrs.get(split).cloned()
            };
            if let Some(value) = value {
                members.entry(value).or_default().insert(scan.as_str());
            }
        }
        for (value, scans) in members {
            let keep = |uid: &String| scans.contains(uid.as_str());
            let sub = crate::froc::FrocInput {
                nodules: input
                    .nodules
                    .iter()
                    .filter(|f| keep(&f.seriesuid))
                    .cloned()
                    .collect(),
                excluded: input
                    .excluded
                    .iter()
                    .filter(|f| keep(&f.seriesuid))
                    .cloned()
                    .collect(),
                scans: input.scans.iter().filter(|s| keep(s)).cloned().collect(),
                candidates: input
                    .candidates
                    .iter()
                    .filter(|c| keep(&c.seriesuid))
                    .cloned()
                    .collect(),
            };
            let result = crate::froc::evaluate(&sub, options);
            let mut shortfalls = Vec::new();
            for (metric, mine, whole) in [
                ("cpm", result.cpm.value, overall.cpm.value),
                (
                    "sensitivity",
                    result.counts.sensitivity,
                    overall.counts.sensitivity,
                ),
            ] {
                if mine < whole - margin {
                    shortfalls.push(Shortfall {
                        metric: metric.to_string(),
                        subgroup: mine,
                        overall: whole,
                    });
                }
            }
            groups.push(FrocSubgroup {
                attribute: split.to_string(),
                value,
                scans: sub.scans.len() as u64,
                nodules: result.counts.nodules,
                cpm: result.cpm,
                sensitivity: result.counts.sensitivity,
                flagged: !shortfalls.is_empty(),
                shortfalls,
            });
        }
    }
    FrocSubgroupReport {
        margin,
        overall_cpm: overall.cpm,
        overall_sensitivity: overall.counts.sensitivity,
        groups,
    }
}

/// Reads scan attributes: a CSV with `seriesuid` and any of `sex`, `age`, `site`,
/// `manufacturer`, `model` (LUNA16's files carry none; a site adds them from its PACS).
pub fn read_scan_attributes(
    path: &std::path::Path,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, crate::InputError> {
    let table = crate::table::Table::read(path, true)?;
    let uid = table.column("seriesuid")?;
    let columns: Vec<(&str, usize)> = ["sex", "age", "site", "manufacturer", "model"]
        .into_iter()
        .filter_map(|name| table.optional_column(name).map(|c| (name, c)))
        .collect();
    let mut out = BTreeMap::new();
    for (line, fields) in &table.rows {
        let id = fields[uid].trim().to_string();
        let attrs: BTreeMap<String, String> = columns
            .iter()
            .filter(|(_, c)| !fields[*c].trim().is_empty())
            .map(|(name, c)| (name.to_string(), fields[*c].trim().to_string()))
            .collect();
        if out.insert(id.clone(), attrs).is_some() {
            return Err(crate::InputError::line(
                path,
                *line,
                format!("seriesuid '{id}' is listed twice"),
            ));
        }
    }
    Ok(out)
}
