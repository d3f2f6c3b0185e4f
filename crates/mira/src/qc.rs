//! `mira qc PATH...` (offline, no server, no database) and `mira qc report` (indicators from
//! the data directory's stored results).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use mira_qc::instance::Context;
use mira_qc::offline::Run;
use mira_qc::store::{GroupBy, Indicators, QcStore};
use mira_qc::{Report, RuleSet, Status};

use crate::config::Config;
use crate::ls::write_table;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct QcArgs {
    #[command(subcommand)]
    command: Option<QcCommand>,
    /// Files or folders (recursively) to check: DICOM, and JPEG/PNG fundus photographs.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: crate::Format,
    /// A site's rule overrides (TOML) applied to the default catalogue.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// In the table, list passing checks too.
    #[arg(long)]
    all: bool,
}

#[derive(Debug, clap::Subcommand)]
enum QcCommand {
    /// Indicators from the stored results of the data directory, for a period.
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// First day, YYYY-MM-DD (inclusive).
    #[arg(long)]
    from: String,
    /// Last day, YYYY-MM-DD (inclusive).
    #[arg(long)]
    to: String,
    /// Grouping.
    #[arg(long, value_enum, default_value = "site")]
    group_by: Grouping,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Grouping {
    Site,
    Device,
    Operator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Table,
    Json,
    Csv,
}

pub async fn run(config: Config, args: QcArgs) -> anyhow::Result<ExitCode> {
    if let Some(QcCommand::Report(report)) = args.command {
        return run_report(config, report).await;
    }
    let rules = match &args.rules {
        Some(path) => RuleSet::load_with_overrides(path)
            .with_context(|| format!("rule overrides {}", path.display()))?,
        None => RuleSet::default(),
    };
    let paths = args.paths.clone();
    let run = tokio::task::spawn_blocking(move || {
        mira_qc::offline::check_paths(&Context::now(&rules), &paths)
    })
    .await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        crate::Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&run)?)?,
        crate::Format::Table => write_run(&mut out, &run, args.all)?,
    }
    for e in &run.errors {
        eprintln!("mira qc: {}: {}", e.path, e.reason);
    }
    Ok(if !run.errors.is_empty() {
        ExitCode::from(2)
    } else if run.outcome() == Status::Fail {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_report(
    out: &mut impl Write,
    title: &str,
    report: &Report,
    all: bool,
) -> std::io::Result<()> {
    let grade = report
        .grade
        .map_or(String::new(), |g| format!("  grade {}", g.as_str()));
    writeln!(
        out,
        "{title}  {}{grade}",
        report.outcome().as_str().to_uppercase()
    )?;
    if !report.measurements.is_empty() {
        let m: Vec<String> = report
            .measurements
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(out, "    {}", m.join(" "))?;
    }
    for c in report.checks.iter().filter(|c| all || !c.passed()) {
        write!(out, "  [{}] {}: {}", c.status.as_str(), c.rule, c.message)?;
        if let Some(m) = &c.measured {
            write!(out, "; measured {m}")?;
        }
        if let Some(e) = &c.expected {
            write!(out, "; expected {e}")?;
        }
        writeln!(out)?;
        if let Some(a) = &c.action {
            writeln!(out, "      action: {a}")?;
        }
    }
    Ok(())
}

fn write_run(out: &mut impl Write, run: &Run, all: bool) -> std::io::Result<()> {
    for f in &run.files {
        write_report(out, &f.path, &f.report, all)?;
    }
    for s in &run.series {
        write_report(out, &format!("series {}", s.subject), s, all)?;
    }
    for s in &run.studies {
        write_report(out, &format!("study {}", s.subject), s, all)?;
    }
    let count = |status: Status| {
        run.files
            .iter()
            .filter(|f| f.report.outcome() == status)
            .count()
    };
    writeln!(
        out,
        "{} files: {} pass, {} info, {} warning, {} fail; {} series, {} studies; {} skipped, {} errors",
        run.files.len(),
        count(Status::Pass),
        count(Status::Info),
        count(Status::Warning),
        count(Status::Fail),
        run.series.len(),
        run.studies.len(),
        run.skipped,
        run.errors.len()
    )
}

async fn run_report(config: Config, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let catalogue = config.open_catalogue(true).await?;
    let group_by = match args.group_by {
        Grouping::Site => GroupBy::Site,
        Grouping::Device => GroupBy::Device,
        Grouping::Operator => GroupBy::Operator,
    };
    let indicators = QcStore::new(catalogue.pool().clone())
        .indicators(&args.from, &args.to, group_by)
        .await?;
    // report indicators (clinical-rules §4.2–4.4) by the site that sent the study
    let reports = mira_reading::Reading::new(catalogue.pool().clone(), config.reading.settings())
        .report_indicators(
            Some(&args.from),
            Some(&args.to),
            &mira_store::SiteFilter::All,
        )
        .await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        ReportFormat::Json => {
            let mut json = serde_json::to_value(&indicators)?;
            json["reports"] = serde_json::to_value(&reports)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?
        }
        ReportFormat::Csv => {
            write_csv(&mut out, &indicators)?;
            write_report_csv(&mut out, &args, &reports)?;
        }
        ReportFormat::Table => {
            let rows: Vec<Vec<String>> = indicators
                .groups
                .iter()
                .map(|g| {
                    vec![
                        g.group.clone(),
                        g.studies.to_string(),
                        pct(g.first_class_rate),
                        format!("{}/{}", g.repeats, g.view_images),
                        pct(g.repeat_rate),
                        format!("{}/{}", g.ldct_compliant, g.ldct_series),
                        pct(g.ldct_dose_compliance),
                    ]
                })
                .collect();
            write_table(
                &mut out,
                &[
                    "GROUP",
                    "STUDIES",
                    "FIRST-CLASS",
                    "REPEATS",
                    "REPEAT RATE",
                    "LDCT IN LIMIT",
                    "LDCT COMPLIANCE",
                ],
                &rows,
            )?;
            if !reports.is_empty() {
                writeln!(out)?;
                let rows: Vec<Vec<String>> = reports
                    .iter()
                    .map(|r| {
                        let rate = |n: i64, d: i64| pct((d > 0).then(|| n as f64 / d as f64));
                        vec![
                            r.site.clone().unwrap_or_else(|| "-".into()),
                            r.signed.to_string(),
                            rate(r.within_turnaround, r.signed),
                            r.median_turnaround_minutes
                                .map_or("-".into(), |m| format!("{m:.0} min")),
                            rate(r.qc_clean, r.signed),
                            format!("{}/{}", r.critical_notified, r.critical),
                            rate(r.positive, r.signed),
                            r.amended.to_string(),
                        ]
                    })
                    .collect();
                write_table(
                    &mut out,
                    &[
                        "SITE",
                        "REPORTS",
                        "ON TIME",
                        "MEDIAN TAT",
                        "QC CLEAN",
                        "CRITICAL NOTIFIED",
                        "POSITIVE",
                        "AMENDED",
                    ],
                    &rows,
                )?;
            }
        }
    }
    catalogue.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Report indicators as CSV rows in the same shape: `report_on_time`, `report_qc_clean`,
/// `report_critical_notified`, `report_positive`, `report_amended`.
fn write_report_csv(
    out: &mut impl Write,
    args: &ReportArgs,
    reports: &[mira_reading::ReportIndicators],
) -> std::io::Result<()> {
    for r in reports {
        let site = r.site.clone().unwrap_or_default();
        for (name, n, d) in [
            ("report_on_time", r.within_turnaround, r.signed),
            ("report_qc_clean", r.qc_clean, r.signed),
            ("report_critical_notified", r.critical_notified, r.critical),
            ("report_positive", r.positive, r.signed),
            ("report_amended", r.amended, r.signed),
        ] {
            let rate = if d > 0 {
                (n as f64 / d as f64).to_string()
            } else {
                String::new()
            };
            writeln!(
                out,
                "{},{},site,{site},{name},{n},{d},{rate}",
                args.from, args.to
            )?;
        }
    }
    Ok(())
}

fn pct(rate: Option<f64>) -> String {
    rate.map_or("-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// One row per group and indicator: `group,indicator,numerator,denominator,rate`; rules as
/// `rule:<id>`.
fn write_csv(out: &mut impl Write, ind: &Indicators) -> std::io::Result<()> {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let rate = |r: Option<f64>| r.map_or(String::new(), |r| r.to_string());
    writeln!(
        out,
        "from,to,group_by,group,indicator,numerator,denominator,rate"
    )?;
    let group_by = match ind.group_by {
        GroupBy::Site => "site",
        GroupBy::Device => "device",
        GroupBy::Operator => "operator",
    };
    for g in &ind.groups {
        let mut rows = vec![
            (
                "first_class_rate".to_string(),
                g.first_class_studies,
                g.studies,
                g.first_class_rate,
            ),
            (
                "repeat_rate".into(),
                g.repeats,
                g.view_images,
                g.repeat_rate,
            ),
            (
                "ldct_dose_compliance".into(),
                g.ldct_compliant,
                g.ldct_series,
                g.ldct_dose_compliance,
            ),
        ];
        for r in &g.rules {
            rows.push((
                format!("rule:{}", r.rule),
                r.passed,
                r.evaluated,
                Some(r.pass_rate),
            ));
        }
        for (name, n, d, r) in rows {
            writeln!(
                out,
                "{},{},{group_by},{},{name},{n},{d},{}",
                ind.from,
                ind.to,
                quote(&g.group),
                rate(r)
            )?;
        }
    }
    Ok(())
}
