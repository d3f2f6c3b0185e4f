//! Shared by the integration tests: a synthetic signed LDCT report (no real patient data),
//! the CT image it is about, and the skip rule for missing external tools.
#![allow(dead_code)]

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use mira_report::*;

pub const STUDY_UID: &str = "1.2.826.0.1.3680043.10.543.7";
pub const SERIES_UID: &str = "1.2.826.0.1.3680043.10.543.7.2";
pub const SOP_UID: &str = "1.2.826.0.1.3680043.10.543.7.2.41";

/// Whether the tests run in CI, where every external tool must be present.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips a check whose tool is missing, with a message; under `CI=true` it fails instead.
pub fn skip<T>(what: &str) -> Option<T> {
    if ci() {
        panic!("{what} (CI=true: prerequisites must be present)");
    }
    eprintln!("SKIP: {what}");
    None
}

pub fn header() -> ReportHeader {
    ReportHeader {
        patient_name: Some("Zhang^San=张^三".into()),
        patient_id: Some("MIRA-0001".into()),
        patient_sex: Some("M".into()),
        patient_birth_date: Some("19580314".into()),
        accession_number: Some("ACC2026001".into()),
        study_instance_uid: STUDY_UID.into(),
        study_date: Some("20261120".into()),
        study_time: Some("093000".into()),
        modalities: vec!["CT".into()],
        study_description: Some("低剂量胸部CT".into()),
        body_part: Some("CHEST".into()),
        site_name: Some("北京市某社区卫生服务中心".into()),
        series: vec![SeriesRef {
            series_instance_uid: SERIES_UID.into(),
            modality: Some("CT".into()),
            series_number: Some(2),
            description: Some("1.25 mm lung".into()),
            body_part: Some("CHEST".into()),
            instances: vec![InstanceRef {
                sop_instance_uid: SOP_UID.into(),
                sop_class_uid: uids::CT_IMAGE_STORAGE.into(),
                instance_number: Some(41),
            }],
        }],
    }
}

pub fn nodule(
    id: &str,
    decision: Decision,
    location: &str,
    axes: (f64, f64),
    category: &str,
) -> Finding {
    let (long, short) = axes;
    let mean = ((long + short) / 2.0 * 10.0 + 0.5).floor() / 10.0;
    Finding {
        id: id.into(),
        source: FindingSource::Ai {
            analyzer: "lung-ct".into(),
            version: "0.1.0".into(),
        },
        kind: "lung-nodule".into(),
        label: "肺结节".into(),
        laterality: Some(if location.contains('左') {
            Laterality::Left
        } else {
            Laterality::Right
        }),
        location: Some(location.into()),
        nodule: Some(NoduleMeasures {
            long_axis_mm: long,
            short_axis_mm: short,
            mean_diameter_mm: mean,
            volume_mm3: Some(std::f64::consts::PI / 6.0 * mean.powi(3)),
            attenuation: "solid".into(),
            solid_component_mm: None,
            calcified: false,
            status: Some("baseline".into()),
            category: Some(category.into()),
        }),
        dr: None,
        image: Some(ImageLocation {
            series_instance_uid: SERIES_UID.into(),
            sop_instance_uid: SOP_UID.into(),
            frame: None,
            shape: "polyline".into(),
            points: vec![[5.0, 6.0], [11.0, 9.0]],
        }),
        confidence: Some(0.93),
        decision,
    }
}

/// A signed Chinese LDCT report: one accepted 4A nodule, one rejected and one pending.
pub fn signed_report(language: Language) -> SignedReport {
    let findings = vec![
        nodule(
            "lung-ct/17/1",
            Decision::Accepted,
            "右肺上叶",
            (8.1, 7.9),
            "4A",
        ),
        nodule(
            "lung-ct/17/2",
            Decision::Rejected {
                reason: "血管断面".into(),
            },
            "左肺下叶",
            (16.0, 14.0),
            "4B",
        ),
        nodule(
            "lung-ct/17/3",
            Decision::Pending,
            "左肺上叶",
            (6.0, 5.8),
            "2",
        ),
    ];
    let document = prefill(Template::LdctLungRads, language, &header(), &findings);
    SignedReport {
        report_id: 42,
        version: 1,
        document,
        signature: Signature {
            user: "wang".into(),
            display_name: "王医生".into(),
            signed_at: "2026-11-20T10:15:00+08:00".into(),
        },
        addenda: vec![],
        exam_completed_at: Some("2026-11-20T09:40:00+08:00".into()),
    }
}

fn put(object: &mut InMemDicomObject, tag: dicom_core::Tag, vr: VR, value: &str) {
    object.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

/// The CT slice the nodule was marked on: its Patient and General Study modules are what the
/// SR copies.
pub fn ct_source() -> InMemDicomObject {
    let mut ct = InMemDicomObject::new_empty();
    put(&mut ct, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    put(&mut ct, tags::PATIENT_NAME, VR::PN, "Zhang^San=张^三");
    put(&mut ct, tags::PATIENT_ID, VR::LO, "MIRA-0001");
    put(&mut ct, tags::PATIENT_BIRTH_DATE, VR::DA, "19580314");
    put(&mut ct, tags::PATIENT_SEX, VR::CS, "M");
    put(&mut ct, tags::STUDY_INSTANCE_UID, VR::UI, STUDY_UID);
    put(&mut ct, tags::STUDY_DATE, VR::DA, "20261120");
    put(&mut ct, tags::STUDY_TIME, VR::TM, "093000");
    put(
        &mut ct,
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        "Li^Si=李^四",
    );
    put(&mut ct, tags::STUDY_ID, VR::SH, "S1");
    put(&mut ct, tags::ACCESSION_NUMBER, VR::SH, "ACC2026001");
    put(&mut ct, tags::STUDY_DESCRIPTION, VR::LO, "低剂量胸部CT");
    put(&mut ct, tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE);
    put(&mut ct, tags::SOP_INSTANCE_UID, VR::UI, SOP_UID);
    put(&mut ct, tags::MODALITY, VR::CS, "CT");
    put(&mut ct, tags::SERIES_INSTANCE_UID, VR::UI, SERIES_UID);
    ct
}
