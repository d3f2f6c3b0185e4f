//! `mira analyze lung SERIES_DIR [--prior DIR] [--profile …] [--model MANIFEST]`: one CT
//! series analysed offline. Exit codes as `mira qc`: 0 analysed, 2 cannot analyse (the
//! message names the file and the reason).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use mira_clinical::{Profile, Risk};
use mira_lung::{LungOptions, LungReport, PriorStudy, Volume, analyze};

#[derive(Debug, clap::Args)]
pub struct LungArgs {
    /// Folder holding the files of one CT series.
    series_dir: PathBuf,
    /// Folder holding the prior CT series of the same patient, for growth and status.
    #[arg(long)]
    prior: Option<PathBuf>,
    /// Months between the prior and this study (default: from the Study Dates).
    #[arg(long, requires = "prior")]
    months: Option<u32>,
    /// Guideline profile.
    #[arg(long, value_enum, default_value = "lung-rads-2022")]
    profile: ProfileName,
    /// Patient risk, for Fleischner 2017.
    #[arg(long, value_enum)]
    risk: Option<RiskLevel>,
    /// Manifest (mira-models) of a candidate classifier used in place of the classical
    /// false-positive reduction.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: crate::Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ProfileName {
    #[value(name = "lung-rads-2022")]
    LungRads2022,
    #[value(name = "fleischner-2017")]
    Fleischner2017,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RiskLevel {
    Low,
    High,
}

fn read(dir: &Path) -> anyhow::Result<(Volume, f64)> {
    let start = Instant::now();
    let files = Volume::files_in(dir)?;
    let volume = Volume::from_paths(&files)?;
    Ok((volume, start.elapsed().as_secs_f64() * 1000.0))
}

pub async fn run(args: LungArgs) -> anyhow::Result<ExitCode> {
    let result =
        tokio::task::spawn_blocking(move || analyse(&args).map(|r| (r, args.format))).await?;
    let (report, format) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mira analyze lung: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut out = std::io::stdout().lock();
    match format {
        crate::Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        crate::Format::Table => write_table(&mut out, &report)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn analyse(args: &LungArgs) -> anyhow::Result<LungReport> {
    let profile = match args.profile {
        ProfileName::LungRads2022 => Profile::lung_rads_2022(),
        ProfileName::Fleischner2017 => Profile::fleischner_2017(),
    }?;
    let mut options = LungOptions::with_profile(profile);
    options.exam.risk = args.risk.map(|r| match r {
        RiskLevel::Low => Risk::Low,
        RiskLevel::High => Risk::High,
    });
    if let Some(manifest) = &args.model {
        options = options
            .with_classifier_manifest(manifest)
            .with_context(|| format!("model {}", manifest.display()))?;
    }
    let (volume, read_ms) =
        read(&args.series_dir).with_context(|| format!("series {}", args.series_dir.display()))?;
    let prior = match &args.prior {
        None => None,
        Some(dir) => {
            let (prior_volume, _) =
                read(dir).with_context(|| format!("prior series {}", dir.display()))?;
            let prior_report = analyze(&prior_volume, &options, None)
                .with_context(|| format!("prior series {}", dir.display()))?;
            let months = match args.months {
                Some(m) => m,
                None => {
                    mira_lung::priors::months_between(&prior_report.study_date, &volume.study_date)
                        .context("no --months and the Study Dates do not give the interval")?
                }
            };
            Some(PriorStudy {
                report: prior_report,
                months_before: months,
            })
        }
    };
    let mut report = analyze(&volume, &options, prior.as_ref())
        .with_context(|| format!("series {}", args.series_dir.display()))?;
    report.timings.insert(
        0,
        mira_lung::report::StageTiming {
            stage: "read".into(),
            ms: read_ms,
        },
    );
    Ok(report)
}

fn write_table(out: &mut impl Write, r: &LungReport) -> std::io::Result<()> {
    writeln!(
        out,
        "series {}  {}×{}×{} at {:.2}×{:.2}×{:.2} mm",
        if r.series_instance_uid.is_empty() {
            "(no uid)"
        } else {
            &r.series_instance_uid
        },
        r.volume.dims[0],
        r.volume.dims[1],
        r.volume.dims[2],
        r.volume.spacing_mm[0],
        r.volume.spacing_mm[1],
        r.volume.spacing_mm[2]
    )?;
    for l in &r.lungs {
        writeln!(out, "  {} lung {:.0} ml", l.side, l.volume_ml)?;
    }
    writeln!(
        out,
        "  {} candidates, {} nodules",
        r.candidates,
        r.nodules.len()
    )?;
    for n in &r.nodules {
        writeln!(
            out,
            "  #{:<2} {:>5} lung {:<12} slice {:>4}  {:>4.1} × {:>4.1} mm (mean {:.1}), {} mm³, {}{}{}  conf {:.2}  cat {} ({})",
            n.id,
            n.lung,
            n.lobe,
            n.slice_index,
            n.long_axis_mm,
            n.short_axis_mm,
            n.mean_diameter_mm,
            n.volume_mm3,
            n.attenuation,
            n.solid_component_mm
                .map_or(String::new(), |s| format!(" (solid {s:.1} mm)")),
            if n.calcified { ", calcified" } else { "" },
            n.confidence,
            n.category,
            n.status
        )?;
    }
    writeln!(
        out,
        "{}: {}  {}",
        r.profile.name, r.exam.label, r.exam.management
    )?;
    let times: Vec<String> = r
        .timings
        .iter()
        .map(|t| format!("{} {:.0} ms", t.stage, t.ms))
        .collect();
    writeln!(out, "time: {}", times.join(", "))
}
