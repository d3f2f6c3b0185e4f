//! The PDF read back by poppler's `pdftotext`: the Chinese impression, the patient's name and
//! the signature line come out as text. Without pdftotext (apt: poppler-utils) or a CJK font
//! (apt: fonts-wqy-zenhei) the check is skipped with a message, except under `CI=true`.

mod common;

use std::process::Command;

use mira_report::{Language, pdf};

fn pdftotext(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf).unwrap();
    let Ok(out) = Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-layout"])
        .arg(&path)
        .arg("-")
        .output()
    else {
        return common::skip("pdftotext (poppler-utils) is not installed");
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Text without the spaces and line breaks a layout adds.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn chinese_report_text_survives_in_the_pdf() {
    if !pdf::default_font_available() {
        common::skip::<()>("no CJK font (apt: fonts-wqy-zenhei)");
        return;
    }
    let mut report = common::signed_report(Language::ZhCn);
    report.addenda.push((
        "补充：纵隔未见肿大淋巴结。".into(),
        report.signature.clone(),
    ));
    // a long findings text flows onto a second page
    report.document.findings_text = (1..=60)
        .map(|n| format!("第{n}行：右肺上叶实性结节随访观察，边缘光整，未见钙化。"))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = pdf::render(&report).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    // the font is subset: far smaller than the 11 MB font collection
    assert!(bytes.len() < 400_000, "{} bytes", bytes.len());
    let Some(text) = pdftotext(&bytes) else {
        return;
    };
    let text = squeeze(&text);
    for expected in [
        "北京市某社区卫生服务中心",
        "张三",
        "MIRA-0001",
        "ACC2026001",
        &squeeze(&report.document.impression),
        "报告医师：王医生",
        "补充：纵隔未见肿大淋巴结。",
        "本报告经人工智能辅助；已由以下医师审核并签署：王医生",
        "第60行",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    // pending and rejected nodules are not in the report
    assert!(!text.contains("16.0×14.0"));
}

#[test]
fn english_report_renders_too() {
    if !pdf::default_font_available() {
        common::skip::<()>("no CJK font (apt: fonts-wqy-zenhei)");
        return;
    }
    let report = common::signed_report(Language::En);
    let Some(text) = pdftotext(&pdf::render(&report).unwrap()) else {
        return;
    };
    let text = squeeze(&text);
    assert!(text.contains("Lung-RADS4A(suspicious)"), "{text}");
    assert!(
        text.contains("AI-assisted;reviewedandsignedby王医生"),
        "{text}"
    );
}
