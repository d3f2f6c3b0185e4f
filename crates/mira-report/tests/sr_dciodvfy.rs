//! The signed report's DICOM SR written as a file and checked by dicom3tools' `dciodvfy`
//! (IOD conformance) and dcmtk's `dsr2xml` (SR parsing), the approach of
//! `crates/mira-sr/tests/reports.rs`. Without the tools the checks are skipped with a message,
//! except under `CI=true` (apt: dicom3tools, dcmtk).

mod common;

use std::path::Path;
use std::process::Command;

use dicom_dictionary_std::tags;
use dicom_object::open_file;
use mira_report::{Decision, Language, sr};

/// dciodvfy's verdict on a file: the lines that say Error, and the warnings other than the
/// expected one about mira's private coding scheme `99MIRA` (mira-sr's codes).
fn dciodvfy_errors(path: &Path) -> Option<Vec<String>> {
    let Ok(out) = Command::new("dciodvfy").arg(path).output() else {
        return common::skip("dciodvfy (dicom3tools) is not installed");
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        text.lines()
            .filter(|l| {
                l.starts_with("Error") || (l.starts_with("Warning") && !l.contains("<99MIRA>"))
            })
            .map(str::to_string)
            .collect(),
    )
}

/// dcmtk's reading of the SR as XML; it must parse.
fn dsr2xml(path: &Path) -> Option<String> {
    let Ok(out) = Command::new("dsr2xml").arg(path).output() else {
        return common::skip("dsr2xml (dcmtk) is not installed");
    };
    assert!(
        out.status.success(),
        "dsr2xml refused the SR: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("dsr2xml writes UTF-8 for ISO_IR 192"))
}

fn text(object: &dicom_object::InMemDicomObject, tag: dicom_core::Tag) -> String {
    object
        .element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_owned()
}

#[test]
fn signed_report_sr_is_verified_and_dciodvfy_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    for language in [Language::ZhCn, Language::En] {
        let mut report = common::signed_report(language);
        // a physician-added nodule and an addendum
        let mut added = common::nodule("physician/5", Decision::Added, "左肺下叶", (4.2, 3.6), "2");
        added.source = mira_report::FindingSource::Physician {
            user: "wang".into(),
        };
        added.image = None;
        report.document.findings.push(added);
        report.addenda.push((
            "补充：纵隔未见肿大淋巴结。".into(),
            report.signature.clone(),
        ));

        let model = sr::measurement_report(&report, &common::ct_source()).unwrap();
        // the accepted and the added nodule; the rejected and pending ones never
        assert_eq!(model.measurement_groups.len(), 2);
        assert_eq!(model.image_library.len(), 1);
        let document = sr::signed_report_document(&report, &common::ct_source()).unwrap();
        let path = dir.path().join(format!("{language:?}.dcm"));
        document.write_file(&path).unwrap();

        let written = open_file(&path).unwrap();
        assert_eq!(text(&written, tags::COMPLETION_FLAG), "COMPLETE");
        assert_eq!(text(&written, tags::VERIFICATION_FLAG), "VERIFIED");
        assert_eq!(text(&written, tags::PATIENT_ID), "MIRA-0001");
        assert_eq!(text(&written, tags::STUDY_INSTANCE_UID), common::STUDY_UID);
        let dump = mira_sr::render_text(&model).unwrap();
        assert!(dump.contains("Lung-RADS 4A"), "{dump}");
        assert!(dump.contains(&report.document.impression), "{dump}");
        assert!(
            !dump.contains("= 16.0 mm"),
            "the rejected nodule leaked: {dump}"
        );

        if let Some(xml) = dsr2xml(&path) {
            assert!(xml.contains(&report.document.impression), "{xml}");
            assert!(
                xml.contains("VERIFIED") && xml.contains("COMPLETE"),
                "{xml}"
            );
            assert!(xml.contains("王医生"), "{xml}");
        }
        if let Some(errors) = dciodvfy_errors(&path) {
            assert!(errors.is_empty(), "dciodvfy ({language:?}): {errors:#?}");
            println!("dciodvfy ({language:?}): no errors");
        }
    }
}

#[test]
fn a_source_without_a_study_is_refused() {
    let mut source = common::ct_source();
    source.remove_element(tags::STUDY_INSTANCE_UID);
    let err = sr::signed_report_sr(&common::signed_report(Language::ZhCn), &source).unwrap_err();
    assert!(matches!(err, mira_report::ReportError::Sr(_)), "{err}");
}
