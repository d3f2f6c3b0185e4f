//! Guideline profiles: a TOML table of rules, validated on load.
//!
//! A profile names its categories in order of suspicion, each with its management
//! recommendation, then lists rules. A rule is a set of conditions (attenuation, status,
//! location, benign features, size thresholds on the mean diameter and on a part-solid
//! nodule's solid component, the prior category, single or multiple nodules, patient risk)
//! and the category it gives, with the source it comes from. For one nodule, the first rule
//! whose conditions all hold decides; upgrades (e.g. Lung-RADS 4X) then apply. Exam-level
//! rules give the category of an incomplete exam (Lung-RADS 0).
//!
//! The compiled-in profiles are ACR Lung-RADS v2022 ([`LUNG_RADS_2022`]) and Fleischner 2017
//! ([`FLEISCHNER_2017`], MacMahon et al., Radiology 2017;284:228-243). Another guideline (a
//! Chinese one, say) is another TOML file given to [`Profile::from_toml`]: no code.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::measure::{MeasurementError, Mm, Precision};
use crate::nodule::{AttenuationKind, CystFeature, LocationKind, NoduleStatus};

/// ACR Lung-RADS v2022, compiled in (`profiles/lung-rads-2022.toml`).
pub const LUNG_RADS_2022: &str = include_str!("../profiles/lung-rads-2022.toml");

/// Fleischner Society 2017, compiled in (`profiles/fleischner-2017.toml`).
pub const FLEISCHNER_2017: &str = include_str!("../profiles/fleischner-2017.toml");

/// Why a profile was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The text is not TOML of the profile's shape (unknown keys are refused).
    #[error("profile {profile}: not a valid profile")]
    Toml {
        /// Which profile text.
        profile: String,
        /// What the TOML parser said.
        #[source]
        source: toml::de::Error,
    },
    /// The profile declares no categories or no rules.
    #[error("profile {profile}: declares no {what}")]
    Empty {
        /// Profile id.
        profile: String,
        /// `categories` or `rules`.
        what: &'static str,
    },
    /// Two categories share a code, or two rules an id.
    #[error("profile {profile}: {what} {name} is declared twice")]
    Duplicate {
        /// Profile id.
        profile: String,
        /// `category` or `rule`.
        what: &'static str,
        /// The repeated code or id.
        name: String,
    },
    /// A rule, upgrade or setting names a category the profile does not declare.
    #[error("profile {profile}: {place} names unknown category {code}")]
    UnknownCategory {
        /// Profile id.
        profile: String,
        /// The rule id or setting.
        place: String,
        /// The unknown code.
        code: String,
    },
    /// A size threshold is not a plain length, or finer than the profile's precision.
    #[error("profile {profile}: rule {rule}: threshold {field} = {value} is invalid")]
    Threshold {
        /// Profile id.
        profile: String,
        /// Rule id.
        rule: String,
        /// The condition, e.g. `mean_lt`.
        field: &'static str,
        /// The value as written.
        value: f64,
        /// Why.
        #[source]
        source: Option<MeasurementError>,
    },
    /// A rule's lower bound is not below its upper bound, so it can never hold.
    #[error("profile {profile}: rule {rule}: the {what} range is empty")]
    EmptyRange {
        /// Profile id.
        profile: String,
        /// Rule id.
        rule: String,
        /// `mean diameter` or `solid component`.
        what: &'static str,
    },
    /// A rule, upgrade or exam rule lacks its source citation.
    #[error("profile {profile}: {place} cites no source")]
    NoSource {
        /// Profile id.
        profile: String,
        /// The rule id.
        place: String,
    },
    /// The growth definition is not a positive length and a positive window.
    #[error("profile {profile}: growth must be a positive length within a positive window")]
    Growth {
        /// Profile id.
        profile: String,
    },
}

/// Patient risk, as Fleischner 2017 uses it (low: estimated cancer risk < 5%).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// Low risk.
    Low,
    /// High risk.
    High,
}

/// Why an exam is incomplete (Lung-RADS category 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IncompleteReason {
    /// A prior chest CT is being located for comparison.
    PriorBeingLocated,
    /// Part or all of the lungs cannot be evaluated.
    LungsNotEvaluable,
    /// Findings suggest an inflammatory or infectious process.
    InfectiousOrInflammatory,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    id: String,
    name: String,
    citation: String,
    mean_diameter_precision: Precision,
    growth_mm: f64,
    growth_window_months: u32,
    #[serde(default)]
    stable_reclassify_by_size: bool,
    no_findings_category: String,
    #[serde(default)]
    s_modifier: bool,
    #[serde(default)]
    incomplete_overrides: Vec<String>,
    #[serde(default, rename = "category")]
    categories: Vec<Category>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
    #[serde(default, rename = "upgrade")]
    upgrades: Vec<RawUpgrade>,
    #[serde(default, rename = "incomplete")]
    incomplete: Vec<IncompleteRule>,
}

/// One category of a profile, with its default management recommendation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Code, e.g. `4A`.
    pub code: String,
    /// Descriptor, e.g. "Suspicious".
    pub descriptor: String,
    /// Management recommendation.
    pub management: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    category: String,
    #[serde(default)]
    management: Option<String>,
    source: String,
    #[serde(default)]
    when: RawWhen,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    attenuation: Option<Vec<AttenuationKind>>,
    status: Option<Vec<NoduleStatus>>,
    location: Option<Vec<LocationKind>>,
    benign: Option<bool>,
    suspicious_features: Option<bool>,
    cyst: Option<Vec<CystFeature>>,
    proven_benign: Option<bool>,
    prior_category: Option<Vec<String>>,
    multiple: Option<bool>,
    risk: Option<Risk>,
    mean_ge: Option<f64>,
    mean_gt: Option<f64>,
    mean_lt: Option<f64>,
    mean_le: Option<f64>,
    solid_ge: Option<f64>,
    solid_gt: Option<f64>,
    solid_lt: Option<f64>,
    solid_le: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpgrade {
    id: String,
    from: Vec<String>,
    to: String,
    source: String,
    #[serde(default)]
    when: RawWhen,
}

/// An exam-level rule: the category and management of an incomplete exam.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncompleteRule {
    /// Rule id.
    pub id: String,
    /// The reason it applies to.
    pub reason: IncompleteReason,
    /// Category given.
    pub category: String,
    /// Management, where it differs from the category's.
    #[serde(default)]
    pub management: Option<String>,
    /// Source citation.
    pub source: String,
}

/// A range on a length: lower and upper bounds, each inclusive or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    /// Lower bound and whether it is inclusive (`>=`).
    pub lower: Option<(Mm, bool)>,
    /// Upper bound and whether it is inclusive (`<=`).
    pub upper: Option<(Mm, bool)>,
}

impl Range {
    /// Whether `value` lies in the range.
    pub fn contains(&self, value: Mm) -> bool {
        let above = match self.lower {
            None => true,
            Some((bound, true)) => value >= bound,
            Some((bound, false)) => value > bound,
        };
        let below = match self.upper {
            None => true,
            Some((bound, true)) => value <= bound,
            Some((bound, false)) => value < bound,
        };
        above && below
    }

    /// Whether the range constrains anything.
    pub fn is_open(&self) -> bool {
        self.lower.is_none() && self.upper.is_none()
    }

    fn is_empty(&self) -> bool {
        match (self.lower, self.upper) {
            (Some((lo, lo_inc)), Some((hi, hi_inc))) => {
                lo > hi || (lo == hi && !(lo_inc && hi_inc))
            }
            _ => false,
        }
    }
}

/// The conditions of a rule; an absent condition always holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conditions {
    /// Attenuation is one of these.
    pub attenuation: Option<BTreeSet<AttenuationKind>>,
    /// Status is one of these.
    pub status: Option<BTreeSet<NoduleStatus>>,
    /// Location is one of these.
    pub location: Option<BTreeSet<LocationKind>>,
    /// Has (or has not) a benign feature.
    pub benign: Option<bool>,
    /// Has (or has not) suspicious features.
    pub suspicious_features: Option<bool>,
    /// Is an atypical cyst with one of these features.
    pub cyst: Option<BTreeSet<CystFeature>>,
    /// Is (or is not) proven benign after workup.
    pub proven_benign: Option<bool>,
    /// The most recent prior category is one of these.
    pub prior_category: Option<BTreeSet<String>>,
    /// The exam has more than one nodule (or exactly one).
    pub multiple: Option<bool>,
    /// Patient risk.
    pub risk: Option<Risk>,
    /// Mean diameter range (after the profile's rounding).
    pub mean: Range,
    /// Solid component range (after the profile's rounding).
    pub solid: Range,
}

/// One rule: conditions, the category given, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, e.g. `solid-baseline-6-8`.
    pub id: String,
    /// Category given.
    pub category: String,
    /// Management, where it differs from the category's.
    pub management: Option<String>,
    /// Source citation.
    pub source: String,
    /// Conditions.
    pub when: Conditions,
}

/// An upgrade applied after the rules: a category in `from` becomes `to` when `when` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// Stable id.
    pub id: String,
    /// Categories it applies to.
    pub from: BTreeSet<String>,
    /// Category given.
    pub to: String,
    /// Source citation.
    pub source: String,
    /// Conditions.
    pub when: Conditions,
}

/// A validated guideline profile. Its fields are read through accessors, so that a profile
/// stays as validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Stable id, e.g. `lung-rads-2022`.
    pub(crate) id: String,
    /// Display name.
    pub(crate) name: String,
    /// The guideline it encodes.
    pub(crate) citation: String,
    /// How mean diameters are rounded before thresholds apply.
    pub(crate) precision: Precision,
    /// Growth: an increase of more than this (mean diameter; solid component of a part-solid
    /// nodule)…
    pub(crate) growth: Mm,
    /// …within this many months.
    pub(crate) growth_window_months: u32,
    /// For a stable nodule, whether a size category above its prior category wins (Lung-RADS:
    /// size thresholds apply to nodules that enlarge and reach a higher size category).
    pub(crate) stable_reclassify_by_size: bool,
    /// The category of an exam without nodules.
    pub(crate) no_findings_category: String,
    /// Whether the S modifier (other significant findings) exists.
    pub(crate) s_modifier: bool,
    /// Categories, least suspicious first.
    pub(crate) categories: Vec<Category>,
    /// Rules, in order: the first that holds decides.
    pub(crate) rules: Vec<Rule>,
    /// Upgrades.
    pub(crate) upgrades: Vec<Upgrade>,
    /// Exam-level rules for incomplete exams.
    pub(crate) incomplete: Vec<IncompleteRule>,
    /// Nodule categories that an incomplete exam overrides (Lung-RADS: a negative screen, 1 or
    /// 2, cannot be reported while the exam is incomplete).
    pub(crate) incomplete_overrides: BTreeSet<String>,
}

impl Profile {
    /// ACR Lung-RADS v2022 (American College of Radiology, Nov 2022), compiled in.
    pub fn lung_rads_2022() -> Result<Profile, ProfileError> {
        Profile::from_toml("lung-rads-2022.toml", LUNG_RADS_2022)
    }

    /// Fleischner Society 2017 (MacMahon H. et al., Radiology 2017;284:228-243), compiled in.
    pub fn fleischner_2017() -> Result<Profile, ProfileError> {
        Profile::from_toml("fleischner-2017.toml", FLEISCHNER_2017)
    }

    /// Parses and validates a profile; `name` says which text in errors.
    pub fn from_toml(name: &str, text: &str) -> Result<Profile, ProfileError> {
        let raw: RawProfile = toml::from_str(text).map_err(|source| ProfileError::Toml {
            profile: name.to_string(),
            source,
        })?;
        resolve(raw)
    }

    /// Stable id, e.g. `lung-rads-2022`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The guideline it encodes.
    pub fn citation(&self) -> &str {
        &self.citation
    }

    /// How mean diameters are rounded before thresholds apply.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The growth definition: more than this length within this many months.
    pub fn growth(&self) -> (Mm, u32) {
        (self.growth, self.growth_window_months)
    }

    /// Categories, least suspicious first.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// Rules, in the order they are tried.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Upgrades, in the order they are tried.
    pub fn upgrades(&self) -> &[Upgrade] {
        &self.upgrades
    }

    /// Exam-level rules for incomplete exams.
    pub fn incomplete_rules(&self) -> &[IncompleteRule] {
        &self.incomplete
    }

    /// The rank of a category in order of suspicion (0 = least), if declared.
    pub fn rank(&self, code: &str) -> Option<usize> {
        self.categories.iter().position(|c| c.code == code)
    }

    /// The category with this code.
    pub fn category(&self, code: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.code == code)
    }
}

fn resolve(raw: RawProfile) -> Result<Profile, ProfileError> {
    let profile = raw.id.clone();
    if raw.categories.is_empty() {
        return Err(ProfileError::Empty {
            profile,
            what: "categories",
        });
    }
    if raw.rules.is_empty() {
        return Err(ProfileError::Empty {
            profile,
            what: "rules",
        });
    }
    let mut codes = BTreeSet::new();
    for c in &raw.categories {
        if !codes.insert(c.code.clone()) {
            return Err(ProfileError::Duplicate {
                profile,
                what: "category",
                name: c.code.clone(),
            });
        }
    }
    let known = |place: &str, code: &str| -> Result<(), ProfileError> {
        if codes.contains(code) {
            Ok(())
        } else {
            Err(ProfileError::UnknownCategory {
                profile: profile.clone(),
                place: place.to_string(),
                code: code.to_string(),
            })
        }
    };
    known("no_findings_category", &raw.no_findings_category)?;
    let growth = Mm::exact_from_f64(raw.growth_mm).ok();
    let growth = match growth {
        Some(g) if g > Mm::ZERO && raw.growth_window_months > 0 => g,
        _ => return Err(ProfileError::Growth { profile }),
    };
    let mut ids = BTreeSet::new();
    let mut unique = |id: &str| -> Result<(), ProfileError> {
        if ids.insert(id.to_string()) {
            Ok(())
        } else {
            Err(ProfileError::Duplicate {
                profile: profile.clone(),
                what: "rule",
                name: id.to_string(),
            })
        }
    };
    let cited = |id: &str, source: &str| -> Result<(), ProfileError> {
        if source.trim().is_empty() {
            Err(ProfileError::NoSource {
                profile: profile.clone(),
                place: id.to_string(),
            })
        } else {
            Ok(())
        }
    };
    let precision = raw.mean_diameter_precision;
    let mut rules = Vec::new();
    for r in raw.rules {
        unique(&r.id)?;
        cited(&r.id, &r.source)?;
        known(&r.id, &r.category)?;
        let when = conditions(&profile, &r.id, precision, r.when)?;
        for code in when.prior_category.iter().flatten() {
            known(&r.id, code)?;
        }
        rules.push(Rule {
            id: r.id,
            category: r.category,
            management: r.management,
            source: r.source,
            when,
        });
    }
    let mut upgrades = Vec::new();
    for u in raw.upgrades {
        unique(&u.id)?;
        cited(&u.id, &u.source)?;
        known(&u.id, &u.to)?;
        for code in &u.from {
            known(&u.id, code)?;
        }
        upgrades.push(Upgrade {
            when: conditions(&profile, &u.id, precision, u.when)?,
            id: u.id,
            from: u.from.into_iter().collect(),
            to: u.to,
            source: u.source,
        });
    }
    for code in &raw.incomplete_overrides {
        known("incomplete_overrides", code)?;
    }
    for i in &raw.incomplete {
        unique(&i.id)?;
        cited(&i.id, &i.source)?;
        known(&i.id, &i.category)?;
    }
    Ok(Profile {
        id: raw.id,
        name: raw.name,
        citation: raw.citation,
        precision,
        growth,
        growth_window_months: raw.growth_window_months,
        stable_reclassify_by_size: raw.stable_reclassify_by_size,
        no_findings_category: raw.no_findings_category,
        s_modifier: raw.s_modifier,
        categories: raw.categories,
        rules,
        upgrades,
        incomplete: raw.incomplete,
        incomplete_overrides: raw.incomplete_overrides.into_iter().collect(),
    })
}

fn conditions(
    profile: &str,
    rule: &str,
    precision: Precision,
    w: RawWhen,
) -> Result<Conditions, ProfileError> {
    let bound = |field: &'static str, value: Option<f64>, inclusive: bool| {
        let Some(value) = value else {
            return Ok(None);
        };
        let error = |source| ProfileError::Threshold {
            profile: profile.to_string(),
            rule: rule.to_string(),
            field,
            value,
            source,
        };
        let mm = Mm::exact_from_f64(value).map_err(|e| error(Some(e)))?;
        if !precision.holds(mm) {
            return Err(error(None));
        }
        Ok(Some((mm, inclusive)))
    };
    let range = |what: &'static str,
                 (ge, gt, lt, le): (Option<f64>, Option<f64>, Option<f64>, Option<f64>),
                 names: [&'static str; 4]|
     -> Result<Range, ProfileError> {
        let lower = match (bound(names[0], ge, true)?, bound(names[1], gt, false)?) {
            (Some(_), Some(_)) => return Err(empty(profile, rule, what)),
            (a, b) => a.or(b),
        };
        let upper = match (bound(names[2], lt, false)?, bound(names[3], le, true)?) {
            (Some(_), Some(_)) => return Err(empty(profile, rule, what)),
            (a, b) => a.or(b),
        };
        let range = Range { lower, upper };
        if range.is_empty() {
            return Err(empty(profile, rule, what));
        }
        Ok(range)
    };
    Ok(Conditions {
        attenuation: w.attenuation.map(|v| v.into_iter().collect()),
        status: w.status.map(|v| v.into_iter().collect()),
        location: w.location.map(|v| v.into_iter().collect()),
        benign: w.benign,
        suspicious_features: w.suspicious_features,
        cyst: w.cyst.map(|v| v.into_iter().collect()),
        proven_benign: w.proven_benign,
        prior_category: w.prior_category.map(|v| v.into_iter().collect()),
        multiple: w.multiple,
        risk: w.risk,
        mean: range(
            "mean diameter",
            (w.mean_ge, w.mean_gt, w.mean_lt, w.mean_le),
            ["mean_ge", "mean_gt", "mean_lt", "mean_le"],
        )?,
        solid: range(
            "solid component",
            (w.solid_ge, w.solid_gt, w.solid_lt, w.solid_le),
            ["solid_ge", "solid_gt", "solid_lt", "solid_le"],
        )?,
    })
}

fn empty(profile: &str, rule: &str, what: &'static str) -> ProfileError {
    ProfileError::EmptyRange {
        profile: profile.to_string(),
        rule: rule.to_string(),
        what,
    }
}
