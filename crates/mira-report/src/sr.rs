//! DICOM SR export of a signed report: a TID 1500 Measurement Report written by `mira-sr`.
//!
//! The SR joins the images' patient and study (copied from a source image), is COMPLETE,
//! VERIFIED (Verifying Observer: the signing physician) and FINAL, and has the physician as
//! person observer (and mira's analyzer as device observer when AI findings were accepted).
//! Content:
//!
//! | what | how |
//! |---|---|
//! | each reported nodule | a Measurement Group: tracking identifier, Finding "Nodule", finding site (lobe) with laterality, the analyzer for AI findings, the image region it was marked on, long and short axis, mean diameter, volume, solid component; attenuation and Lung-RADS category as coded evaluations; status and decision as comments |
//! | each DR grade | a Measurement Group per eye: Finding "Diabetic retinopathy" on the retina with laterality; ICDR level (or Ungradable) and Referable (Yes for an ungradable eye: re-image or refer, clinical-rules §2.5) as coded evaluations |
//! | other reported findings | a Measurement Group with the finding's label as comment |
//! | the document | Lung-RADS category (coded), Finding (the findings text), Impression, Recommendation and each addendum (as Comment), as text |
//!
//! Findings that are pending or rejected are never written.

use dicom_object::InMemDicomObject;
use mira_sr::codes::{dcm, mira as mira_codes, sct, ucum};
use mira_sr::model::{
    Algorithm, Code, DeviceObserver, DocumentInfo, Evaluation, FindingSite, GraphicType,
    ImageReference, ImageSelection, Language as SrLanguage, Measurement, MeasurementGroup,
    MeasurementReport, NumericValue, Observer, PersonObserver, Region, ReportStatus, Subject,
    VerifyingObserver,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::templates::is_reported;
use crate::{DrGrade, Finding, FindingSource, Language, Laterality, ReportError, SignedReport};

/// Series Number of signed-report SRs (AI drafts use 9901).
pub const SERIES_NUMBER: i32 = 9902;

fn lung_rads_code(category: &str) -> Code {
    match mira_codes::lung_rads(category) {
        Some(code) => code.code(),
        None => {
            let other = category.trim().to_ascii_uppercase();
            Code::new(
                format!("LRADS-{other}"),
                mira_codes::SCHEME,
                format!("Lung-RADS {other}"),
            )
        }
    }
}

fn icdr_code(grade: &DrGrade) -> Code {
    if !grade.gradable {
        return mira_codes::UNGRADABLE.code();
    }
    match grade
        .grade
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("none") => mira_codes::ICDR_NO_APPARENT.code(),
        Some("mild") => mira_codes::ICDR_MILD_NPDR.code(),
        Some("moderate") => mira_codes::ICDR_MODERATE_NPDR.code(),
        Some("severe") => mira_codes::ICDR_SEVERE_NPDR.code(),
        Some("proliferative") => mira_codes::ICDR_PDR.code(),
        _ => mira_codes::UNGRADABLE.code(),
    }
}

fn laterality_code(laterality: Option<Laterality>) -> Option<Code> {
    match laterality? {
        Laterality::Left => Some(sct::LEFT.code()),
        Laterality::Right => Some(sct::RIGHT.code()),
        Laterality::Both => Some(sct::RIGHT_AND_LEFT.code()),
    }
}

/// The lobe named in a location (Chinese or English); the lung otherwise.
fn lung_site(location: Option<&str>) -> Code {
    let location = location.unwrap_or("").to_lowercase();
    if location.contains("上叶") || location.contains("upper") {
        sct::UPPER_LOBE_OF_LUNG.code()
    } else if location.contains("中叶") || location.contains("middle") {
        sct::MIDDLE_LOBE_OF_RIGHT_LUNG.code()
    } else if location.contains("下叶") || location.contains("lower") {
        sct::LOWER_LOBE_OF_LUNG.code()
    } else {
        sct::LUNG.code()
    }
}

fn decimal(value: f64, places: usize) -> Result<NumericValue, ReportError> {
    Ok(NumericValue::parse(&format!("{value:.places$}"))?)
}

/// A signature time as DICOM DA, TM and DT (with its UTC offset).
fn dicom_times(signed_at: &str) -> Result<(String, String, String), ReportError> {
    let t = OffsetDateTime::parse(signed_at.trim(), &Rfc3339).map_err(|_| {
        ReportError::InvalidTimestamp {
            field: "signed_at",
            value: signed_at.to_owned(),
        }
    })?;
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let time = format!("{:02}{:02}{:02}", t.hour(), t.minute(), t.second());
    let offset = t.offset();
    let minutes = offset.whole_minutes();
    let sign = if minutes < 0 { '-' } else { '+' };
    let dt = format!(
        "{date}{time}{sign}{:02}{:02}",
        minutes.unsigned_abs() / 60,
        minutes.unsigned_abs() % 60
    );
    Ok((date, time, dt))
}

/// A physician's name as DICOM PN: the display name, with the login name as the alphabetic
/// group when the display name is not ASCII (`wang^=王医生^`). A name without components is
/// written as the family name (`^` appended), since a bare single name is the retired form.
fn physician_pn(user: &str, display_name: &str) -> String {
    let component = |s: &str| {
        let s = s.replace(['\\', '='], " ");
        if s.contains('^') { s } else { format!("{s}^") }
    };
    if display_name.is_ascii() {
        component(display_name)
    } else {
        format!("{}={}", component(user), component(display_name))
    }
}

/// The image a finding was marked on, as a library entry and a region; `None` when the
/// image is not among the study's known instances.
fn finding_region(
    finding: &Finding,
    report: &SignedReport,
    source_ref: Option<&ImageReference>,
) -> Option<(ImageReference, Region)> {
    let image = finding.image.as_ref()?;
    let header = &report.document.header;
    let sop_class = header
        .series
        .iter()
        .flat_map(|s| &s.instances)
        .find(|i| i.sop_instance_uid == image.sop_instance_uid)
        .map(|i| i.sop_class_uid.clone())
        .or_else(|| {
            source_ref
                .filter(|r| r.sop_instance_uid == image.sop_instance_uid)
                .map(|r| r.sop_class_uid.clone())
        })?;
    let points: Vec<[f32; 2]> = match image.shape.as_str() {
        "box" if image.points.len() == 2 => {
            let [[x0, y0], [x1, y1]] = [image.points[0], image.points[1]];
            [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
                .iter()
                .map(|p| [p[0] as f32, p[1] as f32])
                .collect()
        }
        _ if image.points.len() >= 2 => image
            .points
            .iter()
            .map(|p| [p[0] as f32, p[1] as f32])
            .collect(),
        _ => return None,
    };
    let reference = ImageReference {
        study_instance_uid: header.study_instance_uid.clone(),
        series_instance_uid: image.series_instance_uid.clone(),
        sop_class_uid: sop_class,
        sop_instance_uid: image.sop_instance_uid.clone(),
    };
    let region = Region::Image {
        graphic_type: GraphicType::Polyline,
        points,
        image: ImageSelection {
            sop_instance_uid: image.sop_instance_uid.clone(),
            frame: image.frame,
        },
    };
    Some((reference, region))
}

fn algorithm(finding: &Finding) -> Option<Algorithm> {
    match &finding.source {
        FindingSource::Ai { analyzer, version } => Some(Algorithm {
            name: analyzer.clone(),
            version: version.clone(),
        }),
        FindingSource::Physician { .. } => None,
    }
}

fn decision_comment(finding: &Finding, language: Language) -> String {
    let zh = language == Language::ZhCn;
    match (&finding.decision, &finding.source, zh) {
        (crate::Decision::Added, _, true) => "医师添加".into(),
        (crate::Decision::Added, _, false) => "added by the physician".into(),
        (crate::Decision::Edited, _, true) => "AI所见，医师修改后接受".into(),
        (crate::Decision::Edited, _, false) => {
            "AI finding, edited and accepted by the physician".into()
        }
        (_, FindingSource::Physician { .. }, true) => "医师所见".into(),
        (_, FindingSource::Physician { .. }, false) => "physician's finding".into(),
        (_, _, true) => "AI所见，医师接受".into(),
        (_, _, false) => "AI finding, accepted by the physician".into(),
    }
}

fn nodule_group(
    n: usize,
    finding: &Finding,
    report: &SignedReport,
    region: Option<Region>,
) -> Result<MeasurementGroup, ReportError> {
    let language = report.document.language;
    let nodule = finding.nodule.as_ref().expect("a nodule finding");
    let mm =
        |concept: Code, value: f64, derivation: Option<Code>| -> Result<Measurement, ReportError> {
            Ok(Measurement {
                concept,
                value: decimal(value, 1)?,
                unit: ucum::MILLIMETER.code(),
                derivation,
                method: None,
                region: None,
            })
        };
    let mut measurements = vec![
        mm(sct::LONG_AXIS.code(), nodule.long_axis_mm, None)?,
        mm(sct::SHORT_AXIS.code(), nodule.short_axis_mm, None)?,
        mm(
            sct::DIAMETER.code(),
            nodule.mean_diameter_mm,
            Some(sct::MEAN.code()),
        )?,
    ];
    if let Some(volume) = nodule.volume_mm3 {
        measurements.push(Measurement {
            concept: sct::VOLUME.code(),
            value: decimal(volume, 0)?,
            unit: ucum::CUBIC_MILLIMETER.code(),
            derivation: None,
            method: None,
            region: None,
        });
    }
    if let Some(solid) = nodule.solid_component_mm {
        measurements.push(mm(
            mira_codes::SOLID_COMPONENT_MEAN_DIAMETER.code(),
            solid,
            Some(sct::MEAN.code()),
        )?);
    }
    let attenuation = match nodule.attenuation.as_str() {
        "part-solid" => mira_codes::PART_SOLID.code(),
        "ground-glass" => dcm::GROUND_GLASS_OPACITY.code(),
        _ => mira_codes::SOLID.code(),
    };
    let mut evaluations = vec![Evaluation::Coded {
        concept: mira_codes::ATTENUATION_TYPE.code(),
        value: attenuation,
    }];
    if let Some(category) = nodule.category.as_deref() {
        evaluations.push(Evaluation::Coded {
            concept: mira_codes::LUNG_RADS_CATEGORY.code(),
            value: lung_rads_code(category),
        });
    }
    let mut comments = Vec::new();
    if let Some(location) = finding.location.as_deref().filter(|l| !l.is_empty()) {
        comments.push(location.to_owned());
    }
    if let Some(status) = nodule.status.as_deref() {
        comments.push(status.to_owned());
    }
    comments.push(decision_comment(finding, language));
    Ok(MeasurementGroup {
        tracking_identifier: format!("Nodule {n}"),
        tracking_uid: None,
        finding: Some(sct::NODULE.code()),
        finding_site: Some(FindingSite {
            site: lung_site(finding.location.as_deref()),
            laterality: laterality_code(finding.laterality),
        }),
        algorithm: algorithm(finding),
        region,
        measurements,
        evaluations,
        comments: vec![comments.join("; ")],
    })
}

fn dr_group(grade: &DrGrade) -> MeasurementGroup {
    let eye = match grade.eye {
        Laterality::Right => "right eye",
        Laterality::Left => "left eye",
        Laterality::Both => "both eyes",
    };
    MeasurementGroup {
        tracking_identifier: format!("DR {eye}"),
        tracking_uid: None,
        finding: Some(mira_codes::DIABETIC_RETINOPATHY.code()),
        finding_site: Some(FindingSite {
            site: sct::RETINA.code(),
            laterality: laterality_code(Some(grade.eye)),
        }),
        algorithm: None,
        region: None,
        measurements: Vec::new(),
        evaluations: vec![
            Evaluation::Coded {
                concept: mira_codes::ICDR_SEVERITY.code(),
                value: icdr_code(grade),
            },
            Evaluation::Coded {
                concept: mira_codes::REFERABLE_DR.code(),
                value: if grade.referable || !grade.gradable {
                    sct::YES.code()
                } else {
                    sct::NO.code()
                },
            },
        ],
        comments: Vec::new(),
    }
}

/// The signed report as a DICOM SR data set (Comprehensive SR, or Comprehensive 3D SR),
/// joining the study of `source`, any image of the study (its Patient and General Study
/// modules are copied).
pub fn signed_report_sr(
    report: &SignedReport,
    source: &InMemDicomObject,
) -> Result<InMemDicomObject, ReportError> {
    Ok(signed_report_document(report, source)?.dataset)
}

/// As [`signed_report_sr`], with the document's UIDs and IOD (for writing a Part 10 file with
/// [`mira_sr::SrDocument::write_file`]).
pub fn signed_report_document(
    report: &SignedReport,
    source: &InMemDicomObject,
) -> Result<mira_sr::SrDocument, ReportError> {
    Ok(mira_sr::to_dataset(&measurement_report(report, source)?)?)
}

/// The TID 1500 model of a signed report, before it is written.
pub fn measurement_report(
    report: &SignedReport,
    source: &InMemDicomObject,
) -> Result<MeasurementReport, ReportError> {
    let doc = &report.document;
    let subject = Subject::from_source(source)?;
    let source_ref = ImageReference::from_source(source).ok();
    let (date, time, datetime) = dicom_times(&report.signature.signed_at)?;
    let mut document = DocumentInfo::mira(None, SERIES_NUMBER, date, time);
    document.instance_number = i32::try_from(report.version).unwrap_or(i32::MAX);
    document.series_description = Some(match doc.language {
        Language::ZhCn => "影像诊断报告（已签署）".to_owned(),
        Language::En => "Signed imaging report".to_owned(),
    });
    document.institution_name = doc.header.site_name.clone();
    let organization = doc
        .header
        .site_name
        .clone()
        .unwrap_or_else(|| "mira".to_owned());
    let physician = physician_pn(&report.signature.user, &report.signature.display_name);
    let mut observers = vec![Observer::Person(PersonObserver {
        name: physician.clone(),
        organization: Some(organization.clone()),
    })];
    let reported: Vec<&Finding> = doc
        .findings
        .iter()
        .filter(|f| is_reported(&f.decision))
        .collect();
    let analyzers: Vec<(String, String)> = reported
        .iter()
        .filter_map(|f| match &f.source {
            FindingSource::Ai { analyzer, version } => Some((analyzer.clone(), version.clone())),
            FindingSource::Physician { .. } => None,
        })
        .fold(Vec::new(), |mut list, a| {
            if !list.contains(&a) {
                list.push(a);
            }
            list
        });
    if let Some((analyzer, version)) = analyzers.first() {
        observers.push(Observer::Device(DeviceObserver {
            uid: mira_sr::generate_uid(None),
            name: Some(format!("mira {analyzer}")),
            manufacturer: Some("mira".into()),
            model_name: Some(format!("{analyzer} {version}")),
        }));
    }
    let mut image_library: Vec<ImageReference> = Vec::new();
    let mut groups = Vec::new();
    let mut nodules = 0;
    for finding in &reported {
        let region = finding_region(finding, report, source_ref.as_ref()).map(|(r, region)| {
            if !image_library.contains(&r) {
                image_library.push(r);
            }
            region
        });
        if finding.nodule.is_some() {
            nodules += 1;
            groups.push(nodule_group(nodules, finding, report, region)?);
        } else if finding.dr.is_none() {
            groups.push(MeasurementGroup {
                tracking_identifier: format!("Finding {}", groups.len() + 1),
                tracking_uid: None,
                finding: Some(sct::LESION.code()),
                finding_site: None,
                algorithm: algorithm(finding),
                region,
                measurements: Vec::new(),
                evaluations: Vec::new(),
                comments: vec![finding.label.clone()],
            });
        }
    }
    groups.extend(doc.dr.iter().map(dr_group));
    let mut evaluations = Vec::new();
    if let Some(category) = doc.lung_rads.as_deref().filter(|c| !c.trim().is_empty()) {
        evaluations.push(Evaluation::Coded {
            concept: mira_codes::LUNG_RADS_CATEGORY.code(),
            value: lung_rads_code(category),
        });
    }
    for (concept, text) in [
        (dcm::FINDING.code(), &doc.findings_text),
        (dcm::IMPRESSION.code(), &doc.impression),
        (dcm::RECOMMENDATION.code(), &doc.recommendation),
    ] {
        if !text.trim().is_empty() {
            evaluations.push(Evaluation::Text {
                concept,
                text: text.trim().to_owned(),
            });
        }
    }
    for (text, signature) in &report.addenda {
        evaluations.push(Evaluation::Text {
            concept: dcm::COMMENT.code(),
            text: format!(
                "{} ({} {})",
                text.trim(),
                signature.display_name,
                signature.signed_at
            ),
        });
    }
    let ct = doc
        .header
        .modalities
        .iter()
        .any(|m| m.eq_ignore_ascii_case("CT"));
    Ok(MeasurementReport {
        subject,
        document,
        status: ReportStatus::Signed {
            verifying_observers: vec![VerifyingObserver {
                name: physician,
                organization,
                datetime,
            }],
        },
        observers,
        procedures_reported: vec![if ct {
            sct::COMPUTERIZED_AXIAL_TOMOGRAPHY.code()
        } else {
            sct::IMAGING_PROCEDURE.code()
        }],
        language: match doc.language {
            Language::ZhCn => SrLanguage::ZhCn,
            Language::En => SrLanguage::EnUs,
        },
        image_library,
        measurement_groups: groups,
        evaluations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_times_become_dicom_date_time_and_datetime() {
        let cases = [
            (
                "2026-11-20T10:15:00+08:00",
                ("20261120", "101500", "20261120101500+0800"),
            ),
            (
                "2026-11-20T02:15:09Z",
                ("20261120", "021509", "20261120021509+0000"),
            ),
            (
                "2026-01-02T23:59:59-05:30",
                ("20260102", "235959", "20260102235959-0530"),
            ),
        ];
        for (rfc, (d, t, dt)) in cases {
            assert_eq!(dicom_times(rfc).unwrap(), (d.into(), t.into(), dt.into()));
        }
        assert!(dicom_times("20261120").is_err());
    }

    #[test]
    fn locations_map_to_lobes() {
        for (location, code) in [
            (Some("右肺上叶"), sct::UPPER_LOBE_OF_LUNG.code()),
            (
                Some("right middle lobe"),
                sct::MIDDLE_LOBE_OF_RIGHT_LUNG.code(),
            ),
            (Some("左肺下叶"), sct::LOWER_LOBE_OF_LUNG.code()),
            (Some("肺门"), sct::LUNG.code()),
            (None, sct::LUNG.code()),
        ] {
            assert_eq!(lung_site(location), code);
        }
    }

    #[test]
    fn physician_names_are_pn() {
        assert_eq!(physician_pn("wang", "王医生"), "wang^=王医生^");
        assert_eq!(physician_pn("wang", "Wang^Wu"), "Wang^Wu");
        assert_eq!(physician_pn("wang", "Dr Wang"), "Dr Wang^");
        assert_eq!(physician_pn("a=b", "x\\y"), "x y^");
        assert_eq!(physician_pn("a=b", "王\\医生"), "a b^=王 医生^");
    }
}
