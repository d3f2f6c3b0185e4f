//! The manifest that describes a model: what it takes, what it gives, what it is for and
//! where it came from. Read from TOML (`.toml`) or JSON (`.json`) beside the `.onnx` file;
//! unknown keys are refused, and [`Manifest::validate`] checks what serde cannot.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a model does, which decides how its outputs are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// One set of class probabilities per image.
    Classification,
    /// Boxes, each with a score per class.
    Detection,
    /// A class per pixel.
    Segmentation,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Classification => "classification",
            Task::Detection => "detection",
            Task::Segmentation => "segmentation",
        })
    }
}

/// Axis order of the input tensor (the batch axis is always first and always 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Layout {
    /// Batch, channels, height, width.
    Nchw,
    /// Batch, height, width, channels.
    Nhwc,
    /// Batch, channels, depth, height, width: a volume (a CT patch), given as a tensor by
    /// the caller; classification only.
    Ncdhw,
}

/// The order of colour channels the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourOrder {
    /// Red, green, blue (3 channels).
    Rgb,
    /// Blue, green, red (3 channels), as OpenCV-trained models expect.
    Bgr,
    /// Luma (1 channel).
    Gray,
}

/// The model's one input tensor and how an image becomes it.
///
/// A sample `s` scaled to `[0, 1]` (an 8-bit `p` is `p / 255`, a 16-bit one `p / 65535`)
/// becomes `(lo + (hi - lo) * s - mean[c]) / std[c]`, where `value_range = [lo, hi]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// The graph input's name.
    pub name: String,
    /// Axis order.
    pub layout: Layout,
    /// Width in pixels the image is resized to.
    pub width: u32,
    /// Height in pixels the image is resized to.
    pub height: u32,
    /// Depth in slices, for layout NCDHW only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// Number of channels: 3 for RGB/BGR, 1 for gray.
    pub channels: u32,
    /// Channel order.
    pub colour_order: ColourOrder,
    /// What black and full white map to before normalisation, e.g. `[0.0, 1.0]` or
    /// `[0.0, 255.0]`.
    pub value_range: [f32; 2],
    /// Per-channel mean subtracted after scaling, in the model's channel order.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation divided by after the mean, in the model's channel order.
    pub std: Vec<f32>,
}

/// How an output tensor is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// Class probabilities, `[1, classes]`, used as they are.
    Probabilities,
    /// Class logits, `[1, classes]`; the runner applies softmax.
    Logits,
    /// Detection boxes, `[1, boxes, 4]`, as `x1, y1, x2, y2`.
    Boxes,
    /// Detection scores, `[1, boxes, classes]`, used as they are.
    Scores,
    /// Segmentation logits, `[1, classes, height, width]`; softmax over classes per pixel.
    MaskLogits,
    /// Segmentation probabilities, `[1, classes, height, width]`.
    MaskProbabilities,
}

impl fmt::Display for OutputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputKind::Probabilities => "probabilities",
            OutputKind::Logits => "logits",
            OutputKind::Boxes => "boxes",
            OutputKind::Scores => "scores",
            OutputKind::MaskLogits => "mask_logits",
            OutputKind::MaskProbabilities => "mask_probabilities",
        })
    }
}

/// One of the graph outputs the runner reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The graph output's name.
    pub name: String,
    /// How it is read.
    pub kind: OutputKind,
}

/// One output class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    /// Short machine label, e.g. `referable_dr`.
    pub label: String,
    /// What the class means clinically, in words a reader understands.
    pub meaning: String,
}

/// Units of detection boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxUnits {
    /// Pixels of the model input (`input.width` × `input.height`).
    Pixels,
    /// Fractions of the model input's width and height, 0 to 1.
    Normalized,
}

/// How detections are decoded; required for (and only for) detection models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionSpec {
    /// Units of the `boxes` output.
    pub box_units: BoxUnits,
    /// A box is kept when its best class score is at least this.
    pub score_threshold: f32,
    /// Greedy non-maximum suppression per class at this IoU; absent: none.
    #[serde(default)]
    pub nms_iou: Option<f32>,
}

/// Where the model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Who made it and where it was obtained (a paper, a repository, a vendor).
    pub source: String,
    /// Its licence (SPDX identifier where there is one).
    pub licence: String,
    /// SHA-256 of the `.onnx` file, 64 hexadecimal digits; checked on load.
    pub sha256: String,
}

/// A model's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Stable identifier, e.g. `dr-grade-efficientnet`.
    pub id: String,
    /// The model's version, as its maker names it.
    pub version: String,
    /// What it does.
    pub task: Task,
    /// The intended use: population, modality, and use mode.
    pub intended_use: String,
    /// The `.onnx` file, relative to the manifest's directory.
    pub file: PathBuf,
    /// The input.
    pub input: InputSpec,
    /// The outputs read, by name.
    pub outputs: Vec<OutputSpec>,
    /// The classes, in the order of the model's class axis.
    pub classes: Vec<ClassSpec>,
    /// Detection decoding (detection models only).
    #[serde(default)]
    pub detection: Option<DetectionSpec>,
    /// Where it came from.
    pub provenance: Provenance,
}

/// One thing wrong with a manifest: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// Dotted path of the field, e.g. `input.mean`.
    pub field: String,
    /// Why it is wrong, e.g. `has 1 value, channels is 3`.
    pub reason: String,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.reason)
    }
}

/// Why a manifest could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read manifest {path}")]
    Read {
        /// The manifest's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The extension is neither `.toml` nor `.json`.
    #[error("manifest {path} must end in .toml or .json")]
    Format {
        /// The manifest's path.
        path: PathBuf,
    },
    /// The file is not valid TOML/JSON or does not have the manifest's shape.
    #[error("manifest {path} does not parse: {reason}")]
    Parse {
        /// The manifest's path.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// The manifest parses but its values are inconsistent.
    #[error("invalid manifest: {}", join(problems))]
    Invalid {
        /// Every problem found.
        problems: Vec<FieldProblem>,
    },
}

fn join(problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ManifestError {
    /// The problem reported for `field`, if this is [`ManifestError::Invalid`] and it names it.
    pub fn problem(&self, field: &str) -> Option<&FieldProblem> {
        match self {
            ManifestError::Invalid { problems } => problems.iter().find(|p| p.field == field),
            _ => None,
        }
    }
}

impl Manifest {
    /// Reads and validates a manifest (TOML or JSON, by extension).
    pub fn from_path(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        let parse_error = |reason: String| ManifestError::Parse {
            path: path.to_owned(),
            reason,
        };
        let manifest: Manifest = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => toml::from_str(&text).map_err(|e| parse_error(e.message().into()))?,
            Some("json") => serde_json::from_str(&text).map_err(|e| parse_error(e.to_string()))?,
            _ => {
                return Err(ManifestError::Format {
                    path: path.to_owned(),
                });
            }
        };
        manifest.validate()?;
        Ok(manifest)
    }

    /// The outputs of `kind`, in manifest order.
    pub fn outputs_of(&self, kind: OutputKind) -> impl Iterator<Item = &OutputSpec> {
        self.outputs.iter().filter(move |o| o.kind == kind)
    }

    /// Checks what the types cannot: every problem, each naming its field.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, reason: String| {
            problems.push(FieldProblem {
                field: field.into(),
                reason,
            })
        };
        for (field, value) in [
            ("id", &self.id),
            ("version", &self.version),
            ("intended_use", &self.intended_use),
            ("input.name", &self.input.name),
            ("provenance.source", &self.provenance.source),
            ("provenance.licence", &self.provenance.licence),
        ] {
            if value.trim().is_empty() {
                problem(field, "is empty".into());
            }
        }
        if self.file.as_os_str().is_empty() {
            problem("file", "is empty".into());
        } else if self.file.is_absolute()
            || self
                .file
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            problem(
                "file",
                "must be a relative path inside the manifest's directory".into(),
            );
        } else if self.file.extension().is_none_or(|e| e != "onnx") {
            problem("file", "must name an .onnx file".into());
        }
        let sha = &self.provenance.sha256;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            problem(
                "provenance.sha256",
                format!(
                    "must be 64 hexadecimal digits, has {} characters",
                    sha.len()
                ),
            );
        }

        let input = &self.input;
        if input.width == 0 {
            problem("input.width", "must be positive".into());
        }
        if input.height == 0 {
            problem("input.height", "must be positive".into());
        }
        match (input.layout, input.depth) {
            (Layout::Ncdhw, None) => problem("input.depth", "is required for layout NCDHW".into()),
            (Layout::Ncdhw, Some(0)) => problem("input.depth", "must be positive".into()),
            (Layout::Ncdhw, Some(_)) if self.task != Task::Classification => problem(
                "input.layout",
                format!(
                    "NCDHW is for task classification only, task is {}",
                    self.task
                ),
            ),
            (Layout::Nchw | Layout::Nhwc, Some(_)) => problem(
                "input.depth",
                format!("is for layout NCDHW only, layout is {:?}", input.layout),
            ),
            _ => {}
        }
        let expected_channels = match input.colour_order {
            ColourOrder::Gray => 1,
            ColourOrder::Rgb | ColourOrder::Bgr => 3,
        };
        if input.channels != expected_channels {
            problem(
                "input.channels",
                format!(
                    "is {}, colour_order {:?} needs {expected_channels}",
                    input.channels, input.colour_order
                ),
            );
        }
        let [lo, hi] = input.value_range;
        if !lo.is_finite() || !hi.is_finite() || lo >= hi {
            problem(
                "input.value_range",
                format!("must be two finite values, low < high, is [{lo}, {hi}]"),
            );
        }
        for (field, values) in [("input.mean", &input.mean), ("input.std", &input.std)] {
            if values.len() != input.channels as usize {
                let plural = if values.len() == 1 { "value" } else { "values" };
                problem(
                    field,
                    format!(
                        "has {} {plural}, channels is {}",
                        values.len(),
                        input.channels
                    ),
                );
            } else if values.iter().any(|v| !v.is_finite()) {
                problem(field, "has a value that is not finite".into());
            }
        }
        if input.std.iter().any(|s| *s <= 0.0) {
            problem("input.std", "must be positive".into());
        }

        if self.classes.is_empty() {
            problem("classes", "is empty".into());
        }
        for (i, class) in self.classes.iter().enumerate() {
            if class.label.trim().is_empty() {
                problem(&format!("classes[{i}].label"), "is empty".into());
            }
            if class.meaning.trim().is_empty() {
                problem(&format!("classes[{i}].meaning"), "is empty".into());
            }
            if self.classes[..i].iter().any(|c| c.label == class.label) {
                problem(
                    &format!("classes[{i}].label"),
                    format!("repeats {:?}", class.label),
                );
            }
        }

        for (i, output) in self.outputs.iter().enumerate() {
            if output.name.trim().is_empty() {
                problem(&format!("outputs[{i}].name"), "is empty".into());
            }
            if self.outputs[..i].iter().any(|o| o.name == output.name) {
                problem(
                    &format!("outputs[{i}].name"),
                    format!("repeats {:?}", output.name),
                );
            }
        }
        let count = |kinds: &[OutputKind]| {
            self.outputs
                .iter()
                .filter(|o| kinds.contains(&o.kind))
                .count()
        };
        let (needed, description): (&[&[OutputKind]], &str) = match self.task {
            Task::Classification => (
                &[&[OutputKind::Probabilities, OutputKind::Logits]],
                "one probabilities or logits output",
            ),
            Task::Detection => (
                &[&[OutputKind::Boxes], &[OutputKind::Scores]],
                "one boxes and one scores output",
            ),
            Task::Segmentation => (
                &[&[OutputKind::MaskLogits, OutputKind::MaskProbabilities]],
                "one mask_logits or mask_probabilities output",
            ),
        };
        if needed.iter().any(|kinds| count(kinds) != 1) || self.outputs.len() != needed.len() {
            let found = self
                .outputs
                .iter()
                .map(|o| o.kind.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            problem(
                "outputs",
                format!("task {} needs {description}, has [{found}]", self.task),
            );
        }

        match (&self.detection, self.task) {
            (None, Task::Detection) => {
                problem("detection", "is required for task detection".into());
            }
            (Some(_), Task::Classification | Task::Segmentation) => {
                problem(
                    "detection",
                    format!("is only for task detection, task is {}", self.task),
                );
            }
            (Some(detection), Task::Detection) => {
                if !(0.0..=1.0).contains(&detection.score_threshold) {
                    problem(
                        "detection.score_threshold",
                        format!("must be within 0 to 1, is {}", detection.score_threshold),
                    );
                }
                if let Some(iou) = detection.nms_iou
                    && !(iou > 0.0 && iou <= 1.0)
                {
                    problem(
                        "detection.nms_iou",
                        format!("must be within (0, 1], is {iou}"),
                    );
                }
            }
            (None, _) => {}
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(ManifestError::Invalid { problems })
        }
    }
}
