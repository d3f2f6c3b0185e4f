//! Lung-nodule and fundus reports written as files and checked by independent validators:
//! dicom3tools' `dciodvfy` (IOD conformance) and dcmtk's `dsr2xml` (SR parsing).
//!
//! The source CT and OP instances are generated here. Without the tools the checks are
//! skipped with a message, except under `CI=true`, where their absence fails the test
//! (scripts/install-test-deps installs dicom3tools and dcmtk).

use std::path::{Path, PathBuf};
use std::process::Command;

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject, open_file};
use mira_sr::codes::{dcm, mira, sct, ucum};
use mira_sr::model::*;
use mira_sr::{SrError, SrIod};

const STUDY_UID: &str = "1.2.826.0.1.3680043.10.543.1";
const CT_SERIES_UID: &str = "1.2.826.0.1.3680043.10.543.1.2";
const CT_SLICE_UIDS: [&str; 2] = [
    "1.2.826.0.1.3680043.10.543.1.2.41",
    "1.2.826.0.1.3680043.10.543.1.2.77",
];
const FRAME_OF_REFERENCE_UID: &str = "1.2.826.0.1.3680043.10.543.1.9";
const OP_SERIES_UID: &str = "1.2.826.0.1.3680043.10.543.1.3";
const OP_RIGHT_UID: &str = "1.2.826.0.1.3680043.10.543.1.3.1";
const OP_LEFT_UID: &str = "1.2.826.0.1.3680043.10.543.1.3.2";

/// Text in both languages; the lung and fundus reports are written once in each.
#[derive(Clone, Copy)]
struct Texts {
    language: Language,
    nodule: [&'static str; 2],
    impression: &'static str,
    recommendation: &'static str,
    comment: &'static str,
    fundus_impression: &'static str,
}

const CHINESE: Texts = Texts {
    language: Language::ZhCn,
    nodule: ["结节 1", "结节 2"],
    impression: "右肺上叶实性结节，Lung-RADS 4A；左肺下叶磨玻璃结节。",
    recommendation: "3个月后低剂量CT复查。",
    comment: "邻近胸膜，请医师复核。",
    fundus_impression: "右眼可见出血及硬性渗出，建议转诊眼科。",
};

const ENGLISH: Texts = Texts {
    language: Language::EnUs,
    nodule: ["nodule 1", "nodule 2"],
    impression: "Solid nodule in the right upper lobe, Lung-RADS 4A; ground-glass nodule in the left lower lobe.",
    recommendation: "3-month LDCT.",
    comment: "Abuts the pleura; physician to confirm.",
    fundus_impression: "Haemorrhages and hard exudates in the right eye; refer to ophthalmology.",
};

// ---------------------------------------------------------------------------------------
// Source images

fn put(object: &mut InMemDicomObject, tag: dicom_core::Tag, vr: VR, value: &str) {
    object.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

/// Patient and study attributes shared by the generated images, with a Chinese name.
fn patient_and_study(object: &mut InMemDicomObject) {
    put(object, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    put(object, tags::PATIENT_NAME, VR::PN, "Zhang^San=张^三");
    put(object, tags::PATIENT_ID, VR::LO, "MIRA-0001");
    put(object, tags::PATIENT_BIRTH_DATE, VR::DA, "19580314");
    put(object, tags::PATIENT_SEX, VR::CS, "M");
    put(object, tags::STUDY_INSTANCE_UID, VR::UI, STUDY_UID);
    put(object, tags::STUDY_DATE, VR::DA, "20261120");
    put(object, tags::STUDY_TIME, VR::TM, "093000");
    put(
        object,
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        "Li^Si=李^四",
    );
    put(object, tags::STUDY_ID, VR::SH, "S1");
    put(object, tags::ACCESSION_NUMBER, VR::SH, "ACC2026001");
    put(object, tags::STUDY_DESCRIPTION, VR::LO, "低剂量胸部CT");
}

/// A minimal CT Image: Patient, General Study, General Series, Frame of Reference, General
/// Equipment, General/Image Plane/Image Pixel/CT Image, SOP Common; 16×16 pixels.
fn ct_slice(sop_instance_uid: &str, z: f64) -> InMemDicomObject {
    let mut ct = InMemDicomObject::new_empty();
    patient_and_study(&mut ct);
    put(&mut ct, tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE);
    put(&mut ct, tags::SOP_INSTANCE_UID, VR::UI, sop_instance_uid);
    put(&mut ct, tags::MODALITY, VR::CS, "CT");
    put(&mut ct, tags::SERIES_INSTANCE_UID, VR::UI, CT_SERIES_UID);
    put(&mut ct, tags::SERIES_NUMBER, VR::IS, "2");
    put(&mut ct, tags::LATERALITY, VR::CS, "");
    put(&mut ct, tags::PATIENT_POSITION, VR::CS, "FFS");
    put(
        &mut ct,
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        FRAME_OF_REFERENCE_UID,
    );
    put(&mut ct, tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
    put(&mut ct, tags::MANUFACTURER, VR::LO, "phantom");
    put(&mut ct, tags::INSTANCE_NUMBER, VR::IS, "1");
    put(
        &mut ct,
        tags::IMAGE_TYPE,
        VR::CS,
        "ORIGINAL\\PRIMARY\\AXIAL",
    );
    put(&mut ct, tags::PIXEL_SPACING, VR::DS, "0.7\\0.7");
    put(
        &mut ct,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        "1\\0\\0\\0\\1\\0",
    );
    put(
        &mut ct,
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        &format!("-5.6\\-5.6\\{z}"),
    );
    put(&mut ct, tags::SLICE_THICKNESS, VR::DS, "1.25");
    ct.put(DataElement::new(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1_u16),
    ));
    put(
        &mut ct,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    for (tag, value) in [
        (tags::ROWS, 16_u16),
        (tags::COLUMNS, 16),
        (tags::BITS_ALLOCATED, 16),
        (tags::BITS_STORED, 16),
        (tags::HIGH_BIT, 15),
        (tags::PIXEL_REPRESENTATION, 1),
    ] {
        ct.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    put(&mut ct, tags::RESCALE_INTERCEPT, VR::DS, "0");
    put(&mut ct, tags::RESCALE_SLOPE, VR::DS, "1");
    put(&mut ct, tags::KVP, VR::DS, "120");
    put(&mut ct, tags::ACQUISITION_NUMBER, VR::IS, "1");
    ct.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::from(vec![0_u8; 16 * 16 * 2]),
    ));
    ct
}

/// A code sequence of one item.
fn code_sequence(
    object: &mut InMemDicomObject,
    tag: dicom_core::Tag,
    code: Option<(&str, &str, &str)>,
) {
    let items = code
        .map(|(value, scheme, meaning)| {
            let mut item = InMemDicomObject::new_empty();
            put(&mut item, tags::CODE_VALUE, VR::SH, value);
            put(&mut item, tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme);
            put(&mut item, tags::CODE_MEANING, VR::LO, meaning);
            item
        })
        .into_iter()
        .collect::<Vec<_>>();
    object.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

/// A minimal Ophthalmic Photography 8 Bit image of one eye (PS3.3 A.39.1), 48×32 RGB.
fn op_image(sop_instance_uid: &str, laterality: &str) -> InMemDicomObject {
    let mut op = InMemDicomObject::new_empty();
    patient_and_study(&mut op);
    put(
        &mut op,
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::OPHTHALMIC_PHOTOGRAPHY8_BIT_IMAGE_STORAGE,
    );
    put(&mut op, tags::SOP_INSTANCE_UID, VR::UI, sop_instance_uid);
    put(&mut op, tags::MODALITY, VR::CS, "OP");
    put(&mut op, tags::SERIES_INSTANCE_UID, VR::UI, OP_SERIES_UID);
    put(&mut op, tags::SERIES_NUMBER, VR::IS, "3");
    put(&mut op, tags::MANUFACTURER, VR::LO, "phantom");
    put(
        &mut op,
        tags::INSTANCE_NUMBER,
        VR::IS,
        if laterality == "R" { "1" } else { "2" },
    );
    put(&mut op, tags::PATIENT_ORIENTATION, VR::CS, "");
    put(&mut op, tags::IMAGE_LATERALITY, VR::CS, laterality);
    put(&mut op, tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY");
    put(&mut op, tags::CONTENT_DATE, VR::DA, "20261120");
    put(&mut op, tags::CONTENT_TIME, VR::TM, "093500");
    put(
        &mut op,
        tags::ACQUISITION_DATE_TIME,
        VR::DT,
        "20261120093500",
    );
    put(&mut op, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    put(&mut op, tags::BURNED_IN_ANNOTATION, VR::CS, "NO");
    put(
        &mut op,
        tags::SYNCHRONIZATION_FRAME_OF_REFERENCE_UID,
        VR::UI,
        "1.2.840.10008.15.1.1",
    );
    put(&mut op, tags::SYNCHRONIZATION_TRIGGER, VR::CS, "NO TRIGGER");
    put(&mut op, tags::ACQUISITION_TIME_SYNCHRONIZED, VR::CS, "N");
    put(&mut op, tags::NUMBER_OF_FRAMES, VR::IS, "1");
    op.put(DataElement::new(
        tags::FRAME_INCREMENT_POINTER,
        VR::AT,
        PrimitiveValue::from(tags::FRAME_TIME),
    ));
    put(&mut op, tags::FRAME_TIME, VR::DS, "0");
    code_sequence(
        &mut op,
        tags::ANATOMIC_REGION_SEQUENCE,
        Some(("5665001", "SCT", "Retina")),
    );
    put(&mut op, tags::PATIENT_EYE_MOVEMENT_COMMANDED, VR::CS, "NO");
    op.put(DataElement::new(
        tags::HORIZONTAL_FIELD_OF_VIEW,
        VR::FL,
        PrimitiveValue::from(45.0_f32),
    ));
    code_sequence(&mut op, tags::REFRACTIVE_STATE_SEQUENCE, None);
    op.put(DataElement::empty(tags::EMMETROPIC_MAGNIFICATION, VR::FL));
    op.put(DataElement::empty(tags::INTRA_OCULAR_PRESSURE, VR::FL));
    put(&mut op, tags::PUPIL_DILATED, VR::CS, "");
    code_sequence(
        &mut op,
        tags::ACQUISITION_DEVICE_TYPE_CODE_SEQUENCE,
        Some(("409898007", "SCT", "Fundus Camera")),
    );
    for tag in [
        tags::ILLUMINATION_TYPE_CODE_SEQUENCE,
        tags::LIGHT_PATH_FILTER_TYPE_STACK_CODE_SEQUENCE,
        tags::IMAGE_PATH_FILTER_TYPE_STACK_CODE_SEQUENCE,
        tags::LENSES_CODE_SEQUENCE,
    ] {
        code_sequence(&mut op, tag, None);
    }
    put(&mut op, tags::DETECTOR_TYPE, VR::CS, "CCD");
    put(&mut op, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB");
    for (tag, value) in [
        (tags::SAMPLES_PER_PIXEL, 3_u16),
        (tags::ROWS, 32),
        (tags::COLUMNS, 48),
        (tags::BITS_ALLOCATED, 8),
        (tags::BITS_STORED, 8),
        (tags::HIGH_BIT, 7),
        (tags::PIXEL_REPRESENTATION, 0),
        (tags::PLANAR_CONFIGURATION, 0),
    ] {
        op.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    op.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(vec![0_u8; 32 * 48 * 3]),
    ));
    op
}

// ---------------------------------------------------------------------------------------
// Reports

fn document(description: &str) -> DocumentInfo {
    DocumentInfo {
        uids: DocumentUids::Generate {
            root: Some("1.2.826.0.1.3680043.10.543.99".into()),
        },
        series_number: 901,
        instance_number: 1,
        series_description: Some(description.into()),
        content_date: "20261123".into(),
        content_time: "181500".into(),
        manufacturer: "mira".into(),
        software_versions: "0.1.0".into(),
        institution_name: Some("区域影像中心".into()),
    }
}

fn algorithm_observer(model_name: &str) -> Observer {
    Observer::Device(DeviceObserver {
        uid: "1.2.826.0.1.3680043.10.543.7".into(),
        name: Some("mira analysis".into()),
        manufacturer: Some("mira".into()),
        model_name: Some(model_name.into()),
    })
}

fn num(
    concept: &mira_sr::codes::StaticCode,
    value: &str,
    unit: &mira_sr::codes::StaticCode,
) -> Measurement {
    Measurement {
        concept: concept.code(),
        value: NumericValue::parse(value).unwrap(),
        unit: unit.code(),
        derivation: None,
        method: None,
        region: None,
    }
}

fn coded(concept: &mira_sr::codes::StaticCode, value: &mira_sr::codes::StaticCode) -> Evaluation {
    Evaluation::Coded {
        concept: concept.code(),
        value: value.code(),
    }
}

fn lung_report(texts: Texts) -> MeasurementReport {
    let slices: Vec<InMemDicomObject> = CT_SLICE_UIDS
        .iter()
        .zip([-41.25, -96.25])
        .map(|(uid, z)| ct_slice(uid, z))
        .collect();
    let subject = Subject::from_source(&slices[0]).unwrap();
    let image_library = slices
        .iter()
        .map(|slice| ImageReference::from_source(slice).unwrap())
        .collect();
    let algorithm = Algorithm {
        name: "mira-lung".into(),
        version: "0.1.0".into(),
    };
    // Nodule 1: solid, 7.4 × 5.6 mm, mean 6.5 mm, 148 mm³, right upper lobe; Lung-RADS 4A
    // for the sake of the test (a new nodule of this size would be).
    // Nodule 2: ground glass, 12.1 × 9.9 mm, mean 11.0 mm, left lower lobe; Lung-RADS 2.
    let nodules = [
        (
            "7.4",
            "5.6",
            "6.5",
            "148",
            &mira::SOLID,
            &mira::LUNG_RADS_4A,
            &sct::UPPER_LOBE_OF_LUNG,
            &sct::RIGHT,
            0,
            [5.5_f32, 7.0],
        ),
        (
            "12.1",
            "9.9",
            "11.0",
            "602",
            &dcm::GROUND_GLASS_OPACITY,
            &mira::LUNG_RADS_2,
            &sct::LOWER_LOBE_OF_LUNG,
            &sct::LEFT,
            1,
            [11.0, 9.5],
        ),
    ];
    let measurement_groups = nodules
        .iter()
        .enumerate()
        .map(
            |(
                index,
                &(long, short, mean, volume, attenuation, category, lobe, side, slice, centre),
            )| {
                let centre_on_slice = Region::Image {
                    graphic_type: GraphicType::Point,
                    points: vec![centre],
                    image: ImageSelection {
                        sop_instance_uid: CT_SLICE_UIDS[slice].into(),
                        frame: None,
                    },
                };
                let mut mean_diameter = num(&sct::DIAMETER, mean, &ucum::MILLIMETER);
                mean_diameter.derivation = Some(sct::MEAN.code());
                let mut long_axis = num(&sct::LONG_AXIS, long, &ucum::MILLIMETER);
                long_axis.region = Some(centre_on_slice.clone());
                MeasurementGroup {
                    tracking_identifier: texts.nodule[index].into(),
                    tracking_uid: None,
                    finding: Some(sct::NODULE.code()),
                    finding_site: Some(FindingSite {
                        site: lobe.code(),
                        laterality: Some(side.code()),
                    }),
                    algorithm: Some(algorithm.clone()),
                    region: Some(centre_on_slice),
                    measurements: vec![
                        long_axis,
                        num(&sct::SHORT_AXIS, short, &ucum::MILLIMETER),
                        mean_diameter,
                        num(&sct::VOLUME, volume, &ucum::CUBIC_MILLIMETER),
                    ],
                    evaluations: vec![
                        coded(&mira::ATTENUATION_TYPE, attenuation),
                        coded(&mira::LUNG_RADS_CATEGORY, category),
                    ],
                    comments: if index == 0 {
                        vec![texts.comment.into()]
                    } else {
                        vec![]
                    },
                }
            },
        )
        .collect();
    MeasurementReport {
        subject,
        document: document("AI lung nodules"),
        status: ReportStatus::AiDraft,
        observers: vec![algorithm_observer("mira-lung 0.1.0")],
        procedures_reported: vec![sct::COMPUTERIZED_AXIAL_TOMOGRAPHY.code()],
        language: texts.language,
        image_library,
        measurement_groups,
        evaluations: vec![
            coded(&mira::LUNG_RADS_CATEGORY, &mira::LUNG_RADS_4A),
            Evaluation::Text {
                concept: dcm::IMPRESSION.code(),
                text: texts.impression.into(),
            },
            Evaluation::Text {
                concept: dcm::RECOMMENDATION.code(),
                text: texts.recommendation.into(),
            },
        ],
    }
}

fn fundus_report(texts: Texts) -> MeasurementReport {
    let right = op_image(OP_RIGHT_UID, "R");
    let left = op_image(OP_LEFT_UID, "L");
    let subject = Subject::from_source(&right).unwrap();
    let image_library = [&right, &left]
        .iter()
        .map(|image| ImageReference::from_source(image).unwrap())
        .collect();
    let retina = |side: &mira_sr::codes::StaticCode| FindingSite {
        site: sct::RETINA.code(),
        laterality: Some(side.code()),
    };
    let lesion = |label: &str,
                  finding: &mira_sr::codes::StaticCode,
                  corner: [f32; 2],
                  size: [f32; 2],
                  score: &str| {
        let [x, y] = corner;
        let [w, h] = size;
        MeasurementGroup {
            tracking_identifier: label.into(),
            tracking_uid: None,
            finding: Some(finding.code()),
            finding_site: Some(retina(&sct::RIGHT)),
            algorithm: Some(Algorithm {
                name: "mira-fundus-lesions".into(),
                version: "0.1.0".into(),
            }),
            // A box as a closed POLYLINE: four corners and the first again.
            region: Some(Region::Image {
                graphic_type: GraphicType::Polyline,
                points: vec![[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]],
                image: ImageSelection {
                    sop_instance_uid: OP_RIGHT_UID.into(),
                    frame: None,
                },
            }),
            measurements: vec![num(&mira::LESION_SCORE, score, &ucum::NO_UNITS)],
            evaluations: vec![],
            comments: vec![],
        }
    };
    let eye = |label: &str, side, grade, referable| MeasurementGroup {
        tracking_identifier: label.into(),
        tracking_uid: None,
        finding: Some(mira::DIABETIC_RETINOPATHY.code()),
        finding_site: Some(retina(side)),
        algorithm: Some(Algorithm {
            name: "mira-dr-grade".into(),
            version: "0.1.0".into(),
        }),
        region: None,
        measurements: vec![],
        evaluations: vec![
            coded(&mira::ICDR_SEVERITY, grade),
            coded(&mira::REFERABLE_DR, referable),
        ],
        comments: vec![],
    };
    MeasurementReport {
        subject,
        document: document("AI DR screening"),
        status: ReportStatus::AiDraft,
        observers: vec![algorithm_observer("mira-fundus 0.1.0")],
        procedures_reported: vec![mira::FUNDUS_DR_SCREENING.code()],
        language: texts.language,
        image_library,
        measurement_groups: vec![
            lesion("R-H1", &sct::HEMORRHAGE, [10.0, 8.0], [4.0, 3.0], "0.91"),
            lesion(
                "R-E1",
                &mira::HARD_EXUDATE,
                [30.5, 20.0],
                [6.0, 5.5],
                "0.78",
            ),
            eye("OD", &sct::RIGHT, &mira::ICDR_MODERATE_NPDR, &sct::YES),
            eye("OS", &sct::LEFT, &mira::ICDR_NO_APPARENT, &sct::NO),
        ],
        evaluations: vec![
            coded(&mira::REFERABLE_DR, &sct::YES),
            Evaluation::Text {
                concept: dcm::IMPRESSION.code(),
                text: texts.fundus_impression.into(),
            },
        ],
    }
}

/// The lung report signed by a physician: person observer, VERIFIED, COMPLETE.
fn signed(mut report: MeasurementReport) -> MeasurementReport {
    report.observers.push(Observer::Person(PersonObserver {
        name: "Wang^Wu=王^五".into(),
        organization: Some("区域影像中心".into()),
    }));
    report.status = ReportStatus::Signed {
        verifying_observers: vec![VerifyingObserver {
            name: "Wang^Wu=王^五".into(),
            organization: "区域影像中心".into(),
            datetime: "20261123190000+0800".into(),
        }],
    };
    report
}

// ---------------------------------------------------------------------------------------
// Validators

/// Whether an external tool is installed; outside CI its absence skips the check.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            panic!("{name} is required under CI=true (scripts/install-test-deps installs it)");
        }
        eprintln!("skipping the {name} check: {name} is not installed");
    }
    found
}

/// Runs dciodvfy and returns its Error and Warning lines. dciodvfy reports on stderr.
fn dciodvfy(path: &Path) -> Option<(Vec<String>, Vec<String>)> {
    let dciodvfy = tool("dciodvfy")?;
    let output = Command::new(dciodvfy).arg(path).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = |kind: &str| {
        text.lines()
            .filter(|line| line.starts_with(kind))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    Some((lines("Error"), lines("Warning")))
}

/// Warnings dciodvfy gives on these documents that are not faults of the document, each
/// with the reason. Any other warning fails the test, so a new one is looked at.
const EXPECTED_WARNINGS: &[(&str, &str)] = &[(
    "Unrecognized defined term <99MIRA> for value 1 of attribute <Coding Scheme Designator>",
    "99MIRA is mira's private coding scheme (PS3.16 8.2: designators beginning with 99 are \
     private), used where no standard code was verified, and declared in the Coding Scheme \
     Identification Sequence; dciodvfy knows only the standard designators",
)];

fn dsr2xml(path: &Path) -> Option<String> {
    let dsr2xml = tool("dsr2xml")?;
    let output = Command::new(dsr2xml).arg(path).output().unwrap();
    assert!(
        output.status.success(),
        "dsr2xml refused {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).expect("dsr2xml writes UTF-8 for ISO_IR 192"))
}

fn write_and_validate(
    report: &MeasurementReport,
    name: &str,
) -> (PathBuf, Option<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    mira_sr::write_file(report, &path).unwrap();
    if let Some((errors, warnings)) = dciodvfy(&path) {
        assert!(
            errors.is_empty(),
            "dciodvfy errors in {name}:\n{}",
            errors.join("\n")
        );
        let unexpected: Vec<_> = warnings
            .iter()
            .filter(|line| {
                !EXPECTED_WARNINGS
                    .iter()
                    .any(|(text, _)| line.contains(text))
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "dciodvfy warnings in {name}:\n{unexpected:#?}"
        );
    }
    let xml = dsr2xml(&path);
    (path, xml, dir)
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn lung_nodule_reports_validate_in_both_languages() {
    for (texts, name) in [(CHINESE, "lung-zh.dcm"), (ENGLISH, "lung-en.dcm")] {
        let report = lung_report(texts);
        let (path, xml, _dir) = write_and_validate(&report, name);
        if let Some(xml) = xml {
            // The first nodule's long axis with its unit, and the category code.
            assert!(xml.contains("<value>7.4</value>"), "{xml}");
            assert!(xml.contains("<unit>"), "{xml}");
            assert!(xml.contains("mm3"), "{xml}");
            assert!(xml.contains("LRADS-4A"), "{xml}");
            assert!(xml.contains(texts.impression), "{xml}");
        }
        // Chinese text round-trips through dicom-object as well.
        let file = open_file(&path).unwrap();
        assert_eq!(
            file.element(tags::SOP_CLASS_UID).unwrap().to_str().unwrap(),
            uids::COMPREHENSIVE_SR_STORAGE
        );
        let name = file.element(tags::PATIENT_NAME).unwrap().to_str().unwrap();
        assert_eq!(name.trim_end(), "Zhang^San=张^三");
        let charset = file
            .element(tags::SPECIFIC_CHARACTER_SET)
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(charset.trim_end(), "ISO_IR 192");
    }
}

#[test]
fn fundus_reports_validate_in_both_languages() {
    for (texts, name) in [(CHINESE, "fundus-zh.dcm"), (ENGLISH, "fundus-en.dcm")] {
        let report = fundus_report(texts);
        let text = mira_sr::render_text(&report).unwrap();
        assert!(
            text.contains("SCOORD (111030, DCM, \"Image Region\") = POLYLINE"),
            "{text}"
        );
        let (_path, xml, _dir) = write_and_validate(&report, name);
        if let Some(xml) = xml {
            assert!(xml.contains("<value>0.91</value>"), "{xml}");
            assert!(xml.contains("ICDR-2"), "{xml}");
            assert!(xml.contains("373066001"), "{xml}");
            assert!(xml.contains(texts.fundus_impression), "{xml}");
        }
    }
}

#[test]
fn a_signed_report_is_verified_and_validates() {
    let report = signed(lung_report(CHINESE));
    let (path, xml, _dir) = write_and_validate(&report, "lung-signed.dcm");
    let file = open_file(&path).unwrap();
    let flag = |tag| {
        file.element(tag)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end()
            .to_owned()
    };
    assert_eq!(flag(tags::VERIFICATION_FLAG), "VERIFIED");
    assert_eq!(flag(tags::COMPLETION_FLAG), "COMPLETE");
    assert_eq!(flag(tags::PRELIMINARY_FLAG), "FINAL");
    if let Some(xml) = xml {
        assert!(xml.contains(r#"<verification flag="VERIFIED">"#), "{xml}");
        assert!(
            xml.contains("<organization>区域影像中心</organization>"),
            "{xml}"
        );
    }
}

#[test]
fn an_ai_draft_is_partial_unverified_and_preliminary() {
    let document = mira_sr::to_dataset(&lung_report(ENGLISH)).unwrap();
    let flag = |tag| {
        document
            .dataset
            .element(tag)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end()
            .to_owned()
    };
    assert_eq!(flag(tags::VERIFICATION_FLAG), "UNVERIFIED");
    assert_eq!(flag(tags::COMPLETION_FLAG), "PARTIAL");
    assert_eq!(flag(tags::PRELIMINARY_FLAG), "PRELIMINARY");
    assert!(
        document
            .dataset
            .element(tags::VERIFYING_OBSERVER_SEQUENCE)
            .is_err()
    );
}

#[test]
fn nodule_centres_in_patient_coordinates_make_a_comprehensive_3d_sr() {
    let mut report = lung_report(ENGLISH);
    for (group, centre) in report
        .measurement_groups
        .iter_mut()
        .zip([[-1.75_f32, -0.7, -41.25], [2.1, -2.95, -96.25]])
    {
        group.region = Some(Region::Volume {
            graphic_type: GraphicType3d::Point,
            points: vec![centre],
            frame_of_reference_uid: FRAME_OF_REFERENCE_UID.into(),
        });
    }
    let document = mira_sr::to_dataset(&report).unwrap();
    assert_eq!(document.iod, SrIod::Comprehensive3dSr);
    let (_path, xml, _dir) = write_and_validate(&report, "lung-3d.dcm");
    if let Some(xml) = xml {
        assert!(xml.contains(r#"<scoord3d type="POINT">"#), "{xml}");
    }
}

#[test]
fn a_signature_needs_a_person() {
    let mut report = lung_report(ENGLISH);
    report.status = ReportStatus::Signed {
        verifying_observers: vec![VerifyingObserver {
            name: "Wang^Wu".into(),
            organization: "Centre".into(),
            datetime: "20261123190000".into(),
        }],
    };
    assert!(matches!(
        mira_sr::to_dataset(&report),
        Err(SrError::SignatureIncomplete(_))
    ));
    report.status = ReportStatus::Signed {
        verifying_observers: vec![],
    };
    assert!(matches!(
        mira_sr::to_dataset(&report),
        Err(SrError::SignatureIncomplete(_))
    ));
}

#[test]
fn regions_must_reference_library_images_with_the_right_point_count() {
    let mut report = lung_report(ENGLISH);
    report.measurement_groups[0].region = Some(Region::Image {
        graphic_type: GraphicType::Point,
        points: vec![[1.0, 1.0]],
        image: ImageSelection {
            sop_instance_uid: "1.2.3.999".into(),
            frame: None,
        },
    });
    assert!(matches!(
        mira_sr::to_dataset(&report),
        Err(SrError::ImageNotInLibrary { .. })
    ));
    report.measurement_groups[0].region = Some(Region::Image {
        graphic_type: GraphicType::Ellipse,
        points: vec![[1.0, 1.0], [2.0, 2.0]],
        image: ImageSelection {
            sop_instance_uid: CT_SLICE_UIDS[0].into(),
            frame: None,
        },
    });
    assert!(matches!(
        mira_sr::to_dataset(&report),
        Err(SrError::InvalidRegion { count: 2, .. })
    ));
}

#[test]
fn an_ascii_report_declares_no_character_set() {
    let mut report = fundus_report(ENGLISH);
    report.subject.patient_name = Some("Zhang^San".into());
    report.subject.referring_physician_name = None;
    report.subject.study_description = None;
    report.document.institution_name = None;
    let document = mira_sr::to_dataset(&report).unwrap();
    assert!(
        document
            .dataset
            .element(tags::SPECIFIC_CHARACTER_SET)
            .is_err()
    );
}

#[test]
fn the_model_round_trips_through_json() {
    let report = lung_report(CHINESE);
    let json = serde_json::to_string(&report).unwrap();
    let back: MeasurementReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

/// The generated CT and OP sources are themselves valid instances of their IODs, so the
/// reports refer to images a real archive could hold.
#[test]
fn generated_sources_validate() {
    let dir = tempfile::tempdir().unwrap();
    let sources = [
        (
            "ct.dcm",
            ct_slice(CT_SLICE_UIDS[0], -41.25),
            uids::CT_IMAGE_STORAGE,
            CT_SLICE_UIDS[0],
        ),
        (
            "op.dcm",
            op_image(OP_RIGHT_UID, "R"),
            uids::OPHTHALMIC_PHOTOGRAPHY8_BIT_IMAGE_STORAGE,
            OP_RIGHT_UID,
        ),
    ];
    for (name, object, sop_class_uid, sop_instance_uid) in sources {
        let path = dir.path().join(name);
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .media_storage_sop_class_uid(sop_class_uid)
            .media_storage_sop_instance_uid(sop_instance_uid);
        object
            .with_meta(meta)
            .unwrap()
            .write_to_file(&path)
            .unwrap();
        if let Some((errors, _warnings)) = dciodvfy(&path) {
            assert!(
                errors.is_empty(),
                "dciodvfy errors in {name}:\n{}",
                errors.join("\n")
            );
        }
    }
}

/// Keeps the generated source instances honest: they are written as Part 10 files and read
/// back, so `Subject::from_source` is tested on decoded data, not only on what was put in.
#[test]
fn subject_is_copied_from_a_decoded_source_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ct.dcm");
    let ct = ct_slice(CT_SLICE_UIDS[0], -41.25);
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
        .media_storage_sop_instance_uid(CT_SLICE_UIDS[0]);
    ct.with_meta(meta).unwrap().write_to_file(&path).unwrap();
    let decoded = open_file(&path).unwrap();
    let subject = Subject::from_source(&decoded).unwrap();
    assert_eq!(subject.patient_name.as_deref(), Some("Zhang^San=张^三"));
    assert_eq!(subject.study_description.as_deref(), Some("低剂量胸部CT"));
    assert_eq!(subject.study_instance_uid, STUDY_UID);
}
