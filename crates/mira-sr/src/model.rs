//! The input model: what a TID 1500 Measurement Report says, in terms of the templates, not of
//! any one analysis. Every type is serde-friendly so analyzers and the reading workflow can keep
//! a report as JSON until it is written.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::{Deserialize, Serialize};

use crate::error::SrError;

/// A coded concept: Code Value, Coding Scheme Designator, Code Meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    /// Code Value (0008,0100), at most 16 characters.
    pub value: String,
    /// Coding Scheme Designator (0008,0102), e.g. `DCM`, `SCT`, `UCUM`, `99MIRA`.
    pub scheme: String,
    /// Code Meaning (0008,0104), at most 64 characters.
    pub meaning: String,
}

impl Code {
    /// A code from its three parts.
    pub fn new(
        value: impl Into<String>,
        scheme: impl Into<String>,
        meaning: impl Into<String>,
    ) -> Self {
        Code {
            value: value.into(),
            scheme: scheme.into(),
            meaning: meaning.into(),
        }
    }
}

/// The whole report: who it is about, what it is, who observed, what was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurementReport {
    /// Patient and study, copied from the source images.
    pub subject: Subject,
    /// Series, instance, dates and equipment of the SR document itself.
    pub document: DocumentInfo,
    /// Draft or signed; decides the completion, verification and preliminary flags.
    pub status: ReportStatus,
    /// Observer context (TID 1002): the algorithm, and for a signed report the physician.
    pub observers: Vec<Observer>,
    /// Procedure reported (TID 1500 row 4), one or more; also the Performed Procedure Code.
    pub procedures_reported: Vec<Code>,
    /// Language of the text in the report (TID 1204).
    pub language: Language,
    /// The images the report refers to (TID 1600); each also appears in the evidence.
    pub image_library: Vec<ImageReference>,
    /// Measurement groups (TID 1501), one per finding.
    pub measurement_groups: Vec<MeasurementGroup>,
    /// Document-level evaluations (TID 1500 "Qualitative Evaluations"): the exam category,
    /// the impression, the recommended management.
    pub evaluations: Vec<Evaluation>,
}

/// Patient and study attributes, as in the Patient and General Study modules.
///
/// Optional fields are Type 2 attributes: written empty when `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Patient's Name (0010,0010), PN, e.g. `Zhang^San=张^三`.
    pub patient_name: Option<String>,
    /// Patient ID (0010,0020).
    pub patient_id: Option<String>,
    /// Issuer of Patient ID (0010,0021).
    pub issuer_of_patient_id: Option<String>,
    /// Patient's Birth Date (0010,0030), YYYYMMDD.
    pub patient_birth_date: Option<String>,
    /// Patient's Sex (0010,0040): M, F or O.
    pub patient_sex: Option<String>,
    /// Study Instance UID (0020,000D); the report joins the images' study.
    pub study_instance_uid: String,
    /// Study Date (0008,0020).
    pub study_date: Option<String>,
    /// Study Time (0008,0030).
    pub study_time: Option<String>,
    /// Study ID (0020,0010).
    pub study_id: Option<String>,
    /// Accession Number (0008,0050).
    pub accession_number: Option<String>,
    /// Referring Physician's Name (0008,0090).
    pub referring_physician_name: Option<String>,
    /// Study Description (0008,1030).
    pub study_description: Option<String>,
}

impl Subject {
    /// Copies the Patient and General Study module attributes from a source instance (one of
    /// the images the report is about), so the report files under the same patient and study.
    pub fn from_source(source: &InMemDicomObject) -> Result<Self, SrError> {
        let study_instance_uid = source_str(source, tags::STUDY_INSTANCE_UID).ok_or(
            SrError::MissingSourceAttribute {
                keyword: "StudyInstanceUID",
            },
        )?;
        Ok(Subject {
            patient_name: source_str(source, tags::PATIENT_NAME),
            patient_id: source_str(source, tags::PATIENT_ID),
            issuer_of_patient_id: source_str(source, tags::ISSUER_OF_PATIENT_ID),
            patient_birth_date: source_str(source, tags::PATIENT_BIRTH_DATE),
            patient_sex: source_str(source, tags::PATIENT_SEX),
            study_instance_uid,
            study_date: source_str(source, tags::STUDY_DATE),
            study_time: source_str(source, tags::STUDY_TIME),
            study_id: source_str(source, tags::STUDY_ID),
            accession_number: source_str(source, tags::ACCESSION_NUMBER),
            referring_physician_name: source_str(source, tags::REFERRING_PHYSICIAN_NAME),
            study_description: source_str(source, tags::STUDY_DESCRIPTION),
        })
    }
}

/// A string attribute of a source instance, trimmed of DICOM padding; `None` when absent or
/// empty.
pub(crate) fn source_str(source: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let element = source.element_opt(tag).ok().flatten()?;
    let text = element.value().to_str().ok()?;
    let text = text.trim_end_matches(['\0', ' ']).trim_start();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The SR document's own identity, dates and equipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentInfo {
    /// Where the Series and SOP Instance UIDs come from.
    pub uids: DocumentUids,
    /// Series Number (0020,0011).
    pub series_number: i32,
    /// Instance Number (0020,0013).
    pub instance_number: i32,
    /// Series Description (0008,103E), e.g. "AI lung nodule report".
    pub series_description: Option<String>,
    /// Content Date (0008,0023), YYYYMMDD.
    pub content_date: String,
    /// Content Time (0008,0033), HHMMSS with optional fraction.
    pub content_time: String,
    /// Manufacturer (0008,0070) of the equipment that wrote the report: "mira".
    pub manufacturer: String,
    /// Software Versions (0018,1020).
    pub software_versions: String,
    /// Institution Name (0008,0080).
    pub institution_name: Option<String>,
}

impl DocumentInfo {
    /// A document written by mira: generated UIDs under `uid_root` (or `2.25`), manufacturer
    /// "mira", this crate's version as the software version, no description or institution.
    pub fn mira(
        uid_root: Option<String>,
        series_number: i32,
        content_date: impl Into<String>,
        content_time: impl Into<String>,
    ) -> Self {
        DocumentInfo {
            uids: DocumentUids::Generate { root: uid_root },
            series_number,
            instance_number: 1,
            series_description: None,
            content_date: content_date.into(),
            content_time: content_time.into(),
            manufacturer: "mira".to_owned(),
            software_versions: env!("CARGO_PKG_VERSION").to_owned(),
            institution_name: None,
        }
    }
}

/// Where the report's Series and SOP Instance UIDs come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DocumentUids {
    /// Generated when the report is written: under `root` (an organisation's UID root), or
    /// under `2.25` from a random UUID when `root` is `None`. Tracking UIDs left empty are
    /// generated the same way.
    Generate {
        /// UID root, e.g. `1.2.826.0.1.3680043.10.1234`.
        root: Option<String>,
    },
    /// Given by the caller (an amended report keeps its series, say).
    Given {
        /// Series Instance UID (0020,000E).
        series_instance_uid: String,
        /// SOP Instance UID (0008,0018).
        sop_instance_uid: String,
    },
}

/// Whether a physician has signed the report.
///
/// The flags follow PS3.3 C.17.2.1: an AI draft is **PARTIAL** (a physician may still add,
/// edit or reject findings, so the content is not yet all there is to say), **UNVERIFIED** (no
/// one legally accountable has attested it) and Preliminary Flag **PRELIMINARY**. A signed
/// report is **COMPLETE**, **VERIFIED** with its Verifying Observer Sequence, and **FINAL**.
/// There is deliberately no way to mark an AI draft verified: that takes a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReportStatus {
    /// Written by an algorithm, awaiting a physician.
    AiDraft,
    /// Signed by one or more physicians.
    Signed {
        /// Who attested the content, in order (Verifying Observer Sequence).
        verifying_observers: Vec<VerifyingObserver>,
    },
}

/// One item of the Verifying Observer Sequence (0040,A073).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyingObserver {
    /// Verifying Observer Name (0040,A075), PN.
    pub name: String,
    /// Verifying Organization (0040,A027).
    pub organization: String,
    /// Verification DateTime (0040,A030), DT: YYYYMMDDHHMMSS with optional fraction and offset.
    pub datetime: String,
}

/// An observer in the observer context (TID 1002).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Observer {
    /// An algorithm (TID 1004).
    Device(DeviceObserver),
    /// A physician (TID 1003).
    Person(PersonObserver),
}

/// A device observer: the algorithm that produced the findings (TID 1004).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceObserver {
    /// Device Observer UID (DCM 121012), identifying this installation of the algorithm.
    pub uid: String,
    /// Device Observer Name (DCM 121013).
    pub name: Option<String>,
    /// Device Observer Manufacturer (DCM 121014).
    pub manufacturer: Option<String>,
    /// Device Observer Model Name (DCM 121015): the algorithm's name and version.
    pub model_name: Option<String>,
}

/// A person observer: the physician (TID 1003).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonObserver {
    /// Person Observer Name (DCM 121008), PN.
    pub name: String,
    /// Person Observer's Organization Name (DCM 121009).
    pub organization: Option<String>,
}

/// Language of the report's text (TID 1204, CID 5000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Language {
    /// `zh-CN`, Chinese as written in mainland China.
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// `en-US`, English.
    #[serde(rename = "en-US")]
    EnUs,
}

impl Language {
    /// The RFC 5646 code for TID 1204.
    pub fn code(self) -> Code {
        match self {
            Language::ZhCn => crate::codes::rfc5646::CHINESE_CHINA.code(),
            Language::EnUs => crate::codes::rfc5646::ENGLISH_US.code(),
        }
    }
}

/// An image the report refers to: an entry of the image library and of the evidence sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageReference {
    /// Study Instance UID of the image.
    pub study_instance_uid: String,
    /// Series Instance UID of the image.
    pub series_instance_uid: String,
    /// SOP Class UID of the image.
    pub sop_class_uid: String,
    /// SOP Instance UID of the image.
    pub sop_instance_uid: String,
}

impl ImageReference {
    /// The reference to a source instance, read from its attributes.
    pub fn from_source(source: &InMemDicomObject) -> Result<Self, SrError> {
        let get = |tag, keyword| {
            source_str(source, tag).ok_or(SrError::MissingSourceAttribute { keyword })
        };
        Ok(ImageReference {
            study_instance_uid: get(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
            series_instance_uid: get(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
            sop_class_uid: get(tags::SOP_CLASS_UID, "SOPClassUID")?,
            sop_instance_uid: get(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
        })
    }
}

/// One finding and what was measured and judged about it (TID 1501).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurementGroup {
    /// Tracking Identifier (DCM 112039): a label a person can read, e.g. "nodule 1".
    pub tracking_identifier: String,
    /// Tracking Unique Identifier (DCM 112040): the same finding across reports keeps it.
    /// Generated when `None`.
    pub tracking_uid: Option<String>,
    /// Finding (DCM 121071), e.g. SCT 27925004 "Nodule".
    pub finding: Option<Code>,
    /// Finding Site (SCT 363698007) with its laterality.
    pub finding_site: Option<FindingSite>,
    /// Algorithm Identification (TID 4019) of the algorithm that made this group.
    pub algorithm: Option<Algorithm>,
    /// The region the finding occupies, at group level, e.g. a lesion's box on a fundus
    /// photograph or a nodule's centre. A group with a region takes the shape of TID 1410
    /// "Planar ROI Measurements and Qualitative Evaluations" (its "Image Region", SCOORD or
    /// SCOORD3D, DCM 111030); without one it is TID 1501. TID 1500 allows both as Measurement
    /// Groups. MULTIPOINT is refused here: it is not one region.
    pub region: Option<Region>,
    /// Measurements (TID 300).
    pub measurements: Vec<Measurement>,
    /// Coded and text evaluations of the finding (e.g. attenuation type, Lung-RADS category).
    pub evaluations: Vec<Evaluation>,
    /// Free-text comments (TEXT, DCM 121106 "Comment").
    pub comments: Vec<String>,
}

/// Where a finding is, anatomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingSite {
    /// The anatomic site, e.g. SCT 45653009 "Upper lobe of lung".
    pub site: Code,
    /// Laterality (SCT 272741003) as a concept modifier of the site, e.g. SCT 24028007 "Right".
    pub laterality: Option<Code>,
}

/// Algorithm Identification (TID 4019).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Algorithm {
    /// Algorithm Name (DCM 111001).
    pub name: String,
    /// Algorithm Version (DCM 111003).
    pub version: String,
}

/// One measurement (TID 300).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// What was measured, e.g. SCT 103339001 "Long Axis".
    pub concept: Code,
    /// The value as a decimal string, held exactly (no binary float in between).
    pub value: NumericValue,
    /// UCUM unit, e.g. `mm`, `mm3`.
    pub unit: Code,
    /// Derivation (DCM 121401), e.g. SCT 373098007 "Mean" for a mean diameter.
    pub derivation: Option<Code>,
    /// Measurement Method (SCT 370129005).
    pub method: Option<Code>,
    /// The image region the value was measured on (INFERRED FROM, "Source of Measurement").
    pub region: Option<Region>,
}

/// A numeric value as a DICOM Decimal String: at most 16 characters, digits with an optional
/// sign, point and exponent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NumericValue(String);

impl NumericValue {
    /// Parses a decimal string such as `"7.2"` or `"-1.5e2"`.
    pub fn parse(text: &str) -> Result<Self, SrError> {
        let text = text.trim();
        let valid = !text.is_empty()
            && text.len() <= 16
            && text.parse::<f64>().is_ok_and(f64::is_finite)
            && text
                .chars()
                .all(|ch| ch.is_ascii_digit() || matches!(ch, '+' | '-' | '.' | 'e' | 'E'));
        if valid {
            Ok(NumericValue(text.to_owned()))
        } else {
            Err(SrError::InvalidNumber {
                text: text.to_owned(),
            })
        }
    }

    /// The decimal string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NumericValue {
    type Error = SrError;
    fn try_from(text: String) -> Result<Self, SrError> {
        NumericValue::parse(&text)
    }
}

impl From<NumericValue> for String {
    fn from(value: NumericValue) -> Self {
        value.0
    }
}

impl std::fmt::Display for NumericValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A spatial region: on one image (SCOORD) or in a patient frame of reference (SCOORD3D).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Region {
    /// 2D coordinates in image pixel space (column, row; PS3.3 C.18.6.1.1), on one image of
    /// the image library.
    Image {
        /// The shape.
        graphic_type: GraphicType,
        /// (column, row) pairs, sub-pixel; (0,0) is the top left corner of the top left pixel
        /// (PS3.3 C.18.6.1.1).
        points: Vec<[f32; 2]>,
        /// The image the coordinates are on.
        image: ImageSelection,
    },
    /// 3D coordinates in millimetres in a patient frame of reference (PS3.3 C.18.9.1.2).
    /// Needs the Comprehensive 3D SR IOD, which the writer then picks.
    Volume {
        /// The shape.
        graphic_type: GraphicType3d,
        /// (x, y, z) triples in mm.
        points: Vec<[f32; 3]>,
        /// Referenced Frame of Reference UID (3006,0024): the images' Frame of Reference UID.
        frame_of_reference_uid: String,
    },
}

impl Region {
    /// How many points the region has.
    pub fn point_count(&self) -> usize {
        match self {
            Region::Image { points, .. } => points.len(),
            Region::Volume { points, .. } => points.len(),
        }
    }
}

/// SCOORD graphic types used here (PS3.3 C.18.6.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GraphicType {
    /// One point.
    Point,
    /// Several unconnected points.
    Multipoint,
    /// Connected line segments; closed (a box) when the last point repeats the first.
    Polyline,
    /// Centre and a point on the circumference.
    Circle,
    /// Major axis end points, then minor axis end points.
    Ellipse,
}

/// SCOORD3D graphic types used here (PS3.3 C.18.9.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GraphicType3d {
    /// One point, e.g. a nodule centre.
    Point,
    /// Several unconnected points.
    Multipoint,
    /// Connected line segments.
    Polyline,
    /// A closed, planar polygon.
    Polygon,
    /// A planar ellipse: major axis end points, then minor axis end points.
    Ellipse,
    /// Three axes' end points.
    Ellipsoid,
}

impl GraphicType {
    /// The Graphic Type (0070,0023) value.
    pub fn keyword(self) -> &'static str {
        match self {
            GraphicType::Point => "POINT",
            GraphicType::Multipoint => "MULTIPOINT",
            GraphicType::Polyline => "POLYLINE",
            GraphicType::Circle => "CIRCLE",
            GraphicType::Ellipse => "ELLIPSE",
        }
    }

    /// Whether `count` points make this shape (PS3.3 C.18.6.1.2).
    pub(crate) fn accepts(self, count: usize) -> bool {
        match self {
            GraphicType::Point => count == 1,
            GraphicType::Multipoint => count >= 1,
            GraphicType::Polyline => count >= 2,
            GraphicType::Circle => count == 2,
            GraphicType::Ellipse => count == 4,
        }
    }
}

impl GraphicType3d {
    /// The Graphic Type (0070,0023) value.
    pub fn keyword(self) -> &'static str {
        match self {
            GraphicType3d::Point => "POINT",
            GraphicType3d::Multipoint => "MULTIPOINT",
            GraphicType3d::Polyline => "POLYLINE",
            GraphicType3d::Polygon => "POLYGON",
            GraphicType3d::Ellipse => "ELLIPSE",
            GraphicType3d::Ellipsoid => "ELLIPSOID",
        }
    }

    /// Whether `count` points make this shape (PS3.3 C.18.9.1.2).
    pub(crate) fn accepts(self, count: usize) -> bool {
        match self {
            GraphicType3d::Point => count == 1,
            GraphicType3d::Multipoint => count >= 1,
            GraphicType3d::Polyline => count >= 2,
            GraphicType3d::Polygon => count >= 4,
            GraphicType3d::Ellipse => count == 4,
            GraphicType3d::Ellipsoid => count == 6,
        }
    }
}

/// An image of the image library, by SOP Instance UID, and a frame of it if multi-frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSelection {
    /// SOP Instance UID of an image listed in [`MeasurementReport::image_library`].
    pub sop_instance_uid: String,
    /// Referenced Frame Number (0008,1160), for multi-frame images.
    pub frame: Option<u32>,
}

/// An evaluation: a concept with a coded or a text value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Evaluation {
    /// CODE content item, e.g. Lung-RADS category = 4A.
    Coded {
        /// Concept name.
        concept: Code,
        /// Coded value.
        value: Code,
    },
    /// TEXT content item, e.g. Recommendation = "3-month LDCT".
    Text {
        /// Concept name.
        concept: Code,
        /// The text, in the report's language.
        text: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_are_kept_exactly_and_checked() {
        for text in ["4.0", "-1.5e2", "148", "0.000001"] {
            assert_eq!(NumericValue::parse(text).unwrap().as_str(), text);
        }
        for text in ["", "4,0", "1.0.0", "NaN", "inf", "12345678901234567"] {
            assert!(NumericValue::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn languages_serialise_as_their_tags() {
        assert_eq!(serde_json::to_string(&Language::ZhCn).unwrap(), "\"zh-CN\"");
        assert_eq!(Language::EnUs.code().value, "en-US");
    }
}
