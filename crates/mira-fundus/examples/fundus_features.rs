//! Prints, as JSON lines, every classical candidate of each photograph in a folder with the
//! features it is scored on and the image-wide measures: the material for choosing features
//! and checking them against annotations (`cargo run -p mira-fundus --example fundus_features
//! -- DIR`). `MIRA_FUNDUS_PARAMS="blob_weight=1,red_threshold=0.08"` overrides candidate
//! parameters (blob_weight, red_threshold, bright_threshold, blue_weight) for exploring.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: fundus_features DIR"));
    let mut images: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg" || x == "png"))
        .collect();
    images.sort();
    let mut parameters = mira_fundus::Parameters::default();
    // MIRA_FUNDUS_PARAMS="blob_weight=1,red_threshold=0.08": overrides for exploring
    if let Ok(spec) = std::env::var("MIRA_FUNDUS_PARAMS") {
        for kv in spec.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').expect("name=value");
            let v: f64 = v.parse().expect("a number");
            match k {
                "blob_weight" => parameters.blob_weight = v as f32,
                "red_threshold" => parameters.red_threshold = v as f32,
                "bright_threshold" => parameters.bright_threshold = v as f32,
                "blue_weight" => parameters.blue_weight = v as f32,
                _ => panic!("unknown parameter {k}"),
            }
        }
    }
    for path in images {
        let photo = mira_fundus::input::read(&path).expect("photograph");
        let a = mira_fundus::detect::analyze_pixels(&photo.image, &parameters);
        let candidates: Vec<serde_json::Value> = a
            .lesions
            .iter()
            .zip(&a.candidate_features)
            .map(|(l, f)| serde_json::json!({"lesion": l, "features": f}))
            .collect();
        let line = serde_json::json!({
            "image": path.file_name().unwrap().to_string_lossy(),
            "width": photo.image.width(),
            "height": photo.image.height(),
            "factor": a.factor,
            "disc": a.disc,
            "field": a.field,
            "lesion_score": a.lesion_score,
            "image_features": a.image_features,
            "candidates": candidates,
        });
        println!("{line}");
    }
}
