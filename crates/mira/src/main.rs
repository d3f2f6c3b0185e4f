//! `mira`: the command-line entry point. Flags → configuration → wiring → subcommand; the
//! work itself lives in the library crates.

mod access;
mod analyze;
mod analyzers;
mod audit;
mod config;
mod deid;
mod eval;
mod import;
mod ls;
mod qc;
mod serve;
mod synth;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;

/// mira: imaging archive, QC and AI-assisted reading for a regional medical network.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML). `MIRA__SECTION__KEY` environment variables override it.
    #[arg(long, short, global = true, env = "MIRA_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (catalogue and blobs); overrides the configuration.
    #[arg(long, global = true, env = "MIRA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the archive: DIMSE (C-ECHO, C-STORE) and HTTP (DICOMweb, health, readiness, metrics).
    Serve(serve::ServeArgs),
    /// Import DICOM files and folders (recursively) into the archive.
    Import(import::ImportArgs),
    /// List what the archive holds.
    Ls(ls::LsArgs),
    /// Imaging QC: check files and folders offline, or report indicators (`mira qc report`).
    Qc(qc::QcArgs),
    /// Sites, AE titles and users: `mira access apply FILE`.
    Access(access::AccessArgs),
    /// API tokens: `mira token create USER`.
    Token(access::TokenArgs),
    /// De-identify DICOM files or folders (PS3.15 Annex E) into a new tree.
    Deid(deid::DeidArgs),
    /// The tamper-evident audit log: verify the chain, export for a syslog/ATNA collector.
    Audit(audit::AuditArgs),
    /// AI analysis of files offline (`mira analyze fundus IMAGE...`, `mira analyze lung DIR`).
    Analyze(analyze::AnalyzeArgs),
    /// Evaluate predictions or a model against ground truth (FROC, classification).
    Eval(eval::EvalArgs),
    /// The model catalogue: list model versions, deploy them through their gate.
    Models(eval::ModelsArgs),
    /// Fill the catalogue with synthetic studies for benchmarks (see bench/README.md).
    #[command(hide = true)]
    Synth(synth::SynthArgs),
}

/// Output format of reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable table.
    Table,
    /// JSON on standard output.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mira: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("mira: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    match cli.command {
        Command::Serve(args) => serve::run(config, args).await,
        Command::Import(args) => import::run(config, args).await,
        Command::Ls(args) => ls::run(config, args).await,
        Command::Qc(args) => qc::run(config, args).await,
        Command::Analyze(args) => analyze::run(config, args).await,
        Command::Eval(args) => eval::run(config, args).await,
        Command::Models(args) => eval::run_models(config, args).await,
        Command::Synth(args) => synth::run(config, args).await,
        Command::Access(args) => access::run_access(config, args).await,
        Command::Token(args) => access::run_token(config, args).await,
        Command::Deid(args) => deid::run(args).await,
        Command::Audit(args) => audit::run(config, args).await,
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MIRA_LOG")
        // jpeg2k (openjp2) reports every header it parses at INFO
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,jpeg2k=warn"));
    // colours only for a person at a terminal, never in files or journald
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
