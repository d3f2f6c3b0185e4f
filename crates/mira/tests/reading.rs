//! Issue 7 through the API (the browser test is `reading_ui.rs`): a chest CT arrives, QC and
//! the lung analyzer run, the study is on the worklist with its AI flag; a radiologist rejects
//! one AI finding, edits another, drafts the report from the kept findings, fails report QC,
//! corrects it and signs with a re-authentication; the technologist cannot sign; the signed
//! report is immutable, takes a signed addendum, and exports as a DICOM SR that dciodvfy
//! accepts, a FHIR R4 bundle and a PDF; the review counts reach the evaluation centre's
//! agreement figures and `mira qc report`; every step is in an intact audit chain.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{HttpResponse, Server, http};
use serde_json::{Value, json};

const STUDY: &str = "2.25.77101";
const SERIES: &str = "2.25.77101.1";

struct Client<'a> {
    server: &'a Server,
    cookie: String,
}

impl Client<'_> {
    fn login<'a>(server: &'a Server, user: &str, password: &str) -> Client<'a> {
        let body = json!({ "username": user, "password": password }).to_string();
        let r = http(
            server.http_addr(),
            "POST",
            "/api/auth/login",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "login {user}: {}", r.text());
        let cookie = r
            .header("set-cookie")
            .expect("a session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        Client { server, cookie }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
        let text = body.map(Value::to_string).unwrap_or_default();
        http(
            self.server.http_addr(),
            method,
            path,
            &[
                ("Cookie", &self.cookie),
                ("Content-Type", "application/json"),
            ],
            text.as_bytes(),
        )
    }

    fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let r = self.call(method, path, body);
        assert!(
            (200..300).contains(&r.status),
            "{method} {path}: {} {}",
            r.status,
            r.text()
        );
        r.json()
    }
}

fn access_file() -> String {
    "[[site]]\ncode = \"cc-read\"\nname = \"Community centre\"\nkind = \"community\"\n\
     [[user]]\nusername = \"rad\"\ndisplay_name = \"Dr Li\"\nroles = [\"radiologist\"]\n\
     site = \"cc-read\"\nall_sites = true\npassword = \"rad-password-1\"\n\
     [[user]]\nusername = \"tech\"\ndisplay_name = \"Tech Wang\"\nroles = [\"technologist\"]\n\
     site = \"cc-read\"\nall_sites = true\npassword = \"tech-password-1\"\n\
     [[user]]\nusername = \"outsider\"\ndisplay_name = \"Dr Zhao\"\nroles = [\"radiologist\"]\n\
     site = \"cc-read\"\npassword = \"outsider-password-1\"\n"
        .to_string()
}

/// The chest CT phantom with two solid nodules, as a CT console would label it.
fn write_chest_ct(dir: &std::path::Path) -> Option<Vec<std::path::PathBuf>> {
    common::chest_ct_phantom(
        dir,
        STUDY,
        SERIES,
        "PHANTOM-READ",
        &[
            ("(0018,0015)", "CHEST"),
            ("(0008,103E)", "LDCT chest"),
            ("(0008,1030)", "Low-dose chest CT"),
            ("(0010,0010)", "READING^TEST"),
            ("(0010,0040)", "M"),
            ("(0008,0050)", "ACC77101"),
            ("(0008,0020)", "20261201"),
            ("(0008,0030)", "093000"),
            ("(0020,0011)", "2"),
        ],
    )
}

fn wait_for_ai(client: &Client) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let list = client.ok("GET", "/api/reading/worklist", None);
        if let Some(row) = list["studies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["study_instance_uid"] == STUDY && s["ai"]["state"] == "done")
        {
            return row.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the study never reached ai-done; log:\n{}",
            client.server.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn enc(id: &str) -> String {
    id.replace('/', "%2F")
}

#[test]
fn a_radiologist_reviews_ai_findings_and_signs_a_report_the_technologist_cannot() {
    let Some(_) = common::testdata() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let series_dir = dir.path().join("ct");
    if write_chest_ct(&series_dir).is_none() {
        return;
    }
    let server = Server::start(&[
        ("MIRA__QC__SETTLE_SECS", "1"),
        ("MIRA__ANALYSIS__POLL_MILLIS", "200"),
    ]);
    let access = dir.path().join("reading-access.toml");
    std::fs::write(&access, access_file()).unwrap();
    common::provision_access(server.data_dir(), &access, "rad");
    let store = common::run_dcmtk(
        "storescu",
        [
            "-aet",
            "STORESCU",
            "+sd",
            "127.0.0.1",
            &server.port_arg(),
            series_dir.to_str().unwrap(),
        ],
    )
    .expect("storescu");
    store.assert_success();

    let tech = Client::login(&server, "tech", "tech-password-1");
    let rad = Client::login(&server, "rad", "rad-password-1");

    // the worklist: QC and AI results, the Lung-RADS flag
    let row = wait_for_ai(&tech);
    assert_eq!(row["state"], "ai-done", "{row}");
    assert_eq!(row["modalities"], json!(["CT"]));
    assert!(row["qc"]["outcome"].is_string(), "{row}");
    assert!(
        row["ai"]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"].as_str().unwrap().starts_with("lung-rads-")),
        "{row}"
    );
    // the worklist's filters
    let none = tech.ok("GET", "/api/reading/worklist?modality=MR", None);
    assert!(none["studies"].as_array().unwrap().is_empty());
    let found = tech.ok("GET", "/api/reading/worklist?q=READING", None);
    assert_eq!(found["studies"].as_array().unwrap().len(), 1);

    // the radiologist opens it: two AI nodules with slices and axes to draw
    let study = rad.ok("POST", &format!("/api/reading/studies/{STUDY}/open"), None);
    assert_eq!(study["study"]["state"], "in-review");
    let findings: Vec<Value> = study["findings"].as_array().unwrap().clone();
    let nodules: Vec<&Value> = findings
        .iter()
        .filter(|f| f["kind"] == "lung-nodule")
        .collect();
    assert!(nodules.len() >= 2, "{findings:?}");
    for n in &nodules {
        assert_eq!(n["decision"]["decision"], "pending");
        assert_eq!(n["image"]["series_instance_uid"], SERIES);
        assert_eq!(n["image"]["points"].as_array().unwrap().len(), 4);
        assert_eq!(n["source"]["type"], "ai");
    }
    let (rejected, edited) = (
        nodules[0]["id"].as_str().unwrap(),
        nodules[1]["id"].as_str().unwrap(),
    );

    // a technologist may not decide; a rejection needs a reason
    let path = format!(
        "/api/reading/studies/{STUDY}/findings/{}/decision",
        enc(rejected)
    );
    assert_eq!(
        tech.call("POST", &path, Some(&json!({"decision": "accept"})))
            .status,
        403
    );
    let r = rad.call(
        "POST",
        &path,
        Some(&json!({"decision": "reject", "reason": " "})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let decided = rad.ok(
        "POST",
        &path,
        Some(&json!({"decision": "reject", "reason": "vessel, not a nodule"})),
    );
    assert_eq!(
        decided["decision"],
        json!({"decision": "rejected", "reason": "vessel, not a nodule"})
    );
    assert_eq!(decided["decided_by"], "rad");

    // an edit: re-measured; the mean diameter is recomputed (Lung-RADS rounding)
    let mut changed = nodules[1].clone();
    changed["nodule"]["long_axis_mm"] = json!(8.3);
    changed["nodule"]["short_axis_mm"] = json!(7.6);
    changed["nodule"]["category"] = json!("4A");
    let path = format!(
        "/api/reading/studies/{STUDY}/findings/{}/decision",
        enc(edited)
    );
    let decided = rad.ok(
        "POST",
        &path,
        Some(&json!({"decision": "edit", "finding": changed})),
    );
    assert_eq!(decided["decision"]["decision"], "edited");
    assert_eq!(
        decided["nodule"]["mean_diameter_mm"],
        json!(8.0),
        "{decided}"
    );
    let bad = changed.clone();
    let mut bad = bad;
    bad["nodule"]["short_axis_mm"] = json!(9.0);
    let r = rad.call(
        "POST",
        &path,
        Some(&json!({"decision": "edit", "finding": bad})),
    );
    assert_eq!(
        r.status,
        400,
        "short axis longer than long axis: {}",
        r.text()
    );
    // any further AI nodules: accepted, so that only these two were changed
    for other in &nodules[2..] {
        let path = format!(
            "/api/reading/studies/{STUDY}/findings/{}/decision",
            enc(other["id"].as_str().unwrap())
        );
        rad.ok("POST", &path, Some(&json!({"decision": "accept"})));
    }

    // the draft: pre-filled from the kept findings only
    let report = rad.ok(
        "POST",
        &format!("/api/reading/studies/{STUDY}/report"),
        Some(&json!({})),
    );
    assert_eq!(report["state"], "draft");
    assert_eq!(report["document"]["template"], "ldct-lung-rads");
    let kept: Vec<&str> = report["document"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(
        kept.contains(&edited) && !kept.contains(&rejected),
        "{kept:?}"
    );
    // the header lists the acquired series only, not the AI's SR
    let series: Vec<&str> = report["document"]["header"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["series_instance_uid"].as_str().unwrap())
        .collect();
    assert_eq!(series, [SERIES]);
    assert!(
        !report["document"]["technique"]
            .as_str()
            .unwrap()
            .contains("SR")
    );
    let id = report["id"].as_i64().unwrap();
    // the same draft again, not a second one
    let again = rad.ok(
        "POST",
        &format!("/api/reading/studies/{STUDY}/report"),
        Some(&json!({})),
    );
    assert_eq!(again["id"].as_i64(), Some(id));

    // report QC blocks a wrong Lung-RADS category and a laterality the findings do not support
    rad.ok(
        "PUT",
        &format!("/api/reading/reports/{id}"),
        Some(&json!({"lung_rads": "2", "impression": "左肺上叶结节，Lung-RADS 2。右侧气胸。"})),
    );
    let r = rad.call(
        "POST",
        &format!("/api/reading/reports/{id}/sign"),
        Some(&json!({"password": "rad-password-1"})),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let codes: Vec<String> = r.json()["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["severity"] == "error")
        .map(|i| i["code"].as_str().unwrap().to_string())
        .collect();
    assert!(codes.iter().any(|c| c.contains("lung-rads")), "{codes:?}");
    assert!(
        codes.iter().any(|c| c.contains("critical")),
        "pneumothorax without a notification: {codes:?}"
    );

    // the technologist cannot sign, whatever the password
    let r = tech.call(
        "POST",
        &format!("/api/reading/reports/{id}/sign"),
        Some(&json!({"password": "tech-password-1"})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    // a wrong password is refused
    let r = rad.call(
        "POST",
        &format!("/api/reading/reports/{id}/sign"),
        Some(&json!({"password": "wrong"})),
    );
    assert_eq!(r.status, 401, "{}", r.text());

    // corrected from the recomputed category, the critical finding notified
    let draft = rad.ok("GET", &format!("/api/reading/reports/{id}"), None);
    let expected_category = draft["document"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["nodule"]["category"].as_str())
        .max_by_key(|c| {
            ["1", "2", "3", "4A", "4B", "4X"]
                .iter()
                .position(|x| x == c)
        })
        .unwrap()
        .to_string();
    rad.ok(
        "PUT",
        &format!("/api/reading/reports/{id}"),
        Some(&json!({
            "lung_rads": expected_category,
            "findings_text": draft["document"]["findings_text"].as_str().unwrap().to_string() + " 右侧胸腔见无肺纹理气体影。",
            "impression": draft["document"]["impression"].as_str().unwrap().to_string() + " 右侧气胸。",
            "critical": true,
        })),
    );
    rad.ok(
        "POST",
        &format!("/api/reading/studies/{STUDY}/notifications"),
        Some(&json!({"recipient": "Dr Chen, emergency", "method": "phone", "message": "right pneumothorax", "read_back": true})),
    );
    let qc = rad.ok("GET", &format!("/api/reading/reports/{id}/qc"), None);
    assert_eq!(qc["passed"], true, "{qc}");
    let signed = rad.ok(
        "POST",
        &format!("/api/reading/reports/{id}/sign"),
        Some(&json!({"password": "rad-password-1"})),
    );
    assert_eq!(signed["state"], "signed");
    assert_eq!(signed["signed_by"], "rad");
    assert_eq!(signed["signed_by_name"], "Dr Li");

    // signed is final: no edits, no decisions, no second signature
    let r = rad.call(
        "PUT",
        &format!("/api/reading/reports/{id}"),
        Some(&json!({"impression": "changed"})),
    );
    assert_eq!(r.status, 409);
    let r = rad.call(
        "POST",
        &format!(
            "/api/reading/studies/{STUDY}/findings/{}/decision",
            enc(rejected)
        ),
        Some(&json!({"decision": "accept"})),
    );
    assert_eq!(r.status, 409);
    let r = rad.call(
        "POST",
        &format!("/api/reading/reports/{id}/sign"),
        Some(&json!({"password": "rad-password-1"})),
    );
    assert_eq!(r.status, 409);
    // … not even by hand in the database
    let by_hand = common::run_sql_outside(
        server.data_dir(),
        "UPDATE reports SET document='{}' WHERE state='signed'",
    );
    assert!(!by_hand.status.success());
    assert!(String::from_utf8_lossy(&by_hand.stderr).contains("signed reports are immutable"));

    // an addendum, signed; the study is amended
    let add = rad.ok(
        "POST",
        &format!("/api/reading/reports/{id}/addendum"),
        Some(&json!({"text": "补充：建议3个月后复查。", "password": "rad-password-1"})),
    );
    assert_eq!(add["kind"], "addendum");
    assert_eq!(add["version"], 2);
    let row = tech.ok("GET", "/api/reading/worklist", None)["studies"][0].clone();
    assert_eq!(row["state"], "amended");

    // exports: SR (stored in the study too), FHIR, PDF
    let r = tech.call("GET", &format!("/api/reading/reports/{id}/sr"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let sr_path = dir.path().join("signed.dcm");
    std::fs::write(&sr_path, &r.body).unwrap();
    if let Ok(out) = Command::new("dciodvfy").arg(&sr_path).output() {
        let text = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("Error")).collect();
        assert!(errors.is_empty(), "dciodvfy: {errors:?}");
    } else {
        assert!(!common::ci(), "dciodvfy is missing");
    }
    let sr = dicom_object::open_file(&sr_path).unwrap();
    let text = |tag| {
        sr.element(tag)
            .unwrap()
            .to_str()
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(
        text(dicom_dictionary_std::tags::VERIFICATION_FLAG),
        "VERIFIED"
    );
    assert_eq!(
        text(dicom_dictionary_std::tags::COMPLETION_FLAG),
        "COMPLETE"
    );
    assert_eq!(text(dicom_dictionary_std::tags::STUDY_INSTANCE_UID), STUDY);
    assert_eq!(
        text(dicom_dictionary_std::tags::SOP_INSTANCE_UID),
        signed["sr_sop_instance_uid"].as_str().unwrap()
    );
    assert!(
        server
            .instances()
            .iter()
            .any(|i| i.sop_instance_uid == signed["sr_sop_instance_uid"].as_str().unwrap()),
        "the signed report's SR is in the archive"
    );
    let r = tech.call("GET", &format!("/api/reading/reports/{id}/fhir"), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/fhir+json"));
    let bundle = r.json();
    assert_eq!(bundle["resourceType"], "Bundle");
    let types: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"DiagnosticReport") && types.contains(&"ImagingStudy"),
        "{types:?}"
    );
    // the exported bundle against the official FHIR R4 JSON schema (mira-report's validator)
    let fhir_path = dir.path().join("bundle.json");
    std::fs::write(&fhir_path, &r.body).unwrap();
    let validator = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mira-report/tests/fhir/validate.js");
    match Command::new("node")
        .arg(&validator)
        .arg(&fhir_path)
        .output()
    {
        Ok(out) if out.status.code() == Some(3) => {
            assert!(
                !common::ci(),
                "the FHIR validator is not installed under CI=true"
            )
        }
        Ok(out) => assert!(
            out.status.success(),
            "the exported bundle is not valid FHIR R4: {}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(_) => assert!(!common::ci(), "node is missing under CI=true"),
    }
    let r = tech.call("GET", &format!("/api/reading/reports/{id}/pdf"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.starts_with(b"%PDF"));

    // another site's radiologist sees none of it
    let outsider = Client::login(&server, "outsider", "outsider-password-1");
    assert_eq!(
        outsider
            .call("GET", &format!("/api/reading/studies/{STUDY}"), None)
            .status,
        404
    );
    assert_eq!(
        outsider
            .call("GET", &format!("/api/reading/reports/{id}"), None)
            .status,
        404
    );
    assert!(
        outsider.ok("GET", "/api/reading/worklist", None)["studies"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // the evaluation centre's agreement: one rejected, one edited, the rest accepted
    let agreement = rad.ok("GET", "/api/reading/agreement?bucket=week", None);
    let rows = agreement["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{agreement}");
    assert_eq!(rows[0]["analyzer"], "lung-ct");
    assert_eq!(rows[0]["rejected"], 1);
    assert_eq!(rows[0]["edited"], 1);
    assert_eq!(
        rows[0]["accepted"].as_i64().unwrap() as usize,
        nodules.len() - 2
    );
    assert_eq!(rows[0]["reports"], 1);
    assert!(agreement["alerts"].as_array().unwrap().is_empty());

    // report indicators in `mira qc report`
    let today = time_today();
    let out = common::mira_cli(
        server.data_dir(),
        &[
            "qc",
            "report",
            "--from",
            "2000-01-01",
            "--to",
            &today,
            "--format",
            "json",
        ],
    );
    let json: Value = serde_json::from_str(&out).unwrap();
    let reports = json["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "{json}");
    assert_eq!(reports[0]["signed"], 1);
    assert_eq!(reports[0]["critical"], 1);
    assert_eq!(reports[0]["critical_notified"], 1);
    assert_eq!(reports[0]["within_turnaround"], 1);
    assert_eq!(reports[0]["amended"], 1);

    // every step in the audit log, chain intact, no patient name
    let verify = common::mira_cli(server.data_dir(), &["audit", "verify"]);
    assert!(verify.contains("intact"), "{verify}");
    let exported = common::mira_cli(server.data_dir(), &["audit", "export", "--format", "json"]);
    assert!(exported.contains("\"sign\""), "no sign record");
    assert!(exported.contains("reading: AI finding rejected"));
    assert!(!exported.contains("READING^TEST"));
}

fn time_today() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
