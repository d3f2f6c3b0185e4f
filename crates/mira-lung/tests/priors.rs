//! Priors: a follow-up phantom of the same chest in which one nodule grew by more than 1.5 mm,
//! one stayed, one resolved and one is new; and the 3.95 mm rounding boundary of the mean
//! diameter through mira-clinical.

use mira_clinical::{ExamContext, History, Nodule, Precision, Profile};
use mira_lung::phantom::{self, PhantomSpec, PlantedKind, PlantedNodule};
use mira_lung::{LungOptions, PriorStudy, analyze, clinical_size};

fn solid(x: f64, y: f64, z: f64, d: f64) -> PlantedNodule {
    PlantedNodule {
        centre_mm: [x, y, z],
        diameter_mm: d,
        kind: PlantedKind::Solid,
        on_vessel: false,
    }
}

fn chest(nodules: Vec<PlantedNodule>) -> phantom::Phantom {
    phantom::generate(&PhantomSpec {
        seed: 21,
        dims: [256, 256, 56],
        pixel_mm: 0.7,
        slice_mm: 1.0,
        noise_hu: 25.0,
        vessel_generations: 6,
        nodules,
    })
}

#[test]
fn growth_new_stable_and_resolved_against_a_prior() {
    let x = 0.21 * 256.0 * 0.7;
    let prior = chest(vec![
        solid(-x, -15.0, -10.0, 6.0),
        solid(x, 10.0, 8.0, 7.0),
        solid(x + 3.0, -20.0, -12.0, 8.0),
    ]);
    let current = chest(vec![
        solid(-x, -15.0, -10.0, 8.5),
        solid(x, 10.0, 8.0, 7.0),
        solid(-x + 3.0, 18.0, 12.0, 6.5),
    ]);
    let options = LungOptions::lung_rads().unwrap();
    let prior_report = analyze(&prior.volume, &options, None).unwrap();
    assert_eq!(prior_report.nodules.len(), 3, "{:?}", prior_report.nodules);
    let study = PriorStudy {
        report: prior_report.clone(),
        months_before: 12,
    };
    let report = analyze(&current.volume, &options, Some(&study)).unwrap();
    let at = |r: &mira_lung::LungReport, p: [f64; 3]| {
        r.nodules
            .iter()
            .find(|n| {
                (0..3)
                    .map(|a| (n.centre_mm[a] - p[a]).powi(2))
                    .sum::<f64>()
                    .sqrt()
                    < 4.0
            })
            .cloned()
            .unwrap_or_else(|| panic!("no nodule at {p:?}"))
    };
    let grown = at(&report, [-x, -15.0, -10.0]);
    let stable = at(&report, [x, 10.0, 8.0]);
    let new = at(&report, [-x + 3.0, 18.0, 12.0]);
    for n in [&grown, &stable, &new] {
        eprintln!(
            "{} mm: status {}, category {}, prior {:?}",
            n.mean_diameter_mm, n.status, n.category, n.prior
        );
    }
    assert_eq!(grown.status, "growing");
    assert!(grown.prior.as_ref().unwrap().growth_mm > 1.5);
    assert_eq!(stable.status, "stable");
    assert_eq!(new.status, "new");
    let resolved = at(&prior_report, [x + 3.0, -20.0, -12.0]);
    assert_eq!(report.prior_nodules_not_found, vec![resolved.id]);
    assert_eq!(report.prior.as_ref().unwrap().months_before, 12);
    eprintln!("exam {}: {}", report.exam.label, report.exam.management);
    // Lung-RADS v2022: a growing solid nodule of 8.5 mm → 4B? no: growing < 8 mm is 4A, ≥ 8 mm 4B
    assert!(
        ["4A", "4B"].contains(&report.exam.category.as_str()),
        "{}",
        report.exam.category
    );
}

#[test]
fn mean_diameter_rounds_half_up_at_3_95_mm() {
    let lung_rads = Profile::lung_rads_2022().unwrap();
    let mean = |long: f64, short: f64| {
        clinical_size(long, short)
            .mean_diameter(Precision::TenthMm)
            .to_string()
    };
    assert_eq!(mean(4.3, 3.6), "4.0"); // 3.95 exactly → 4.0
    assert_eq!(mean(4.3, 3.5), "3.9");
    assert_eq!(mean(4.34, 3.56), "4.0"); // axes round first: 4.3 and 3.6
    assert_eq!(mean(4.35, 3.55), "4.0"); // 4.4 and 3.6
    let category = |long: f64, short: f64| {
        let mut n = Nodule::baseline(
            clinical_size(long, short),
            mira_clinical::Attenuation::Solid,
        );
        n.history = History::New;
        lung_rads
            .assess_exam(&[n], &ExamContext::default())
            .unwrap()
            .category
    };
    // a new solid nodule: < 4 mm is category 2, 4 mm to < 6 mm category 3
    assert_eq!(category(4.3, 3.6), "3");
    assert_eq!(category(4.3, 3.5), "2");
}
