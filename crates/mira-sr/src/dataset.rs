//! The SR instance: the modules of the Comprehensive (3D) SR IOD around the content tree.
//!
//! **Which IOD.** TID 1500 may be used in Enhanced SR, Comprehensive SR and Comprehensive 3D
//! SR. The lung report (a nodule's point on its CT slice) and the fundus report (lesion boxes
//! on the OP image) need SCOORD regions on referenced images, which all three carry; Enhanced
//! SR would do for them, but Comprehensive SR is its superset (it also allows by-reference
//! relationships, which a later report may want to point a finding at a measurement) at no
//! cost to receivers, so the writer has only one decision to make. A nodule centre in patient
//! coordinates is a SCOORD3D, which only Comprehensive 3D SR allows (PS3.3 A.35.13), so the
//! writer picks Comprehensive 3D SR exactly when the tree holds a SCOORD3D and Comprehensive
//! SR otherwise.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileDicomObject, FileMetaTableBuilder, InMemDicomObject};

use crate::codes::mira;
use crate::content::{ContentItem, ContentValue, content_tree};
use crate::error::SrError;
use crate::model::{Code, DocumentUids, ImageReference, MeasurementReport, ReportStatus};
use crate::uid::{check_uid, generate_uid};

/// The SR IOD a report is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrIod {
    /// Comprehensive SR: SCOORD on images.
    ComprehensiveSr,
    /// Comprehensive 3D SR: SCOORD3D in a frame of reference as well.
    Comprehensive3dSr,
}

impl SrIod {
    /// The SOP Class UID.
    pub fn sop_class_uid(self) -> &'static str {
        match self {
            SrIod::ComprehensiveSr => uids::COMPREHENSIVE_SR_STORAGE,
            SrIod::Comprehensive3dSr => uids::COMPREHENSIVE3_DSR_STORAGE,
        }
    }

    /// The IOD that carries this content tree.
    pub fn for_content(root: &ContentItem) -> Self {
        if root.has_scoord3d() {
            SrIod::Comprehensive3dSr
        } else {
            SrIod::ComprehensiveSr
        }
    }
}

/// A report written as a data set, with the UIDs it was given.
#[derive(Debug, Clone)]
pub struct SrDocument {
    /// The SR data set, without file meta information.
    pub dataset: InMemDicomObject,
    /// The IOD chosen.
    pub iod: SrIod,
    /// Series Instance UID of the report.
    pub series_instance_uid: String,
    /// SOP Instance UID of the report.
    pub sop_instance_uid: String,
}

impl SrDocument {
    /// The data set with File Meta Information (Explicit VR Little Endian), ready to write as
    /// a Part 10 file.
    pub fn into_file_object(self) -> Result<FileDicomObject<InMemDicomObject>, SrError> {
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .media_storage_sop_class_uid(self.iod.sop_class_uid())
            .media_storage_sop_instance_uid(self.sop_instance_uid.as_str())
            .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
            .implementation_version_name(IMPLEMENTATION_VERSION_NAME)
            .build()
            .map_err(|error| SrError::Meta(Box::new(error)))?;
        Ok(self.dataset.with_exact_meta(meta))
    }

    /// Writes the report as a Part 10 file.
    pub fn write_file(self, path: impl AsRef<std::path::Path>) -> Result<(), SrError> {
        let path = path.as_ref();
        self.into_file_object()?
            .write_to_file(path)
            .map_err(|source| SrError::Write {
                path: path.to_owned(),
                source: Box::new(source),
            })
    }
}

/// Implementation Class UID of mira's writer: a UUID-derived UID (PS3.5 B.2), fixed so that
/// receivers can tell mira's files apart.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.255279302218395539137516016236458297017";
/// Implementation Version Name (16 characters at most).
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("MIRA_SR_", env!("CARGO_PKG_VERSION"));

/// Builds the SR data set of a report.
pub fn to_dataset(report: &MeasurementReport) -> Result<SrDocument, SrError> {
    let (uid_root, series_instance_uid, sop_instance_uid) = match &report.document.uids {
        DocumentUids::Generate { root } => {
            if let Some(root) = root {
                check_uid("UID root", root)?;
            }
            let root = root.as_deref();
            (root, generate_uid(root), generate_uid(root))
        }
        DocumentUids::Given {
            series_instance_uid,
            sop_instance_uid,
        } => (None, series_instance_uid.clone(), sop_instance_uid.clone()),
    };
    check_uid("series instance UID", &series_instance_uid)?;
    check_uid("SOP instance UID", &sop_instance_uid)?;
    check_uid("study instance UID", &report.subject.study_instance_uid)?;
    check_status(report)?;

    let root = content_tree(report, uid_root)?;
    let iod = SrIod::for_content(&root);
    let mut writer = Writer::default();
    let mut dataset = InMemDicomObject::new_empty();

    // SOP Common
    writer.put_str(
        &mut dataset,
        tags::SOP_CLASS_UID,
        VR::UI,
        iod.sop_class_uid(),
    );
    writer.put_str(
        &mut dataset,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        &sop_instance_uid,
    );

    patient_and_study(&mut writer, &mut dataset, report)?;

    // SR Document Series
    writer.put_str(&mut dataset, tags::MODALITY, VR::CS, "SR");
    writer.put_str(
        &mut dataset,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        &series_instance_uid,
    );
    writer.put_str(
        &mut dataset,
        tags::SERIES_NUMBER,
        VR::IS,
        &report.document.series_number.to_string(),
    );
    if let Some(description) = &report.document.series_description {
        writer.put_text(
            &mut dataset,
            tags::SERIES_DESCRIPTION,
            VR::LO,
            description,
            64,
        )?;
    }
    // Type 2 in the SR Document Series module: present, empty when no MPPS is referenced.
    dataset.put(DataElement::new(
        tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE,
        VR::SQ,
        DataSetSequence::<InMemDicomObject>::empty(),
    ));

    // General Equipment
    writer.put_text(
        &mut dataset,
        tags::MANUFACTURER,
        VR::LO,
        &report.document.manufacturer,
        64,
    )?;
    if let Some(institution) = &report.document.institution_name {
        writer.put_text(
            &mut dataset,
            tags::INSTITUTION_NAME,
            VR::LO,
            institution,
            64,
        )?;
    }
    writer.put_text(
        &mut dataset,
        tags::SOFTWARE_VERSIONS,
        VR::LO,
        &report.document.software_versions,
        64,
    )?;

    document_general(&mut writer, &mut dataset, report)?;

    // SR Document Content: the root item's attributes sit in the data set itself.
    writer.put_content_item_attributes(&mut dataset, &root);
    dataset.put(DataElement::new(
        tags::CONTENT_TEMPLATE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![template_identification(&mut writer)]),
    ));

    // SOP Common, last because it depends on every string written above.
    if root.codes().iter().any(|code| code.scheme == mira::SCHEME) {
        dataset.put(DataElement::new(
            tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![private_scheme_identification(&mut writer)]),
        ));
    }
    if writer.non_ascii {
        // ISO_IR 192 is UTF-8: Chinese names and text round-trip without code extensions.
        dataset.put(DataElement::new(
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            PrimitiveValue::from("ISO_IR 192"),
        ));
    }
    Ok(SrDocument {
        dataset,
        iod,
        series_instance_uid,
        sop_instance_uid,
    })
}

/// A signed report names who signed, and a person observer; an AI draft needs neither.
fn check_status(report: &MeasurementReport) -> Result<(), SrError> {
    if let ReportStatus::Signed {
        verifying_observers,
    } = &report.status
    {
        if verifying_observers.is_empty() {
            return Err(SrError::SignatureIncomplete("a verifying observer"));
        }
        let has_person = report
            .observers
            .iter()
            .any(|observer| matches!(observer, crate::model::Observer::Person(_)));
        if !has_person {
            return Err(SrError::SignatureIncomplete("a person observer"));
        }
        for observer in verifying_observers {
            check_datetime("VerificationDateTime", &observer.datetime)?;
        }
    }
    Ok(())
}

/// Patient and General Study modules: Type 2 attributes present even when empty.
fn patient_and_study(
    writer: &mut Writer,
    dataset: &mut InMemDicomObject,
    report: &MeasurementReport,
) -> Result<(), SrError> {
    let subject = &report.subject;
    let or_empty = |value: &Option<String>| value.clone().unwrap_or_default();
    writer.put_text(
        dataset,
        tags::PATIENT_NAME,
        VR::PN,
        &or_empty(&subject.patient_name),
        324,
    )?;
    writer.put_text(
        dataset,
        tags::PATIENT_ID,
        VR::LO,
        &or_empty(&subject.patient_id),
        64,
    )?;
    if let Some(issuer) = &subject.issuer_of_patient_id {
        writer.put_text(dataset, tags::ISSUER_OF_PATIENT_ID, VR::LO, issuer, 64)?;
    }
    if let Some(date) = &subject.patient_birth_date {
        check_date("PatientBirthDate", date)?;
    }
    writer.put_str(
        dataset,
        tags::PATIENT_BIRTH_DATE,
        VR::DA,
        &or_empty(&subject.patient_birth_date),
    );
    writer.put_str(
        dataset,
        tags::PATIENT_SEX,
        VR::CS,
        &or_empty(&subject.patient_sex),
    );
    writer.put_str(
        dataset,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        &subject.study_instance_uid,
    );
    if let Some(date) = &subject.study_date {
        check_date("StudyDate", date)?;
    }
    writer.put_str(
        dataset,
        tags::STUDY_DATE,
        VR::DA,
        &or_empty(&subject.study_date),
    );
    writer.put_str(
        dataset,
        tags::STUDY_TIME,
        VR::TM,
        &or_empty(&subject.study_time),
    );
    writer.put_text(
        dataset,
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        &or_empty(&subject.referring_physician_name),
        324,
    )?;
    writer.put_text(
        dataset,
        tags::STUDY_ID,
        VR::SH,
        &or_empty(&subject.study_id),
        16,
    )?;
    writer.put_text(
        dataset,
        tags::ACCESSION_NUMBER,
        VR::SH,
        &or_empty(&subject.accession_number),
        16,
    )?;
    if let Some(description) = &subject.study_description {
        writer.put_text(dataset, tags::STUDY_DESCRIPTION, VR::LO, description, 64)?;
    }
    Ok(())
}

/// SR Document General module (PS3.3 C.17.2).
fn document_general(
    writer: &mut Writer,
    dataset: &mut InMemDicomObject,
    report: &MeasurementReport,
) -> Result<(), SrError> {
    let document = &report.document;
    check_date("ContentDate", &document.content_date)?;
    check_time("ContentTime", &document.content_time)?;
    writer.put_str(
        dataset,
        tags::INSTANCE_NUMBER,
        VR::IS,
        &document.instance_number.to_string(),
    );
    writer.put_str(dataset, tags::CONTENT_DATE, VR::DA, &document.content_date);
    writer.put_str(dataset, tags::CONTENT_TIME, VR::TM, &document.content_time);
    match &report.status {
        ReportStatus::AiDraft => {
            writer.put_str(dataset, tags::COMPLETION_FLAG, VR::CS, "PARTIAL");
            writer.put_text(
                dataset,
                tags::COMPLETION_FLAG_DESCRIPTION,
                VR::LO,
                "AI draft awaiting physician review",
                64,
            )?;
            writer.put_str(dataset, tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED");
            writer.put_str(dataset, tags::PRELIMINARY_FLAG, VR::CS, "PRELIMINARY");
        }
        ReportStatus::Signed {
            verifying_observers,
        } => {
            writer.put_str(dataset, tags::COMPLETION_FLAG, VR::CS, "COMPLETE");
            writer.put_str(dataset, tags::VERIFICATION_FLAG, VR::CS, "VERIFIED");
            writer.put_str(dataset, tags::PRELIMINARY_FLAG, VR::CS, "FINAL");
            let mut items = Vec::new();
            for observer in verifying_observers {
                let mut item = InMemDicomObject::new_empty();
                writer.put_text(
                    &mut item,
                    tags::VERIFYING_OBSERVER_NAME,
                    VR::PN,
                    &observer.name,
                    324,
                )?;
                // Type 2: no coded identifier for the physician is held here.
                item.put(DataElement::new(
                    tags::VERIFYING_OBSERVER_IDENTIFICATION_CODE_SEQUENCE,
                    VR::SQ,
                    DataSetSequence::<InMemDicomObject>::empty(),
                ));
                writer.put_text(
                    &mut item,
                    tags::VERIFYING_ORGANIZATION,
                    VR::LO,
                    &observer.organization,
                    64,
                )?;
                writer.put_str(
                    &mut item,
                    tags::VERIFICATION_DATE_TIME,
                    VR::DT,
                    &observer.datetime,
                );
                items.push(item);
            }
            dataset.put(DataElement::new(
                tags::VERIFYING_OBSERVER_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(items),
            ));
        }
    }
    // The procedures the report is about are also the performed procedure (Type 2).
    let performed = report
        .procedures_reported
        .iter()
        .map(|code| writer.code_item(code))
        .collect::<Vec<_>>();
    dataset.put(DataElement::new(
        tags::PERFORMED_PROCEDURE_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(performed),
    ));
    if !report.image_library.is_empty() {
        // Every referenced image is evidence of the current requested procedure: the report
        // is about the study it is filed in (PS3.3 C.17.2.3 requires the list when instances
        // are referenced).
        dataset.put(DataElement::new(
            tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(evidence(writer, &report.image_library)),
        ));
    }
    Ok(())
}

/// Images grouped by Series Instance UID, in the order first seen.
type SeriesGroups<'a> = Vec<(&'a str, Vec<&'a ImageReference>)>;

/// Hierarchical SOP Instance Reference Macro items: by study, then series, then instance.
fn evidence(writer: &mut Writer, images: &[ImageReference]) -> Vec<InMemDicomObject> {
    let mut studies: Vec<(&str, SeriesGroups)> = Vec::new();
    for image in images {
        let study = match studies
            .iter_mut()
            .position(|(uid, _)| *uid == image.study_instance_uid)
        {
            Some(index) => &mut studies[index].1,
            None => {
                studies.push((&image.study_instance_uid, Vec::new()));
                &mut studies.last_mut().expect("just pushed").1
            }
        };
        match study
            .iter_mut()
            .find(|(uid, _)| *uid == image.series_instance_uid)
        {
            Some((_, instances)) => instances.push(image),
            None => study.push((&image.series_instance_uid, vec![image])),
        }
    }
    studies
        .into_iter()
        .map(|(study_uid, series)| {
            let series_items = series
                .into_iter()
                .map(|(series_uid, instances)| {
                    let sop_items = instances
                        .into_iter()
                        .map(|image| {
                            let mut item = InMemDicomObject::new_empty();
                            writer.put_str(
                                &mut item,
                                tags::REFERENCED_SOP_CLASS_UID,
                                VR::UI,
                                &image.sop_class_uid,
                            );
                            writer.put_str(
                                &mut item,
                                tags::REFERENCED_SOP_INSTANCE_UID,
                                VR::UI,
                                &image.sop_instance_uid,
                            );
                            item
                        })
                        .collect::<Vec<_>>();
                    let mut item = InMemDicomObject::new_empty();
                    writer.put_str(&mut item, tags::SERIES_INSTANCE_UID, VR::UI, series_uid);
                    item.put(DataElement::new(
                        tags::REFERENCED_SOP_SEQUENCE,
                        VR::SQ,
                        DataSetSequence::from(sop_items),
                    ));
                    item
                })
                .collect::<Vec<_>>();
            let mut item = InMemDicomObject::new_empty();
            writer.put_str(&mut item, tags::STUDY_INSTANCE_UID, VR::UI, study_uid);
            item.put(DataElement::new(
                tags::REFERENCED_SERIES_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(series_items),
            ));
            item
        })
        .collect()
}

/// Content Template Sequence item: TID 1500 of DCMR.
fn template_identification(writer: &mut Writer) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    writer.put_str(&mut item, tags::MAPPING_RESOURCE, VR::CS, "DCMR");
    writer.put_str(
        &mut item,
        tags::MAPPING_RESOURCE_UID,
        VR::UI,
        uids::DICOM_CONTENT_MAPPING_RESOURCE,
    );
    writer.put_str(&mut item, tags::TEMPLATE_IDENTIFIER, VR::CS, "1500");
    item
}

/// Coding Scheme Identification Sequence item declaring `99MIRA`.
fn private_scheme_identification(writer: &mut Writer) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    writer.put_str(
        &mut item,
        tags::CODING_SCHEME_DESIGNATOR,
        VR::SH,
        mira::SCHEME,
    );
    writer.put_str(
        &mut item,
        tags::CODING_SCHEME_NAME,
        VR::ST,
        "mira local codes",
    );
    writer.put_str(
        &mut item,
        tags::CODING_SCHEME_RESPONSIBLE_ORGANIZATION,
        VR::ST,
        "mira",
    );
    item
}

/// Puts strings, remembering whether any needs a character set beyond ASCII.
#[derive(Default)]
struct Writer {
    non_ascii: bool,
}

impl Writer {
    fn put_str(&mut self, dataset: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
        self.non_ascii |= !value.is_ascii();
        dataset.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }

    /// Puts text checked against its VR's length in characters.
    fn put_text(
        &mut self,
        dataset: &mut InMemDicomObject,
        tag: Tag,
        vr: VR,
        value: &str,
        max: usize,
    ) -> Result<(), SrError> {
        if value.chars().count() > max {
            return Err(SrError::TextTooLong {
                field: tag_name(tag),
                max,
            });
        }
        if value.contains('\\') {
            return Err(SrError::Backslash {
                field: tag_name(tag),
            });
        }
        self.put_str(dataset, tag, vr, value);
        Ok(())
    }

    /// A Code Sequence Macro item (PS3.3 Table 8.8-1).
    fn code_item(&mut self, code: &Code) -> InMemDicomObject {
        let mut item = InMemDicomObject::new_empty();
        self.put_str(&mut item, tags::CODE_VALUE, VR::SH, &code.value);
        self.put_str(
            &mut item,
            tags::CODING_SCHEME_DESIGNATOR,
            VR::SH,
            &code.scheme,
        );
        self.put_str(&mut item, tags::CODE_MEANING, VR::LO, &code.meaning);
        item
    }

    fn code_sequence(&mut self, dataset: &mut InMemDicomObject, tag: Tag, code: &Code) {
        let item = self.code_item(code);
        dataset.put(DataElement::new(
            tag,
            VR::SQ,
            DataSetSequence::from(vec![item]),
        ));
    }

    /// The attributes of one content item (PS3.3 C.17.3), its children in Content Sequence.
    fn put_content_item_attributes(&mut self, dataset: &mut InMemDicomObject, item: &ContentItem) {
        if let Some(relationship) = item.relationship {
            self.put_str(
                dataset,
                tags::RELATIONSHIP_TYPE,
                VR::CS,
                relationship.keyword(),
            );
        }
        self.put_str(dataset, tags::VALUE_TYPE, VR::CS, item.value.value_type());
        if let Some(concept) = &item.concept {
            self.code_sequence(dataset, tags::CONCEPT_NAME_CODE_SEQUENCE, concept);
        }
        match &item.value {
            ContentValue::Container => {
                self.put_str(dataset, tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE");
            }
            ContentValue::Text(text) => self.put_str(dataset, tags::TEXT_VALUE, VR::UT, text),
            ContentValue::Code(code) => {
                self.code_sequence(dataset, tags::CONCEPT_CODE_SEQUENCE, code);
            }
            ContentValue::Num { value, unit } => {
                let mut measured = InMemDicomObject::new_empty();
                self.put_str(&mut measured, tags::NUMERIC_VALUE, VR::DS, value.as_str());
                self.code_sequence(&mut measured, tags::MEASUREMENT_UNITS_CODE_SEQUENCE, unit);
                dataset.put(DataElement::new(
                    tags::MEASURED_VALUE_SEQUENCE,
                    VR::SQ,
                    DataSetSequence::from(vec![measured]),
                ));
            }
            ContentValue::UidRef(uid) => self.put_str(dataset, tags::UID, VR::UI, uid),
            ContentValue::PersonName(name) => {
                self.put_str(dataset, tags::PERSON_NAME, VR::PN, name);
            }
            ContentValue::Image {
                sop_class_uid,
                sop_instance_uid,
                frame,
            } => {
                let mut referenced = InMemDicomObject::new_empty();
                self.put_str(
                    &mut referenced,
                    tags::REFERENCED_SOP_CLASS_UID,
                    VR::UI,
                    sop_class_uid,
                );
                self.put_str(
                    &mut referenced,
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    sop_instance_uid,
                );
                if let Some(frame) = frame {
                    self.put_str(
                        &mut referenced,
                        tags::REFERENCED_FRAME_NUMBER,
                        VR::IS,
                        &frame.to_string(),
                    );
                }
                dataset.put(DataElement::new(
                    tags::REFERENCED_SOP_SEQUENCE,
                    VR::SQ,
                    DataSetSequence::from(vec![referenced]),
                ));
            }
            ContentValue::Scoord { graphic_type, data } => {
                self.put_str(dataset, tags::GRAPHIC_TYPE, VR::CS, graphic_type);
                put_floats(dataset, data);
            }
            ContentValue::Scoord3d {
                graphic_type,
                data,
                frame_of_reference_uid,
            } => {
                self.put_str(dataset, tags::GRAPHIC_TYPE, VR::CS, graphic_type);
                put_floats(dataset, data);
                self.put_str(
                    dataset,
                    tags::REFERENCED_FRAME_OF_REFERENCE_UID,
                    VR::UI,
                    frame_of_reference_uid,
                );
            }
        }
        if !item.children.is_empty() {
            let children = item
                .children
                .iter()
                .map(|child| {
                    let mut child_dataset = InMemDicomObject::new_empty();
                    self.put_content_item_attributes(&mut child_dataset, child);
                    child_dataset
                })
                .collect::<Vec<_>>();
            dataset.put(DataElement::new(
                tags::CONTENT_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(children),
            ));
        }
    }
}

fn put_floats(dataset: &mut InMemDicomObject, data: &[f32]) {
    dataset.put(DataElement::new(
        tags::GRAPHIC_DATA,
        VR::FL,
        PrimitiveValue::F32(data.iter().copied().collect()),
    ));
}

fn tag_name(tag: Tag) -> &'static str {
    use dicom_core::dictionary::DataDictionary;
    dicom_dictionary_std::StandardDataDictionary
        .by_tag(tag)
        .map(|entry| entry.alias)
        .unwrap_or("attribute")
}

fn check_date(field: &'static str, value: &str) -> Result<(), SrError> {
    let valid = value.len() == 8
        && value.bytes().all(|b| b.is_ascii_digit())
        && (1..=12).contains(&value[4..6].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&value[6..8].parse::<u32>().unwrap_or(0));
    if valid {
        Ok(())
    } else {
        Err(SrError::InvalidDateTime {
            field,
            value: value.to_owned(),
        })
    }
}

/// HHMMSS with an optional fraction of up to six digits (the form this writer emits).
fn check_time(field: &'static str, value: &str) -> Result<(), SrError> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let valid = whole.len() == 6
        && whole.bytes().all(|b| b.is_ascii_digit())
        && whole[0..2].parse::<u32>().is_ok_and(|h| h < 24)
        && whole[2..4].parse::<u32>().is_ok_and(|m| m < 60)
        && whole[4..6].parse::<u32>().is_ok_and(|s| s < 61)
        && fraction.len() <= 6
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(value.contains('.') && fraction.is_empty());
    if valid {
        Ok(())
    } else {
        Err(SrError::InvalidDateTime {
            field,
            value: value.to_owned(),
        })
    }
}

/// YYYYMMDDHHMMSS[.F{1,6}][&ZZXX].
fn check_datetime(field: &'static str, value: &str) -> Result<(), SrError> {
    let (local, offset) = match value.find(['+', '-']) {
        Some(at) => value.split_at(at),
        None => (value, ""),
    };
    let offset_valid =
        offset.is_empty() || (offset.len() == 5 && offset[1..].bytes().all(|b| b.is_ascii_digit()));
    let valid = value.is_ascii()
        && local.len() >= 14
        && check_date(field, &local[..8]).is_ok()
        && check_time(field, &local[8..]).is_ok()
        && offset_valid;
    if valid {
        Ok(())
    } else {
        Err(SrError::InvalidDateTime {
            field,
            value: value.to_owned(),
        })
    }
}
