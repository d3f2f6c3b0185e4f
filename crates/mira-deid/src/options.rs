//! The profile options of PS3.15 E.3 and their CID 7050 codes.

use serde::{Deserialize, Serialize};

/// A Confidentiality Profile option (PS3.15 E.3). All are off by default: the Basic Profile
/// alone is the most conservative choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DeidOption {
    /// Retain Longitudinal Temporal Information with Modified Dates: dates and date-times are
    /// shifted back by a per-patient number of days derived from the key.
    RetainLongitudinalModifiedDates,
    /// Retain Patient Characteristics (sex, age, size, weight, …).
    RetainPatientCharacteristics,
    /// Retain Device Identity (device serial numbers, station name, …).
    RetainDeviceIdentity,
    /// Retain Institution Identity (institution name and address, …).
    RetainInstitutionIdentity,
    /// Clean Descriptors: descriptions and comments are kept unless they contain an
    /// identifying value of the same instance (then removed as the Basic Profile would).
    CleanDescriptors,
    /// Retain UIDs: no UID is replaced.
    RetainUids,
    /// Retain Safe Private: private attributes on the safe list are kept. Always in force in
    /// mira for the numeric safe list of [`crate::SAFE_PRIVATE`]; never selectable off.
    RetainSafePrivate,
    /// Clean Structured Content (not implemented: such attributes are removed as in the Basic
    /// Profile; selecting it changes nothing and is not recorded).
    CleanStructuredContent,
    /// Clean Graphics (not implemented, as above).
    CleanGraphics,
}

impl DeidOption {
    /// The options a user may select (`--option`), by the names the CLI accepts.
    pub const SELECTABLE: [(&'static str, DeidOption); 6] = [
        ("retain-dates", DeidOption::RetainLongitudinalModifiedDates),
        (
            "retain-patient-characteristics",
            DeidOption::RetainPatientCharacteristics,
        ),
        ("retain-device-identity", DeidOption::RetainDeviceIdentity),
        (
            "retain-institution-identity",
            DeidOption::RetainInstitutionIdentity,
        ),
        ("clean-descriptors", DeidOption::CleanDescriptors),
        ("retain-uids", DeidOption::RetainUids),
    ];

    /// Parses a CLI name from [`DeidOption::SELECTABLE`].
    pub fn from_cli_name(name: &str) -> Option<DeidOption> {
        Self::SELECTABLE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, o)| *o)
    }

    /// The CID 7050 code (DCM) and meaning that records this option in De-identification
    /// Method Code Sequence (0012,0064).
    pub fn code(self) -> (&'static str, &'static str) {
        match self {
            DeidOption::RetainLongitudinalModifiedDates => (
                "113107",
                "Retain Longitudinal Temporal Information Modified Dates Option",
            ),
            DeidOption::RetainPatientCharacteristics => {
                ("113108", "Retain Patient Characteristics Option")
            }
            DeidOption::RetainDeviceIdentity => ("113109", "Retain Device Identity Option"),
            DeidOption::RetainInstitutionIdentity => {
                ("113112", "Retain Institution Identity Option")
            }
            DeidOption::CleanDescriptors => ("113105", "Clean Descriptors Option"),
            DeidOption::RetainUids => ("113110", "Retain UIDs Option"),
            DeidOption::RetainSafePrivate => ("113111", "Retain Safe Private Option"),
            DeidOption::CleanStructuredContent => ("113104", "Clean Structured Content Option"),
            DeidOption::CleanGraphics => ("113103", "Clean Graphics Option"),
        }
    }
}

/// The Basic Application Level Confidentiality Profile's code.
pub const BASIC_PROFILE_CODE: (&str, &str) =
    ("113100", "Basic Application Confidentiality Profile");
