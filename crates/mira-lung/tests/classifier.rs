//! The ONNX plug-in: a candidate classifier (mira-models manifest) in place of the classical
//! false-positive reduction, on tiny models that `make_lung_models.py` writes at test time
//! (python3 with the `onnx` package; skipped with a message when missing, a failure under
//! `CI=true`).

use std::path::{Path, PathBuf};
use std::process::Command;

use mira_lung::phantom::{self, PhantomSpec, PlantedKind, PlantedNodule};
use mira_lung::{LungOptions, LungReport, analyze};
use mira_models::{
    ClassSpec, ColourOrder, InputSpec, Layout, Manifest, OutputKind, OutputSpec, Provenance, Task,
};
use sha2::{Digest, Sha256};

fn models() -> Option<tempfile::TempDir> {
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/make_lung_models.py");
    let output = match Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            assert!(!ci, "python3 cannot be run: {e}");
            eprintln!("SKIP: python3 cannot be run ({e})");
            return None;
        }
    };
    if output.status.code() == Some(3) {
        assert!(!ci, "{}", String::from_utf8_lossy(&output.stderr));
        eprintln!(
            "SKIP: {} (scripts/install-test-deps installs it)",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return None;
    }
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(dir)
}

fn manifest(dir: &Path, file: &str) -> PathBuf {
    let sha256 = hex::encode(Sha256::digest(std::fs::read(dir.join(file)).unwrap()));
    let m = Manifest {
        id: format!("tiny-{}", file.trim_end_matches(".onnx")),
        version: "1.0.0".into(),
        task: Task::Classification,
        intended_use: "Tests of mira-lung's classifier plug-in only; not for clinical use".into(),
        file: file.into(),
        input: InputSpec {
            name: "patch".into(),
            layout: Layout::Ncdhw,
            width: 16,
            height: 16,
            depth: Some(16),
            channels: 1,
            colour_order: ColourOrder::Gray,
            value_range: [0.0, 1.0],
            mean: vec![0.0],
            std: vec![1.0],
        },
        outputs: vec![OutputSpec {
            name: "logits".into(),
            kind: OutputKind::Logits,
        }],
        classes: vec![
            ClassSpec {
                label: "other".into(),
                meaning: "Not a nodule".into(),
            },
            ClassSpec {
                label: "nodule".into(),
                meaning: "Lung nodule".into(),
            },
        ],
        detection: None,
        provenance: Provenance {
            source: "crates/mira-lung/tests/make_lung_models.py".into(),
            licence: "Apache-2.0".into(),
            sha256,
        },
    };
    let path = dir.join(format!("{file}.toml"));
    std::fs::write(&path, toml::to_string(&m).unwrap()).unwrap();
    path
}

fn solid(x: f64, y: f64, z: f64, d: f64) -> PlantedNodule {
    PlantedNodule {
        centre_mm: [x, y, z],
        diameter_mm: d,
        kind: PlantedKind::Solid,
        on_vessel: false,
    }
}

fn found(report: &LungReport, n: &PlantedNodule) -> bool {
    report.nodules.iter().any(|r| {
        (0..3)
            .map(|a| (r.centre_mm[a] - n.centre_mm[a]).powi(2))
            .sum::<f64>()
            .sqrt()
            <= (n.diameter_mm / 2.0).max(3.0)
    })
}

#[test]
fn a_classifier_replaces_the_classical_fp_reduction() {
    let Some(dir) = models() else { return };
    let x = 0.21 * 256.0 * 0.7;
    let nodules = vec![
        solid(-x, -15.0, -12.0, 12.0),
        solid(x, 10.0, 8.0, 9.0),
        solid(x + 4.0, -20.0, -14.0, 4.6),
        solid(-x + 3.0, 18.0, 14.0, 5.0),
    ];
    let p = phantom::generate(&PhantomSpec {
        seed: 11,
        dims: [256, 256, 56],
        pixel_mm: 0.7,
        slice_mm: 1.0,
        noise_hu: 30.0,
        vessel_generations: 6,
        nodules,
    });
    let classical = analyze(&p.volume, &LungOptions::lung_rads().unwrap(), None).unwrap();
    let centre = LungOptions::lung_rads()
        .unwrap()
        .with_classifier_manifest(&manifest(dir.path(), "centre_mean.onnx"))
        .unwrap();
    let by_mean = analyze(&p.volume, &centre, None).unwrap();
    let always = LungOptions::lung_rads()
        .unwrap()
        .with_classifier_manifest(&manifest(dir.path(), "always.onnx"))
        .unwrap();
    let by_always = analyze(&p.volume, &always, None).unwrap();
    let show = |name: &str, r: &LungReport| {
        eprintln!(
            "{name}: {} nodules {:?}",
            r.nodules.len(),
            r.nodules
                .iter()
                .map(|n| (n.mean_diameter_mm, n.confidence))
                .collect::<Vec<_>>()
        )
    };
    show("classical", &classical);
    show("centre mean", &by_mean);
    show("always", &by_always);
    assert_eq!(classical.algorithm.fp_reduction, "classical");
    assert_eq!(by_mean.algorithm.fp_reduction, "tiny-centre_mean");
    assert_eq!(by_mean.algorithm.model.as_ref().unwrap().version, "1.0.0");
    // the large nodules pass every stage; the 4.6 mm one passes the classical stage, and the
    // centre-mean model (whose 8 mm central cube a small nodule does not fill) drops it
    for n in p.nodules.iter().filter(|n| n.diameter_mm >= 8.0) {
        assert!(
            found(&classical, n) && found(&by_mean, n) && found(&by_always, n),
            "{n:?}"
        );
    }
    // the centre-mean model (whose 8 mm central cube a small nodule does not fill) scores
    // what it keeps below 6 mm low, the large ones high; the classical stage keeps the 4.6 mm one
    let small = &p.nodules[2];
    assert!(found(&classical, small), "classical missed {small:?}");
    for n in &by_mean.nodules {
        if n.mean_diameter_mm < 6.0 {
            assert!(n.confidence < 0.9, "{n:?}");
        } else {
            assert!(n.confidence > 0.9, "{n:?}");
        }
    }
    // a model that accepts everything reports every candidate the classical stage rejected
    assert!(
        by_always.nodules.len() > classical.nodules.len(),
        "{} vs {}",
        by_always.nodules.len(),
        classical.nodules.len()
    );
}
