//! The targets on synthetic chest phantoms (synthetic data with known answers):
//! sensitivity ≥ 95% for solid nodules ≥ 6 mm and ≥ 85% for 4–6 mm at ≤ 1 false positive per
//! scan; mean-diameter error ≤ 0.5 mm for nodules ≥ 4 mm at ≤ 1.25 mm slices; volume error
//! ≤ 10% for ≥ 6 mm; type correct for ≥ 90% of ground-glass and part-solid nodules ≥ 8 mm.
//! The measured figures are printed (`cargo test -p mira-lung --test phantom -- --nocapture`).

use mira_lung::phantom::{self, PhantomSpec, PlantedKind, PlantedNodule, Rng};
use mira_lung::{LungOptions, LungReport, analyze};

/// Pixel spacing of the test phantoms, mm (a 179 mm field of view at 256²).
const PIXEL_MM: f64 = 0.7;
/// z extent of the test phantoms, mm.
const DEPTH_MM: f64 = 64.0;

fn spec(seed: u64, slice_mm: f64, nodules: Vec<PlantedNodule>) -> PhantomSpec {
    PhantomSpec {
        seed,
        dims: [256, 256, (DEPTH_MM / slice_mm).round() as usize],
        pixel_mm: PIXEL_MM,
        slice_mm,
        noise_hu: 30.0,
        vessel_generations: 6,
        nodules,
    }
}

/// Six nodules in fixed slots (three per lung), sizes and kinds drawn from `seed`: two solid
/// 4–6 mm, two solid 6–12 mm (one of each on a vessel), one ground-glass and one part-solid
/// 8–14 mm.
fn planted(seed: u64) -> Vec<PlantedNodule> {
    let mut rng = Rng::new(seed * 7919);
    let lung_x = 0.21 * 256.0 * PIXEL_MM;
    let slots = [
        (-lung_x - 5.0, -22.0, -17.0),
        (-lung_x + 6.0, 0.0, 2.0),
        (-lung_x - 3.0, 20.0, 18.0),
        (lung_x + 5.0, -20.0, 16.0),
        (lung_x - 6.0, 2.0, -2.0),
        (lung_x + 3.0, 21.0, -18.0),
    ];
    let kinds = [
        (rng.range(4.0, 6.0), PlantedKind::Solid, false),
        (rng.range(4.0, 6.0), PlantedKind::Solid, true),
        (rng.range(6.0, 12.0), PlantedKind::Solid, false),
        (rng.range(6.0, 12.0), PlantedKind::Solid, true),
        (
            rng.range(8.0, 14.0),
            PlantedKind::GroundGlass {
                hu: rng.range(-600.0, -350.0) as f32,
            },
            false,
        ),
        (
            rng.range(9.0, 14.0),
            PlantedKind::PartSolid {
                hu: rng.range(-600.0, -400.0) as f32,
                solid_diameter_mm: 0.0,
            },
            false,
        ),
    ];
    // shuffle kinds over slots by the seed
    let offset = (seed as usize) % 6;
    (0..6)
        .map(|i| {
            let (d, mut kind, on_vessel) = kinds[i];
            if let PlantedKind::PartSolid { hu, .. } = kind {
                kind = PlantedKind::PartSolid {
                    hu,
                    solid_diameter_mm: (0.5 * d * 10.0).round() / 10.0,
                };
            }
            let (x, y, z) = slots[(i + offset) % 6];
            PlantedNodule {
                centre_mm: [x, y, z],
                diameter_mm: (d * 10.0).round() / 10.0,
                kind,
                on_vessel,
            }
        })
        .collect()
}

struct Outcome {
    nodule: PlantedNodule,
    slice_mm: f64,
    found: Option<mira_lung::NoduleReport>,
}

fn run(seed: u64, slice_mm: f64) -> (Vec<Outcome>, usize, LungReport) {
    let p = phantom::generate(&spec(seed, slice_mm, planted(seed)));
    // every planted nodule is imaged whole and apart from the others, else the sensitivity
    // counts nodules that are not in the image (or are merged with another) as misses
    let nz = p.volume.dims[2] as f64;
    let (z_first, z_last) = (-(nz - 1.0) / 2.0 * slice_mm, (nz - 1.0) / 2.0 * slice_mm);
    for (i, n) in p.nodules.iter().enumerate() {
        let r = n.diameter_mm / 2.0;
        assert!(
            n.centre_mm[2] - r >= z_first - 1e-6 && n.centre_mm[2] + r <= z_last + 1e-6,
            "seed {seed}, {slice_mm} mm: planted {n:?} is not imaged whole"
        );
        for m in &p.nodules[i + 1..] {
            let d = (0..3)
                .map(|a| (n.centre_mm[a] - m.centre_mm[a]).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(
                d > r + m.diameter_mm / 2.0,
                "seed {seed}, {slice_mm} mm: planted {n:?} and {m:?} overlap"
            );
        }
    }
    let report = analyze(&p.volume, &LungOptions::lung_rads().unwrap(), None).unwrap();
    let mut used = vec![false; report.nodules.len()];
    let mut outcomes = Vec::new();
    for n in &p.nodules {
        let reach = (n.diameter_mm / 2.0).max(3.0);
        let hit = report
            .nodules
            .iter()
            .enumerate()
            .filter(|(i, _)| !used[*i])
            .map(|(i, r)| {
                let d = (0..3)
                    .map(|a| (r.centre_mm[a] - n.centre_mm[a]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                (i, d)
            })
            .filter(|&(_, d)| d <= reach)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, _)) = hit {
            used[i] = true;
        }
        outcomes.push(Outcome {
            nodule: *n,
            slice_mm,
            found: hit.map(|(i, _)| report.nodules[i].clone()),
        });
    }
    let false_positives = used.iter().filter(|u| !**u).count();
    (outcomes, false_positives, report)
}

fn kind_name(k: PlantedKind) -> &'static str {
    match k {
        PlantedKind::Solid => "solid",
        PlantedKind::GroundGlass { .. } => "ground-glass",
        PlantedKind::PartSolid { .. } => "part-solid",
        PlantedKind::Calcified { .. } => "solid",
    }
}

#[test]
fn phantom_targets() {
    let thicknesses = [0.625, 1.0, 1.25, 2.5];
    let seeds = 1..=3u64;
    let mut outcomes = Vec::new();
    let mut fps = Vec::new();
    for &t in &thicknesses {
        for seed in seeds.clone() {
            let (o, fp, report) = run(seed, t);
            eprintln!(
                "slice {t} mm seed {seed}: {} candidates, {} reported, {} FP; timings {:?}",
                report.candidates,
                report.nodules.len(),
                fp,
                report
                    .timings
                    .iter()
                    .map(|s| (s.stage.as_str(), s.ms.round()))
                    .collect::<Vec<_>>()
            );
            for r in &report.nodules {
                if !o
                    .iter()
                    .any(|x| x.found.as_ref().is_some_and(|f| f.id == r.id))
                {
                    eprintln!(
                        "  FP at {:?}: {} mm {} conf {}",
                        r.centre_mm.map(|v| v.round()),
                        r.mean_diameter_mm,
                        r.attenuation,
                        r.confidence
                    );
                }
            }
            outcomes.extend(o);
            fps.push(fp);
        }
    }
    for o in &outcomes {
        let f = o.found.as_ref();
        eprintln!(
            "  {:>5} mm slices: planted {:>12} {:>5.1} mm{} → {}",
            o.slice_mm,
            kind_name(o.nodule.kind),
            o.nodule.diameter_mm,
            if o.nodule.on_vessel { " (vessel)" } else { "" },
            f.map_or("MISSED".to_string(), |f| format!(
                "{} {:.1} mm (long {:.1}, short {:.1}), {} mm³, conf {}",
                f.attenuation,
                f.mean_diameter_mm,
                f.long_axis_mm,
                f.short_axis_mm,
                f.volume_mm3,
                f.confidence
            ))
        );
    }
    let rate = |pred: &dyn Fn(&Outcome) -> bool| {
        let sel: Vec<&Outcome> = outcomes.iter().filter(|o| pred(o)).collect();
        let hit = sel.iter().filter(|o| o.found.is_some()).count();
        (hit, sel.len())
    };
    let solid = |o: &Outcome| matches!(o.nodule.kind, PlantedKind::Solid);
    let (h6, n6) = rate(&|o| solid(o) && o.nodule.diameter_mm >= 6.0);
    let (h4, n4) = rate(&|o| solid(o) && o.nodule.diameter_mm >= 4.0 && o.nodule.diameter_mm < 6.0);
    let fp_per_scan = fps.iter().sum::<usize>() as f64 / fps.len() as f64;
    eprintln!(
        "sensitivity solid ≥ 6 mm: {h6}/{n6} = {:.1}%",
        100.0 * h6 as f64 / n6 as f64
    );
    eprintln!(
        "sensitivity solid 4–6 mm: {h4}/{n4} = {:.1}%",
        100.0 * h4 as f64 / n4 as f64
    );
    eprintln!(
        "false positives per scan: {fp_per_scan:.2} (max {})",
        fps.iter().max().unwrap()
    );
    // diameters at ≤ 1.25 mm slices, nodules ≥ 4 mm (solid: the true mean diameter is the
    // planted diameter; subsolid: too)
    let errors: Vec<f64> = outcomes
        .iter()
        .filter(|o| o.slice_mm <= 1.25 && o.nodule.diameter_mm >= 4.0)
        .filter_map(|o| {
            o.found
                .as_ref()
                .map(|f| (f.mean_diameter_mm - o.nodule.diameter_mm).abs())
        })
        .collect();
    let mean_error = errors.iter().sum::<f64>() / errors.len() as f64;
    let max_error = errors.iter().cloned().fold(0.0, f64::max);
    eprintln!(
        "mean-diameter |error| at ≤ 1.25 mm slices: mean {mean_error:.2} mm, max {max_error:.2} mm, n = {}",
        errors.len()
    );
    let volume_errors: Vec<f64> = outcomes
        .iter()
        .filter(|o| o.nodule.diameter_mm >= 6.0 && o.slice_mm <= 1.25)
        .filter_map(|o| {
            o.found.as_ref().map(|f| {
                let truth = std::f64::consts::PI / 6.0 * o.nodule.diameter_mm.powi(3);
                (f.volume_mm3 as f64 - truth).abs() / truth
            })
        })
        .collect();
    let mean_v = volume_errors.iter().sum::<f64>() / volume_errors.len() as f64;
    let max_v = volume_errors.iter().cloned().fold(0.0, f64::max);
    eprintln!(
        "volume |error| ≥ 6 mm at ≤ 1.25 mm slices: mean {:.1}%, max {:.1}%, n = {}",
        100.0 * mean_v,
        100.0 * max_v,
        volume_errors.len()
    );
    let subsolid: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !solid(o) && o.nodule.diameter_mm >= 8.0)
        .collect();
    let typed = subsolid
        .iter()
        .filter(|o| {
            o.found
                .as_ref()
                .is_some_and(|f| f.attenuation == kind_name(o.nodule.kind))
        })
        .count();
    eprintln!(
        "type correct, subsolid ≥ 8 mm: {typed}/{} = {:.1}%",
        subsolid.len(),
        100.0 * typed as f64 / subsolid.len() as f64
    );
    let solid_typed = outcomes
        .iter()
        .filter(|o| solid(o))
        .filter(|o| o.found.as_ref().is_some_and(|f| f.attenuation == "solid"))
        .count();
    eprintln!(
        "type correct, solid found: {solid_typed}/{}",
        outcomes
            .iter()
            .filter(|o| solid(o) && o.found.is_some())
            .count()
    );
    assert!(
        h6 as f64 >= 0.95 * n6 as f64,
        "sensitivity ≥ 6 mm {h6}/{n6}"
    );
    assert!(
        h4 as f64 >= 0.85 * n4 as f64,
        "sensitivity 4–6 mm {h4}/{n4}"
    );
    assert!(fp_per_scan <= 1.0, "FP/scan {fp_per_scan}");
    assert!(max_error <= 0.5, "mean-diameter error {max_error}");
    assert!(max_v <= 0.10, "volume error {max_v}");
    assert!(
        typed as f64 >= 0.9 * subsolid.len() as f64,
        "type {typed}/{}",
        subsolid.len()
    );
}
