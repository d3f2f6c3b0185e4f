//! Consistency across a study and within a series (clinical-rules.md 3.4, consistency rule 1):
//! one patient per study, one study date and accession number, one modality and frame of
//! reference per series.

use std::collections::BTreeSet;

use crate::header::Header;
use crate::instance::Context;
use crate::report::{Check, Level, Report};

/// The distinct values of an attribute across headers (absent values count as one value).
fn distinct<'a>(headers: &[&'a Header], f: impl Fn(&'a Header) -> Option<&'a str>) -> usize {
    headers
        .iter()
        .map(|h| f(h).map(str::to_string))
        .collect::<BTreeSet<_>>()
        .len()
}

/// Study-level rules over every instance of a study.
pub fn check_study(ctx: &Context<'_>, subject: &str, headers: &[&Header]) -> Report {
    let mut report = Report::new(Level::Study, subject);
    report
        .measurements
        .insert("instances".into(), headers.len() as f64);
    if let Some(r) = ctx.rules.active("study.patient-consistent", None) {
        // names the attributes that differ, never their values (no patient data in reports
        // that may be logged)
        let differing: Vec<&str> = [
            ("PatientID", distinct(headers, |h| h.patient_id.as_deref())),
            (
                "PatientName",
                distinct(headers, |h| h.patient_name.as_deref()),
            ),
            (
                "PatientBirthDate",
                distinct(headers, |h| h.patient_birth_date.as_deref()),
            ),
            (
                "PatientSex",
                distinct(headers, |h| h.patient_sex.as_deref()),
            ),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(name, _)| name)
        .collect();
        let ok = differing.is_empty();
        report.checks.push(Check::new(
            r,
            ok,
            (!ok).then(|| format!("differs: {}", differing.join(", "))),
            Some("one patient per study".into()),
            if ok {
                "one patient throughout the study"
            } else {
                "patient attributes differ within the study"
            },
        ));
    }
    if let Some(r) = ctx.rules.active("study.attributes-consistent", None) {
        let differing: Vec<&str> = [
            ("StudyDate", distinct(headers, |h| h.study_date.as_deref())),
            (
                "AccessionNumber",
                distinct(headers, |h| h.accession_number.as_deref()),
            ),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(name, _)| name)
        .collect();
        let ok = differing.is_empty();
        report.checks.push(Check::new(
            r,
            ok,
            (!ok).then(|| format!("differs: {}", differing.join(", "))),
            Some("one study date and accession number".into()),
            if ok {
                "study attributes consistent"
            } else {
                "study attributes differ between instances"
            },
        ));
    }
    report
}

/// The series rule: one modality and one frame of reference.
pub fn check_series_consistency(ctx: &Context<'_>, headers: &[&Header]) -> Option<Check> {
    let modality = headers.first().and_then(|h| h.modality.as_deref());
    let r = ctx.rules.active("series.consistent", modality)?;
    let differing: Vec<&str> = [
        ("Modality", distinct(headers, |h| h.modality.as_deref())),
        (
            "FrameOfReferenceUID",
            distinct(headers, |h| h.frame_of_reference_uid.as_deref()),
        ),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 1)
    .map(|(name, _)| name)
    .collect();
    let ok = differing.is_empty();
    Some(Check::new(
        r,
        ok,
        (!ok).then(|| format!("differs: {}", differing.join(", "))),
        Some("one modality and frame of reference per series".into()),
        if ok {
            "series consistent"
        } else {
            "the series mixes acquisitions"
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use crate::rules::RuleSet;

    #[test]
    fn a_second_patient_in_a_study_fails_without_naming_anyone() {
        let a = Header {
            patient_id: Some("P1".into()),
            patient_name: Some("DOE^JANE".into()),
            study_date: Some("20261120".into()),
            ..Header::default()
        };
        let mut b = a.clone();
        let rules = RuleSet::default();
        let ctx = Context::now(&rules);
        let r = check_study(&ctx, "s", &[&a, &b]);
        assert_eq!(r.outcome(), Status::Pass);
        b.patient_name = Some("ROE^RICHARD".into());
        b.study_date = Some("20261121".into());
        let r = check_study(&ctx, "s", &[&a, &b]);
        let c = r.check("study.patient-consistent").unwrap();
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.measured.as_deref(), Some("differs: PatientName"));
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("ROE") && !json.contains("DOE"), "{json}");
        assert_eq!(
            r.check("study.attributes-consistent").unwrap().status,
            Status::Warning
        );
    }
}
