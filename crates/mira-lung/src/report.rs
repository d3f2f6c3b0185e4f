//! The analysis result: serde-serialisable, with stable field names (kebab-case enums,
//! snake_case fields). Everything a DICOM SR (TID 1500 Measurement Report) needs is here:
//! the study, series and image references (SOP Class and Instance UIDs of the slice each
//! nodule is measured on), the measurements with their units, the axis endpoints on that
//! slice (pixel coordinates: column, row), the finding sites, the algorithm's identity and
//! version, and the guideline's categories with their sources.

use serde::{Deserialize, Serialize};

/// The whole report of one CT series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LungReport {
    /// The algorithm that produced it.
    pub algorithm: Algorithm,
    /// Study Instance UID of the series analysed (may be empty in anonymised data).
    pub study_instance_uid: String,
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// Frame of Reference UID (the patient coordinates below are in it).
    pub frame_of_reference_uid: String,
    /// Study Date (YYYYMMDD, may be empty).
    pub study_date: String,
    /// The volume's geometry.
    pub volume: VolumeSummary,
    /// The lungs as found.
    pub lungs: Vec<LungSummary>,
    /// Candidates the detector proposed (before false-positive reduction).
    pub candidates: usize,
    /// The nodules reported, most confident first; ids are 1-based and stable within a report.
    pub nodules: Vec<NoduleReport>,
    /// Prior nodules that were not found again (resolved or missed), by their prior id.
    pub prior_nodules_not_found: Vec<u32>,
    /// The exam's assessment.
    pub exam: ExamReport,
    /// The guideline profile used.
    pub profile: ProfileRef,
    /// The prior study compared with, if any.
    pub prior: Option<PriorRef>,
    /// Time per stage, in order.
    pub timings: Vec<StageTiming>,
}

/// Algorithm identification (for SR: Algorithm Name, Algorithm Version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Algorithm {
    /// `mira-lung`.
    pub name: String,
    /// The crate version.
    pub version: String,
    /// The false-positive reduction used: `classical` or the model's id.
    pub fp_reduction: String,
    /// The candidate classifier model, where one replaced the classical stage.
    pub model: Option<ModelRef>,
}

/// A model used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Manifest id.
    pub id: String,
    /// Manifest version.
    pub version: String,
    /// SHA-256 of the ONNX file.
    pub sha256: String,
}

/// The volume analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeSummary {
    /// Columns, rows, slices.
    pub dims: [usize; 3],
    /// Column, row and slice spacing, mm.
    pub spacing_mm: [f64; 3],
    /// Slice Thickness, mm, where given.
    pub slice_thickness_mm: Option<f64>,
}

/// One lung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LungSummary {
    /// `right` or `left`.
    pub side: String,
    /// Volume, ml.
    pub volume_ml: f64,
    /// Centroid, patient mm.
    pub centroid_mm: [f64; 3],
    /// Bounding box, patient mm: lowest corner.
    pub min_mm: [f64; 3],
    /// Bounding box, patient mm: highest corner.
    pub max_mm: [f64; 3],
}

/// A point on an image, in pixel coordinates (column, row), as SR SCOORD wants them.
pub type PixelPoint = [f64; 2];

/// One nodule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoduleReport {
    /// 1-based id within this report (SR Tracking Identifier).
    pub id: u32,
    /// Centre, patient mm (Frame of Reference above).
    pub centre_mm: [f64; 3],
    /// Index of the slice of greatest extent, 0-based in the sorted volume.
    pub slice_index: usize,
    /// SOP Instance UID of that slice (the image the axes are measured on).
    pub sop_instance_uid: String,
    /// SOP Class UID of that slice.
    pub sop_class_uid: String,
    /// Long axis endpoints on that slice (column, row).
    pub long_axis_px: [PixelPoint; 2],
    /// Short axis endpoints on that slice (column, row), perpendicular to the long axis.
    pub short_axis_px: [PixelPoint; 2],
    /// Long axis, mm, rounded half up to 0.1 mm.
    pub long_axis_mm: f64,
    /// Short axis, mm, rounded half up to 0.1 mm.
    pub short_axis_mm: f64,
    /// Mean diameter, mm, as the profile rounds it (Lung-RADS: 0.1 mm half up).
    pub mean_diameter_mm: f64,
    /// Volume, mm³ (whole).
    pub volume_mm3: u64,
    /// `solid`, `part-solid` or `ground-glass`.
    pub attenuation: String,
    /// Mean diameter of the solid component (part-solid only), mm.
    pub solid_component_mm: Option<f64>,
    /// Mean attenuation inside, HU.
    pub mean_hu: f64,
    /// Fraction of the nodule above 200 HU.
    pub calcified_fraction: f64,
    /// Diffusely calcified (a benign pattern; Lung-RADS category 1).
    pub calcified: bool,
    /// `right` or `left`.
    pub lung: String,
    /// Approximate lobe (by position within the lung): `right-upper`, `right-middle`,
    /// `right-lower`, `left-upper`, `left-lower`.
    pub lobe: String,
    /// `parenchymal` or `juxtapleural`.
    pub location: String,
    /// Confidence that this is a nodule, 0..1.
    pub confidence: f64,
    /// Category under the profile.
    pub category: String,
    /// The rule that gave it.
    pub category_rule: String,
    /// The rule's source.
    pub category_source: String,
    /// Management for this nodule alone.
    pub management: String,
    /// `baseline`, `new`, `growing`, `slowly-growing` or `stable`.
    pub status: String,
    /// The matching prior nodule, if any.
    pub prior: Option<PriorMatch>,
}

/// A nodule's match in the prior study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorMatch {
    /// Its id in the prior report.
    pub prior_id: u32,
    /// Its mean diameter then, mm.
    pub prior_mean_diameter_mm: f64,
    /// Change in mean diameter (now − then), mm.
    pub growth_mm: f64,
    /// Distance between the positions after aligning the lungs, mm.
    pub distance_mm: f64,
}

/// The exam's assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamReport {
    /// Exam category (Lung-RADS: 0, 1, 2, 3, 4A, 4B, 4X).
    pub category: String,
    /// The category with its modifiers, e.g. `4A` or `2S`.
    pub label: String,
    /// Management recommendation.
    pub management: String,
    /// The rule that decided.
    pub rule: String,
    /// Its source.
    pub source: String,
    /// Id of the most suspicious nodule.
    pub most_suspicious: Option<u32>,
}

/// The guideline profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileRef {
    /// Stable id with its version, e.g. `lung-rads-2022`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The guideline it encodes.
    pub citation: String,
}

/// The prior study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorRef {
    /// Its Study Instance UID.
    pub study_instance_uid: String,
    /// Its Series Instance UID.
    pub series_instance_uid: String,
    /// Months before this study.
    pub months_before: u32,
}

/// Time one stage took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTiming {
    /// Stage name: `resample`, `lungs`, `candidates`, `nodules`, `assessment`.
    pub stage: String,
    /// Milliseconds.
    pub ms: f64,
}
