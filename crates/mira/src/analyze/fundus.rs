//! `mira analyze fundus IMAGE...`: lesion candidates and DR screening per photograph, then per
//! eye and patient, as a table or JSON; optional overlays and model.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use mira_fundus::{Analyzer, FundusReport, PatientScreening};
use serde::Serialize;

use crate::config::Config;
use crate::ls::write_table;

#[derive(Debug, clap::Args)]
pub struct FundusArgs {
    /// Photographs: DICOM OP instances, JPEG or PNG (with `NAME.json` beside: patient_id,
    /// laterality R/L, optional acquisition_date).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: crate::Format,
    /// Write an overlay PNG per photograph (disc green, red lesions red, exudates yellow) here.
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// A model manifest (mira-models): a DR classifier or lesion detector.
    #[arg(long)]
    model: Option<PathBuf>,
    /// QC rule overrides (TOML) for gradability.
    #[arg(long)]
    rules: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Output {
    reports: Vec<FundusReport>,
    patients: Vec<PatientScreening>,
    errors: Vec<FileError>,
}

#[derive(Debug, Serialize)]
struct FileError {
    path: String,
    reason: String,
}

pub async fn run(_config: Config, args: FundusArgs) -> anyhow::Result<ExitCode> {
    let mut analyzer = Analyzer::new();
    if let Some(path) = &args.rules {
        analyzer = analyzer.with_rules(
            mira_qc::RuleSet::load_with_overrides(path)
                .with_context(|| format!("rule overrides {}", path.display()))?,
        );
    }
    if let Some(manifest) = &args.model {
        analyzer = analyzer.with_model(manifest)?;
    }
    if let Some(dir) = &args.overlay {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the overlay directory {}", dir.display()))?;
    }
    let images = args.images.clone();
    let overlay = args.overlay.clone();
    let (reports, errors) = tokio::task::spawn_blocking(move || {
        let mut reports = Vec::new();
        let mut errors = Vec::new();
        for path in &images {
            let start = std::time::Instant::now();
            let outcome = mira_fundus::input::read(path).and_then(|photo| {
                let decode_ms = start.elapsed().as_secs_f64() * 1000.0;
                let mut report = analyzer.analyze(&photo)?;
                report.timings.insert(
                    0,
                    mira_fundus::StageTime {
                        stage: "decode".into(),
                        ms: decode_ms,
                    },
                );
                if let Some(dir) = &overlay {
                    let name = path.file_stem().unwrap_or_default().to_string_lossy();
                    mira_fundus::overlay::write(
                        &photo.image,
                        &report,
                        &dir.join(format!("{name}.overlay.png")),
                    )?;
                    report.notes.push(format!(
                        "overlay written to {}",
                        dir.join(format!("{name}.overlay.png")).display()
                    ));
                }
                Ok(report)
            });
            match outcome {
                Ok(r) => reports.push(r),
                Err(e) => errors.push(FileError {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }),
            }
        }
        (reports, errors)
    })
    .await?;
    let patients = mira_fundus::screen_reports(&reports);
    let mut out = std::io::stdout().lock();
    match args.format {
        crate::Format::Json => {
            let output = Output {
                reports,
                patients,
                errors,
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&output)?)?;
            for e in &output.errors {
                eprintln!("mira analyze fundus: {}", e.reason);
            }
            return Ok(exit_code(&output.errors));
        }
        crate::Format::Table => {
            let rows: Vec<Vec<String>> = reports
                .iter()
                .map(|r| {
                    let red = r
                        .lesions
                        .iter()
                        .filter(|l| l.kind == mira_fundus::LesionKind::Red)
                        .count();
                    vec![
                        r.source.path.clone(),
                        r.source.patient_id.clone().unwrap_or_else(|| "-".into()),
                        r.source.laterality.as_str().into(),
                        r.gradability.grade.as_str().into(),
                        r.optic_disc.map_or("-".into(), |d| {
                            format!("({:.0}, {:.0}) r {:.0}", d.centre.0, d.centre.1, d.radius)
                        }),
                        format!("{}/{}", red, r.lesions.len() - red),
                        format!("{:.2}", r.lesion_score),
                        format!("{:?}", r.screening.result).to_lowercase(),
                        format!(
                            "{:.2} {:?}",
                            r.screening.deciding_score, r.screening.certainty
                        )
                        .to_lowercase(),
                    ]
                })
                .collect();
            write_table(
                &mut out,
                &[
                    "image",
                    "patient",
                    "eye",
                    "grade",
                    "disc",
                    "red/bright",
                    "score",
                    "result",
                    "certainty",
                ],
                &rows,
            )?;
            writeln!(out)?;
            let rows: Vec<Vec<String>> = patients
                .iter()
                .map(|p| {
                    vec![
                        p.patient_id.clone().unwrap_or_else(|| "(unknown)".into()),
                        p.eyes
                            .iter()
                            .map(|e| {
                                format!("{}: {:?}", e.laterality.as_str(), e.result).to_lowercase()
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                        p.statement.clone(),
                        p.notes.join("; "),
                    ]
                })
                .collect();
            write_table(&mut out, &["patient", "eyes", "screening", "notes"], &rows)?;
        }
    }
    for e in &errors {
        eprintln!("mira analyze fundus: {}", e.reason);
    }
    Ok(exit_code(&errors))
}

/// 0 when every photograph was analysed, 2 when any could not be (as `mira qc`).
fn exit_code(errors: &[FileError]) -> ExitCode {
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
