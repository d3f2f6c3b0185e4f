//! Diagnostics for the planted 4–6 mm solid nodules of the phantom test (its phantoms, copied
//! from `tests/phantom.rs`): every planted nodule, then for each small solid one the
//! candidates within 8 mm, their scale, response, blobness, segmentation and classical
//! confidence, which shows where a miss is lost (no candidate, blobness screen, segmentation,
//! confidence). `cargo run -p mira-lung --example lung_small_nodules`
use mira_lung::phantom::{self, PhantomSpec, PlantedKind, PlantedNodule, Rng};
use mira_lung::{classical_confidence, detect, grid, lungs, segment, working_factors};

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

fn main() {
    for t in [0.625, 1.0, 1.25, 2.5] {
        for seed in 1..=3u64 {
            let p = phantom::generate(&spec(seed, t, planted(seed)));
            let v = &p.volume;
            let f = working_factors(v);
            let g = grid::downsample(v, f);
            let l = lungs::segment(&g, f, v.row_direction[0] >= 0.0).unwrap();
            let cands = detect::candidates(&g, &l);
            if t == 0.625 {
                for n in &p.nodules {
                    println!(
                        "seed {seed} all: {:.1} {:?} vessel {} at {:?}",
                        n.diameter_mm,
                        n.kind,
                        n.on_vessel,
                        n.centre_mm.map(|v| v.round())
                    );
                }
            }
            for n in &p.nodules {
                if !matches!(n.kind, PlantedKind::Solid) || n.diameter_mm >= 6.0 {
                    continue;
                }
                println!(
                    "slice {t} seed {seed}: planted {:.1} mm vessel {} at {:?}",
                    n.diameter_mm, n.on_vessel, n.centre_mm
                );
                for c in &cands {
                    let centre =
                        [0, 1, 2].map(|a| (c.voxel[a] * f[a] + f[a] / 2).min(v.dims[a] - 1));
                    let q = v.to_patient(centre[0] as f64, centre[1] as f64, centre[2] as f64);
                    let d = (0..3)
                        .map(|a| (q[a] - n.centre_mm[a]).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    if d > 8.0 {
                        continue;
                    }
                    let seg = segment::segment(v, &l, centre, c.radius_mm);
                    let conf = seg.as_ref().map(|s| classical_confidence(c, s));
                    println!(
                        "   cand d {d:.1} r {} resp {:.0} blob {:.2} ev {:?} conf {:?}",
                        c.radius_mm,
                        c.response,
                        c.blobness(),
                        c.eigenvalues.map(|e| e.round()),
                        conf
                    );
                    if let Some(s) = seg {
                        println!(
                            "      seg long {:.1} short {:.1} elong {:.2} mean {:.0} par {:.0} border {} vox {}",
                            s.long_axis_mm,
                            s.short_axis_mm,
                            s.elongation,
                            s.mean_hu,
                            s.parenchyma_hu,
                            s.touches_border,
                            s.voxels
                        );
                    }
                }
            }
        }
    }
}
