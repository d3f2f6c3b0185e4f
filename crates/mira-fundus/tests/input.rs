//! Reading photographs: the JPEG/PNG sidecar (present, absent, invalid), refused files, and a
//! DICOM instance that is not an ophthalmic photograph. Synthetic files, written here.

use image::{Rgb, RgbImage};
use mira_fundus::{FundusError, Laterality, SourceFormat, input};

fn png(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    RgbImage::from_pixel(80, 60, Rgb([120, 60, 20]))
        .save(&path)
        .unwrap();
    path
}

#[test]
fn a_sidecar_gives_patient_eye_and_date() {
    let dir = tempfile::tempdir().unwrap();
    let image = png(dir.path(), "eye.png");
    std::fs::write(
        dir.path().join("eye.json"),
        r#"{"patient_id": "P-1", "laterality": "L", "acquisition_date": "2026-11-23"}"#,
    )
    .unwrap();
    let photo = input::read(&image).unwrap();
    assert_eq!(photo.source.format, SourceFormat::Png);
    assert_eq!(photo.source.patient_id.as_deref(), Some("P-1"));
    assert_eq!(photo.source.laterality, Laterality::Left);
    assert_eq!(photo.source.laterality_source, "sidecar");
    assert_eq!(photo.source.acquisition_date.as_deref(), Some("2026-11-23"));
    assert_eq!((photo.source.width, photo.source.height), (80, 60));
}

#[test]
fn without_a_sidecar_laterality_is_unknown_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let image = png(dir.path(), "eye.png");
    let photo = input::read(&image).unwrap();
    assert_eq!(photo.source.laterality, Laterality::Unknown);
    assert_eq!(photo.source.patient_id, None);
    assert!(photo.source.laterality_source.contains("no sidecar"));
    let report = mira_fundus::Analyzer::new().analyze(&photo).unwrap();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("laterality unknown"))
    );
}

#[test]
fn an_invalid_sidecar_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let image = png(dir.path(), "eye.png");
    for bad in [
        r#"{"patient_id": "P-1", "laterality": "X"}"#,
        r#"{"patient_id": "P-1", "laterality": "R", "eye": "R"}"#,
        r#"{"laterality": "R"}"#,
        "not json",
    ] {
        std::fs::write(dir.path().join("eye.json"), bad).unwrap();
        let err = input::read(&image).unwrap_err();
        assert!(matches!(err, FundusError::Sidecar { .. }), "{bad}: {err:?}");
        assert!(err.to_string().contains("eye.json"), "{err}");
    }
}

#[test]
fn files_that_are_not_photographs_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let err = input::read(&text).unwrap_err();
    assert!(matches!(err, FundusError::UnsupportedFormat { .. }));
    assert!(err.to_string().contains("notes.txt"));
    let missing = dir.path().join("missing.jpg");
    let err = input::read(&missing).unwrap_err();
    assert!(matches!(err, FundusError::Read { .. }));
    assert!(err.to_string().contains("missing.jpg"));
    let truncated = dir.path().join("truncated.jpg");
    std::fs::write(&truncated, [0xFF, 0xD8, 0xFF, 0xE0, 0, 16]).unwrap();
    let err = input::read(&truncated).unwrap_err();
    assert!(matches!(err, FundusError::Decode { .. }), "{err:?}");
}

#[test]
fn a_dicom_instance_that_is_not_op_is_refused() {
    let Some(cxr) = mira_testdata::file("cxr/nih_dx_chest_implicit_vr.dcm") else {
        return;
    };
    let err = input::read(&cxr).unwrap_err();
    match &err {
        FundusError::NotFundus { modality, .. } => assert_eq!(modality, "DX"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("not OP"), "{err}");
}

/// An Ophthalmic Photography 8-bit instance (explicit VR little endian, RGB) around an IDRiD
/// photograph: the DICOM path gives the same analysis as the JPEG, with laterality, patient and
/// the UIDs an SR refers to.
#[test]
fn an_op_instance_is_analysed_with_its_uids_and_laterality() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::{tags, uids};
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
    let Some(jpeg) = mira_testdata::file("fundus/idrid_codras/0001.jpg") else {
        return;
    };
    let img = image::open(&jpeg).unwrap().into_rgb8();
    let (w, h) = img.dimensions();
    let sop = "2.25.123456789012345678901234567891";
    let mut obj = InMemDicomObject::new_empty();
    for (tag, vr, value) in [
        (
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::OPHTHALMIC_PHOTOGRAPHY8_BIT_IMAGE_STORAGE,
        ),
        (tags::SOP_INSTANCE_UID, VR::UI, sop),
        (tags::STUDY_INSTANCE_UID, VR::UI, "2.25.11"),
        (tags::SERIES_INSTANCE_UID, VR::UI, "2.25.12"),
        (tags::PATIENT_ID, VR::LO, "P-7"),
        (tags::MODALITY, VR::CS, "OP"),
        (tags::IMAGE_LATERALITY, VR::CS, "R"),
        (tags::ACQUISITION_DATE, VR::DA, "20261123"),
        (tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB"),
    ] {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    for (tag, value) in [
        (tags::SAMPLES_PER_PIXEL, 3u16),
        (tags::PLANAR_CONFIGURATION, 0),
        (tags::ROWS, h as u16),
        (tags::COLUMNS, w as u16),
        (tags::BITS_ALLOCATED, 8),
        (tags::BITS_STORED, 8),
        (tags::HIGH_BIT, 7),
        (tags::PIXEL_REPRESENTATION, 0),
    ] {
        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(img.as_raw().clone()),
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("op.dcm");
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .media_storage_sop_class_uid(uids::OPHTHALMIC_PHOTOGRAPHY8_BIT_IMAGE_STORAGE)
            .media_storage_sop_instance_uid(sop),
    )
    .unwrap()
    .write_to_file(&path)
    .unwrap();
    let analyzer = mira_fundus::Analyzer::new();
    let from_dicom = analyzer.analyze_path(&path).unwrap();
    let from_jpeg = analyzer.analyze_path(&jpeg).unwrap();
    let s = &from_dicom.source;
    assert_eq!(s.format, SourceFormat::Dicom);
    assert_eq!(s.laterality, Laterality::Right);
    assert_eq!(s.laterality_source, "ImageLaterality");
    assert_eq!(s.patient_id.as_deref(), Some("P-7"));
    assert_eq!(s.acquisition_date.as_deref(), Some("2026-11-23"));
    assert_eq!(s.sop_instance_uid.as_deref(), Some(sop));
    assert_eq!(s.study_instance_uid.as_deref(), Some("2.25.11"));
    assert_eq!(s.series_instance_uid.as_deref(), Some("2.25.12"));
    assert_eq!(
        s.sop_class_uid.as_deref(),
        Some(uids::OPHTHALMIC_PHOTOGRAPHY8_BIT_IMAGE_STORAGE)
    );
    assert_eq!(from_dicom.lesions, from_jpeg.lesions);
    assert_eq!(from_dicom.optic_disc, from_jpeg.optic_disc);
    assert_eq!(from_dicom.screening.result, from_jpeg.screening.result);
    // the report round-trips through JSON
    let json = serde_json::to_string(&from_dicom).unwrap();
    let back: mira_fundus::FundusReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.source, from_dicom.source);
    assert_eq!(back.lesions.len(), from_dicom.lesions.len());
    assert_eq!(back.screening.result, from_dicom.screening.result);
    // and an overlay is written
    let overlay = dir.path().join("op.png");
    mira_fundus::overlay::write(&img, &from_dicom, &overlay).unwrap();
    let written = image::open(&overlay).unwrap();
    assert_eq!(written.width(), mira_fundus::overlay::OVERLAY_MAX_WIDTH);
}
