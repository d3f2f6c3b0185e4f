//! A loaded model: the manifest, the file's hash, and tract's optimised plan.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView};
use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::manifest::{
    BoxUnits, ColourOrder, InputSpec, Layout, Manifest, ManifestError, OutputKind, Task,
};

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The manifest could not be read or is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The `.onnx` file could not be read.
    #[error("cannot read model file {path}")]
    ReadModel {
        /// The model file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file's SHA-256 is not the one in `provenance.sha256`.
    #[error("model file {path} has sha256 {actual}, the manifest says {expected}")]
    HashMismatch {
        /// The model file's path.
        path: PathBuf,
        /// What the manifest says.
        expected: String,
        /// What the file hashes to.
        actual: String,
    },
    /// tract could not read the file as an ONNX model.
    #[error("model file {path} is not a model tract-onnx can read: {reason}")]
    Onnx {
        /// The model file's path.
        path: PathBuf,
        /// tract's message.
        reason: String,
    },
    /// The graph's input differs from the manifest's `input`.
    #[error("the graph's input does not match the manifest: {reason}")]
    InputMismatch {
        /// What differs.
        reason: String,
    },
    /// A graph output differs from the manifest's `outputs` and `classes`.
    #[error("the graph's output {name:?} does not match the manifest: {reason}")]
    OutputMismatch {
        /// The output's name in the manifest.
        name: String,
        /// What differs.
        reason: String,
    },
    /// tract could not type or optimise the graph for the manifest's input.
    #[error("the graph cannot be planned for the manifest's input: {reason}")]
    Plan {
        /// tract's message.
        reason: String,
    },
}

/// Why a loaded model could not run on an input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The call does not fit the model's task (e.g. `detect` on a classifier).
    #[error("model {model} does {task}, not {wanted}")]
    WrongTask {
        /// The model's id.
        model: String,
        /// The model's task.
        task: Task,
        /// The task the call asked for.
        wanted: Task,
    },
    /// An image was given to a model that takes a volume (layout NCDHW).
    #[error("model {model} takes a volume (NCDHW), not an image: give it a tensor")]
    VolumeInput {
        /// The model's id.
        model: String,
    },
    /// A tensor given directly has the wrong number of values.
    #[error("input tensor has {actual} values, the model takes {expected} ({shape:?})")]
    TensorLength {
        /// Values the model takes.
        expected: usize,
        /// Values given.
        actual: usize,
        /// The model's input shape.
        shape: Vec<usize>,
    },
    /// tract failed while running.
    #[error("inference failed: {reason}")]
    Inference {
        /// tract's message.
        reason: String,
    },
    /// An output holds NaN or infinity.
    #[error("output {output:?} holds a value that is not finite")]
    NonFinite {
        /// The output's name.
        output: String,
    },
}

/// A class and how likely the model finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassProbability {
    /// The class's label.
    pub label: String,
    /// What the class means.
    pub meaning: String,
    /// Its probability, 0 to 1.
    pub probability: f32,
}

/// What a classifier says about one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// The model's id.
    pub model_id: String,
    /// The model's version.
    pub model_version: String,
    /// Every class, in the manifest's order.
    pub classes: Vec<ClassProbability>,
}

impl Classification {
    /// The most probable class (the first of equals).
    pub fn top(&self) -> &ClassProbability {
        self.classes
            .iter()
            .reduce(|best, c| {
                if c.probability > best.probability {
                    c
                } else {
                    best
                }
            })
            .expect("a valid manifest has at least one class")
    }

    /// The probability of the class labelled `label`.
    pub fn probability(&self, label: &str) -> Option<f32> {
        self.classes
            .iter()
            .find(|c| c.label == label)
            .map(|c| c.probability)
    }
}

/// An axis-aligned box, `x1 ≤ x2`, `y1 ≤ y2`, in pixels of the image given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    /// Left.
    pub x1: f32,
    /// Top.
    pub y1: f32,
    /// Right.
    pub x2: f32,
    /// Bottom.
    pub y2: f32,
}

impl BoundingBox {
    fn area(&self) -> f32 {
        (self.x2 - self.x1).max(0.0) * (self.y2 - self.y1).max(0.0)
    }

    /// Intersection over union with `other`.
    pub fn iou(&self, other: &BoundingBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// One detected object.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Index of the class in the manifest's `classes`.
    pub class_index: usize,
    /// The class's label.
    pub label: String,
    /// What the class means.
    pub meaning: String,
    /// The class's score.
    pub score: f32,
    /// Where, in pixels of the image given (of the model input for a tensor).
    pub bbox: BoundingBox,
}

/// What a detector finds in one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Detections {
    /// The model's id.
    pub model_id: String,
    /// The model's version.
    pub model_version: String,
    /// Detections at or above the manifest's score threshold, after NMS, best first.
    pub detections: Vec<Detection>,
}

/// A class per pixel, at the resolution of the model's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Segmentation {
    /// The model's id.
    pub model_id: String,
    /// The model's version.
    pub model_version: String,
    /// Width of the mask.
    pub width: usize,
    /// Height of the mask.
    pub height: usize,
    /// The most probable class index per pixel, row by row.
    pub labels: Vec<u16>,
    /// Class probabilities, `[class][y][x]`.
    pub probabilities: Vec<f32>,
}

/// A model ready to run: its manifest checked, its file's hash checked, its graph checked
/// against the manifest and optimised by tract for the manifest's input size.
///
/// `Model` is `Send + Sync`: share one behind an `Arc`. Inference runs on the caller's thread
/// and is CPU-bound; async callers run it with `spawn_blocking`.
#[derive(Debug)]
pub struct Model {
    manifest: Manifest,
    model_path: PathBuf,
    sha256: String,
    plan: Arc<TypedRunnableModel>,
    input_shape: Vec<usize>,
    /// Concrete shapes of the outputs, in manifest order (the plan's output order).
    output_shapes: Vec<Vec<usize>>,
}

fn tract_reason(e: &TractError) -> String {
    format!("{e:#}")
}

/// Runs tract code, turning a panic in it (a hostile graph reaching an assertion) into an
/// error, so that a bad model fails its load or its run and nothing else.
fn guarded<T>(f: impl FnOnce() -> TractResult<T>) -> TractResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(TractError::msg(format!("tract panicked: {message}")))
    })
}

impl Model {
    /// Loads the model a manifest describes. The `.onnx` file is the manifest's `file`,
    /// relative to the manifest's directory.
    pub fn load(manifest_path: &Path) -> Result<Model, LoadError> {
        let manifest = Manifest::from_path(manifest_path)?;
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let model_path = dir.join(&manifest.file);
        let bytes = std::fs::read(&model_path).map_err(|source| LoadError::ReadModel {
            path: model_path.clone(),
            source,
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if !sha256.eq_ignore_ascii_case(&manifest.provenance.sha256) {
            return Err(LoadError::HashMismatch {
                path: model_path,
                expected: manifest.provenance.sha256.to_ascii_lowercase(),
                actual: sha256,
            });
        }
        let onnx_error = |e: TractError| LoadError::Onnx {
            path: model_path.clone(),
            reason: tract_reason(&e),
        };
        let mut graph = guarded(|| tract_onnx::onnx().model_for_read(&mut bytes.as_slice()))
            .map_err(onnx_error)?;

        let input_shape = input_shape(&manifest.input);
        check_input(&graph, &manifest.input, &input_shape)?;
        let outlets = manifest
            .outputs
            .iter()
            .map(|spec| {
                find_output(&graph, &spec.name).ok_or_else(|| LoadError::OutputMismatch {
                    name: spec.name.clone(),
                    reason: format!(
                        "the graph has no such output (it has {})",
                        output_names(&graph).join(", ")
                    ),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let plan_error = |e: TractError| LoadError::Plan {
            reason: tract_reason(&e),
        };
        graph.select_output_outlets(&outlets).map_err(plan_error)?;
        graph
            .set_input_fact(0, f32::fact(&input_shape).into())
            .map_err(plan_error)?;
        let typed = guarded(|| graph.into_typed()).map_err(plan_error)?;
        let output_shapes = check_outputs(&typed, &manifest)?;
        let plan = guarded(|| typed.into_optimized()?.into_runnable()).map_err(plan_error)?;
        tracing::debug!(
            model = %manifest.id,
            version = %manifest.version,
            sha256 = %sha256,
            "model loaded"
        );
        Ok(Model {
            manifest,
            model_path,
            sha256,
            plan,
            input_shape,
            output_shapes,
        })
    }

    /// The manifest, validated.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The `.onnx` file's path.
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    /// The `.onnx` file's SHA-256 (lower-case hex), as checked on load.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The input tensor's shape, in the manifest's layout, batch 1.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Resizes, orders and normalises an image into the input tensor, as the manifest says.
    /// Refused for a model that takes a volume.
    pub fn preprocess(&self, image: &DynamicImage) -> Result<Vec<f32>, RunError> {
        self.expect_image()?;
        Ok(preprocess(&self.manifest.input, image))
    }

    /// Classifies an image (resized, reordered and normalised as the manifest says).
    pub fn classify(&self, image: &DynamicImage) -> Result<Classification, RunError> {
        self.expect_task(Task::Classification)?;
        self.classify_tensor(&self.preprocess(image)?)
    }

    /// Classifies an input tensor already in the model's layout, size and normalisation.
    pub fn classify_tensor(&self, tensor: &[f32]) -> Result<Classification, RunError> {
        self.expect_task(Task::Classification)?;
        let outputs = self.run(tensor)?;
        let spec = &self.manifest.outputs[0];
        let mut values = outputs[0].clone();
        if spec.kind == OutputKind::Logits {
            softmax(&mut values);
        }
        Ok(Classification {
            model_id: self.manifest.id.clone(),
            model_version: self.manifest.version.clone(),
            classes: self
                .manifest
                .classes
                .iter()
                .zip(values)
                .map(|(class, probability)| ClassProbability {
                    label: class.label.clone(),
                    meaning: class.meaning.clone(),
                    probability,
                })
                .collect(),
        })
    }

    /// Detects objects in an image; boxes are in the image's pixels.
    pub fn detect(&self, image: &DynamicImage) -> Result<Detections, RunError> {
        self.expect_task(Task::Detection)?;
        let tensor = self.preprocess(image)?;
        self.decode_detections(&tensor, image.width() as f32, image.height() as f32)
    }

    /// Detects objects in an input tensor already prepared; boxes are in the model input's
    /// pixels.
    pub fn detect_tensor(&self, tensor: &[f32]) -> Result<Detections, RunError> {
        self.expect_task(Task::Detection)?;
        let (w, h) = (self.manifest.input.width, self.manifest.input.height);
        self.decode_detections(tensor, w as f32, h as f32)
    }

    /// Segments an image; the mask has the model output's resolution.
    pub fn segment(&self, image: &DynamicImage) -> Result<Segmentation, RunError> {
        self.expect_task(Task::Segmentation)?;
        self.segment_tensor(&self.preprocess(image)?)
    }

    /// Segments an input tensor already prepared.
    pub fn segment_tensor(&self, tensor: &[f32]) -> Result<Segmentation, RunError> {
        self.expect_task(Task::Segmentation)?;
        let mut outputs = self.run(tensor)?;
        let mut probabilities = outputs.swap_remove(0);
        let &[_, classes, height, width] = self.output_shapes[0].as_slice() else {
            unreachable!("checked on load: mask outputs have rank 4")
        };
        let plane = height * width;
        if self.manifest.outputs[0].kind == OutputKind::MaskLogits {
            let mut pixel = vec![0.0; classes];
            for i in 0..plane {
                for (c, v) in pixel.iter_mut().enumerate() {
                    *v = probabilities[c * plane + i];
                }
                softmax(&mut pixel);
                for (c, v) in pixel.iter().enumerate() {
                    probabilities[c * plane + i] = *v;
                }
            }
        }
        let labels = (0..plane)
            .map(|i| {
                let mut best = 0;
                for c in 1..classes {
                    if probabilities[c * plane + i] > probabilities[best * plane + i] {
                        best = c;
                    }
                }
                best as u16
            })
            .collect();
        Ok(Segmentation {
            model_id: self.manifest.id.clone(),
            model_version: self.manifest.version.clone(),
            width,
            height,
            labels,
            probabilities,
        })
    }

    fn expect_image(&self) -> Result<(), RunError> {
        if self.manifest.input.layout == Layout::Ncdhw {
            Err(RunError::VolumeInput {
                model: self.manifest.id.clone(),
            })
        } else {
            Ok(())
        }
    }

    fn expect_task(&self, wanted: Task) -> Result<(), RunError> {
        if self.manifest.task == wanted {
            Ok(())
        } else {
            Err(RunError::WrongTask {
                model: self.manifest.id.clone(),
                task: self.manifest.task,
                wanted,
            })
        }
    }

    /// Runs the plan; the outputs in manifest order, flattened.
    fn run(&self, tensor: &[f32]) -> Result<Vec<Vec<f32>>, RunError> {
        let expected: usize = self.input_shape.iter().product();
        if tensor.len() != expected {
            return Err(RunError::TensorLength {
                expected,
                actual: tensor.len(),
                shape: self.input_shape.clone(),
            });
        }
        let inference = |e: TractError| RunError::Inference {
            reason: tract_reason(&e),
        };
        let input = Tensor::from_shape(&self.input_shape, tensor).map_err(inference)?;
        let outputs = guarded(|| self.plan.run(tvec!(input.into_tvalue()))).map_err(inference)?;
        outputs
            .iter()
            .zip(&self.manifest.outputs)
            .map(|(value, spec)| {
                let values = value
                    .cast_to::<f32>()
                    .and_then(|t| {
                        Ok(t.to_plain_array_view::<f32>()?
                            .iter()
                            .copied()
                            .collect::<Vec<_>>())
                    })
                    .map_err(inference)?;
                if values.iter().all(|v| v.is_finite()) {
                    Ok(values)
                } else {
                    Err(RunError::NonFinite {
                        output: spec.name.clone(),
                    })
                }
            })
            .collect()
    }

    fn decode_detections(
        &self,
        tensor: &[f32],
        image_width: f32,
        image_height: f32,
    ) -> Result<Detections, RunError> {
        let detection = self
            .manifest
            .detection
            .as_ref()
            .expect("validated: detection models have a detection section");
        let outputs = self.run(tensor)?;
        let index_of = |kind| {
            self.manifest
                .outputs
                .iter()
                .position(|o| o.kind == kind)
                .expect("validated: detection models have boxes and scores")
        };
        let (boxes, scores) = (
            &outputs[index_of(OutputKind::Boxes)],
            &outputs[index_of(OutputKind::Scores)],
        );
        let classes = self.manifest.classes.len();
        let (sx, sy) = match detection.box_units {
            BoxUnits::Pixels => (
                image_width / self.manifest.input.width as f32,
                image_height / self.manifest.input.height as f32,
            ),
            BoxUnits::Normalized => (image_width, image_height),
        };
        let mut candidates: Vec<Detection> = boxes
            .chunks_exact(4)
            .zip(scores.chunks_exact(classes))
            .filter_map(|(b, s)| {
                let (class_index, score) = s
                    .iter()
                    .copied()
                    .enumerate()
                    .reduce(|best, c| if c.1 > best.1 { c } else { best })?;
                if score < detection.score_threshold {
                    return None;
                }
                let class = &self.manifest.classes[class_index];
                Some(Detection {
                    class_index,
                    label: class.label.clone(),
                    meaning: class.meaning.clone(),
                    score,
                    bbox: BoundingBox {
                        x1: b[0].min(b[2]) * sx,
                        y1: b[1].min(b[3]) * sy,
                        x2: b[0].max(b[2]) * sx,
                        y2: b[1].max(b[3]) * sy,
                    },
                })
            })
            .collect();
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        let detections = match detection.nms_iou {
            None => candidates,
            Some(iou) => {
                let mut kept: Vec<Detection> = Vec::new();
                for candidate in candidates {
                    if !kept.iter().any(|k| {
                        k.class_index == candidate.class_index && k.bbox.iou(&candidate.bbox) > iou
                    }) {
                        kept.push(candidate);
                    }
                }
                kept
            }
        };
        Ok(Detections {
            model_id: self.manifest.id.clone(),
            model_version: self.manifest.version.clone(),
            detections,
        })
    }
}

/// The input shape for the manifest's layout, batch 1.
fn input_shape(input: &InputSpec) -> Vec<usize> {
    let (c, h, w) = (
        input.channels as usize,
        input.height as usize,
        input.width as usize,
    );
    match input.layout {
        Layout::Nchw => vec![1, c, h, w],
        Layout::Nhwc => vec![1, h, w, c],
        Layout::Ncdhw => vec![1, c, input.depth.unwrap_or(1) as usize, h, w],
    }
}

fn check_input(
    graph: &InferenceModel,
    input: &InputSpec,
    expected: &[usize],
) -> Result<(), LoadError> {
    let mismatch = |reason: String| LoadError::InputMismatch { reason };
    let outlets = graph
        .input_outlets()
        .map_err(|e| mismatch(tract_reason(&e)))?;
    let [outlet] = outlets else {
        return Err(mismatch(format!(
            "the graph has {} inputs, the runner feeds one",
            outlets.len()
        )));
    };
    let name = &graph.node(outlet.node).name;
    if *name != input.name {
        return Err(mismatch(format!(
            "the graph's input is named {name:?}, input.name is {:?}",
            input.name
        )));
    }
    let fact = graph
        .input_fact(0)
        .map_err(|e| mismatch(tract_reason(&e)))?;
    if let Some(datum_type) = fact.datum_type.concretize()
        && datum_type != f32::datum_type()
    {
        return Err(mismatch(format!(
            "the graph's input is {datum_type:?}, the runner feeds f32"
        )));
    }
    let declared = fact
        .shape
        .dims()
        .map(|d| d.concretize().and_then(|d| d.to_i64().ok()))
        .collect::<Vec<_>>();
    let show = |dims: &[Option<i64>]| {
        dims.iter()
            .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
            .collect::<Vec<_>>()
            .join("×")
    };
    let fits = declared.len() == expected.len()
        && declared
            .iter()
            .zip(expected)
            .all(|(d, e)| d.is_none_or(|d| d == *e as i64));
    // a graph that declares no shape at all is checked by typing it with the manifest's
    let undeclared = fact.shape.is_open() && declared.is_empty();
    if !fits && !undeclared {
        let expected_text = expected
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("×");
        return Err(mismatch(format!(
            "the graph's input shape is {}, the manifest's is {expected_text} ({:?}, {} channels, {}×{})",
            show(&declared),
            input.layout,
            input.channels,
            input.width,
            input.height
        )));
    }
    Ok(())
}

fn output_label(graph: &InferenceModel, outlet: OutletId) -> &str {
    graph
        .outlet_label(outlet)
        .unwrap_or(&graph.node(outlet.node).name)
}

fn output_names(graph: &InferenceModel) -> Vec<String> {
    graph
        .output_outlets()
        .map(|outlets| {
            outlets
                .iter()
                .map(|o| format!("{:?}", output_label(graph, *o)))
                .collect()
        })
        .unwrap_or_default()
}

fn find_output(graph: &InferenceModel, name: &str) -> Option<OutletId> {
    graph
        .output_outlets()
        .ok()?
        .iter()
        .copied()
        .find(|o| output_label(graph, *o) == name)
}

/// Checks the typed graph's output shapes against the manifest; their concrete shapes.
fn check_outputs(typed: &TypedModel, manifest: &Manifest) -> Result<Vec<Vec<usize>>, LoadError> {
    let classes = manifest.classes.len();
    let mut shapes = Vec::new();
    for (i, spec) in manifest.outputs.iter().enumerate() {
        let mismatch = |reason: String| LoadError::OutputMismatch {
            name: spec.name.clone(),
            reason,
        };
        let fact = typed
            .output_fact(i)
            .map_err(|e| mismatch(tract_reason(&e)))?;
        if !fact.datum_type.is_float() {
            return Err(mismatch(format!(
                "it is {:?}, the runner reads floats",
                fact.datum_type
            )));
        }
        let shape = fact
            .shape
            .as_concrete()
            .ok_or_else(|| mismatch(format!("its shape {:?} is not fixed", fact.shape)))?
            .to_vec();
        let fits = match (spec.kind, shape.as_slice()) {
            (OutputKind::Probabilities | OutputKind::Logits, [1, k]) => *k == classes,
            (OutputKind::Boxes, [1, _, 4]) => true,
            (OutputKind::Scores, [1, _, k]) => *k == classes,
            (OutputKind::MaskLogits | OutputKind::MaskProbabilities, [1, k, h, w]) => {
                *k == classes && *h > 0 && *w > 0
            }
            _ => false,
        };
        if !fits {
            let expected = match spec.kind {
                OutputKind::Probabilities | OutputKind::Logits => format!("[1, {classes}]"),
                OutputKind::Boxes => "[1, boxes, 4]".into(),
                OutputKind::Scores => format!("[1, boxes, {classes}]"),
                OutputKind::MaskLogits | OutputKind::MaskProbabilities => {
                    format!("[1, {classes}, height, width]")
                }
            };
            return Err(mismatch(format!(
                "its shape is {shape:?}, a {} output for {classes} classes must be {expected}",
                spec.kind
            )));
        }
        shapes.push(shape);
    }
    if let Some(boxes) = manifest
        .outputs
        .iter()
        .position(|o| o.kind == OutputKind::Boxes)
        && let Some(scores) = manifest
            .outputs
            .iter()
            .position(|o| o.kind == OutputKind::Scores)
        && shapes[boxes][1] != shapes[scores][1]
    {
        return Err(LoadError::OutputMismatch {
            name: manifest.outputs[scores].name.clone(),
            reason: format!(
                "it scores {} boxes, output {:?} has {}",
                shapes[scores][1], manifest.outputs[boxes].name, shapes[boxes][1]
            ),
        });
    }
    Ok(shapes)
}

/// Rec. 709 luma weights, as the `image` crate uses for grey conversion.
const LUMA: [f32; 3] = [0.2126, 0.7152, 0.0722];

/// Resizes (bilinear, in the image's own sample type, aspect ratio not kept) to the input
/// size, takes the channels in the manifest's order (grey: Rec. 709 luma), scales `[0, 1]`
/// samples to `value_range` and normalises with `mean` and `std`.
///
/// The image is resized before it is converted to floats, so that a large photograph never
/// exists as a float copy.
pub(crate) fn preprocess(input: &InputSpec, image: &DynamicImage) -> Vec<f32> {
    let (w, h) = (input.width, input.height);
    let rgb = if image.dimensions() == (w, h) {
        image.to_rgb32f()
    } else {
        image.resize_exact(w, h, FilterType::Triangle).to_rgb32f()
    };
    let [lo, hi] = input.value_range;
    let channels = input.channels as usize;
    let plane = (w * h) as usize;
    let mut tensor = vec![0.0; plane * channels];
    for (i, pixel) in rgb.pixels().enumerate() {
        let [r, g, b] = pixel.0;
        let samples: &[f32] = match input.colour_order {
            ColourOrder::Rgb => &[r, g, b],
            ColourOrder::Bgr => &[b, g, r],
            ColourOrder::Gray => &[LUMA[0] * r + LUMA[1] * g + LUMA[2] * b],
        };
        for (c, sample) in samples.iter().enumerate() {
            let value = (lo + (hi - lo) * sample - input.mean[c]) / input.std[c];
            let index = match input.layout {
                Layout::Nchw => c * plane + i,
                Layout::Nhwc => i * channels + c,
                Layout::Ncdhw => unreachable!("Model::preprocess refuses volumes"),
            };
            tensor[index] = value;
        }
    }
    tensor
}

/// In-place softmax, stable for large logits.
pub(crate) fn softmax(values: &mut [f32]) {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in values.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in values.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const _: () = {
        const fn shareable<T: Send + Sync>() {}
        shareable::<Model>();
    };

    #[test]
    fn a_panic_in_tract_becomes_an_error() {
        let error = guarded::<()>(|| panic!("assertion in an operator")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "tract panicked: assertion in an operator"
        );
        assert_eq!(guarded(|| Ok(7)).unwrap(), 7);
    }

    #[test]
    fn softmax_is_stable_and_sums_to_one() {
        let mut v = [1000.0, 1001.0, 999.0];
        softmax(&mut v);
        let e = [(-1.0f32).exp(), 1.0, (-2.0f32).exp()];
        let sum: f32 = e.iter().sum();
        for (got, want) in v.iter().zip(e) {
            assert!((got - want / sum).abs() < 1e-6, "{v:?}");
        }
    }

    #[test]
    fn iou_of_half_overlapping_boxes_is_one_third() {
        let a = BoundingBox {
            x1: 0.0,
            y1: 0.0,
            x2: 2.0,
            y2: 1.0,
        };
        let b = BoundingBox {
            x1: 1.0,
            x2: 3.0,
            ..a
        };
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.iou(&a), 1.0);
    }
}
