//! Structured templates: a draft [`ReportDocument`] pre-filled from the reviewed findings.
//!
//! | template | technique | findings | impression and recommendation |
//! |---|---|---|---|
//! | [`Template::LdctLungRads`] | low-dose chest CT, the series | one sentence per nodule: location, attenuation, long × short axis, mean diameter, volume, status, category | the exam's Lung-RADS v2022 category (the highest nodule category, clinical-rules §1.1.1 "exam-level category") and its management (§1.1.2) |
//! | [`Template::DrScreening`] | colour fundus photography | ICDR grade per eye, or "ungradable: re-image or refer" (§2.1, §2.5) | referable DR per patient (moderate NPDR or worse, §2.5) |
//! | [`Template::General`] | modalities and exam item | one sentence per finding | left to the physician |
//!
//! Only accepted, edited and physician-added findings enter a draft ([`is_reported`]); pending
//! and rejected AI findings never do. Sentences are in Chinese (zh-CN, the default) or English.

use std::sync::LazyLock;

use mira_clinical::{Attenuation, ExamContext, History, Mm, Nodule, NoduleSize, Profile};

use crate::{
    Decision, DrGrade, Finding, Language, Laterality, NoduleMeasures, ReportDocument, ReportHeader,
    Template,
};

/// Whether a finding enters a report: accepted, edited or added by the physician. Pending and
/// rejected findings never do.
pub fn is_reported(decision: &Decision) -> bool {
    matches!(
        decision,
        Decision::Accepted | Decision::Edited | Decision::Added
    )
}

/// The template for a study: LDCT Lung-RADS for a CT with lung-nodule findings, DR screening
/// for fundus photographs (modality `OP`, or `dr-grade`/`fundus-lesion` findings), General
/// otherwise.
pub fn template_for(modalities: &[String], findings: &[Finding]) -> Template {
    let has = |m: &str| modalities.iter().any(|x| x.eq_ignore_ascii_case(m));
    let kind = |k: &str| findings.iter().any(|f| f.kind == k);
    if has("CT") && kind("lung-nodule") {
        Template::LdctLungRads
    } else if has("OP") || kind("dr-grade") || kind("fundus-lesion") {
        Template::DrScreening
    } else {
        Template::General
    }
}

/// A draft report for `template` in `language` from the header and the reviewed findings.
/// The physician edits it before signing; nothing here is final.
pub fn prefill(
    template: Template,
    language: Language,
    header: &ReportHeader,
    findings: &[Finding],
) -> ReportDocument {
    let reported: Vec<Finding> = findings
        .iter()
        .filter(|f| is_reported(&f.decision))
        .cloned()
        .collect();
    let mut doc = ReportDocument {
        template,
        language,
        header: header.clone(),
        technique: String::new(),
        findings_text: String::new(),
        impression: String::new(),
        recommendation: String::new(),
        lung_rads: None,
        dr: Vec::new(),
        critical: false,
        findings: reported,
    };
    match template {
        Template::LdctLungRads => fill_ldct(&mut doc),
        Template::DrScreening => fill_dr(&mut doc),
        Template::General => fill_general(&mut doc),
    }
    doc
}

// ---------------------------------------------------------------------------------------
// Lung-RADS

/// ACR Lung-RADS v2022 as compiled into `mira-clinical` (clinical-rules §1.1): the category
/// order and the English management.
static LUNG_RADS: LazyLock<Option<Profile>> = LazyLock::new(|| Profile::lung_rads_2022().ok());

/// Lung-RADS v2022 categories in increasing order of suspicion (clinical-rules §1.1.8:
/// 0 < 1 < 2 < 3 < 4A < 4B < 4X), used when the compiled profile is unavailable.
const LUNG_RADS_ORDER: [&str; 7] = ["0", "1", "2", "3", "4A", "4B", "4X"];

/// The rank of a Lung-RADS category (`4a` and `4A` alike); `None` for anything else.
pub fn lung_rads_rank(category: &str) -> Option<usize> {
    let code = category.trim().to_ascii_uppercase();
    match LUNG_RADS.as_ref() {
        Some(profile) => profile.rank(&code),
        None => LUNG_RADS_ORDER.iter().position(|c| *c == code),
    }
}

/// A nodule's Lung-RADS v2022 category recomputed from its measurements by `mira-clinical`
/// (clinical-rules §1.1.2 and §1.1.8: mean diameter rounded half up to 0.1 mm, thresholds by
/// attenuation and timepoint). Only where the measurements decide it: a baseline or new,
/// uncalcified solid, part-solid or ground-glass nodule taken as parenchymal (a juxtapleural
/// nodule may be 2 and suspicious features make 4X, which the measurements cannot show).
/// `None` otherwise (stable or growing nodules need their priors).
pub fn measured_lung_rads(nodule: &NoduleMeasures) -> Option<String> {
    if nodule.calcified {
        return None;
    }
    let history = match nodule.status.as_deref() {
        None | Some("baseline") => History::Baseline,
        Some("new") => History::New,
        Some(_) => return None,
    };
    let mm = |v: f64| Mm::parse(&format!("{v:.2}")).ok();
    let size = NoduleSize::new(mm(nodule.long_axis_mm)?, mm(nodule.short_axis_mm)?).ok()?;
    let attenuation = match nodule.attenuation.as_str() {
        "solid" => Attenuation::Solid,
        "part-solid" => Attenuation::PartSolid {
            solid_component: nodule.solid_component_mm.and_then(mm),
        },
        "ground-glass" => Attenuation::GroundGlass,
        _ => return None,
    };
    let mut n = Nodule::baseline(size, attenuation);
    n.history = history;
    LUNG_RADS
        .as_ref()?
        .assess_nodule(&n, &ExamContext::default(), false)
        .ok()
        .map(|a| a.category)
}

/// The category a reported nodule counts with: the one it carries (the analyzer's or the
/// physician's), else the one its measurements give ([`measured_lung_rads`]).
pub fn nodule_lung_rads(finding: &Finding) -> Option<String> {
    let nodule = finding.nodule.as_ref()?;
    nodule
        .category
        .as_deref()
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| lung_rads_rank(c).is_some())
        .or_else(|| measured_lung_rads(nodule))
}

/// The exam's Lung-RADS category from its reported nodules: the most suspicious nodule's
/// category (clinical-rules §1.1.1, "code each exam according to the most suspicious
/// finding"; §1.1.8), each nodule counting with [`nodule_lung_rads`]; `1` (negative) without
/// nodules.
pub fn exam_lung_rads(findings: &[Finding]) -> String {
    findings
        .iter()
        .filter(|f| is_reported(&f.decision))
        .filter_map(nodule_lung_rads)
        .filter_map(|c| Some((lung_rads_rank(&c)?, c)))
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, code)| code)
        .unwrap_or_else(|| "1".to_owned())
}

/// The management of a Lung-RADS category (clinical-rules §1.1.2, management column).
fn lung_rads_management(category: &str, language: Language) -> String {
    match language {
        Language::En => LUNG_RADS
            .as_ref()
            .and_then(|p| p.category(category))
            .map(|c| c.management.clone())
            .unwrap_or_default(),
        Language::ZhCn => match category {
            "0" => "需补充LDCT图像和/或与既往胸部CT对比；考虑感染或炎症时1–3个月后复查LDCT。",
            "1" | "2" => "12个月后继续年度LDCT筛查。",
            "3" => "6个月后复查LDCT。",
            "4A" => "3个月后复查LDCT；实性结节或实性成分≥8 mm时可考虑PET/CT。",
            "4B" | "4X" => {
                "胸部诊断性CT（平扫或增强）；实性结节或实性成分≥8 mm时可考虑PET/CT；组织取样和/或转诊进一步临床评估。"
            }
            _ => "",
        }
        .to_owned(),
    }
}

/// The descriptor of a Lung-RADS category (clinical-rules §1.1.2).
fn lung_rads_descriptor(category: &str, language: Language) -> &'static str {
    let (zh, en) = match category {
        "0" => ("未完成", "incomplete"),
        "1" => ("阴性", "negative"),
        "2" => ("良性表现或良性行为", "benign appearance or behavior"),
        "3" => ("可能良性", "probably benign"),
        "4A" => ("可疑", "suspicious"),
        "4B" | "4X" => ("高度可疑", "very suspicious"),
        _ => ("", ""),
    };
    pick(language, zh, en)
}

fn pick(language: Language, zh: &'static str, en: &'static str) -> &'static str {
    match language {
        Language::ZhCn => zh,
        Language::En => en,
    }
}

fn attenuation_words(attenuation: &str, language: Language) -> &'static str {
    match attenuation {
        "part-solid" => pick(language, "部分实性", "part-solid"),
        "ground-glass" => pick(language, "磨玻璃", "ground-glass"),
        _ => pick(language, "实性", "solid"),
    }
}

fn status_words(status: &str, language: Language) -> String {
    match status {
        "baseline" => pick(language, "基线", "baseline"),
        "new" => pick(language, "新发", "new"),
        "growing" => pick(language, "增大", "growing"),
        "stable" => pick(language, "稳定", "stable"),
        other => return other.to_owned(),
    }
    .to_owned()
}

fn side_words(laterality: Option<Laterality>, language: Language) -> &'static str {
    match laterality {
        Some(Laterality::Left) => pick(language, "左", "left"),
        Some(Laterality::Right) => pick(language, "右", "right"),
        Some(Laterality::Both) => pick(language, "双侧", "bilateral"),
        None => "",
    }
}

/// A length to one decimal place, as Lung-RADS reports it (clinical-rules §1.1.1).
fn mm(value: f64) -> String {
    format!("{value:.1}")
}

/// The technique sentence of a study from its header: exam item and series.
fn technique_from_header(header: &ReportHeader, language: Language, lead: &str) -> String {
    let mut parts = vec![lead.to_owned()];
    if let Some(item) = header
        .study_description
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        parts.push(match language {
            Language::ZhCn => format!("检查项目：{item}"),
            Language::En => format!("exam: {item}"),
        });
    }
    let series: Vec<String> = header
        .series
        .iter()
        .map(|s| {
            let modality = s.modality.as_deref().unwrap_or("");
            let description = s.description.as_deref().unwrap_or("");
            let number = s.series_number.map(|n| n.to_string()).unwrap_or_default();
            let n = s.instances.len();
            match language {
                Language::ZhCn => format!("序列{number} {modality} {description}（{n}幅）")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
                Language::En => format!("series {number} {modality} {description} ({n} images)")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            }
        })
        .collect();
    if !series.is_empty() {
        parts.push(match language {
            Language::ZhCn => format!("序列：{}", series.join("；")),
            Language::En => format!("series: {}", series.join("; ")),
        });
    }
    if let Some(date) = header.study_date.as_deref().and_then(format_da) {
        parts.push(match language {
            Language::ZhCn => format!("检查日期：{date}"),
            Language::En => format!("exam date {date}"),
        });
    }
    match language {
        Language::ZhCn => format!("{}。", parts.join("，")),
        Language::En => format!("{}.", parts.join("; ")),
    }
}

/// A DICOM DA (`YYYYMMDD`) as `YYYY-MM-DD`; `None` if it is not one.
pub(crate) fn format_da(da: &str) -> Option<String> {
    let da = da.trim();
    (da.len() == 8 && da.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{}-{}-{}", &da[0..4], &da[4..6], &da[6..8]))
}

/// One nodule's sentence: location, attenuation, axes, mean diameter, volume, status and
/// category (clinical-rules §1.1.1: axes and mean to 0.1 mm, volume to whole mm³).
fn nodule_sentence(n: usize, finding: &Finding, language: Language) -> String {
    let Some(nodule) = &finding.nodule else {
        return other_sentence(finding, language);
    };
    let location = finding.location.clone().unwrap_or_else(|| {
        let side = side_words(finding.laterality, language);
        match language {
            Language::ZhCn => format!("{side}肺"),
            Language::En => format!("{side} lung").trim_start().to_owned(),
        }
    });
    let attenuation = attenuation_words(&nodule.attenuation, language);
    let volume = nodule.volume_mm3.map(|v| format!("{v:.0}"));
    let status = nodule.status.as_deref().map(|s| status_words(s, language));
    let category = nodule.category.as_deref();
    match language {
        Language::ZhCn => {
            let mut s = format!(
                "结节{n}：{location}，{attenuation}结节，大小{}×{} mm，平均直径{} mm",
                mm(nodule.long_axis_mm),
                mm(nodule.short_axis_mm),
                mm(nodule.mean_diameter_mm)
            );
            if let Some(solid) = nodule.solid_component_mm {
                s += &format!("，实性成分{} mm", mm(solid));
            }
            if let Some(v) = volume {
                s += &format!("，体积{v} mm³");
            }
            if nodule.calcified {
                s += "，钙化";
            }
            if let Some(status) = status {
                s += &format!("，{status}");
            }
            if let Some(c) = category {
                s += &format!("，Lung-RADS {c}类");
            }
            s + "。"
        }
        Language::En => {
            let mut s = format!(
                "Nodule {n}: {location}, {attenuation} nodule, {} × {} mm, mean diameter {} mm",
                mm(nodule.long_axis_mm),
                mm(nodule.short_axis_mm),
                mm(nodule.mean_diameter_mm)
            );
            if let Some(solid) = nodule.solid_component_mm {
                s += &format!(", solid component {} mm", mm(solid));
            }
            if let Some(v) = volume {
                s += &format!(", volume {v} mm³");
            }
            if nodule.calcified {
                s += ", calcified";
            }
            if let Some(status) = status {
                s += &format!(", {status}");
            }
            if let Some(c) = category {
                s += &format!(", Lung-RADS {c}");
            }
            s + "."
        }
    }
}

/// A finding other than a nodule or a DR grade: its location and label.
fn other_sentence(finding: &Finding, language: Language) -> String {
    let location = finding
        .location
        .clone()
        .unwrap_or_else(|| side_words(finding.laterality, language).to_owned());
    let label = finding.label.trim().trim_end_matches(['.', '。']);
    match (language, location.is_empty()) {
        (_, true) => format!("{label}{}", pick(language, "。", ".")),
        (Language::ZhCn, false) => format!("{location}：{label}。"),
        (Language::En, false) => format!("{location}: {label}."),
    }
}

fn fill_ldct(doc: &mut ReportDocument) {
    let lang = doc.language;
    doc.technique = technique_from_header(
        &doc.header,
        lang,
        pick(
            lang,
            "胸部低剂量CT平扫（LDCT）",
            "Low-dose chest CT (LDCT) without contrast",
        ),
    );
    let mut sentences = Vec::new();
    let mut n = 0;
    for f in &doc.findings {
        if f.kind == "lung-nodule" && f.nodule.is_some() {
            n += 1;
            sentences.push(nodule_sentence(n, f, lang));
        } else {
            sentences.push(other_sentence(f, lang));
        }
    }
    if n == 0 {
        sentences.insert(
            0,
            pick(lang, "双肺未见结节。", "No lung nodules.").to_owned(),
        );
    }
    doc.findings_text = sentences.join("\n");
    let category = exam_lung_rads(&doc.findings);
    let descriptor = lung_rads_descriptor(&category, lang);
    doc.impression = match lang {
        Language::ZhCn if n == 0 => {
            format!("双肺未见结节，Lung-RADS {category}类（{descriptor}）。")
        }
        Language::ZhCn => format!("肺结节{n}枚，Lung-RADS {category}类（{descriptor}）。"),
        Language::En if n == 0 => format!("No lung nodules; Lung-RADS {category} ({descriptor})."),
        Language::En => format!(
            "{n} lung nodule{}; Lung-RADS {category} ({descriptor}).",
            if n == 1 { "" } else { "s" }
        ),
    };
    doc.recommendation = lung_rads_management(&category, lang);
    doc.lung_rads = Some(category);
}

// ---------------------------------------------------------------------------------------
// DR screening

/// ICDR levels in increasing severity (clinical-rules §2.1).
const ICDR: [&str; 5] = ["none", "mild", "moderate", "severe", "proliferative"];

/// The rank of an ICDR grade (`none` 0 … `proliferative` 4); `None` for anything else.
pub fn icdr_rank(grade: &str) -> Option<usize> {
    ICDR.iter()
        .position(|g| g.eq_ignore_ascii_case(grade.trim()))
}

/// Whether an ICDR grade is referable DR: moderate NPDR or worse (clinical-rules §2.5, rDR).
/// DME, which also makes an eye referable, is not graded here.
pub fn icdr_referable(grade: &str) -> bool {
    icdr_rank(grade).is_some_and(|r| r >= 2)
}

fn icdr_words(grade: &str, language: Language) -> String {
    match grade {
        "none" => pick(
            language,
            "无明显糖尿病视网膜病变",
            "no apparent retinopathy",
        ),
        "mild" => pick(language, "轻度非增殖期糖尿病视网膜病变", "mild NPDR"),
        "moderate" => pick(language, "中度非增殖期糖尿病视网膜病变", "moderate NPDR"),
        "severe" => pick(language, "重度非增殖期糖尿病视网膜病变", "severe NPDR"),
        "proliferative" => pick(language, "增殖期糖尿病视网膜病变", "proliferative DR"),
        other => return other.to_owned(),
    }
    .to_owned()
}

fn eye_words(eye: Laterality, language: Language) -> &'static str {
    match eye {
        Laterality::Right => pick(language, "右眼", "Right eye"),
        Laterality::Left => pick(language, "左眼", "Left eye"),
        Laterality::Both => pick(language, "双眼", "Both eyes"),
    }
}

fn dr_sentence(grade: &DrGrade, language: Language) -> String {
    let eye = eye_words(grade.eye, language);
    match (grade.gradable, grade.grade.as_deref()) {
        (true, Some(g)) => match language {
            Language::ZhCn => format!("{eye}：{}（ICDR）。", icdr_words(g, language)),
            Language::En => format!("{eye}: {} (ICDR).", icdr_words(g, language)),
        },
        _ => match language {
            Language::ZhCn => format!("{eye}：图像不可分级，建议重新拍摄或转诊。"),
            Language::En => format!("{eye}: ungradable; re-image or refer."),
        },
    }
}

fn fill_dr(doc: &mut ReportDocument) {
    let lang = doc.language;
    doc.technique = technique_from_header(
        &doc.header,
        lang,
        pick(lang, "彩色眼底照相", "Colour fundus photography"),
    );
    let mut grades: Vec<DrGrade> = doc.findings.iter().filter_map(|f| f.dr.clone()).collect();
    grades.sort_by_key(|g| match g.eye {
        Laterality::Right => 0,
        Laterality::Left => 1,
        Laterality::Both => 2,
    });
    let mut sentences: Vec<String> = grades.iter().map(|g| dr_sentence(g, lang)).collect();
    sentences.extend(
        doc.findings
            .iter()
            .filter(|f| f.dr.is_none())
            .map(|f| other_sentence(f, lang)),
    );
    doc.findings_text = sentences.join("\n");
    let referable = grades.iter().any(|g| g.gradable && g.referable);
    let ungradable = grades.iter().any(|g| !g.gradable);
    (doc.impression, doc.recommendation) = match (referable, ungradable, lang) {
        (true, _, Language::ZhCn) => (
            "可转诊糖尿病视网膜病变（中度非增殖期或更重）。".to_owned(),
            "建议转诊眼科。".to_owned(),
        ),
        (true, _, Language::En) => (
            "Referable diabetic retinopathy (moderate NPDR or worse).".to_owned(),
            "Refer to ophthalmology.".to_owned(),
        ),
        (false, true, Language::ZhCn) => (
            "图像不可分级，无法排除糖尿病视网膜病变。".to_owned(),
            "建议重新拍摄或转诊眼科。".to_owned(),
        ),
        (false, true, Language::En) => (
            "Ungradable images; diabetic retinopathy cannot be excluded.".to_owned(),
            "Re-image or refer to ophthalmology.".to_owned(),
        ),
        (false, false, Language::ZhCn) => (
            "无可转诊糖尿病视网膜病变。".to_owned(),
            "12个月后复查眼底照相。".to_owned(),
        ),
        (false, false, Language::En) => (
            "No referable diabetic retinopathy.".to_owned(),
            "Rescreen in 12 months.".to_owned(),
        ),
    };
    doc.dr = grades;
}

// ---------------------------------------------------------------------------------------
// General

fn fill_general(doc: &mut ReportDocument) {
    let lang = doc.language;
    let lead = if doc.header.modalities.is_empty() {
        pick(lang, "影像检查", "Imaging").to_owned()
    } else {
        doc.header.modalities.join("/")
    };
    doc.technique = technique_from_header(&doc.header, lang, &lead);
    doc.findings_text = doc
        .findings
        .iter()
        .map(|f| other_sentence(f, lang))
        .collect::<Vec<_>>()
        .join("\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn pending_and_rejected_findings_never_enter_a_report() {
        let findings = vec![
            nodule(
                "a",
                Decision::Accepted,
                Laterality::Right,
                "右肺上叶",
                7.4,
                5.9,
                "3",
            ),
            nodule(
                "b",
                Decision::Pending,
                Laterality::Left,
                "左肺下叶",
                16.0,
                14.0,
                "4B",
            ),
            nodule(
                "c",
                Decision::Rejected {
                    reason: "vessel".into(),
                },
                Laterality::Left,
                "左肺上叶",
                9.0,
                8.0,
                "4A",
            ),
            nodule(
                "d",
                Decision::Added,
                Laterality::Right,
                "右肺下叶",
                4.0,
                3.0,
                "2",
            ),
            nodule(
                "e",
                Decision::Edited,
                Laterality::Right,
                "右肺中叶",
                5.0,
                4.0,
                "2",
            ),
        ];
        for language in [Language::ZhCn, Language::En] {
            let doc = prefill(Template::LdctLungRads, language, &ct_header(), &findings);
            let ids: Vec<&str> = doc.findings.iter().map(|f| f.id.as_str()).collect();
            assert_eq!(ids, ["a", "d", "e"]);
            // the pending 4B and rejected 4A nodules neither appear nor raise the category
            assert_eq!(doc.lung_rads.as_deref(), Some("3"));
            assert!(!doc.findings_text.contains("左"), "{}", doc.findings_text);
            assert!(!doc.findings_text.contains("16.0"));
            assert!(!doc.findings_text.contains("9.0"));
            assert_eq!(doc.findings_text.lines().count(), 3);
        }
    }

    #[test]
    fn ldct_sentences_carry_measurements_status_and_category() {
        let findings = vec![nodule(
            "a",
            Decision::Accepted,
            Laterality::Right,
            "右肺上叶",
            8.1,
            7.9,
            "4A",
        )];
        let doc = prefill(
            Template::LdctLungRads,
            Language::ZhCn,
            &ct_header(),
            &findings,
        );
        assert_eq!(
            doc.findings_text,
            "结节1：右肺上叶，实性结节，大小8.1×7.9 mm，平均直径8.0 mm，体积268 mm³，基线，Lung-RADS 4A类。"
        );
        assert_eq!(doc.impression, "肺结节1枚，Lung-RADS 4A类（可疑）。");
        assert!(doc.recommendation.starts_with("3个月后复查LDCT"));
        assert!(doc.technique.starts_with("胸部低剂量CT平扫（LDCT）"));
        assert!(doc.technique.contains("检查日期：2026-11-20"));
        let en = prefill(
            Template::LdctLungRads,
            Language::En,
            &ct_header(),
            &findings,
        );
        assert_eq!(
            en.findings_text,
            "Nodule 1: 右肺上叶, solid nodule, 8.1 × 7.9 mm, mean diameter 8.0 mm, volume 268 mm³, baseline, Lung-RADS 4A."
        );
        assert_eq!(en.impression, "1 lung nodule; Lung-RADS 4A (suspicious).");
        assert!(
            en.recommendation.starts_with("3-month LDCT"),
            "{}",
            en.recommendation
        );
    }

    #[test]
    fn a_nodule_without_a_location_is_placed_by_its_laterality() {
        let cases = [
            (Language::ZhCn, Some(Laterality::Left), "结节1：左肺，"),
            (Language::ZhCn, None, "结节1：肺，"),
            (
                Language::En,
                Some(Laterality::Right),
                "Nodule 1: right lung, ",
            ),
            (Language::En, None, "Nodule 1: lung, "),
        ];
        for (language, laterality, expected) in cases {
            let mut f = nodule("a", Decision::Accepted, Laterality::Left, "", 5.0, 5.0, "2");
            (f.location, f.laterality) = (None, laterality);
            let doc = prefill(Template::LdctLungRads, language, &ct_header(), &[f]);
            assert!(
                doc.findings_text.starts_with(expected),
                "{}",
                doc.findings_text
            );
        }
    }

    #[test]
    fn exam_category_is_the_most_suspicious_nodule() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "1"),
            (&["2"], "2"),
            (&["2", "3"], "3"),
            (&["4A", "3", "2"], "4A"),
            (&["4a", "4B"], "4B"),
            (&["4B", "4X"], "4X"),
            (&["0", "2"], "2"),
        ];
        for (categories, expected) in cases {
            let findings: Vec<Finding> = categories
                .iter()
                .map(|c| {
                    nodule(
                        "n",
                        Decision::Accepted,
                        Laterality::Left,
                        "左肺",
                        5.0,
                        5.0,
                        c,
                    )
                })
                .collect();
            assert_eq!(exam_lung_rads(&findings), *expected, "{categories:?}");
        }
    }

    #[test]
    fn categories_recomputed_from_measurements_follow_the_test_vectors() {
        // clinical-rules §1.1.9 (test vectors), where the measurements decide
        // (attenuation, status, long, short, solid component, expected)
        type Case = (
            &'static str,
            &'static str,
            f64,
            f64,
            Option<f64>,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            ("solid", "baseline", 6.0, 5.8, None, Some("2")),
            ("solid", "baseline", 7.4, 5.9, None, Some("3")),
            ("solid", "baseline", 8.1, 7.9, None, Some("4A")),
            ("solid", "baseline", 16.0, 14.0, None, Some("4B")),
            // 3.95 rounds half up to 4.0: 3, not 2
            ("solid", "new", 4.1, 3.8, None, Some("3")),
            ("solid", "new", 8.0, 8.0, None, Some("4B")),
            ("part-solid", "baseline", 7.0, 7.0, Some(5.0), Some("3")),
            ("part-solid", "baseline", 10.0, 10.0, Some(7.0), Some("4A")),
            ("part-solid", "new", 9.0, 9.0, Some(4.0), Some("4B")),
            ("ground-glass", "baseline", 25.0, 20.0, None, Some("2")),
            ("ground-glass", "new", 32.0, 30.0, None, Some("3")),
            // not decided by the measurements alone
            ("solid", "stable", 8.1, 7.9, None, None),
            ("solid", "growing", 8.1, 7.9, None, None),
            ("cavitary", "baseline", 8.1, 7.9, None, None),
        ];
        for (attenuation, status, long, short, solid, expected) in cases {
            let measures = NoduleMeasures {
                long_axis_mm: *long,
                short_axis_mm: *short,
                attenuation: attenuation.to_string(),
                solid_component_mm: *solid,
                status: Some(status.to_string()),
                ..NoduleMeasures::default()
            };
            assert_eq!(
                measured_lung_rads(&measures).as_deref(),
                *expected,
                "{attenuation} {status} {long}×{short}"
            );
        }
        let calcified = NoduleMeasures {
            long_axis_mm: 8.0,
            short_axis_mm: 8.0,
            attenuation: "solid".into(),
            calcified: true,
            ..NoduleMeasures::default()
        };
        assert_eq!(measured_lung_rads(&calcified), None);
    }

    #[test]
    fn a_nodule_without_a_category_counts_with_its_measured_one() {
        let mut f = nodule(
            "a",
            Decision::Added,
            Laterality::Left,
            "左肺",
            16.0,
            14.0,
            "",
        );
        f.nodule.as_mut().unwrap().category = None;
        let small = nodule(
            "b",
            Decision::Accepted,
            Laterality::Left,
            "左肺",
            5.0,
            5.0,
            "2",
        );
        assert_eq!(exam_lung_rads(&[small.clone(), f]), "4B");
        assert_eq!(exam_lung_rads(&[small]), "2");
    }

    #[test]
    fn dr_template_grades_each_eye_and_refers_per_patient() {
        let cases = [
            // (right, left, referable impression, ungradable words)
            (Some("none"), Some("mild"), false, false),
            (Some("moderate"), Some("none"), true, false),
            (None, Some("none"), false, true),
            (None, Some("severe"), true, true),
        ];
        for (right, left, referable, ungradable) in cases {
            let findings = vec![
                dr_finding(Laterality::Right, right, Decision::Accepted),
                dr_finding(Laterality::Left, left, Decision::Accepted),
            ];
            let doc = prefill(
                Template::DrScreening,
                Language::ZhCn,
                &op_header(),
                &findings,
            );
            assert_eq!(doc.dr.len(), 2);
            assert_eq!(doc.dr[0].eye, Laterality::Right);
            assert_eq!(
                doc.impression.starts_with("可转诊"),
                referable,
                "{}",
                doc.impression
            );
            assert_eq!(
                doc.findings_text.contains("不可分级，建议重新拍摄或转诊"),
                ungradable
            );
            let en = prefill(Template::DrScreening, Language::En, &op_header(), &findings);
            assert_eq!(en.impression.starts_with("Referable"), referable);
            assert_eq!(
                en.findings_text.contains("ungradable; re-image or refer"),
                ungradable
            );
        }
        // a pending grade does not enter the report
        let findings = vec![dr_finding(
            Laterality::Right,
            Some("severe"),
            Decision::Pending,
        )];
        let doc = prefill(Template::DrScreening, Language::En, &op_header(), &findings);
        assert!(doc.dr.is_empty());
        assert!(!doc.impression.starts_with("Referable"));
    }

    #[test]
    fn template_follows_modality_and_findings() {
        let nodule = nodule(
            "a",
            Decision::Pending,
            Laterality::Left,
            "左肺",
            5.0,
            5.0,
            "2",
        );
        let grade = dr_finding(Laterality::Left, Some("none"), Decision::Pending);
        let cases: Vec<(Vec<&str>, Vec<Finding>, Template)> = vec![
            (vec!["CT"], vec![nodule.clone()], Template::LdctLungRads),
            (vec!["CT"], vec![], Template::General),
            (vec!["OP"], vec![], Template::DrScreening),
            (vec!["XC"], vec![grade], Template::DrScreening),
            (vec!["MR"], vec![nodule], Template::General),
            (vec!["DX"], vec![], Template::General),
        ];
        for (modalities, findings, expected) in cases {
            let modalities: Vec<String> = modalities.into_iter().map(String::from).collect();
            assert_eq!(
                template_for(&modalities, &findings),
                expected,
                "{modalities:?}"
            );
        }
    }

    #[test]
    fn general_template_lists_findings_and_leaves_the_impression() {
        let mut f = nodule(
            "a",
            Decision::Added,
            Laterality::Right,
            "右肺下叶",
            5.0,
            5.0,
            "2",
        );
        f.kind = "other".into();
        f.nodule = None;
        f.label = "少量胸腔积液".into();
        let doc = prefill(Template::General, Language::ZhCn, &ct_header(), &[f]);
        assert_eq!(doc.findings_text, "右肺下叶：少量胸腔积液。");
        assert!(doc.impression.is_empty());
        assert!(
            doc.technique.starts_with("CT，检查项目：低剂量胸部CT"),
            "{}",
            doc.technique
        );
    }
}
