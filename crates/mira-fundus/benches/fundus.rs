//! Fundus analysis time per 4288×2848 photograph, every stage (`cargo bench -p mira-fundus
//! --bench fundus`, release profile; bench/fundus/README.md has the target and results).
//!
//! Each of the first eight IDRiD photographs of the test data is analysed from its file
//! (JPEG decode, QC gradability, field, background, vessels, disc, lesions, screening), round
//! robin, for at least 10 s and 24 runs. Prints the median and mean of the whole and the median
//! of each stage, and what was found, so that a fast wrong answer shows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn testdata() -> PathBuf {
    std::env::var_os("MIRA_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir = testdata().join("fundus/idrid_codras");
    let mut images: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    images.sort();
    images.truncate(8);
    let analyzer = mira_fundus::Analyzer::new();
    let mut totals = Vec::new();
    let mut stages: BTreeMap<String, (usize, Vec<f64>)> = BTreeMap::new();
    let mut results: BTreeMap<String, usize> = BTreeMap::new();
    let mut lesions = 0usize;
    let start = Instant::now();
    let mut i = 0;
    while totals.len() < 24 || start.elapsed() < Duration::from_secs(10) {
        let path = &images[i % images.len()];
        i += 1;
        let t = Instant::now();
        let report = analyzer.analyze_path(path).expect("analysis");
        totals.push(t.elapsed().as_secs_f64() * 1000.0);
        for (order, s) in report.timings.iter().enumerate() {
            let e = stages.entry(s.stage.clone()).or_insert((order, Vec::new()));
            e.1.push(s.ms);
        }
        *results
            .entry(format!("{:?}", report.screening.result).to_lowercase())
            .or_default() += 1;
        lesions += report.lesions.len();
    }
    let n = totals.len();
    let mean = totals.iter().sum::<f64>() / n as f64;
    let sd = (totals.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    let med = median(&mut totals);
    println!(
        "fundus analysis, 4288x2848 JPEG, all stages: median {med:.1} ms, mean {mean:.1} ± {sd:.1} ms ({n} runs over {} photographs; results {results:?}; {:.1} candidates per photograph)",
        images.len(),
        lesions as f64 / n as f64
    );
    let mut ordered: Vec<_> = stages.into_iter().collect();
    ordered.sort_by_key(|(_, (order, _))| *order);
    for (stage, (_, mut ms)) in ordered {
        println!("  {stage:<16} median {:>7.1} ms", median(&mut ms));
    }
    println!(
        "target: <= 1000 ms per photograph: {}",
        if med <= 1000.0 { "met" } else { "NOT met" }
    );
}
