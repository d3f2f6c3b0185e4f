//! mira's DIMSE service provider against real peers: dcmtk's echoscu and storescu, and a
//! pynetdicom script (`tests/peers/pynetdicom_store.py`). Each test starts its own
//! `mira serve` on port 0 with a fresh data directory.
//!
//! The TotalSegmentator CT slices in the shared test data have every identifying UID and the
//! Patient ID emptied, so no peer can send them as they are; the tests send a repaired copy
//! written into a temporary directory ([`common::repaired_ct_series`]): 19 complete slices
//! and one still without Patient ID, which mira must refuse.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{
    Part10, Server, assert_same_dataset, assert_same_dataset_sent_by_dcmtk,
    storescu_exact_contexts, storescu_responses,
};

fn path_args(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect()
}

/// The catalogue rows by SOP Instance UID.
fn rows_by_uid(server: &Server) -> BTreeMap<String, mira_store::InstanceLocation> {
    server
        .assert_consistent()
        .into_iter()
        .map(|row| (row.sop_instance_uid.clone(), row))
        .collect()
}

/// Number of instances `mira ls series` reports for `series_uid` (0 when it is not listed).
fn series_instances(server: &Server, series_uid: &str) -> i64 {
    server
        .ls("series")
        .as_array()
        .expect("an array of series")
        .iter()
        .find(|s| s["series_instance_uid"] == series_uid)
        .map(|s| s["instances"].as_i64().expect("instances"))
        .unwrap_or(0)
}

#[test]
fn echoscu_succeeds() {
    let server = Server::start(&[]);
    let out = require!(common::run_dcmtk(
        "echoscu",
        ["-v", "127.0.0.1", &server.port_arg()]
    ));
    out.assert_success();
    assert!(
        out.combined().contains("Received Echo Response (Success)"),
        "{}",
        out.combined()
    );
}

#[test]
fn associations_beyond_the_limit_are_refused_and_the_slot_comes_back() {
    let server = Server::start(&[("MIRA__DIMSE__MAX_ASSOCIATIONS", "1")]);
    // a peer that connected and has not yet asked for an association holds the only slot
    let holder = std::net::TcpStream::connect(server.dimse_addr()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let refused = require!(common::run_dcmtk(
        "echoscu",
        ["-v", "127.0.0.1", &server.port_arg()]
    ));
    assert!(!refused.status.success(), "{}", refused.combined());
    assert!(
        refused.combined().contains("Association Rejected"),
        "{}",
        refused.combined()
    );
    assert!(server.log().contains("too many associations"));
    drop(holder);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = common::run_dcmtk("echoscu", ["127.0.0.1", &server.port_arg()]).unwrap();
        if out.status.success() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn calling_ae_titles_outside_the_allow_list_are_rejected() {
    let server = Server::start(&[(
        "MIRA__DIMSE__ALLOWED_CALLING_AE_TITLES",
        r#"["STORESCU", "MODALITY1"]"#,
    )]);
    let port = server.port_arg();
    for allowed in ["MODALITY1", "STORESCU"] {
        let out = require!(common::run_dcmtk(
            "echoscu",
            ["-v", "-aet", allowed, "127.0.0.1", &port]
        ));
        out.assert_success();
        assert!(out.combined().contains("Received Echo Response (Success)"));
    }
    // echoscu's own default calling AE title (ECHOSCU) is not listed either
    for refused in [vec!["-aet", "INTRUDER"], vec!["-aet", "MODALITY"], vec![]] {
        let mut args = vec!["-v"];
        args.extend(refused.iter().copied());
        args.extend(["127.0.0.1", port.as_str()]);
        let out = require!(common::run_dcmtk("echoscu", &args));
        assert!(
            !out.status.success(),
            "echoscu {args:?} should have been rejected:\n{}",
            out.combined()
        );
        assert!(
            out.combined().contains("Association Rejected"),
            "{}",
            out.combined()
        );
    }
    let log = server.log();
    assert!(
        log.matches("calling AE title not in the allow-list")
            .count()
            >= 3,
        "{log}"
    );
    // and the server still serves an allowed peer afterwards
    let out = require!(common::run_dcmtk(
        "echoscu",
        ["-aet", "STORESCU", "127.0.0.1", &port]
    ));
    out.assert_success();
}

#[test]
fn storescu_stores_real_files_and_refuses_the_incomplete_slice() {
    let testdata = require!(common::testdata());
    require!(common::dcmtk("storescu"));
    let server = Server::start(&[]);
    let scratch = server.scratch("ct");
    let (valid_ct, refused_ct) = require!(common::repaired_ct_series(&testdata, &scratch));
    let mut files = valid_ct.clone();
    files.push(refused_ct.clone());
    files.extend(
        common::list_files(&testdata.join("cxr"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "dcm")),
    );
    files.push(testdata.join("dicom/dcm_qa_ts/In/1.dcm"));

    let mut args = vec!["-v".to_string(), "-nh".to_string()];
    args.extend(storescu_exact_contexts(&files, &scratch));
    args.extend(["127.0.0.1".to_string(), server.port_arg()]);
    args.extend(path_args(&files));
    let out = require!(common::run_dcmtk("storescu", &args));
    let text = out.combined();
    out.assert_success();

    // storescu reports one response per file: success for all but the slice without Patient ID
    let responses = storescu_responses(&text);
    let sent: Vec<String> = responses.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(sent, path_args(&files), "files sent, in order:\n{text}");
    let failed: Vec<_> = responses
        .iter()
        .filter(|(_, r)| r.as_deref() != Some("(Success)"))
        .collect();
    assert_eq!(failed.len(), 1, "exactly one refusal expected:\n{text}");
    assert_eq!(failed[0].0, refused_ct.to_string_lossy());
    assert_eq!(
        failed[0].1.as_deref(),
        Some("(Error: CannotUnderstand)"),
        "{text}"
    );
    assert!(
        server
            .log()
            .contains("missing required attribute PatientID")
    );

    // every acknowledged instance is in the catalogue with the data set that was sent; under
    // the default keep-first policy a second, different object under a stored SOP Instance
    // UID (the SIIM MONOCHROME1 relabelling) is acknowledged but the first one stays
    let rows = rows_by_uid(&server);
    let mut first_by_uid: BTreeMap<String, &PathBuf> = BTreeMap::new();
    for file in files.iter().filter(|f| **f != refused_ct) {
        let meta = Part10::read(file);
        let first = *first_by_uid
            .entry(meta.sop_instance_uid.clone())
            .or_insert(file);
        let row = rows
            .get(&meta.sop_instance_uid)
            .unwrap_or_else(|| panic!("{} acknowledged but not stored", file.display()));
        assert_eq!(row.transfer_syntax_uid, meta.transfer_syntax_uid);
        let blob = server.blob_path(&row.blob_key);
        assert_same_dataset_sent_by_dcmtk(&blob, first);
        if first != file {
            assert_ne!(
                Part10::read(&blob).dataset(),
                meta.dataset(),
                "{} replaced the first object under keep-first",
                file.display()
            );
        }
    }
    assert_eq!(rows.len(), first_by_uid.len(), "unexpected rows: {rows:?}");
    assert!(!rows.contains_key(&Part10::read(&refused_ct).sop_instance_uid));
    assert_eq!(series_instances(&server, common::CT_SERIES_UID), 19);
}

#[test]
fn transfer_syntaxes_are_accepted_as_sent() {
    let testdata = require!(common::testdata());
    require!(common::dcmtk("storescu"));
    let server = Server::start(&[]);
    let scratch = server.scratch("cfg");
    let dir = testdata.join("dicom/dcm_qa_ts/In");
    let files: Vec<PathBuf> = (1..=9).map(|n| dir.join(format!("{n}.dcm"))).collect();

    // 1. storescu's usual way: one presentation context offering the file's compression and
    //    every uncompressed syntax (+C); mira must prefer the compressed one, or storescu,
    //    which cannot convert these, fails
    for (n, option) in [(4, "-xr"), (5, "-xs"), (7, "-xt"), (8, "-xt"), (9, "-xv")] {
        let file = dir.join(format!("{n}.dcm"));
        let out = require!(common::run_dcmtk(
            "storescu",
            [
                "-v",
                option,
                "+C",
                "127.0.0.1",
                &server.port_arg(),
                &file.to_string_lossy(),
            ]
        ));
        out.assert_success();
        assert_eq!(
            storescu_responses(&out.combined()),
            [(
                file.to_string_lossy().into_owned(),
                Some("(Success)".into())
            )],
            "{}",
            out.combined()
        );
    }

    // 2. each file with exactly its own transfer syntax proposed
    for file in &files {
        let mut args = vec!["-v".to_string()];
        args.extend(storescu_exact_contexts(
            std::slice::from_ref(file),
            &scratch,
        ));
        args.extend([
            "127.0.0.1".to_string(),
            server.port_arg(),
            file.to_string_lossy().into_owned(),
        ]);
        let out = require!(common::run_dcmtk("storescu", &args));
        out.assert_success();
        let meta = Part10::read(file);
        assert!(
            out.combined().contains(&format!(
                "Converting transfer syntax: {0} -> {0}",
                dcmtk_ts_name(&meta.transfer_syntax_uid)
            )),
            "{} was not sent in its own transfer syntax:\n{}",
            file.display(),
            out.combined()
        );
        assert_eq!(
            storescu_responses(&out.combined()),
            [(
                file.to_string_lossy().into_owned(),
                Some("(Success)".into())
            )]
        );
    }

    // the nine encodings are nine instances, each stored in its own transfer syntax with the
    // data set bytes that were sent
    let rows = rows_by_uid(&server);
    assert_eq!(rows.len(), 9, "{rows:?}");
    let mut syntaxes = BTreeSet::new();
    for file in &files {
        let meta = Part10::read(file);
        let row = &rows[&meta.sop_instance_uid];
        assert_eq!(
            row.transfer_syntax_uid,
            meta.transfer_syntax_uid,
            "{}",
            file.display()
        );
        let blob = server.blob_path(&row.blob_key);
        assert_eq!(
            Part10::read(&blob).transfer_syntax_uid,
            meta.transfer_syntax_uid
        );
        assert_eq!(
            row.dataset_offset as usize,
            Part10::read(&blob).dataset_offset
        );
        assert_same_dataset_sent_by_dcmtk(&blob, file);
        syntaxes.insert(meta.transfer_syntax_uid);
    }
    assert_eq!(
        syntaxes.len(),
        7,
        "explicit/implicit/big endian, RLE, JPEG lossless, JPEG-LS, J2K"
    );
}

/// dcmtk's name of a transfer syntax, as `storescu -v` prints it.
fn dcmtk_ts_name(uid: &str) -> &'static str {
    match uid {
        "1.2.840.10008.1.2" => "Little Endian Implicit",
        "1.2.840.10008.1.2.1" => "Little Endian Explicit",
        "1.2.840.10008.1.2.2" => "Big Endian Explicit",
        "1.2.840.10008.1.2.5" => "RLE Lossless",
        "1.2.840.10008.1.2.4.70" => "JPEG Lossless, Non-hierarchical, 1st Order Prediction",
        "1.2.840.10008.1.2.4.80" => "JPEG-LS Lossless",
        "1.2.840.10008.1.2.4.90" => "JPEG 2000 (Lossless only)",
        other => panic!("no dcmtk name known for {other}"),
    }
}

#[test]
fn concurrent_storescu_of_one_series() {
    const PEERS: usize = 8;
    let testdata = require!(common::testdata());
    require!(common::dcmtk("storescu"));
    let server = Server::start(&[]);
    let scratch = server.scratch("ct");
    let (valid_ct, refused_ct) = require!(common::repaired_ct_series(
        &testdata,
        &scratch.join("series")
    ));
    let mut files = valid_ct.clone();
    files.push(refused_ct.clone());
    files.sort();
    let mut args = vec!["-v".to_string(), "-nh".to_string()];
    args.extend(storescu_exact_contexts(&files, &scratch));
    args.extend(["127.0.0.1".to_string(), server.port_arg()]);
    args.extend(path_args(&files));

    let mut children = Vec::new();
    for peer in 0..PEERS {
        let mut command = require!(common::dcmtk_command(
            "storescu",
            ["-aet".to_string(), format!("PEER{peer}")]
        ));
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        children.push(command.spawn().expect("spawn storescu"));
    }
    let mut outputs = Vec::new();
    for mut child in children {
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
        let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        let status = common::wait_with_timeout(&mut child, Duration::from_secs(180))
            .expect("storescu did not finish within 3 minutes");
        let text = format!("{}{}", out.join().unwrap(), err.join().unwrap());
        assert!(status.success(), "storescu failed ({status}):\n{text}");
        outputs.push(text);
    }
    for text in &outputs {
        let responses = storescu_responses(text);
        assert_eq!(responses.len(), 20, "{text}");
        for (file, response) in &responses {
            let expected = if Path::new(file) == refused_ct {
                "(Error: CannotUnderstand)"
            } else {
                "(Success)"
            };
            assert_eq!(response.as_deref(), Some(expected), "{file}:\n{text}");
        }
    }

    let rows = rows_by_uid(&server);
    assert_eq!(rows.len(), 19, "{rows:?}");
    assert_eq!(series_instances(&server, common::CT_SERIES_UID), 19);
    assert_eq!(server.blob_files().len(), 19);
    for file in &valid_ct {
        let row = &rows[&Part10::read(file).sop_instance_uid];
        assert_same_dataset_sent_by_dcmtk(&server.blob_path(&row.blob_key), file);
    }
    let log = server.log();
    assert_eq!(
        log.matches("association released").count(),
        PEERS,
        "every association ends in a release"
    );
}

#[test]
fn pynetdicom_echo_store_and_refusals() {
    let testdata = require!(common::testdata());
    let python = require!(common::pynetdicom_python());
    let server = Server::start(&[]);
    let files = [
        testdata.join("dicom/dcm_qa_ts/In/1.dcm"),
        testdata.join("dicom/dcm_qa_ts/In/9.dcm"),
        testdata.join("cxr/nih_dx_chest_implicit_vr.dcm"),
    ];
    let uid_mismatch_source = testdata.join("dicom/dcm_qa_ts/In/2.dcm");
    let class_mismatch_source = testdata.join("dicom/dcm_qa_ts/In/3.dcm");
    let mut command = std::process::Command::new(python);
    command
        .arg(common::pynetdicom_script())
        .args(["--port", &server.port_arg(), "--echo", "--synthetic"])
        .arg("--uid-mismatch")
        .arg(&uid_mismatch_source)
        .arg("--class-mismatch")
        .arg(&class_mismatch_source)
        .args(&files);
    let out = common::run(command, Duration::from_secs(120));
    out.assert_success();
    let lines = common::json_lines(&out.stdout);
    let status = |line: &serde_json::Value| line["status"].as_u64().expect("status") as u16;
    let ops: Vec<&str> = lines.iter().map(|l| l["op"].as_str().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "echo",
            "store",
            "store",
            "store",
            "synthetic-control",
            "missing-patient-id",
            "uid-mismatch",
            "class-mismatch",
        ],
        "{}",
        out.combined()
    );
    assert_eq!(status(&lines[0]), 0x0000, "C-ECHO");
    for line in &lines[1..5] {
        assert_eq!(status(line), 0x0000, "{line}");
    }
    // PS3.4 B.2.3: "Error: Cannot understand" is the 0xCxxx family
    let missing = &lines[5];
    assert_eq!(status(missing) & 0xF000, 0xC000, "{missing}");
    // a data set that is another instance than the request announced: refused
    let uid_mismatch = &lines[6];
    assert_eq!(status(uid_mismatch) & 0xF000, 0xC000, "{uid_mismatch}");
    // a data set of another SOP class than the request announced: "Error: Data Set does not
    // match SOP Class"
    let class_mismatch = &lines[7];
    assert_eq!(status(class_mismatch), 0xA900, "{class_mismatch}");

    let rows = rows_by_uid(&server);
    for file in &files {
        let row = &rows[&Part10::read(file).sop_instance_uid];
        // pynetdicom streams the file's data set as it is
        assert_same_dataset(&server.blob_path(&row.blob_key), file);
    }
    let uid = |line: &serde_json::Value, key: &str| line[key].as_str().unwrap().to_string();
    assert!(rows.contains_key(&uid(&lines[4], "sop_instance_uid")));
    assert!(!rows.contains_key(&uid(missing, "sop_instance_uid")));
    assert!(!rows.contains_key(&uid(uid_mismatch, "request_uid")));
    assert!(!rows.contains_key(&uid(uid_mismatch, "data_set_uid")));
    assert!(!rows.contains_key(&Part10::read(&class_mismatch_source).sop_instance_uid));
    assert_eq!(rows.len(), files.len() + 1, "{rows:?}");
}
