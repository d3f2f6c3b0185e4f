//! The runner on tiny models that `make_models.py` writes at test time (python3 with the `onnx`
//! package; skipped with a message when missing, a failure under `CI=true`). Their weights are
//! fixed, so the expected outputs are computed here by hand.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use image::{DynamicImage, Rgb, RgbImage};
use mira_models::{
    BoxUnits, ClassSpec, ColourOrder, DetectionSpec, InputSpec, Layout, LoadError, Manifest,
    ManifestError, Model, OutputKind, OutputSpec, Provenance, RunError, Task,
};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------
// Harness

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

fn skip(what: &str) -> Option<TempDir> {
    assert!(!ci(), "{what} (CI=true: prerequisites must be present)");
    eprintln!("SKIP: {what}");
    None
}

/// A fresh directory holding the models of `make_models.py`, or `None` (after saying why)
/// where python3 or its `onnx` package is missing.
fn models() -> Option<TempDir> {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/make_models.py");
    let output = match Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
    {
        Ok(output) => output,
        Err(e) => {
            return skip(&format!(
                "python3 cannot be run ({e}); tiny models not made"
            ));
        }
    };
    if output.status.code() == Some(3) {
        return skip(&format!(
            "{} (scripts/install-test-deps installs it)",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    assert!(
        output.status.success(),
        "make_models.py failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Some(dir)
}

macro_rules! require {
    ($lookup:expr) => {
        match $lookup {
            Some(value) => value,
            None => return,
        }
    };
}

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn class(label: &str, meaning: &str) -> ClassSpec {
    ClassSpec {
        label: label.into(),
        meaning: meaning.into(),
    }
}

/// The manifest of `classifier.onnx` (logits), its hash filled in from `dir`.
fn classifier_manifest(dir: &Path) -> Manifest {
    Manifest {
        id: "tiny-classifier".into(),
        version: "1.0.0".into(),
        task: Task::Classification,
        intended_use: "Tests of the model runner only; not for clinical use".into(),
        file: "classifier.onnx".into(),
        input: InputSpec {
            name: "image".into(),
            layout: Layout::Nchw,
            width: 4,
            height: 4,
            depth: None,
            channels: 3,
            colour_order: ColourOrder::Rgb,
            value_range: [0.0, 1.0],
            mean: vec![0.0, 0.0, 0.0],
            std: vec![1.0, 1.0, 1.0],
        },
        outputs: vec![OutputSpec {
            name: "logits".into(),
            kind: OutputKind::Logits,
        }],
        classes: vec![
            class("normal", "No abnormality"),
            class("benign", "Benign finding; routine follow-up"),
            class("suspicious", "Suspicious finding; refer"),
        ],
        detection: None,
        provenance: Provenance {
            source: "crates/mira-models/tests/make_models.py".into(),
            licence: "Apache-2.0".into(),
            sha256: sha256_of(&dir.join("classifier.onnx")),
        },
    }
}

/// Writes `manifest` as `<name>.toml` (or `.json`) beside the models, hash refreshed from its
/// file where the file exists.
fn write(dir: &Path, name: &str, manifest: &Manifest) -> PathBuf {
    let path = dir.join(name);
    let text = if name.ends_with(".json") {
        serde_json::to_string_pretty(manifest).unwrap()
    } else {
        toml::to_string(manifest).unwrap()
    };
    std::fs::write(&path, text).unwrap();
    path
}

/// `manifest` with `file` set to `model` and its hash to that file's.
fn for_file(dir: &Path, mut manifest: Manifest, model: &str) -> Manifest {
    manifest.file = model.into();
    manifest.provenance.sha256 = sha256_of(&dir.join(model));
    manifest
}

fn load(dir: &Path, manifest: &Manifest) -> Model {
    Model::load(&write(dir, "model.toml", manifest)).unwrap()
}

fn load_err(dir: &Path, manifest: &Manifest) -> LoadError {
    Model::load(&write(dir, "model.toml", manifest)).unwrap_err()
}

fn uniform(width: u32, height: u32, rgb: [u8; 3]) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_pixel(width, height, Rgb(rgb)))
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let sum: f32 = logits.iter().map(|l| l.exp()).sum();
    logits.iter().map(|l| l.exp() / sum).collect()
}

/// The classifier of `make_models.py`: logits = means · B + C, then softmax.
fn classifier_expected(means: [f32; 3]) -> Vec<f32> {
    const B: [[f32; 3]; 3] = [[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 3.0]];
    const C: [f32; 3] = [0.1, -0.2, 0.3];
    let logits: Vec<f32> = (0..3)
        .map(|k| (0..3).map(|c| means[c] * B[c][k]).sum::<f32>() + C[k])
        .collect();
    softmax(&logits)
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "got {got:?}, want {want:?}");
    }
}

fn probabilities(c: &mira_models::Classification) -> Vec<f32> {
    c.classes.iter().map(|c| c.probability).collect()
}

// ---------------------------------------------------------------------------------------
// Classification

#[test]
fn classifier_gives_softmax_of_hand_computed_logits_with_meanings() {
    let dir = require!(models());
    let model = load(dir.path(), &classifier_manifest(dir.path()));
    // pure red: channel means [1, 0, 0] → logits [2.1, -0.2, -0.7]
    let result = model.classify(&uniform(4, 4, [255, 0, 0])).unwrap();
    assert_close(&probabilities(&result), &softmax(&[2.1, -0.2, -0.7]));
    assert_eq!(result.model_id, "tiny-classifier");
    assert_eq!(result.model_version, "1.0.0");
    assert_eq!(result.top().label, "normal");
    assert_eq!(result.top().meaning, "No abnormality");
    assert_eq!(result.classes[2].meaning, "Suspicious finding; refer");
    assert!(result.probability("benign").is_some_and(|p| p > 0.0));

    // pure blue: means [0, 0, 1] → logits [-0.9, -0.2, 3.3]
    let result = model.classify(&uniform(4, 4, [0, 0, 255])).unwrap();
    assert_close(&probabilities(&result), &softmax(&[-0.9, -0.2, 3.3]));
    assert_eq!(result.top().label, "suspicious");
}

#[test]
fn classifier_averages_a_non_uniform_image() {
    let dir = require!(models());
    let model = load(dir.path(), &classifier_manifest(dir.path()));
    // left half red, right half green: means [0.5, 0.5, 0]
    let image = RgbImage::from_fn(4, 4, |x, _| {
        if x < 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 255, 0])
        }
    });
    let result = model.classify(&DynamicImage::ImageRgb8(image)).unwrap();
    assert_close(
        &probabilities(&result),
        &classifier_expected([0.5, 0.5, 0.0]),
    );
}

#[test]
fn classify_tensor_takes_the_input_as_given() {
    let dir = require!(models());
    let model = load(dir.path(), &classifier_manifest(dir.path()));
    assert_eq!(model.input_shape(), [1, 3, 4, 4]);
    let mut tensor = vec![0.0; 48];
    tensor[..16].fill(0.25); // channel 0
    tensor[16..32].fill(-1.0); // channel 1
    tensor[32] = 8.0; // channel 2: one pixel, mean 0.5
    let result = model.classify_tensor(&tensor).unwrap();
    assert_close(
        &probabilities(&result),
        &classifier_expected([0.25, -1.0, 0.5]),
    );
}

#[test]
fn probabilities_output_is_used_as_it_is() {
    let dir = require!(models());
    let mut manifest = for_file(
        dir.path(),
        classifier_manifest(dir.path()),
        "classifier_probs.onnx",
    );
    manifest.outputs[0] = OutputSpec {
        name: "probs".into(),
        kind: OutputKind::Probabilities,
    };
    let model = load(dir.path(), &manifest);
    let result = model.classify(&uniform(4, 4, [255, 0, 0])).unwrap();
    // the graph's own softmax; the runner must not apply a second one
    assert_close(&probabilities(&result), &softmax(&[2.1, -0.2, -0.7]));
}

#[test]
fn colour_order_bgr_swaps_red_and_blue() {
    let dir = require!(models());
    let mut manifest = classifier_manifest(dir.path());
    manifest.input.colour_order = ColourOrder::Bgr;
    let model = load(dir.path(), &manifest);
    // red image, fed blue first: means [0, 0, 1]
    let result = model.classify(&uniform(4, 4, [255, 0, 0])).unwrap();
    assert_close(&probabilities(&result), &softmax(&[-0.9, -0.2, 3.3]));
    assert_eq!(result.top().label, "suspicious");
}

#[test]
fn normalisation_applies_value_range_then_mean_and_std() {
    let dir = require!(models());
    let mut manifest = classifier_manifest(dir.path());
    manifest.input.mean = vec![0.5, 0.5, 0.5];
    manifest.input.std = vec![0.25, 0.5, 1.0];
    let model = load(dir.path(), &manifest);
    // red: [(1-0.5)/0.25, (0-0.5)/0.5, (0-0.5)/1] = [2, -1, -0.5] → logits [4.6, -1.2, -3.2]
    let result = model.classify(&uniform(4, 4, [255, 0, 0])).unwrap();
    assert_close(&probabilities(&result), &softmax(&[4.6, -1.2, -3.2]));

    let mut manifest = classifier_manifest(dir.path());
    manifest.input.value_range = [-1.0, 1.0];
    let model = load(dir.path(), &manifest);
    // red in [-1, 1]: means [1, -1, -1] → logits [3.1, -1.2, -3.7]
    let result = model.classify(&uniform(4, 4, [255, 0, 0])).unwrap();
    assert_close(&probabilities(&result), &softmax(&[3.1, -1.2, -3.7]));
    let tensor = model.preprocess(&uniform(4, 4, [255, 0, 0])).unwrap();
    assert_eq!(&tensor[..16], &[1.0; 16]);
    assert_eq!(&tensor[16..], &[-1.0; 32]);
}

#[test]
fn images_are_resized_to_the_input_size() {
    let dir = require!(models());
    let model = load(dir.path(), &classifier_manifest(dir.path()));
    let small = model.classify(&uniform(4, 4, [51, 102, 204])).unwrap();
    let large = model.classify(&uniform(37, 23, [51, 102, 204])).unwrap();
    assert_close(&probabilities(&large), &probabilities(&small));
    assert_close(
        &probabilities(&small),
        &classifier_expected([0.2, 0.4, 0.8]),
    );
    assert_eq!(
        model.preprocess(&uniform(37, 23, [0, 0, 0])).unwrap().len(),
        48
    );
}

#[test]
fn gray_nhwc_input_is_luma_in_channels_last_order() {
    let dir = require!(models());
    let mut manifest = for_file(
        dir.path(),
        classifier_manifest(dir.path()),
        "gray_nhwc.onnx",
    );
    manifest.input.layout = Layout::Nhwc;
    manifest.input.channels = 1;
    manifest.input.colour_order = ColourOrder::Gray;
    manifest.input.mean = vec![0.0];
    manifest.input.std = vec![1.0];
    manifest.classes.truncate(2);
    let model = load(dir.path(), &manifest);
    assert_eq!(model.input_shape(), [1, 4, 4, 1]);
    // green only: luma 0.7152 → logits [4·0.7152, -4·0.7152 + 0.5]
    let result = model.classify(&uniform(4, 4, [0, 255, 0])).unwrap();
    let luma = 0.7152f32;
    assert_close(
        &probabilities(&result),
        &softmax(&[4.0 * luma, -4.0 * luma + 0.5]),
    );
}

#[test]
fn a_symbolic_batch_axis_is_accepted() {
    let dir = require!(models());
    let manifest = for_file(
        dir.path(),
        classifier_manifest(dir.path()),
        "classifier_dyn.onnx",
    );
    let model = load(dir.path(), &manifest);
    let result = model.classify(&uniform(4, 4, [0, 0, 255])).unwrap();
    assert_close(&probabilities(&result), &softmax(&[-0.9, -0.2, 3.3]));
}

#[test]
fn json_manifests_load_as_toml_ones_do() {
    let dir = require!(models());
    let manifest = classifier_manifest(dir.path());
    let model = Model::load(&write(dir.path(), "model.json", &manifest)).unwrap();
    assert_eq!(model.manifest(), &manifest);
    assert_eq!(model.sha256(), manifest.provenance.sha256);
    assert_eq!(model.model_path(), dir.path().join("classifier.onnx"));
}

#[test]
fn a_model_is_shared_across_threads_and_deterministic() {
    let dir = require!(models());
    let model = Arc::new(load(dir.path(), &classifier_manifest(dir.path())));
    let image = Arc::new(uniform(9, 5, [10, 200, 30]));
    let first = model.classify(&image).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (model, image) = (Arc::clone(&model), Arc::clone(&image));
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| model.classify(&image).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for thread in threads {
        for result in thread.join().unwrap() {
            assert_eq!(result, first, "every run gives bit-identical output");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Detection and segmentation

fn detector_manifest(dir: &Path) -> Manifest {
    let mut manifest = for_file(dir, classifier_manifest(dir), "detector.onnx");
    manifest.id = "tiny-detector".into();
    manifest.task = Task::Detection;
    manifest.input.width = 8;
    manifest.input.height = 8;
    manifest.outputs = vec![
        OutputSpec {
            name: "boxes".into(),
            kind: OutputKind::Boxes,
        },
        OutputSpec {
            name: "scores".into(),
            kind: OutputKind::Scores,
        },
    ];
    manifest.classes = vec![
        class("nodule", "Pulmonary nodule candidate"),
        class("mass", "Mass candidate (over 30 mm)"),
    ];
    manifest.detection = Some(DetectionSpec {
        box_units: BoxUnits::Pixels,
        score_threshold: 0.5,
        nms_iou: Some(0.5),
    });
    manifest
}

fn summary(d: &mira_models::Detections) -> Vec<(String, f32, [f32; 4])> {
    d.detections
        .iter()
        .map(|d| {
            (
                d.label.clone(),
                d.score,
                [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2],
            )
        })
        .collect()
}

fn assert_detections(got: &mira_models::Detections, want: &[(&str, f32, [f32; 4])]) {
    let got = summary(got);
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((label, score, bbox), (want_label, want_score, want_box)) in got.iter().zip(want) {
        assert_eq!(label, want_label, "{got:?}");
        assert!((score - want_score).abs() < 1e-5, "{got:?}");
        assert_close(bbox, want_box);
    }
}

#[test]
fn detector_thresholds_suppresses_and_labels_boxes() {
    let dir = require!(models());
    let model = load(dir.path(), &detector_manifest(dir.path()));
    // zero input: box 0 nodule 0.9; box 1 nodule 0.8 overlaps box 0 at IoU 6.25/11.75 and is
    // suppressed; box 2 mass 0.6
    let found = model.detect_tensor(&[0.0; 192]).unwrap();
    assert_eq!(found.model_id, "tiny-detector");
    assert_detections(
        &found,
        &[
            ("nodule", 0.9, [1.0, 1.0, 4.0, 4.0]),
            ("mass", 0.6, [5.0, 5.0, 7.0, 7.0]),
        ],
    );
    assert_eq!(found.detections[1].meaning, "Mass candidate (over 30 mm)");
    assert_eq!(found.detections[1].class_index, 1);

    // red mean -1 lowers box 2's mass score to 0.3, below the threshold
    let mut tensor = [0.0; 192];
    tensor[..64].fill(-1.0);
    let found = model.detect_tensor(&tensor).unwrap();
    assert_detections(&found, &[("nodule", 0.9, [1.0, 1.0, 4.0, 4.0])]);
}

#[test]
fn detector_without_nms_keeps_overlapping_boxes() {
    let dir = require!(models());
    let mut manifest = detector_manifest(dir.path());
    manifest.detection.as_mut().unwrap().nms_iou = None;
    let model = load(dir.path(), &manifest);
    let found = model.detect_tensor(&[0.0; 192]).unwrap();
    assert_detections(
        &found,
        &[
            ("nodule", 0.9, [1.0, 1.0, 4.0, 4.0]),
            ("nodule", 0.8, [1.5, 1.5, 4.5, 4.5]),
            ("mass", 0.6, [5.0, 5.0, 7.0, 7.0]),
        ],
    );
}

#[test]
fn detector_boxes_are_scaled_to_the_image() {
    let dir = require!(models());
    let model = load(dir.path(), &detector_manifest(dir.path()));
    // a black 16×32 image is a zero tensor; boxes scale ×2 across, ×4 down
    let found = model.detect(&uniform(16, 32, [0, 0, 0])).unwrap();
    assert_detections(
        &found,
        &[
            ("nodule", 0.9, [2.0, 4.0, 8.0, 16.0]),
            ("mass", 0.6, [10.0, 20.0, 14.0, 28.0]),
        ],
    );

    let mut manifest = detector_manifest(dir.path());
    manifest.detection.as_mut().unwrap().box_units = BoxUnits::Normalized;
    let model = load(dir.path(), &manifest);
    // read as fractions, box 2 is (5, 5)–(7, 7) times the image size
    let found = model.detect(&uniform(10, 10, [0, 0, 0])).unwrap();
    assert_detections(
        &found,
        &[
            ("nodule", 0.9, [10.0, 10.0, 40.0, 40.0]),
            ("mass", 0.6, [50.0, 50.0, 70.0, 70.0]),
        ],
    );
}

#[test]
fn segmenter_gives_per_pixel_softmax_and_labels() {
    let dir = require!(models());
    let mut manifest = for_file(
        dir.path(),
        classifier_manifest(dir.path()),
        "segmenter.onnx",
    );
    manifest.task = Task::Segmentation;
    manifest.input.width = 2;
    manifest.input.height = 2;
    manifest.outputs = vec![OutputSpec {
        name: "mask".into(),
        kind: OutputKind::MaskLogits,
    }];
    manifest.classes = vec![class("background", "Not lesion"), class("lesion", "Lesion")];
    let model = load(dir.path(), &manifest);
    // mask0 = r, mask1 = g - b + 0.25, per pixel
    let (r, g, b) = (
        [1.0, 0.0, 0.0, 2.0],
        [0.0, 1.0, 0.5, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    );
    let tensor: Vec<f32> = r.iter().chain(&g).chain(&b).copied().collect();
    let mask = model.segment_tensor(&tensor).unwrap();
    assert_eq!((mask.width, mask.height), (2, 2));
    assert_eq!(mask.labels, vec![0, 1, 1, 0]);
    for i in 0..4 {
        let p = softmax(&[r[i], g[i] - b[i] + 0.25]);
        assert_close(&[mask.probabilities[i], mask.probabilities[4 + i]], &p);
    }
}

#[test]
fn volume_classifier_takes_a_ncdhw_tensor_and_refuses_images() {
    let dir = require!(models());
    let mut manifest = for_file(dir.path(), classifier_manifest(dir.path()), "volume.onnx");
    manifest.id = "tiny-nodule-classifier".into();
    manifest.input.name = "patch".into();
    manifest.input.layout = Layout::Ncdhw;
    manifest.input.width = 2;
    manifest.input.height = 2;
    manifest.input.depth = Some(2);
    manifest.input.channels = 1;
    manifest.input.colour_order = ColourOrder::Gray;
    manifest.input.mean = vec![0.0];
    manifest.input.std = vec![1.0];
    manifest.classes = vec![
        class("benign", "Benign nodule"),
        class("malignant", "Suspected malignant nodule"),
    ];
    let model = load(dir.path(), &manifest);
    assert_eq!(model.input_shape(), [1, 1, 2, 2, 2]);
    // mean 0.5 → logits [1.0, -0.5]
    let patch = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
    let result = model.classify_tensor(&patch).unwrap();
    assert_close(&probabilities(&result), &softmax(&[1.0, -0.5]));
    assert_eq!(result.top().label, "benign");
    assert!(matches!(
        model.classify(&uniform(2, 2, [0, 0, 0])),
        Err(RunError::VolumeInput { model }) if model == "tiny-nodule-classifier"
    ));

    let mut m = manifest.clone();
    m.input.depth = None;
    assert_eq!(invalid(&m, "input.depth"), "is required for layout NCDHW");
    let mut m = manifest.clone();
    m.input.depth = Some(4);
    match load_err(dir.path(), &m) {
        LoadError::InputMismatch { reason } => {
            assert!(
                reason.starts_with(
                    "the graph's input shape is 1×1×2×2×2, the manifest's is 1×1×4×2×2"
                ),
                "{reason}"
            )
        }
        other => panic!("expected an input mismatch, got {other}"),
    }
    let mut m = classifier_manifest(dir.path());
    m.input.depth = Some(2);
    assert_eq!(
        invalid(&m, "input.depth"),
        "is for layout NCDHW only, layout is Nchw"
    );
}

// ---------------------------------------------------------------------------------------
// Refusals: every one a typed error, never a panic

fn invalid(manifest: &Manifest, field: &str) -> String {
    let error = manifest.validate().unwrap_err();
    let problem = error
        .problem(field)
        .unwrap_or_else(|| panic!("no problem reported for {field}: {error}"));
    assert!(error.to_string().contains(&problem.to_string()));
    problem.reason.clone()
}

#[test]
fn validate_names_the_field_and_the_reason() {
    let dir = require!(models());
    let good = classifier_manifest(dir.path());
    good.validate().unwrap();

    let mut m = good.clone();
    m.input.mean = vec![0.5];
    assert_eq!(invalid(&m, "input.mean"), "has 1 value, channels is 3");
    assert_eq!(
        m.validate().unwrap_err().to_string(),
        "invalid manifest: input.mean has 1 value, channels is 3"
    );

    let mut m = good.clone();
    m.input.std = vec![1.0, 0.0, 1.0];
    assert_eq!(invalid(&m, "input.std"), "must be positive");

    let mut m = good.clone();
    m.input.channels = 1;
    assert_eq!(
        invalid(&m, "input.channels"),
        "is 1, colour_order Rgb needs 3"
    );
    // the mean and std lengths are reported too: every problem at once
    assert!(m.validate().unwrap_err().problem("input.mean").is_some());
    assert!(m.validate().unwrap_err().problem("input.std").is_some());

    let mut m = good.clone();
    m.input.width = 0;
    assert_eq!(invalid(&m, "input.width"), "must be positive");

    let mut m = good.clone();
    m.input.value_range = [1.0, 0.0];
    assert!(invalid(&m, "input.value_range").contains("low < high"));

    let mut m = good.clone();
    m.provenance.sha256 = "abc".into();
    assert_eq!(
        invalid(&m, "provenance.sha256"),
        "must be 64 hexadecimal digits, has 3 characters"
    );

    let mut m = good.clone();
    m.intended_use = "  ".into();
    assert_eq!(invalid(&m, "intended_use"), "is empty");

    let mut m = good.clone();
    m.file = "../elsewhere/model.onnx".into();
    assert!(invalid(&m, "file").contains("relative path inside"));

    let mut m = good.clone();
    m.classes.clear();
    assert_eq!(invalid(&m, "classes"), "is empty");

    let mut m = good.clone();
    m.classes[2].label = "normal".into();
    assert_eq!(invalid(&m, "classes[2].label"), "repeats \"normal\"");

    let mut m = good.clone();
    m.classes[1].meaning = String::new();
    assert_eq!(invalid(&m, "classes[1].meaning"), "is empty");

    let mut m = good.clone();
    m.outputs[0].kind = OutputKind::Boxes;
    assert_eq!(
        invalid(&m, "outputs"),
        "task classification needs one probabilities or logits output, has [boxes]"
    );

    let mut m = detector_manifest(dir.path());
    m.detection = None;
    assert_eq!(invalid(&m, "detection"), "is required for task detection");

    let mut m = detector_manifest(dir.path());
    m.detection.as_mut().unwrap().score_threshold = 1.5;
    assert!(invalid(&m, "detection.score_threshold").contains("is 1.5"));

    let mut m = good.clone();
    m.detection = detector_manifest(dir.path()).detection;
    assert_eq!(
        invalid(&m, "detection"),
        "is only for task detection, task is classification"
    );
}

#[test]
fn load_refuses_invalid_manifests_before_reading_the_model() {
    let dir = require!(models());
    let mut m = classifier_manifest(dir.path());
    m.input.mean = vec![0.5];
    let error = load_err(dir.path(), &m);
    assert!(
        matches!(&error, LoadError::Manifest(e) if e.problem("input.mean").is_some()),
        "{error}"
    );
}

#[test]
fn unparsable_manifests_are_refused_with_the_parser_reason() {
    let dir = require!(models());
    let good = toml::to_string(&classifier_manifest(dir.path())).unwrap();
    let cases = [
        (
            "unknown.toml",
            format!("colour = \"red\"\n{good}"),
            "colour",
        ),
        (
            "enum.toml",
            good.replace("colour_order = \"rgb\"", "colour_order = \"cmyk\""),
            "cmyk",
        ),
        (
            "missing.toml",
            good.lines()
                .filter(|l| !l.starts_with("intended_use"))
                .collect::<Vec<_>>()
                .join("\n"),
            "intended_use",
        ),
        ("broken.json", "{\"id\": ".into(), "EOF"),
    ];
    for (name, text, mention) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        match Model::load(&path) {
            Err(LoadError::Manifest(ManifestError::Parse { path: p, reason })) => {
                assert_eq!(p, path);
                assert!(reason.contains(mention), "{name}: {reason}");
            }
            other => panic!("{name}: expected a parse error, got {other:?}"),
        }
    }
    let yaml = dir.path().join("model.yaml");
    std::fs::write(&yaml, "id: x").unwrap();
    assert!(matches!(
        Model::load(&yaml),
        Err(LoadError::Manifest(ManifestError::Format { .. }))
    ));
    assert!(matches!(
        Model::load(&dir.path().join("absent.toml")),
        Err(LoadError::Manifest(ManifestError::Read { .. }))
    ));
}

#[test]
fn a_missing_model_file_is_refused() {
    let dir = require!(models());
    let mut m = classifier_manifest(dir.path());
    m.file = "absent.onnx".into();
    let error = load_err(dir.path(), &m);
    assert!(
        matches!(&error, LoadError::ReadModel { path, .. } if path.ends_with("absent.onnx")),
        "{error}"
    );
}

#[test]
fn a_model_whose_hash_differs_is_refused() {
    let dir = require!(models());
    let mut m = classifier_manifest(dir.path());
    let actual = m.provenance.sha256.clone();
    m.provenance.sha256 = "0".repeat(64);
    match load_err(dir.path(), &m) {
        LoadError::HashMismatch {
            expected,
            actual: got,
            ..
        } => {
            assert_eq!(expected, "0".repeat(64));
            assert_eq!(got, actual);
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
    // a file changed after its manifest was written
    let m = classifier_manifest(dir.path());
    let path = write(dir.path(), "model.toml", &m);
    std::fs::copy(
        dir.path().join("classifier_probs.onnx"),
        dir.path().join("classifier.onnx"),
    )
    .unwrap();
    assert!(matches!(
        Model::load(&path),
        Err(LoadError::HashMismatch { .. })
    ));
}

#[test]
fn corrupt_onnx_files_are_refused_cleanly() {
    let dir = require!(models());
    for file in ["truncated.onnx", "garbage.onnx"] {
        let m = for_file(dir.path(), classifier_manifest(dir.path()), file);
        match load_err(dir.path(), &m) {
            LoadError::Onnx { path, reason } => {
                assert!(path.ends_with(file));
                assert!(!reason.is_empty());
            }
            other => panic!("{file}: expected an ONNX error, got {other}"),
        }
    }
}

#[test]
fn weights_outside_the_hashed_file_are_refused() {
    let dir = require!(models());
    assert!(dir.path().join("weights.bin").exists());
    let m = for_file(
        dir.path(),
        classifier_manifest(dir.path()),
        "external_data.onnx",
    );
    match load_err(dir.path(), &m) {
        LoadError::Onnx { reason, .. } => assert!(reason.contains("external data"), "{reason}"),
        other => panic!("expected an ONNX error, got {other}"),
    }
}

#[test]
fn an_input_type_other_than_f32_is_refused() {
    let dir = require!(models());
    let m = for_file(
        dir.path(),
        classifier_manifest(dir.path()),
        "uint8_input.onnx",
    );
    match load_err(dir.path(), &m) {
        LoadError::InputMismatch { reason } => {
            assert_eq!(reason, "the graph's input is U8, the runner feeds f32")
        }
        other => panic!("expected an input mismatch, got {other}"),
    }
}

#[test]
fn an_input_shape_that_disagrees_with_the_manifest_is_refused() {
    let dir = require!(models());
    let mut m = classifier_manifest(dir.path());
    m.input.width = 8;
    match load_err(dir.path(), &m) {
        LoadError::InputMismatch { reason } => assert_eq!(
            reason,
            "the graph's input shape is 1×3×4×4, the manifest's is 1×3×4×8 (Nchw, 3 channels, 8×4)"
        ),
        other => panic!("expected an input mismatch, got {other}"),
    }

    let mut m = classifier_manifest(dir.path());
    m.input.layout = Layout::Nhwc;
    assert!(matches!(
        load_err(dir.path(), &m),
        LoadError::InputMismatch { .. }
    ));

    let mut m = classifier_manifest(dir.path());
    m.input.name = "pixels".into();
    match load_err(dir.path(), &m) {
        LoadError::InputMismatch { reason } => assert_eq!(
            reason,
            "the graph's input is named \"image\", input.name is \"pixels\""
        ),
        other => panic!("expected an input mismatch, got {other}"),
    }

    let m = for_file(
        dir.path(),
        classifier_manifest(dir.path()),
        "two_inputs.onnx",
    );
    match load_err(dir.path(), &m) {
        LoadError::InputMismatch { reason } => {
            assert_eq!(reason, "the graph has 2 inputs, the runner feeds one")
        }
        other => panic!("expected an input mismatch, got {other}"),
    }
}

#[test]
fn outputs_that_disagree_with_the_manifest_are_refused() {
    let dir = require!(models());
    let mut m = classifier_manifest(dir.path());
    m.outputs[0].name = "probs".into();
    match load_err(dir.path(), &m) {
        LoadError::OutputMismatch { name, reason } => {
            assert_eq!(name, "probs");
            assert_eq!(reason, "the graph has no such output (it has \"logits\")");
        }
        other => panic!("expected an output mismatch, got {other}"),
    }

    let mut m = classifier_manifest(dir.path());
    m.classes.pop();
    match load_err(dir.path(), &m) {
        LoadError::OutputMismatch { name, reason } => {
            assert_eq!(name, "logits");
            assert_eq!(
                reason,
                "its shape is [1, 3], a logits output for 2 classes must be [1, 2]"
            );
        }
        other => panic!("expected an output mismatch, got {other}"),
    }

    // the detector read as a classifier: its scores output is [1, 3, 2]
    let mut m = for_file(dir.path(), classifier_manifest(dir.path()), "detector.onnx");
    m.input.width = 8;
    m.input.height = 8;
    m.outputs[0].name = "scores".into();
    m.classes.truncate(2);
    assert!(matches!(
        load_err(dir.path(), &m),
        LoadError::OutputMismatch { .. }
    ));
}

#[test]
fn calls_that_do_not_fit_the_model_are_refused() {
    let dir = require!(models());
    let model = load(dir.path(), &classifier_manifest(dir.path()));
    match model.detect(&uniform(4, 4, [0, 0, 0])) {
        Err(RunError::WrongTask { task, wanted, .. }) => {
            assert_eq!((task, wanted), (Task::Classification, Task::Detection));
        }
        other => panic!("expected a wrong-task error, got {other:?}"),
    }
    match model.classify_tensor(&[0.0; 47]) {
        Err(RunError::TensorLength {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (48, 47)),
        other => panic!("expected a tensor-length error, got {other:?}"),
    }
    let mut tensor = [0.0; 48];
    tensor[0] = f32::NAN;
    assert!(matches!(
        model.classify_tensor(&tensor),
        Err(RunError::NonFinite { output }) if output == "logits"
    ));
}
