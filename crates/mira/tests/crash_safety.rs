//! Crash safety of C-STORE: `kill -9` the server while several peers are storing, restart it
//! on the same data directory, and check that every instance whose C-STORE was acknowledged
//! with a success status survived intact, and that start-up recovery left nothing behind
//! (no staging files, no blob without a catalogue row).
//!
//! The instances are generated (the TotalSegmentator CT slices under 300 new SOP Instance
//! UIDs, [`common::many_ct_instances`]); the senders are the pynetdicom script
//! (`tests/peers/pynetdicom_store.py`), which streams each file's data set as it is and prints
//! one line per response as soon as it arrives, so the set of acknowledged instances is exact.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Part10, Server, assert_same_dataset};

const INSTANCES: usize = 300;
const SENDERS: usize = 4;

/// Starts one pynetdicom sender per chunk; their stdout lines arrive on the returned channel
/// as (sender, line).
fn start_senders(
    python: &PathBuf,
    server: &Server,
    chunks: &[Vec<PathBuf>],
) -> (Vec<Child>, mpsc::Receiver<(usize, String)>) {
    let (tx, rx) = mpsc::channel();
    let mut children = Vec::new();
    for (n, chunk) in chunks.iter().enumerate() {
        let stderr = common::append(&server.scratch("senders").join(format!("sender{n}.log")));
        let mut child = Command::new(python)
            .arg(common::pynetdicom_script())
            .args(["--port", &server.port_arg(), "--aet", &format!("SENDER{n}")])
            .args(chunk)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start the pynetdicom sender");
        let stdout = child.stdout.take().expect("piped stdout");
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((n, line)).is_err() {
                    break;
                }
            }
        });
        children.push(child);
    }
    (children, rx)
}

#[test]
fn kill_9_during_c_store_loses_no_acknowledged_instance() {
    crash_and_recover(&[]);
}

/// The same with `fsync` of each file and directory instead of the default flush strategy.
#[test]
fn kill_9_during_c_store_with_per_file_flush() {
    crash_and_recover(&[("MIRA__ARCHIVE__FLUSH", "per-file")]);
}

fn crash_and_recover(extra_env: &[(&str, &str)]) {
    let testdata = require!(common::testdata());
    let python = require!(common::pynetdicom_python());
    let mut server = Server::start(extra_env);
    let files = common::many_ct_instances(&testdata, &server.scratch("instances"), INSTANCES);
    let uid_of: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|f| (Part10::read(f).sop_instance_uid, f.clone()))
        .collect();
    assert_eq!(
        uid_of.len(),
        INSTANCES,
        "generated SOP Instance UIDs are distinct"
    );

    let mut chunks = vec![Vec::new(); SENDERS];
    for (i, file) in files.iter().enumerate() {
        chunks[i % SENDERS].push(file.clone());
    }
    let started = Instant::now();
    let (mut children, lines) = start_senders(&python, &server, &chunks);

    // Collect responses; kill -9 once about half the instances were acknowledged. Responses
    // that reach a sender after the kill (sent before it) count as acknowledged too.
    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    let mut refused = Vec::new();
    let mut errors = Vec::new();
    let mut killed_at = None;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (sender, line) = match lines.recv_timeout(left) {
            Ok(item) => item,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!(
                    "senders still running after 4 minutes; {} acknowledged",
                    acknowledged.len()
                )
            }
        };
        let value: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("sender {sender}: not JSON ({e}): {line}"));
        match value["op"].as_str() {
            Some("store") if value["status"] == 0 => {
                let uid = value["sop_instance_uid"].as_str().expect("uid").to_string();
                assert!(uid_of.contains_key(&uid), "{line}");
                assert!(acknowledged.insert(uid), "acknowledged twice: {line}");
            }
            Some("store") => refused.push(line),
            Some("error") => errors.push(line),
            _ => panic!("sender {sender}: unexpected line {line}"),
        }
        if killed_at.is_none() && acknowledged.len() >= INSTANCES / 2 {
            server.kill9();
            killed_at = Some(acknowledged.len());
            eprintln!("killed {:.1?} after the senders started", started.elapsed());
        }
    }
    for child in &mut children {
        common::wait_with_timeout(child, Duration::from_secs(60))
            .expect("a sender did not exit after its peer died");
    }
    let killed_at = killed_at.expect("the server was never killed: too few acknowledgements");
    assert!(refused.is_empty(), "refused instances: {refused:?}");
    assert!(
        acknowledged.len() < INSTANCES,
        "every instance was acknowledged: the kill came too late to test anything"
    );
    assert!(!errors.is_empty(), "no sender noticed that the server died");
    eprintln!(
        "killed after {killed_at} acknowledgements; {} acknowledged in all; {} senders cut off",
        acknowledged.len(),
        errors.len()
    );

    // What the crash left, seen from the filesystem only (opening the catalogue here would
    // recover its WAL before mira does).
    let staging_left = server.staging_files().len();
    let blobs_left = server.blob_files().len();

    // Start-up recovery on the same data directory.
    server.restart();
    let rows = server.assert_consistent(); // staging empty, one blob per row, no orphans
    let log = server.log();
    let opened: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("archive opened"))
        .collect();
    assert_eq!(opened.len(), 2, "{log}");
    let orphans_removed: usize = opened[1]
        .split_whitespace()
        .find_map(|w| w.strip_prefix("orphans_removed="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no orphan count in {:?}", opened[1]));
    assert!(opened[1].contains("missing_blobs=0"), "{}", opened[1]);
    assert_eq!(
        blobs_left - orphans_removed,
        rows.len(),
        "blobs after the crash minus orphans removed at start-up"
    );
    assert_eq!(
        log.matches("removing interrupted staging file").count(),
        staging_left,
        "every staging file the crash left is removed at start-up"
    );

    let stored: BTreeMap<&str, &mira_store::InstanceLocation> = rows
        .iter()
        .map(|r| (r.sop_instance_uid.as_str(), r))
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|uid| !stored.contains_key(uid.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(rows.len() <= INSTANCES);
    assert!(rows.len() >= acknowledged.len());
    for row in &rows {
        // acknowledged or not (a commit whose response the kill cut off), what is stored must
        // be exactly what was sent
        let file = uid_of
            .get(&row.sop_instance_uid)
            .unwrap_or_else(|| panic!("stored instance that nobody sent: {row:?}"));
        assert_same_dataset(&server.blob_path(&row.blob_key), file);
    }
    eprintln!(
        "after restart: {} instances stored ({} more than acknowledged); the crash left {staging_left} staging files and {orphans_removed} orphaned blobs",
        rows.len(),
        rows.len() - acknowledged.len()
    );

    // The recovered archive takes the whole set again: the stored ones as duplicates.
    let mut command = Command::new(&python);
    command
        .arg(common::pynetdicom_script())
        .args(["--port", &server.port_arg()])
        .args(&files);
    let resend = Instant::now();
    let out = common::run(command, Duration::from_secs(300));
    eprintln!("all {INSTANCES} sent again in {:.1?}", resend.elapsed());
    out.assert_success();
    let statuses = common::json_lines(&out.stdout);
    assert_eq!(statuses.len(), INSTANCES);
    assert!(statuses.iter().all(|s| s["status"] == 0), "{}", out.stdout);
    let status = server.stop();
    assert!(status.success(), "mira exited with {status} on SIGTERM");
    let rows = server.assert_consistent();
    assert_eq!(rows.len(), INSTANCES);
}

/// The issue's own wording: `kill -9` while dcmtk's storescu sends hundreds of instances. The
/// acknowledged set is read from storescu's verbose log, which prints each response as it
/// arrives (and nothing for a request the kill cut off).
#[test]
fn kill_9_while_storescu_sends() {
    let testdata = require!(common::testdata());
    let mut server = Server::start(&[]);
    let files = common::many_ct_instances(&testdata, &server.scratch("instances"), INSTANCES);
    let mut args: Vec<String> = ["-v", "-nh", "-xv", "-aec", "MIRA", "127.0.0.1"]
        .map(String::from)
        .to_vec();
    args.push(server.port_arg());
    args.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
    let mut command = require!(common::dcmtk_command("storescu", &args));
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start storescu");
    let (tx, lines) = mpsc::channel::<String>();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut log = String::new();
    let mut successes = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.contains("Received Store Response (Success)") {
            successes += 1;
            if successes == INSTANCES / 2 {
                server.kill9();
            }
        }
        log.push_str(&line);
        log.push('\n');
    }
    common::wait_with_timeout(&mut child, Duration::from_secs(60)).expect("storescu exited");
    let responses = common::storescu_responses(&log);
    let acknowledged: Vec<&String> = responses
        .iter()
        .filter(|(_, r)| r.as_deref().is_some_and(|r| r.contains("Success")))
        .map(|(file, _)| file)
        .collect();
    assert!(acknowledged.len() >= INSTANCES / 2, "{log}");
    assert!(
        acknowledged.len() < INSTANCES,
        "the kill came too late: {log}"
    );

    server.restart();
    let rows = server.assert_consistent();
    let stored: BTreeMap<String, &mira_store::InstanceLocation> = rows
        .iter()
        .map(|r| (r.sop_instance_uid.clone(), r))
        .collect();
    for file in acknowledged {
        let sent = Part10::read(std::path::Path::new(file));
        let row = stored
            .get(&sent.sop_instance_uid)
            .unwrap_or_else(|| panic!("acknowledged but lost: {file}"));
        // storescu re-encodes the data set it sends, so compare the parsed objects
        let blob = server.blob_path(&row.blob_key);
        let (a, b) = (
            common::open(&blob),
            common::open(std::path::Path::new(file)),
        );
        let pixels = |o: &dicom_object::DefaultDicomObject| {
            o.element(PIXEL_DATA)
                .unwrap()
                .value()
                .fragments()
                .map(<[_]>::to_vec)
        };
        assert!(
            pixels(&a).is_some() && pixels(&a) == pixels(&b),
            "pixel data of {file} differs"
        );
    }
    eprintln!(
        "storescu: {} acknowledged before the kill took effect, {} stored after restart",
        responses
            .iter()
            .filter(|(_, r)| r.as_deref().is_some_and(|r| r.contains("Success")))
            .count(),
        rows.len()
    );
}

const PIXEL_DATA: dicom_object::Tag = dicom_object::Tag(0x7FE0, 0x0010);
