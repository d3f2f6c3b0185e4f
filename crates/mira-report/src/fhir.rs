//! FHIR R4 export: a `collection` Bundle of a DiagnosticReport, its ImagingStudy and the
//! Patient.
//!
//! | resource | what it carries |
//! |---|---|
//! | `DiagnosticReport` | status `final` (`amended` for a later version or one with addenda); category RAD; code LOINC 24627-2 "Chest CT" for LDCT, 18748-4 "Diagnostic imaging study" otherwise; subject; effectiveDateTime (study date); issued (signature time); performer and resultsInterpreter (the signing physician); imagingStudy; conclusion (impression and recommendation); conclusionCode (the Lung-RADS category); presentedForm (the whole report as base64 `text/plain`) |
//! | `ImagingStudy` | status `available`; identifier `urn:dicom:uid` with the Study Instance UID; subject; started; numberOfSeries and numberOfInstances; each series with its UID, DICOM modality (`http://dicom.nema.org/resources/ontology/DCM`) and instances with their SOP Class (`urn:ietf:rfc:3986`) |
//! | `Patient` | identifier (Patient ID), name, gender, birthDate |
//!
//! Resources are linked by `urn:uuid:` full URLs derived from the report id, so one report
//! always exports the same Bundle. The tests validate the Bundle against the official FHIR R4
//! JSON schema (`tests/fhir_schema.rs`).

use base64::Engine;
use serde_json::{Value, json};

use crate::{Language, ReportDocument, SignedReport, Template};

/// DICOM's coding system for modalities (DICOM PS3.16, CID 29), as FHIR R4 ImagingStudy uses.
pub const DICOM_DCM_SYSTEM: &str = "http://dicom.nema.org/resources/ontology/DCM";
/// The LOINC system.
pub const LOINC_SYSTEM: &str = "http://loinc.org";
/// The system of mira's report identifiers.
pub const REPORT_ID_SYSTEM: &str = "urn:mira:report";
/// The code system for Lung-RADS v2022 categories in conclusionCode (no official FHIR code
/// system exists; this one is mira's).
pub const LUNG_RADS_SYSTEM: &str = "urn:mira:lung-rads-v2022";

/// A deterministic UUID (version 4 layout) for a resource of a report.
fn resource_uuid(kind: u16, report: &SignedReport) -> String {
    format!(
        "6d697261-{kind:04x}-4000-8000-{:04x}{:08x}",
        report.version & 0xffff,
        report.report_id as u64 & 0xffff_ffff
    )
}

/// A DICOM DA as a FHIR date; `None` if it is not a DA.
fn fhir_date(da: Option<&str>) -> Option<String> {
    da.and_then(crate::templates::format_da)
}

/// The name to show for a DICOM PN (`Zhang^San=张^三`): the ideographic group when present,
/// else the alphabetic one, components joined by spaces (none for Chinese).
pub fn person_name(pn: &str) -> String {
    let groups: Vec<&str> = pn.split('=').collect();
    let ideographic = groups.get(1).filter(|g| !g.trim().is_empty());
    match ideographic {
        Some(g) => g.split('^').filter(|c| !c.is_empty()).collect::<String>(),
        None => groups[0]
            .split('^')
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn gender(sex: Option<&str>) -> &'static str {
    match sex.map(str::trim) {
        Some("M") => "male",
        Some("F") => "female",
        Some("O") => "other",
        _ => "unknown",
    }
}

fn language_tag(language: Language) -> &'static str {
    match language {
        Language::ZhCn => "zh-CN",
        Language::En => "en",
    }
}

/// The report as plain text, for presentedForm: header, technique, findings, impression,
/// recommendation, signature and addenda.
pub fn plain_text(report: &SignedReport) -> String {
    let d = &report.document;
    let zh = d.language == Language::ZhCn;
    let label = |zh_label: &str, en_label: &str| if zh { zh_label } else { en_label }.to_owned();
    let mut lines = Vec::new();
    let h = &d.header;
    if let Some(site) = &h.site_name {
        lines.push(site.clone());
    }
    lines.push(format!(
        "{}: {}  {}: {}  {}: {}",
        label("姓名", "Name"),
        h.patient_name
            .as_deref()
            .map(person_name)
            .unwrap_or_default(),
        label("性别", "Sex"),
        h.patient_sex.as_deref().unwrap_or(""),
        label("检查号", "Exam no."),
        h.accession_number.as_deref().unwrap_or("")
    ));
    for (zh_label, en_label, text) in [
        ("检查技术", "Technique", &d.technique),
        ("影像所见", "Findings", &d.findings_text),
        ("诊断意见", "Impression", &d.impression),
        ("建议", "Recommendation", &d.recommendation),
    ] {
        if !text.trim().is_empty() {
            lines.push(format!("{}:\n{}", label(zh_label, en_label), text.trim()));
        }
    }
    lines.push(format!(
        "{}: {} {}",
        label("报告医师", "Signed by"),
        report.signature.display_name,
        report.signature.signed_at
    ));
    for (text, signature) in &report.addenda {
        lines.push(format!(
            "{} ({} {}):\n{}",
            label("补充报告", "Addendum"),
            signature.display_name,
            signature.signed_at,
            text.trim()
        ));
    }
    lines.join("\n\n") + "\n"
}

fn report_code(doc: &ReportDocument) -> Value {
    match doc.template {
        Template::LdctLungRads => json!({
            "coding": [{"system": LOINC_SYSTEM, "code": "24627-2", "display": "Chest CT"}],
            "text": "Chest CT"
        }),
        _ => json!({
            "coding": [{"system": LOINC_SYSTEM, "code": "18748-4", "display": "Diagnostic imaging study"}],
            "text": "Diagnostic imaging study"
        }),
    }
}

/// The Patient resource.
fn patient(report: &SignedReport, id: &str) -> Value {
    let h = &report.document.header;
    let mut p = json!({
        "resourceType": "Patient",
        "id": id,
        "gender": gender(h.patient_sex.as_deref()),
    });
    if let Some(pid) = h.patient_id.as_deref().filter(|s| !s.is_empty()) {
        p["identifier"] = json!([{"value": pid}]);
    }
    if let Some(name) = h.patient_name.as_deref().filter(|s| !s.is_empty()) {
        p["name"] = json!([{"text": person_name(name)}]);
    }
    if let Some(birth) = fhir_date(h.patient_birth_date.as_deref()) {
        p["birthDate"] = json!(birth);
    }
    p
}

/// The ImagingStudy resource.
fn imaging_study(report: &SignedReport, id: &str, patient_ref: &Value) -> Value {
    let h = &report.document.header;
    let fallback_modality = h.modalities.first().map_or("OT", String::as_str);
    let series: Vec<Value> = h
        .series
        .iter()
        .map(|s| {
            let mut v = json!({
                "uid": s.series_instance_uid,
                "modality": {
                    "system": DICOM_DCM_SYSTEM,
                    "code": s.modality.as_deref().unwrap_or(fallback_modality),
                },
                "numberOfInstances": s.instances.len(),
            });
            if let Some(n) = s.series_number.filter(|n| *n >= 0) {
                v["number"] = json!(n);
            }
            if let Some(d) = s.description.as_deref().filter(|d| !d.is_empty()) {
                v["description"] = json!(d);
            }
            if !s.instances.is_empty() {
                v["instance"] = s
                    .instances
                    .iter()
                    .map(|i| {
                        let mut inst = json!({
                            "uid": i.sop_instance_uid,
                            "sopClass": {
                                "system": "urn:ietf:rfc:3986",
                                "code": format!("urn:oid:{}", i.sop_class_uid),
                            },
                        });
                        if let Some(n) = i.instance_number.filter(|n| *n >= 0) {
                            inst["number"] = json!(n);
                        }
                        inst
                    })
                    .collect();
            }
            v
        })
        .collect();
    let instances: usize = h.series.iter().map(|s| s.instances.len()).sum();
    let mut study = json!({
        "resourceType": "ImagingStudy",
        "id": id,
        "identifier": [{
            "system": "urn:dicom:uid",
            "value": format!("urn:oid:{}", h.study_instance_uid),
        }],
        "status": "available",
        "subject": patient_ref,
        "numberOfSeries": h.series.len(),
        "numberOfInstances": instances,
    });
    if !h.modalities.is_empty() {
        study["modality"] = h
            .modalities
            .iter()
            .map(|m| json!({"system": DICOM_DCM_SYSTEM, "code": m}))
            .collect();
    }
    if let Some(date) = fhir_date(h.study_date.as_deref()) {
        study["started"] = json!(date);
    }
    if let Some(d) = h.study_description.as_deref().filter(|d| !d.is_empty()) {
        study["description"] = json!(d);
    }
    if !series.is_empty() {
        study["series"] = Value::Array(series);
    }
    study
}

/// The FHIR R4 Bundle (type `collection`) of a signed report: DiagnosticReport, ImagingStudy
/// and Patient.
pub fn bundle(report: &SignedReport) -> Value {
    let doc = &report.document;
    let h = &doc.header;
    let [report_uuid, study_uuid, patient_uuid] = [1, 2, 3].map(|kind| resource_uuid(kind, report));
    let mut patient_ref =
        json!({"reference": format!("urn:uuid:{patient_uuid}"), "type": "Patient"});
    if let Some(pid) = h.patient_id.as_deref().filter(|s| !s.is_empty()) {
        patient_ref["identifier"] = json!({"value": pid});
    }
    let physician = json!({
        "type": "Practitioner",
        "identifier": {"system": "urn:mira:user", "value": report.signature.user},
        "display": report.signature.display_name,
    });
    let amended = report.version > 1 || !report.addenda.is_empty();
    let text = plain_text(report);
    let mut conclusion = doc.impression.trim().to_owned();
    if !doc.recommendation.trim().is_empty() {
        conclusion.push('\n');
        conclusion.push_str(doc.recommendation.trim());
    }
    let mut diagnostic = json!({
        "resourceType": "DiagnosticReport",
        "id": report_uuid,
        "identifier": [{"system": REPORT_ID_SYSTEM, "value": format!("{}-{}", report.report_id, report.version)}],
        "status": if amended { "amended" } else { "final" },
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
            "code": "RAD",
            "display": "Radiology",
        }]}],
        "code": report_code(doc),
        "subject": patient_ref,
        "issued": report.signature.signed_at,
        "performer": [physician],
        "resultsInterpreter": [physician],
        "imagingStudy": [{"reference": format!("urn:uuid:{study_uuid}"), "type": "ImagingStudy"}],
        "presentedForm": [{
            "contentType": "text/plain; charset=utf-8",
            "language": language_tag(doc.language),
            "data": base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
            "title": match doc.language { Language::ZhCn => "影像诊断报告", Language::En => "Imaging report" },
            "creation": report.signature.signed_at,
        }],
    });
    if let Some(date) = fhir_date(h.study_date.as_deref()) {
        diagnostic["effectiveDateTime"] = json!(date);
    }
    if !conclusion.is_empty() {
        diagnostic["conclusion"] = json!(conclusion);
    }
    if let Some(category) = doc.lung_rads.as_deref().filter(|c| !c.trim().is_empty()) {
        let category = category.trim();
        diagnostic["conclusionCode"] = json!([{
            "coding": [{
                "system": LUNG_RADS_SYSTEM,
                "code": category,
                "display": format!("Lung-RADS {category}"),
            }],
            "text": format!("Lung-RADS {category}"),
        }]);
    }
    let study = imaging_study(report, &study_uuid, &patient_ref);
    let patient = patient(report, &patient_uuid);
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": report.signature.signed_at,
        "entry": [
            {"fullUrl": format!("urn:uuid:{report_uuid}"), "resource": diagnostic},
            {"fullUrl": format!("urn:uuid:{study_uuid}"), "resource": study},
            {"fullUrl": format!("urn:uuid:{patient_uuid}"), "resource": patient},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn the_bundle_links_report_study_and_patient() {
        let report = signed_ldct();
        let b = bundle(&report);
        assert_eq!(b["type"], "collection");
        let entries = b["entry"].as_array().unwrap();
        let types: Vec<&str> = entries
            .iter()
            .map(|e| e["resource"]["resourceType"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["DiagnosticReport", "ImagingStudy", "Patient"]);
        let dr = &entries[0]["resource"];
        assert_eq!(dr["status"], "final");
        assert_eq!(dr["code"]["coding"][0]["code"], "24627-2");
        assert_eq!(dr["subject"]["reference"], entries[2]["fullUrl"]);
        assert_eq!(dr["imagingStudy"][0]["reference"], entries[1]["fullUrl"]);
        assert_eq!(dr["effectiveDateTime"], "2026-11-20");
        assert_eq!(dr["issued"], "2026-11-20T10:15:00+08:00");
        assert_eq!(dr["performer"][0]["display"], "王医生");
        assert_eq!(dr["conclusionCode"][0]["coding"][0]["code"], "4A");
        assert!(dr["conclusion"].as_str().unwrap().starts_with("肺结节1枚"));
        let text = base64::engine::general_purpose::STANDARD
            .decode(dr["presentedForm"][0]["data"].as_str().unwrap())
            .unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("姓名: 张三") && text.contains("Lung-RADS 4A类"),
            "{text}"
        );
        let study = &entries[1]["resource"];
        assert_eq!(
            study["identifier"][0]["value"],
            format!("urn:oid:{STUDY_UID}")
        );
        assert_eq!(study["numberOfSeries"], 1);
        assert_eq!(study["numberOfInstances"], 1);
        assert_eq!(study["series"][0]["modality"]["system"], DICOM_DCM_SYSTEM);
        assert_eq!(
            study["series"][0]["instance"][0]["sopClass"]["code"],
            format!("urn:oid:{CT_IMAGE_STORAGE}")
        );
        let patient = &entries[2]["resource"];
        assert_eq!(patient["gender"], "male");
        assert_eq!(patient["birthDate"], "1958-03-14");
        assert_eq!(patient["name"][0]["text"], "张三");
    }

    #[test]
    fn later_versions_and_addenda_are_amended() {
        let mut report = signed_ldct();
        let status = |r: &SignedReport| bundle(r)["entry"][0]["resource"]["status"].clone();
        assert_eq!(status(&report), "final");
        report
            .addenda
            .push(("补充：右侧少量胸腔积液。".into(), report.signature.clone()));
        assert_eq!(status(&report), "amended");
        report.addenda.clear();
        report.version = 2;
        assert_eq!(status(&report), "amended");
    }

    #[test]
    fn person_names_prefer_the_ideographic_group() {
        for (pn, expected) in [
            ("Zhang^San=张^三", "张三"),
            ("Zhang^San", "Zhang San"),
            ("Zhang^San=", "Zhang San"),
            ("=张^三", "张三"),
        ] {
            assert_eq!(person_name(pn), expected);
        }
    }
}
