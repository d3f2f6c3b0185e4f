//! bench/lung: writes a synthetic chest phantom as a DICOM CT series (0.7 mm pixels, 1 mm
//! slices, seven planted nodules), then reads and analyses it three times, printing the time
//! per stage: `lung_bench OUT_DIR [SLICES] [SIZE] [SEED]`.

use mira_lung::phantom::{self, PhantomSpec, PlantedKind, PlantedNodule};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(
        args.next()
            .expect("usage: lung_bench OUT_DIR [SLICES] [SIZE] [SEED]"),
    );
    let slices: usize = args.next().map_or(300, |s| s.parse().expect("SLICES"));
    let size: usize = args.next().map_or(512, |s| s.parse().expect("SIZE"));
    let seed: u64 = args.next().map_or(1, |s| s.parse().expect("SEED"));
    let pixel_mm = 0.7;
    let lung_x = 0.21 * size as f64 * pixel_mm;
    let depth = slices as f64;
    let solid = |x: f64, y: f64, z: f64, d: f64| PlantedNodule {
        centre_mm: [x, y, z * depth / 2.0],
        diameter_mm: d,
        kind: PlantedKind::Solid,
        on_vessel: false,
    };
    let mut nodules = vec![
        solid(-lung_x, -30.0, -0.5, 5.0),
        solid(-lung_x + 10.0, 20.0, 0.1, 8.0),
        solid(lung_x, -25.0, 0.4, 6.0),
        solid(lung_x - 8.0, 35.0, -0.2, 12.0),
        solid(-lung_x - 12.0, 10.0, 0.6, 4.5),
    ];
    nodules.push(PlantedNodule {
        kind: PlantedKind::GroundGlass { hu: -500.0 },
        ..solid(lung_x + 10.0, 0.0, -0.6, 10.0)
    });
    nodules.push(PlantedNodule {
        kind: PlantedKind::PartSolid {
            hu: -500.0,
            solid_diameter_mm: 6.0,
        },
        ..solid(-lung_x + 5.0, -10.0, -0.3, 14.0)
    });
    let spec = PhantomSpec {
        seed,
        dims: [size, size, slices],
        pixel_mm,
        slice_mm: 1.0,
        noise_hu: 30.0,
        vessel_generations: 7,
        nodules,
    };
    let start = std::time::Instant::now();
    let p = phantom::generate(&spec);
    eprintln!(
        "generated {size}×{size}×{slices} in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    phantom::write_series(&p.volume, &out, "2.25.1001", "2.25.1001.1", "PHANTOM")
        .expect("write series");
    for n in &p.nodules {
        eprintln!(
            "planted {:?} {:.1} mm at {:?}",
            n.kind,
            n.diameter_mm,
            n.centre_mm.map(|v| v.round())
        );
    }
    drop(p);
    let options = mira_lung::LungOptions::lung_rads().expect("profile");
    for run in 1..=3 {
        let start = std::time::Instant::now();
        let files = mira_lung::Volume::files_in(&out).expect("list");
        let volume = mira_lung::Volume::from_paths(&files).expect("volume");
        let read_ms = start.elapsed().as_secs_f64() * 1000.0;
        let report = mira_lung::analyze(&volume, &options, None).expect("analyze");
        let total = start.elapsed().as_secs_f64();
        let stages: Vec<String> = std::iter::once(format!("read {read_ms:.0} ms"))
            .chain(
                report
                    .timings
                    .iter()
                    .map(|t| format!("{} {:.0} ms", t.stage, t.ms)),
            )
            .collect();
        println!(
            "run {run}: {total:.2} s total ({}); {} candidates, {} nodules, Lung-RADS {}",
            stages.join(", "),
            report.candidates,
            report.nodules.len(),
            report.exam.label
        );
        if run == 1 {
            for n in &report.nodules {
                println!(
                    "  found {} {:.1} mm at {:?} conf {}",
                    n.attenuation,
                    n.mean_diameter_mm,
                    n.centre_mm.map(|v| v.round()),
                    n.confidence
                );
            }
        }
    }
}
