//! The coded concepts the writer and its callers use, each with where it was verified.
//!
//! Sources, in order of authority:
//! - **PS3.16** (DICOM Content Mapping Resource) as tabulated in pydicom 3.0.2,
//!   `pydicom/sr/_concepts_dict.py` and `pydicom/sr/_cid_dict.py`, which are generated from the
//!   standard's tables: every `DCM`, `SCT` and `UCUM` code below was looked up there by code
//!   value and its meaning compared. The CIDs it lists are given where they matter.
//! - `UMLS C0034375` "Qualitative Evaluations" (TID 1500 row 12) is not in pydicom's tables; it
//!   was verified in the HL7 "DICOM SR to FHIR" implementation guide's TID 1500 mapping table
//!   and in public TID 1500 writers (JavaScript and Swift) that emit the same triple.
//! - `RFC5646` language tags (CID 5000): the scheme and `en-US` "English (United States)" are
//!   highdicom's default for TID 1204; `zh-CN` "Chinese (China)" follows the same pattern.
//!
//! What could not be verified (Lung-RADS categories, nodule attenuation other than ground glass,
//! the ICDR scale, microaneurysm, hard exudate, "referable DR") is in [`mira`], a private coding
//! scheme `99MIRA` declared in the Coding Scheme Identification Sequence of every report, so
//! that no receiver mistakes a guess for a standard code. Replace them when RadElement or
//! SNOMED CT codes are confirmed; the report's structure does not change.

use crate::model::Code;

/// A code known at compile time; [`StaticCode::code`] turns it into a [`Code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticCode {
    /// Code Value (0008,0100).
    pub value: &'static str,
    /// Coding Scheme Designator (0008,0102).
    pub scheme: &'static str,
    /// Code Meaning (0008,0104).
    pub meaning: &'static str,
}

impl StaticCode {
    /// This code as an owned [`Code`].
    pub fn code(&self) -> Code {
        Code::new(self.value, self.scheme, self.meaning)
    }
}

impl From<StaticCode> for Code {
    fn from(code: StaticCode) -> Self {
        code.code()
    }
}

const fn c(value: &'static str, scheme: &'static str, meaning: &'static str) -> StaticCode {
    StaticCode {
        value,
        scheme,
        meaning,
    }
}

/// DICOM Controlled Terminology (PS3.16 Annex D), verified in pydicom's PS3.16 tables.
pub mod dcm {
    use super::{StaticCode, c};

    /// Document title of TID 1500 (CID 7021).
    pub const IMAGING_MEASUREMENT_REPORT: StaticCode =
        c("126000", "DCM", "Imaging Measurement Report");
    /// TID 1500 row 6: the container of measurement groups.
    pub const IMAGING_MEASUREMENTS: StaticCode = c("126010", "DCM", "Imaging Measurements");
    /// TID 1501 row 1.
    pub const MEASUREMENT_GROUP: StaticCode = c("125007", "DCM", "Measurement Group");
    /// TID 1501 row 3.
    pub const TRACKING_IDENTIFIER: StaticCode = c("112039", "DCM", "Tracking Identifier");
    /// TID 1501 row 4.
    pub const TRACKING_UNIQUE_IDENTIFIER: StaticCode =
        c("112040", "DCM", "Tracking Unique Identifier");
    /// TID 1501 row 6 (CID 7002 also lists it).
    pub const FINDING: StaticCode = c("121071", "DCM", "Finding");
    /// TID 4019 Algorithm Identification.
    pub const ALGORITHM_NAME: StaticCode = c("111001", "DCM", "Algorithm Name");
    /// TID 4019 Algorithm Identification.
    pub const ALGORITHM_VERSION: StaticCode = c("111003", "DCM", "Algorithm Version");
    /// TID 1500 row 4.
    pub const PROCEDURE_REPORTED: StaticCode = c("121058", "DCM", "Procedure reported");
    /// TID 1600 row 1.
    pub const IMAGE_LIBRARY: StaticCode = c("111028", "DCM", "Image Library");
    /// TID 1600 row 2.
    pub const IMAGE_LIBRARY_GROUP: StaticCode = c("126200", "DCM", "Image Library Group");
    /// TID 1204.
    pub const LANGUAGE_OF_CONTENT: StaticCode =
        c("121049", "DCM", "Language of Content Item and Descendants");
    /// TID 1002 row 1.
    pub const OBSERVER_TYPE: StaticCode = c("121005", "DCM", "Observer Type");
    /// CID 270 Observer Type.
    pub const PERSON: StaticCode = c("121006", "DCM", "Person");
    /// CID 270 Observer Type.
    pub const DEVICE: StaticCode = c("121007", "DCM", "Device");
    /// TID 1003.
    pub const PERSON_OBSERVER_NAME: StaticCode = c("121008", "DCM", "Person Observer Name");
    /// TID 1003.
    pub const PERSON_OBSERVER_ORGANIZATION_NAME: StaticCode =
        c("121009", "DCM", "Person Observer's Organization Name");
    /// TID 1004.
    pub const DEVICE_OBSERVER_UID: StaticCode = c("121012", "DCM", "Device Observer UID");
    /// TID 1004.
    pub const DEVICE_OBSERVER_NAME: StaticCode = c("121013", "DCM", "Device Observer Name");
    /// TID 1004.
    pub const DEVICE_OBSERVER_MANUFACTURER: StaticCode =
        c("121014", "DCM", "Device Observer Manufacturer");
    /// TID 1004.
    pub const DEVICE_OBSERVER_MODEL_NAME: StaticCode =
        c("121015", "DCM", "Device Observer Model Name");
    /// TID 300 row 3 (CID 9000).
    pub const DERIVATION: StaticCode = c("121401", "DCM", "Derivation");
    /// TID 300 row 10: the purpose of a coordinate a measurement was inferred from (CID 7003).
    pub const SOURCE_OF_MEASUREMENT: StaticCode = c("121112", "DCM", "Source of Measurement");
    /// TID 1410 row 8: a region of interest at group level.
    pub const IMAGE_REGION: StaticCode = c("111030", "DCM", "Image Region");
    /// CID 7002 Diagnostic Imaging Report Element.
    pub const IMPRESSION: StaticCode = c("121073", "DCM", "Impression");
    /// CID 7002 Diagnostic Imaging Report Element.
    pub const RECOMMENDATION: StaticCode = c("121075", "DCM", "Recommendation");
    /// CID 12101; a free-text remark.
    pub const COMMENT: StaticCode = c("121106", "DCM", "Comment");
    /// CID 6104 Abnormal Opacity Finding or Feature.
    pub const GROUND_GLASS_OPACITY: StaticCode = c("112120", "DCM", "Ground glass opacity");
}

/// SNOMED CT, verified in pydicom's PS3.16 tables.
pub mod sct {
    use super::{StaticCode, c};

    /// TID 1501 row 8 (CID 9000).
    pub const FINDING_SITE: StaticCode = c("363698007", "SCT", "Finding Site");
    /// Concept modifier of a finding site (CID 210 names the values).
    pub const LATERALITY: StaticCode = c("272741003", "SCT", "Laterality");
    /// CID 244 Laterality.
    pub const RIGHT: StaticCode = c("24028007", "SCT", "Right");
    /// CID 244 Laterality.
    pub const LEFT: StaticCode = c("7771000", "SCT", "Left");
    /// Both sides.
    pub const RIGHT_AND_LEFT: StaticCode = c("51440002", "SCT", "Right and left");
    /// TID 300 row 2 (CID 9000).
    pub const MEASUREMENT_METHOD: StaticCode = c("370129005", "SCT", "Measurement Method");
    /// CID 6102/6104.
    pub const NODULE: StaticCode = c("27925004", "SCT", "Nodule");
    /// CID 6335 (also a fundus haemorrhage finding).
    pub const HEMORRHAGE: StaticCode = c("50960005", "SCT", "Hemorrhage");
    /// CID 6335.
    pub const LESION: StaticCode = c("52988006", "SCT", "Lesion");
    /// CID 7469/7470 linear measurements.
    pub const LONG_AXIS: StaticCode = c("103339001", "SCT", "Long Axis");
    /// CID 7469/7470 linear measurements.
    pub const SHORT_AXIS: StaticCode = c("103340004", "SCT", "Short Axis");
    /// CID 7469/7470 linear measurements; with [`MEAN`] as derivation, the mean diameter.
    pub const DIAMETER: StaticCode = c("81827009", "SCT", "Diameter");
    /// CID 7469/7472.
    pub const VOLUME: StaticCode = c("118565006", "SCT", "Volume");
    /// CID 7464 (a derivation, TID 300 row 3).
    pub const MEAN: StaticCode = c("373098007", "SCT", "Mean");
    /// CID 4, 6100.
    pub const LUNG: StaticCode = c("39607008", "SCT", "Lung");
    /// CID 6170.
    pub const UPPER_LOBE_OF_LUNG: StaticCode = c("45653009", "SCT", "Upper lobe of lung");
    /// CID 6170.
    pub const MIDDLE_LOBE_OF_RIGHT_LUNG: StaticCode =
        c("72481006", "SCT", "Middle lobe of right lung");
    /// CID 6170.
    pub const LOWER_LOBE_OF_LUNG: StaticCode = c("90572001", "SCT", "Lower lobe of lung");
    /// CID 4029, 4209.
    pub const RETINA: StaticCode = c("5665001", "SCT", "Retina");
    /// CID 230 Yes-No.
    pub const YES: StaticCode = c("373066001", "SCT", "Yes");
    /// CID 230 Yes-No.
    pub const NO: StaticCode = c("373067005", "SCT", "No");
    /// CID 100: a procedure reported when no finer code applies.
    pub const IMAGING_PROCEDURE: StaticCode = c("363679005", "SCT", "Imaging procedure");
    /// A CT procedure reported.
    pub const COMPUTERIZED_AXIAL_TOMOGRAPHY: StaticCode =
        c("77477000", "SCT", "Computerized axial tomography");
}

/// UMLS concepts used by TID 1500.
pub mod umls {
    use super::{StaticCode, c};

    /// TID 1500 row 12: the container of document-level evaluations (HL7 SR-to-FHIR IG).
    pub const QUALITATIVE_EVALUATIONS: StaticCode =
        c("C0034375", "UMLS", "Qualitative Evaluations");
}

/// UCUM units (CID 7181, 7460, 7462), verified in pydicom's PS3.16 tables.
pub mod ucum {
    use super::{StaticCode, c};

    /// Millimetre.
    pub const MILLIMETER: StaticCode = c("mm", "UCUM", "mm");
    /// Cubic millimetre.
    pub const CUBIC_MILLIMETER: StaticCode = c("mm3", "UCUM", "cubic millimeter");
    /// A dimensionless value (scores, probabilities).
    pub const NO_UNITS: StaticCode = c("1", "UCUM", "no units");
}

/// RFC 5646 language tags for TID 1204 (CID 5000).
pub mod rfc5646 {
    use super::{StaticCode, c};

    /// Simplified Chinese as written in mainland China.
    pub const CHINESE_CHINA: StaticCode = c("zh-CN", "RFC5646", "Chinese (China)");
    /// English.
    pub const ENGLISH_US: StaticCode = c("en-US", "RFC5646", "English (United States)");
}

/// mira's private coding scheme `99MIRA`, for concepts no standard code was verified for.
///
/// Private scheme designators begin with "99" (PS3.16 section 8.2); each report that uses one
/// declares it in the Coding Scheme Identification Sequence.
pub mod mira {
    use super::{StaticCode, c};

    /// The designator of mira's private scheme.
    pub const SCHEME: &str = "99MIRA";

    /// Lung-RADS v2022 assessment category (concept name; values below).
    pub const LUNG_RADS_CATEGORY: StaticCode =
        c("LRADS-CAT", "99MIRA", "Lung-RADS v2022 assessment category");
    /// Lung-RADS category 0.
    pub const LUNG_RADS_0: StaticCode = c("LRADS-0", "99MIRA", "Lung-RADS 0");
    /// Lung-RADS category 1.
    pub const LUNG_RADS_1: StaticCode = c("LRADS-1", "99MIRA", "Lung-RADS 1");
    /// Lung-RADS category 2.
    pub const LUNG_RADS_2: StaticCode = c("LRADS-2", "99MIRA", "Lung-RADS 2");
    /// Lung-RADS category 3.
    pub const LUNG_RADS_3: StaticCode = c("LRADS-3", "99MIRA", "Lung-RADS 3");
    /// Lung-RADS category 4A.
    pub const LUNG_RADS_4A: StaticCode = c("LRADS-4A", "99MIRA", "Lung-RADS 4A");
    /// Lung-RADS category 4B.
    pub const LUNG_RADS_4B: StaticCode = c("LRADS-4B", "99MIRA", "Lung-RADS 4B");
    /// Lung-RADS category 4X.
    pub const LUNG_RADS_4X: StaticCode = c("LRADS-4X", "99MIRA", "Lung-RADS 4X");

    /// The code of a Lung-RADS category (`0`, `1`, `2`, `3`, `4A`, `4B`, `4X`, in any case),
    /// or `None` for anything else (another profile's category): the one mapping the
    /// analyzer's draft SR and the signed report's SR share.
    pub fn lung_rads(category: &str) -> Option<StaticCode> {
        Some(match category.trim().to_ascii_uppercase().as_str() {
            "0" => LUNG_RADS_0,
            "1" => LUNG_RADS_1,
            "2" => LUNG_RADS_2,
            "3" => LUNG_RADS_3,
            "4A" => LUNG_RADS_4A,
            "4B" => LUNG_RADS_4B,
            "4X" => LUNG_RADS_4X,
            _ => return None,
        })
    }

    /// Nodule attenuation type (concept name).
    pub const ATTENUATION_TYPE: StaticCode = c("NOD-ATTEN", "99MIRA", "Nodule attenuation type");
    /// A solid nodule.
    pub const SOLID: StaticCode = c("NOD-SOLID", "99MIRA", "Solid");
    /// A part-solid nodule.
    pub const PART_SOLID: StaticCode = c("NOD-PARTSOLID", "99MIRA", "Part-solid");
    /// The mean diameter of a part-solid nodule's solid component (a measurement concept).
    pub const SOLID_COMPONENT_MEAN_DIAMETER: StaticCode =
        c("NOD-SOLIDDIAM", "99MIRA", "Solid component mean diameter");

    /// Diabetic retinopathy (finding).
    pub const DIABETIC_RETINOPATHY: StaticCode = c("DR", "99MIRA", "Diabetic retinopathy");
    /// Retinal microaneurysm (finding).
    pub const MICROANEURYSM: StaticCode = c("DR-MA", "99MIRA", "Microaneurysm");
    /// Hard exudate (finding).
    pub const HARD_EXUDATE: StaticCode = c("DR-HE", "99MIRA", "Hard exudate");
    /// A detector's lesion score, 0 to 1 (measurement concept).
    pub const LESION_SCORE: StaticCode = c("LES-SCORE", "99MIRA", "Lesion score");
    /// International Clinical Diabetic Retinopathy severity (concept name).
    pub const ICDR_SEVERITY: StaticCode = c("ICDR", "99MIRA", "ICDR severity level");
    /// ICDR: no apparent retinopathy.
    pub const ICDR_NO_APPARENT: StaticCode = c("ICDR-0", "99MIRA", "No apparent retinopathy");
    /// ICDR: mild non-proliferative DR (microaneurysms only).
    pub const ICDR_MILD_NPDR: StaticCode = c("ICDR-1", "99MIRA", "Mild NPDR");
    /// ICDR: moderate non-proliferative DR.
    pub const ICDR_MODERATE_NPDR: StaticCode = c("ICDR-2", "99MIRA", "Moderate NPDR");
    /// ICDR: severe non-proliferative DR.
    pub const ICDR_SEVERE_NPDR: StaticCode = c("ICDR-3", "99MIRA", "Severe NPDR");
    /// ICDR: proliferative DR.
    pub const ICDR_PDR: StaticCode = c("ICDR-4", "99MIRA", "Proliferative DR");
    /// ICDR: the image cannot be graded.
    pub const UNGRADABLE: StaticCode = c("UNGRADABLE", "99MIRA", "Ungradable");
    /// Referable diabetic retinopathy (concept name; values are SCT Yes/No).
    pub const REFERABLE_DR: StaticCode = c("DR-REF", "99MIRA", "Referable diabetic retinopathy");
    /// Fundus photography for DR screening (a procedure reported).
    pub const FUNDUS_DR_SCREENING: StaticCode =
        c("FUNDUS-DR", "99MIRA", "Fundus photography for DR screening");
}

#[cfg(test)]
mod tests {
    use super::mira;

    #[test]
    fn lung_rads_categories_have_one_code_each_and_nothing_else_has_one() {
        let cases = [
            ("0", Some("LRADS-0")),
            ("1", Some("LRADS-1")),
            ("2", Some("LRADS-2")),
            ("3", Some("LRADS-3")),
            ("4A", Some("LRADS-4A")),
            ("4a", Some("LRADS-4A")),
            (" 4B ", Some("LRADS-4B")),
            ("4X", Some("LRADS-4X")),
            ("4", None),
            ("S", None),
            ("", None),
        ];
        for (category, expected) in cases {
            assert_eq!(
                mira::lung_rads(category).map(|c| c.code().value.to_string()),
                expected.map(str::to_string),
                "{category:?}"
            );
        }
    }
}
