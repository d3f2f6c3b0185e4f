//! `mira audit verify` and `mira audit export`: the audit log of the data directory.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use mira_audit::AuditLog;
use mira_audit::atna::{json_line, syslog_line};

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Check the hash chain: exit 0 when intact, 1 naming the first bad record.
    Verify(VerifyArgs),
    /// Write records as RFC 5424 syslog lines carrying DICOM audit messages (IHE ATNA), or
    /// as JSON lines.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: crate::Format,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// First time, RFC 3339 UTC or a day (inclusive).
    #[arg(long)]
    from: Option<String>,
    /// End time, RFC 3339 UTC or a day (exclusive).
    #[arg(long)]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "syslog")]
    format: ExportFormat,
    /// HOSTNAME of the syslog lines (default: this machine's name).
    #[arg(long)]
    hostname: Option<String>,
    /// AuditSourceID of the audit messages.
    #[arg(long, default_value = "mira")]
    source_id: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// RFC 5424 lines with PS3.15 A.5 XML.
    Syslog,
    /// One JSON object per line.
    Json,
}

pub async fn run(config: Config, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let catalogue = config.open_catalogue(true).await?;
    let log = AuditLog::new(catalogue.pool().clone());
    let mut out = std::io::stdout().lock();
    match args.command {
        AuditCommand::Verify(verify) => {
            let report = log.verify().await.with_context(|| {
                format!(
                    "cannot read the audit log in {}",
                    config.describe_location()
                )
            })?;
            match verify.format {
                crate::Format::Json => {
                    serde_json::to_writer_pretty(&mut out, &report)?;
                    writeln!(out)?;
                }
                crate::Format::Table => match &report.fault {
                    None => writeln!(
                        out,
                        "{} records, chain intact (head {})",
                        report.records,
                        if report.head_hash.is_empty() {
                            "-"
                        } else {
                            &report.head_hash
                        }
                    )?,
                    Some(fault) => {
                        writeln!(out, "{} records, chain broken: {fault}", report.records)?
                    }
                },
            }
            Ok(if report.fault.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuditCommand::Export(export) => {
            let records = log
                .records(export.from.as_deref(), export.to.as_deref())
                .await
                .with_context(|| {
                    format!(
                        "cannot read the audit log in {}",
                        config.describe_location()
                    )
                })?;
            let hostname = export.hostname.unwrap_or_else(local_hostname);
            for record in &records {
                let line = match export.format {
                    ExportFormat::Syslog => syslog_line(record, &hostname, &export.source_id),
                    ExportFormat::Json => json_line(record),
                };
                writeln!(out, "{line}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".into())
}
