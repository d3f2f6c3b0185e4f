//! The profile's rules on a synthetic instance built here (no test data needed): options,
//! nested sequences, private attributes, marks, burned-in annotation.

use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use mira_deid::{BurnedInPolicy, DeidError, DeidKey, DeidOption, Deidentifier};

fn key() -> DeidKey {
    DeidKey::new(*b"synthetic test key, 32 bytes ok!").unwrap()
}

fn str_element(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

fn sequence(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(
        tag,
        VR::SQ,
        Value::Sequence(DataSetSequence::new(items, Length::UNDEFINED)),
    )
}

/// A CT instance with a name, dates, descriptors, a nested reference, private attributes.
fn instance(burned_in: bool) -> DefaultDicomObject {
    let reference = InMemDicomObject::from_element_iter([
        str_element(
            tags::REFERENCED_SOP_CLASS_UID,
            VR::UI,
            uids::CT_IMAGE_STORAGE,
        ),
        str_element(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5.2"),
        // a name two levels down
        sequence(
            Tag(0x0040, 0xA730),
            vec![InMemDicomObject::from_element_iter([str_element(
                Tag(0x0040, 0xA123),
                VR::PN,
                "NESTED^PERSON",
            )])],
        ),
    ]);
    let mut elements = vec![
        str_element(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100"),
        str_element(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE),
        str_element(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5.1"),
        str_element(tags::STUDY_DATE, VR::DA, "20240301"),
        str_element(tags::STUDY_TIME, VR::TM, "101500"),
        str_element(tags::ACCESSION_NUMBER, VR::SH, "ACC123456"),
        str_element(tags::MODALITY, VR::CS, "CT"),
        str_element(tags::INSTITUTION_NAME, VR::LO, "Hôpital Général"),
        str_element(tags::STUDY_DESCRIPTION, VR::LO, "CT chest low dose"),
        str_element(tags::SERIES_DESCRIPTION, VR::LO, "Lungs for Durand"),
        str_element(tags::PATIENT_NAME, VR::PN, "DURAND^ÉLODIE"),
        str_element(tags::PATIENT_ID, VR::LO, "PID-778899"),
        str_element(tags::PATIENT_BIRTH_DATE, VR::DA, "19610412"),
        str_element(tags::PATIENT_SEX, VR::CS, "F"),
        str_element(tags::PATIENT_AGE, VR::AS, "063Y"),
        str_element(tags::DEVICE_SERIAL_NUMBER, VR::LO, "SN-4242"),
        str_element(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3.4"),
        str_element(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.4.5"),
        str_element(tags::FRAME_OF_REFERENCE_UID, VR::UI, "1.2.3.9"),
        sequence(tags::REFERENCED_IMAGE_SEQUENCE, vec![reference]),
        // private block: a creator, a numeric safe value, a text value
        str_element(Tag(0x0019, 0x0010), VR::LO, "SIEMENS MR HEADER"),
        DataElement::new(Tag(0x0019, 0x100C), VR::IS, PrimitiveValue::from("1000")),
        str_element(Tag(0x0019, 0x1010), VR::LO, "DURAND ELODIE"),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(2u16)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(2u16)),
        DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16([1u16, 2, 3, 4].into_iter().collect()),
        ),
    ];
    if burned_in {
        elements.push(str_element(tags::BURNED_IN_ANNOTATION, VR::CS, "YES"));
    }
    InMemDicomObject::from_element_iter(elements)
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                .media_storage_sop_instance_uid("1.2.3.4.5.1")
                .source_application_entity_title("HOSPITAL_PACS"),
        )
        .unwrap()
}

fn text(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    Some(object.get(tag)?.value().to_str().ok()?.trim().to_string())
}

#[test]
fn the_basic_profile_removes_replaces_and_marks() {
    let deid = Deidentifier::new(key(), &[]);
    let (out, report) = deid.deidentify_object(instance(false)).unwrap();
    assert_eq!(text(&out, tags::STUDY_DATE).as_deref(), Some(""));
    assert_eq!(text(&out, tags::ACCESSION_NUMBER).as_deref(), Some(""));
    assert_eq!(text(&out, tags::PATIENT_BIRTH_DATE).as_deref(), Some(""));
    assert!(out.get(tags::STUDY_DESCRIPTION).is_none());
    assert!(out.get(tags::SERIES_DESCRIPTION).is_none());
    assert!(out.get(tags::PATIENT_AGE).is_none());
    assert_eq!(text(&out, tags::INSTITUTION_NAME).as_deref(), Some(""));
    assert_eq!(text(&out, tags::MODALITY).as_deref(), Some("CT"));
    let pseudonym = key().patient_pseudonym("PID-778899", "");
    assert_eq!(text(&out, tags::PATIENT_ID), Some(pseudonym.clone()));
    assert_eq!(text(&out, tags::PATIENT_NAME), Some(pseudonym));
    // UIDs: keyed, consistent, meta in step, references followed at depth
    assert_eq!(report.study_instance_uid, key().remap_uid("1.2.3.4"));
    assert_eq!(
        out.meta().media_storage_sop_instance_uid(),
        report.sop_instance_uid
    );
    assert_eq!(out.meta().source_application_entity_title(), None);
    let item = &out
        .get(tags::REFERENCED_IMAGE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(
        text(item, tags::REFERENCED_SOP_INSTANCE_UID),
        Some(key().remap_uid("1.2.3.4.5.2"))
    );
    assert_eq!(
        text(item, tags::REFERENCED_SOP_CLASS_UID).as_deref(),
        Some(uids::CT_IMAGE_STORAGE)
    );
    let nested = &item.get(Tag(0x0040, 0xA730)).unwrap().items().unwrap()[0];
    assert_eq!(
        text(nested, Tag(0x0040, 0xA123)).as_deref(),
        Some("ANONYMIZED")
    );
    // private: the safe numeric value and its creator stay, the text goes
    assert_eq!(text(&out, Tag(0x0019, 0x100C)).as_deref(), Some("1000"));
    assert!(out.get(Tag(0x0019, 0x0010)).is_some());
    assert!(out.get(Tag(0x0019, 0x1010)).is_none());
    // marks
    assert_eq!(
        text(&out, tags::PATIENT_IDENTITY_REMOVED).as_deref(),
        Some("YES")
    );
    assert_eq!(
        text(&out, tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED).as_deref(),
        Some("REMOVED")
    );
    let codes: Vec<String> = out
        .get(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .map(|i| text(i, tags::CODE_VALUE).unwrap())
        .collect();
    assert_eq!(codes, ["113100", "113111"]);
    // pixels as they were; the charset still fits (all kept text is ASCII)
    assert_eq!(
        out.get(tags::PIXEL_DATA)
            .unwrap()
            .value()
            .to_bytes()
            .unwrap(),
        instance(false)
            .get(tags::PIXEL_DATA)
            .unwrap()
            .value()
            .to_bytes()
            .unwrap()
    );
    assert_eq!(
        text(&out, tags::SPECIFIC_CHARACTER_SET).as_deref(),
        Some("ISO_IR 100")
    );
}

#[test]
fn options_retain_what_they_name() {
    let deid = Deidentifier::new(
        key(),
        &[
            DeidOption::RetainPatientCharacteristics,
            DeidOption::RetainDeviceIdentity,
            DeidOption::RetainInstitutionIdentity,
            DeidOption::RetainUids,
            DeidOption::CleanDescriptors,
        ],
    );
    let (out, report) = deid.deidentify_object(instance(false)).unwrap();
    assert_eq!(text(&out, tags::PATIENT_AGE).as_deref(), Some("063Y"));
    assert_eq!(text(&out, tags::PATIENT_SEX).as_deref(), Some("F"));
    assert_eq!(
        text(&out, tags::DEVICE_SERIAL_NUMBER).as_deref(),
        Some("SN-4242")
    );
    assert_eq!(
        text(&out, tags::INSTITUTION_NAME).as_deref(),
        Some("Hôpital Général")
    );
    assert_eq!(report.study_instance_uid, "1.2.3.4");
    assert_eq!(out.meta().media_storage_sop_instance_uid(), "1.2.3.4.5.1");
    // clean descriptors: kept unless they carry an identifying value of the instance
    assert_eq!(
        text(&out, tags::STUDY_DESCRIPTION).as_deref(),
        Some("CT chest low dose")
    );
    assert!(
        out.get(tags::SERIES_DESCRIPTION).is_none(),
        "names the patient"
    );
    // the birth date goes whatever the options
    assert_eq!(text(&out, tags::PATIENT_BIRTH_DATE).as_deref(), Some(""));
    // non-ASCII text kept: written as UTF-8, declared so
    assert!(report.charset_changed);
    assert_eq!(
        text(&out, tags::SPECIFIC_CHARACTER_SET).as_deref(),
        Some("ISO_IR 192")
    );
    let codes: Vec<String> = out
        .get(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .map(|i| text(i, tags::CODE_VALUE).unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "113100", "113105", "113108", "113109", "113110", "113112", "113111"
        ]
    );
}

#[test]
fn burned_in_annotation_is_refused_unless_allowed() {
    let deid = Deidentifier::new(key(), &[]);
    assert!(matches!(
        deid.deidentify_object(instance(true)),
        Err(DeidError::BurnedInAnnotation)
    ));
    let (_, report) = deid
        .with_burned_in_policy(BurnedInPolicy::Report)
        .deidentify_object(instance(true))
        .unwrap();
    assert!(report.burned_in_annotation);
}

#[test]
fn the_written_file_reads_back_with_the_same_pixels() {
    let deid = Deidentifier::new(key(), &[DeidOption::RetainLongitudinalModifiedDates]);
    let mut bytes = Vec::new();
    instance(false).write_all(&mut bytes).unwrap();
    let (out, report) = deid.deidentify_bytes(&bytes).unwrap();
    let back = dicom_object::OpenFileOptions::new()
        .from_reader(&out[128..])
        .unwrap();
    let days = report.date_shift_days.unwrap() as i64;
    let shifted = time::Date::from_calendar_date(2024, time::Month::March, 1).unwrap()
        - time::Duration::days(days);
    assert_eq!(
        text(&back, tags::STUDY_DATE),
        Some(format!(
            "{:04}{:02}{:02}",
            shifted.year(),
            u8::from(shifted.month()),
            shifted.day()
        ))
    );
    assert_eq!(text(&back, tags::STUDY_TIME).as_deref(), Some("101500"));
    assert_eq!(
        back.get(tags::PIXEL_DATA)
            .unwrap()
            .value()
            .to_bytes()
            .unwrap(),
        [1u8, 0, 2, 0, 3, 0, 4, 0].as_slice()
    );
    assert!(
        back.iter()
            .all(|e| e.tag().group() != 0x0019 || e.tag().element() != 0x1010)
    );
}
