//! The model path: tiny ONNX models written at test time by mira-models' `make_models.py`
//! (python3 with `onnx`; skipped with a message when missing, a failure under `CI=true`),
//! loaded through the fundus API, and a malformed one refused with the manifest's path.

use std::path::{Path, PathBuf};
use std::process::Command;

use image::{Rgb, RgbImage};
use mira_fundus::{Analyzer, FundusError, ScreeningResult};
use mira_models::{
    ClassSpec, ColourOrder, InputSpec, Layout, Manifest, OutputKind, OutputSpec, Provenance, Task,
};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

fn models() -> Option<TempDir> {
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mira-models/tests/make_models.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output();
    match output {
        Ok(o) if o.status.success() => Some(dir),
        Ok(o) if o.status.code() == Some(3) => {
            assert!(!ci, "onnx missing under CI=true");
            eprintln!("SKIP: {}", String::from_utf8_lossy(&o.stderr).trim());
            None
        }
        Ok(o) => panic!(
            "make_models.py failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            assert!(!ci, "python3 cannot be run under CI=true: {e}");
            eprintln!("SKIP: python3 cannot be run ({e})");
            None
        }
    }
}

/// `classifier.onnx` of make_models.py (logits = channel means · B + C) read as a DR grader.
fn dr_manifest(dir: &Path, file: &str, labels: [&str; 3], colour_order: ColourOrder) -> PathBuf {
    let manifest = Manifest {
        id: "tiny-dr".into(),
        version: "0.0.1".into(),
        task: Task::Classification,
        intended_use: "Tests of the fundus model path only; not for clinical use".into(),
        file: file.into(),
        input: InputSpec {
            name: "image".into(),
            layout: Layout::Nchw,
            width: 4,
            height: 4,
            depth: None,
            channels: 3,
            colour_order,
            value_range: [0.0, 1.0],
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
        },
        outputs: vec![OutputSpec {
            name: "logits".into(),
            kind: OutputKind::Logits,
        }],
        classes: labels
            .iter()
            .map(|l| ClassSpec {
                label: (*l).into(),
                meaning: format!("class {l}"),
            })
            .collect(),
        detection: None,
        provenance: Provenance {
            source: "crates/mira-models/tests/make_models.py".into(),
            licence: "Apache-2.0".into(),
            sha256: hex::encode(Sha256::digest(std::fs::read(dir.join(file)).unwrap())),
        },
    };
    let path = dir.join(format!("{file}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    path
}

const ICDR: [&str; 3] = ["no_apparent_retinopathy", "mild_npdr", "moderate_npdr"];

#[test]
fn a_malformed_model_is_refused_naming_the_manifest() {
    let Some(dir) = models() else { return };
    for file in ["garbage.onnx", "truncated.onnx"] {
        let manifest = dr_manifest(dir.path(), file, ICDR, ColourOrder::Rgb);
        let err = Analyzer::new().with_model(&manifest).unwrap_err();
        assert!(matches!(err, FundusError::ModelLoad { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(&manifest.display().to_string()),
            "{message}"
        );
    }
    // a manifest that does not parse
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "id = \"x\"\nversion = 1\n").unwrap();
    let err = Analyzer::new().with_model(&broken).unwrap_err();
    assert!(matches!(err, FundusError::ModelLoad { .. }), "{err:?}");
    assert!(err.to_string().contains("broken.toml"), "{err}");
}

#[test]
fn class_labels_without_a_fundus_meaning_are_refused() {
    let Some(dir) = models() else { return };
    let manifest = dr_manifest(
        dir.path(),
        "classifier.onnx",
        ["normal", "benign", "suspicious"],
        ColourOrder::Rgb,
    );
    let err = Analyzer::new().with_model(&manifest).unwrap_err();
    match &err {
        FundusError::ModelClasses { label, .. } => assert_eq!(label, "normal"),
        other => panic!("{other:?}"),
    }
}

/// A synthetic "photograph" QC cannot grade (uniform, no field structure): whatever the model
/// says, the result is ungradable, never "no retinopathy".
#[test]
fn an_ungradable_photograph_stays_ungradable_with_a_model() {
    let Some(dir) = models() else { return };
    let manifest = dr_manifest(dir.path(), "classifier.onnx", ICDR, ColourOrder::Rgb);
    let analyzer = Analyzer::new().with_model(&manifest).unwrap();
    let photo = mira_fundus::Photograph {
        image: RgbImage::from_pixel(640, 480, Rgb([200, 0, 0])),
        source: mira_fundus::Source {
            path: "synthetic-red.png".into(),
            format: mira_fundus::SourceFormat::Png,
            width: 640,
            height: 480,
            patient_id: None,
            laterality: mira_fundus::Laterality::Unknown,
            laterality_source: "synthetic".into(),
            acquisition_date: None,
            study_instance_uid: None,
            series_instance_uid: None,
            sop_instance_uid: None,
            sop_class_uid: None,
        },
    };
    let report = analyzer.analyze(&photo).unwrap();
    let model = report.model.as_ref().unwrap();
    // red (1, 0, 0): logits (2.1, -0.2, -0.7): the model says no apparent retinopathy
    assert_eq!(model.result, Some(ScreeningResult::NoApparentRetinopathy));
    assert!(!report.gradability.gradable, "{:?}", report.gradability);
    assert_eq!(report.screening.result, ScreeningResult::Ungradable);
    assert!(report.screening.referable);
    assert_eq!(report.screening.statement, "ungradable — re-image or refer");
}

/// On a real photograph, read in BGR order the tiny classifier finds "moderate NPDR"
/// (blue-channel weight 3): the model raises the result to referable, and says why.
#[test]
fn a_referable_model_grade_raises_the_result_on_a_real_photograph() {
    let Some(dir) = models() else { return };
    let Some(image) = mira_testdata::file("fundus/idrid_codras/0006.jpg") else {
        return;
    };
    let manifest = dr_manifest(dir.path(), "classifier.onnx", ICDR, ColourOrder::Bgr);
    let with_model = Analyzer::new().with_model(&manifest).unwrap();
    let report = with_model.analyze_path(&image).unwrap();
    let model = report.model.as_ref().unwrap();
    assert_eq!(model.id, "tiny-dr");
    assert_eq!(model.result, Some(ScreeningResult::Referable));
    let p = model.referable_probability.unwrap();
    assert!(p > 0.5 && p < 1.0, "{p}");
    assert!(report.gradability.gradable);
    assert!(report.screening.result >= ScreeningResult::Referable);
    let classical = Analyzer::new().analyze_path(&image).unwrap();
    if classical.screening.result < ScreeningResult::Referable {
        assert_eq!(report.screening.basis, "classical+model");
        assert_eq!(report.screening.deciding_score, p);
    }
    assert!(report.timings.iter().any(|t| t.stage == "model"));
}
