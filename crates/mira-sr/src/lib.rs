//! DICOM Structured Reports for mira: TID 1500 Measurement Reports.
//!
//! What it does: takes a domain-neutral [`MeasurementReport`] (the subject copied from a
//! source image, the document's identity, observers, the image library, measurement groups
//! with TID 300 measurements, SCOORD/SCOORD3D regions and qualitative evaluations, and a
//! document-level impression) and writes it as a DICOM SR instance: an [`InMemDicomObject`]
//! or a Part 10 file. Lung-nodule reports (issue 5), fundus DR screening reports (issue 6) and
//! signed reports from the reading workflow (issue 7) are all this one shape, filled with
//! different codes.
//!
//! | module | what |
//! |---|---|
//! | [`model`] | the input: serde structs and enums |
//! | [`codes`] | the coded concepts, each with where it was verified; `99MIRA` for the rest |
//! | [`content`] | the TID 1500 content tree built from the model, and its text rendering |
//! | [`dataset`] | the IOD modules around the tree: Comprehensive SR, or Comprehensive 3D SR when a SCOORD3D is present |
//! | [`uid`] | UID generation under a root or `2.25` |
//!
//! Structure written (PS3.16 TID 1500, with TID 1204, 1002–1004, 1600–1601, 1501, 300, 4019
//! and 320): root CONTAINER "Imaging Measurement Report" → language, observer context,
//! procedure reported, Image Library (one group per series), Imaging Measurements (one
//! Measurement Group per finding: tracking identifier and UID, finding, algorithm, finding
//! site with laterality, an optional group-level Image Region, measurements INFERRED FROM
//! their Source of Measurement, evaluations, comments), Qualitative Evaluations.
//!
//! Flags: an AI draft is PARTIAL, UNVERIFIED and PRELIMINARY; a signed report is COMPLETE,
//! VERIFIED (with the Verifying Observer Sequence) and FINAL, and needs a person observer.
//! Text that is not ASCII sets Specific Character Set to `ISO_IR 192` (UTF-8).
//!
//! What it does not do: no reading of SR back (dcmtk's `dsr2xml` does that in the tests), no
//! storage, no network, no logging; it does not decide what a finding means, only how it is
//! written.
//!
//! ```
//! use mira_sr::codes::{dcm, sct, ucum};
//! use mira_sr::model::*;
//!
//! let report = MeasurementReport {
//!     subject: Subject { study_instance_uid: "1.2.3.4".into(), ..Subject::default() },
//!     document: DocumentInfo::mira(None, 900, "20261123", "181500"),
//!     status: ReportStatus::AiDraft,
//!     observers: vec![Observer::Device(DeviceObserver {
//!         uid: "2.25.1234".into(),
//!         name: Some("mira lung".into()),
//!         manufacturer: Some("mira".into()),
//!         model_name: Some("lung-nodule 0.1.0".into()),
//!     })],
//!     procedures_reported: vec![sct::COMPUTERIZED_AXIAL_TOMOGRAPHY.code()],
//!     language: Language::EnUs,
//!     image_library: vec![],
//!     measurement_groups: vec![MeasurementGroup {
//!         tracking_identifier: "nodule 1".into(),
//!         tracking_uid: None,
//!         finding: Some(sct::NODULE.code()),
//!         finding_site: None,
//!         algorithm: None,
//!         region: None,
//!         measurements: vec![Measurement {
//!             concept: sct::DIAMETER.code(),
//!             value: NumericValue::parse("6.3").unwrap(),
//!             unit: ucum::MILLIMETER.code(),
//!             derivation: Some(sct::MEAN.code()),
//!             method: None,
//!             region: None,
//!         }],
//!         evaluations: vec![],
//!         comments: vec![],
//!     }],
//!     evaluations: vec![Evaluation::Text {
//!         concept: dcm::IMPRESSION.code(),
//!         text: "One solid nodule.".into(),
//!     }],
//! };
//! let text = mira_sr::render_text(&report).unwrap();
//! assert!(text.contains("= 6.3 mm"));
//! let document = mira_sr::to_dataset(&report).unwrap();
//! assert_eq!(document.iod, mira_sr::SrIod::ComprehensiveSr);
//! ```
#![warn(missing_docs)]

pub mod codes;
pub mod content;
pub mod dataset;
pub mod error;
pub mod model;
pub mod uid;

use dicom_object::InMemDicomObject;

pub use content::{ContentItem, content_tree};
pub use dataset::{SrDocument, SrIod, to_dataset};
pub use error::SrError;
pub use model::MeasurementReport;
pub use uid::generate_uid;

/// Writes a report as a Part 10 file (Explicit VR Little Endian) and returns the document's
/// UIDs and IOD.
pub fn write_file(
    report: &MeasurementReport,
    path: impl AsRef<std::path::Path>,
) -> Result<SrDocument, SrError> {
    let document = to_dataset(report)?;
    document.clone().write_file(path)?;
    Ok(document)
}

/// The report as an in-memory data set (no file meta information).
pub fn to_object(report: &MeasurementReport) -> Result<InMemDicomObject, SrError> {
    Ok(to_dataset(report)?.dataset)
}

/// A plain-text rendering of the report's content tree, for logs and tests. Tracking UIDs
/// left empty are generated afresh, so they differ from a written document's.
pub fn render_text(report: &MeasurementReport) -> Result<String, SrError> {
    let root_uid = match &report.document.uids {
        model::DocumentUids::Generate { root } => root.clone(),
        model::DocumentUids::Given { .. } => None,
    };
    Ok(content_tree(report, root_uid.as_deref())?.render())
}
