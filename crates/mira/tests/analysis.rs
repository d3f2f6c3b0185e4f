//! Issues 5 and 6 in the server: a chest CT series and fundus photographs sent over DICOM are
//! checked by QC, routed to the lung and fundus analyzers once the study settles, and come
//! back as results in the API and as TID 1500 SRs in the study that dciodvfy accepts.
//!
//! The CT series is a synthetic chest phantom (mira-lung's generator: lungs, vessels, noise,
//! planted nodules of known size), since no real chest CT with known nodules is in the test
//! data; the fundus photographs are real IDRiD images wrapped as DICOM OP by dcmtk's img2dcm.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use serde_json::Value;

const STUDY: &str = "2.25.77001";
const SERIES: &str = "2.25.77001.1";

fn wait_for_jobs(server: &Server, study: &str, analyzer: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let r = server.get(&format!("/api/analysis/studies/{study}"), &[]);
        if r.status == 200 {
            let body = r.json();
            let done = body["jobs"].as_array().unwrap().iter().find(|j| {
                j["analyzer"] == analyzer && (j["state"] == "done" || j["state"] == "failed")
            });
            if let Some(job) = done {
                return job.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no {analyzer} result for {study}; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// dciodvfy's verdict on a stored instance: the lines that say Error.
fn dciodvfy_errors(path: &Path) -> Option<Vec<String>> {
    let mut command = Command::new("dciodvfy");
    command.arg(path);
    let Ok(out) = command.output() else {
        return common::skip("dciodvfy (dicom3tools) is not installed");
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        text.lines()
            .filter(|l| l.starts_with("Error"))
            .map(str::to_string)
            .collect(),
    )
}

fn stored_path(server: &Server, sop: &str) -> std::path::PathBuf {
    let located = server
        .instances()
        .into_iter()
        .find(|i| i.sop_instance_uid == sop)
        .unwrap_or_else(|| panic!("SR {sop} is not in the archive"));
    server.blob_path(&located.blob_key)
}

fn settle_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("MIRA__QC__SETTLE_SECS", "1"),
        ("MIRA__ANALYSIS__POLL_MILLIS", "200"),
    ]
}

#[test]
fn a_chest_ct_is_analysed_for_lung_nodules_and_gets_a_valid_sr() {
    let Some(_) = common::testdata() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let series_dir = dir.path().join("ct");
    // what a CT console writes and the phantom writer leaves out
    if common::chest_ct_phantom(
        &series_dir,
        STUDY,
        SERIES,
        "PHANTOM-1",
        &[
            ("(0018,0015)", "CHEST"),
            ("(0008,103E)", "LDCT chest"),
            ("(0010,0010)", "PHANTOM^LUNG"),
            ("(0020,0011)", "2"),
        ],
    )
    .is_none()
    {
        return;
    }

    let server = Server::start(&settle_env());
    let Some(out) = common::run_dcmtk(
        "storescu",
        [
            "-aet",
            "STORESCU",
            "+sd",
            "127.0.0.1",
            &server.port_arg(),
            series_dir.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    out.assert_success();

    let job = wait_for_jobs(&server, STUDY, "lung-ct");
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["subject_uid"], SERIES);
    let report = &job["result"];
    let nodules = report["nodules"].as_array().unwrap();
    for (planted, expected) in common::CHEST_PHANTOM_NODULES {
        let found = nodules.iter().find(|n| {
            let c = &n["centre_mm"];
            (c[0].as_f64().unwrap() - planted[0]).abs() < 5.0
                && (c[1].as_f64().unwrap() - planted[1]).abs() < 5.0
        });
        let found = found.unwrap_or_else(|| panic!("no nodule near {planted:?}: {report}"));
        let mean = found["mean_diameter_mm"].as_f64().unwrap();
        assert!(
            (mean - expected).abs() <= 1.0,
            "{mean} mm for {expected} mm"
        );
    }
    let category = report["exam"]["category"].as_str().unwrap();
    assert!(["2", "3", "4A", "4B"].contains(&category), "{report}");
    let flags = job["flags"].as_array().unwrap();
    assert!(
        flags
            .iter()
            .any(|f| f["code"].as_str().unwrap().starts_with("lung-rads-")),
        "{job}"
    );

    // the SR is in the study, an AI draft, and valid
    let sr_uid = job["derived"][0].as_str().unwrap();
    let sr = stored_path(&server, sr_uid);
    if let Some(errors) = dciodvfy_errors(&sr) {
        assert!(errors.is_empty(), "dciodvfy: {errors:?}");
    }
    let obj = dicom_object::open_file(&sr).unwrap();
    let text = |tag| {
        obj.element(tag)
            .unwrap()
            .to_str()
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(text(dicom_dictionary_std::tags::MODALITY), "SR");
    assert_eq!(text(dicom_dictionary_std::tags::STUDY_INSTANCE_UID), STUDY);
    assert_eq!(
        text(dicom_dictionary_std::tags::VERIFICATION_FLAG),
        "UNVERIFIED"
    );
    assert_eq!(text(dicom_dictionary_std::tags::COMPLETION_FLAG), "PARTIAL");
    // QIDO-RS sees the SR series in the study
    let series = server
        .get(
            &format!("/dicom-web/studies/{STUDY}/series?Modality=SR"),
            &[],
        )
        .json();
    assert_eq!(series.as_array().unwrap().len(), 1, "{series}");
}

#[test]
fn fundus_photographs_are_screened_and_get_a_valid_sr() {
    let Some(data) = common::testdata() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let labels = std::fs::read_to_string(data.join("fundus/idrid_codras/labels.csv")).unwrap();
    // one photograph with lesions (right eye) and one without (left eye), one patient
    let mut with_lesion = None;
    let mut without = None;
    for line in labels.lines().skip(1) {
        let mut cols = line.split(',');
        let (Some(name), Some(label)) = (cols.next(), cols.next()) else {
            continue;
        };
        match label.trim() {
            "1" if with_lesion.is_none() => with_lesion = Some(name.trim().to_string()),
            "0" if without.is_none() => without = Some(name.trim().to_string()),
            _ => {}
        }
    }
    let mut files = Vec::new();
    for (n, (name, eye)) in [(with_lesion.unwrap(), "R"), (without.unwrap(), "L")]
        .into_iter()
        .enumerate()
    {
        let jpg = data
            .join("fundus/idrid_codras")
            .join(if name.ends_with(".jpg") {
                name.clone()
            } else {
                format!("{name}.jpg")
            });
        let out = dir.path().join(format!("op{n}.dcm"));
        let Some(conv) = common::run_dcmtk(
            "img2dcm",
            [
                "-oph",
                "-k",
                "PatientID=FUNDUS-1",
                "-k",
                "PatientName=FUNDUS^TEST",
                "-k",
                "StudyInstanceUID=2.25.88001",
                "-k",
                "SeriesInstanceUID=2.25.88001.1",
                "-k",
                &format!("SOPInstanceUID=2.25.88001.1.{n}"),
                "-k",
                &format!("ImageLaterality={eye}"),
                "-k",
                "AcquisitionDeviceTypeCodeSequence[0].CodeValue=R-1021A",
                "-k",
                "AcquisitionDeviceTypeCodeSequence[0].CodingSchemeDesignator=SRT",
                "-k",
                "AcquisitionDeviceTypeCodeSequence[0].CodeMeaning=Fundus Camera",
                jpg.to_str().unwrap(),
                out.to_str().unwrap(),
            ],
        ) else {
            return;
        };
        conv.assert_success();
        files.push(out);
    }
    let server = Server::start(&settle_env());
    // -xy: propose JPEG baseline, the photographs' transfer syntax
    let mut args = vec![
        "-xy".to_string(),
        "-aet".into(),
        "STORESCU".into(),
        "127.0.0.1".into(),
        server.port_arg(),
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap().to_string()));
    common::run_dcmtk("storescu", &args)
        .unwrap()
        .assert_success();

    let job = wait_for_jobs(&server, "2.25.88001", "fundus-dr");
    assert_eq!(job["state"], "done", "{job}");
    let result = &job["result"];
    assert_eq!(result["images"].as_array().unwrap().len(), 2, "{result}");
    let patient = &result["patients"][0];
    assert_eq!(patient["eyes"].as_array().unwrap().len(), 2, "{patient}");
    // whatever it concludes, an ungradable eye is never "no retinopathy"
    for image in result["images"].as_array().unwrap() {
        if image["gradability"]["gradable"] == false {
            assert_ne!(image["screening"]["result"], "no-apparent-retinopathy");
        }
    }
    let sr_uid = job["derived"][0].as_str().unwrap();
    let sr = stored_path(&server, sr_uid);
    if let Some(errors) = dciodvfy_errors(&sr) {
        assert!(errors.is_empty(), "dciodvfy: {errors:?}");
    }
}
