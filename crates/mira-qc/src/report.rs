//! What QC says about an instance, a series or a study: one [`Check`] per rule evaluated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rules::{Rule, Severity};

/// The result of evaluating one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The rule held.
    Pass,
    /// The rule did not hold; its severity is info.
    Info,
    /// The rule did not hold; its severity is warning.
    Warning,
    /// The rule did not hold; its severity is fail.
    Fail,
}

impl Status {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Info => "info",
            Status::Warning => "warning",
            Status::Fail => "fail",
        }
    }

    /// Parses [`Status::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pass" => Status::Pass,
            "info" => Status::Info,
            "warning" => Status::Warning,
            "fail" => Status::Fail,
            _ => return None,
        })
    }
}

impl From<Severity> for Status {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Info => Status::Info,
            Severity::Warning => Status::Warning,
            Severity::Fail => Status::Fail,
        }
    }
}

/// One rule evaluated on one subject. A check that did not pass is a *finding*.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The rule's id.
    pub rule: String,
    /// Pass, or the rule's severity.
    pub status: Status,
    /// What was measured, with its unit (e.g. `0.000\0.000 mm`, `18.5 mGy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
    /// What the rule expects (e.g. `<= 3.0 mGy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// One sentence on what was found.
    pub message: String,
    /// What to do; only on findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Where the criterion comes from; only on findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Check {
    /// Evaluates `rule`: passes when `ok`, otherwise takes the rule's severity, action and
    /// source.
    pub fn new(
        rule: &Rule,
        ok: bool,
        measured: Option<String>,
        expected: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Check {
            rule: rule.id.clone(),
            status: if ok {
                Status::Pass
            } else {
                rule.severity.into()
            },
            measured,
            expected,
            message: message.into(),
            action: (!ok).then(|| rule.action.clone()),
            source: (!ok).then(|| rule.source.clone()),
        }
    }

    /// Whether the rule held.
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }
}

/// What a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// One instance (or one photograph file).
    Instance,
    /// One series.
    Series,
    /// One study.
    Study,
}

impl Level {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Instance => "instance",
            Level::Series => "series",
            Level::Study => "study",
        }
    }
}

/// Every check on one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was checked.
    pub level: Level,
    /// The subject: a UID, or the file or folder when the UID is absent.
    pub subject: String,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
    /// Key measurements by name, with the unit in the name (`slice_thickness_mm`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measurements: BTreeMap<String, f64>,
    /// Gradability, for fundus photographs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<Grade>,
}

/// Gradability of a fundus photograph, in the sense of EyeQ (Fu et al., MICCAI 2019).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grade {
    /// Optic disc, macula and vessels sufficiently visible.
    Good,
    /// Slight quality problems; diagnostic structures still identifiable.
    Usable,
    /// A full and reliable diagnosis is impossible: re-image or refer.
    Reject,
}

impl Grade {
    /// Whether a reading may conclude anything from the image. A rejected image never yields
    /// "no retinopathy": it is re-imaged or referred.
    pub fn is_gradable(self) -> bool {
        self != Grade::Reject
    }

    /// Name.
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Good => "Good",
            Grade::Usable => "Usable",
            Grade::Reject => "Reject",
        }
    }
}

impl Report {
    /// A report with no checks yet.
    pub fn new(level: Level, subject: impl Into<String>) -> Self {
        Report {
            level,
            subject: subject.into(),
            checks: Vec::new(),
            measurements: BTreeMap::new(),
            grade: None,
        }
    }

    /// The worst status of any check (pass when there are none).
    pub fn outcome(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Pass)
    }

    /// The checks that did not pass.
    pub fn findings(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed())
    }

    /// The check of `rule`, if it ran.
    pub fn check(&self, rule: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.rule == rule)
    }
}

/// Formats a number without trailing noise: `3`, `2.5`, `0.0417`.
pub(crate) fn num(value: f64) -> String {
    if value == value.round() && value.abs() < 1e9 {
        format!("{value:.0}")
    } else {
        let s = format!("{value:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
