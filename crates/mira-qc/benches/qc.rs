//! QC throughput on the real test data (`cargo bench -p mira-qc --bench qc`; see
//! bench/qc/README.md for the targets and recorded results):
//!
//! 1. header QC: parse a PS3.10 file from memory up to the pixel data and run every header
//!    rule, instances per second, over the test data's CT, CR and DX files;
//! 2. fundus gradability: decode a 4288×2848 IDRiD JPEG and grade it, milliseconds;
//! 3. CT completeness: a 300-slice series synthesised from the TotalSegmentator slices'
//!    geometry (same orientation, spacing and attributes), milliseconds.
//!
//! Each prints what it measured and a count of findings, so that a fast wrong answer shows.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mira_qc::header::{Header, Pixels, read_file, read_from};
use mira_qc::instance::Context;
use mira_qc::{RuleSet, Status};

fn testdata() -> PathBuf {
    std::env::var_os("MIRA_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walk(dir);
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs `f` repeatedly for at least `budget`, returns per-run durations.
fn time_runs(budget: Duration, min_runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut runs = Vec::new();
    let start = Instant::now();
    while runs.len() < min_runs || start.elapsed() < budget {
        let t = Instant::now();
        f();
        runs.push(t.elapsed());
    }
    runs
}

fn stats(runs: &mut [Duration]) -> (f64, f64, f64) {
    runs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = runs.iter().map(|d| ms(*d)).sum::<f64>() / runs.len() as f64;
    let sd = (runs.iter().map(|d| (ms(*d) - mean).powi(2)).sum::<f64>() / runs.len() as f64).sqrt();
    (ms(runs[runs.len() / 2]), mean, sd)
}

fn main() {
    let data = testdata();
    if !data.is_dir() {
        eprintln!(
            "test data not found at {} (set MIRA_TESTDATA)",
            data.display()
        );
        std::process::exit(2);
    }
    let rules = RuleSet::default();
    let ctx = Context::now(&rules);

    // 1. header QC
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    for dir in ["ct/totalseg_example_ct", "ct/lctsc_chest_slice", "cxr"] {
        for f in files(&data.join(dir)) {
            let bytes = std::fs::read(&f).unwrap();
            if read_from(&mut Cursor::new(&bytes), Pixels::Skip).is_ok() {
                corpus.push(bytes);
            }
        }
    }
    let mut checked = 0usize;
    let mut findings = 0usize;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        for bytes in &corpus {
            let instance = read_from(&mut Cursor::new(bytes), Pixels::Skip).unwrap();
            let mut checks =
                mira_qc::instance::check_header(&ctx, &instance.object, &instance.header);
            checks.extend(mira_qc::cxr::check_header(&ctx, &instance.header));
            findings += checks.iter().filter(|c| c.status != Status::Pass).count();
            checked += 1;
        }
    }
    let rate = checked as f64 / start.elapsed().as_secs_f64();
    println!(
        "header QC (parse to pixel data + header rules): {rate:.0} instances/s over {} files ({checked} checks, {:.2} findings per instance)",
        corpus.len(),
        findings as f64 / checked as f64
    );
    let parsed: Vec<_> = corpus
        .iter()
        .map(|b| read_from(&mut Cursor::new(b), Pixels::Skip).unwrap())
        .collect();
    let mut n = 0usize;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        for i in &parsed {
            let checks = mira_qc::instance::check_header(&ctx, &i.object, &i.header);
            n += usize::from(!checks.is_empty());
        }
    }
    println!(
        "header rules alone (already parsed): {:.0} instances/s",
        n as f64 / start.elapsed().as_secs_f64()
    );

    // 2. fundus gradability
    let photos: Vec<PathBuf> = files(&data.join("fundus/idrid_codras"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .take(5)
        .collect();
    let jpegs: Vec<Vec<u8>> = photos.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut grades = Vec::new();
    let mut i = 0;
    let mut runs = time_runs(Duration::from_secs(5), 10, || {
        let img = image::load_from_memory(&jpegs[i % jpegs.len()])
            .unwrap()
            .into_rgb8();
        let report = mira_qc::check_photo(&ctx, "bench", &img);
        grades.push(report.grade.unwrap());
        i += 1;
    });
    let (median, mean, sd) = stats(&mut runs);
    let img = image::load_from_memory(&jpegs[0]).unwrap().to_rgb8();
    println!(
        "fundus gradability, {}x{} JPEG decode + check: median {median:.1} ms, mean {mean:.1} ± {sd:.1} ms ({} runs; grades {:?})",
        img.width(),
        img.height(),
        runs.len(),
        grades.iter().collect::<std::collections::BTreeSet<_>>()
    );
    let mut runs = time_runs(Duration::from_secs(3), 10, || {
        let _ = mira_qc::check_photo(&ctx, "bench", &img);
    });
    let (median, mean, sd) = stats(&mut runs);
    println!(
        "  of which the check on decoded pixels: median {median:.1} ms, mean {mean:.1} ± {sd:.1} ms"
    );

    // 3. CT completeness, 300 slices
    let slices: Vec<Header> = files(&data.join("ct/totalseg_example_ct"))
        .iter()
        .map(|f| read_file(f, Pixels::Skip).unwrap().header)
        .collect();
    let first = slices
        .iter()
        .max_by(|a, b| a.image_position.unwrap()[2].total_cmp(&b.image_position.unwrap()[2]))
        .unwrap();
    let mut synthetic: Vec<Header> = (0..300)
        .map(|k| {
            let mut h = first.clone();
            let p = first.image_position.unwrap();
            h.image_position = Some([p[0], p[1], p[2] - 2.0 * k as f64]);
            h.instance_number = Some(k as i64 + 1);
            h
        })
        .collect();
    // arrival order is not position order
    synthetic.reverse();
    synthetic.swap(10, 200);
    let refs: Vec<&Header> = synthetic.iter().collect();
    let mut report = None;
    let mut runs = time_runs(Duration::from_secs(2), 50, || {
        report = Some(mira_qc::ct::check_series(&ctx, "bench", &refs));
    });
    let (median, mean, sd) = stats(&mut runs);
    let report = report.unwrap();
    println!(
        "CT completeness, 300 slices: median {median:.3} ms, mean {mean:.3} ± {sd:.3} ms ({} runs; outcome {}, slices {}, spacing {} mm, thickness {} mm)",
        runs.len(),
        report.outcome().as_str(),
        report.measurements["slice_count"],
        report.measurements["spacing_mm"],
        report.measurements["slice_thickness_mm"]
    );
}
