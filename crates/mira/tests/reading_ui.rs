//! Issue 7 in a real browser: the reading workflow through the web UI that `mira serve` serves,
//! driven by `web/e2e/reading.mjs` (playwright-core) in Debian's headless Chromium.
//!
//! A technologist uploads a chest CT (mira-lung's phantom with two planted nodules) through the
//! UI's STOW-RS page; it shows up on the worklist with QC and AI results; a radiologist opens it,
//! sees the AI overlay on the nodule's slice, rejects one AI finding with a reason, edits
//! another, creates the report and signs it with the password again; the technologist sees the
//! signed report without sign controls, and the API refuses their sign request (403) from the
//! browser and here with a bearer token. Screenshots of the worklist, the viewer with the overlay
//! and the signed report are left in `target/e2e-artifacts/`.
//!
//! Needs `chromium` (apt), node and the built UI (`npm ci && npm run build` in `web/`, which
//! scripts/test does); without them the test skips, except under `CI=true`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Server;

const STUDY: &str = "2.25.77007";
const SERIES: &str = "2.25.77007.1";
const TECH_PASSWORD: &str = "tech-e2e-password";
const RAD_PASSWORD: &str = "rad-e2e-password";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Debian's Chromium (`MIRA_CHROMIUM` overrides), or skip.
fn chromium() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("MIRA_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .collect();
    match candidates.into_iter().find(|p| p.is_file()) {
        Some(p) => Some(p),
        None => common::skip("chromium is not installed (apt-get install chromium)"),
    }
}

/// The built UI and the e2e script's dependencies, or skip.
fn built_ui() -> Option<PathBuf> {
    let web = workspace().join("web");
    if !web.join("dist/index.html").is_file() {
        return common::skip("the web UI is not built (cd web && npm ci && npm run build)");
    }
    if !web.join("node_modules/playwright-core").is_dir() {
        return common::skip("web/node_modules lacks playwright-core (cd web && npm ci)");
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return common::skip("node is not installed");
    }
    Some(web)
}

/// The chest CT the lung analyzer finds two nodules in (as in tests/analysis.rs), 48 slices;
/// a report's header needs the exam number and date (report QC refuses to sign without).
fn write_ct(dir: &Path) -> Option<Vec<PathBuf>> {
    common::chest_ct_phantom(
        dir,
        STUDY,
        SERIES,
        "PHANTOM-UI",
        &[
            ("(0018,0015)", "CHEST"),
            ("(0008,103E)", "LDCT chest"),
            ("(0008,1030)", "Low-dose chest CT"),
            ("(0010,0010)", "PHANTOM^READING"),
            ("(0010,0040)", "F"),
            ("(0008,0050)", "E2E0007"),
            ("(0008,0020)", "20261203"),
            ("(0008,0030)", "093000"),
            ("(0020,0011)", "2"),
        ],
    )
}

/// A community centre whose technologist uploads, and a radiologist of the region who reads it.
fn provision(server: &Server) {
    let file = server.scratch("reading").join("access.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[[site]]
code = "cc-e2e"
name = "E2E Community Health Centre"
kind = "community"

[[site]]
code = "region-e2e"
name = "E2E Region"
kind = "regional"

[[user]]
username = "technologist"
display_name = "E2E Technologist"
roles = ["technologist"]
site = "cc-e2e"
password = "{TECH_PASSWORD}"

[[user]]
username = "radiologist"
display_name = "E2E Radiologist"
roles = ["radiologist"]
site = "region-e2e"
grants = ["cc-e2e"]
password = "{RAD_PASSWORD}"
"#
        ),
    )
    .unwrap();
    common::mira_cli(
        server.data_dir(),
        &["access", "apply", file.to_str().unwrap()],
    );
}

/// The radiologist's user or display name.
fn by_radiologist(who: &serde_json::Value) -> bool {
    who.as_str()
        .is_some_and(|s| s.to_ascii_lowercase().contains("radiologist"))
}

#[test]
fn a_radiologist_reviews_and_signs_in_the_browser_and_a_technologist_cannot_sign() {
    let Some(chromium) = chromium() else { return };
    let Some(web) = built_ui() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ct = dir.path().join("ct");
    let Some(files) = write_ct(&ct) else { return };

    let ui_dir = web.join("dist");
    let server = Server::start(&[
        ("MIRA__QC__SETTLE_SECS", "1"),
        ("MIRA__ANALYSIS__POLL_MILLIS", "200"),
        ("MIRA__HTTP__UI_DIR", ui_dir.to_str().unwrap()),
    ]);
    provision(&server);

    // the UI is public, the API is not
    let page = common::http(server.http_addr(), "GET", "/", &[], b"");
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("<div id=\"app\">"), "{}", page.text());
    let api = common::http(server.http_addr(), "GET", "/api/reading/worklist", &[], b"");
    assert_eq!(api.status, 401);

    let artifacts = workspace().join("target/e2e-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut command = Command::new("node");
    command
        .arg(web.join("e2e/reading.mjs"))
        .current_dir(&web)
        .env("MIRA_URL", format!("http://{}", server.http_addr()))
        .env("TECH_USER", "technologist")
        .env("TECH_PASSWORD", TECH_PASSWORD)
        .env("RAD_USER", "radiologist")
        .env("RAD_PASSWORD", RAD_PASSWORD)
        .env("CT_DIR", &ct)
        .env("STUDY_UID", STUDY)
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium);
    let out = common::run(command, Duration::from_secs(900));
    println!("{}", out.stdout);
    eprintln!("{}", out.stderr);
    let summary: serde_json::Value = out
        .stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(serde_json::Value::Null);
    assert!(
        out.status.success() && summary["ok"] == true,
        "the browser workflow failed: {}\n{}{}\nserver log:\n{}",
        summary["error"],
        out.stdout,
        out.stderr,
        server.log()
    );
    for (name, path) in summary["screenshots"].as_object().unwrap() {
        println!("artefact {name}: {}", path.as_str().unwrap());
        assert!(Path::new(path.as_str().unwrap()).is_file(), "{path}");
    }

    // what the browser did is in the server: decisions with who, a signed report
    let study = server.get(&format!("/api/reading/studies/{STUDY}"), &[]);
    assert_eq!(study.status, 200, "{}", study.text());
    let study = study.json();
    let findings = study["findings"].as_array().unwrap();
    let rejected = findings
        .iter()
        .find(|f| f["decision"]["decision"] == "rejected")
        .unwrap_or_else(|| panic!("no rejected finding: {study}"));
    assert_eq!(rejected["decision"]["reason"], "vessel", "{rejected}");
    assert!(by_radiologist(&rejected["decided_by"]), "{rejected}");
    let edited = findings
        .iter()
        .find(|f| f["decision"]["decision"] == "edited")
        .unwrap_or_else(|| panic!("no edited finding: {study}"));
    assert!(by_radiologist(&edited["decided_by"]), "{edited}");
    let report = &study["report"];
    assert_eq!(report["state"], "signed", "{report}");
    assert!(by_radiologist(&report["signed_by"]), "{report}");
    assert_eq!(files.len(), 48);

    // the API refuses the technologist's signature with their own token too
    let token = common::create_token(server.data_dir(), "technologist");
    let id = summary["report_id"].as_i64().unwrap();
    let refused = common::http(
        server.http_addr(),
        "POST",
        &format!("/api/reading/reports/{id}/sign"),
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
        ],
        format!("{{\"password\":\"{TECH_PASSWORD}\"}}").as_bytes(),
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
}
