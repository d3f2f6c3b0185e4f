//! The generic engine: a profile applied to one nodule, then to an exam.
//!
//! For one nodule the engine derives its status (baseline, new, growing, slowly growing,
//! stable) from its history, rounds its mean diameter (and a part-solid nodule's solid
//! component) as the profile says, and takes the first rule whose conditions hold; an upgrade
//! may then raise the category (Lung-RADS 4X). A stable nodule in a profile with
//! `stable_reclassify_by_size` (Lung-RADS v2022: size thresholds apply to nodules that enlarge
//! and reach a higher size category) first gets the category its size alone would give at
//! baseline; where that is above its prior category it wins, otherwise the stable rules decide
//! (stepped management), and without a prior category the size category stands.
//!
//! The exam category is that of the most suspicious nodule, in the profile's order (ACR
//! Lung-RADS v2022: "code each exam according to the most suspicious finding"), or the
//! incomplete-exam category where one applies and the nodules are no more suspicious than the
//! profile's `incomplete_overrides` allow.

use crate::measure::Mm;
use crate::nodule::{
    AttenuationKind, CystFeature, History, LocationKind, Nodule, NoduleStatus, PriorMeasurement,
};
use crate::profile::{Conditions, IncompleteReason, Profile, Risk};

/// What is known about the exam as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExamContext {
    /// Patient risk (Fleischner 2017); `None` where unknown.
    pub risk: Option<Risk>,
    /// Why the exam is incomplete, if it is (Lung-RADS 0).
    pub incomplete: Option<IncompleteReason>,
    /// Clinically significant or potentially significant findings unrelated to lung cancer
    /// (Lung-RADS S modifier).
    pub other_significant_findings: bool,
}

/// Why a nodule or exam could not be categorised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssessError {
    /// No rule of the profile holds for this nodule.
    #[error("profile {profile}: no rule holds for a {attenuation:?} {status:?} nodule")]
    NoRuleHolds {
        /// Profile id.
        profile: String,
        /// Attenuation.
        attenuation: AttenuationKind,
        /// Status.
        status: NoduleStatus,
    },
    /// A rule needs the solid component of a part-solid nodule, which was not measured.
    #[error("profile {profile}: rule {rule} needs the solid component's size")]
    MissingSolidComponent {
        /// Profile id.
        profile: String,
        /// Rule id.
        rule: String,
    },
    /// A rule needs the patient's risk, which is unknown.
    #[error("profile {profile}: rule {rule} needs the patient's risk (low or high)")]
    MissingRisk {
        /// Profile id.
        profile: String,
        /// Rule id.
        rule: String,
    },
    /// A nodule said to be seen before has no earlier measurement.
    #[error("a nodule seen before has no earlier measurement")]
    NoPriorMeasurement,
    /// The exam is incomplete but the profile has no rule for that reason.
    #[error("profile {profile} has no category for an incomplete exam ({reason:?})")]
    IncompleteNotInProfile {
        /// Profile id.
        profile: String,
        /// The reason.
        reason: IncompleteReason,
    },
    /// The S modifier was asked for but the profile has none.
    #[error("profile {profile} has no S modifier")]
    NoSModifier {
        /// Profile id.
        profile: String,
    },
    /// One nodule of an exam could not be categorised.
    #[error("nodule {index} of the exam")]
    Nodule {
        /// Its index in the exam.
        index: usize,
        /// Why.
        #[source]
        source: Box<AssessError>,
    },
}

/// The outcome for one nodule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoduleAssessment {
    /// Mean diameter as the profile rounds it.
    pub mean_diameter: Mm,
    /// Solid component as the profile rounds it (part-solid nodules).
    pub solid_component: Option<Mm>,
    /// Derived status.
    pub status: NoduleStatus,
    /// Category code.
    pub category: String,
    /// The rule that decided (or the upgrade, where one applied).
    pub rule: String,
    /// The decisive rule's source citation.
    pub source: String,
    /// Management recommendation.
    pub management: String,
}

/// The outcome for an exam.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExamAssessment {
    /// Exam category code.
    pub category: String,
    /// Whether the S modifier applies.
    pub s_modifier: bool,
    /// Management recommendation.
    pub management: String,
    /// The decisive rule.
    pub rule: String,
    /// Its source citation.
    pub source: String,
    /// Index of the most suspicious nodule, where a nodule decided.
    pub most_suspicious: Option<usize>,
    /// Each nodule's assessment, in input order.
    pub nodules: Vec<NoduleAssessment>,
}

impl ExamAssessment {
    /// The category as reported, with the S modifier appended (`4B`, `2S`).
    pub fn label(&self) -> String {
        if self.s_modifier {
            format!("{}S", self.category)
        } else {
            self.category.clone()
        }
    }
}

/// Whether `value` is in `set`, where a missing set admits everything.
fn in_set<T: Ord>(set: &Option<std::collections::BTreeSet<T>>, value: T) -> bool {
    set.as_ref().is_none_or(|s| s.contains(&value))
}

/// The facts a rule is matched against.
struct Facts<'a> {
    attenuation: AttenuationKind,
    status: NoduleStatus,
    location: LocationKind,
    benign: bool,
    suspicious: bool,
    cyst: Option<CystFeature>,
    proven_benign: bool,
    prior_category: Option<&'a str>,
    multiple: bool,
    risk: Option<Risk>,
    mean: Mm,
    solid: Option<Mm>,
}

impl Profile {
    /// The status of a nodule under this profile's growth definition.
    pub fn status(&self, nodule: &Nodule) -> Result<NoduleStatus, AssessError> {
        let priors = match &nodule.history {
            History::Baseline => return Ok(NoduleStatus::Baseline),
            History::New => return Ok(NoduleStatus::New),
            History::Seen(priors) => priors,
        };
        if priors.is_empty() {
            return Err(AssessError::NoPriorMeasurement);
        }
        // A part-solid nodule grows by its solid component (Lung-RADS v2022: "new or growing
        // solid component"); a solid component that was absent counts from zero.
        let by_solid = nodule.attenuation.solid_component().is_some();
        let now = match nodule.attenuation.solid_component() {
            Some(sc) => self.precision.round(sc),
            None => nodule.size.mean_diameter(self.precision),
        };
        let then = |p: &PriorMeasurement| {
            let value = if by_solid {
                p.solid_component.unwrap_or(Mm::ZERO)
            } else {
                p.mean_diameter
            };
            self.precision.round(value)
        };
        // Growth against any earlier measurement within the window, not only the last one: a
        // nodule up 1.8 mm in 12 months is growing even if it was measured again 3 months ago.
        if priors.iter().any(|p| {
            p.months_before <= self.growth_window_months && now.minus(then(p)) > self.growth
        }) {
            return Ok(NoduleStatus::Growing);
        }
        let series: Vec<Mm> = priors.iter().map(then).chain([now]).collect();
        if priors.len() >= 2 && series.windows(2).all(|w| w[0] < w[1]) {
            return Ok(NoduleStatus::SlowlyGrowing);
        }
        Ok(NoduleStatus::Stable)
    }

    /// Categorises one nodule; `multiple` says whether the exam has more than one nodule
    /// without benign features.
    pub fn assess_nodule(
        &self,
        nodule: &Nodule,
        exam: &ExamContext,
        multiple: bool,
    ) -> Result<NoduleAssessment, AssessError> {
        let status = self.status(nodule)?;
        let prior_category = match &nodule.history {
            History::Seen(priors) => priors.last().and_then(|p| p.category.as_deref()),
            _ => None,
        };
        let facts = Facts {
            attenuation: nodule.attenuation.kind(),
            status,
            location: nodule.location.kind(),
            benign: nodule.benign_feature.is_some(),
            suspicious: nodule.suspicious_features,
            cyst: nodule.cyst,
            proven_benign: nodule.proven_benign,
            prior_category,
            multiple,
            risk: exam.risk,
            mean: nodule.size.mean_diameter(self.precision),
            solid: nodule
                .attenuation
                .solid_component()
                .map(|sc| self.precision.round(sc)),
        };
        let rule = if status == NoduleStatus::Stable && self.stable_reclassify_by_size {
            let by_size = self.first_rule(&Facts {
                status: NoduleStatus::Baseline,
                ..facts
            })?;
            let prior_rank = prior_category.and_then(|c| self.rank(c));
            match (by_size, prior_rank) {
                (Some(size), Some(prior)) if self.rank(&size.category) > Some(prior) => Some(size),
                (by_size, _) => match self.first_rule(&facts)? {
                    Some(rule) => Some(rule),
                    None if prior_rank.is_none() => by_size,
                    None => None,
                },
            }
        } else {
            self.first_rule(&facts)?
        };
        let rule = rule.ok_or_else(|| AssessError::NoRuleHolds {
            profile: self.id.clone(),
            attenuation: facts.attenuation,
            status,
        })?;
        let (mut category, mut rule_id, mut source) =
            (rule.category.clone(), rule.id.clone(), rule.source.clone());
        let mut management = rule.management.clone();
        for upgrade in &self.upgrades {
            if upgrade.from.contains(&category) && self.holds(&upgrade.id, &upgrade.when, &facts)? {
                category = upgrade.to.clone();
                rule_id = upgrade.id.clone();
                source = upgrade.source.clone();
                management = None;
                break;
            }
        }
        let management = management.unwrap_or_else(|| self.management(&category));
        Ok(NoduleAssessment {
            mean_diameter: facts.mean,
            solid_component: facts.solid,
            status,
            category,
            rule: rule_id,
            source,
            management,
        })
    }

    /// Categorises an exam: each nodule, then the most suspicious, the incomplete-exam rule
    /// and the S modifier.
    pub fn assess_exam(
        &self,
        nodules: &[Nodule],
        exam: &ExamContext,
    ) -> Result<ExamAssessment, AssessError> {
        if exam.other_significant_findings && !self.s_modifier {
            return Err(AssessError::NoSModifier {
                profile: self.id.clone(),
            });
        }
        // "Multiple" (Fleischner 2017) counts nodules that need managing: a calcified granuloma
        // or a hamartoma beside a nodule does not make it one of several.
        let multiple = nodules
            .iter()
            .filter(|n| n.benign_feature.is_none())
            .count()
            > 1;
        let assessed = nodules
            .iter()
            .enumerate()
            .map(|(index, n)| {
                self.assess_nodule(n, exam, multiple)
                    .map_err(|e| AssessError::Nodule {
                        index,
                        source: Box::new(e),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The first of the most suspicious nodules.
        let mut most: Option<usize> = None;
        for (i, a) in assessed.iter().enumerate() {
            if most.is_none_or(|m| self.rank(&a.category) > self.rank(&assessed[m].category)) {
                most = Some(i);
            }
        }
        let incomplete = match exam.incomplete {
            None => None,
            Some(reason) => Some(
                self.incomplete
                    .iter()
                    .find(|r| r.reason == reason)
                    .ok_or_else(|| AssessError::IncompleteNotInProfile {
                        profile: self.id.clone(),
                        reason,
                    })?,
            ),
        };
        let nodule_wins = |m: usize| match incomplete {
            None => true,
            Some(rule) => {
                let category = &assessed[m].category;
                !self.incomplete_overrides.contains(category)
                    && self.rank(category) >= self.rank(&rule.category)
            }
        };
        let (category, management, rule, source, most_suspicious) = match (most, incomplete) {
            (Some(m), _) if nodule_wins(m) => {
                let a = &assessed[m];
                (
                    a.category.clone(),
                    a.management.clone(),
                    a.rule.clone(),
                    a.source.clone(),
                    Some(m),
                )
            }
            (_, Some(rule)) => (
                rule.category.clone(),
                rule.management
                    .clone()
                    .unwrap_or_else(|| self.management(&rule.category)),
                rule.id.clone(),
                rule.source.clone(),
                None,
            ),
            (_, None) => (
                self.no_findings_category.clone(),
                self.management(&self.no_findings_category),
                "no-findings".to_string(),
                self.citation.clone(),
                None,
            ),
        };
        Ok(ExamAssessment {
            category,
            s_modifier: exam.other_significant_findings,
            management,
            rule,
            source,
            most_suspicious,
            nodules: assessed,
        })
    }

    fn management(&self, code: &str) -> String {
        // Every code reaching here was checked against the categories when the profile loaded.
        self.category(code)
            .map(|c| c.management.clone())
            .unwrap_or_default()
    }

    fn first_rule(&self, facts: &Facts<'_>) -> Result<Option<&crate::profile::Rule>, AssessError> {
        for rule in &self.rules {
            if self.holds(&rule.id, &rule.when, facts)? {
                return Ok(Some(rule));
            }
        }
        Ok(None)
    }

    /// Whether `when` holds; a condition on something unknown (the solid component, the risk)
    /// is an error once every other condition holds.
    fn holds(&self, id: &str, when: &Conditions, f: &Facts<'_>) -> Result<bool, AssessError> {
        let plain = in_set(&when.attenuation, f.attenuation)
            && in_set(&when.status, f.status)
            && in_set(&when.location, f.location)
            && when.benign.is_none_or(|b| b == f.benign)
            && when.suspicious_features.is_none_or(|b| b == f.suspicious)
            && when.multiple.is_none_or(|b| b == f.multiple)
            && when.proven_benign.is_none_or(|b| b == f.proven_benign)
            && when
                .cyst
                .as_ref()
                .is_none_or(|set| f.cyst.is_some_and(|c| set.contains(&c)))
            && when
                .prior_category
                .as_ref()
                .is_none_or(|set| f.prior_category.is_some_and(|c| set.contains(c)))
            && when.mean.contains(f.mean);
        if !plain {
            return Ok(false);
        }
        if let Some(risk) = when.risk {
            match f.risk {
                None => {
                    return Err(AssessError::MissingRisk {
                        profile: self.id.clone(),
                        rule: id.to_string(),
                    });
                }
                Some(r) if r != risk => return Ok(false),
                Some(_) => {}
            }
        }
        if !when.solid.is_open() {
            match f.solid {
                None => {
                    return Err(AssessError::MissingSolidComponent {
                        profile: self.id.clone(),
                        rule: id.to_string(),
                    });
                }
                Some(sc) => return Ok(when.solid.contains(sc)),
            }
        }
        Ok(true)
    }
}
