//! mira's fundus photograph analysis: lesion candidates and diabetic-retinopathy screening.
//!
//! # Overview
//!
//! A photograph (a DICOM Ophthalmic Photography instance, or a JPEG/PNG file with a sidecar
//! naming patient and eye: [`input`]) goes through:
//!
//! 1. **gradability** first, by `mira-qc`'s EyeQ grading (Good / Usable / Reject). A rejected
//!    photograph is "ungradable — re-image or refer", never "no retinopathy";
//! 2. the **classical analysis** ([`detect`]), which works out of the box on a working copy
//!    about 1,000 pixels wide: field-of-view mask, optic disc (brightness and vessel
//!    convergence), vessel map (line openings of the green channel's darkness), red-lesion
//!    candidates (microaneurysms, haemorrhages) and bright-lesion candidates (hard exudates),
//!    each with a box in the original image's pixels and a score, measured for features
//!    ([`CandidateFeatures`]: contrast against its surround, size, shape, colour, vessel
//!    contact, position), and
//!    an image-level lesion score: a logistic function of the bright and red candidates'
//!    strength and the fundus' choroidal (red-channel) texture, which tells tessellated
//!    normal fundi from lesions;
//! 3. an optional **model** ([`model`]): any ONNX DR classifier or lesion detector that
//!    `mira-models` runs from its manifest, with classes that map to ICDR levels or lesions;
//! 4. **screening** ([`screening`]) per the International Clinical DR scale (Wilkinson et al.,
//!    Ophthalmology 2003): no apparent retinopathy / microaneurysms only (mild NPDR) / more
//!    than mild → referable, stated with its deciding score and certainty; then per eye and per
//!    patient ([`screen_reports`]: the worst eye; an ungradable eye means re-image or refer).
//!
//! The result is a [`FundusReport`] (serde JSON, documented fields; everything a DICOM SR
//! needs, including the source's Study and SOP Instance UIDs) and, on request, an overlay PNG
//! ([`overlay`]) with the disc (green), red lesions (red) and bright lesions (yellow).
//! Every result is a draft for a physician: nothing here signs anything.
//!
//! # Example
//! ```no_run
//! let analyzer = mira_fundus::Analyzer::new();
//! let report = analyzer.analyze_path("0001.jpg".as_ref())?;
//! println!("{}: {}", report.source.path, report.screening.statement);
//! let patients = mira_fundus::screen_reports(&[report]);
//! # Ok::<(), mira_fundus::FundusError>(())
//! ```
//!
//! # Invariants
//!
//! - No network, no storage, no logging of patient values; the only I/O is reading the files
//!   given and writing the overlay asked for.
//! - A photograph QC grades Reject is never reported as "no retinopathy".
//! - Errors name the file and the reason ([`FundusError`]); no panic on a hostile file.
#![warn(missing_docs)]

pub mod detect;
pub mod input;
pub mod model;
pub mod overlay;
pub mod plane;
pub mod screening;

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use detect::{
    Analysis, CandidateFeatures, FieldOfView, ImageFeatures, Lesion, LesionKind, OpticDisc,
    Parameters, PixelBox, StageTime,
};
pub use input::{Laterality, Photograph, Source, SourceFormat};
pub use model::{FundusModel, ModelOutput};
pub use screening::{
    Certainty, EyeScreening, Findings, PatientScreening, Screening, ScreeningResult,
};

/// The report's schema identifier; it changes when a field changes meaning or goes away.
pub const REPORT_SCHEMA: &str = "mira.fundus.report/1";

/// The classical algorithm's name and version in reports.
pub const ALGORITHM: &str = concat!("mira-fundus classical ", env!("CARGO_PKG_VERSION"));

/// Why a photograph could not be analysed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FundusError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Neither DICOM, JPEG nor PNG.
    #[error("{path}: not a DICOM, JPEG or PNG file")]
    UnsupportedFormat {
        /// The file.
        path: String,
    },
    /// The pixels could not be decoded.
    #[error("{path}: cannot decode: {reason}")]
    Decode {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A DICOM instance that is not an ophthalmic photograph.
    #[error("{path}: modality {modality}, not OP (ophthalmic photography)")]
    NotFundus {
        /// The file.
        path: String,
        /// Its Modality.
        modality: String,
    },
    /// The sidecar is not valid.
    #[error("{path}: invalid sidecar: {reason}")]
    Sidecar {
        /// The sidecar file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The model's manifest or graph was refused by `mira-models`.
    #[error("model {path}: {source}")]
    ModelLoad {
        /// The manifest.
        path: String,
        /// Why.
        source: mira_models::LoadError,
    },
    /// A class label of the model has no fundus meaning.
    #[error(
        "model {path}: class label {label:?} has no fundus meaning (see mira_fundus::model for the labels)"
    )]
    ModelClasses {
        /// The manifest.
        path: String,
        /// The label.
        label: String,
    },
    /// The model's task is neither classification nor detection.
    #[error("model {path}: task {task} is not used for fundus photographs")]
    ModelTask {
        /// The manifest.
        path: String,
        /// The task.
        task: String,
    },
    /// The model failed on this photograph.
    #[error("{path}: model {model} failed: {source}")]
    ModelRun {
        /// The photograph.
        path: String,
        /// The model's id.
        model: String,
        /// Why.
        source: mira_models::RunError,
    },
    /// The overlay could not be written.
    #[error("{path}: cannot write the overlay: {reason}")]
    Overlay {
        /// The overlay file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Gradability as QC found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gradability {
    /// `Good`, `Usable` or `Reject` (EyeQ).
    pub grade: mira_qc::Grade,
    /// Whether the photograph can be graded (Good or Usable).
    pub gradable: bool,
    /// QC's quality score (1 at the nearest threshold, higher is better).
    pub quality_score: Option<f64>,
    /// The QC checks that did not pass, as `rule: message`.
    pub problems: Vec<String>,
}

/// The algorithm that produced a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Algorithm {
    /// [`ALGORITHM`].
    pub name: String,
    /// Original pixels per working pixel.
    pub working_factor: usize,
}

/// Everything found about one photograph: the stable JSON report.
///
/// Fields are added, never renamed or removed, without a new [`REPORT_SCHEMA`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FundusReport {
    /// [`REPORT_SCHEMA`].
    pub schema: String,
    /// The file, its format and size, patient, laterality and (DICOM) UIDs.
    pub source: Source,
    /// QC's gradability.
    pub gradability: Gradability,
    /// The field of view (original pixels), when found.
    pub field_of_view: Option<FieldOfView>,
    /// The optic disc (original pixels), when found.
    pub optic_disc: Option<OpticDisc>,
    /// Fraction of the field taken by the vessel map.
    pub vessel_fraction: f64,
    /// Lesion candidates, highest score first; boxes in original pixels.
    pub lesions: Vec<Lesion>,
    /// 0..1 image-level lesion score ([`detect::ImageFeatures::lesion_score`]: bright and red
    /// candidate strength against the fundus' choroidal texture), not calibrated against a
    /// grader.
    pub lesion_score: f64,
    /// The image-wide measures the lesion score is computed from.
    pub image_features: ImageFeatures,
    /// The counts screening used (candidates at or above the threshold).
    pub findings: Findings,
    /// The screening statement.
    pub screening: Screening,
    /// The model's output, when a model was given.
    pub model: Option<ModelOutput>,
    /// The classical algorithm.
    pub algorithm: Algorithm,
    /// Milliseconds per stage: decode, gradability, the analysis stages, model, screening.
    pub timings: Vec<StageTime>,
    /// Remarks, e.g. laterality unknown; always that the result is a draft.
    pub notes: Vec<String>,
}

/// Analyses photographs: the classical analysis, gradability rules and an optional model.
#[derive(Debug)]
pub struct Analyzer {
    parameters: Parameters,
    rules: mira_qc::RuleSet,
    model: Option<FundusModel>,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer::new()
    }
}

impl Analyzer {
    /// The classical analysis with default parameters and QC's default rules; no model.
    pub fn new() -> Analyzer {
        Analyzer {
            parameters: Parameters::default(),
            rules: mira_qc::RuleSet::default(),
            model: None,
        }
    }

    /// Uses QC rules with a site's overrides for gradability.
    pub fn with_rules(mut self, rules: mira_qc::RuleSet) -> Analyzer {
        self.rules = rules;
        self
    }

    /// Loads a model from its manifest ([`FundusModel::load`]).
    pub fn with_model(mut self, manifest: &Path) -> Result<Analyzer, FundusError> {
        self.model = Some(FundusModel::load(manifest)?);
        Ok(self)
    }

    /// Reads and analyses one file.
    pub fn analyze_path(&self, path: &Path) -> Result<FundusReport, FundusError> {
        let start = Instant::now();
        let photo = input::read(path)?;
        let decode_ms = start.elapsed().as_secs_f64() * 1000.0;
        let mut report = self.analyze(&photo)?;
        report.timings.insert(
            0,
            StageTime {
                stage: "decode".into(),
                ms: decode_ms,
            },
        );
        Ok(report)
    }

    /// Analyses a decoded photograph.
    pub fn analyze(&self, photo: &Photograph) -> Result<FundusReport, FundusError> {
        let mut timings = Vec::new();
        let mut last = Instant::now();
        let mut lap = |timings: &mut Vec<StageTime>, stage: &str| {
            let now = Instant::now();
            if !stage.is_empty() {
                timings.push(StageTime {
                    stage: stage.into(),
                    ms: (now - last).as_secs_f64() * 1000.0,
                });
            }
            last = now;
        };
        let ctx = mira_qc::instance::Context::now(&self.rules);
        let qc = mira_qc::check_photo(&ctx, &photo.source.path, &photo.image);
        let grade = qc.grade.unwrap_or(mira_qc::Grade::Reject);
        let gradability = Gradability {
            grade,
            gradable: grade.is_gradable(),
            quality_score: qc.measurements.get("quality_score").copied(),
            problems: qc
                .findings()
                .map(|c| format!("{}: {}", c.rule, c.message))
                .collect(),
        };
        lap(&mut timings, "gradability");

        let analysis = detect::analyze_pixels(&photo.image, &self.parameters);
        timings.extend(analysis.timings.iter().cloned());
        let mut lesions = analysis.lesions.clone();
        lap(&mut timings, ""); // the analysis' own stages cover that span

        let mut model_output = None;
        if let Some(model) = &self.model {
            let dynamic = image::DynamicImage::ImageRgb8(photo.image.clone());
            let (out, found) = model.run(&dynamic, &photo.source.path)?;
            lesions.extend(found);
            lesions.sort_by(|a, b| b.score.total_cmp(&a.score));
            model_output = Some(out);
            lap(&mut timings, "model");
        }

        let findings = findings_of(&analysis, &lesions, gradability.gradable);
        let classical = screening::screen(&findings);
        let mut result = classical;
        let mut basis = "classical".to_string();
        let counted = |l: &&Lesion| l.score >= screening::CANDIDATE_THRESHOLD;
        let top = lesions.iter().map(|l| l.score).fold(0.0, f64::max);
        let mut deciding = match classical {
            ScreeningResult::NoApparentRetinopathy | ScreeningResult::Ungradable => top,
            _ => lesions
                .iter()
                .filter(counted)
                .map(|l| l.score)
                .fold(0.0, f64::max),
        };
        let mut threshold = screening::CANDIDATE_THRESHOLD;
        if let Some(m) = model_output.as_ref().and_then(|m| m.result.map(|r| (m, r)))
            && gradability.gradable
            && m.1 > result
        {
            result = m.1;
            basis = "classical+model".into();
            deciding = m.0.referable_probability.unwrap_or(0.0);
            threshold = 0.5;
        }
        let screening = Screening {
            result,
            statement: result.statement().into(),
            referable: result.needs_action(),
            deciding_score: deciding,
            threshold,
            certainty: if result == ScreeningResult::Ungradable {
                Certainty::NotApplicable
            } else {
                screening::certainty(deciding, threshold)
            },
            lesion_score: analysis.lesion_score,
            basis,
        };
        lap(&mut timings, "screening");

        let mut notes = vec![
            "AI draft for a physician: not a diagnosis until a physician signs it".to_string(),
        ];
        if photo.source.laterality == Laterality::Unknown {
            notes.push(format!(
                "laterality unknown: {}",
                photo.source.laterality_source
            ));
        }
        if !gradability.gradable {
            notes
                .push("QC graded the photograph Reject: no retinopathy result can be given".into());
        }
        if analysis.field.is_none() {
            notes.push("no fundus field of view found".into());
        }
        Ok(FundusReport {
            schema: REPORT_SCHEMA.into(),
            source: photo.source.clone(),
            gradability,
            field_of_view: analysis.field,
            optic_disc: analysis.disc,
            vessel_fraction: analysis.vessel_fraction,
            lesions,
            lesion_score: analysis.lesion_score,
            image_features: analysis.image_features,
            findings,
            screening,
            model: model_output,
            algorithm: Algorithm {
                name: ALGORITHM.into(),
                working_factor: analysis.factor,
            },
            timings,
            notes,
        })
    }
}

/// Counts the candidates at or above [`screening::CANDIDATE_THRESHOLD`] by kind and size.
fn findings_of(analysis: &Analysis, lesions: &[Lesion], gradable: bool) -> Findings {
    let mut f = Findings {
        gradable,
        ..Findings::default()
    };
    let (disc_d, centre) = match (analysis.disc, analysis.field) {
        (Some(d), Some(fov)) => (2.0 * d.radius, fov.centre),
        _ => (f64::INFINITY, (0.0, 0.0)),
    };
    let ma_limit = screening::MICROANEURYSM_DISC_FRACTION * disc_d;
    for l in lesions
        .iter()
        .filter(|l| l.score >= screening::CANDIDATE_THRESHOLD)
    {
        match l.kind {
            LesionKind::Bright => f.exudates += 1,
            LesionKind::Red => {
                let diameter = 2.0 * (l.area_px as f64 / std::f64::consts::PI).sqrt();
                if diameter <= ma_limit {
                    f.microaneurysms += 1;
                } else {
                    f.haemorrhages += 1;
                    let (x, y) = l.bbox.centre();
                    let q = usize::from(x >= centre.0) + 2 * usize::from(y >= centre.1);
                    f.haemorrhages_per_quadrant[q] += 1;
                }
            }
        }
    }
    f
}

/// Screens photographs per eye and per patient ([`screening::screen_patients`]).
pub fn screen_reports(reports: &[FundusReport]) -> Vec<PatientScreening> {
    let images: Vec<screening::EyeImage<'_>> = reports
        .iter()
        .map(|r| screening::EyeImage {
            patient_id: r.source.patient_id.as_deref(),
            laterality: r.source.laterality,
            path: &r.source.path,
            result: r.screening.result,
            lesion_score: r.lesion_score,
        })
        .collect();
    screening::screen_patients(&images)
}
