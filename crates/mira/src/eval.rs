//! `mira eval` (score predictions or a model against ground truth) and `mira models` (the
//! model catalogue and its deployment gate). The work is in mira-eval.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use mira_eval::catalogue::{EvaluationRun, ModelCatalogue, ModelEntry};
use mira_eval::classify::{self, ClassificationInput, ClassifyOptions};
use mira_eval::froc::{self, FrocInput, FrocOptions};
use mira_eval::gate::Gates;
use mira_eval::report::{self, ClassificationReport};
use mira_eval::{Estimate, subgroup};

use crate::Format;
use crate::config::Config;

/// `mira eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    command: EvalCommand,
}

#[derive(Debug, Subcommand)]
enum EvalCommand {
    /// Nodule detection: FROC and CPM as the LUNA16 evaluation script computes them.
    Froc(FrocArgs),
    /// Classification: truth `id,label` against predictions `id,p0..p{K-1}` (or `id,score`).
    Classify(ClassifyArgs),
    /// Run a model (mira-models manifest) over a dataset, evaluate it and record the run in
    /// the model catalogue.
    Run(RunArgs),
    /// Measurement agreement (Bland–Altman): reference `id,diameter_mm,volume_mm3,…` against
    /// measured values in the same columns.
    Measure(MeasureArgs),
}

#[derive(Debug, Args)]
struct MeasureArgs {
    /// Reference measurements: id and one column per measurement.
    #[arg(long)]
    truth: PathBuf,
    /// Measured values: id and the same columns.
    #[arg(long)]
    pred: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Args)]
struct FrocArgs {
    /// Nodules: seriesuid,coordX,coordY,coordZ,diameter_mm.
    #[arg(long)]
    annotations: PathBuf,
    /// Excluded findings, same columns.
    #[arg(long)]
    excluded: PathBuf,
    /// The scans evaluated: one series UID a line.
    #[arg(long)]
    series: PathBuf,
    /// Candidates: seriesuid,coordX,coordY,coordZ,probability.
    #[arg(long)]
    pred: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the report as self-contained HTML.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Write the FROC curve as the script's froc_<name>.txt (fps,sensitivity,threshold).
    #[arg(long)]
    curve: Option<PathBuf>,
    /// Bootstrap resamples of the scans.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Seed of the resampling.
    #[arg(long, default_value_t = 16)]
    seed: u64,
    /// Scan attributes for subgroups: seriesuid and any of sex, age, site, manufacturer,
    /// model. FROC and CPM are then also given per subgroup, with flags.
    #[arg(long)]
    scan_attributes: Option<PathBuf>,
    /// Flag a subgroup whose CPM or sensitivity falls below the whole by more than this.
    #[arg(long, default_value_t = 0.05)]
    subgroup_margin: f64,
}

#[derive(Debug, Args)]
struct ClassifyArgs {
    /// Ground truth: id,label (0..K-1), optional sex, age, site, manufacturer, model.
    #[arg(long)]
    truth: PathBuf,
    /// Predictions: id,p0..p{K-1} or id,score.
    #[arg(long)]
    pred: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the report as self-contained HTML.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Operating threshold on p1 (two classes).
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Flag a subgroup whose metric falls below the whole by more than this.
    #[arg(long, default_value_t = 0.05)]
    subgroup_margin: f64,
    /// Bootstrap resamples of the cases.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The model's manifest (TOML or JSON beside its .onnx file).
    #[arg(long)]
    model: PathBuf,
    /// The dataset: JSON or CSV (id,image,label and subgroup columns).
    #[arg(long)]
    dataset: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the report as self-contained HTML.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Operating threshold on p1 (two classes).
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Flag a subgroup whose metric falls below the whole by more than this.
    #[arg(long, default_value_t = 0.05)]
    subgroup_margin: f64,
}

/// `mira models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// List model versions, their state and evaluation runs.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Deploy a model version; refused unless its latest evaluation on the dataset its
    /// intended use requires meets the gate's thresholds.
    Deploy(GateArgs),
    /// Approve a model version (the same gate as deploy).
    Approve(GateArgs),
    /// Retire a model version.
    Retire {
        model_id: String,
        version: String,
        #[arg(long, default_value = "retired by an operator")]
        reason: String,
    },
}

#[derive(Debug, Args)]
struct GateArgs {
    model_id: String,
    version: String,
    /// Deployment gates (TOML): per intended use, the dataset and the minimum per metric.
    #[arg(long, env = "MIRA_GATES")]
    gates: PathBuf,
}

/// Runs `mira eval`.
pub async fn run(config: Config, args: EvalArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        EvalCommand::Froc(args) => run_froc(args),
        EvalCommand::Classify(args) => run_classify(args),
        EvalCommand::Run(args) => run_model(config, args).await,
        EvalCommand::Measure(args) => run_measure(args),
    }
}

fn write_html(path: &Path, html: &str) -> anyhow::Result<()> {
    std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn fmt(e: Option<Estimate>) -> String {
    e.map(|e| format!("{:.4} ({:.4}-{:.4})", e.value, e.low, e.high))
        .unwrap_or_else(|| "undefined".to_string())
}

fn run_measure(args: MeasureArgs) -> anyhow::Result<ExitCode> {
    let agreement = mira_eval::measure::from_csv(&args.truth, &args.pred, 0.95)?;
    match args.format {
        Format::Json => print_json(&agreement)?,
        Format::Table => {
            let mut out = std::io::stdout().lock();
            for (name, a) in &agreement {
                match a {
                    Some(a) => writeln!(
                        out,
                        "{name}: {} pairs, bias {}, limits of agreement {} to {}, mean |difference| {:.4}",
                        a.pairs,
                        fmt(Some(a.bias)),
                        fmt(Some(a.lower_limit)),
                        fmt(Some(a.upper_limit)),
                        a.mean_absolute_error
                    )?,
                    None => writeln!(out, "{name}: fewer than two pairs")?,
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_froc(args: FrocArgs) -> anyhow::Result<ExitCode> {
    let input =
        FrocInput::read_luna16(&args.annotations, &args.excluded, &args.series, &args.pred)?;
    let options = FrocOptions {
        bootstrap_samples: args.bootstrap,
        seed: args.seed,
        ..FrocOptions::default()
    };
    let result = froc::evaluate(&input, &options);
    if let Some(path) = &args.curve {
        let mut text = String::new();
        for p in &result.curve {
            let threshold = p.threshold.map_or("inf".to_string(), |t| format!("{t:.9}"));
            text.push_str(&format!("{:.9},{:.9},{threshold}\n", p.fps, p.sensitivity));
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        let title = format!("FROC: {}", args.pred.display());
        write_html(path, &report::froc_html(&title, &result))?;
    }
    let subgroups = match &args.scan_attributes {
        Some(path) => {
            let attributes = subgroup::read_scan_attributes(path)?;
            Some(subgroup::evaluate_froc(
                &input,
                &result,
                &attributes,
                &options,
                args.subgroup_margin,
            ))
        }
        None => None,
    };
    match args.format {
        Format::Json => match &subgroups {
            Some(groups) => {
                let mut json = serde_json::to_value(&result)?;
                json["subgroups"] = serde_json::to_value(groups)?;
                print_json(&json)?
            }
            None => print_json(&result)?,
        },
        Format::Table => {
            let c = &result.counts;
            let mut out = std::io::stdout().lock();
            writeln!(out, "True positives: {}", c.true_positives)?;
            writeln!(out, "False positives: {}", c.false_positives)?;
            writeln!(out, "False negatives: {}", c.false_negatives)?;
            writeln!(out, "Total number of candidates: {}", c.candidates)?;
            writeln!(out, "Total number of nodules: {}", c.nodules)?;
            writeln!(
                out,
                "Ignored candidates on excluded nodules: {}",
                c.ignored_on_excluded
            )?;
            writeln!(
                out,
                "Ignored candidates which were double detections on a nodule: {}",
                c.ignored_double_detections
            )?;
            writeln!(out, "Sensitivity: {:.9}", c.sensitivity)?;
            writeln!(
                out,
                "Average number of candidates per scan: {:.9}",
                c.candidates_per_scan
            )?;
            writeln!(out, "{:>8}  sensitivity (95% CI)", "FP/scan")?;
            for s in &result.sensitivities {
                writeln!(out, "{:>8}  {}", s.fps, fmt(Some(s.sensitivity)))?;
            }
            writeln!(out, "{:>8}  {}", "CPM", fmt(Some(result.cpm)))?;
            for g in subgroups.iter().flat_map(|r| &r.groups) {
                writeln!(
                    out,
                    "subgroup {}={}: {} scans, {} nodules, CPM {}, sensitivity {:.4}{}",
                    g.attribute,
                    g.value,
                    g.scans,
                    g.nodules,
                    fmt(Some(g.cpm)),
                    g.sensitivity,
                    if g.flagged { "  FLAGGED" } else { "" }
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn classification_report(
    title: String,
    input: &ClassificationInput,
    options: &ClassifyOptions,
    margin: f64,
) -> ClassificationReport {
    let overall = classify::evaluate(input, options);
    let subgroups = subgroup::evaluate(input, &overall, options, margin);
    ClassificationReport {
        title,
        overall,
        subgroups,
    }
}

fn print_classification(report: &ClassificationReport, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => print_json(report),
        Format::Table => {
            let m = &report.overall;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<16} {}", "cases", m.cases)?;
            for (name, e) in m.headline() {
                writeln!(out, "{name:<16} {}", fmt(Some(e)))?;
            }
            writeln!(out, "confusion (rows true, columns predicted):")?;
            for row in &m.confusion {
                let cells: Vec<String> = row.iter().map(|v| format!("{v:>6}")).collect();
                writeln!(out, "  {}", cells.join(""))?;
            }
            for g in report.subgroups.groups.iter().filter(|g| g.flagged) {
                let what: Vec<String> = g
                    .shortfalls
                    .iter()
                    .map(|s| format!("{} {:.4} vs {:.4}", s.metric, s.subgroup, s.overall))
                    .collect();
                writeln!(
                    out,
                    "flag: {}={} (n={}): {}",
                    g.attribute,
                    g.value,
                    g.cases,
                    what.join(", ")
                )?;
            }
            Ok(())
        }
    }
}

fn run_classify(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    let input = ClassificationInput::read_csv(&args.truth, &args.pred)?;
    let options = ClassifyOptions {
        threshold: args.threshold,
        bootstrap_samples: args.bootstrap,
        ..ClassifyOptions::default()
    };
    let report = classification_report(
        format!("Classification: {}", args.pred.display()),
        &input,
        &options,
        args.subgroup_margin,
    );
    if let Some(path) = &args.html {
        write_html(path, &report::classification_html(&report))?;
    }
    print_classification(&report, args.format)?;
    Ok(ExitCode::SUCCESS)
}

async fn open_catalogue(
    config: &Config,
) -> anyhow::Result<(mira_store::Catalogue, ModelCatalogue)> {
    let store = config.open_catalogue(false).await?;
    let models = ModelCatalogue::new(store.pool().clone());
    Ok((store, models))
}

async fn run_model(config: Config, args: RunArgs) -> anyhow::Result<ExitCode> {
    let dataset = mira_eval::dataset::Dataset::import(&args.dataset)?;
    let model_path = args.model.clone();
    let model = tokio::task::spawn_blocking(move || mira_models::Model::load(&model_path))
        .await?
        .with_context(|| format!("cannot load the model {}", args.model.display()))?;
    let (store, catalogue) = open_catalogue(&config).await?;
    catalogue.register(model.manifest(), model.sha256()).await?;
    catalogue.record_dataset(&dataset).await?;
    let manifest = model.manifest().clone();
    let data = dataset.clone();
    let input =
        tokio::task::spawn_blocking(move || mira_eval::run::classify_dataset(&model, &data))
            .await??;
    let options = ClassifyOptions {
        threshold: args.threshold,
        ..ClassifyOptions::default()
    };
    let report = classification_report(
        format!("{} {} on {}", manifest.id, manifest.version, dataset.name),
        &input,
        &options,
        args.subgroup_margin,
    );
    let run = EvaluationRun {
        id: 0,
        model_id: manifest.id.clone(),
        version: manifest.version.clone(),
        dataset: dataset.name.clone(),
        dataset_version: dataset.version.clone(),
        evaluated_at: String::new(),
        metrics: report
            .overall
            .headline()
            .into_iter()
            .map(|(n, e)| (n.to_string(), e))
            .collect(),
    };
    let id = catalogue
        .record_run(&run, &serde_json::to_value(&report)?)
        .await?;
    store.close().await;
    if let Some(path) = &args.html {
        write_html(path, &report::classification_html(&report))?;
    }
    print_classification(&report, args.format)?;
    eprintln!(
        "recorded evaluation run {id}: {} {} on {} ({})",
        manifest.id, manifest.version, dataset.name, dataset.version
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `mira models`.
pub async fn run_models(config: Config, args: ModelsArgs) -> anyhow::Result<ExitCode> {
    let (store, catalogue) = open_catalogue(&config).await?;
    let result = match args.command {
        ModelsCommand::List { format } => {
            let entries = catalogue.list().await?;
            match format {
                Format::Json => print_json(&entries)?,
                Format::Table => print_entries(&entries)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Deploy(gate) => {
            let gates = Gates::from_path(&gate.gates)?;
            decide(
                catalogue
                    .deploy(&gate.model_id, &gate.version, &gates)
                    .await,
            )
        }
        ModelsCommand::Approve(gate) => {
            let gates = Gates::from_path(&gate.gates)?;
            decide(
                catalogue
                    .approve(&gate.model_id, &gate.version, &gates)
                    .await,
            )
        }
        ModelsCommand::Retire {
            model_id,
            version,
            reason,
        } => decide(catalogue.retire(&model_id, &version, &reason).await),
    };
    store.close().await;
    result
}

/// Prints the new state, or the refusal with exit code 1.
fn decide(
    result: Result<ModelEntry, mira_eval::catalogue::CatalogueError>,
) -> anyhow::Result<ExitCode> {
    match result {
        Ok(entry) => {
            println!(
                "{} {}: {}",
                entry.model_id,
                entry.version,
                entry.state.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is_refusal() => {
            eprintln!("mira: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

fn print_entries(entries: &[ModelEntry]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<24} {:<10} {:<10} {:<8} latest evaluation",
        "model", "version", "state", "runs"
    )?;
    for e in entries {
        let latest = e.runs.first().map_or("-".to_string(), |r| {
            let metrics: Vec<String> = r
                .metrics
                .iter()
                .map(|(n, v)| format!("{n}={:.3}", v.value))
                .collect();
            format!("{} on {}: {}", r.evaluated_at, r.dataset, metrics.join(" "))
        });
        writeln!(
            out,
            "{:<24} {:<10} {:<10} {:<8} {latest}",
            e.model_id,
            e.version,
            e.state.as_str(),
            e.runs.len()
        )?;
    }
    Ok(())
}
