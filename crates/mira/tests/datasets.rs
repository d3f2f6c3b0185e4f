//! Issue 8, dataset release: a researcher requests, a data steward approves and exports the
//! de-identified studies of the steward's site, the researcher downloads the archive and
//! reports back; every step is audited and nothing identifying leaves.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, http};

const CT_STUDY: &str = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";

const PEOPLE: &str = r#"
[[site]]
code = "cc-a"
name = "Community centre A"
kind = "community"
[[site]]
code = "hosp-b"
name = "Hospital B"
kind = "hospital"
[[ae]]
title = "A_MODALITY"
site = "cc-a"
[[ae]]
title = "B_MODALITY"
site = "hosp-b"
[[user]]
username = "researcher"
display_name = "Researcher"
roles = ["researcher"]
site = "cc-a"
password = "correct horse battery"
[[user]]
username = "other-researcher"
display_name = "Another researcher"
roles = ["researcher"]
site = "hosp-b"
password = "correct horse battery"
[[user]]
username = "steward-a"
display_name = "Steward A"
roles = ["data-steward"]
site = "cc-a"
password = "correct horse battery"
[[user]]
username = "steward-b"
display_name = "Steward B"
roles = ["data-steward"]
site = "hosp-b"
password = "correct horse battery"
[[user]]
username = "tech"
display_name = "Technologist"
roles = ["technologist"]
site = "cc-a"
password = "correct horse battery"
"#;

#[test]
fn request_approve_export_download_and_feedback() {
    let Some(data) = common::testdata() else {
        return;
    };
    let ct = data.join("dicom/pydicom/CT_small.dcm");
    let mr = data.join("dicom/pydicom/MR_small.dcm");
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("deid.key");
    std::fs::write(&key_file, "a de-identification key of at least 32 bytes\n").unwrap();
    let mut server =
        Server::start(&[("MIRA__DATASETS__DEID_KEY_FILE", key_file.to_str().unwrap())]);
    let people = server.scratch("access").join("people.toml");
    std::fs::write(&people, PEOPLE).unwrap();
    common::mira_cli(
        server.data_dir(),
        &["access", "apply", people.to_str().unwrap()],
    );
    for (aet, file) in [("A_MODALITY", &ct), ("B_MODALITY", &mr)] {
        let Some(out) = common::run_dcmtk(
            "storescu",
            [
                "-aet",
                aet,
                "127.0.0.1",
                &server.port_arg(),
                file.to_str().unwrap(),
            ],
        ) else {
            return;
        };
        out.assert_success();
    }
    let token = |user: &str| format!("Bearer {}", common::create_token(server.data_dir(), user));
    let (researcher, other, steward_a, steward_b, tech) = (
        token("researcher"),
        token("other-researcher"),
        token("steward-a"),
        token("steward-b"),
        token("tech"),
    );
    let call = |method: &str, path: &str, auth: &str, body: &str| {
        http(
            server.http_addr(),
            method,
            path,
            &[
                ("Authorization", auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    };

    let ask = r#"{"purpose": "lung nodule detection research on chest CT",
                 "criteria": {"modality": "CT", "options": ["retain-dates"]}}"#;
    assert_eq!(
        call("POST", "/api/datasets", &tech, ask).status,
        403,
        "only researchers ask"
    );
    let short = call("POST", "/api/datasets", &researcher, r#"{"purpose": "x"}"#);
    assert_eq!(short.status, 400, "{}", short.text());
    let bad_option = call(
        "POST",
        "/api/datasets",
        &researcher,
        r#"{"purpose": "a long enough purpose", "criteria": {"options": ["keep-everything"]}}"#,
    );
    assert_eq!(bad_option.status, 400, "{}", bad_option.text());
    let created = call("POST", "/api/datasets", &researcher, ask);
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_i64().unwrap();
    assert_eq!(created.json()["state"], "requested");

    // the researcher cannot approve or export; another researcher cannot see it
    assert_eq!(
        call(
            "POST",
            &format!("/api/datasets/{id}/decision"),
            &researcher,
            r#"{"approve": true}"#
        )
        .status,
        403
    );
    assert_eq!(
        call("GET", &format!("/api/datasets/{id}"), &other, "").status,
        404
    );
    assert_eq!(
        call("GET", "/api/datasets", &other, "").json(),
        serde_json::json!([])
    );
    // not before approval
    assert_eq!(
        call(
            "POST",
            &format!("/api/datasets/{id}/export"),
            &steward_a,
            ""
        )
        .status,
        409
    );
    let approved = call(
        "POST",
        &format!("/api/datasets/{id}/decision"),
        &steward_a,
        r#"{"approve": true, "note": "ethics approval 2026-117"}"#,
    );
    assert_eq!(approved.status, 200, "{}", approved.text());
    assert_eq!(approved.json()["state"], "approved");
    assert_eq!(
        call(
            "POST",
            &format!("/api/datasets/{id}/decision"),
            &steward_b,
            r#"{"approve": false}"#
        )
        .status,
        409,
        "decided once"
    );
    assert_eq!(
        call(
            "GET",
            &format!("/api/datasets/{id}/archive"),
            &researcher,
            ""
        )
        .status,
        409
    );

    // steward A exports: only site A's CT study
    let exported = call(
        "POST",
        &format!("/api/datasets/{id}/export"),
        &steward_a,
        "",
    );
    assert_eq!(exported.status, 200, "{}", exported.text());
    let manifest = exported.json()["manifest"].clone();
    assert_eq!(manifest["studies"], 1, "{manifest}");
    assert_eq!(manifest["instances"], 1, "{manifest}");
    let codes: Vec<&str> = manifest["profile"]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["113100", "113107"]);

    // only the requester downloads
    assert_eq!(
        call("GET", &format!("/api/datasets/{id}/archive"), &other, "").status,
        403
    );
    let archive = call(
        "GET",
        &format!("/api/datasets/{id}/archive"),
        &researcher,
        "",
    );
    assert_eq!(archive.status, 200);
    assert_eq!(archive.header("content-type"), Some("application/x-tar"));
    let out = tempfile::tempdir().unwrap();
    let tar_path = out.path().join("dataset.tar");
    std::fs::write(&tar_path, &archive.body).unwrap();
    let mut untar = Command::new("tar");
    untar.arg("-xf").arg(&tar_path).arg("-C").arg(out.path());
    common::run(untar, Duration::from_secs(60)).assert_success();
    let root = out.path().join(format!("dataset-{id}"));
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(written["files"], manifest["files"]);
    let entry = &manifest["files"][0];
    let dcm = std::fs::read(root.join(entry["path"].as_str().unwrap())).unwrap();
    use sha2::Digest as _;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&dcm)),
        entry["sha256"].as_str().unwrap()
    );
    let original = std::fs::read(&ct).unwrap();
    for secret in ["CompressedSamples", "1CT1", CT_STUDY] {
        let needle = secret.as_bytes();
        assert!(
            !dcm.windows(needle.len()).any(|w| w == needle),
            "{secret} left in the exported instance"
        );
        assert!(original.windows(needle.len()).any(|w| w == needle));
    }
    let tar_bytes = std::fs::read(&tar_path).unwrap();
    assert!(!tar_bytes.windows(17).any(|w| w == b"CompressedSamples"));
    // the pixels are the same bytes
    let pixels = |bytes: &[u8]| {
        dicom_object::from_reader(&bytes[128..])
            .unwrap()
            .element(dicom_dictionary_std::tags::PIXEL_DATA)
            .unwrap()
            .to_bytes()
            .unwrap()
            .into_owned()
    };
    assert_eq!(pixels(&dcm), pixels(&original));

    // feedback closes it; only the requester reports
    assert_eq!(
        call(
            "POST",
            &format!("/api/datasets/{id}/feedback"),
            &other,
            r#"{"feedback": "x"}"#
        )
        .status,
        403
    );
    let closed = call(
        "POST",
        &format!("/api/datasets/{id}/feedback"),
        &researcher,
        r#"{"feedback": "trained a detector; FROC CPM 0.81 on the held-out set"}"#,
    );
    assert_eq!(closed.status, 200, "{}", closed.text());
    assert_eq!(closed.json()["state"], "closed");

    assert!(server.stop().success());
    let export = common::mira_cli(server.data_dir(), &["audit", "export", "--format", "json"]);
    let records = common::json_lines(&export);
    let steps: Vec<(String, String, String)> = records
        .iter()
        .filter(|r| r["object"]["kind"] == "dataset")
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["actor"]["id"].as_str().unwrap().to_string(),
                r["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (action, actor) in [
        ("dataset-release", "researcher"),
        ("dataset-release", "steward-a"),
        ("de-identify", "steward-a"),
        ("export", "researcher"),
    ] {
        assert!(
            steps.iter().any(|(a, who, _)| a == action && who == actor),
            "no {action} by {actor}: {steps:?}"
        );
    }
    assert!(steps.iter().any(|(_, _, d)| d == "feedback"));
    assert!(!export.contains("CompressedSamples"));
    let verify = common::mira_cli(server.data_dir(), &["audit", "verify"]);
    assert!(verify.contains("chain intact"), "{verify}");
}
