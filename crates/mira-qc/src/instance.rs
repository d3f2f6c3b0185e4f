//! Header checks on one instance: required attributes per IOD, UIDs, demographics, dates and
//! ages, pixel spacing, photometric interpretation.

use dicom_object::InMemDicomObject;
use time::Date;

use crate::header::{Header, presence};
use crate::report::{Check, num};
use crate::rules::RuleSet;

/// What checks need besides the instance: the rules and today's date (a parameter, so that
/// date rules are testable).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The rules.
    pub rules: &'a RuleSet,
    /// Today, for "not in the future".
    pub today: Date,
}

impl<'a> Context<'a> {
    /// A context dated today (UTC).
    pub fn now(rules: &'a RuleSet) -> Self {
        Context {
            rules,
            today: time::OffsetDateTime::now_utc().date(),
        }
    }
}

/// Runs every header rule that applies to the instance.
pub fn check_header(ctx: &Context<'_>, obj: &InMemDicomObject, h: &Header) -> Vec<Check> {
    let modality = h.effective_modality();
    let rule = |id: &str| ctx.rules.active(id, modality);
    let mut checks = Vec::new();

    if let Some(iod) = h.iod() {
        let mut missing1 = Vec::new();
        let mut missing2 = Vec::new();
        for req in iod {
            let (present, has_value) = presence(obj, req.tag);
            if req.type1 && !has_value {
                missing1.push(req.name);
            } else if !req.type1 && !present {
                missing2.push(req.name);
            }
        }
        for (id, missing, what) in [
            ("header.type1", missing1, "present with a value"),
            ("header.type2", missing2, "present"),
        ] {
            if let Some(r) = rule(id) {
                let ok = missing.is_empty();
                checks.push(Check::new(
                    r,
                    ok,
                    (!ok).then(|| format!("missing: {}", missing.join(", "))),
                    Some(what.to_string()),
                    if ok {
                        format!("all {} attributes {what}", &id[7..])
                    } else {
                        format!("{} required attribute(s) missing", missing.len())
                    },
                ));
            }
        }
    }

    if let Some(r) = rule("header.uid-syntax") {
        let max = r.threshold("max_length") as usize;
        let mut bad = Vec::new();
        for (name, value, required) in [
            ("SOPClassUID", &h.sop_class_uid, true),
            ("SOPInstanceUID", &h.sop_instance_uid, true),
            ("StudyInstanceUID", &h.study_instance_uid, true),
            ("SeriesInstanceUID", &h.series_instance_uid, true),
            ("FrameOfReferenceUID", &h.frame_of_reference_uid, false),
        ] {
            match value {
                None if required => bad.push(format!("{name} empty")),
                None => {}
                Some(uid) => {
                    if let Err(why) = uid_valid(uid, max) {
                        bad.push(format!("{name} {why}"));
                    }
                }
            }
        }
        let ok = bad.is_empty();
        checks.push(Check::new(
            r,
            ok,
            (!ok).then(|| bad.join("; ")),
            Some(format!("digits and dots, <= {max} characters")),
            if ok {
                "UIDs valid".to_string()
            } else {
                "invalid or missing UIDs".to_string()
            },
        ));
    }

    if let Some(r) = rule("header.patient-sex")
        && let Some(sex) = &h.patient_sex
    {
        let ok = matches!(sex.as_str(), "M" | "F" | "O");
        checks.push(Check::new(
            r,
            ok,
            Some(sex.clone()),
            Some("M, F, O or empty".into()),
            if ok {
                "sex is an enumerated value"
            } else {
                "sex is not M, F or O"
            },
        ));
    }

    let birth = h.patient_birth_date.as_deref().map(parse_da);
    let study = h.study_date.as_deref().map(parse_da);
    if let Some(r) = rule("header.dates") {
        let skew = time::Duration::days(r.threshold("clock_skew_days") as i64);
        let mut problems = Vec::new();
        let named = [
            ("PatientBirthDate", &h.patient_birth_date),
            ("StudyDate", &h.study_date),
            ("SeriesDate", &h.series_date),
            ("AcquisitionDate", &h.acquisition_date),
            ("ContentDate", &h.content_date),
        ];
        let mut any = false;
        for (name, value) in named {
            if let Some(v) = value {
                any = true;
                match parse_da(v) {
                    None => problems.push(format!("{name} '{v}' is not a YYYYMMDD date")),
                    Some(d) if d > ctx.today + skew => {
                        problems.push(format!("{name} is in the future"))
                    }
                    Some(_) => {}
                }
            }
        }
        if let (Some(Some(b)), Some(Some(s))) = (birth, study)
            && b > s
        {
            problems.push("PatientBirthDate is after StudyDate".into());
        }
        if let Some(Some(s)) = study {
            for (name, value) in &named[2..] {
                if let Some(Some(d)) = value.as_deref().map(parse_da)
                    && d < s
                {
                    problems.push(format!("{name} is before StudyDate"));
                }
            }
        }
        if any {
            let ok = problems.is_empty();
            checks.push(Check::new(
                r,
                ok,
                (!ok).then(|| problems.join("; ")),
                Some("valid dates, birth <= study <= series/acquisition/content <= today".into()),
                if ok {
                    "dates plausible"
                } else {
                    "implausible dates"
                },
            ));
        }
    }

    if let (Some(Some(b)), Some(Some(s))) = (birth, study)
        && b <= s
    {
        let days = (s - b).whole_days();
        if let Some(r) = rule("header.age-range") {
            let max = r.threshold("max_years");
            let years = days as f64 / 365.25;
            checks.push(Check::new(
                r,
                years <= max,
                Some(format!("{} years", num((years * 10.0).round() / 10.0))),
                Some(format!("<= {} years", num(max))),
                "age at the study from birth and study dates",
            ));
        }
        if let Some(r) = rule("header.patient-age")
            && let Some(age) = &h.patient_age
        {
            let tolerance = r.threshold("tolerance_units");
            let (ok, expected) = match parse_age(age) {
                Some((value, unit)) => {
                    let actual = age_in(b, s, unit);
                    (
                        (value as f64 - actual as f64).abs() <= tolerance,
                        format!("{actual:03}{unit} +/- {}", num(tolerance)),
                    )
                }
                None => (false, "nnnD, nnnW, nnnM or nnnY".into()),
            };
            checks.push(Check::new(
                r,
                ok,
                Some(age.clone()),
                Some(expected),
                if ok {
                    "Patient's Age agrees with the dates"
                } else {
                    "Patient's Age disagrees with Study Date - Birth Date"
                },
            ));
        }
    }

    if let Some(r) = rule("header.pixel-spacing") {
        let (min, max) = (r.threshold("min_mm"), r.threshold("max_mm"));
        let present: Vec<(&str, &String)> = [
            ("PixelSpacing", &h.pixel_spacing),
            ("ImagerPixelSpacing", &h.imager_pixel_spacing),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| (n, v)))
        .collect();
        let mut bad = Vec::new();
        for (name, value) in &present {
            let values: Vec<Option<f64>> =
                value.split('\\').map(|v| v.trim().parse().ok()).collect();
            let ok = values.len() == 2
                && values
                    .iter()
                    .all(|v| v.is_some_and(|v| v.is_finite() && v >= min && v <= max));
            if !ok {
                bad.push(format!("{name} {value}"));
            }
        }
        let ok = !present.is_empty() && bad.is_empty();
        let measured = if present.is_empty() {
            "absent".to_string()
        } else {
            present
                .iter()
                .map(|(n, v)| format!("{n} {v} mm"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        checks.push(Check::new(
            r,
            ok,
            Some(measured),
            Some(format!("two values in [{}, {}] mm", num(min), num(max))),
            if ok {
                "pixel spacing present and plausible".to_string()
            } else if present.is_empty() {
                "no pixel spacing: measurements impossible".to_string()
            } else {
                format!("implausible pixel spacing: {}", bad.join("; "))
            },
        ));
    }

    if let Some(r) = rule("header.photometric")
        && let Some(pi) = &h.photometric_interpretation
    {
        let expected_spp = match pi.as_str() {
            "MONOCHROME1" | "MONOCHROME2" | "PALETTE COLOR" => Some(1),
            "RGB" | "YBR_FULL" | "YBR_FULL_422" | "YBR_PARTIAL_420" | "YBR_ICT" | "YBR_RCT" => {
                Some(3)
            }
            _ => None,
        };
        let ok = expected_spp.is_some() && expected_spp == h.samples_per_pixel;
        checks.push(Check::new(
            r,
            ok,
            Some(format!(
                "{pi}, {} sample(s) per pixel",
                h.samples_per_pixel
                    .map_or("no".to_string(), |s| s.to_string())
            )),
            Some(match expected_spp {
                Some(n) => format!("{n} sample(s) per pixel for {pi}"),
                None => "a defined Photometric Interpretation".into(),
            }),
            if ok {
                "photometric interpretation agrees with samples per pixel"
            } else {
                "photometric interpretation inconsistent"
            },
        ));
    }
    checks
}

/// Checks a UID against PS3.5 9.1.
pub(crate) fn uid_valid(uid: &str, max_len: usize) -> Result<(), String> {
    if uid.len() > max_len {
        return Err(format!("is {} characters long", uid.len()));
    }
    for component in uid.split('.') {
        if component.is_empty() {
            return Err("has an empty component".into());
        }
        if !component.bytes().all(|b| b.is_ascii_digit()) {
            return Err("has characters other than digits and dots".into());
        }
        if component.len() > 1 && component.starts_with('0') {
            return Err("has a component with a leading zero".into());
        }
    }
    Ok(())
}

/// Parses a DA value (YYYYMMDD) into a calendar date.
pub(crate) fn parse_da(text: &str) -> Option<Date> {
    let t = text.trim();
    if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = t[0..4].parse().ok()?;
    let month: u8 = t[4..6].parse().ok()?;
    let day: u8 = t[6..8].parse().ok()?;
    Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

/// Parses an AS value (nnnD, nnnW, nnnM, nnnY).
fn parse_age(text: &str) -> Option<(u32, char)> {
    let t = text.trim();
    if t.len() != 4 {
        return None;
    }
    let unit = t.chars().last()?;
    if !matches!(unit, 'D' | 'W' | 'M' | 'Y') {
        return None;
    }
    Some((t[..3].parse().ok()?, unit))
}

/// Completed units between two dates.
fn age_in(birth: Date, at: Date, unit: char) -> i64 {
    match unit {
        'D' => (at - birth).whole_days(),
        'W' => (at - birth).whole_weeks(),
        _ => {
            let mut months =
                (at.year() - birth.year()) as i64 * 12 + (at.month() as i64 - birth.month() as i64);
            if at.day() < birth.day() {
                months -= 1;
            }
            if unit == 'M' { months } else { months / 12 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;

    fn object(elements: &[(dicom_core::Tag, VR, &str)]) -> InMemDicomObject {
        InMemDicomObject::from_element_iter(
            elements
                .iter()
                .map(|(t, vr, v)| DataElement::new(*t, *vr, PrimitiveValue::from(*v))),
        )
    }

    fn run(elements: &[(dicom_core::Tag, VR, &str)]) -> Vec<Check> {
        let rules = RuleSet::default();
        let ctx = Context {
            rules: &rules,
            today: Date::from_calendar_date(2026, time::Month::November, 24).unwrap(),
        };
        let obj = object(elements);
        check_header(&ctx, &obj, &Header::from_object(&obj))
    }

    fn status(checks: &[Check], rule: &str) -> Option<crate::Status> {
        checks.iter().find(|c| c.rule == rule).map(|c| c.status)
    }

    #[test]
    fn uid_rules_table() {
        let cases = [
            ("1.2.840.10008.5.1.4.1.1.2", true),
            ("1.2.840.10008.5.1.4.1.1.02", false),
            ("1.2..3", false),
            ("1.2.3.", false),
            ("1.2.a", false),
            ("0.1", true),
            ("1.2", true),
        ];
        for (uid, ok) in cases {
            assert_eq!(uid_valid(uid, 64).is_ok(), ok, "{uid}");
        }
        let at_limit = format!("1.{}", "2".repeat(62));
        assert_eq!(at_limit.len(), 64);
        assert!(uid_valid(&at_limit, 64).is_ok());
        assert!(uid_valid(&format!("{at_limit}3"), 64).is_err());
    }

    #[test]
    fn pixel_spacing_boundaries() {
        use crate::Status::*;
        let cases = [
            ("0.000\\0.000", Fail),
            ("0.01\\0.01", Pass),
            ("0.0099\\0.01", Fail),
            ("0.168\\0.168", Pass),
            ("5.0\\5.0", Pass),
            ("5.01\\5.0", Fail),
            ("0.2", Fail),
            ("abc\\0.2", Fail),
        ];
        for (value, expected) in cases {
            let checks = run(&[
                (tags::MODALITY, VR::CS, "CR"),
                (tags::PIXEL_SPACING, VR::DS, value),
            ]);
            assert_eq!(
                status(&checks, "header.pixel-spacing"),
                Some(expected),
                "{value}"
            );
        }
        let absent = run(&[(tags::MODALITY, VR::CS, "DX")]);
        assert_eq!(status(&absent, "header.pixel-spacing"), Some(Fail));
        let imager = run(&[
            (tags::MODALITY, VR::CS, "DX"),
            (tags::IMAGER_PIXEL_SPACING, VR::DS, "0.139\\0.139"),
        ]);
        assert_eq!(status(&imager, "header.pixel-spacing"), Some(Pass));
        let fundus = run(&[(tags::MODALITY, VR::CS, "OP")]);
        assert_eq!(status(&fundus, "header.pixel-spacing"), None);
    }

    #[test]
    fn dates_and_ages() {
        use crate::Status::*;
        let base = |birth: &'static str, study: &'static str, age: &'static str| {
            let mut e = vec![
                (tags::MODALITY, VR::CS, "CT"),
                (tags::PATIENT_BIRTH_DATE, VR::DA, birth),
                (tags::STUDY_DATE, VR::DA, study),
            ];
            if !age.is_empty() {
                e.push((tags::PATIENT_AGE, VR::AS, age));
            }
            run(&e)
        };
        let c = base("19600101", "20261124", "066Y");
        assert_eq!(status(&c, "header.dates"), Some(Pass));
        assert_eq!(status(&c, "header.patient-age"), Some(Pass));
        assert_eq!(status(&c, "header.age-range"), Some(Pass));
        // one unit either way is tolerated, two are not
        assert_eq!(
            status(&base("19600101", "20261124", "067Y"), "header.patient-age"),
            Some(Pass)
        );
        assert_eq!(
            status(&base("19600101", "20261124", "068Y"), "header.patient-age"),
            Some(Warning)
        );
        assert_eq!(
            status(&base("20260101", "20261124", "010M"), "header.patient-age"),
            Some(Pass)
        );
        assert_eq!(
            status(&base("20260101", "20261124", "66Y"), "header.patient-age"),
            Some(Warning)
        );
        // tomorrow is within the clock skew, the day after is not
        assert_eq!(
            status(&base("19600101", "20261125", ""), "header.dates"),
            Some(Pass)
        );
        assert_eq!(
            status(&base("19600101", "20261126", ""), "header.dates"),
            Some(Warning)
        );
        assert_eq!(
            status(&base("20261125", "20261124", ""), "header.dates"),
            Some(Warning)
        );
        assert_eq!(
            status(&base("19600230", "20261124", ""), "header.dates"),
            Some(Warning)
        );
        // 120 years is plausible, 121 is not
        assert_eq!(
            status(&base("19061124", "20261124", ""), "header.age-range"),
            Some(Pass)
        );
        assert_eq!(
            status(&base("19051123", "20261124", ""), "header.age-range"),
            Some(Warning)
        );
    }

    #[test]
    fn required_attributes_follow_the_iod_of_the_sop_class() {
        use crate::Status::*;
        let ct = dicom_dictionary_std::uids::CT_IMAGE_STORAGE;
        let c = run(&[(tags::SOP_CLASS_UID, VR::UI, ct)]);
        let type1 = c.iter().find(|c| c.rule == "header.type1").unwrap();
        assert_eq!(type1.status, Fail);
        let missing = type1.measured.as_deref().unwrap();
        for name in [
            "Modality",
            "Pixel Spacing",
            "Image Orientation (Patient)",
            "Rescale Slope",
        ] {
            assert!(missing.contains(name), "{name} in {missing}");
        }
        let type2 = c.iter().find(|c| c.rule == "header.type2").unwrap();
        assert_eq!(type2.status, Warning);
        assert!(
            type2
                .measured
                .as_deref()
                .unwrap()
                .contains("Patient's Name")
        );
        // present but empty satisfies Type 2, not Type 1
        let c = run(&[
            (tags::SOP_CLASS_UID, VR::UI, ct),
            (tags::PATIENT_NAME, VR::PN, ""),
            (tags::MODALITY, VR::CS, ""),
        ]);
        let type1 = c.iter().find(|c| c.rule == "header.type1").unwrap();
        assert!(type1.measured.as_deref().unwrap().contains("Modality"));
        let type2 = c.iter().find(|c| c.rule == "header.type2").unwrap();
        assert!(
            !type2
                .measured
                .as_deref()
                .unwrap()
                .contains("Patient's Name")
        );
        // an IOD the catalogue has no table for (secondary capture): no required-attribute rule
        let c = run(&[(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.7")]);
        assert!(c.iter().all(|c| !c.rule.starts_with("header.type")));
    }

    #[test]
    fn sex_and_photometric() {
        use crate::Status::*;
        for (sex, expected) in [("M", Pass), ("F", Pass), ("O", Pass), ("X", Warning)] {
            let c = run(&[(tags::PATIENT_SEX, VR::CS, sex)]);
            assert_eq!(status(&c, "header.patient-sex"), Some(expected), "{sex}");
        }
        let c = run(&[]);
        assert_eq!(
            status(&c, "header.patient-sex"),
            None,
            "empty sex is allowed"
        );
        for (pi, spp, expected) in [
            ("MONOCHROME1", "1", Pass),
            ("MONOCHROME2", "3", Fail),
            ("RGB", "3", Pass),
            ("YBR_FULL_422", "3", Pass),
            ("RGB", "1", Fail),
            ("MONOCHROME3", "1", Fail),
        ] {
            let obj = InMemDicomObject::from_element_iter([
                DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, pi),
                DataElement::new(
                    tags::SAMPLES_PER_PIXEL,
                    VR::US,
                    PrimitiveValue::from(spp.parse::<u16>().unwrap()),
                ),
            ]);
            let rules = RuleSet::default();
            let c = check_header(&Context::now(&rules), &obj, &Header::from_object(&obj));
            assert_eq!(
                status(&c, "header.photometric"),
                Some(expected),
                "{pi} {spp}"
            );
        }
    }
}
