//! Issue 2, "every file under testdata/dicom, ct and cxr is either stored and comes back
//! byte-identical, or is rejected with a specific reason": `mira import` over all of it, then
//! every stored file compared byte for byte with its source, and every rejection compared with
//! the reviewed list below.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mira_testdata::testdata;
use std::process::Command;

use serde_json::Value;

/// Every file the archive refuses, with the reason code. Reviewed one by one:
///
/// - `not_part10`: not DICOM (READMEs, licences, PNG/JSON/ICC/dump/gzip, a raw YBR buffer), or a
///   bare data set without File Meta Information (pydicom's `no_meta`, `ExplVR_*NoMeta`,
///   `rtstruct`, Orthanc's implicit-VR sample): without PS3.10's meta the transfer syntax is a
///   guess, and an archive must not store a guess.
/// - `missing_attribute`: a key the catalogue needs is absent or empty. The TotalSegmentator CT
///   series had every identifying UID emptied by its publisher (SOP Class/Instance, Study,
///   Series UIDs and Patient ID are zero-length in all 20 slices); pydicom's and Orthanc's codec
///   samples carry no Patient ID or Study UID. An instance the archive cannot place under a
///   patient and a study would be lost to every query.
/// - `dicomdir`: media directories are indexes of other files, not instances.
/// - `meta_mismatch`: the meta header names one SOP instance and the data set is another
///   (pydicom's rtdose/rtplan/badVR: 1.2.999… vs 1.9.999…); which one is meant cannot be told.
/// - `bad_meta`: File Meta Information without Transfer Syntax UID, or without its Type 1 group
///   length (PS3.10 §7.1).
/// - `bad_data_set`: truncated files (`MR_truncated`, `rtplan_truncated`) and files encoded in
///   another VR form than their transfer syntax declares (`SC_rgb_jpeg`, `UN_sequence`): an
///   element's declared length runs past the end of the file.
/// - `too_deep`: Orthanc's 3.6 MB deeply nested sequence, a denial-of-service sample.
const EXPECTED_REJECTIONS: &[(&str, &str)] = &[
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016573",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016574",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016575",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016576",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016577",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016578",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016579",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016580",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016581",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016582",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016583",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016584",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016585",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016586",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016587",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016588",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016589",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016590",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016591",
        "missing_attribute",
    ),
    (
        "ct/totalseg_example_ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016592",
        "missing_attribute",
    ),
    ("cxr/nih_00000001_000_cardiomegaly.png", "not_part10"),
    ("cxr/nih_00027426_000_no_finding.png", "not_part10"),
    ("cxr/nih_dx_chest_implicit_vr.json", "not_part10"),
    ("dicom/dcm_qa_ts/LICENSE", "not_part10"),
    ("dicom/dcm_qa_ts/README.md", "not_part10"),
    ("dicom/orthanc/2017-06-27-XSSInjection.txt", "not_part10"),
    (
        "dicom/orthanc/2026-05-06-Deeply-Nested-Sequence.dcm",
        "too_deep",
    ),
    ("dicom/orthanc/ColorTestMalaterre.dcm", "missing_attribute"),
    ("dicom/orthanc/Encodings/DavidClunie/DICOMDIR", "dicomdir"),
    (
        "dicom/orthanc/Encodings/DavidClunie/charsettests.screenshot.png",
        "not_part10",
    ),
    ("dicom/orthanc/MarekLatin2.json", "not_part10"),
    ("dicom/orthanc/README.txt", "not_part10"),
    (
        "dicom/orthanc/TransferSyntaxes/1.2.840.10008.1.2.1.dcm",
        "missing_attribute",
    ),
    (
        "dicom/orthanc/TransferSyntaxes/1.2.840.10008.1.2.2.dcm",
        "missing_attribute",
    ),
    (
        "dicom/orthanc/TransferSyntaxes/1.2.840.10008.1.2.4.50.YBR.raw",
        "not_part10",
    ),
    (
        "dicom/orthanc/TransferSyntaxes/1.2.840.10008.1.2.4.50.png",
        "not_part10",
    ),
    (
        "dicom/orthanc/TransferSyntaxes/1.2.840.10008.1.2.4.57.dcm",
        "missing_attribute",
    ),
    (
        "dicom/orthanc/TransferSyntaxes/1.2.840.10008.1.2.4.70.dcm",
        "missing_attribute",
    ),
    (
        "dicom/orthanc/TransferSyntaxes/1.2.840.10008.1.2.dcm",
        "not_part10",
    ),
    ("dicom/orthanc/UnknownSopClassUid.dcm", "missing_attribute"),
    ("dicom/pydicom/ExplVR_BigEnd.dcm", "missing_attribute"),
    ("dicom/pydicom/ExplVR_BigEndNoMeta.dcm", "not_part10"),
    ("dicom/pydicom/ExplVR_LitEndNoMeta.dcm", "not_part10"),
    ("dicom/pydicom/GDCMJ2K_TextGBR.dcm", "missing_attribute"),
    (
        "dicom/pydicom/JPEGLSNearLossless_08.dcm",
        "missing_attribute",
    ),
    (
        "dicom/pydicom/JPEGLSNearLossless_16.dcm",
        "missing_attribute",
    ),
    ("dicom/pydicom/MR_truncated.dcm", "bad_data_set"),
    ("dicom/pydicom/README.txt", "not_part10"),
    (
        "dicom/pydicom/SC_jpeg_no_color_transform.dcm",
        "missing_attribute",
    ),
    (
        "dicom/pydicom/SC_jpeg_no_color_transform_2.dcm",
        "missing_attribute",
    ),
    (
        "dicom/pydicom/SC_rgb_jls_lossy_line.dcm",
        "missing_attribute",
    ),
    (
        "dicom/pydicom/SC_rgb_jls_lossy_sample.dcm",
        "missing_attribute",
    ),
    ("dicom/pydicom/SC_rgb_jpeg.dcm", "bad_data_set"),
    (
        "dicom/pydicom/SC_rgb_jpeg_app14_dcmd.dcm",
        "missing_attribute",
    ),
    ("dicom/pydicom/SC_rgb_jpeg_dcmd.dcm", "missing_attribute"),
    ("dicom/pydicom/UN_sequence.dcm", "bad_data_set"),
    ("dicom/pydicom/badVR.dcm", "meta_mismatch"),
    ("dicom/pydicom/crayons.icc", "not_part10"),
    ("dicom/pydicom/dicomdirtests/DICOMDIR", "dicomdir"),
    ("dicom/pydicom/dicomdirtests/DICOMDIR-bigEnd", "dicomdir"),
    ("dicom/pydicom/dicomdirtests/DICOMDIR-empty.dcm", "dicomdir"),
    ("dicom/pydicom/dicomdirtests/DICOMDIR-implicit", "dicomdir"),
    ("dicom/pydicom/dicomdirtests/DICOMDIR-nooffset", "dicomdir"),
    ("dicom/pydicom/dicomdirtests/DICOMDIR-nopatient", "dicomdir"),
    ("dicom/pydicom/dicomdirtests/DICOMDIR-reordered", "dicomdir"),
    ("dicom/pydicom/dicomdirtests/README.txt", "not_part10"),
    (
        "dicom/pydicom/dicomdirtests/TINY_ALPHA/DICOMDIR",
        "dicomdir",
    ),
    (
        "dicom/pydicom/dicomdirtests/TINY_ALPHA/README",
        "not_part10",
    ),
    ("dicom/pydicom/empty_charset_LEI.dcm", "missing_attribute"),
    ("dicom/pydicom/image_dfl.dcm", "missing_attribute"),
    ("dicom/pydicom/meta_missing_tsyntax.dcm", "bad_meta"),
    ("dicom/pydicom/nested_priv_SQ.dcm", "missing_attribute"),
    ("dicom/pydicom/no_meta.dcm", "not_part10"),
    ("dicom/pydicom/no_meta_group_length.dcm", "bad_meta"),
    ("dicom/pydicom/priv_SQ.dcm", "missing_attribute"),
    ("dicom/pydicom/reportsi.dcm", "missing_attribute"),
    (
        "dicom/pydicom/reportsi_with_empty_number_tags.dcm",
        "missing_attribute",
    ),
    ("dicom/pydicom/rtdose.dcm", "meta_mismatch"),
    ("dicom/pydicom/rtdose_1frame.dcm", "meta_mismatch"),
    ("dicom/pydicom/rtdose_expb.dcm", "meta_mismatch"),
    ("dicom/pydicom/rtdose_expb_1frame.dcm", "meta_mismatch"),
    ("dicom/pydicom/rtdose_rle.dcm", "meta_mismatch"),
    ("dicom/pydicom/rtdose_rle_1frame.dcm", "meta_mismatch"),
    ("dicom/pydicom/rtplan.dcm", "meta_mismatch"),
    ("dicom/pydicom/rtplan.dump", "not_part10"),
    ("dicom/pydicom/rtplan_truncated.dcm", "bad_data_set"),
    ("dicom/pydicom/rtstruct.dcm", "not_part10"),
    ("dicom/pydicom/rtstruct.dump", "not_part10"),
    ("dicom/pydicom/test-SR.dcm", "missing_attribute"),
    ("dicom/pydicom/test1.json", "not_part10"),
    ("dicom/pydicom/test_PN.json", "not_part10"),
    ("dicom/pydicom/zipMR.gz", "not_part10"),
];

fn mira(data_dir: &Path, args: &[&str]) -> (i32, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mira"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("MIRA_LOG", "warn")
        .output()
        .expect("run mira");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        output.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// Where `mira` keeps the blob of `file`: named by the SHA-256 of its data set.
fn blob_path(data_dir: &Path, file: &Path) -> PathBuf {
    let bytes = std::fs::read(file).unwrap();
    let head = mira_dicom::part10::read_head(&mut &bytes[..]).unwrap();
    let mut digest = mira_ingest::DatasetDigest::new(head.dataset_offset);
    digest.update(&bytes);
    let key = digest.finish();
    data_dir
        .join("blobs")
        .join(&key.as_str()[..2])
        .join(format!("{key}.dcm"))
}

fn relative(root: &Path, path: &str) -> String {
    Path::new(path)
        .strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn every_file_is_stored_byte_identical_or_rejected_with_its_reason() {
    let Some(root) = testdata() else { return };
    let data = tempfile::tempdir().unwrap();
    let inputs: Vec<String> = ["dicom", "ct", "cxr"]
        .iter()
        .map(|d| root.join(d).to_string_lossy().to_string())
        .collect();
    let mut args = vec!["import", "--format", "json"];
    args.extend(inputs.iter().map(String::as_str));
    let (code, summary, stderr) = mira(data.path(), &args);
    assert_eq!(
        code, 1,
        "rejections must make the exit code non-zero; stderr:\n{stderr}"
    );

    let rejected: BTreeMap<String, String> = summary["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                relative(&root, r["path"].as_str().unwrap()),
                r["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeMap<String, String> = EXPECTED_REJECTIONS
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect();
    assert_eq!(
        rejected, expected,
        "rejections differ from the reviewed list"
    );
    // every rejection names its reason in words, not only a code
    for r in summary["rejected"].as_array().unwrap() {
        assert!(r["reason"].as_str().unwrap().len() > 20, "{r}");
    }

    // everything else: stored (or, for the nine encodings of one instance in dcm_qa_ts, kept
    // under keep-first) and byte-identical
    let stored = summary["stored"].as_u64().unwrap();
    let kept = summary["kept_existing"].as_u64().unwrap();
    let files = summary["files"].as_u64().unwrap();
    assert_eq!(stored + kept + rejected.len() as u64, files);
    let mut accepted = Vec::new();
    for dir in ["dicom", "ct", "cxr"] {
        for entry in walkdir::WalkDir::new(root.join(dir)).sort_by_file_name() {
            let entry = entry.unwrap();
            if entry.file_type().is_file()
                && !rejected.contains_key(&relative(&root, &entry.path().to_string_lossy()))
            {
                accepted.push(entry.into_path());
            }
        }
    }
    assert_eq!(accepted.len() as u64, stored + kept);
    let mut conflicting = Vec::new();
    for file in &accepted {
        let blob = blob_path(data.path(), file);
        match std::fs::read(&blob) {
            Ok(bytes) => assert!(
                bytes == std::fs::read(file).unwrap(),
                "{} differs from its blob",
                file.display()
            ),
            Err(_) => conflicting.push(file.clone()),
        }
    }
    assert_eq!(
        conflicting.len() as u64,
        kept,
        "only keep-first conflicts may lack their own blob"
    );
    // each conflicting encoding is stored byte-identical in an archive of its own
    for file in &conflicting {
        let own = tempfile::tempdir().unwrap();
        let (code, summary, stderr) = mira(
            own.path(),
            &["import", "--format", "json", file.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{}: {stderr}", file.display());
        assert_eq!(summary["stored"], 1);
        assert_eq!(
            std::fs::read(blob_path(own.path(), file)).unwrap(),
            std::fs::read(file).unwrap()
        );
    }

    // the catalogue holds one row per stored instance, and `ls` agrees with the import
    let (code, studies, _) = mira(data.path(), &["ls", "studies", "--format", "json"]);
    assert_eq!(code, 0);
    let instances: u64 = studies
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["instances"].as_u64().unwrap())
        .sum();
    assert_eq!(instances, stored);

    // importing the same files again changes nothing: all duplicates or kept
    let (code, again, _) = mira(data.path(), &args);
    assert_eq!(code, 1);
    assert_eq!(again["stored"], 0);
    assert_eq!(again["duplicate"].as_u64().unwrap(), stored);
    let (_, studies_again, _) = mira(data.path(), &["ls", "studies", "--format", "json"]);
    assert_eq!(studies_again, studies);
}

#[test]
fn a_folder_of_valid_files_imports_with_exit_code_zero() {
    let Some(root) = testdata() else { return };
    let data = tempfile::tempdir().unwrap();
    let cxr = root.join("cxr");
    let (code, summary, stderr) = mira(
        data.path(),
        &[
            "import",
            "--format",
            "json",
            "--skip-non-dicom",
            cxr.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    // the MONOCHROME1-relabelled SIIM copy keeps its source's SOP Instance UID: a conflict,
    // kept under the default keep-first policy
    assert_eq!(summary["stored"], 3);
    assert_eq!(summary["kept_existing"], 1);
    assert_eq!(
        summary["skipped"].as_array().unwrap().len(),
        3,
        "two PNGs and a JSON dump"
    );
    let (_, series, _) = mira(data.path(), &["ls", "series", "--format", "json"]);
    let modalities: Vec<&str> = series
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["modality"].as_str())
        .collect();
    assert!(
        modalities.contains(&"CR") && modalities.contains(&"DX"),
        "{modalities:?}"
    );
}

#[test]
fn a_missing_path_is_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let (code, _, stderr) = mira(data.path(), &["import", "/nonexistent/scan.dcm"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/scan.dcm"), "{stderr}");
}
