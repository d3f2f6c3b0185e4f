//! Findings: read out of the analyzers' results (drafts), with the physician's decisions
//! applied, plus the findings physicians added.
//!
//! An AI finding's id is `analyzer/job/index` (`lung-ct/17/2`, `fundus-dr/9/0/3`,
//! `fundus-dr/9/eye-R`): stable for as long as the job's result is, so a decision stays
//! attached to the finding it was made on. Decisions are appended, never updated; the latest
//! is in force until the report is signed, after which none is taken.

use std::collections::HashMap;

use mira_clinical::measure::{Mm, NoduleSize, Precision};
use mira_report::{
    Decision, DrGrade, Finding, FindingSource, ImageLocation, Language, Laterality, NoduleMeasures,
};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Reading, ReadingError};

/// Lesion boxes kept per photograph: the strongest, so that the reader is not buried.
const LESIONS_PER_IMAGE: usize = 10;

/// A finding with who decided it and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FindingView {
    #[serde(flatten)]
    /// The finding, with the decision in force.
    pub finding: Finding,
    /// Who made the decision in force (login name); `None` while pending.
    pub decided_by: Option<String>,
    /// When (UTC); `None` while pending.
    pub decided_at: Option<String>,
}

/// What a physician decides about a finding.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum DecisionInput {
    /// As the AI found it.
    Accept,
    /// With changed values (a re-measured nodule, another location or category).
    Edit {
        /// The finding with the physician's values.
        finding: Box<Finding>,
    },
    /// Not a finding; the reason is required (for the evaluation centre).
    Reject {
        /// Why.
        reason: String,
    },
}

/// A finding a physician adds.
#[derive(Debug, Clone, Deserialize)]
pub struct NewFinding {
    /// `lung-nodule`, `fundus-lesion`, `dr-grade` or `other`.
    pub kind: String,
    /// A short description, in the report's language.
    pub label: String,
    #[serde(default)]
    /// Left, right or both.
    pub laterality: Option<Laterality>,
    #[serde(default)]
    /// Anatomical location in words.
    pub location: Option<String>,
    #[serde(default)]
    /// Measurements, for a lung nodule.
    pub nodule: Option<NoduleMeasures>,
    #[serde(default)]
    /// The DR grade, for a DR screening finding.
    pub dr: Option<DrGrade>,
    #[serde(default)]
    /// Where it is on an image.
    pub image: Option<ImageLocation>,
}

struct JobResult {
    id: i64,
    analyzer: String,
    subject_uid: String,
    version: String,
    result: serde_json::Value,
}

impl Reading {
    /// Every finding of the study: AI findings with their latest decision, then added ones.
    pub async fn findings(&self, study_uid: &str) -> Result<Vec<FindingView>, ReadingError> {
        let language = self.settings.language;
        let jobs = self.done_jobs(study_uid).await?;
        let mut views: Vec<FindingView> = jobs
            .iter()
            .flat_map(|job| ai_findings(job, language))
            .map(|finding| FindingView {
                finding,
                decided_by: None,
                decided_at: None,
            })
            .collect();
        let index: HashMap<String, usize> = views
            .iter()
            .enumerate()
            .map(|(i, v)| (v.finding.id.clone(), i))
            .collect();
        let rows = sqlx::query(
            "SELECT finding_id, decision, reason, finding, decided_by, decided_at \
             FROM reading_decisions WHERE study_instance_uid = $1 ORDER BY id",
        )
        .bind(study_uid)
        .fetch_all(&self.pool)
        .await?;
        let mut added: Vec<FindingView> = Vec::new();
        for row in rows {
            let id: String = row.get(0);
            let decision: String = row.get(1);
            let reason: Option<String> = row.get(2);
            let stored: Finding = serde_json::from_str(&row.get::<String, _>(3))
                .map_err(|e| ReadingError::Corrupt(format!("decided finding: {e}")))?;
            let by: String = row.get(4);
            let at: String = row.get(5);
            let decision = match decision.as_str() {
                "accepted" => Decision::Accepted,
                "edited" => Decision::Edited,
                "rejected" => Decision::Rejected {
                    reason: reason.unwrap_or_default(),
                },
                _ => Decision::Added,
            };
            let view = match index.get(&id) {
                Some(&i) => &mut views[i],
                None if matches!(decision, Decision::Added) => {
                    added.push(FindingView {
                        finding: stored.clone(),
                        decided_by: None,
                        decided_at: None,
                    });
                    added.last_mut().expect("just pushed")
                }
                // a decision on a finding of a result that was since replaced: not shown
                None => continue,
            };
            if matches!(decision, Decision::Edited | Decision::Added) {
                view.finding = stored;
            }
            view.finding.decision = decision;
            view.decided_by = Some(by);
            view.decided_at = Some(at);
        }
        views.extend(added);
        Ok(views)
    }

    /// Records a decision on an AI finding; refused once the study's report is signed.
    pub async fn decide(
        &self,
        study_uid: &str,
        finding_id: &str,
        input: DecisionInput,
        user: &str,
    ) -> Result<FindingView, ReadingError> {
        self.refuse_if_signed(study_uid).await?;
        let current = self
            .findings(study_uid)
            .await?
            .into_iter()
            .find(|v| v.finding.id == finding_id)
            .ok_or(ReadingError::UnknownFinding)?;
        let (analyzer, version) = match &current.finding.source {
            FindingSource::Ai { analyzer, version } => {
                (Some(analyzer.clone()), Some(version.clone()))
            }
            FindingSource::Physician { .. } => (None, None),
        };
        let (decision, reason, finding) = match input {
            DecisionInput::Accept => ("accepted", None, current.finding.clone()),
            DecisionInput::Reject { reason } => {
                let reason = reason.trim().to_string();
                if reason.is_empty() {
                    return Err(ReadingError::Invalid(
                        "a rejection needs a reason (it is recorded for the evaluation centre)"
                            .into(),
                    ));
                }
                ("rejected", Some(reason), current.finding.clone())
            }
            DecisionInput::Edit { finding } => {
                let mut edited = *finding;
                // the identity and origin of a finding are not the physician's to change
                edited.id = current.finding.id.clone();
                edited.source = current.finding.source.clone();
                edited.kind = current.finding.kind.clone();
                if let Some(nodule) = edited.nodule.as_mut() {
                    remeasure(nodule)?;
                }
                ("edited", None, edited)
            }
        };
        let kept = matches!(current.finding.source, FindingSource::Physician { .. });
        let decision = if kept { "added" } else { decision };
        sqlx::query(
            "INSERT INTO reading_decisions (study_instance_uid, finding_id, analyzer, \
             analyzer_version, decision, reason, finding, decided_by, decided_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(study_uid)
        .bind(finding_id)
        .bind(analyzer)
        .bind(version)
        .bind(decision)
        .bind(reason)
        .bind(serde_json::to_string(&finding).map_err(|e| ReadingError::Invalid(e.to_string()))?)
        .bind(user)
        .bind(crate::now())
        .execute(&self.pool)
        .await?;
        self.findings(study_uid)
            .await?
            .into_iter()
            .find(|v| v.finding.id == finding_id)
            .ok_or(ReadingError::UnknownFinding)
    }

    /// Adds a physician's finding.
    pub async fn add_finding(
        &self,
        study_uid: &str,
        new: NewFinding,
        user: &str,
    ) -> Result<FindingView, ReadingError> {
        self.refuse_if_signed(study_uid).await?;
        if new.label.trim().is_empty() {
            return Err(ReadingError::Invalid(
                "a finding needs a description".into(),
            ));
        }
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM reading_decisions WHERE study_instance_uid = $1 AND analyzer IS NULL \
             AND finding_id LIKE 'physician/%'",
        )
        .bind(study_uid)
        .fetch_one(&self.pool)
        .await?;
        let mut nodule = new.nodule;
        if let Some(n) = nodule.as_mut() {
            remeasure(n)?;
        }
        let finding = Finding {
            id: format!("physician/{}", count + 1),
            source: FindingSource::Physician { user: user.into() },
            kind: new.kind,
            label: new.label,
            laterality: new.laterality,
            location: new.location,
            nodule,
            dr: new.dr,
            image: new.image,
            confidence: None,
            decision: Decision::Added,
        };
        sqlx::query(
            "INSERT INTO reading_decisions (study_instance_uid, finding_id, decision, finding, \
             decided_by, decided_at) VALUES ($1, $2, 'added', $3, $4, $5)",
        )
        .bind(study_uid)
        .bind(&finding.id)
        .bind(serde_json::to_string(&finding).map_err(|e| ReadingError::Invalid(e.to_string()))?)
        .bind(user)
        .bind(crate::now())
        .execute(&self.pool)
        .await?;
        let id = finding.id.clone();
        self.findings(study_uid)
            .await?
            .into_iter()
            .find(|v| v.finding.id == id)
            .ok_or(ReadingError::UnknownFinding)
    }

    pub(crate) async fn refuse_if_signed(&self, study_uid: &str) -> Result<(), ReadingError> {
        // an integer, not EXISTS's own type: a boolean on PostgreSQL, an integer on SQLite
        let signed: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM reports WHERE study_instance_uid = $1 \
             AND state = 'signed') THEN 1 ELSE 0 END",
        )
        .bind(study_uid)
        .fetch_one(&self.pool)
        .await?;
        if signed != 0 {
            Err(ReadingError::Signed)
        } else {
            Ok(())
        }
    }

    async fn done_jobs(&self, study_uid: &str) -> Result<Vec<JobResult>, ReadingError> {
        let rows = sqlx::query(
            "SELECT id, analyzer, subject_uid, coalesce(analyzer_version, ''), result \
             FROM analysis_jobs WHERE study_instance_uid = $1 AND state = 'done' ORDER BY id",
        )
        .bind(study_uid)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let result: Option<String> = row.get(4);
                Ok(JobResult {
                    id: row.get(0),
                    analyzer: row.get(1),
                    subject_uid: row.get(2),
                    version: row.get(3),
                    result: serde_json::from_str(result.as_deref().unwrap_or("null"))
                        .map_err(|e| ReadingError::Corrupt(format!("analysis result: {e}")))?,
                })
            })
            .collect()
    }
}

/// Recomputes an edited nodule's mean diameter from its axes (Lung-RADS v2022: the mean of
/// long and short axis, each to 0.1 mm, rounded half up to 0.1 mm; mira-clinical's rule).
fn remeasure(nodule: &mut NoduleMeasures) -> Result<(), ReadingError> {
    let invalid = |what: &str| ReadingError::Invalid(format!("nodule {what}"));
    let long =
        Mm::from_f64(nodule.long_axis_mm).map_err(|e| invalid(&format!("long axis: {e}")))?;
    let short =
        Mm::from_f64(nodule.short_axis_mm).map_err(|e| invalid(&format!("short axis: {e}")))?;
    if long.as_f64() <= 0.0 || short.as_f64() <= 0.0 {
        return Err(invalid("axes must be positive"));
    }
    let size = NoduleSize::new(long, short).map_err(|e| invalid(&e.to_string()))?;
    nodule.long_axis_mm = long.as_f64();
    nodule.short_axis_mm = short.as_f64();
    nodule.mean_diameter_mm = size.mean_diameter(Precision::TenthMm).as_f64();
    Ok(())
}

fn ai_findings(job: &JobResult, language: Language) -> Vec<Finding> {
    match job.analyzer.as_str() {
        "lung-ct" => lung_findings(job, language),
        "fundus-dr" => fundus_findings(job, language),
        _ => Vec::new(),
    }
}

fn lung_findings(job: &JobResult, language: Language) -> Vec<Finding> {
    let Ok(report) = serde_json::from_value::<mira_lung::LungReport>(job.result.clone()) else {
        tracing::warn!(
            job = job.id,
            "a lung-ct result could not be read as findings"
        );
        return Vec::new();
    };
    let version = match &report.algorithm.model {
        Some(model) => format!("{} + {} {}", job.version, model.id, model.version),
        None => job.version.clone(),
    };
    report
        .nodules
        .iter()
        .map(|n| {
            let laterality = match n.lung.as_str() {
                "right" => Some(Laterality::Right),
                "left" => Some(Laterality::Left),
                _ => None,
            };
            let attenuation = n.attenuation.clone();
            Finding {
                id: format!("lung-ct/{}/{}", job.id, n.id),
                source: FindingSource::Ai {
                    analyzer: job.analyzer.clone(),
                    version: version.clone(),
                },
                kind: "lung-nodule".into(),
                label: nodule_label(&attenuation, &n.lobe, n.mean_diameter_mm, language),
                laterality,
                location: Some(lobe_words(&n.lobe, language).into()),
                nodule: Some(NoduleMeasures {
                    long_axis_mm: n.long_axis_mm,
                    short_axis_mm: n.short_axis_mm,
                    mean_diameter_mm: n.mean_diameter_mm,
                    volume_mm3: Some(n.volume_mm3 as f64),
                    attenuation,
                    solid_component_mm: n.solid_component_mm,
                    calcified: n.calcified,
                    status: Some(n.status.clone()),
                    category: Some(n.category.clone()),
                }),
                dr: None,
                image: Some(ImageLocation {
                    series_instance_uid: job.subject_uid.clone(),
                    sop_instance_uid: n.sop_instance_uid.clone(),
                    frame: None,
                    shape: "polyline".into(),
                    points: vec![
                        n.long_axis_px[0],
                        n.long_axis_px[1],
                        n.short_axis_px[0],
                        n.short_axis_px[1],
                    ],
                }),
                confidence: Some(n.confidence),
                decision: Decision::Pending,
            }
        })
        .collect()
}

fn lobe_words(lobe: &str, language: Language) -> &'static str {
    match (lobe, language) {
        ("right-upper", Language::ZhCn) => "右肺上叶",
        ("right-middle", Language::ZhCn) => "右肺中叶",
        ("right-lower", Language::ZhCn) => "右肺下叶",
        ("left-upper", Language::ZhCn) => "左肺上叶",
        ("left-lower", Language::ZhCn) => "左肺下叶",
        ("right-upper", Language::En) => "right upper lobe",
        ("right-middle", Language::En) => "right middle lobe",
        ("right-lower", Language::En) => "right lower lobe",
        ("left-upper", Language::En) => "left upper lobe",
        ("left-lower", Language::En) => "left lower lobe",
        (_, Language::ZhCn) => "肺",
        (_, Language::En) => "lung",
    }
}

fn nodule_label(attenuation: &str, lobe: &str, mean_mm: f64, language: Language) -> String {
    let place = lobe_words(lobe, language);
    match language {
        Language::ZhCn => {
            let kind = match attenuation {
                "part-solid" => "部分实性结节",
                "ground-glass" => "磨玻璃结节",
                _ => "实性结节",
            };
            format!("{place}{kind}，平均直径 {mean_mm:.1} mm")
        }
        Language::En => {
            let kind = match attenuation {
                "part-solid" => "Part-solid nodule",
                "ground-glass" => "Ground-glass nodule",
                _ => "Solid nodule",
            };
            format!("{kind}, {place}, mean diameter {mean_mm:.1} mm")
        }
    }
}

#[derive(Deserialize)]
struct FundusResult {
    #[serde(default)]
    patients: Vec<mira_fundus::PatientScreening>,
    #[serde(default)]
    images: Vec<mira_fundus::FundusReport>,
    #[serde(default)]
    instances: Vec<String>,
}

fn eye(laterality: mira_fundus::Laterality) -> Option<Laterality> {
    match laterality {
        mira_fundus::Laterality::Right => Some(Laterality::Right),
        mira_fundus::Laterality::Left => Some(Laterality::Left),
        _ => None,
    }
}

fn fundus_findings(job: &JobResult, language: Language) -> Vec<Finding> {
    use mira_fundus::ScreeningResult as R;
    let Ok(result) = serde_json::from_value::<FundusResult>(job.result.clone()) else {
        tracing::warn!(
            job = job.id,
            "a fundus-dr result could not be read as findings"
        );
        return Vec::new();
    };
    let source = FindingSource::Ai {
        analyzer: job.analyzer.clone(),
        version: job.version.clone(),
    };
    let mut findings = Vec::new();
    for (i, image) in result.images.iter().enumerate() {
        let Some(sop) = result.instances.get(i) else {
            continue;
        };
        let mut lesions: Vec<&mira_fundus::Lesion> = image.lesions.iter().collect();
        lesions.sort_by(|a, b| b.score.total_cmp(&a.score));
        for (k, lesion) in lesions.into_iter().take(LESIONS_PER_IMAGE).enumerate() {
            let b = lesion.bbox;
            let red = matches!(lesion.kind, mira_fundus::LesionKind::Red);
            let label = match (red, language) {
                (true, Language::ZhCn) => "出血/微血管瘤候选",
                (false, Language::ZhCn) => "硬性渗出候选",
                (true, Language::En) => "Haemorrhage or microaneurysm candidate",
                (false, Language::En) => "Hard exudate candidate",
            };
            findings.push(Finding {
                id: format!("fundus-dr/{}/{i}/{k}", job.id),
                source: source.clone(),
                kind: "fundus-lesion".into(),
                label: label.into(),
                laterality: eye(image.source.laterality),
                location: None,
                nodule: None,
                dr: None,
                image: Some(ImageLocation {
                    series_instance_uid: String::new(),
                    sop_instance_uid: sop.clone(),
                    frame: None,
                    shape: "box".into(),
                    points: vec![
                        [f64::from(b.x), f64::from(b.y)],
                        [f64::from(b.x + b.width), f64::from(b.y + b.height)],
                    ],
                }),
                confidence: Some(lesion.score),
                decision: Decision::Pending,
            });
        }
    }
    for patient in &result.patients {
        for e in &patient.eyes {
            let Some(laterality) = eye(e.laterality) else {
                continue;
            };
            let (grade, referable) = match e.result {
                R::NoApparentRetinopathy => (Some("none"), false),
                R::MildNpdr => (Some("mild"), false),
                R::Referable => (Some("moderate"), true),
                R::ReferableUrgent => (Some("severe"), true),
                R::Ungradable => (None, true),
            };
            let side = if laterality == Laterality::Right {
                "R"
            } else {
                "L"
            };
            findings.push(Finding {
                id: format!("fundus-dr/{}/eye-{side}", job.id),
                source: source.clone(),
                kind: "dr-grade".into(),
                label: e.statement.clone(),
                laterality: Some(laterality),
                location: None,
                nodule: None,
                dr: Some(DrGrade {
                    eye: laterality,
                    gradable: e.result != R::Ungradable,
                    grade: grade.map(str::to_string),
                    referable,
                }),
                image: None,
                confidence: None,
                decision: Decision::Pending,
            });
        }
    }
    findings
}
