//! De-identification of DICOM instances per PS3.15 Annex E (Application Level
//! Confidentiality Profiles), driven by Table E.1-1 compiled in from the standard.
//!
//! What it does: the Basic Profile on every attribute at any sequence depth (actions D, Z, X,
//! K, C, U and the combinations X/Z, X/D, X/Z/D, Z/D, X/Z/U*), the options Retain
//! Longitudinal Temporal Information with Modified Dates, Retain Patient Characteristics,
//! Retain Device Identity, Retain Institution Identity, Clean Descriptors and Retain UIDs (all
//! off by default), pseudonymous Patient IDs, UIDs and date shifts from a keyed
//! HMAC-SHA256 ([`DeidKey`]) so that a whole data set stays consistent across runs, private
//! attributes removed except [`SAFE_PRIVATE`], and the marks PS3.15 asks for (Patient
//! Identity Removed, De-identification Method and its Code Sequence with CID 7050 codes,
//! Longitudinal Temporal Information Modified). Pixel data is not touched: the de-identified
//! file carries the same bytes in the same transfer syntax.
//!
//! What it deliberately does not do: clean pixels. An instance whose Burned In Annotation is
//! YES is refused ([`BurnedInPolicy::Refuse`], the default) because its header would be clean
//! and its pixels would not; a data steward decides. It does not clean structured content or
//! graphics (those attributes are removed as the Basic Profile says), and it keeps no mapping
//! table: the key is the mapping.
//!
//! How the combinations resolve without per-IOD type information: X/Z, X/Z/D and Z/D → Z
//! (present but empty, which satisfies Type 2 and carries nothing), X/D → X, X/Z/U* → Z for
//! a value and, for a sequence, the sequence kept with the UIDs inside replaced (references
//! stay consistent). D on a sequence de-identifies its items by the same table, except
//! sequences that identify a person by code, which are removed. Beyond the table, a PN, DA,
//! DT or TM attribute the table does not list is treated like its listed neighbours.
//!
//! Modules: `table` (the compiled-in Table E.1-1), `options` (profile options and their
//! codes), `key` (the keyed pseudonyms), `engine` (the per-instance walk).
//!
//! ```no_run
//! use mira_deid::{DeidKey, DeidOption, Deidentifier};
//! let key = DeidKey::new(std::fs::read("deid.key")?)?;
//! let deid = Deidentifier::new(key, &[DeidOption::RetainLongitudinalModifiedDates]);
//! let report = deid.deidentify_file("in.dcm".as_ref(), "out.dcm".as_ref())?;
//! println!("patient {} study {}", report.patient_pseudonym, report.study_instance_uid);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod engine;
mod error;
mod key;
mod options;
pub mod table;

pub use engine::{BurnedInPolicy, DeidReport, Deidentifier, SAFE_PRIVATE};
pub use error::DeidError;
pub use key::{DeidKey, KeyError, MAX_DATE_SHIFT_DAYS, MIN_KEY_LEN};
pub use options::{BASIC_PROFILE_CODE, DeidOption};
