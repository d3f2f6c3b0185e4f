//! `mira qc`: the offline command on real files (findings, formats, exit codes), and QC in
//! `mira serve`: a CT series sent over DIMSE is checked once it settles, its results come
//! back from the HTTP API, and `mira qc report` computes indicators from them.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Server, run_dcmtk};
use serde_json::Value;

fn mira(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(args)
        .env("MIRA_LOG", "warn")
        .output()
        .expect("run mira")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn offline_qc_reports_findings_with_actions_and_exit_codes() {
    let Some(data) = common::testdata() else {
        return;
    };
    let wg04 = data.join("cxr/wg04_rg1_cr_chest_uncompressed.dcm");
    let out = mira(&["qc", wg04.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[fail] header.pixel-spacing: implausible pixel spacing"),
        "{stdout}"
    );
    assert!(
        stdout.contains("action: calibrate the detector"),
        "{stdout}"
    );

    // warnings and infos do not fail the run
    let siim = data.join("cxr/siim_cr_chest_jpeg_baseline.dcm");
    let out = mira(&["qc", siim.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = json["files"][0]["checks"].as_array().unwrap();
    let polarity = checks.iter().find(|c| c["rule"] == "cxr.polarity").unwrap();
    assert_eq!(polarity["status"], "pass");

    // a missing file is named, with the reason, and exits 2
    let out = mira(&["qc", "/nonexistent/scan.dcm", siim.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("mira qc: /nonexistent/scan.dcm: read failed"),
        "{}",
        text(&out.stderr)
    );

    // site overrides: a disabled rule no longer fails, a typo is refused naming the file
    let dir = tempfile::tempdir().unwrap();
    let overrides = dir.path().join("site.toml");
    std::fs::write(
        &overrides,
        "[rules.\"header.pixel-spacing\"]\nenabled = false\n[rules.\"header.dates\"]\nenabled = false\n",
    )
    .unwrap();
    let out = mira(&[
        "qc",
        wg04.to_str().unwrap(),
        "--rules",
        overrides.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    std::fs::write(
        &overrides,
        "[rules.\"header.pixel-spacin\"]\nenabled = false\n",
    )
    .unwrap();
    let out = mira(&[
        "qc",
        wg04.to_str().unwrap(),
        "--rules",
        overrides.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("site.toml") && stderr.contains("unknown rule header.pixel-spacin"),
        "{stderr}"
    );
}

/// `GET path` over a real socket; (status, body). Errors must be problem+json.
fn http_get(server: &Server, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(server.http_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: mira\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        server.bearer()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = if status >= 400 {
        "content-type: application/problem+json"
    } else {
        "content-type: application/json"
    };
    assert!(head.to_ascii_lowercase().contains(content_type), "{head}");
    (status, body.to_string())
}

#[test]
fn a_ct_series_stored_by_the_server_gets_qc_results_in_the_http_api() {
    let Some(data) = common::testdata() else {
        return;
    };
    let mut server = Server::start(&[("MIRA__QC__SETTLE_SECS", "1")]);
    let series_dir = server.scratch("series");
    let files = common::many_ct_instances(&data, &series_dir, 20);
    assert_eq!(files.len(), 20);
    let port = server.port_arg();
    let Some(out) = run_dcmtk(
        "storescu",
        [
            "-v",
            "-nh",
            "-xv",
            "-aec",
            "MIRA",
            "127.0.0.1",
            port.as_str(),
        ]
        .map(str::to_string)
        .into_iter()
        .chain(files.iter().map(|f| f.display().to_string())),
    ) else {
        return;
    };
    out.assert_success();
    let study = "2.25.301417386364851730447126396468351390011";

    let (status, body) = http_get(&server, "/api/qc/studies/1.2.3.4");
    assert_eq!(status, 404, "{body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["status"], 404);
    // an unknown study (like another site's) is simply not found
    assert_eq!(problem["title"], "Not found");

    let deadline = Instant::now() + Duration::from_secs(60);
    let results = loop {
        let (status, body) = http_get(&server, &format!("/api/qc/studies/{study}"));
        if status == 200 {
            let json: Value = serde_json::from_str(&body).unwrap();
            let results = json["results"].as_array().unwrap().clone();
            if results.iter().any(|r| r["level"] == "study") {
                break results;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no study result: {status} {body}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let levels: Vec<&str> = results
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels.iter().filter(|l| **l == "instance").count(), 20);
    let series = results.iter().find(|r| r["level"] == "series").unwrap();
    assert_eq!(series["measurements"]["slice_count"], 20.0);
    assert_eq!(series["measurements"]["spacing_mm"], 2.0);
    assert_eq!(series["measurements"]["slice_thickness_mm"], 3.0);
    let gaps = series["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "ct.gaps")
        .unwrap();
    assert_eq!(gaps["status"], "pass");

    // indicators for the study's day (2022-12-08); the series has no Institution Name
    let (status, body) = http_get(
        &server,
        "/api/qc/indicators?from=2022-12-01&to=2022-12-31&group-by=site",
    );
    assert_eq!(status, 200, "{body}");
    let ind: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ind["groups"][0]["group"], "(unknown)");
    assert_eq!(ind["groups"][0]["studies"], 1);
    let (status, body) = http_get(&server, "/api/qc/indicators?from=2022-12-01&to=2022-13-01");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid date '2022-13-01'"), "{body}");
    let (status, _) = http_get(&server, "/api/qc/indicators?from=2022-12-01");
    assert_eq!(status, 400);

    server.stop();
    let out = common::mira_command(server.data_dir())
        .args([
            "qc",
            "report",
            "--from",
            "2022-12-01",
            "--to",
            "2022-12-31",
            "--group-by",
            "device",
            "--format",
            "csv",
        ])
        .env("MIRA_LOG", "warn")
        .output()
        .expect("run mira");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    assert!(
        csv.starts_with("from,to,group_by,group,indicator,numerator,denominator,rate\n"),
        "{csv}"
    );
    assert!(
        csv.contains(
            "2022-12-01,2022-12-31,device,SIEMENS / Biograph40_mCT 4R / PETCT2,rule:ct.gaps,1,1,1\n"
        ),
        "{csv}"
    );
    assert!(server.data_dir().exists());
}
