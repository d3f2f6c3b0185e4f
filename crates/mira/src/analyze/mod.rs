//! `mira analyze …`: run an analysis offline on files, without a server or database.

pub mod lung;

use std::process::ExitCode;

/// The analyses.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    #[command(subcommand)]
    command: AnalyzeCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AnalyzeCommand {
    /// Chest CT lung nodules: detection, measurement, type, Lung-RADS (or Fleischner).
    Lung(lung::LungArgs),
}

pub async fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AnalyzeCommand::Lung(args) => lung::run(args).await,
    }
}
