//! Builders for unit tests: a synthetic patient (no real patient data), nodules and DR grades.

use crate::*;

pub const STUDY_UID: &str = "1.2.826.0.1.3680043.10.543.7";
pub const SERIES_UID: &str = "1.2.826.0.1.3680043.10.543.7.2";
pub const SOP_UID: &str = "1.2.826.0.1.3680043.10.543.7.2.41";
pub const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";

pub fn ct_header() -> ReportHeader {
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
        site_name: Some("社区卫生服务中心".into()),
        series: vec![SeriesRef {
            series_instance_uid: SERIES_UID.into(),
            modality: Some("CT".into()),
            series_number: Some(2),
            description: Some("1.25 mm lung".into()),
            body_part: Some("CHEST".into()),
            instances: vec![InstanceRef {
                sop_instance_uid: SOP_UID.into(),
                sop_class_uid: CT_IMAGE_STORAGE.into(),
                instance_number: Some(41),
            }],
        }],
    }
}

pub fn op_header() -> ReportHeader {
    ReportHeader {
        modalities: vec!["OP".into()],
        study_description: Some("眼底照相".into()),
        body_part: Some("EYE".into()),
        series: vec![],
        ..ct_header()
    }
}

/// A nodule with the given axes; the mean is rounded half up to 0.1 mm and the volume is
/// that of a sphere of the mean diameter (Lung-RADS' volumetric equivalents).
#[allow(clippy::too_many_arguments)]
pub fn nodule(
    id: &str,
    decision: Decision,
    laterality: Laterality,
    location: &str,
    long: f64,
    short: f64,
    category: &str,
) -> Finding {
    let mean = ((long + short) / 2.0 * 10.0 + 0.5).floor() / 10.0;
    Finding {
        id: id.into(),
        source: FindingSource::Ai {
            analyzer: "lung-ct".into(),
            version: "0.1.0".into(),
        },
        kind: "lung-nodule".into(),
        label: "肺结节".into(),
        laterality: Some(laterality),
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
            points: vec![[10.0, 10.0], [20.0, 12.0]],
        }),
        confidence: Some(0.9),
        decision,
    }
}

pub fn dr_finding(eye: Laterality, grade: Option<&str>, decision: Decision) -> Finding {
    Finding {
        id: format!("fundus-dr/1/{eye:?}"),
        source: FindingSource::Ai {
            analyzer: "fundus-dr".into(),
            version: "0.1.0".into(),
        },
        kind: "dr-grade".into(),
        label: "DR".into(),
        laterality: Some(eye),
        location: None,
        nodule: None,
        dr: Some(DrGrade {
            eye,
            gradable: grade.is_some(),
            grade: grade.map(String::from),
            referable: grade.is_some_and(templates::icdr_referable),
        }),
        image: None,
        confidence: None,
        decision,
    }
}

/// A signed LDCT report in Chinese with one accepted right-upper-lobe 4A nodule.
pub fn signed_ldct() -> SignedReport {
    let findings = vec![nodule(
        "lung-ct/17/1",
        Decision::Accepted,
        Laterality::Right,
        "右肺上叶",
        8.1,
        7.9,
        "4A",
    )];
    let document = prefill(
        Template::LdctLungRads,
        Language::ZhCn,
        &ct_header(),
        &findings,
    );
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
