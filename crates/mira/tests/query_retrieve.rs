//! C-FIND, C-MOVE and C-GET against real peers: dcmtk's findscu, movescu (to a dcmtk
//! storescp) and getscu, and pynetdicom (`tests/peers/qr_peer.py`). The archive is filled by
//! `mira import` before `mira serve` starts on it.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{CT_SERIES_UID, CT_STUDY_UID, Part10, Server, assert_same_dataset};

/// Imports `files` into `data_dir` with `mira import`.
fn import(data_dir: &Path, files: &[PathBuf]) {
    let out = common::run(
        {
            let mut c = common::mira_command(data_dir);
            c.arg("import").args(files);
            c
        },
        Duration::from_secs(120),
    );
    out.assert_success();
}

/// The repaired CT series (19 slices) imported into a fresh data directory, and a server on it
/// whose C-MOVE destination `STORESCP` is `127.0.0.1:<move_port>`.
struct Fixture {
    server: Server,
    slices: Vec<PathBuf>,
    move_port: u16,
    _dir: tempfile::TempDir,
}

fn fixture() -> Option<Fixture> {
    let testdata = common::testdata()?;
    let dir = tempfile::tempdir().expect("temporary directory");
    let (slices, _refused) = common::repaired_ct_series(&testdata, &dir.path().join("ct"))?;
    let data_dir = dir.path().join("data");
    import(&data_dir, &slices);
    let move_port = common::free_port();
    let config = dir.path().join("mira.toml");
    std::fs::write(
        &config,
        format!("[dimse.move_destinations]\nSTORESCP = \"127.0.0.1:{move_port}\"\n"),
    )
    .expect("write the configuration");
    let server = Server::start_in(
        Some(&data_dir),
        &[("MIRA_CONFIG", config.to_str().expect("UTF-8 path"))],
    );
    Some(Fixture {
        server,
        slices,
        move_port,
        _dir: dir,
    })
}

/// SOP Instance UID → original file, for comparing what comes back.
fn by_uid(files: &[PathBuf]) -> std::collections::BTreeMap<String, PathBuf> {
    files
        .iter()
        .map(|f| (Part10::read(f).sop_instance_uid, f.clone()))
        .collect()
}

/// Asserts that `dir` holds exactly the instances of `originals`, each with the same data set
/// bytes (the receivers run with `--bit-preserving`).
fn assert_received_exactly(dir: &Path, originals: &[PathBuf]) {
    let expected = by_uid(originals);
    let received = common::list_files(dir);
    let mut seen = BTreeSet::new();
    for file in &received {
        let uid = Part10::read(file).sop_instance_uid;
        let original = expected
            .get(&uid)
            .unwrap_or_else(|| panic!("{} is not one of the sent instances", file.display()));
        assert_same_dataset(file, original);
        seen.insert(uid);
    }
    assert_eq!(
        seen.len(),
        expected.len(),
        "received {} of {} instances",
        seen.len(),
        expected.len()
    );
}

/// A background dcmtk storescp, killed on drop.
struct StoreScp(Child);

impl Drop for StoreScp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn storescp(port: u16, out: &Path, log: &Path) -> Option<StoreScp> {
    std::fs::create_dir_all(out).expect("output directory");
    let mut command = common::dcmtk_command(
        "storescp",
        [
            "-aet",
            "STORESCP",
            "+xa",
            "+B",
            "-od",
            out.to_str().expect("UTF-8 path"),
            &port.to_string(),
        ],
    )?;
    let child = command
        .stdin(Stdio::null())
        .stdout(common::append(log))
        .stderr(common::append(log))
        .spawn()
        .expect("start storescp");
    // wait until it listens
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "storescp did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(StoreScp(child))
}

#[test]
fn findscu_finds_the_series_at_every_level() {
    let f = require!(fixture());
    let port = f.server.port_arg();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "STUDY",
            &[
                "PatientID=TOTALSEG",
                "StudyInstanceUID",
                "NumberOfStudyRelatedInstances",
            ],
            "NumberOfStudyRelatedInstances",
        ),
        (
            "SERIES",
            &[
                &format!("StudyInstanceUID={CT_STUDY_UID}"),
                "SeriesInstanceUID",
                "Modality=CT",
                "NumberOfSeriesRelatedInstances",
            ],
            "NumberOfSeriesRelatedInstances",
        ),
    ];
    for (level, keys, count_key) in cases {
        let mut args = vec![
            "-v".to_string(),
            "-S".into(),
            "-aec".into(),
            "MIRA".into(),
            "127.0.0.1".into(),
            port.clone(),
            "-k".into(),
            format!("QueryRetrieveLevel={level}"),
        ];
        for key in *keys {
            args.push("-k".into());
            args.push(key.to_string());
        }
        let out = require!(common::run_dcmtk("findscu", &args));
        out.assert_success();
        let text = out.combined();
        assert_eq!(
            text.matches("(Pending)").count(),
            1,
            "{level}: one match expected:\n{text}"
        );
        // the last mention is in the response (the first is the request)
        let count_line = text
            .lines()
            .rfind(|l| l.contains(count_key))
            .unwrap_or_else(|| panic!("{count_key} missing:\n{text}"));
        assert!(count_line.contains("[19]"), "{count_line}");
        assert!(text.contains("(Success)"), "{text}");
    }
    // IMAGE level, relational: every slice of the series, none of anything else
    let out = require!(common::run_dcmtk(
        "findscu",
        [
            "-v",
            "-S",
            "127.0.0.1",
            &port,
            "-k",
            "QueryRetrieveLevel=IMAGE",
            "-k",
            &format!("SeriesInstanceUID={CT_SERIES_UID}"),
            "-k",
            "SOPInstanceUID",
        ]
    ));
    out.assert_success();
    assert_eq!(out.combined().matches("(Pending)").count(), 19);
}

#[test]
fn movescu_sends_the_series_to_storescp_byte_for_byte() {
    let f = require!(fixture());
    let received = f.server.scratch("moved");
    let _scp = require!(storescp(
        f.move_port,
        &received,
        &f.server.scratch("logs").join("storescp.log")
    ));
    let out = require!(common::run_dcmtk(
        "movescu",
        [
            "-v",
            "-S",
            "-aem",
            "STORESCP",
            "127.0.0.1",
            &f.server.port_arg(),
            "-k",
            "QueryRetrieveLevel=SERIES",
            "-k",
            &format!("StudyInstanceUID={CT_STUDY_UID}"),
            "-k",
            &format!("SeriesInstanceUID={CT_SERIES_UID}"),
        ]
    ));
    out.assert_success();
    let text = out.combined();
    assert!(
        text.contains("Received Final Move Response (Success)"),
        "{text}"
    );
    // a pending response after each sub-operation but the last
    assert_eq!(text.matches("(Pending)").count(), 18, "{text}");
    assert_received_exactly(&received, &f.slices);

    // an unknown destination is refused with A801 and sends nothing
    let out = require!(common::run_dcmtk(
        "movescu",
        [
            "-S",
            "-aem",
            "NOWHERE",
            "127.0.0.1",
            &f.server.port_arg(),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            &format!("StudyInstanceUID={CT_STUDY_UID}"),
        ]
    ));
    assert!(
        out.combined().contains("MoveDestinationUnknown"),
        "{}",
        out.combined()
    );
}

#[test]
fn getscu_retrieves_the_study_byte_for_byte() {
    let f = require!(fixture());
    let received = f.server.scratch("got");
    std::fs::create_dir_all(&received).unwrap();
    let out = require!(common::run_dcmtk(
        "getscu",
        [
            "-v",
            "-S",
            "+B",
            // accept the stored JPEG 2000 as it is
            "+xv",
            "-od",
            received.to_str().unwrap(),
            "127.0.0.1",
            &f.server.port_arg(),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            &format!("StudyInstanceUID={CT_STUDY_UID}"),
        ]
    ));
    out.assert_success();
    let text = out.combined();
    assert!(
        text.contains("Number of Completed Suboperations : 19"),
        "{text}"
    );
    assert!(
        text.contains("Number of Failed Suboperations    : 0"),
        "{text}"
    );
    assert_received_exactly(&received, &f.slices);
}

#[test]
fn pynetdicom_find_get_and_move() {
    let f = require!(fixture());
    let python = require!(common::pynetdicom_python());
    let port = f.server.port().to_string();
    // qr_peer.py COMMAND HOST PORT AET ARGS...
    let peer = |args: &[&str]| {
        let mut all = vec![args[0], "127.0.0.1", port.as_str(), "MIRA"];
        all.extend(&args[1..]);
        common::qr_peer(&python, &all)
    };

    // C-FIND: patient, study, series and image levels in both models
    let queries = serde_json::json!([
        {"model": "patient", "level": "PATIENT", "keys": {"PatientID": "TOTAL*"}},
        {"level": "STUDY", "keys": {"ModalitiesInStudy": "CT"}},
        {"level": "SERIES", "keys": {"StudyInstanceUID": CT_STUDY_UID}, "return": ["NumberOfSeriesRelatedInstances"]},
        {"level": "IMAGE", "keys": {"SeriesInstanceUID": CT_SERIES_UID, "InstanceNumber": "268"}},
        {"level": "STUDY", "keys": {"PatientID": "NOBODY"}},
    ]);
    let queries_path = f.server.scratch("queries").join("queries.json");
    std::fs::write(&queries_path, queries.to_string()).unwrap();
    let results = peer(&["find", queries_path.to_str().unwrap()]);
    let matches = |i: usize| results[i]["matches"].as_array().unwrap().clone();
    assert!(results.iter().all(|r| r["status"] == 0), "{results:?}");
    assert_eq!(matches(0), vec![serde_json::json!(["TOTALSEG"])]);
    assert_eq!(matches(1), vec![serde_json::json!([CT_STUDY_UID])]);
    assert_eq!(matches(2), vec![serde_json::json!([CT_SERIES_UID, "19"])]);
    assert_eq!(matches(3).len(), 1, "{results:?}");
    assert!(matches(4).is_empty());

    // C-GET of the series
    let got = f.server.scratch("pynetdicom-get");
    std::fs::create_dir_all(&got).unwrap();
    let result = peer(&["get", got.to_str().unwrap(), "SERIES", CT_SERIES_UID]);
    assert_eq!(result[0]["status"], 0, "{result:?}");
    assert_eq!(result[0]["completed"], 19);
    assert_eq!(result[0]["received"], 19);
    let received_uids: BTreeSet<String> = common::list_files(&got)
        .iter()
        .map(|f| Part10::read(f).sop_instance_uid)
        .collect();
    let sent_uids: BTreeSet<String> = by_uid(&f.slices).into_keys().collect();
    assert_eq!(received_uids, sent_uids);

    // C-MOVE to a destination that is configured but down: refused, A702
    let result = peer(&["move", "STORESCP", "STUDY", CT_STUDY_UID]);
    assert_eq!(result[0]["status"], 0xA702, "{result:?}");
    // and to an unknown one: A801
    let result = peer(&["move", "ELSEWHERE", "STUDY", CT_STUDY_UID]);
    assert_eq!(result[0]["status"], 0xA801, "{result:?}");
}

/// The Pixel Data bytes of a file.
fn pixel_data(path: &Path) -> Vec<u8> {
    let obj = common::open(path);
    obj.element(dicom_object::Tag(0x7FE0, 0x0010))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_bytes()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_owned()
}

#[test]
fn getscu_without_jpeg2000_gets_the_pixels_decoded() {
    let f = require!(fixture());
    let Some(gdcmconv) = ["/usr/bin/gdcmconv", "/usr/local/bin/gdcmconv"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| common::skip("gdcmconv not found (apt-get install libgdcm-tools)"))
    else {
        return;
    };
    let received = f.server.scratch("decoded");
    std::fs::create_dir_all(&received).unwrap();
    // getscu proposes only uncompressed syntaxes by default; the series is JPEG 2000
    let out = require!(common::run_dcmtk(
        "getscu",
        [
            "-v",
            "-S",
            "-od",
            received.to_str().unwrap(),
            "127.0.0.1",
            &f.server.port_arg(),
            "-k",
            "QueryRetrieveLevel=SERIES",
            "-k",
            &format!("StudyInstanceUID={CT_STUDY_UID}"),
            "-k",
            &format!("SeriesInstanceUID={CT_SERIES_UID}"),
        ]
    ));
    out.assert_success();
    let text = out.combined();
    assert!(
        text.contains("Number of Completed Suboperations : 19"),
        "{text}"
    );
    let originals = by_uid(&f.slices);
    let files = common::list_files(&received);
    assert_eq!(files.len(), 19);
    for file in files {
        let part10 = Part10::read(&file);
        assert_eq!(part10.transfer_syntax_uid, "1.2.840.10008.1.2.1");
        let original = &originals[&part10.sop_instance_uid];
        // gdcm decodes the original independently of mira's codecs
        let reference = f
            .server
            .scratch("gdcm")
            .join(format!("{}.raw.dcm", part10.sop_instance_uid));
        let mut command = Command::new(&gdcmconv);
        command.arg("--raw").arg(original).arg(&reference);
        common::run(command, Duration::from_secs(60)).assert_success();
        assert!(
            pixel_data(&file) == pixel_data(&reference),
            "{}: decoded pixels differ from gdcm's",
            file.display()
        );
    }
}

#[test]
fn pynetdicom_c_cancel_stops_a_long_c_find() {
    let python = require!(common::pynetdicom_python());
    // 20,000 instances: far more responses than socket buffers hold, so the C-CANCEL sent
    // after the first response arrives while mira is still answering
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut synth = common::mira_command(&data_dir);
    synth.args([
        "synth",
        "--studies",
        "20000",
        "--series-per-study",
        "1",
        "--instances-per-series",
        "1",
        "--metadata-series-instances",
        "0",
    ]);
    common::run(synth, Duration::from_secs(300)).assert_success();
    let server = Server::start_in(Some(&data_dir), &[]);
    let port = server.port().to_string();
    let lines = common::qr_peer(&python, &["cancel", "127.0.0.1", &port, "MIRA"]);
    let result = &lines[0];
    assert_eq!(result["status"], 0xFE00, "{result:?}");
    let pending = result["pending"].as_u64().unwrap();
    assert!((1..20_000).contains(&pending), "{result:?}");
    assert!(
        server.log().contains("C-FIND cancelled"),
        "{}",
        server.log()
    );
}
