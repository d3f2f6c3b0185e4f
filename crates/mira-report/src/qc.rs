//! Report QC: structured checks of a report before (and after) it is signed.
//!
//! Every rule has a stable code, a severity, a message in the report's language and the
//! source it comes from (sections of `shared/reference/clinical-rules.md`). [`check`] runs
//! them all and returns every issue, not only the first; a report passes when it has no
//! error (warnings do not block signing).
//!
//! | code | severity | rule | source |
//! |---|---|---|---|
//! | `completeness.header` | error | name, sex, patient ID, exam number, exam item or body part, exam date | §4.1 (病历书写基本规范), §4.5.1 |
//! | `completeness.technique` | error | a CT report states its technique | §4.5.1 |
//! | `completeness.findings`, `completeness.impression` | error | findings (影像所见) and impression (诊断意见) non-empty | §4.5.1 |
//! | `consistency.sex` | error | the report's sex equals DICOM (0010,0040) | §4.5.2 |
//! | `consistency.sex-organ` | error | no 子宫/卵巢/uterus/ovary for a male, 前列腺/prostate for a female | §4.5.2 |
//! | `consistency.laterality` | error | each side named in the impression is in the findings | §4.5.2 |
//! | `consistency.finding-laterality` | error | a finding's laterality agrees with its own words and with the sides the findings text names | §4.5.2 |
//! | `consistency.normal-impression` | error | no "normal" impression with abnormal findings | §4.5.2 |
//! | `lung-rads.missing`, `lung-rads.mismatch` | error | an LDCT report states the exam category, equal to the highest reported nodule category | §1.1.1, §1.1.8, §4.5.2 |
//! | `lung-rads.nodule-category` | warning | a nodule's category agrees with the one its measurements give (baseline or new; juxtapleural nodules and 4X may differ) | §1.1.2, §1.1.3, §1.1.8 |
//! | `dr.missing`, `dr.referable`, `dr.referral`, `dr.ungradable` | error | per-eye ICDR grades, referable ⇔ moderate NPDR or worse, referral stated, ungradable never "no DR" | §2.1, §2.5 |
//! | `critical.notification` | error | a critical finding has a notification with read-back | §4.2, §4.5.4 |
//! | `timeliness.turnaround`, `timeliness.time` | warning | exam completion → report within the limit of its class | §4.3 |

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::templates::{
    exam_lung_rads, icdr_rank, icdr_referable, is_reported, lung_rads_rank, measured_lung_rads,
};
use crate::{Finding, Language, Laterality, Notification, ReportDocument, ReportError, Template};

/// How serious an issue is: an error blocks signing, a warning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The report must not be signed as it is.
    Error,
    /// Worth a look; does not block signing.
    Warning,
}

/// One problem found in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QcIssue {
    /// Stable rule code, e.g. `lung-rads.mismatch`.
    pub code: String,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in the report's language. Never contains patient identifiers.
    pub message: String,
    /// Where the rule comes from.
    pub citation: String,
}

/// The outcome of [`check`]: passed when there is no error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QcResult {
    /// No issue of severity error.
    pub passed: bool,
    /// Every issue, in rule order.
    pub issues: Vec<QcIssue>,
}

impl QcResult {
    /// The codes of the issues, for tests and indicators.
    pub fn codes(&self) -> Vec<&str> {
        self.issues.iter().map(|i| i.code.as_str()).collect()
    }
}

/// Report time limits in minutes per exam class (clinical-rules §4.3: the recommended
/// defaults are emergency 30 min, radiograph 2 h, CT/MR 24 h; each institution sets its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TurnaroundLimits {
    /// Urgent (急) exams of any modality.
    pub emergency_minutes: u32,
    /// Radiographs (CR, DX, DR, RG, MG).
    pub radiograph_minutes: u32,
    /// CT and MR.
    pub ct_mr_minutes: u32,
    /// Anything else (fundus photographs, ultrasound, …).
    pub other_minutes: u32,
}

impl Default for TurnaroundLimits {
    fn default() -> Self {
        TurnaroundLimits {
            emergency_minutes: 30,
            radiograph_minutes: 120,
            ct_mr_minutes: 24 * 60,
            other_minutes: 24 * 60,
        }
    }
}

/// The classes of exam that have their own report time limit (clinical-rules §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExamClass {
    /// Urgent, whatever the modality.
    Emergency,
    /// A radiograph.
    Radiograph,
    /// CT or MR.
    CtMr,
    /// Anything else.
    Other,
}

impl ExamClass {
    /// The class of an exam from its modalities and whether it was ordered urgent; CT/MR wins
    /// over a radiograph in a mixed study.
    pub fn of(modalities: &[String], urgent: bool) -> ExamClass {
        let has = |list: &[&str]| {
            modalities
                .iter()
                .any(|m| list.iter().any(|x| m.eq_ignore_ascii_case(x)))
        };
        if urgent {
            ExamClass::Emergency
        } else if has(&["CT", "MR"]) {
            ExamClass::CtMr
        } else if has(&["CR", "DX", "DR", "RG", "MG"]) {
            ExamClass::Radiograph
        } else {
            ExamClass::Other
        }
    }
}

impl TurnaroundLimits {
    /// The limit of a class in minutes.
    pub fn minutes(&self, class: ExamClass) -> u32 {
        match class {
            ExamClass::Emergency => self.emergency_minutes,
            ExamClass::Radiograph => self.radiograph_minutes,
            ExamClass::CtMr => self.ct_mr_minutes,
            ExamClass::Other => self.other_minutes,
        }
    }
}

/// What QC needs beyond the report itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QcContext {
    /// Patient's Sex (0010,0040) of the study's images.
    pub dicom_sex: Option<String>,
    /// Critical-value notifications recorded for this report.
    pub notifications: Vec<Notification>,
    /// When the exam was completed, RFC 3339.
    pub exam_completed_at: Option<String>,
    /// When the report was (or is about to be) signed, RFC 3339.
    pub report_time: Option<String>,
    /// Report time limits.
    pub limits: TurnaroundLimits,
    /// The exam was ordered urgent (急).
    pub urgent: bool,
}

fn parse_time(field: &'static str, value: &str) -> Result<OffsetDateTime, ReportError> {
    OffsetDateTime::parse(value.trim(), &Rfc3339).map_err(|_| ReportError::InvalidTimestamp {
        field,
        value: value.to_owned(),
    })
}

/// Report turnaround in minutes (fractional) from exam completion to the report, both RFC
/// 3339; negative when the report predates the completion (clinical-rules §4.3: measured from
/// exam completion to final signature).
pub fn turnaround_minutes(exam_completed_at: &str, report_time: &str) -> Result<f64, ReportError> {
    let completed = parse_time("exam_completed_at", exam_completed_at)?;
    let reported = parse_time("report_time", report_time)?;
    Ok((reported - completed).as_seconds_f64() / 60.0)
}

/// Whether a report came within `limit_minutes` of the exam's completion (a report exactly
/// at the limit is in time), for the 报告及时率 indicator (clinical-rules §4.3, §4.4).
pub fn within_limit(
    exam_completed_at: &str,
    report_time: &str,
    limit_minutes: u32,
) -> Result<bool, ReportError> {
    let completed = parse_time("exam_completed_at", exam_completed_at)?;
    let reported = parse_time("report_time", report_time)?;
    Ok((reported - completed).whole_seconds() <= i64::from(limit_minutes) * 60)
}

const CITE_COMPLETENESS: &str = "clinical-rules §4.1 (病历书写基本规范, 卫医政发〔2010〕11号: 辅助检查报告单) and §4.5.1 (completeness)";
const CITE_BODY: &str =
    "clinical-rules §4.5.1 (completeness: technique, 影像所见 and 诊断意见 non-empty)";
const CITE_CONSISTENCY: &str = "clinical-rules §4.5.2 (consistency)";
const CITE_LUNG_RADS: &str = "clinical-rules §1.1.1 (exam category = most suspicious finding), §1.1.8 and §4.5.2 (ACR Lung-RADS v2022)";
const CITE_NODULE: &str = "clinical-rules §1.1.2 (category table), §1.1.3 (juxtapleural nodules) and §1.1.8 (ACR Lung-RADS v2022)";
const CITE_DR: &str = "clinical-rules §2.1 (ICDR) and §2.5 (referable DR: moderate NPDR or worse; ungradable → re-image or refer, never \"no DR\")";
const CITE_CRITICAL: &str = "clinical-rules §4.2 (危急值, 医疗质量安全核心制度要点 2018: record, read back, confirm) and §4.5.4";
const CITE_TIMELINESS: &str = "clinical-rules §4.3 (报告时限; limits configurable per institution)";

struct Issues {
    language: Language,
    issues: Vec<QcIssue>,
}

impl Issues {
    fn push(&mut self, code: &str, severity: Severity, citation: &str, zh: String, en: String) {
        self.issues.push(QcIssue {
            code: code.to_owned(),
            severity,
            message: match self.language {
                Language::ZhCn => zh,
                Language::En => en,
            },
            citation: citation.to_owned(),
        });
    }
}

/// Runs every QC rule on a report.
pub fn check(doc: &ReportDocument, ctx: &QcContext) -> QcResult {
    let mut out = Issues {
        language: doc.language,
        issues: Vec::new(),
    };
    completeness(doc, &mut out);
    sex(doc, ctx, &mut out);
    laterality(doc, &mut out);
    normal_impression(doc, &mut out);
    lung_rads(doc, &mut out);
    dr(doc, &mut out);
    critical(doc, ctx, &mut out);
    timeliness(doc, ctx, &mut out);
    QcResult {
        passed: !out.issues.iter().any(|i| i.severity == Severity::Error),
        issues: out.issues,
    }
}

fn blank(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(|v| v.trim().is_empty())
}

/// Header, technique, findings and impression (clinical-rules §4.1, §4.5.1).
fn completeness(doc: &ReportDocument, out: &mut Issues) {
    let h = &doc.header;
    let fields: [(bool, &str, &str); 6] = [
        (blank(&h.patient_name), "姓名", "patient name"),
        (blank(&h.patient_sex), "性别", "sex"),
        (blank(&h.patient_id), "病历号/患者ID", "patient ID"),
        (blank(&h.accession_number), "检查号", "exam number"),
        (
            blank(&h.study_description) && blank(&h.body_part),
            "检查项目/部位",
            "exam item or body part",
        ),
        (blank(&h.study_date), "检查日期", "exam date"),
    ];
    for (missing, zh, en) in fields {
        if missing {
            out.push(
                "completeness.header",
                Severity::Error,
                CITE_COMPLETENESS,
                format!("报告头缺少{zh}"),
                format!("the header lacks the {en}"),
            );
        }
    }
    let ct = h.modalities.iter().any(|m| m.eq_ignore_ascii_case("CT"));
    if ct && doc.technique.trim().is_empty() {
        out.push(
            "completeness.technique",
            Severity::Error,
            CITE_BODY,
            "CT报告缺少检查技术".into(),
            "a CT report needs its technique".into(),
        );
    }
    if doc.findings_text.trim().is_empty() {
        out.push(
            "completeness.findings",
            Severity::Error,
            CITE_BODY,
            "影像所见为空".into(),
            "the findings are empty".into(),
        );
    }
    if doc.impression.trim().is_empty() {
        out.push(
            "completeness.impression",
            Severity::Error,
            CITE_BODY,
            "诊断意见为空".into(),
            "the impression is empty".into(),
        );
    }
}

/// `M`, `F` or `O` from DICOM codes and common words; `None` when unknown.
fn normalise_sex(sex: &str) -> Option<char> {
    match sex.trim().to_lowercase().as_str() {
        "m" | "male" | "男" => Some('M'),
        "f" | "female" | "女" => Some('F'),
        "o" | "other" | "其他" => Some('O'),
        _ => None,
    }
}

/// Words naming organs of one sex only (clinical-rules §4.5.2).
const FEMALE_ORGANS: [&str; 6] = ["子宫", "卵巢", "输卵管", "uterus", "ovary", "ovaries"];
const MALE_ORGANS: [&str; 4] = ["前列腺", "睾丸", "prostate", "testis"];

/// Report sex = DICOM sex; no sex-discordant organs (clinical-rules §4.5.2).
fn sex(doc: &ReportDocument, ctx: &QcContext, out: &mut Issues) {
    let report_sex = doc.header.patient_sex.as_deref().and_then(normalise_sex);
    let dicom_sex = ctx.dicom_sex.as_deref().and_then(normalise_sex);
    if let (Some(r), Some(d)) = (report_sex, dicom_sex)
        && r != d
    {
        out.push(
            "consistency.sex",
            Severity::Error,
            CITE_CONSISTENCY,
            format!("报告性别（{r}）与DICOM性别（{d}）不一致"),
            format!("the report's sex ({r}) differs from the DICOM sex ({d})"),
        );
    }
    let text = format!("{}\n{}", doc.findings_text, doc.impression).to_lowercase();
    let discordant: &[&str] = match report_sex.or(dicom_sex) {
        Some('M') => &FEMALE_ORGANS,
        Some('F') => &MALE_ORGANS,
        _ => &[],
    };
    for organ in discordant.iter().filter(|o| text.contains(*o)) {
        out.push(
            "consistency.sex-organ",
            Severity::Error,
            CITE_CONSISTENCY,
            format!("报告提及与性别不符的器官：{organ}"),
            format!("the report names an organ of the other sex: {organ}"),
        );
    }
}

/// The sides a text names: 左/右, left/right (whole words), 双侧/bilateral as both.
fn sides(text: &str) -> (bool, bool) {
    let lower = text.to_lowercase();
    let word = |w: &str| {
        lower.match_indices(w).any(|(i, _)| {
            let before = lower[..i].chars().next_back();
            let after = lower[i + w.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphabetic())
                && !after.is_some_and(|c| c.is_ascii_alphabetic())
        })
    };
    let both = lower.contains("双") || word("bilateral") || word("both");
    let left = both || lower.contains('左') || word("left");
    let right = both || lower.contains('右') || word("right");
    (left, right)
}

fn laterality_sides(laterality: Option<Laterality>) -> (bool, bool) {
    match laterality {
        Some(Laterality::Left) => (true, false),
        Some(Laterality::Right) => (false, true),
        Some(Laterality::Both) => (true, true),
        None => (false, false),
    }
}

/// Laterality in the impression is supported by the findings; a finding's laterality agrees
/// with its own location and label, and the findings text does not name only the other side
/// (clinical-rules §4.5.2).
fn laterality(doc: &ReportDocument, out: &mut Issues) {
    let (imp_left, imp_right) = sides(&doc.impression);
    let (mut left, mut right) = sides(&doc.findings_text);
    for f in &doc.findings {
        let (l, r) = laterality_sides(f.laterality);
        left |= l;
        right |= r;
    }
    for (stated, supported, zh, en) in [
        (imp_left, left, "左", "left"),
        (imp_right, right, "右", "right"),
    ] {
        if stated && !supported {
            out.push(
                "consistency.laterality",
                Severity::Error,
                CITE_CONSISTENCY,
                format!("诊断意见提及“{zh}”侧，影像所见中没有"),
                format!("the impression names the {en} side, which the findings do not"),
            );
        }
    }
    for f in doc.findings.iter().filter(|f| is_reported(&f.decision)) {
        let Some(lat) = f.laterality else { continue };
        let words = format!("{} {}", f.location.as_deref().unwrap_or(""), f.label);
        let contradicts = |(l, r): (bool, bool)| match lat {
            Laterality::Left => r && !l,
            Laterality::Right => l && !r,
            Laterality::Both => false,
        };
        if contradicts(sides(&words)) {
            out.push(
                "consistency.finding-laterality",
                Severity::Error,
                CITE_CONSISTENCY,
                format!("所见 {} 的侧别与其描述不一致", f.id),
                format!("finding {} has a laterality its words contradict", f.id),
            );
        } else if contradicts(sides(&doc.findings_text)) {
            out.push(
                "consistency.finding-laterality",
                Severity::Error,
                CITE_CONSISTENCY,
                format!("所见 {} 的侧别在影像所见中没有，影像所见只写了另一侧", f.id),
                format!(
                    "finding {} is on a side the findings text does not name (it names only the other)",
                    f.id
                ),
            );
        }
    }
}

/// Phrases that make an impression "normal" (clinical-rules §4.5.2), unless qualified as
/// "the rest" (余未见异常, otherwise normal).
const NORMAL_PHRASES: [&str; 8] = [
    "未见异常",
    "未见明显异常",
    "未见明确异常",
    "no abnormality",
    "no abnormalities",
    "unremarkable",
    "normal",
    "正常",
];
const REST_QUALIFIERS: [&str; 5] = ["余", "其余", "otherwise ", "other", "else "];

fn states_normal(impression: &str) -> bool {
    let lower = impression.to_lowercase();
    NORMAL_PHRASES.iter().any(|p| {
        lower.match_indices(p).any(|(i, _)| {
            let before = &lower[..i];
            let prev = before.chars().next_back();
            // "abnormal" is not "normal"
            if prev.is_some_and(|c| c.is_ascii_alphabetic()) {
                return false;
            }
            !REST_QUALIFIERS.iter().any(|q| {
                before
                    .trim_end()
                    .trim_end_matches(['，', ','])
                    .trim_end()
                    .ends_with(q.trim_end())
            })
        })
    })
}

/// Whether a reported finding is abnormal: any nodule of category 2 or more (or without a
/// category), a gradable eye with DR, an ungradable eye, or any other finding.
fn abnormal(f: &Finding) -> bool {
    if let Some(n) = &f.nodule {
        return n
            .category
            .as_deref()
            .and_then(lung_rads_rank)
            .is_none_or(|r| r >= lung_rads_rank("2").unwrap_or(2));
    }
    if let Some(d) = &f.dr {
        return !d.gradable || d.grade.as_deref().and_then(icdr_rank).is_none_or(|r| r > 0);
    }
    true
}

/// No "normal" impression with abnormal findings (clinical-rules §4.5.2).
fn normal_impression(doc: &ReportDocument, out: &mut Issues) {
    let abnormal_count = doc
        .findings
        .iter()
        .filter(|f| is_reported(&f.decision) && abnormal(f))
        .count();
    if abnormal_count > 0 && states_normal(&doc.impression) {
        out.push(
            "consistency.normal-impression",
            Severity::Error,
            CITE_CONSISTENCY,
            format!("诊断意见为“未见异常”，但有{abnormal_count}个异常所见"),
            format!(
                "the impression says normal but {abnormal_count} abnormal finding(s) are reported"
            ),
        );
    }
}

/// The stated Lung-RADS category = the highest reported nodule category (clinical-rules
/// §1.1.1, §1.1.8, §4.5.2); an LDCT report must state one. A nodule whose category differs
/// from the one its measurements give is a warning: a juxtapleural nodule may rightly be 2
/// (§1.1.3) and suspicious features make 4X (§1.1.1), which measurements cannot show.
fn lung_rads(doc: &ReportDocument, out: &mut Issues) {
    for f in doc.findings.iter().filter(|f| is_reported(&f.decision)) {
        let Some(nodule) = &f.nodule else { continue };
        let Some(stated) = nodule
            .category
            .as_deref()
            .map(|c| c.trim().to_ascii_uppercase())
        else {
            continue;
        };
        let Some(measured) = measured_lung_rads(nodule) else {
            continue;
        };
        let upgraded_to_4x = stated == "4X" && lung_rads_rank(&measured) >= lung_rads_rank("3");
        if stated != measured && !upgraded_to_4x {
            out.push(
                "lung-rads.nodule-category",
                Severity::Warning,
                CITE_NODULE,
                format!("结节 {} 标为{stated}类，按测量值应为{measured}类（近胸膜结节或4X除外）", f.id),
                format!(
                    "nodule {} is category {stated}; its measurements give {measured} (unless juxtapleural or 4X)",
                    f.id
                ),
            );
        }
    }
    let stated = doc
        .lung_rads
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(stated) = stated else {
        if doc.template == Template::LdctLungRads {
            out.push(
                "lung-rads.missing",
                Severity::Error,
                CITE_LUNG_RADS,
                "LDCT报告缺少Lung-RADS分类".into(),
                "an LDCT report needs its Lung-RADS category".into(),
            );
        }
        return;
    };
    let expected = exam_lung_rads(&doc.findings);
    // the S modifier (clinical-rules §1.1.1) does not change the category
    let stated_code = stated.trim_end_matches(['S', 's']).to_ascii_uppercase();
    if stated_code != expected {
        out.push(
            "lung-rads.mismatch",
            Severity::Error,
            CITE_LUNG_RADS,
            format!("Lung-RADS分类为{stated}，按已接受结节应为{expected}"),
            format!("Lung-RADS is stated as {stated}; the reported nodules give {expected}"),
        );
    }
}

fn eye_name(eye: Laterality, language: Language) -> &'static str {
    match (eye, language) {
        (Laterality::Right, Language::ZhCn) => "右眼",
        (Laterality::Left, Language::ZhCn) => "左眼",
        (Laterality::Both, Language::ZhCn) => "双眼",
        (Laterality::Right, Language::En) => "right eye",
        (Laterality::Left, Language::En) => "left eye",
        (Laterality::Both, Language::En) => "both eyes",
    }
}

const REFERRAL_WORDS: [&str; 3] = ["转诊", "refer", "眼科"];
/// Phrases that mention referral only to deny it; they are removed before looking for one.
const NO_REFERRAL: [&str; 6] = [
    "无可转诊",
    "无需转诊",
    "不需转诊",
    "no referable",
    "not referable",
    "no referral",
];

/// Per-eye ICDR grades, referable ⇔ grade, referral stated, ungradable never "no DR"
/// (clinical-rules §2.1, §2.5).
fn dr(doc: &ReportDocument, out: &mut Issues) {
    if doc.template == Template::DrScreening && doc.dr.is_empty() {
        out.push(
            "dr.missing",
            Severity::Error,
            CITE_DR,
            "DR筛查报告缺少各眼分级".into(),
            "a DR screening report needs a grade per eye".into(),
        );
    }
    let lang = doc.language;
    for g in &doc.dr {
        let eye = eye_name(g.eye, lang);
        if !g.gradable {
            if g.grade.is_some() {
                out.push(
                    "dr.ungradable",
                    Severity::Error,
                    CITE_DR,
                    format!("{eye}不可分级，却报告了分级（应为“重新拍摄或转诊”）"),
                    format!("the {eye} is ungradable but has a grade (say: re-image or refer)"),
                );
            }
            continue;
        }
        match g.grade.as_deref() {
            Some(grade) if icdr_rank(grade).is_some() => {
                if icdr_referable(grade) && !g.referable {
                    out.push(
                        "dr.referable",
                        Severity::Error,
                        CITE_DR,
                        format!("{eye}为{grade}，应为可转诊"),
                        format!("the {eye} is {grade}, which is referable"),
                    );
                }
            }
            other => out.push(
                "dr.referable",
                Severity::Error,
                CITE_DR,
                format!("{eye}的ICDR分级无效：{}", other.unwrap_or("-")),
                format!(
                    "the {eye} has no valid ICDR grade: {}",
                    other.unwrap_or("-")
                ),
            ),
        }
    }
    let needs_referral = doc.dr.iter().any(|g| !g.gradable || g.referable);
    let mut text = format!("{}\n{}", doc.impression, doc.recommendation).to_lowercase();
    for phrase in NO_REFERRAL {
        text = text.replace(phrase, " ");
    }
    if needs_referral && !REFERRAL_WORDS.iter().any(|w| text.contains(w)) {
        out.push(
            "dr.referral",
            Severity::Error,
            CITE_DR,
            "有可转诊或不可分级的眼，但诊断意见和建议未提转诊".into(),
            "an eye is referable or ungradable but the impression and recommendation do not refer"
                .into(),
        );
    }
}

/// Critical-value terms (clinical-rules §4.2, typical imaging list, and the minimum for
/// CXR/LDCT at community sites). Negated mentions (未见气胸, no pneumothorax) do not count.
const CRITICAL_TERMS: [&str; 22] = [
    "气胸",
    "主动脉夹层",
    "肺栓塞",
    "游离气体",
    "膈下游离气体",
    "颅内出血",
    "脑疝",
    "大量胸腔积液",
    "心包填塞",
    "肠梗阻",
    "气道异物",
    "异位妊娠破裂",
    "pneumothorax",
    "aortic dissection",
    "pulmonary embolism",
    "free air",
    "pneumoperitoneum",
    "intracranial haemorrhage",
    "intracranial hemorrhage",
    "cardiac tamponade",
    "bowel obstruction",
    "massive pleural effusion",
];
const NEGATIONS: [&str; 6] = ["未见", "无", "排除", "no ", "without ", "negative for "];

/// The critical terms an impression states (not negated within its clause).
pub fn critical_terms(impression: &str) -> Vec<&'static str> {
    let lower = impression.to_lowercase();
    CRITICAL_TERMS
        .iter()
        .copied()
        .filter(|term| {
            lower.match_indices(term).any(|(i, _)| {
                let clause_start = lower[..i]
                    .rfind(['，', ',', '。', '.', '；', ';', '\n'])
                    .map_or(0, |p| {
                        p + lower[p..].chars().next().map_or(1, char::len_utf8)
                    });
                let clause = &lower[clause_start..i];
                !NEGATIONS.iter().any(|n| clause.contains(n))
            })
        })
        .collect()
}

/// A critical finding needs a notification with read-back (clinical-rules §4.2 item 5, §4.5.4).
fn critical(doc: &ReportDocument, ctx: &QcContext, out: &mut Issues) {
    let terms = critical_terms(&doc.impression);
    if !doc.critical && terms.is_empty() {
        return;
    }
    if ctx.notifications.iter().any(|n| n.read_back) {
        return;
    }
    let what = if terms.is_empty() {
        match doc.language {
            Language::ZhCn => "危急值".to_owned(),
            Language::En => "critical finding".to_owned(),
        }
    } else {
        terms.join(", ")
    };
    let has_any = !ctx.notifications.is_empty();
    out.push(
        "critical.notification",
        Severity::Error,
        CITE_CRITICAL,
        if has_any {
            format!("危急值（{what}）的通报未经复读确认")
        } else {
            format!("危急值（{what}）未通报")
        },
        if has_any {
            format!("the critical finding ({what}) was notified without read-back")
        } else {
            format!("the critical finding ({what}) has no notification")
        },
    );
}

/// Exam completion → report within the class's limit (clinical-rules §4.3).
fn timeliness(doc: &ReportDocument, ctx: &QcContext, out: &mut Issues) {
    let (Some(completed), Some(reported)) = (&ctx.exam_completed_at, &ctx.report_time) else {
        return;
    };
    let class = ExamClass::of(&doc.header.modalities, ctx.urgent);
    let limit = ctx.limits.minutes(class);
    match (
        turnaround_minutes(completed, reported),
        within_limit(completed, reported, limit),
    ) {
        (Ok(minutes), Ok(_)) if minutes < 0.0 => out.push(
            "timeliness.time",
            Severity::Warning,
            CITE_TIMELINESS,
            "报告时间早于检查完成时间".into(),
            "the report time is before the exam's completion".into(),
        ),
        (Ok(minutes), Ok(false)) => out.push(
            "timeliness.turnaround",
            Severity::Warning,
            CITE_TIMELINESS,
            format!("报告用时{minutes:.0}分钟，超过时限{limit}分钟"),
            format!("reported {minutes:.0} min after the exam, over the {limit} min limit"),
        ),
        (Ok(_), Ok(true)) => {}
        _ => out.push(
            "timeliness.time",
            Severity::Warning,
            CITE_TIMELINESS,
            "检查完成时间或报告时间格式无效（应为RFC 3339）".into(),
            "the exam completion or report time is not RFC 3339".into(),
        ),
    }
}

#[cfg(test)]
mod tests;
