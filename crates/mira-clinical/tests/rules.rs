//! Table-driven tests of every rule and every boundary of the compiled-in profiles (ACR
//! Lung-RADS v2022; Fleischner 2017, MacMahon et al., Radiology 2017;284:228-243), of their
//! exam-level logic, and of profile validation. Each table row names the rule it expects, and
//! each profile's test ends by asserting that every rule of the profile was exercised.

use std::collections::BTreeSet;

use mira_clinical::{
    AirwayLevel, AssessError, Attenuation, BenignFeature, CalcificationPattern, CystFeature,
    ExamContext, History, IncompleteReason, Location, Mm, Nodule, NoduleSize, NoduleStatus,
    PriorMeasurement, Profile, ProfileError, Risk,
};

fn mm(text: &str) -> Mm {
    Mm::parse(text).unwrap()
}

fn nodule(long: &str, short: &str, attenuation: Attenuation) -> Nodule {
    Nodule::baseline(NoduleSize::parse(long, short).unwrap(), attenuation)
}

fn solid(long: &str, short: &str) -> Nodule {
    nodule(long, short, Attenuation::Solid)
}

fn part_solid(long: &str, short: &str, solid_component: &str) -> Nodule {
    nodule(
        long,
        short,
        Attenuation::PartSolid {
            solid_component: Some(mm(solid_component)),
        },
    )
}

fn ggn(long: &str, short: &str) -> Nodule {
    nodule(long, short, Attenuation::GroundGlass)
}

fn new(mut n: Nodule) -> Nodule {
    n.history = History::New;
    n
}

/// Seen before: (months before, mean diameter, solid component, category), oldest first.
fn seen(mut n: Nodule, priors: &[(u32, &str, Option<&str>, Option<&str>)]) -> Nodule {
    n.history = History::Seen(
        priors
            .iter()
            .map(|&(months_before, mean, sc, category)| PriorMeasurement {
                months_before,
                mean_diameter: mm(mean),
                solid_component: sc.map(mm),
                category: category.map(str::to_string),
            })
            .collect(),
    );
    n
}

fn at(mut n: Nodule, location: Location) -> Nodule {
    n.location = location;
    n
}

fn benign(mut n: Nodule, feature: BenignFeature) -> Nodule {
    n.benign_feature = Some(feature);
    n
}

fn cyst(feature: CystFeature) -> Nodule {
    let mut n = solid("12.0", "10.0");
    n.cyst = Some(feature);
    n
}

fn proven_benign(mut n: Nodule) -> Nodule {
    n.proven_benign = true;
    n
}

fn suspicious(mut n: Nodule) -> Nodule {
    n.suspicious_features = true;
    n
}

const TYPICAL_JUXTAPLEURAL: Location = Location::Juxtapleural {
    smooth_margins: true,
    benign_shape: true,
};

/// One row: a label, the nodule, whether the exam has several nodules, the patient's risk,
/// the expected mean diameter, category and rule.
struct Row {
    label: &'static str,
    nodule: Nodule,
    multiple: bool,
    risk: Option<Risk>,
    mean: &'static str,
    category: &'static str,
    rule: &'static str,
}

fn row(
    label: &'static str,
    nodule: Nodule,
    mean: &'static str,
    category: &'static str,
    rule: &'static str,
) -> Row {
    Row {
        label,
        nodule,
        multiple: false,
        risk: None,
        mean,
        category,
        rule,
    }
}

/// Checks every row and returns the rules they exercised.
fn check(profile: &Profile, rows: &[Row]) -> BTreeSet<String> {
    let mut failures = Vec::new();
    let mut exercised = BTreeSet::new();
    for r in rows {
        let exam = ExamContext {
            risk: r.risk,
            ..ExamContext::default()
        };
        match profile.assess_nodule(&r.nodule, &exam, r.multiple) {
            Ok(a) => {
                exercised.insert(a.rule.clone());
                let got = (
                    a.mean_diameter.to_string(),
                    a.category.as_str(),
                    a.rule.as_str(),
                );
                if got != (r.mean.to_string(), r.category, r.rule) {
                    failures.push(format!(
                        "{}: expected mean {} category {} by {}, got {got:?}",
                        r.label, r.mean, r.category, r.rule
                    ));
                }
                let category = profile.category(&a.category).unwrap();
                assert!(
                    !a.management.is_empty() && !a.source.is_empty(),
                    "{}",
                    r.label
                );
                if !a.rule.starts_with("4X")
                    && profile
                        .rules()
                        .iter()
                        .any(|x| x.id == a.rule && x.management.is_none())
                {
                    assert_eq!(a.management, category.management, "{}", r.label);
                }
            }
            Err(e) => failures.push(format!("{}: {e}", r.label)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    exercised
}

fn assert_all_exercised(profile: &Profile, mut exercised: BTreeSet<String>, exam_level: &[&str]) {
    exercised.extend(exam_level.iter().map(|s| s.to_string()));
    let declared: BTreeSet<String> = profile
        .rules()
        .iter()
        .map(|r| r.id.clone())
        .chain(profile.upgrades().iter().map(|u| u.id.clone()))
        .chain(profile.incomplete_rules().iter().map(|i| i.id.clone()))
        .collect();
    let missed: Vec<_> = declared.difference(&exercised).collect();
    assert!(missed.is_empty(), "rules no test row exercises: {missed:?}");
}

fn lung_rads_rows() -> Vec<Row> {
    let calcified = BenignFeature::Calcification(CalcificationPattern::Popcorn);
    vec![
        // Category 1: benign features, whatever the size.
        row(
            "popcorn calcification 20 mm",
            benign(solid("21.0", "19.0"), calcified),
            "20.0",
            "1",
            "benign-calcification-or-fat",
        ),
        row(
            "fat-containing GGN",
            benign(ggn("12.0", "10.0"), BenignFeature::Fat),
            "11.0",
            "1",
            "benign-calcification-or-fat",
        ),
        // Stepped down: a 4B lesion proven benign after workup; proof alone changes nothing else.
        row(
            "4B proven benign",
            proven_benign(seen(
                solid("16.0", "16.0"),
                &[(3, "16.0", None, Some("4B"))],
            )),
            "16.0",
            "2",
            "stepped-down-4B-proven-benign",
        ),
        row(
            "proven benign at baseline",
            proven_benign(solid("16.0", "16.0")),
            "16.0",
            "4B",
            "solid-baseline-ge15",
        ),
        // Atypical cysts.
        row(
            "cyst growing cystic component",
            cyst(CystFeature::GrowingCysticComponent),
            "11.0",
            "3",
            "cyst-growing-cystic-component",
        ),
        row(
            "cyst thick-walled",
            cyst(CystFeature::ThickWalled),
            "11.0",
            "4A",
            "cyst-thick-walled-or-multilocular",
        ),
        row(
            "cyst multilocular",
            cyst(CystFeature::Multilocular),
            "11.0",
            "4A",
            "cyst-thick-walled-or-multilocular",
        ),
        row(
            "cyst became multilocular",
            cyst(CystFeature::BecameMultilocular),
            "11.0",
            "4A",
            "cyst-thick-walled-or-multilocular",
        ),
        row(
            "cyst growing wall",
            cyst(CystFeature::GrowingWallOrNodularity),
            "11.0",
            "4B",
            "cyst-growing-or-more-complex",
        ),
        row(
            "cyst growing multilocular",
            cyst(CystFeature::GrowingMultilocular),
            "11.0",
            "4B",
            "cyst-growing-or-more-complex",
        ),
        row(
            "cyst increased loculation",
            cyst(CystFeature::IncreasedLoculationOrOpacity),
            "11.0",
            "4B",
            "cyst-growing-or-more-complex",
        ),
        // Airway nodules.
        row(
            "airway subsegmental baseline",
            at(
                solid("5.0", "4.0"),
                Location::Airway(AirwayLevel::Subsegmental),
            ),
            "4.5",
            "2",
            "airway-subsegmental",
        ),
        row(
            "airway segmental baseline",
            at(
                solid("5.0", "4.0"),
                Location::Airway(AirwayLevel::SegmentalOrProximal),
            ),
            "4.5",
            "4A",
            "airway-segmental-baseline-or-new",
        ),
        row(
            "airway segmental new",
            new(at(
                solid("5.0", "4.0"),
                Location::Airway(AirwayLevel::SegmentalOrProximal),
            )),
            "4.5",
            "4A",
            "airway-segmental-baseline-or-new",
        ),
        row(
            "airway segmental persistent at 3 months",
            seen(
                at(
                    solid("5.0", "4.0"),
                    Location::Airway(AirwayLevel::SegmentalOrProximal),
                ),
                &[(3, "4.5", None, Some("4A"))],
            ),
            "4.5",
            "4B",
            "airway-segmental-persistent",
        ),
        // Juxtapleural: < 10 mm typical is 2; 10.0 or atypical falls to the solid table.
        row(
            "juxtapleural lentiform 9.5 x 6",
            at(solid("9.5", "6.0"), TYPICAL_JUXTAPLEURAL),
            "7.8",
            "2",
            "juxtapleural-typical-lt10",
        ),
        row(
            "juxtapleural 9.9",
            at(solid("10.0", "9.8"), TYPICAL_JUXTAPLEURAL),
            "9.9",
            "2",
            "juxtapleural-typical-lt10",
        ),
        row(
            "juxtapleural 10.0",
            at(solid("10.2", "9.8"), TYPICAL_JUXTAPLEURAL),
            "10.0",
            "4A",
            "solid-baseline-8-15",
        ),
        row(
            "juxtapleural new 9.9",
            new(at(solid("10.0", "9.8"), TYPICAL_JUXTAPLEURAL)),
            "9.9",
            "2",
            "juxtapleural-typical-lt10",
        ),
        row(
            "juxtapleural irregular 7.8",
            at(
                solid("9.5", "6.0"),
                Location::Juxtapleural {
                    smooth_margins: false,
                    benign_shape: true,
                },
            ),
            "7.8",
            "3",
            "solid-baseline-6-8",
        ),
        // Solid at baseline: 5.9/6.0, 7.9/8.0, 14.9/15.0.
        row(
            "solid baseline 5.9",
            solid("6.0", "5.8"),
            "5.9",
            "2",
            "solid-baseline-lt6",
        ),
        row(
            "solid baseline 6.0",
            solid("6.0", "6.0"),
            "6.0",
            "3",
            "solid-baseline-6-8",
        ),
        row(
            "solid baseline 6.7",
            solid("7.4", "5.9"),
            "6.7",
            "3",
            "solid-baseline-6-8",
        ),
        row(
            "solid baseline 7.9",
            solid("8.0", "7.8"),
            "7.9",
            "3",
            "solid-baseline-6-8",
        ),
        row(
            "solid baseline 8.0",
            solid("8.1", "7.9"),
            "8.0",
            "4A",
            "solid-baseline-8-15",
        ),
        row(
            "solid baseline 14.9",
            solid("15.0", "14.8"),
            "14.9",
            "4A",
            "solid-baseline-8-15",
        ),
        row(
            "solid baseline 15.0",
            solid("16", "14"),
            "15.0",
            "4B",
            "solid-baseline-ge15",
        ),
        // New solid: 3.9/4.0 (the 3.95 half-up boundary), 5.9/6.0, 7.9/8.0.
        row(
            "solid new 3.9",
            new(solid("4.1", "3.7")),
            "3.9",
            "2",
            "solid-new-lt4",
        ),
        row(
            "solid new 3.95 -> 4.0",
            new(solid("4.1", "3.8")),
            "4.0",
            "3",
            "solid-new-4-6",
        ),
        row(
            "solid new 5.9",
            new(solid("6.0", "5.8")),
            "5.9",
            "3",
            "solid-new-4-6",
        ),
        row(
            "solid new 6.0",
            new(solid("6.0", "6.0")),
            "6.0",
            "4A",
            "solid-new-6-8",
        ),
        row(
            "solid new 7.9",
            new(solid("8.0", "7.8")),
            "7.9",
            "4A",
            "solid-new-6-8",
        ),
        row(
            "solid new 8.0",
            new(solid("8.0", "8.0")),
            "8.0",
            "4B",
            "solid-new-ge8",
        ),
        // Growth: > 1.5 mm within 12 months; 1.5 is not growth, 1.6 is.
        row(
            "solid growing 6.8 -> 8.4",
            seen(solid("8.6", "8.2"), &[(12, "6.8", None, Some("3"))]),
            "8.4",
            "4B",
            "solid-growing-ge8",
        ),
        row(
            "solid growing to 7.9",
            seen(solid("8.0", "7.8"), &[(12, "6.3", None, Some("3"))]),
            "7.9",
            "4A",
            "solid-growing-lt8",
        ),
        row(
            "solid growing to 8.0",
            seen(solid("8.0", "8.0"), &[(12, "6.4", None, Some("3"))]),
            "8.0",
            "4B",
            "solid-growing-ge8",
        ),
        row(
            "solid +1.6 mm in 12 months",
            seen(solid("7.0", "6.8"), &[(12, "5.3", None, Some("2"))]),
            "6.9",
            "4A",
            "solid-growing-lt8",
        ),
        row(
            "solid +1.5 mm: not growth, crossed 6 mm",
            seen(solid("7.0", "6.8"), &[(12, "5.4", None, Some("2"))]),
            "6.9",
            "3",
            "solid-baseline-6-8",
        ),
        row(
            "solid +1.4 mm 5.6 -> 7.0: crossed 6 mm",
            seen(solid("7.0", "7.0"), &[(12, "5.6", None, Some("2"))]),
            "7.0",
            "3",
            "solid-baseline-6-8",
        ),
        row(
            "solid +1.9 mm over 13 months: not growth",
            seen(solid("7.0", "6.8"), &[(13, "5.0", None, Some("2"))]),
            "6.9",
            "3",
            "solid-baseline-6-8",
        ),
        row(
            "solid slow growth over 3 exams",
            seen(
                solid("6.6", "6.6"),
                &[(24, "5.0", None, Some("2")), (12, "5.8", None, Some("2"))],
            ),
            "6.6",
            "4B",
            "solid-or-part-solid-slow-growth",
        ),
        // Stable: stepped management.
        row(
            "solid 3 stable at 6 months",
            seen(solid("7.0", "6.0"), &[(6, "6.5", None, Some("3"))]),
            "6.5",
            "2",
            "stepped-down-3-to-2",
        ),
        row(
            "solid 4A stable at 3 months",
            seen(solid("9.0", "9.0"), &[(3, "9.0", None, Some("4A"))]),
            "9.0",
            "3",
            "stepped-down-4A-to-3",
        ),
        row(
            "solid 4A stable but reaching 15 mm",
            seen(solid("15.0", "15.0"), &[(3, "14.0", None, Some("4A"))]),
            "15.0",
            "4B",
            "solid-baseline-ge15",
        ),
        row(
            "solid 2 stable",
            seen(solid("4.0", "4.0"), &[(12, "4.0", None, Some("2"))]),
            "4.0",
            "2",
            "stable-keeps-category",
        ),
        row(
            "solid 4B stable",
            seen(solid("16.0", "16.0"), &[(3, "16.0", None, Some("4B"))]),
            "16.0",
            "4B",
            "stable-4B-keeps-category",
        ),
        row(
            "solid stable, prior category unknown",
            seen(solid("7.0", "7.0"), &[(12, "7.0", None, None)]),
            "7.0",
            "3",
            "solid-baseline-6-8",
        ),
        // Part-solid at baseline: total 5.9/6.0; solid component 5.9/6.0, 7.9/8.0.
        row(
            "part-solid baseline total 5.9 (solid component unmeasured)",
            nodule(
                "6.0",
                "5.8",
                Attenuation::PartSolid {
                    solid_component: None,
                },
            ),
            "5.9",
            "2",
            "part-solid-baseline-lt6",
        ),
        row(
            "part-solid baseline total 6.0 solid 5.9",
            part_solid("6.0", "6.0", "5.9"),
            "6.0",
            "3",
            "part-solid-baseline-solid-lt6",
        ),
        row(
            "part-solid baseline total 7 solid 5",
            part_solid("7.0", "7.0", "5.0"),
            "7.0",
            "3",
            "part-solid-baseline-solid-lt6",
        ),
        row(
            "part-solid baseline solid 6.0",
            part_solid("10.0", "10.0", "6.0"),
            "10.0",
            "4A",
            "part-solid-baseline-solid-6-8",
        ),
        row(
            "part-solid baseline total 10 solid 7",
            part_solid("10.0", "10.0", "7.0"),
            "10.0",
            "4A",
            "part-solid-baseline-solid-6-8",
        ),
        row(
            "part-solid baseline solid 7.9",
            part_solid("10.0", "10.0", "7.9"),
            "10.0",
            "4A",
            "part-solid-baseline-solid-6-8",
        ),
        row(
            "part-solid baseline solid 8.0",
            part_solid("10.0", "10.0", "8.0"),
            "10.0",
            "4B",
            "part-solid-baseline-solid-ge8",
        ),
        // New part-solid: total < 6 is 3; solid component 3.9/4.0.
        row(
            "part-solid new total 5.9",
            new(part_solid("6.0", "5.8", "2.0")),
            "5.9",
            "3",
            "part-solid-new-lt6",
        ),
        row(
            "part-solid new total 9 solid 3.9",
            new(part_solid("9.0", "9.0", "3.9")),
            "9.0",
            "4A",
            "part-solid-new-or-growing-solid-lt4",
        ),
        row(
            "part-solid new total 9 solid 4.0",
            new(part_solid("9.0", "9.0", "4.0")),
            "9.0",
            "4B",
            "part-solid-new-or-growing-solid-ge4",
        ),
        // Growing part-solid: by its solid component.
        row(
            "part-solid solid component +1.6 to 3.6",
            seen(
                part_solid("10.0", "10.0", "3.6"),
                &[(12, "10.0", Some("2.0"), Some("3"))],
            ),
            "10.0",
            "4A",
            "part-solid-new-or-growing-solid-lt4",
        ),
        row(
            "part-solid solid component +1.6 to 4.6",
            seen(
                part_solid("10.0", "10.0", "4.6"),
                &[(12, "10.0", Some("3.0"), Some("3"))],
            ),
            "10.0",
            "4B",
            "part-solid-new-or-growing-solid-ge4",
        ),
        row(
            "part-solid new solid component 4.6 in a prior GGN",
            seen(
                part_solid("10.0", "10.0", "4.6"),
                &[(12, "10.0", None, Some("2"))],
            ),
            "10.0",
            "4B",
            "part-solid-new-or-growing-solid-ge4",
        ),
        row(
            "part-solid solid component +1.5: stable, stepped down",
            seen(
                part_solid("10.0", "10.0", "4.5"),
                &[(6, "10.0", Some("3.0"), Some("3"))],
            ),
            "10.0",
            "2",
            "stepped-down-3-to-2",
        ),
        row(
            "part-solid slow growth of the solid component",
            seen(
                part_solid("10.0", "10.0", "3.6"),
                &[
                    (24, "10.0", Some("2.0"), Some("3")),
                    (12, "10.0", Some("2.8"), Some("3")),
                ],
            ),
            "10.0",
            "4B",
            "solid-or-part-solid-slow-growth",
        ),
        // Ground-glass: 29.9/30.0.
        row(
            "GGN baseline 22.5",
            ggn("25", "20"),
            "22.5",
            "2",
            "ggn-lt30",
        ),
        row(
            "GGN baseline 29.9",
            ggn("30.0", "29.8"),
            "29.9",
            "2",
            "ggn-lt30",
        ),
        row(
            "GGN baseline 30.0",
            ggn("30.0", "30.0"),
            "30.0",
            "3",
            "ggn-ge30-baseline-or-new",
        ),
        row(
            "GGN new 31.0",
            new(ggn("32", "30")),
            "31.0",
            "3",
            "ggn-ge30-baseline-or-new",
        ),
        row(
            "GGN new 29.9",
            new(ggn("30.0", "29.8")),
            "29.9",
            "2",
            "ggn-lt30",
        ),
        row(
            "GGN growing below 30",
            seen(ggn("23.0", "21.0"), &[(12, "20.0", None, Some("2"))]),
            "22.0",
            "2",
            "ggn-lt30",
        ),
        row(
            "GGN >= 30 stable",
            seen(ggn("31.0", "31.0"), &[(12, "31.0", None, Some("3"))]),
            "31.0",
            "2",
            "ggn-ge30-stable-or-slowly-growing",
        ),
        row(
            "GGN >= 30 slowly growing",
            seen(
                ggn("31.6", "31.6"),
                &[(24, "30.0", None, Some("3")), (12, "30.8", None, Some("2"))],
            ),
            "31.6",
            "2",
            "ggn-ge30-stable-or-slowly-growing",
        ),
        row(
            "GGN >= 30 growing",
            seen(ggn("32.0", "32.0"), &[(12, "30.0", None, Some("2"))]),
            "32.0",
            "3",
            "ggn-ge30-growing",
        ),
        // 4X: only categories 3 and 4 are upgraded.
        row(
            "solid 9 mm spiculated",
            suspicious(solid("9.0", "9.0")),
            "9.0",
            "4X",
            "4X-additional-features",
        ),
        row(
            "solid 6.5 mm spiculated",
            suspicious(solid("7.0", "6.0")),
            "6.5",
            "4X",
            "4X-additional-features",
        ),
        row(
            "solid 5 mm spiculated stays 2",
            suspicious(solid("5.0", "5.0")),
            "5.0",
            "2",
            "solid-baseline-lt6",
        ),
    ]
}

#[test]
fn lung_rads_every_row_and_boundary() {
    let profile = Profile::lung_rads_2022().unwrap();
    let exercised = check(&profile, &lung_rads_rows());
    assert_all_exercised(
        &profile,
        exercised,
        &[
            "incomplete-prior-being-located",
            "incomplete-lungs-not-evaluable",
            "incomplete-infectious-inflammatory",
        ],
    );
}

#[test]
fn lung_rads_statuses() {
    let profile = Profile::lung_rads_2022().unwrap();
    let status = |n: &Nodule| profile.status(n).unwrap();
    assert_eq!(status(&solid("5.0", "5.0")), NoduleStatus::Baseline);
    assert_eq!(status(&new(solid("5.0", "5.0"))), NoduleStatus::New);
    let grown = |prior: &str| seen(solid("7.0", "7.0"), &[(12, prior, None, None)]);
    assert_eq!(status(&grown("5.4")), NoduleStatus::Growing);
    assert_eq!(status(&grown("5.5")), NoduleStatus::Stable);
    assert_eq!(status(&grown("7.5")), NoduleStatus::Stable);
    // Against any measurement within 12 months, not only the last one.
    let twice = |months: u32| {
        seen(
            solid("6.8", "6.8"),
            &[(months, "5.0", None, None), (3, "6.5", None, None)],
        )
    };
    assert_eq!(status(&twice(12)), NoduleStatus::Growing);
    assert_eq!(status(&twice(13)), NoduleStatus::SlowlyGrowing);
    assert_eq!(
        profile.status(&seen(solid("5.0", "5.0"), &[])),
        Err(AssessError::NoPriorMeasurement)
    );
}

#[test]
fn lung_rads_exam_category_is_the_most_suspicious() {
    let profile = Profile::lung_rads_2022().unwrap();
    let none = ExamContext::default();
    let empty = profile.assess_exam(&[], &none).unwrap();
    assert_eq!(
        (empty.category.as_str(), empty.rule.as_str()),
        ("1", "no-findings")
    );
    assert_eq!(
        empty.management,
        "Continue annual screening with LDCT in 12 months."
    );

    let nodules = [
        solid("5.0", "5.0"),
        solid("9.0", "9.0"),
        solid("7.0", "7.0"),
        solid("10.0", "9.0"),
    ];
    let exam = profile.assess_exam(&nodules, &none).unwrap();
    assert_eq!(exam.category, "4A");
    assert_eq!(exam.most_suspicious, Some(1));
    assert!(exam.management.starts_with("3-month LDCT"));
    let categories: Vec<_> = exam.nodules.iter().map(|n| n.category.as_str()).collect();
    assert_eq!(categories, ["2", "4A", "3", "4A"]);

    // S modifier.
    let with_s = ExamContext {
        other_significant_findings: true,
        ..none
    };
    let exam = profile
        .assess_exam(&[solid("5.0", "5.0")], &with_s)
        .unwrap();
    assert_eq!(exam.label(), "2S");

    // Category 0: overrides a negative screen (1 or 2), not a positive one.
    let incomplete = |reason| ExamContext {
        incomplete: Some(reason),
        ..none
    };
    let exam = profile
        .assess_exam(&[], &incomplete(IncompleteReason::PriorBeingLocated))
        .unwrap();
    assert_eq!(
        (exam.category.as_str(), exam.rule.as_str()),
        ("0", "incomplete-prior-being-located")
    );
    assert!(
        exam.management
            .starts_with("Additional lung cancer screening CT images")
    );
    let exam = profile
        .assess_exam(
            &[solid("5.0", "5.0")],
            &incomplete(IncompleteReason::LungsNotEvaluable),
        )
        .unwrap();
    assert_eq!(
        (exam.category.as_str(), exam.rule.as_str()),
        ("0", "incomplete-lungs-not-evaluable")
    );
    assert_eq!(exam.most_suspicious, None);
    let exam = profile
        .assess_exam(
            &[solid("5.0", "5.0")],
            &incomplete(IncompleteReason::InfectiousOrInflammatory),
        )
        .unwrap();
    assert_eq!(
        (exam.category.as_str(), exam.management.as_str()),
        ("0", "LDCT in 1-3 months.")
    );
    let exam = profile
        .assess_exam(
            &[solid("9.0", "9.0")],
            &incomplete(IncompleteReason::PriorBeingLocated),
        )
        .unwrap();
    assert_eq!(
        (exam.category.as_str(), exam.most_suspicious),
        ("4A", Some(0))
    );
}

#[test]
fn lung_rads_refuses_what_it_cannot_categorise() {
    let profile = Profile::lung_rads_2022().unwrap();
    let unmeasured = nodule(
        "10.0",
        "10.0",
        Attenuation::PartSolid {
            solid_component: None,
        },
    );
    let err = profile
        .assess_exam(&[solid("5.0", "5.0"), unmeasured], &ExamContext::default())
        .unwrap_err();
    let AssessError::Nodule { index, source } = err else {
        panic!("expected a nodule error, got {err:?}")
    };
    assert_eq!(index, 1);
    assert_eq!(
        *source,
        AssessError::MissingSolidComponent {
            profile: "lung-rads-2022".into(),
            rule: "part-solid-baseline-solid-lt6".into()
        }
    );
}

fn fleischner_row(
    label: &'static str,
    nodule: Nodule,
    multiple: bool,
    risk: Option<Risk>,
    mean: &'static str,
    category: &'static str,
    rule: &'static str,
) -> Row {
    Row {
        label,
        nodule,
        multiple,
        risk,
        mean,
        category,
        rule,
    }
}

#[test]
fn fleischner_every_row_and_boundary() {
    use Risk::{High, Low};
    let profile = Profile::fleischner_2017().unwrap();
    let f = fleischner_row;
    let calcified = BenignFeature::Calcification(CalcificationPattern::Complete);
    let rows = vec![
        f(
            "calcified 12 mm",
            benign(solid("12.0", "12.0"), calcified),
            false,
            Some(High),
            "12.0",
            "no-follow-up",
            "benign-calcification-or-fat",
        ),
        // Solid, single, low risk: whole-mm rounding; 5.4 -> 5, 5.5 -> 6, 8.4 -> 8, 8.5 -> 9.
        f(
            "solid single low 5.4",
            solid("5.6", "5.2"),
            false,
            Some(Low),
            "5.0",
            "no-follow-up",
            "solid-lt6-low-risk",
        ),
        f(
            "solid single low 5.5",
            solid("5.6", "5.4"),
            false,
            Some(Low),
            "6.0",
            "ct-6-12mo-consider-18-24mo",
            "solid-single-6-8-low-risk",
        ),
        f(
            "solid single low 8.4",
            solid("8.6", "8.2"),
            false,
            Some(Low),
            "8.0",
            "ct-6-12mo-consider-18-24mo",
            "solid-single-6-8-low-risk",
        ),
        f(
            "solid single low 8.5",
            solid("8.6", "8.4"),
            false,
            Some(Low),
            "9.0",
            "consider-ct-3mo-pet-biopsy",
            "solid-single-gt8",
        ),
        // Solid, single, high risk.
        f(
            "solid single high 5.4",
            solid("5.6", "5.2"),
            false,
            Some(High),
            "5.0",
            "optional-ct-12mo",
            "solid-lt6-high-risk",
        ),
        f(
            "solid single high 6",
            solid("6.0", "6.0"),
            false,
            Some(High),
            "6.0",
            "ct-6-12mo-then-18-24mo",
            "solid-single-6-8-high-risk",
        ),
        f(
            "solid single high 8.4",
            solid("8.6", "8.2"),
            false,
            Some(High),
            "8.0",
            "ct-6-12mo-then-18-24mo",
            "solid-single-6-8-high-risk",
        ),
        f(
            "solid single high 8.5",
            solid("8.6", "8.4"),
            false,
            Some(High),
            "9.0",
            "consider-ct-3mo-pet-biopsy",
            "solid-single-gt8",
        ),
        // Solid, multiple.
        f(
            "solid multiple low 5.4",
            solid("5.6", "5.2"),
            true,
            Some(Low),
            "5.0",
            "no-follow-up",
            "solid-lt6-low-risk",
        ),
        f(
            "solid multiple high 5.4",
            solid("5.6", "5.2"),
            true,
            Some(High),
            "5.0",
            "optional-ct-12mo",
            "solid-lt6-high-risk",
        ),
        f(
            "solid multiple low 5.5",
            solid("5.6", "5.4"),
            true,
            Some(Low),
            "6.0",
            "ct-3-6mo-consider-18-24mo",
            "solid-multiple-ge6-low-risk",
        ),
        f(
            "solid multiple low 12",
            solid("12.0", "12.0"),
            true,
            Some(Low),
            "12.0",
            "ct-3-6mo-consider-18-24mo",
            "solid-multiple-ge6-low-risk",
        ),
        f(
            "solid multiple high 7",
            solid("7.0", "7.0"),
            true,
            Some(High),
            "7.0",
            "ct-3-6mo-then-18-24mo",
            "solid-multiple-ge6-high-risk",
        ),
        f(
            "solid multiple high 12",
            solid("12.0", "12.0"),
            true,
            Some(High),
            "12.0",
            "ct-3-6mo-then-18-24mo",
            "solid-multiple-ge6-high-risk",
        ),
        // Subsolid: no risk needed.
        f(
            "GGN single 5.4",
            ggn("5.6", "5.2"),
            false,
            None,
            "5.0",
            "no-follow-up",
            "subsolid-single-lt6",
        ),
        f(
            "GGN single 5.5",
            ggn("5.6", "5.4"),
            false,
            None,
            "6.0",
            "ct-6-12mo-then-2y-to-5y",
            "ggn-single-ge6",
        ),
        f(
            "part-solid single 5.4",
            nodule(
                "5.6",
                "5.2",
                Attenuation::PartSolid {
                    solid_component: None,
                },
            ),
            false,
            None,
            "5.0",
            "no-follow-up",
            "subsolid-single-lt6",
        ),
        f(
            "part-solid single 7 solid 5.4",
            part_solid("7.0", "7.0", "5.4"),
            false,
            None,
            "7.0",
            "ct-3-6mo-then-annual-5y",
            "part-solid-single-ge6-solid-lt6",
        ),
        f(
            "part-solid single 9 solid 5.5",
            part_solid("9.0", "9.0", "5.5"),
            false,
            None,
            "9.0",
            "part-solid-highly-suspicious",
            "part-solid-single-solid-6-8",
        ),
        f(
            "part-solid single 12 solid 8.4",
            part_solid("12.0", "12.0", "8.4"),
            false,
            None,
            "12.0",
            "part-solid-highly-suspicious",
            "part-solid-single-solid-6-8",
        ),
        f(
            "part-solid single 12 solid 8.5",
            part_solid("12.0", "12.0", "8.5"),
            false,
            None,
            "12.0",
            "pet-biopsy-resection",
            "part-solid-single-solid-gt8",
        ),
        f(
            "GGN multiple 5.4",
            ggn("5.6", "5.2"),
            true,
            None,
            "5.0",
            "ct-3-6mo-consider-2y-4y",
            "subsolid-multiple-lt6",
        ),
        f(
            "part-solid multiple 5.5",
            part_solid("5.6", "5.4", "2.0"),
            true,
            None,
            "6.0",
            "ct-3-6mo-most-suspicious",
            "subsolid-multiple-ge6",
        ),
    ];
    let exercised = check(&profile, &rows);
    assert_all_exercised(&profile, exercised, &[]);
}

#[test]
fn fleischner_exam_and_refusals() {
    let profile = Profile::fleischner_2017().unwrap();
    let low = ExamContext {
        risk: Some(Risk::Low),
        ..ExamContext::default()
    };
    let exam = profile
        .assess_exam(&[solid("5.0", "5.0"), ggn("8.0", "8.0")], &low)
        .unwrap();
    assert_eq!(
        (exam.category.as_str(), exam.most_suspicious),
        ("ct-3-6mo-most-suspicious", Some(1))
    );
    let exam = profile.assess_exam(&[], &low).unwrap();
    assert_eq!(exam.category, "no-follow-up");
    // A calcified granuloma beside a 7 mm solid nodule leaves it single.
    let granuloma = benign(
        solid("4.0", "4.0"),
        BenignFeature::Calcification(CalcificationPattern::Complete),
    );
    let exam = profile
        .assess_exam(&[granuloma.clone(), solid("7.0", "7.0")], &low)
        .unwrap();
    assert_eq!(
        (exam.category.as_str(), exam.most_suspicious),
        ("ct-6-12mo-consider-18-24mo", Some(1))
    );
    let exam = profile
        .assess_exam(&[solid("5.0", "5.0"), solid("7.0", "7.0")], &low)
        .unwrap();
    assert_eq!(exam.category, "ct-3-6mo-consider-18-24mo");
    // Solid nodules need the patient's risk; subsolid ones do not.
    let err = profile
        .assess_nodule(&solid("7.0", "7.0"), &ExamContext::default(), false)
        .unwrap_err();
    assert_eq!(
        err,
        AssessError::MissingRisk {
            profile: "fleischner-2017".into(),
            rule: "solid-single-6-8-low-risk".into()
        }
    );
    // Fleischner has neither an S modifier nor an incomplete category.
    let s = ExamContext {
        other_significant_findings: true,
        ..low
    };
    assert!(matches!(
        profile.assess_exam(&[], &s),
        Err(AssessError::NoSModifier { .. })
    ));
    let incomplete = ExamContext {
        incomplete: Some(IncompleteReason::LungsNotEvaluable),
        ..low
    };
    assert!(matches!(
        profile.assess_exam(&[], &incomplete),
        Err(AssessError::IncompleteNotInProfile { .. })
    ));
}

const MINIMAL: &str = r#"
id = "test"
name = "Test"
citation = "a test"
mean_diameter_precision = "whole-mm"
growth_mm = 1.5
growth_window_months = 12
no_findings_category = "low"

[[category]]
code = "low"
descriptor = "Low"
management = "Nothing."

[[category]]
code = "high"
descriptor = "High"
management = "Something."
"#;

/// What a refused profile's error must look like.
type Expect = fn(&ProfileError) -> bool;

fn with_rule(rule: &str) -> Result<Profile, ProfileError> {
    Profile::from_toml("test.toml", &format!("{MINIMAL}\n[[rule]]\n{rule}"))
}

#[test]
fn profiles_are_validated_on_load() {
    let good = "id = \"r\"\ncategory = \"high\"\nsource = \"s\"\nwhen = { mean_ge = 6.0 }";
    assert!(with_rule(good).is_ok());
    let cases: &[(&str, Expect)] = &[
        (
            "id = \"r\"\ncategory = \"high\"\nsource = \"s\"\nwhen = { mean_gee = 6.0 }",
            |e| matches!(e, ProfileError::Toml { .. }),
        ),
        (
            "id = \"r\"\ncategory = \"4C\"\nsource = \"s\"",
            |e| matches!(e, ProfileError::UnknownCategory { code, .. } if code == "4C"),
        ),
        (
            "id = \"r\"\ncategory = \"high\"\nsource = \"s\"\nwhen = { prior_category = [\"mid\"] }",
            |e| matches!(e, ProfileError::UnknownCategory { .. }),
        ),
        (
            "id = \"r\"\ncategory = \"high\"\nsource = \"s\"\nwhen = { mean_ge = 5.5 }",
            |e| {
                matches!(
                    e,
                    ProfileError::Threshold {
                        field: "mean_ge",
                        source: None,
                        ..
                    }
                )
            },
        ),
        (
            "id = \"r\"\ncategory = \"high\"\nsource = \"s\"\nwhen = { solid_lt = 5.95 }",
            |e| {
                matches!(
                    e,
                    ProfileError::Threshold {
                        field: "solid_lt",
                        source: Some(_),
                        ..
                    }
                )
            },
        ),
        (
            "id = \"r\"\ncategory = \"high\"\nsource = \"s\"\nwhen = { mean_ge = 8.0, mean_lt = 6.0 }",
            |e| matches!(e, ProfileError::EmptyRange { .. }),
        ),
        (
            "id = \"r\"\ncategory = \"high\"\nsource = \"s\"\nwhen = { mean_ge = 6.0, mean_lt = 6.0 }",
            |e| matches!(e, ProfileError::EmptyRange { .. }),
        ),
        (
            "id = \"r\"\ncategory = \"high\"\nsource = \"s\"\nwhen = { mean_ge = 6.0, mean_gt = 7.0 }",
            |e| matches!(e, ProfileError::EmptyRange { .. }),
        ),
        ("id = \"r\"\ncategory = \"high\"\nsource = \" \"", |e| {
            matches!(e, ProfileError::NoSource { .. })
        }),
        (
            "id = \"r\"\ncategory = \"high\"\nsource = \"s\"\n[[rule]]\nid = \"r\"\ncategory = \"low\"\nsource = \"s\"",
            |e| matches!(e, ProfileError::Duplicate { what: "rule", .. }),
        ),
        (
            "id = \"r\"\ncategory = \"high\"\nsource = \"s\"\n[[category]]\ncode = \"low\"\ndescriptor = \"x\"\nmanagement = \"y\"",
            |e| {
                matches!(
                    e,
                    ProfileError::Duplicate {
                        what: "category",
                        ..
                    }
                )
            },
        ),
    ];
    for (rule, expected) in cases {
        let err = with_rule(rule).unwrap_err();
        assert!(expected(&err), "{rule}: {err:?}");
    }
    assert!(matches!(
        Profile::from_toml("t", MINIMAL),
        Err(ProfileError::Empty { what: "rules", .. })
    ));
    let no_growth = MINIMAL.replace("growth_mm = 1.5", "growth_mm = 0.0");
    assert!(matches!(
        Profile::from_toml("t", &format!("{no_growth}\n[[rule]]\n{good}")),
        Err(ProfileError::Growth { .. })
    ));
    let err = Profile::from_toml("t", "id = 1").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("profile t: not a valid profile"),
        "{err}"
    );
}

/// A third guideline added as data alone: C-Lung-RADS (Nature Medicine 2024;30(11):3184-3195,
/// doi 10.1038/s41591-024-03211-3, Table 1), baseline rows only, as a site would write it.
#[test]
fn a_new_guideline_is_a_toml_file() {
    let c_lung_rads = r#"
id = "c-lung-rads-2024"
name = "C-Lung-RADS (baseline)"
citation = "Nature Medicine 2024;30(11):3184-3195, Table 1"
mean_diameter_precision = "tenth-mm"
growth_mm = 1.5
growth_window_months = 12
no_findings_category = "0"

[[category]]
code = "0"
descriptor = "Negative"
management = "Annual LDCT."
[[category]]
code = "1"
descriptor = "Low risk"
management = "Annual LDCT."
[[category]]
code = "2"
descriptor = "Mid risk"
management = "CT at 6 months."
[[category]]
code = "3"
descriptor = "High risk"
management = "CT at 3 months (HRCT or PET/CT may be considered)."
[[category]]
code = "4"
descriptor = "Extremely high risk"
management = "Immediate clinical assessment."

[[rule]]
id = "calcified"
category = "0"
source = "C-Lung-RADS Table 1: calcifications"
when = { benign = true }
[[rule]]
id = "any-lt6"
category = "1"
source = "C-Lung-RADS Table 1: solid, mGGN or pGGN < 6 mm"
when = { mean_lt = 6.0 }
[[rule]]
id = "solid-6-10"
category = "2"
source = "C-Lung-RADS Table 1: solid >= 6 to < 10 mm"
when = { attenuation = ["solid"], mean_ge = 6.0, mean_lt = 10.0 }
[[rule]]
id = "solid-10-18"
category = "3"
source = "C-Lung-RADS Table 1: solid >= 10 to < 18 mm"
when = { attenuation = ["solid"], mean_ge = 10.0, mean_lt = 18.0 }
[[rule]]
id = "solid-ge18"
category = "4"
source = "C-Lung-RADS Table 1: solid >= 18 mm"
when = { attenuation = ["solid"], mean_ge = 18.0 }
[[rule]]
id = "pggn-6-20"
category = "2"
source = "C-Lung-RADS Table 1: pGGN >= 6 to < 20 mm"
when = { attenuation = ["ground-glass"], mean_ge = 6.0, mean_lt = 20.0 }
[[rule]]
id = "pggn-ge20"
category = "3"
source = "C-Lung-RADS Table 1: pGGN >= 20 mm"
when = { attenuation = ["ground-glass"], mean_ge = 20.0 }
"#;
    let profile = Profile::from_toml("c-lung-rads.toml", c_lung_rads).unwrap();
    let rows = vec![
        row("solid 5.9", solid("6.0", "5.8"), "5.9", "1", "any-lt6"),
        row("solid 9.9", solid("10.0", "9.8"), "9.9", "2", "solid-6-10"),
        row(
            "solid 10.0",
            solid("10.0", "10.0"),
            "10.0",
            "3",
            "solid-10-18",
        ),
        row(
            "solid 18.0",
            solid("18.0", "18.0"),
            "18.0",
            "4",
            "solid-ge18",
        ),
        row("pGGN 19.9", ggn("20.0", "19.8"), "19.9", "2", "pggn-6-20"),
        row("pGGN 20.0", ggn("20.0", "20.0"), "20.0", "3", "pggn-ge20"),
        row(
            "calcified",
            benign(solid("12.0", "12.0"), BenignFeature::Fat),
            "12.0",
            "0",
            "calcified",
        ),
    ];
    let exercised = check(&profile, &rows);
    assert_all_exercised(&profile, exercised, &[]);
    // Its table has no part-solid row of 6 mm or more: refused, not guessed.
    let err = profile
        .assess_nodule(
            &part_solid("8.0", "8.0", "3.0"),
            &ExamContext::default(),
            false,
        )
        .unwrap_err();
    assert_eq!(
        err,
        AssessError::NoRuleHolds {
            profile: "c-lung-rads-2024".into(),
            attenuation: mira_clinical::AttenuationKind::PartSolid,
            status: NoduleStatus::Baseline,
        }
    );
}
