//! The chest-CT lung-nodule analyzer: `mira-lung` on every chest CT series that passed QC,
//! compared with the patient's latest earlier result, written back as a TID 1500 SR.

use std::path::PathBuf;

use dicom_object::OpenFileOptions;
use mira_lung::{LungOptions, LungReport, NoduleReport, PriorStudy, Volume};
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

/// Fewest slices worth analysing: a localiser or a handful of slices is not a chest CT.
const MIN_SLICES: usize = 20;

/// Words that say a series is of the chest (Body Part Examined, Series Description, Protocol
/// Name), in English and Chinese.
const CHEST_WORDS: [&str; 7] = ["CHEST", "LUNG", "THORAX", "THOR", "LDCT", "胸", "肺"];

/// The analyzer.
pub struct LungAnalyzer {
    options: LungOptions,
    language: Language,
}

impl LungAnalyzer {
    /// With the Lung-RADS v2022 profile, or the options given.
    pub fn new(options: LungOptions, language: Language) -> Self {
        LungAnalyzer { options, language }
    }
}

fn is_chest(series: &crate::SeriesView) -> bool {
    [
        &series.body_part_examined,
        &series.series_description,
        &series.protocol_name,
    ]
    .into_iter()
    .flatten()
    .any(|text| {
        let upper = text.to_uppercase();
        CHEST_WORDS.iter().any(|w| upper.contains(w))
    })
}

impl Analyzer for LungAnalyzer {
    fn name(&self) -> &str {
        "lung-ct"
    }

    fn version(&self) -> String {
        format!("mira-lung {}", mira_lung::VERSION)
    }

    /// CT series of the chest, with enough slices, whose series QC (completeness, spacing,
    /// tilt) did not fail; never what an analyzer derived.
    fn route(&self, study: &StudyView) -> Vec<JobSubject> {
        study
            .series
            .iter()
            .filter(|s| s.modality.as_deref() == Some("CT"))
            .filter(|s| s.instances.len() >= MIN_SLICES)
            .filter(|s| s.qc_outcome.as_deref() != Some("fail"))
            .filter(|s| is_chest(s))
            .filter(|s| {
                !s.instances
                    .iter()
                    .any(|i| i.received_from.starts_with("analysis:"))
            })
            .map(|s| JobSubject {
                level: SubjectLevel::Series,
                uid: s.series_instance_uid.clone(),
                instances: s
                    .instances
                    .iter()
                    .map(|i| (i.sop_instance_uid.clone(), i.blob_key.clone()))
                    .collect(),
            })
            .collect()
    }

    fn wants_priors(&self) -> bool {
        true
    }

    fn run(&self, input: &AnalysisInput) -> Result<AnalysisOutput, AnalyzerError> {
        let paths: Vec<PathBuf> = input.files.iter().map(|f| f.path.clone()).collect();
        // a series mira-lung cannot assemble (tilt, gaps, mixed) is refused with its reason
        let volume =
            Volume::from_paths(&paths).map_err(|e| AnalyzerError::Refused(e.to_string()))?;
        let current_date = input.study_date.clone().unwrap_or_default();
        let prior = input.priors.iter().find_map(|p| {
            let report: LungReport = serde_json::from_value(p.result.clone()).ok()?;
            PriorStudy::from_dates(report, &current_date)
        });
        let report = mira_lung::analyze(&volume, &self.options, prior.as_ref())
            .map_err(|e| AnalyzerError::Refused(e.to_string()))?;
        let sr = lung_sr(&report, &paths, input, self.language)?;
        let mut flags = Vec::new();
        let category = report.exam.category.as_str();
        flags.push(Flag {
            code: format!("lung-rads-{}", report.exam.label),
            label: format!("Lung-RADS {}", report.exam.label),
            // 4A and above: suspicious, read first
            urgent: matches!(category, "4A" | "4B" | "4X"),
        });
        if report
            .nodules
            .iter()
            .any(|n| n.status == "new" || n.status == "growing")
        {
            flags.push(Flag {
                code: "lung-nodule-new-or-growing".into(),
                label: "New or growing nodule".into(),
                urgent: false,
            });
        }
        Ok(AnalysisOutput {
            result: serde_json::to_value(&report)
                .map_err(|e| AnalyzerError::Failed(e.to_string()))?,
            flags,
            derived: vec![sr],
        })
    }
}

fn decimal(value: f64, places: usize) -> Result<NumericValue, AnalyzerError> {
    NumericValue::parse(&format!("{value:.places$}"))
        .map_err(|e| AnalyzerError::Failed(format!("SR value: {e}")))
}

fn lung_rads_code(category: &str) -> Code {
    match mira_codes::lung_rads(category) {
        Some(code) => code.code(),
        // another profile (Fleischner): its category as text in the private scheme
        None => Code::new(
            format!("CAT-{category}"),
            mira_codes::SCHEME,
            format!("Category {category}"),
        ),
    }
}

fn finding_site(nodule: &NoduleReport) -> FindingSite {
    let site = match nodule.lobe.as_str() {
        "right-upper" | "left-upper" => sct::UPPER_LOBE_OF_LUNG.code(),
        "right-middle" => sct::MIDDLE_LOBE_OF_RIGHT_LUNG.code(),
        "right-lower" | "left-lower" => sct::LOWER_LOBE_OF_LUNG.code(),
        _ => sct::LUNG.code(),
    };
    let laterality = match nodule.lung.as_str() {
        "right" => Some(sct::RIGHT.code()),
        "left" => Some(sct::LEFT.code()),
        _ => None,
    };
    FindingSite { site, laterality }
}

/// The TID 1500 SR of a lung report: one measurement group per nodule (long and short axis
/// drawn on the slice of greatest extent, mean diameter, volume, attenuation, category), and
/// the exam's category and management as the impression. An AI draft: PARTIAL, UNVERIFIED.
fn lung_sr(
    report: &LungReport,
    paths: &[PathBuf],
    input: &AnalysisInput,
    language: Language,
) -> Result<Vec<u8>, AnalyzerError> {
    let failed = |e: String| AnalyzerError::Failed(format!("SR: {e}"));
    let source = OpenFileOptions::new()
        .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
        .open_file(&paths[0])
        .map_err(|e| failed(e.to_string()))?;
    let subject = Subject::from_source(&source).map_err(|e| failed(e.to_string()))?;
    let mut image_library = Vec::new();
    let mut groups = Vec::new();
    for nodule in &report.nodules {
        let reference = ImageReference {
            study_instance_uid: subject.study_instance_uid.clone(),
            series_instance_uid: report.series_instance_uid.clone(),
            sop_class_uid: nodule.sop_class_uid.clone(),
            sop_instance_uid: nodule.sop_instance_uid.clone(),
        };
        if !image_library.contains(&reference) {
            image_library.push(reference);
        }
        let on_slice = |points: &[[f64; 2]; 2]| Region::Image {
            graphic_type: GraphicType::Polyline,
            points: points.iter().map(|p| [p[0] as f32, p[1] as f32]).collect(),
            image: ImageSelection {
                sop_instance_uid: nodule.sop_instance_uid.clone(),
                frame: None,
            },
        };
        let mut measurements = vec![
            Measurement {
                concept: sct::LONG_AXIS.code(),
                value: decimal(nodule.long_axis_mm, 1)?,
                unit: ucum::MILLIMETER.code(),
                derivation: None,
                method: None,
                region: Some(on_slice(&nodule.long_axis_px)),
            },
            Measurement {
                concept: sct::SHORT_AXIS.code(),
                value: decimal(nodule.short_axis_mm, 1)?,
                unit: ucum::MILLIMETER.code(),
                derivation: None,
                method: None,
                region: Some(on_slice(&nodule.short_axis_px)),
            },
            Measurement {
                concept: sct::DIAMETER.code(),
                value: decimal(nodule.mean_diameter_mm, 1)?,
                unit: ucum::MILLIMETER.code(),
                derivation: Some(sct::MEAN.code()),
                method: None,
                region: None,
            },
            Measurement {
                concept: sct::VOLUME.code(),
                value: decimal(nodule.volume_mm3 as f64, 0)?,
                unit: ucum::CUBIC_MILLIMETER.code(),
                derivation: None,
                method: None,
                region: None,
            },
        ];
        if let Some(solid) = nodule.solid_component_mm {
            measurements.push(Measurement {
                concept: mira_codes::SOLID_COMPONENT_MEAN_DIAMETER.code(),
                value: decimal(solid, 1)?,
                unit: ucum::MILLIMETER.code(),
                derivation: Some(sct::MEAN.code()),
                method: None,
                region: None,
            });
        }
        let attenuation = match nodule.attenuation.as_str() {
            "part-solid" => mira_codes::PART_SOLID.code(),
            "ground-glass" => dcm::GROUND_GLASS_OPACITY.code(),
            _ => mira_codes::SOLID.code(),
        };
        groups.push(MeasurementGroup {
            tracking_identifier: format!("Nodule {}", nodule.id),
            tracking_uid: Some(input.derived_uid(100 + nodule.id)),
            finding: Some(sct::NODULE.code()),
            finding_site: Some(finding_site(nodule)),
            algorithm: Some(Algorithm {
                name: report.algorithm.name.clone(),
                version: report.algorithm.version.clone(),
            }),
            region: None,
            measurements,
            evaluations: vec![
                Evaluation::Coded {
                    concept: mira_codes::ATTENUATION_TYPE.code(),
                    value: attenuation,
                },
                Evaluation::Coded {
                    concept: mira_codes::LUNG_RADS_CATEGORY.code(),
                    value: lung_rads_code(&nodule.category),
                },
            ],
            comments: vec![format!(
                "{} ({}); confidence {:.2}; {}",
                nodule.status, nodule.location, nodule.confidence, nodule.management
            )],
        });
    }
    let mut document = DocumentInfo::mira(None, 9901, "", "");
    let (date, time) = crate::now_date_time();
    document.content_date = date;
    document.content_time = time;
    document.series_description = Some("AI lung nodule analysis (draft)".into());
    document.uids = DocumentUids::Given {
        series_instance_uid: input.derived_uid(1),
        sop_instance_uid: input.derived_uid(0),
    };
    let sr = MeasurementReport {
        subject,
        document,
        status: ReportStatus::AiDraft,
        observers: vec![Observer::Device(DeviceObserver {
            uid: input.derived_uid(2),
            name: Some("mira lung-nodule analyzer".into()),
            manufacturer: Some("mira".into()),
            model_name: Some(format!(
                "{} {}",
                report.algorithm.name, report.algorithm.version
            )),
        })],
        procedures_reported: vec![sct::COMPUTERIZED_AXIAL_TOMOGRAPHY.code()],
        language,
        image_library,
        measurement_groups: groups,
        evaluations: vec![
            Evaluation::Coded {
                concept: mira_codes::LUNG_RADS_CATEGORY.code(),
                value: lung_rads_code(&report.exam.category),
            },
            Evaluation::Text {
                concept: dcm::IMPRESSION.code(),
                text: format!("{}: {}", report.profile.name, report.exam.label),
            },
            Evaluation::Text {
                concept: dcm::RECOMMENDATION.code(),
                text: report.exam.management.clone(),
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
