//! Physician reports: the document a radiologist signs, built from the findings they reviewed.
//!
//! AI never replaces the physician's judgement: an analyzer's findings arrive here as
//! [`Finding`]s with a [`Decision`]; only accepted, edited and physician-added findings enter a
//! report, and only a [`Signature`] of a physician makes it final. This crate knows nothing of
//! HTTP or storage: the reading workflow (`mira-reading`) persists reports and decisions, the
//! web layer serves them. Every function here is pure, except that [`pdf`] reads a font file
//! and nothing is logged (reports carry patient data).
//!
//! | module / item | what |
//! |---|---|
//! | [`ReportDocument`] | the report: header, technique, findings, impression, structured parts |
//! | [`Finding`] | one finding, AI or physician, with measurements, location and decision |
//! | [`templates`] | [`prefill`]: a template's draft (LDCT Lung-RADS, DR screening, General) from the reviewed findings; [`template_for`] |
//! | [`qc`] | [`qc::check`]: report QC (completeness, sex, laterality, normal-vs-findings, Lung-RADS, DR, critical values, timeliness) |
//! | [`fhir`] | [`fhir::bundle`]: a FHIR R4 collection Bundle of DiagnosticReport, ImagingStudy and Patient |
//! | [`pdf`] | [`pdf::render`]: an A4 PDF with a subset CJK font |
//! | [`sr`] | [`sr::signed_report_sr`]: a signed TID 1500 DICOM SR through `mira-sr` |
//! | [`error`] | [`ReportError`], the exports' errors (QC reports issues, never errors) |
//!
//! ```
//! use mira_report::qc::{self, QcContext};
//! use mira_report::{Language, ReportHeader, Template, prefill};
//!
//! let header = ReportHeader {
//!     patient_name: Some("Zhang^San=张^三".into()),
//!     patient_id: Some("P1".into()),
//!     patient_sex: Some("M".into()),
//!     accession_number: Some("A1".into()),
//!     study_instance_uid: "1.2.3".into(),
//!     study_date: Some("20261120".into()),
//!     modalities: vec!["CT".into()],
//!     study_description: Some("低剂量胸部CT".into()),
//!     ..ReportHeader::default()
//! };
//! // no nodules: Lung-RADS 1, annual screening
//! let draft = prefill(Template::LdctLungRads, Language::ZhCn, &header, &[]);
//! assert_eq!(draft.lung_rads.as_deref(), Some("1"));
//! assert!(qc::check(&draft, &QcContext::default()).passed);
//!
//! let mut wrong = draft.clone();
//! wrong.lung_rads = Some("3".into());
//! let result = qc::check(&wrong, &QcContext::default());
//! assert_eq!(result.codes(), ["lung-rads.mismatch"]);
//! ```

pub mod error;
pub mod fhir;
pub mod pdf;
pub mod qc;
pub mod sr;
pub mod templates;

#[cfg(test)]
pub(crate) mod test_support;

pub use error::ReportError;
pub use templates::{prefill, template_for};

use serde::{Deserialize, Serialize};

/// Which structured template a report follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Template {
    /// Low-dose chest CT for lung cancer screening, with a Lung-RADS exam category.
    LdctLungRads,
    /// Diabetic-retinopathy screening on fundus photographs (ICDR per eye and per patient).
    DrScreening,
    /// Anything else: technique, findings and impression as free text.
    General,
}

/// The language a report is written in (labels, pre-filled sentences).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Language {
    /// Simplified Chinese, the default.
    #[default]
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// English.
    #[serde(rename = "en")]
    En,
}

/// Left, right or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Laterality {
    Left,
    Right,
    Both,
}

/// The header every report carries (病历书写基本规范 and local report forms: name, sex, age,
/// record number, exam number, exam item, exam date, report date).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportHeader {
    pub patient_name: Option<String>,
    pub patient_id: Option<String>,
    /// DICOM Patient's Sex: `M`, `F` or `O`.
    pub patient_sex: Option<String>,
    /// DICOM DA, `YYYYMMDD`.
    pub patient_birth_date: Option<String>,
    /// Exam number (Accession Number).
    pub accession_number: Option<String>,
    pub study_instance_uid: String,
    /// DICOM DA and TM of the study.
    pub study_date: Option<String>,
    pub study_time: Option<String>,
    /// Modalities in the study, e.g. `["CT"]`.
    pub modalities: Vec<String>,
    /// Exam item (Study Description) and Body Part Examined.
    pub study_description: Option<String>,
    pub body_part: Option<String>,
    /// The site (hospital or community centre) that acquired the study.
    pub site_name: Option<String>,
    /// Series and instances, for ImagingStudy and the SR's evidence.
    pub series: Vec<SeriesRef>,
}

/// A series of the study, for exports that list the imaging evidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesRef {
    pub series_instance_uid: String,
    pub modality: Option<String>,
    pub series_number: Option<i64>,
    pub description: Option<String>,
    pub body_part: Option<String>,
    pub instances: Vec<InstanceRef>,
}

/// One instance of a series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceRef {
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub instance_number: Option<i64>,
}

/// Who or what made a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum FindingSource {
    /// An analyzer (`lung-ct`, `fundus-dr`) at a version (the model version for agreement).
    Ai { analyzer: String, version: String },
    /// A physician added it (user name).
    Physician { user: String },
}

/// What the physician decided about a finding. A pending AI finding never enters a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    Pending,
    Accepted,
    /// Accepted with changed values (the finding carries the edited values).
    Edited,
    Rejected {
        reason: String,
    },
    /// Added by the physician.
    Added,
}

/// Measurements of a lung nodule (Lung-RADS v2022 measures the mean of long and short axis).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoduleMeasures {
    pub long_axis_mm: f64,
    pub short_axis_mm: f64,
    /// Mean of the two axes, rounded to 0.1 mm.
    pub mean_diameter_mm: f64,
    pub volume_mm3: Option<f64>,
    /// `solid`, `part-solid` or `ground-glass`.
    pub attenuation: String,
    pub solid_component_mm: Option<f64>,
    pub calcified: bool,
    /// `baseline`, `new`, `growing`, `stable`.
    pub status: Option<String>,
    /// The nodule's Lung-RADS category (`2`, `3`, `4A`, `4B`, `4X`).
    pub category: Option<String>,
}

/// A DR screening result for one eye (International Clinical DR scale).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrGrade {
    pub eye: Laterality,
    /// `false`: ungradable, re-image or refer; never "no DR".
    pub gradable: bool,
    /// `none`, `mild`, `moderate`, `severe`, `proliferative` (ICDR), absent when ungradable.
    pub grade: Option<String>,
    pub referable: bool,
}

/// Where a finding is on an image: a polyline (nodule axes) or a box (fundus lesion) in pixel
/// coordinates (column, row) of one frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageLocation {
    pub series_instance_uid: String,
    pub sop_instance_uid: String,
    /// 1-based frame number for multi-frame images.
    pub frame: Option<u32>,
    /// `polyline` or `box`.
    pub shape: String,
    pub points: Vec<[f64; 2]>,
}

/// One finding on the study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable within the study: `lung-ct/17/2` (analyzer/job/index), `physician/5`.
    pub id: String,
    pub source: FindingSource,
    /// `lung-nodule`, `fundus-lesion`, `dr-grade`, `other`.
    pub kind: String,
    /// A short description in the report's language.
    pub label: String,
    pub laterality: Option<Laterality>,
    /// Anatomical location in words, e.g. `right upper lobe`.
    pub location: Option<String>,
    pub nodule: Option<NoduleMeasures>,
    pub dr: Option<DrGrade>,
    pub image: Option<ImageLocation>,
    pub confidence: Option<f64>,
    pub decision: Decision,
}

/// A report's content, as drafted and as signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDocument {
    pub template: Template,
    pub language: Language,
    pub header: ReportHeader,
    /// 检查技术: technique (for CT: slice thickness, dose, contrast).
    pub technique: String,
    /// 影像所见: findings, free text.
    pub findings_text: String,
    /// 诊断意见/印象: impression.
    pub impression: String,
    pub recommendation: String,
    /// The exam's Lung-RADS category as the physician states it (`1`…`4X`, `0`).
    pub lung_rads: Option<String>,
    /// DR screening per eye, as the physician states it.
    pub dr: Vec<DrGrade>,
    /// The physician marks a critical finding (危急值); it must then be notified.
    pub critical: bool,
    /// The findings the report rests on: accepted, edited and added (never pending or rejected).
    pub findings: Vec<Finding>,
}

/// A physician's signature (only a physician signs; the reading workflow checks the role and
/// re-authenticates before it makes one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// Login name and display name.
    pub user: String,
    pub display_name: String,
    /// RFC 3339.
    pub signed_at: String,
}

/// A critical-finding notification (危急值通报): who was called, when, and the read-back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub recipient: String,
    /// `phone`, `in-person`, `message`.
    pub method: String,
    pub message: String,
    pub read_back: bool,
    pub notified_by: String,
    /// RFC 3339.
    pub notified_at: String,
}

/// A signed report or addendum, as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedReport {
    /// The report's id in the reading workflow and its version (1, then addenda 2, 3…).
    pub report_id: i64,
    pub version: u32,
    pub document: ReportDocument,
    pub signature: Signature,
    /// Addenda signed after this report, oldest first: (text, signature).
    pub addenda: Vec<(String, Signature)>,
    /// When the exam was completed (last image received), RFC 3339, for turnaround.
    pub exam_completed_at: Option<String>,
}
