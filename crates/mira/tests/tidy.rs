//! Tidy checks in the manner of rust-analyzer's `xtask/src/tidy.rs`: the rules of
//! ARCHITECTURE.md that a machine can check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Workspace crates and the crates each declares as (non-dev) dependencies.
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let deps = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_string())
                .collect();
            (package["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

#[test]
fn dependencies_point_one_way() {
    // crate → the internal crates it may depend on
    let allowed: &[(&str, &[&str])] = &[
        ("mira-dicom", &[]),
        ("mira-store", &["mira-dicom"]),
        ("mira-ingest", &["mira-dicom", "mira-store"]),
        ("mira-access", &["mira-store"]),
        (
            "mira-net",
            &[
                "mira-dicom",
                "mira-ingest",
                "mira-store",
                "mira-access",
                "mira-audit",
            ],
        ),
        ("mira-qc", &["mira-dicom", "mira-store", "mira-ingest"]),
        (
            "mira-analysis",
            &[
                "mira-store",
                "mira-ingest",
                "mira-fundus",
                "mira-lung",
                "mira-sr",
            ],
        ),
        (
            "mira-web",
            &[
                "mira-dicom",
                "mira-ingest",
                "mira-store",
                "mira-qc",
                "mira-access",
                "mira-analysis",
                "mira-audit",
                "mira-datasets",
                "mira-deid",
                "mira-eval",
                "mira-reading",
                "mira-report",
                "mira-sr",
            ],
        ),
        (
            "mira-reading",
            &[
                "mira-store",
                "mira-report",
                "mira-lung",
                "mira-fundus",
                "mira-clinical",
            ],
        ),
        ("mira-report", &["mira-sr", "mira-clinical"]),
        ("mira-models", &[]),
        ("mira-eval", &["mira-store", "mira-models"]),
        ("mira-testdata", &[]),
        ("mira-clinical", &[]),
        ("mira-sr", &[]),
        ("mira-lung", &["mira-clinical", "mira-models"]),
        ("mira-fundus", &["mira-qc", "mira-models"]),
        ("mira-deid", &["mira-dicom"]),
        ("mira-audit", &["mira-store"]),
        ("mira-datasets", &["mira-store", "mira-deid"]),
    ];
    let deps = workspace_dependencies();
    for krate in deps.keys().filter(|k| *k != "mira") {
        assert!(
            allowed.iter().any(|(name, _)| name == krate),
            "{krate} is not in this test's map of allowed dependencies: add it"
        );
    }
    for (krate, internal) in allowed {
        let declared = deps
            .get(*krate)
            .unwrap_or_else(|| panic!("{krate} is not in the workspace"));
        for dep in declared.iter().filter(|d| d.starts_with("mira")) {
            assert!(
                internal.contains(&dep.as_str()),
                "{krate} must not depend on {dep} (see ARCHITECTURE.md)"
            );
        }
    }
    for (krate, declared) in &deps {
        for dep in declared {
            if ["axum", "hyper", "tower", "tower-http"].contains(&dep.as_str()) {
                assert_eq!(
                    krate, "mira-web",
                    "only mira-web speaks HTTP, but {krate} depends on {dep}"
                );
            }
            if dep == "dicom-ul" {
                assert_eq!(
                    krate, "mira-net",
                    "only mira-net speaks DIMSE, but {krate} depends on dicom-ul"
                );
            }
        }
    }
}

#[test]
fn every_crate_is_documented() {
    let root = workspace_root();
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    for krate in workspace_dependencies().keys() {
        assert!(
            architecture.contains(&format!("crates/{krate}")),
            "ARCHITECTURE.md lacks crates/{krate}"
        );
        let dir = root.join("crates").join(krate).join("src");
        let entry = if dir.join("lib.rs").exists() {
            dir.join("lib.rs")
        } else {
            dir.join("main.rs")
        };
        let text = std::fs::read_to_string(&entry).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must open with a //! crate doc",
            entry.display()
        );
        if entry.ends_with("lib.rs") {
            assert!(
                text.contains("#![warn(missing_docs)]"),
                "{} must warn on missing docs",
                entry.display()
            );
        }
    }
}

#[test]
fn tests_neither_ignore_nor_expect_panics() {
    let root = workspace_root();
    let mut offenders = Vec::new();
    for entry in walkdir::WalkDir::new(root.join("crates")) {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tidy.rs") {
            let text = std::fs::read_to_string(path).unwrap();
            if text.contains("#[should_panic") || text.contains("#[ignore") {
                offenders.push(path.display().to_string());
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "tests must assert outcomes, not skip or expect panics: {offenders:?}"
    );
}
