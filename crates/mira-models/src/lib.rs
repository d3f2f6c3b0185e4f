//! mira's model runner: any ONNX classifier, detector or segmenter described by a
//! [`Manifest`] runs through [tract-onnx](https://docs.rs/tract-onnx), pure Rust, on the CPU.
//!
//! # Overview
//!
//! A model is two files side by side: the `.onnx` graph and a manifest (TOML or JSON) that says
//! what the graph takes and gives and what it is for:
//!
//! - identity: `id`, `version`, `task` (classification, detection or segmentation),
//!   `intended_use`;
//! - `input`: the graph input's name, layout (NCHW or NHWC for images; NCDHW with a `depth`
//!   for volumes such as CT patches, which callers give as tensors), width, height, channels,
//!   colour order (RGB, BGR or gray), the value range samples are scaled to, and per-channel
//!   mean and standard deviation;
//! - `outputs`: the graph outputs read and how (probabilities, logits that the runner turns
//!   into probabilities with softmax, boxes and scores, mask logits or probabilities);
//! - `classes`: each class's label and clinical meaning, in the order of the class axis;
//! - `detection` (detectors only): box units, score threshold, optional NMS;
//! - `provenance`: source, licence and the SHA-256 of the `.onnx` file.
//!
//! [`Manifest::validate`] reports every problem with the field it concerns
//! ([`ManifestError::Invalid`], e.g. `input.mean has 1 value, channels is 3`).
//! [`Model::load`] then checks the file's hash, reads the graph, checks the graph's input and
//! output shapes against the manifest ([`LoadError`]), and optimises it into a plan for the
//! manifest's input size. [`Model::classify`], [`Model::detect`] and [`Model::segment`]
//! resize an image (bilinear, aspect ratio not kept), reorder and normalise it, run the plan
//! and read the outputs as the manifest declares; the `*_tensor` variants take an input
//! tensor already prepared.
//!
//! ```toml
//! id = "dr-referable"
//! version = "1.0.0"
//! task = "classification"
//! intended_use = "Second read of colour fundus photographs of adults with diabetes"
//! file = "dr-referable.onnx"
//!
//! [input]
//! name = "image"
//! layout = "NCHW"
//! width = 224
//! height = 224
//! channels = 3
//! colour_order = "rgb"
//! value_range = [0.0, 1.0]
//! mean = [0.485, 0.456, 0.406]
//! std = [0.229, 0.224, 0.225]
//!
//! [[outputs]]
//! name = "logits"
//! kind = "logits"
//!
//! [[classes]]
//! label = "non_referable"
//! meaning = "No or mild non-proliferative diabetic retinopathy"
//!
//! [[classes]]
//! label = "referable"
//! meaning = "Moderate NPDR or worse, or diabetic macular oedema: refer"
//!
//! [provenance]
//! source = "…"
//! licence = "Apache-2.0"
//! sha256 = "…"
//! ```
//!
//! # Invariants
//!
//! - No network: models are files the operator installed; nothing is downloaded, ever. The
//!   SHA-256 covers the one `.onnx` file, so ONNX external data (weights in other files) is
//!   not read: such a model is refused as [`LoadError::Onnx`].
//! - No other mira crate: the lung and fundus stages and the server use this one runner.
//! - [`Model`] is `Send + Sync` and runs inference on the caller's thread; async callers use
//!   `spawn_blocking`.
//! - A malformed manifest or model is an error value, never a panic; logs name models by id,
//!   version and hash, never by anything about the image.
#![warn(missing_docs)]

pub mod manifest;
mod model;

pub use manifest::{
    BoxUnits, ClassSpec, ColourOrder, DetectionSpec, FieldProblem, InputSpec, Layout, Manifest,
    ManifestError, OutputKind, OutputSpec, Provenance, Task,
};
pub use model::{
    BoundingBox, ClassProbability, Classification, Detection, Detections, LoadError, Model,
    RunError, Segmentation,
};
