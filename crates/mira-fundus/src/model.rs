//! Optional learned models for fundus analysis, run through `mira-models`: a DR classifier
//! whose classes map to ICDR levels (or to referable / non-referable), or a lesion detector
//! whose classes map to red and bright lesions.
//!
//! The manifest's class labels say what each class is; a label not listed here is refused on
//! load, so that a model can never be read with the wrong meaning.
//!
//! | task | labels (any of) | read as |
//! |---|---|---|
//! | classification | `no_apparent_retinopathy`, `no_dr`, `icdr_0` | no apparent retinopathy |
//! | | `mild_npdr`, `icdr_1` | mild NPDR (microaneurysms only) |
//! | | `moderate_npdr`, `icdr_2` | moderate NPDR: referable |
//! | | `severe_npdr`, `icdr_3`, `pdr`, `icdr_4` | severe NPDR or PDR: referable urgently |
//! | | `non_referable` / `referable` | binary referable DR |
//! | | `ungradable` | the model's own gradability class |
//! | detection | `microaneurysm`, `haemorrhage`, `hemorrhage`, `red_lesion` | red lesion |
//! | | `hard_exudate`, `exudate`, `bright_lesion` | bright lesion |
//!
//! The model's result joins the classical one conservatively: the worse of the two decides
//! (a model can raise a result to referable, never lower it), and an image QC graded Reject
//! stays ungradable whatever the model says.

use std::path::Path;

use image::DynamicImage;
use mira_models::{Model, Task};
use serde::{Deserialize, Serialize};

use crate::FundusError;
use crate::detect::{Lesion, LesionKind, PixelBox};
use crate::screening::ScreeningResult;

/// What a classifier class means for screening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassMeaning {
    /// ICDR no apparent retinopathy.
    NoApparentRetinopathy,
    /// ICDR mild NPDR.
    MildNpdr,
    /// ICDR moderate NPDR (referable).
    ModerateNpdr,
    /// ICDR severe NPDR or PDR (vision-threatening: urgent).
    SevereOrProliferative,
    /// Not referable (binary models).
    NonReferable,
    /// Referable (binary models).
    Referable,
    /// The model's own "cannot grade".
    Ungradable,
}

impl ClassMeaning {
    fn of_label(label: &str) -> Option<ClassMeaning> {
        Some(match label {
            "no_apparent_retinopathy" | "no_dr" | "icdr_0" => ClassMeaning::NoApparentRetinopathy,
            "mild_npdr" | "icdr_1" => ClassMeaning::MildNpdr,
            "moderate_npdr" | "icdr_2" => ClassMeaning::ModerateNpdr,
            "severe_npdr" | "icdr_3" | "pdr" | "icdr_4" => ClassMeaning::SevereOrProliferative,
            "non_referable" => ClassMeaning::NonReferable,
            "referable" => ClassMeaning::Referable,
            "ungradable" => ClassMeaning::Ungradable,
            _ => return None,
        })
    }

    fn is_referable(self) -> bool {
        matches!(
            self,
            ClassMeaning::ModerateNpdr
                | ClassMeaning::SevereOrProliferative
                | ClassMeaning::Referable
        )
    }
}

fn lesion_of_label(label: &str) -> Option<LesionKind> {
    Some(match label {
        "microaneurysm" | "haemorrhage" | "hemorrhage" | "red_lesion" => LesionKind::Red,
        "hard_exudate" | "exudate" | "bright_lesion" => LesionKind::Bright,
        _ => return None,
    })
}

/// A loaded fundus model and how its classes are read.
#[derive(Debug)]
pub struct FundusModel {
    model: Model,
    meanings: Vec<ClassMeaning>,
    lesion_kinds: Vec<LesionKind>,
}

/// One class probability as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelClass {
    /// The manifest's label.
    pub label: String,
    /// The manifest's meaning.
    pub meaning: String,
    /// Probability, 0..1.
    pub probability: f64,
}

/// What a model said about a photograph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelOutput {
    /// The manifest's id.
    pub id: String,
    /// The manifest's version.
    pub version: String,
    /// SHA-256 of the `.onnx` file.
    pub sha256: String,
    /// `classification` or `detection`.
    pub task: String,
    /// The manifest's intended use.
    pub intended_use: String,
    /// Class probabilities (classifiers).
    pub classes: Vec<ModelClass>,
    /// Sum of the probabilities of the referable classes (classifiers).
    pub referable_probability: Option<f64>,
    /// The screening result the model supports (classifiers).
    pub result: Option<ScreeningResult>,
    /// Lesions found (detectors); they are also in the report's lesions, marked `model`.
    pub detections: usize,
}

impl FundusModel {
    /// Loads and validates a manifest and its model (`mira_models::Model::load`), then checks
    /// that every class label has a fundus meaning (the table in the module docs).
    pub fn load(manifest: &Path) -> Result<FundusModel, FundusError> {
        let shown = manifest.display().to_string();
        let model = Model::load(manifest).map_err(|e| FundusError::ModelLoad {
            path: shown.clone(),
            source: e,
        })?;
        let m = model.manifest();
        let (mut meanings, mut lesion_kinds) = (Vec::new(), Vec::new());
        match m.task {
            Task::Classification => {
                for c in &m.classes {
                    meanings.push(ClassMeaning::of_label(&c.label).ok_or_else(|| {
                        FundusError::ModelClasses {
                            path: shown.clone(),
                            label: c.label.clone(),
                        }
                    })?);
                }
            }
            Task::Detection => {
                for c in &m.classes {
                    lesion_kinds.push(lesion_of_label(&c.label).ok_or_else(|| {
                        FundusError::ModelClasses {
                            path: shown.clone(),
                            label: c.label.clone(),
                        }
                    })?);
                }
            }
            other => {
                return Err(FundusError::ModelTask {
                    path: shown,
                    task: format!("{other:?}").to_lowercase(),
                });
            }
        }
        Ok(FundusModel {
            model,
            meanings,
            lesion_kinds,
        })
    }

    /// The underlying runner.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Runs the model on a photograph; detections come back as lesions in the photograph's
    /// pixels.
    pub fn run(
        &self,
        image: &DynamicImage,
        image_path: &str,
    ) -> Result<(ModelOutput, Vec<Lesion>), FundusError> {
        let m = self.model.manifest();
        let run_error = |e| FundusError::ModelRun {
            path: image_path.to_string(),
            model: m.id.clone(),
            source: e,
        };
        let mut out = ModelOutput {
            id: m.id.clone(),
            version: m.version.clone(),
            sha256: self.model.sha256().to_string(),
            task: String::new(),
            intended_use: m.intended_use.clone(),
            classes: Vec::new(),
            referable_probability: None,
            result: None,
            detections: 0,
        };
        let mut lesions = Vec::new();
        match m.task {
            Task::Classification => {
                out.task = "classification".into();
                let c = self.model.classify(image).map_err(run_error)?;
                let mut referable = 0f64;
                let mut urgent = 0f64;
                let mut ungradable = 0f64;
                let mut best = (f64::NEG_INFINITY, ClassMeaning::NoApparentRetinopathy);
                for (class, meaning) in c.classes.iter().zip(&self.meanings) {
                    let p = f64::from(class.probability);
                    if meaning.is_referable() {
                        referable += p;
                    }
                    if *meaning == ClassMeaning::SevereOrProliferative {
                        urgent += p;
                    }
                    if *meaning == ClassMeaning::Ungradable {
                        ungradable += p;
                    }
                    if p > best.0 {
                        best = (p, *meaning);
                    }
                    out.classes.push(ModelClass {
                        label: class.label.clone(),
                        meaning: class.meaning.clone(),
                        probability: p,
                    });
                }
                out.referable_probability = Some(referable);
                out.result = Some(if urgent >= 0.5 {
                    ScreeningResult::ReferableUrgent
                } else if referable >= 0.5 {
                    ScreeningResult::Referable
                } else if ungradable >= 0.5 {
                    ScreeningResult::Ungradable
                } else if best.1 == ClassMeaning::MildNpdr {
                    ScreeningResult::MildNpdr
                } else {
                    ScreeningResult::NoApparentRetinopathy
                });
            }
            _ => {
                out.task = "detection".into();
                let d = self.model.detect(image).map_err(run_error)?;
                for det in &d.detections {
                    let kind = self.lesion_kinds[det.class_index];
                    let b = det.bbox;
                    let x = b.x1.max(0.0);
                    let y = b.y1.max(0.0);
                    lesions.push(Lesion {
                        kind,
                        bbox: PixelBox {
                            x: x as u32,
                            y: y as u32,
                            width: ((b.x2 - x).max(1.0)) as u32,
                            height: ((b.y2 - y).max(1.0)) as u32,
                        },
                        score: f64::from(det.score),
                        contrast: 0.0,
                        area_px: ((b.x2 - b.x1).max(0.0) * (b.y2 - b.y1).max(0.0)) as u64,
                        source: "model".into(),
                    });
                }
                out.detections = lesions.len();
            }
        }
        Ok((out, lesions))
    }
}
