//! Table-driven tests: each case changes a clean report or its context and lists exactly the
//! issue codes QC must raise (none for the cases that must pass).

use super::*;
use crate::test_support::*;
use crate::{Decision, DrGrade, Notification, ReportDocument, Template};

type Edit = fn(&mut ReportDocument, &mut QcContext);

fn clean() -> (ReportDocument, QcContext) {
    let doc = signed_ldct().document;
    let ctx = QcContext {
        dicom_sex: Some("M".into()),
        exam_completed_at: Some("2026-11-20T09:40:00+08:00".into()),
        report_time: Some("2026-11-20T10:15:00+08:00".into()),
        ..QcContext::default()
    };
    (doc, ctx)
}

fn run(cases: &[(&str, Edit, &[&str])]) {
    for (name, edit, expected) in cases {
        let (mut doc, mut ctx) = clean();
        edit(&mut doc, &mut ctx);
        let result = check(&doc, &ctx);
        let mut codes = result.codes();
        codes.sort_unstable();
        let mut expected = expected.to_vec();
        expected.sort_unstable();
        assert_eq!(codes, expected, "case {name}: {:#?}", result.issues);
        let errors = result.issues.iter().any(|i| i.severity == Severity::Error);
        assert_eq!(result.passed, !errors, "case {name}");
        for issue in &result.issues {
            assert!(!issue.message.is_empty() && issue.citation.contains("clinical-rules §"));
            // no patient identifiers in messages
            assert!(!issue.message.contains("MIRA-0001") && !issue.message.contains("张"));
        }
    }
}

fn notification(read_back: bool) -> Notification {
    Notification {
        recipient: "呼吸科值班医生".into(),
        method: "phone".into(),
        message: "右侧气胸".into(),
        read_back,
        notified_by: "wang".into(),
        notified_at: "2026-11-20T10:05:00+08:00".into(),
    }
}

#[test]
fn the_prefilled_ldct_report_passes() {
    let (doc, ctx) = clean();
    let result = check(&doc, &ctx);
    assert!(
        result.passed && result.issues.is_empty(),
        "{:#?}",
        result.issues
    );
}

#[test]
fn completeness() {
    run(&[
        ("all present", |_, _| {}, &[]),
        (
            "no name",
            |d, _| d.header.patient_name = None,
            &["completeness.header"],
        ),
        (
            "blank name",
            |d, _| d.header.patient_name = Some("  ".into()),
            &["completeness.header"],
        ),
        (
            "no sex",
            |d, _| d.header.patient_sex = None,
            &["completeness.header"],
        ),
        (
            "no patient id",
            |d, _| d.header.patient_id = None,
            &["completeness.header"],
        ),
        (
            "no exam number",
            |d, _| d.header.accession_number = None,
            &["completeness.header"],
        ),
        (
            "body part alone is enough",
            |d, _| d.header.study_description = None,
            &[],
        ),
        (
            "exam item alone is enough",
            |d, _| d.header.body_part = None,
            &[],
        ),
        (
            "neither exam item nor body part",
            |d, _| {
                d.header.study_description = None;
                d.header.body_part = Some(String::new());
            },
            &["completeness.header"],
        ),
        (
            "no exam date",
            |d, _| d.header.study_date = None,
            &["completeness.header"],
        ),
        (
            "two fields missing, two issues",
            |d, _| {
                d.header.patient_id = None;
                d.header.study_date = None;
            },
            &["completeness.header", "completeness.header"],
        ),
        (
            "CT without technique",
            |d, _| d.technique = " \n".into(),
            &["completeness.technique"],
        ),
        (
            "non-CT without technique",
            |d, _| {
                d.template = Template::General;
                d.lung_rads = None;
                d.header.modalities = vec!["DX".into()];
                d.technique.clear();
            },
            &[],
        ),
        (
            "empty findings",
            |d, _| d.findings_text.clear(),
            &["completeness.findings"],
        ),
        (
            "empty impression",
            |d, _| d.impression = " ".into(),
            &["completeness.impression"],
        ),
    ]);
}

#[test]
fn sex_consistency() {
    run(&[
        ("M = M", |_, _| {}, &[]),
        (
            "M vs F",
            |_, c| c.dicom_sex = Some("F".into()),
            &["consistency.sex"],
        ),
        ("M vs 男", |_, c| c.dicom_sex = Some("男".into()), &[]),
        (
            "M vs O",
            |_, c| c.dicom_sex = Some("O".into()),
            &["consistency.sex"],
        ),
        ("no DICOM sex", |_, c| c.dicom_sex = None, &[]),
        (
            "unknown DICOM sex",
            |_, c| c.dicom_sex = Some("".into()),
            &[],
        ),
        (
            "uterus in a male",
            |d, _| d.findings_text += "\n子宫未见异常。",
            &["consistency.sex-organ"],
        ),
        (
            "ovary in a male (en)",
            |d, _| d.findings_text += "\nOvary unremarkable.",
            &["consistency.sex-organ"],
        ),
        (
            "prostate in a male",
            |d, _| d.findings_text += "\n前列腺增大。",
            &[],
        ),
        (
            "prostate in a female",
            |d, c| {
                d.header.patient_sex = Some("F".into());
                c.dicom_sex = Some("F".into());
                d.impression += "前列腺钙化。";
            },
            &["consistency.sex-organ"],
        ),
        (
            "uterus in a female",
            |d, c| {
                d.header.patient_sex = Some("F".into());
                c.dicom_sex = Some("F".into());
                d.findings_text += "\n子宫肌瘤。";
            },
            &[],
        ),
    ]);
}

#[test]
fn laterality() {
    run(&[
        ("impression without side", |_, _| {}, &[]),
        (
            "right in impression, right in findings",
            |d, _| d.impression = "右肺上叶结节，Lung-RADS 4A类。".into(),
            &[],
        ),
        (
            "left in impression, only right in findings",
            |d, _| d.impression = "左肺上叶结节，Lung-RADS 4A类。".into(),
            &["consistency.laterality"],
        ),
        (
            "left supported by a structured finding's laterality",
            |d, _| {
                d.impression = "左肺结节。".into();
                d.findings[0].laterality = Some(Laterality::Both);
            },
            &[],
        ),
        (
            "English left unsupported",
            |d, _| d.impression = "Nodule in the left upper lobe.".into(),
            &["consistency.laterality"],
        ),
        (
            "'leftover' is not a side",
            |d, _| d.impression += " No leftover changes.",
            &[],
        ),
        (
            "bilateral in impression needs both sides",
            |d, _| d.impression = "双肺多发结节。".into(),
            &["consistency.laterality"],
        ),
        (
            "a right-lateral finding described as left",
            |d, _| d.findings[0].location = Some("左肺上叶".into()),
            &["consistency.finding-laterality"],
        ),
        (
            "a left finding when the findings text names only the right",
            |d, _| {
                d.findings[0].laterality = Some(Laterality::Left);
                d.findings[0].location = Some("肺上叶".into());
            },
            &["consistency.finding-laterality"],
        ),
        (
            "a left finding when the findings text names both sides",
            |d, _| {
                d.findings[0].laterality = Some(Laterality::Left);
                d.findings[0].location = Some("肺上叶".into());
                d.findings_text += "\n左肺下叶少许纤维灶。";
            },
            &[],
        ),
        (
            "a finding described as both sides is not contradicted",
            |d, _| d.findings[0].location = Some("左右肺门".into()),
            &[],
        ),
    ]);
}

#[test]
fn normal_impression_with_abnormal_findings() {
    run(&[
        (
            "未见异常 with a 4A nodule",
            |d, _| d.impression = "未见异常。".into(),
            &["consistency.normal-impression"],
        ),
        (
            "余未见异常 is a qualifier",
            |d, _| d.impression += "余未见异常。",
            &[],
        ),
        (
            "no abnormality (en)",
            |d, _| d.impression = "No abnormality.".into(),
            &["consistency.normal-impression"],
        ),
        (
            "'abnormal' is not 'normal'",
            |d, _| d.impression += " Abnormal density.",
            &[],
        ),
        (
            "otherwise normal",
            |d, _| d.impression += " Otherwise normal.",
            &[],
        ),
        (
            "normal with a category 1 nodule only",
            |d, _| {
                d.impression = "未见异常。".into();
                let m = d.findings[0].nodule.as_mut().unwrap();
                (m.calcified, m.category) = (true, Some("1".into()));
                d.lung_rads = Some("1".into());
            },
            &[],
        ),
        (
            "normal with a pending nodule only",
            |d, _| {
                d.impression = "未见异常。".into();
                d.findings[0].decision = Decision::Pending;
                d.lung_rads = Some("1".into());
            },
            &[],
        ),
    ]);
}

#[test]
fn lung_rads() {
    run(&[
        ("4A = 4A", |_, _| {}, &[]),
        ("lower case", |d, _| d.lung_rads = Some("4a".into()), &[]),
        ("S modifier", |d, _| d.lung_rads = Some("4AS".into()), &[]),
        (
            "understated",
            |d, _| d.lung_rads = Some("3".into()),
            &["lung-rads.mismatch"],
        ),
        (
            "overstated",
            |d, _| d.lung_rads = Some("4B".into()),
            &["lung-rads.mismatch"],
        ),
        (
            "missing on LDCT",
            |d, _| d.lung_rads = None,
            &["lung-rads.missing"],
        ),
        (
            "blank on LDCT",
            |d, _| d.lung_rads = Some(" ".into()),
            &["lung-rads.missing"],
        ),
        (
            "missing on a general report",
            |d, _| {
                d.template = Template::General;
                d.lung_rads = None;
            },
            &[],
        ),
        (
            "a rejected 4B nodule does not count",
            |d, _| {
                let mut n = d.findings[0].clone();
                n.nodule.as_mut().unwrap().category = Some("4B".into());
                n.decision = Decision::Rejected {
                    reason: "vessel".into(),
                };
                d.findings.push(n);
            },
            &[],
        ),
        (
            "an added 4B nodule does",
            |d, _| {
                let mut n = d.findings[0].clone();
                n.nodule.as_mut().unwrap().category = Some("4B".into());
                n.nodule.as_mut().unwrap().status = Some("new".into());
                n.decision = Decision::Added;
                d.findings.push(n);
            },
            &["lung-rads.mismatch"],
        ),
        (
            "an added nodule without a category counts with its measurements",
            |d, _| {
                let mut n = d.findings[0].clone();
                let m = n.nodule.as_mut().unwrap();
                (m.long_axis_mm, m.short_axis_mm, m.category) = (16.0, 14.0, None);
                n.decision = Decision::Added;
                d.findings.push(n);
            },
            &["lung-rads.mismatch"],
        ),
        (
            "a nodule category its measurements contradict",
            |d, _| {
                d.findings[0].nodule.as_mut().unwrap().category = Some("3".into());
                d.lung_rads = Some("3".into());
            },
            &["lung-rads.nodule-category"],
        ),
        (
            "4X above a measured 4A is an upgrade",
            |d, _| {
                d.findings[0].nodule.as_mut().unwrap().category = Some("4X".into());
                d.lung_rads = Some("4X".into());
            },
            &[],
        ),
        (
            "a stable nodule keeps its category",
            |d, _| {
                let m = d.findings[0].nodule.as_mut().unwrap();
                (m.status, m.category) = (Some("stable".into()), Some("3".into()));
                d.lung_rads = Some("3".into());
            },
            &[],
        ),
        (
            "no nodules: category 1",
            |d, _| {
                d.findings.clear();
                d.lung_rads = Some("1".into());
                d.findings_text = "双肺未见结节。".into();
                d.impression = "双肺未见结节。".into();
            },
            &[],
        ),
        (
            "no nodules stated 2",
            |d, _| {
                d.findings.clear();
                d.lung_rads = Some("2".into());
                d.findings_text = "双肺未见结节。".into();
                d.impression = "双肺未见结节。".into();
            },
            &["lung-rads.mismatch"],
        ),
    ]);
}

fn dr_doc(d: &mut ReportDocument, grades: &[(Laterality, bool, Option<&str>, bool)]) {
    d.template = Template::DrScreening;
    d.lung_rads = None;
    d.header.modalities = vec!["OP".into()];
    d.findings.clear();
    d.dr = grades
        .iter()
        .map(|(eye, gradable, grade, referable)| DrGrade {
            eye: *eye,
            gradable: *gradable,
            grade: grade.map(String::from),
            referable: *referable,
        })
        .collect();
    d.findings_text = "右眼：见正文。".into();
    d.impression = "无可转诊糖尿病视网膜病变。".into();
    d.recommendation = "12个月后复查眼底照相。".into();
}

fn refer(d: &mut ReportDocument) {
    d.impression = "可转诊糖尿病视网膜病变。".into();
    d.recommendation = "建议转诊眼科。".into();
}

#[test]
fn dr_screening() {
    use Laterality::{Left, Right};
    run(&[
        (
            "none/mild, not referable",
            |d, _| {
                dr_doc(
                    d,
                    &[
                        (Right, true, Some("none"), false),
                        (Left, true, Some("mild"), false),
                    ],
                )
            },
            &[],
        ),
        (
            "no grades on a DR report",
            |d, _| dr_doc(d, &[]),
            &["dr.missing"],
        ),
        (
            "moderate marked not referable",
            |d, _| {
                dr_doc(
                    d,
                    &[
                        (Right, true, Some("moderate"), false),
                        (Left, true, Some("none"), false),
                    ],
                )
            },
            &["dr.referable"],
        ),
        (
            "moderate referable, referral stated",
            |d, _| {
                dr_doc(
                    d,
                    &[
                        (Right, true, Some("moderate"), true),
                        (Left, true, Some("none"), false),
                    ],
                );
                refer(d);
            },
            &[],
        ),
        (
            "moderate referable, no referral",
            |d, _| {
                dr_doc(
                    d,
                    &[
                        (Right, true, Some("moderate"), true),
                        (Left, true, Some("none"), false),
                    ],
                )
            },
            &["dr.referral"],
        ),
        (
            "mild referable for DME, referral stated",
            |d, _| {
                dr_doc(
                    d,
                    &[
                        (Right, true, Some("mild"), true),
                        (Left, true, Some("none"), false),
                    ],
                );
                refer(d);
            },
            &[],
        ),
        (
            "proliferative not referable",
            |d, _| {
                dr_doc(
                    d,
                    &[
                        (Right, true, Some("proliferative"), false),
                        (Left, true, Some("none"), false),
                    ],
                );
                refer(d);
            },
            &["dr.referable"],
        ),
        (
            "ungradable reported as no DR",
            |d, _| {
                dr_doc(
                    d,
                    &[
                        (Right, false, Some("none"), false),
                        (Left, true, Some("none"), false),
                    ],
                );
                refer(d);
            },
            &["dr.ungradable"],
        ),
        (
            "ungradable without a grade, re-image or refer",
            |d, _| {
                dr_doc(
                    d,
                    &[
                        (Right, false, None, false),
                        (Left, true, Some("none"), false),
                    ],
                );
                d.recommendation = "建议重新拍摄或转诊眼科。".into();
            },
            &[],
        ),
        (
            "ungradable without a referral",
            |d, _| {
                dr_doc(
                    d,
                    &[
                        (Right, false, None, false),
                        (Left, true, Some("none"), false),
                    ],
                )
            },
            &["dr.referral"],
        ),
        (
            "unknown grade",
            |d, _| {
                dr_doc(
                    d,
                    &[
                        (Right, true, Some("R2"), false),
                        (Left, true, Some("none"), false),
                    ],
                )
            },
            &["dr.referable"],
        ),
        (
            "gradable without a grade",
            |d, _| {
                dr_doc(
                    d,
                    &[
                        (Right, true, None, false),
                        (Left, true, Some("none"), false),
                    ],
                )
            },
            &["dr.referable"],
        ),
    ]);
}

#[test]
fn critical_values() {
    run(&[
        ("no critical finding", |_, _| {}, &[]),
        (
            "flagged, not notified",
            |d, _| d.critical = true,
            &["critical.notification"],
        ),
        (
            "flagged, notified with read-back",
            |d, c| {
                d.critical = true;
                c.notifications = vec![notification(true)];
            },
            &[],
        ),
        (
            "flagged, notified without read-back",
            |d, c| {
                d.critical = true;
                c.notifications = vec![notification(false)];
            },
            &["critical.notification"],
        ),
        (
            "右侧气胸 in the impression",
            |d, _| d.impression += "右侧气胸。",
            &["critical.notification"],
        ),
        (
            "气胸 notified",
            |d, c| {
                d.impression += "右侧气胸。";
                c.notifications = vec![notification(false), notification(true)];
            },
            &[],
        ),
        (
            "未见气胸 is negated",
            |d, _| d.impression += "未见气胸。",
            &[],
        ),
        (
            "aortic dissection (en)",
            |d, _| d.impression += " Suspected aortic dissection.",
            &["critical.notification"],
        ),
        (
            "no pneumothorax (en)",
            |d, _| d.impression += " No pneumothorax.",
            &[],
        ),
        (
            "肺栓塞",
            |d, _| d.impression += "右肺动脉肺栓塞。",
            &["critical.notification"],
        ),
        (
            "膈下游离气体",
            |d, _| d.impression += "右膈下游离气体。",
            &["critical.notification"],
        ),
        (
            "negation in another clause does not hide it",
            |d, _| d.impression += "未见积液，右侧气胸。",
            &["critical.notification"],
        ),
    ]);
}

#[test]
fn timeliness_boundaries() {
    run(&[
        ("35 min for CT", |_, _| {}, &[]),
        (
            "CT at exactly 24 h",
            |_, c| c.report_time = Some("2026-11-21T09:40:00+08:00".into()),
            &[],
        ),
        (
            "CT at 24 h + 1 s",
            |_, c| c.report_time = Some("2026-11-21T09:40:01+08:00".into()),
            &["timeliness.turnaround"],
        ),
        (
            "radiograph at exactly 120 min",
            |d, c| {
                d.header.modalities = vec!["DX".into()];
                c.report_time = Some("2026-11-20T11:40:00+08:00".into());
            },
            &[],
        ),
        (
            "radiograph at 121 min",
            |d, c| {
                d.header.modalities = vec!["DX".into()];
                c.report_time = Some("2026-11-20T11:41:00+08:00".into());
            },
            &["timeliness.turnaround"],
        ),
        (
            "urgent at exactly 30 min",
            |_, c| {
                c.urgent = true;
                c.report_time = Some("2026-11-20T10:10:00+08:00".into());
            },
            &[],
        ),
        (
            "urgent at 31 min",
            |_, c| {
                c.urgent = true;
                c.report_time = Some("2026-11-20T10:11:00+08:00".into());
            },
            &["timeliness.turnaround"],
        ),
        (
            "configured CT limit of 30 min",
            |_, c| c.limits.ct_mr_minutes = 30,
            &["timeliness.turnaround"],
        ),
        (
            "time zones are honoured (UTC report, +08:00 exam)",
            |_, c| c.report_time = Some("2026-11-20T02:15:00Z".into()),
            &[],
        ),
        ("no report time", |_, c| c.report_time = None, &[]),
        (
            "not RFC 3339",
            |_, c| c.report_time = Some("20261120 1015".into()),
            &["timeliness.time"],
        ),
        (
            "report before the exam",
            |_, c| c.report_time = Some("2026-11-20T09:00:00+08:00".into()),
            &["timeliness.time"],
        ),
    ]);
}

#[test]
fn turnaround_functions_for_indicators() {
    let t = |a: &str, b: &str| turnaround_minutes(a, b).unwrap();
    assert_eq!(
        t("2026-11-20T09:40:00+08:00", "2026-11-20T10:15:30+08:00"),
        35.5
    );
    assert_eq!(t("2026-11-20T09:40:00Z", "2026-11-20T09:39:00Z"), -1.0);
    assert!(within_limit("2026-11-20T09:40:00Z", "2026-11-20T11:40:00Z", 120).unwrap());
    assert!(!within_limit("2026-11-20T09:40:00Z", "2026-11-20T11:40:01Z", 120).unwrap());
    assert!(matches!(
        turnaround_minutes("yesterday", "2026-11-20T11:40:01Z"),
        Err(ReportError::InvalidTimestamp {
            field: "exam_completed_at",
            ..
        })
    ));
    let classes = [
        (vec!["CT"], false, ExamClass::CtMr),
        (vec!["MR"], false, ExamClass::CtMr),
        (vec!["DX"], false, ExamClass::Radiograph),
        (vec!["CR", "CT"], false, ExamClass::CtMr),
        (vec!["OP"], false, ExamClass::Other),
        (vec!["CT"], true, ExamClass::Emergency),
    ];
    for (modalities, urgent, class) in classes {
        let modalities: Vec<String> = modalities.into_iter().map(String::from).collect();
        assert_eq!(ExamClass::of(&modalities, urgent), class);
    }
    let limits = TurnaroundLimits::default();
    assert_eq!(
        [ExamClass::Emergency, ExamClass::Radiograph, ExamClass::CtMr].map(|c| limits.minutes(c)),
        [30, 120, 1440]
    );
}

#[test]
fn limits_and_results_have_their_serde_shape() {
    let limits: TurnaroundLimits = serde_json::from_str(r#"{"radiograph_minutes": 60}"#).unwrap();
    assert_eq!(limits.radiograph_minutes, 60);
    assert_eq!(limits.emergency_minutes, 30);
    assert_eq!(limits.ct_mr_minutes, 1440);
    let ctx: QcContext = serde_json::from_str(r#"{"urgent": true}"#).unwrap();
    assert!(ctx.urgent && ctx.limits == TurnaroundLimits::default());
    let (mut doc, ctx) = clean();
    doc.lung_rads = Some("2".into());
    let json = serde_json::to_value(check(&doc, &ctx)).unwrap();
    assert_eq!(json["passed"], false);
    assert_eq!(json["issues"][0]["code"], "lung-rads.mismatch");
    assert_eq!(json["issues"][0]["severity"], "error");
    assert_eq!(
        json["issues"][0]["message"],
        "Lung-RADS分类为2，按已接受结节应为4A"
    );
}

#[test]
fn messages_follow_the_report_language() {
    let (mut doc, ctx) = clean();
    doc.language = crate::Language::En;
    doc.lung_rads = Some("2".into());
    let result = check(&doc, &ctx);
    assert_eq!(
        result.issues[0].message,
        "Lung-RADS is stated as 2; the reported nodules give 4A"
    );
}
