//! `mira analyze ...`: AI analysis of files, offline (no server, no database).

mod fundus;
pub mod lung;

use std::process::ExitCode;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    #[command(subcommand)]
    command: AnalyzeCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AnalyzeCommand {
    /// Fundus photographs (DICOM OP, JPEG/PNG with a sidecar): lesions and DR screening.
    Fundus(fundus::FundusArgs),
    /// Chest CT lung nodules: detection, measurement, type, Lung-RADS (or Fleischner).
    Lung(lung::LungArgs),
}

pub async fn run(config: Config, args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AnalyzeCommand::Fundus(a) => fundus::run(config, a).await,
        AnalyzeCommand::Lung(a) => lung::run(a).await,
    }
}
