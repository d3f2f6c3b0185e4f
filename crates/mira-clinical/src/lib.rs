//! Clinical rules for lung nodules: measurements, ACR Lung-RADS v2022 and Fleischner 2017.
//!
//! What it does: measures a nodule as Lung-RADS asks ([`measure`]: long and short axis on the
//! axial slice of greatest extent, each to 0.1 mm, their mean rounded half up with exact
//! decimal arithmetic, volume in mm³), describes it ([`nodule`]: solid, part-solid with its
//! solid component, ground-glass; benign calcification or fat; juxtapleural and airway
//! location; atypical cyst features; baseline, new or seen before), and categorises it and its exam with a guideline
//! [`profile`] through one generic engine ([`assess`]).
//!
//! Profiles are data: TOML tables of rules, each with its conditions, the category it gives
//! and the source it comes from, validated on load (unknown keys, unknown categories,
//! duplicate ids, thresholds finer than the profile's rounding and empty ranges are refused
//! with a [`ProfileError`]). Two are compiled in:
//!
//! | profile | use | source | rounding of the mean |
//! |---|---|---|---|
//! | `lung-rads-2022` | LDCT lung cancer screening | ACR Lung-RADS v2022 (Nov 2022; RadElement RDES267) | 0.1 mm, half up |
//! | `fleischner-2017` | incidental nodules, adults ≥ 35 | MacMahon H. et al., Radiology 2017;284:228-243 | whole mm, half up |
//!
//! Another guideline (a Chinese national profile, say) is another TOML file given to
//! [`Profile::from_toml`], without code.
//!
//! What it does not do: no I/O beyond the profiles compiled in, no DICOM, no HTTP, no
//! detection or segmentation; it knows nothing of patients, so it logs nothing. Its output is
//! a draft for a physician, never a report.
//!
//! ```
//! use mira_clinical::{Attenuation, ExamContext, History, Nodule, NoduleSize, Profile};
//!
//! let lung_rads = Profile::lung_rads_2022().unwrap();
//! let mut nodule = Nodule::baseline(NoduleSize::parse("4.1", "3.8").unwrap(), Attenuation::Solid);
//! nodule.history = History::New;
//! let exam = lung_rads.assess_exam(&[nodule], &ExamContext::default()).unwrap();
//! assert_eq!(exam.nodules[0].mean_diameter.to_string(), "4.0");
//! assert_eq!(exam.category, "3");
//! assert_eq!(exam.management, "6-month LDCT.");
//! ```
#![warn(missing_docs)]

pub mod assess;
pub mod measure;
pub mod nodule;
pub mod profile;

pub use assess::{AssessError, ExamAssessment, ExamContext, NoduleAssessment};
pub use measure::{AxialContour, MeasurementError, Mm, NoduleSize, Precision, measure_axial};
pub use nodule::{
    AirwayLevel, Attenuation, AttenuationKind, BenignFeature, CalcificationPattern, CystFeature,
    History, Location, LocationKind, Nodule, NoduleStatus, PriorMeasurement,
};
pub use profile::{IncompleteReason, Profile, ProfileError, Risk};
