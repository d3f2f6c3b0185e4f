//! `mira deid IN OUT`: the tree mirrored, a summary, refusals named, the input never
//! overwritten, the same key giving the same output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dicom_dictionary_std::tags;
use serde_json::Value;

const KEY: &str = "a test key for mira deid, 32 b!\n";

fn mira(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(args)
        .env("MIRA_LOG", "warn")
        .env_remove("MIRA_DEID_KEY")
        .env_remove("MIRA_DEID_KEY_FILE")
        .output()
        .expect("run mira")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    files.sort();
    files
}

fn key_file(dir: &Path) -> PathBuf {
    let path = dir.join("deid.key");
    std::fs::write(&path, KEY).unwrap();
    path
}

#[test]
fn a_ct_folder_is_deidentified_into_the_same_tree() {
    let Some(ct) = mira_testdata::file("ct") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let key = key_file(work.path());
    let out = work.path().join("out");
    let run = mira(&[
        "deid",
        ct.to_str().unwrap(),
        out.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let summary: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(summary["files"], 22);
    assert_eq!(summary["deidentified"], 22);
    assert_eq!(summary["refused"].as_array().unwrap().len(), 0);
    assert_eq!(files_under(&ct), files_under(&out));

    let object = dicom_object::open_file(out.join("lctsc_chest_slice/CT01.dcm")).unwrap();
    let value = |tag| {
        object
            .element(tag)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('\0')
            .to_string()
    };
    assert_eq!(value(tags::PATIENT_IDENTITY_REMOVED), "YES");
    assert!(value(tags::PATIENT_ID).starts_with("ANON"));
    assert!(value(tags::STUDY_INSTANCE_UID).starts_with("2.25."));

    // the same key, the same bytes
    let again = work.path().join("again");
    let run = mira(&[
        "deid",
        ct.to_str().unwrap(),
        again.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(text(&run.stdout).contains("22 files: 22 de-identified, 0 refused"));
    for file in files_under(&out) {
        assert_eq!(
            std::fs::read(out.join(&file)).unwrap(),
            std::fs::read(again.join(&file)).unwrap(),
            "{}",
            file.display()
        );
    }
}

#[test]
fn unreadable_files_are_reported_by_name_and_the_run_goes_on() {
    let Some(pydicom) = mira_testdata::file("dicom/pydicom") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let key = key_file(work.path());
    let out = work.path().join("out");
    let run = mira(&[
        "deid",
        pydicom.to_str().unwrap(),
        out.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(
        stdout.contains("MR_truncated.dcm: unreadable data set"),
        "{stdout}"
    );
    assert!(
        stdout.contains("README.txt: not a DICOM PS3.10 file"),
        "{stdout}"
    );
    assert!(out.join("CT_small.dcm").is_file());
}

#[test]
fn retained_dates_are_shifted_not_removed() {
    let Some(file) = mira_testdata::file("dicom/pydicom/CT_small.dcm") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("ct.dcm");
    let run = Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(["deid", file.to_str().unwrap(), out.to_str().unwrap()])
        .args(["--option", "retain-dates"])
        .env("MIRA_DEID_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let before = dicom_object::open_file(&file).unwrap();
    let after = dicom_object::open_file(&out).unwrap();
    let date = |o: &dicom_object::DefaultDicomObject| {
        o.element(tags::STUDY_DATE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(date(&after).len(), 8);
    assert_ne!(date(&before), date(&after));
    assert_eq!(
        after
            .element(tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED)
            .unwrap()
            .to_str()
            .unwrap(),
        "MODIFIED"
    );
}

#[test]
fn the_input_is_never_overwritten() {
    let Some(ct) = mira_testdata::file("ct/lctsc_chest_slice") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let key = key_file(work.path());
    // a copy, so that a bug could not harm the shared test data
    let input = work.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for file in files_under(&ct) {
        std::fs::copy(ct.join(&file), input.join(&file)).unwrap();
    }
    let original = std::fs::read(input.join("CT01.dcm")).unwrap();
    for output in [
        input.clone(),
        input.join("inside"),
        work.path().to_path_buf(),
    ] {
        let run = mira(&[
            "deid",
            input.to_str().unwrap(),
            output.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ]);
        assert_eq!(run.status.code(), Some(2), "{}", output.display());
        assert!(text(&run.stderr).contains("must lie outside the input"));
    }
    let file = input.join("CT01.dcm");
    let run = mira(&[
        "deid",
        file.to_str().unwrap(),
        file.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("is the input"));
    assert_eq!(std::fs::read(&file).unwrap(), original);
}

#[test]
fn a_key_is_required_and_must_be_long_enough() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("none.dcm");
    std::fs::write(&input, b"x").unwrap();
    let out = work.path().join("out.dcm");
    let run = mira(&["deid", input.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("no de-identification key"));
    let short = work.path().join("short.key");
    std::fs::write(&short, "short").unwrap();
    let run = mira(&[
        "deid",
        input.to_str().unwrap(),
        out.to_str().unwrap(),
        "--key-file",
        short.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("key too short"));
}

#[test]
fn burned_in_annotation_is_refused_unless_allowed() {
    let Some(file) =
        mira_testdata::file("dicom/orthanc/2023-04-21-RLEPlanarConfigurationYBR_FULL.dcm")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let key = key_file(work.path());
    let out = work.path().join("out.dcm");
    let args = |extra: &[&str]| {
        let mut args = vec![
            "deid",
            file.to_str().unwrap(),
            out.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        mira(&args)
    };
    let run = args(&[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stdout).contains("burned-in annotation (0028,0301) is YES"));
    assert!(!out.exists());
    let run = args(&["--allow-burned-in"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    assert!(out.is_file());
}
