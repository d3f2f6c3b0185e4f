//! DICOM domain model for mira.
//!
//! This crate turns bytes into the facts the rest of mira works with, and does nothing else:
//! no I/O beyond reading the file it is given, no storage, no networking.
//!
//! - [`part10`]: the PS3.10 file layout: reading and writing the File Meta Information, finding
//!   where the data set starts (so that the data set can be digested and compared across entry
//!   points whose meta headers differ).
//! - [`attributes`]: [`InstanceAttributes`], the patient/study/series/instance attributes that the
//!   catalogue indexes: every key that PS3.4 C-FIND requires at each level, plus the ones QC and
//!   analysis select on.
//! - [`validate`]: [`parse_instance`] parses a whole Part 10 file with dicom-rs and checks the
//!   minimum an archive needs (SOP Class, SOP Instance, Study and Series UIDs, Patient ID,
//!   meta/data set agreement). Every refusal is an [`InvalidInstance`] that names the reason.
//! - [`preflight`]: a structural pass that refuses declared lengths past the end of the file and
//!   runaway sequence nesting before dicom-object allocates or recurses on them.
//! - [`syntax`]: the transfer syntaxes mira accepts as sent and the storage SOP classes it knows.
//!
//! # Example
//! ```no_run
//! let parsed = mira_dicom::parse_instance(std::path::Path::new("CT_small.dcm"))?;
//! println!("{} in series {}", parsed.attributes.sop_instance_uid, parsed.attributes.series_instance_uid);
//! # Ok::<(), mira_dicom::InvalidInstance>(())
//! ```
#![warn(missing_docs)]

pub mod attributes;
pub mod part10;
pub mod preflight;
pub mod syntax;
pub mod validate;

pub use attributes::InstanceAttributes;
pub use validate::{InvalidInstance, ParsedInstance, parse_instance, parse_instance_from};
