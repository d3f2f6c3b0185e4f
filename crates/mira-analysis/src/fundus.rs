//! The fundus DR-screening analyzer: `mira-fundus` on the ophthalmic photographs of a study,
//! each eye then the patient, written back as a TID 1500 SR (lesion boxes on each image, the
//! ICDR result and the referable decision). Ungradable is never "no retinopathy".

use dicom_object::OpenFileOptions;
use mira_fundus::{FundusReport, LesionKind, ScreeningResult};
use mira_sr::codes::{dcm, mira as mira_codes, sct, ucum};
use mira_sr::model::{
    Algorithm, Code, DeviceObserver, DocumentInfo, DocumentUids, Evaluation, FindingSite,
    GraphicType, ImageReference, ImageSelection, Language, Measurement, MeasurementGroup,
    MeasurementReport, NumericValue, Observer, Region, ReportStatus, Subject,
};

use crate::analyzer::{
    AnalysisInput, AnalysisOutput, Analyzer, AnalyzerError, Flag, StudyView, Subject as JobSubject,
    SubjectLevel,
};

/// Ophthalmic Photography 8 Bit Image Storage; 24-bit colour cameras use it too.
const OPHTHALMIC_PHOTOGRAPHY_8BIT: &str = "1.2.840.10008.5.1.4.1.1.77.1.5.1";
/// VL Photographic Image Storage (fundus cameras that write general photographs).
const VL_PHOTOGRAPHIC: &str = "1.2.840.10008.5.1.4.1.1.77.1.4";

/// Lesion boxes written to the SR per image: the strongest candidates, enough for review.
const MAX_LESIONS_IN_SR: usize = 20;

/// The analyzer.
pub struct FundusAnalyzer {
    analyzer: mira_fundus::Analyzer,
    language: Language,
}

impl FundusAnalyzer {
    /// Over a configured `mira-fundus` analyzer (rules, optional model).
    pub fn new(analyzer: mira_fundus::Analyzer, language: Language) -> Self {
        FundusAnalyzer { analyzer, language }
    }
}

impl Analyzer for FundusAnalyzer {
    fn name(&self) -> &str {
        "fundus-dr"
    }

    fn version(&self) -> String {
        mira_fundus::ALGORITHM.to_string()
    }

    /// The study's ophthalmic photographs (modality OP, or an OP / VL photographic SOP
    /// class), all of them in one job: screening is per eye, then per patient. Gradability
    /// is decided inside, so ungradable images are analysed too (and say so).
    fn route(&self, study: &StudyView) -> Vec<JobSubject> {
        let instances: Vec<(String, String)> = study
            .series
            .iter()
            .flat_map(|s| s.instances.iter().map(move |i| (s, i)))
            .filter(|(s, i)| {
                (s.modality.as_deref() == Some("OP")
                    || i.sop_class_uid == OPHTHALMIC_PHOTOGRAPHY_8BIT
                    || (i.sop_class_uid == VL_PHOTOGRAPHIC && s.modality.as_deref() == Some("XC")))
                    && !i.received_from.starts_with("analysis:")
            })
            .map(|(_, i)| (i.sop_instance_uid.clone(), i.blob_key.clone()))
            .collect();
        if instances.is_empty() {
            return Vec::new();
        }
        vec![JobSubject {
            level: SubjectLevel::Study,
            uid: study.study_instance_uid.clone(),
            instances,
        }]
    }

    fn run(&self, input: &AnalysisInput) -> Result<AnalysisOutput, AnalyzerError> {
        let mut reports = Vec::new();
        // the SOP Instance UID of each report, in the same order, for the reading workflow
        let mut instances = Vec::new();
        let mut refused = Vec::new();
        for file in &input.files {
            match self.analyzer.analyze_path(&file.path) {
                Ok(report) => {
                    reports.push(report);
                    instances.push(file.sop_instance_uid.clone());
                }
                // one unreadable photograph does not sink the others; it is said
                Err(e) => refused.push(e.to_string()),
            }
        }
        if reports.is_empty() {
            return Err(AnalyzerError::Refused(format!(
                "no photograph could be analysed: {}",
                refused.join("; ")
            )));
        }
        let patients = mira_fundus::screen_reports(&reports);
        let worst = patients
            .iter()
            .map(|p| p.result)
            .max()
            .unwrap_or(ScreeningResult::Ungradable);
        let mut flags = Vec::new();
        match worst {
            ScreeningResult::ReferableUrgent => flags.push(Flag {
                code: "dr-referable-urgent".into(),
                label: "Referable DR (urgent)".into(),
                urgent: true,
            }),
            ScreeningResult::Referable => flags.push(Flag {
                code: "dr-referable".into(),
                label: "Referable DR".into(),
                urgent: true,
            }),
            ScreeningResult::Ungradable => flags.push(Flag {
                code: "fundus-ungradable".into(),
                label: "Ungradable: re-image or refer".into(),
                urgent: false,
            }),
            _ => {}
        }
        let sr = fundus_sr(&reports, worst, input, self.language)?;
        Ok(AnalysisOutput {
            result: serde_json::json!({
                "patients": patients,
                "images": reports,
                "instances": instances,
                "refused": refused,
            }),
            flags,
            derived: vec![sr],
        })
    }
}

fn decimal(value: f64, places: usize) -> Result<NumericValue, AnalyzerError> {
    NumericValue::parse(&format!("{value:.places$}"))
        .map_err(|e| AnalyzerError::Failed(format!("SR value: {e}")))
}

fn icdr_code(result: ScreeningResult) -> Code {
    match result {
        ScreeningResult::NoApparentRetinopathy => mira_codes::ICDR_NO_APPARENT.code(),
        ScreeningResult::MildNpdr => mira_codes::ICDR_MILD_NPDR.code(),
        ScreeningResult::Ungradable => mira_codes::UNGRADABLE.code(),
        // referable: at least moderate NPDR (what the findings support; the grade beyond it
        // is the physician's)
        ScreeningResult::Referable => mira_codes::ICDR_MODERATE_NPDR.code(),
        ScreeningResult::ReferableUrgent => mira_codes::ICDR_SEVERE_NPDR.code(),
    }
}

/// One measurement group per lesion box (and one per eye for the result), on the image.
fn fundus_sr(
    reports: &[FundusReport],
    worst: ScreeningResult,
    input: &AnalysisInput,
    language: Language,
) -> Result<Vec<u8>, AnalyzerError> {
    let failed = |e: String| AnalyzerError::Failed(format!("SR: {e}"));
    let source = OpenFileOptions::new()
        .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
        .open_file(&input.files[0].path)
        .map_err(|e| failed(e.to_string()))?;
    let subject = Subject::from_source(&source).map_err(|e| failed(e.to_string()))?;
    let mut library = Vec::new();
    let mut groups = Vec::new();
    let algorithm = Algorithm {
        name: "mira-fundus".into(),
        version: mira_fundus::ALGORITHM.to_string(),
    };
    for (n, report) in reports.iter().enumerate() {
        let (Some(series), Some(sop), Some(class)) = (
            report.source.series_instance_uid.clone(),
            report.source.sop_instance_uid.clone(),
            report.source.sop_class_uid.clone(),
        ) else {
            continue;
        };
        library.push(ImageReference {
            study_instance_uid: subject.study_instance_uid.clone(),
            series_instance_uid: series,
            sop_class_uid: class,
            sop_instance_uid: sop.clone(),
        });
        let laterality = match report.source.laterality {
            mira_fundus::Laterality::Right => Some(sct::RIGHT.code()),
            mira_fundus::Laterality::Left => Some(sct::LEFT.code()),
            mira_fundus::Laterality::Unknown => None,
        };
        let site = FindingSite {
            site: sct::RETINA.code(),
            laterality,
        };
        let image = ImageSelection {
            sop_instance_uid: sop,
            frame: None,
        };
        // the image's result
        groups.push(MeasurementGroup {
            tracking_identifier: format!("Image {} ({})", n + 1, report.source.laterality.as_str()),
            tracking_uid: Some(input.derived_uid(1000 + n as u32)),
            finding: Some(mira_codes::DIABETIC_RETINOPATHY.code()),
            finding_site: Some(site.clone()),
            algorithm: Some(algorithm.clone()),
            region: None,
            measurements: vec![Measurement {
                concept: mira_codes::LESION_SCORE.code(),
                value: decimal(report.lesion_score, 3)?,
                unit: ucum::NO_UNITS.code(),
                derivation: None,
                method: None,
                region: None,
            }],
            evaluations: vec![
                Evaluation::Coded {
                    concept: mira_codes::ICDR_SEVERITY.code(),
                    value: icdr_code(report.screening.result),
                },
                Evaluation::Coded {
                    concept: mira_codes::REFERABLE_DR.code(),
                    value: if report.screening.referable {
                        sct::YES.code()
                    } else {
                        sct::NO.code()
                    },
                },
            ],
            comments: vec![report.screening.statement.clone()],
        });
        for (k, lesion) in report.lesions.iter().take(MAX_LESIONS_IN_SR).enumerate() {
            let b = lesion.bbox;
            let (x0, y0, x1, y1) = (
                b.x as f32,
                b.y as f32,
                (b.x + b.width) as f32,
                (b.y + b.height) as f32,
            );
            let finding = match lesion.kind {
                LesionKind::Red => sct::HEMORRHAGE.code(),
                LesionKind::Bright => mira_codes::HARD_EXUDATE.code(),
            };
            groups.push(MeasurementGroup {
                tracking_identifier: format!("Image {} lesion {}", n + 1, k + 1),
                tracking_uid: Some(input.derived_uid(100_000 + (n as u32) * 1000 + k as u32)),
                finding: Some(finding),
                finding_site: Some(site.clone()),
                algorithm: Some(algorithm.clone()),
                region: None,
                measurements: vec![Measurement {
                    concept: mira_codes::LESION_SCORE.code(),
                    value: decimal(lesion.score, 3)?,
                    unit: ucum::NO_UNITS.code(),
                    derivation: None,
                    method: None,
                    // the box, closed
                    region: Some(Region::Image {
                        graphic_type: GraphicType::Polyline,
                        points: vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]],
                        image: image.clone(),
                    }),
                }],
                evaluations: Vec::new(),
                comments: Vec::new(),
            });
        }
    }
    let mut document = DocumentInfo::mira(None, 9902, "", "");
    let (date, time) = crate::now_date_time();
    document.content_date = date;
    document.content_time = time;
    document.series_description = Some("AI DR screening (draft)".into());
    document.uids = DocumentUids::Given {
        series_instance_uid: input.derived_uid(1),
        sop_instance_uid: input.derived_uid(0),
    };
    let statement = match worst {
        ScreeningResult::Ungradable => "ungradable — re-image or refer".to_string(),
        ScreeningResult::Referable | ScreeningResult::ReferableUrgent => {
            "referable diabetic retinopathy — refer to ophthalmology".to_string()
        }
        ScreeningResult::MildNpdr => {
            "microaneurysms only (mild NPDR) — rescreen in 12 months".into()
        }
        ScreeningResult::NoApparentRetinopathy => {
            "no apparent diabetic retinopathy — rescreen in 12 months".into()
        }
    };
    let sr = MeasurementReport {
        subject,
        document,
        status: ReportStatus::AiDraft,
        observers: vec![Observer::Device(DeviceObserver {
            uid: input.derived_uid(2),
            name: Some("mira fundus analyzer".into()),
            manufacturer: Some("mira".into()),
            model_name: Some(mira_fundus::ALGORITHM.to_string()),
        })],
        procedures_reported: vec![mira_codes::FUNDUS_DR_SCREENING.code()],
        language,
        image_library: library,
        measurement_groups: groups,
        evaluations: vec![
            Evaluation::Coded {
                concept: mira_codes::ICDR_SEVERITY.code(),
                value: icdr_code(worst),
            },
            Evaluation::Coded {
                concept: mira_codes::REFERABLE_DR.code(),
                value: if matches!(
                    worst,
                    ScreeningResult::Referable | ScreeningResult::ReferableUrgent
                ) {
                    sct::YES.code()
                } else {
                    sct::NO.code()
                },
            },
            Evaluation::Text {
                concept: dcm::IMPRESSION.code(),
                text: statement,
            },
        ],
    };
    let document = mira_sr::to_dataset(&sr).map_err(|e| failed(e.to_string()))?;
    let file = document
        .into_file_object()
        .map_err(|e| failed(e.to_string()))?;
    let mut bytes = Vec::new();
    file.write_all(&mut bytes)
        .map_err(|e| failed(e.to_string()))?;
    Ok(bytes)
}
