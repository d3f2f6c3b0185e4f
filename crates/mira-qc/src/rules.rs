//! The rule catalogue: which checks exist, how severe a failure is, the thresholds, what to do
//! and where each criterion comes from.
//!
//! Rules are data. The default catalogue (`rules/default.toml`) is compiled in; a site adjusts
//! it with an override file ([`RuleSet::apply_overrides`]) that may change a rule's severity or
//! thresholds, disable it, or change which series count as a protocol (e.g. what a low-dose
//! lung screening series is called at that site). Unknown rules, thresholds and keys are
//! refused, so a typo cannot silently disable a check.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The default catalogue, compiled in.
pub const DEFAULT_CATALOGUE: &str = include_str!("../rules/default.toml");

/// How serious a failed rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action required.
    Info,
    /// The image is usable but below standard; fix the cause.
    Warning,
    /// The image or study is not acceptable as it is.
    Fail,
}

impl Severity {
    /// Lower-case name, as in the catalogue.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Fail => "fail",
        }
    }
}

/// One rule of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable identifier, e.g. `ct.ldct.ctdivol`.
    pub id: String,
    /// What the rule checks, in one sentence.
    pub description: String,
    /// Severity of a failure.
    pub severity: Severity,
    /// Modalities (0008,0060) the rule applies to; empty: all. Fundus photographs that are not
    /// DICOM count as `OP`.
    #[serde(default)]
    pub modalities: Vec<String>,
    /// Protocol (a key of the catalogue's `protocols`) the rule is restricted to, if any.
    #[serde(default)]
    pub protocol: Option<String>,
    /// Numeric thresholds by name.
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
    /// What a technologist or administrator should do when it fails.
    pub action: String,
    /// Where the criterion comes from.
    pub source: String,
    /// Whether the rule runs (sites may disable rules).
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

impl Rule {
    /// A threshold by name. Every threshold the code reads is checked to exist when the
    /// catalogue loads ([`KNOWN_RULES`]), so this cannot miss for a loaded catalogue.
    pub fn threshold(&self, name: &str) -> f64 {
        self.thresholds.get(name).copied().unwrap_or(f64::NAN)
    }

    /// Whether the rule applies to a series of `modality`.
    pub fn applies_to(&self, modality: Option<&str>) -> bool {
        self.modalities.is_empty()
            || modality.is_some_and(|m| self.modalities.iter().any(|r| r.eq_ignore_ascii_case(m)))
    }
}

/// A named acquisition protocol, recognised from the series' text attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// What the protocol is.
    pub description: String,
    /// Case-insensitive substrings of Protocol Name (0018,1030), Series Description (0008,103E)
    /// or Study Description (0008,1030) that identify it.
    #[serde(rename = "match")]
    pub patterns: Vec<String>,
}

impl Protocol {
    /// Whether any of the texts names this protocol.
    pub fn matches<'a>(&self, texts: impl IntoIterator<Item = Option<&'a str>>) -> bool {
        let texts: Vec<String> = texts.into_iter().flatten().map(str::to_lowercase).collect();
        self.patterns.iter().any(|p| {
            let p = p.to_lowercase();
            texts.iter().any(|t| t.contains(&p))
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    protocols: BTreeMap<String, Protocol>,
    rules: Vec<Rule>,
}

/// A site's changes to the catalogue.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideFile {
    #[serde(default)]
    protocols: BTreeMap<String, ProtocolOverride>,
    #[serde(default)]
    rules: BTreeMap<String, RuleOverride>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtocolOverride {
    #[serde(rename = "match")]
    patterns: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleOverride {
    severity: Option<Severity>,
    enabled: Option<bool>,
    #[serde(default)]
    thresholds: BTreeMap<String, f64>,
    action: Option<String>,
}

/// Why a catalogue or override file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML does not parse or has unknown keys.
    #[error("invalid rule file: {0}")]
    Toml(#[from] toml::de::Error),
    /// A rule the checks need is missing from the catalogue.
    #[error("the catalogue lacks rule {0}")]
    MissingRule(String),
    /// A rule lacks a threshold the check reads.
    #[error("rule {rule} lacks threshold {threshold}")]
    MissingThreshold {
        /// The rule.
        rule: String,
        /// The threshold.
        threshold: String,
    },
    /// An override names a rule that does not exist.
    #[error("unknown rule {0}")]
    UnknownRule(String),
    /// An override names a threshold the rule does not have.
    #[error("rule {rule} has no threshold {threshold}")]
    UnknownThreshold {
        /// The rule.
        rule: String,
        /// The threshold.
        threshold: String,
    },
    /// A rule names a protocol that is not defined, or an override an unknown protocol.
    #[error("unknown protocol {0}")]
    UnknownProtocol(String),
    /// A rule id appears twice.
    #[error("rule {0} is defined twice")]
    DuplicateRule(String),
    /// A threshold is not a finite number.
    #[error("threshold {threshold} of rule {rule} is not a finite number")]
    NotFinite {
        /// The rule.
        rule: String,
        /// The threshold.
        threshold: String,
    },
}

/// Every rule the checks evaluate, with the thresholds each reads.
pub const KNOWN_RULES: &[(&str, &[&str])] = &[
    ("header.type1", &[]),
    ("header.type2", &[]),
    ("header.uid-syntax", &["max_length"]),
    ("header.patient-sex", &[]),
    ("header.dates", &["clock_skew_days"]),
    ("header.age-range", &["max_years"]),
    ("header.patient-age", &["tolerance_units"]),
    ("header.pixel-spacing", &["min_mm", "max_mm"]),
    ("header.photometric", &[]),
    ("pixels.decodable", &[]),
    ("study.patient-consistent", &[]),
    ("study.attributes-consistent", &[]),
    ("series.consistent", &[]),
    ("ct.geometry-present", &[]),
    ("ct.orientation", &["max_deg"]),
    ("ct.duplicates", &["min_distance_mm"]),
    ("ct.gaps", &["max_ratio"]),
    ("ct.spacing-uniform", &["tolerance_mm"]),
    ("ct.gantry-tilt", &["max_deg"]),
    ("ct.interval-vs-thickness", &["tolerance_mm"]),
    ("ct.ldct.thickness", &["max_mm"]),
    ("ct.ldct.interval", &["tolerance_mm"]),
    ("ct.ldct.kvp", &["min_kv", "max_kv"]),
    (
        "ct.ldct.ctdivol",
        &[
            "max_mgy",
            "standard_weight_min_kg",
            "standard_weight_max_kg",
        ],
    ),
    ("cxr.exposure-index-present", &[]),
    ("cxr.di-target", &["max_abs"]),
    ("cxr.di-underexposed", &["min"]),
    ("cxr.di-overexposed", &["max"]),
    ("cxr.view-position", &[]),
    ("cxr.view-ap", &[]),
    ("cxr.polarity", &["min_contrast"]),
    ("cxr.clipping", &["max_fraction"]),
    ("cxr.dynamic-range", &["min_fraction"]),
    ("cxr.collimation", &["min_field_fraction"]),
    (
        "fundus.field-of-view",
        &["min_field_fraction", "max_centre_offset"],
    ),
    ("fundus.too-dark", &["min_brightness"]),
    ("fundus.over-exposed", &["max_saturated_fraction"]),
    ("fundus.uneven-illumination", &["max_ratio"]),
    ("fundus.focus", &["min_sharpness"]),
    ("fundus.contrast", &["min_contrast"]),
    ("fundus.optic-disc", &["min_prominence"]),
];

/// A loaded, validated catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    rules: BTreeMap<String, Rule>,
    protocols: BTreeMap<String, Protocol>,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet::from_toml(DEFAULT_CATALOGUE).expect("the default catalogue is valid")
    }
}

impl RuleSet {
    /// Parses and validates a whole catalogue.
    pub fn from_toml(text: &str) -> Result<Self, RulesError> {
        let file: CatalogueFile = toml::from_str(text)?;
        let mut rules = BTreeMap::new();
        for rule in file.rules {
            if let Some(p) = &rule.protocol
                && !file.protocols.contains_key(p)
            {
                return Err(RulesError::UnknownProtocol(p.clone()));
            }
            if let Some(rule) = rules.insert(rule.id.clone(), rule) {
                return Err(RulesError::DuplicateRule(rule.id));
            }
        }
        let set = RuleSet {
            rules,
            protocols: file.protocols,
        };
        set.validate()?;
        Ok(set)
    }

    /// The default catalogue with a site's override file applied.
    pub fn load_with_overrides(path: &Path) -> Result<Self, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut set = RuleSet::default();
        set.apply_overrides(&text)?;
        Ok(set)
    }

    /// Applies a site override file:
    ///
    /// ```toml
    /// [protocols.ldct]
    /// match = ["LDCT", "screening"]
    ///
    /// [rules."ct.ldct.ctdivol"]
    /// severity = "warning"
    /// thresholds = { max_mgy = 2.5 }
    ///
    /// [rules."cxr.view-ap"]
    /// enabled = false
    /// ```
    pub fn apply_overrides(&mut self, text: &str) -> Result<(), RulesError> {
        let file: OverrideFile = toml::from_str(text)?;
        for (name, p) in file.protocols {
            let protocol = self
                .protocols
                .get_mut(&name)
                .ok_or_else(|| RulesError::UnknownProtocol(name.clone()))?;
            protocol.patterns = p.patterns;
        }
        for (id, o) in file.rules {
            let rule = self
                .rules
                .get_mut(&id)
                .ok_or_else(|| RulesError::UnknownRule(id.clone()))?;
            if let Some(s) = o.severity {
                rule.severity = s;
            }
            if let Some(e) = o.enabled {
                rule.enabled = e;
            }
            if let Some(a) = o.action {
                rule.action = a;
            }
            for (name, value) in o.thresholds {
                let slot =
                    rule.thresholds
                        .get_mut(&name)
                        .ok_or_else(|| RulesError::UnknownThreshold {
                            rule: id.clone(),
                            threshold: name.clone(),
                        })?;
                *slot = value;
            }
        }
        self.validate()
    }

    fn validate(&self) -> Result<(), RulesError> {
        for (id, thresholds) in KNOWN_RULES {
            let rule = self
                .rules
                .get(*id)
                .ok_or_else(|| RulesError::MissingRule(id.to_string()))?;
            for t in *thresholds {
                if !rule.thresholds.contains_key(*t) {
                    return Err(RulesError::MissingThreshold {
                        rule: id.to_string(),
                        threshold: t.to_string(),
                    });
                }
            }
        }
        for rule in self.rules.values() {
            for (name, value) in &rule.thresholds {
                if !value.is_finite() {
                    return Err(RulesError::NotFinite {
                        rule: rule.id.clone(),
                        threshold: name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// A rule by id, enabled or not.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.get(id)
    }

    /// Every rule, by id.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values()
    }

    /// A protocol by name.
    pub fn protocol(&self, name: &str) -> Option<&Protocol> {
        self.protocols.get(name)
    }

    /// The rule `id` if it is enabled and applies to `modality`.
    pub(crate) fn active(&self, id: &str, modality: Option<&str>) -> Option<&Rule> {
        let rule = self.rules.get(id)?;
        (rule.enabled && rule.applies_to(modality)).then_some(rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_catalogue_has_every_rule_with_a_source_and_action() {
        let set = RuleSet::default();
        for rule in set.rules() {
            assert!(!rule.source.trim().is_empty(), "{} has no source", rule.id);
            assert!(!rule.action.trim().is_empty(), "{} has no action", rule.id);
            assert!(
                KNOWN_RULES.iter().any(|(id, _)| *id == rule.id),
                "{} is in the catalogue but no check evaluates it",
                rule.id
            );
        }
    }

    #[test]
    fn overrides_change_thresholds_severity_and_protocols() {
        let mut set = RuleSet::default();
        set.apply_overrides(
            r#"
            [protocols.ldct]
            match = ["LUNGSCREEN"]
            [rules."ct.ldct.ctdivol"]
            severity = "warning"
            thresholds = { max_mgy = 2.5 }
            [rules."cxr.view-ap"]
            enabled = false
            "#,
        )
        .unwrap();
        let rule = set.get("ct.ldct.ctdivol").unwrap();
        assert_eq!(rule.severity, Severity::Warning);
        assert_eq!(rule.threshold("max_mgy"), 2.5);
        assert!(set.active("cxr.view-ap", Some("CR")).is_none());
        let ldct = set.protocol("ldct").unwrap();
        assert!(ldct.matches([Some("Thorax LungScreen 1.0")]));
        assert!(!ldct.matches([Some("LDCT")]));
    }

    #[test]
    fn overrides_with_typos_are_refused() {
        let cases = [
            (
                r#"[rules."ct.ldct.ctdivl"]
                enabled = false"#,
                "unknown rule ct.ldct.ctdivl",
            ),
            (
                r#"[rules."ct.ldct.ctdivol"]
                thresholds = { max = 2.5 }"#,
                "rule ct.ldct.ctdivol has no threshold max",
            ),
            (
                r#"[rules."ct.ldct.ctdivol"]
                severty = "info""#,
                "unknown field",
            ),
            (
                r#"[protocols.hrct]
                match = ["x"]"#,
                "unknown protocol hrct",
            ),
        ];
        for (text, expected) in cases {
            let err = RuleSet::default().apply_overrides(text).unwrap_err();
            assert!(err.to_string().contains(expected), "{err} for {text}");
        }
    }

    #[test]
    fn a_catalogue_missing_a_rule_is_refused() {
        let text = DEFAULT_CATALOGUE.replace("id = \"ct.gaps\"", "id = \"ct.gapz\"");
        let err = RuleSet::from_toml(&text).unwrap_err();
        assert_eq!(err.to_string(), "the catalogue lacks rule ct.gaps");
    }
}
