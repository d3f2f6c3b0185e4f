//! `mira import`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use mira_ingest::{Ingest, IngestError, Outcome};
use serde::Serialize;

use crate::Format;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Files or folders (walked recursively, in name order).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Count files without the DICM prefix as skipped instead of rejected (folders that mix
    /// DICOM with reports, images or READMEs).
    #[arg(long)]
    skip_non_dicom: bool,
    /// Files imported at once (their commits share catalogue transactions).
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Code of the site the files come from: new studies belong to it (see `mira access
    /// apply`). Without it, new studies belong to no site and only principals granted every
    /// site see them.
    #[arg(long)]
    site: Option<String>,
}

/// What an import did, file by file where it matters.
#[derive(Debug, Default, Serialize)]
pub struct ImportSummary {
    /// Files examined.
    pub files: usize,
    /// New instances stored.
    pub stored: usize,
    /// Identical instances already stored.
    pub duplicate: usize,
    /// Instances that replaced a stored one (replace policy).
    pub replaced: usize,
    /// Conflicting instances not stored (keep-first policy).
    pub kept_existing: usize,
    /// Files refused, with the reason.
    pub rejected: Vec<Rejection>,
    /// Files without the DICM prefix, when asked to skip them.
    pub skipped: Vec<PathBuf>,
}

/// One refused file.
#[derive(Debug, Serialize)]
pub struct Rejection {
    /// The file.
    pub path: PathBuf,
    /// Stable reason code.
    pub code: String,
    /// Reason in words.
    pub reason: String,
}

pub async fn run(config: Config, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let files = collect_files(&args.paths)?;
    let ingest = config.open_ingest().await?;
    if let Some(site) = &args.site {
        mira_access::Directory::new(ingest.archive().catalogue.pool().clone())
            .site_id(site)
            .await
            .with_context(|| {
                format!("--site {site}: add the site first with `mira access apply`")
            })?;
    }

    let progress = ProgressBar::new(files.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files {per_sec} {msg}")
            .expect("valid template"),
    );
    let mut summary = ImportSummary {
        files: files.len(),
        ..Default::default()
    };
    let skip_non_dicom = args.skip_non_dicom;
    let mut results = futures::stream::iter(files)
        .map(|path| {
            let ingest = ingest.clone();
            let site = args.site.clone();
            async move {
                let result = import_one(&ingest, &path, skip_non_dicom, site.as_deref()).await;
                (path, result)
            }
        })
        .buffer_unordered(args.jobs.max(1));
    // instances stored per study, for the audit log
    let mut studies: BTreeMap<String, u64> = BTreeMap::new();
    while let Some((path, result)) = results.next().await {
        progress.inc(1);
        if let Ok(Some((Outcome::Stored | Outcome::Replaced, study))) = &result {
            *studies.entry(study.clone()).or_default() += 1;
        }
        let result = result.map(|r| r.map(|(outcome, _)| outcome));
        match result {
            Ok(Some(Outcome::Stored)) => summary.stored += 1,
            Ok(Some(Outcome::Duplicate)) => summary.duplicate += 1,
            Ok(Some(Outcome::Replaced)) => summary.replaced += 1,
            Ok(Some(Outcome::KeptExisting)) => summary.kept_existing += 1,
            Ok(Some(Outcome::RejectedConflict)) => {
                progress.suspend(|| {
                    eprintln!(
                        "rejected {}: SOP Instance UID stored with different content",
                        path.display()
                    )
                });
                summary.rejected.push(Rejection {
                    path,
                    code: "conflict".into(),
                    reason: "SOP Instance UID stored with different content (reject policy)".into(),
                });
            }
            Ok(None) => summary.skipped.push(path),
            Err(e) => {
                if e.is_server_side() {
                    progress.finish_and_clear();
                    return Err(
                        anyhow::Error::new(e).context(format!("cannot store {}", path.display()))
                    );
                }
                progress.suspend(|| eprintln!("rejected {}: {e}", path.display()));
                tracing::warn!(path = %path.display(), code = e.code(), reason = %e, "file rejected");
                summary.rejected.push(Rejection {
                    path,
                    code: e.code().into(),
                    reason: e.to_string(),
                });
            }
        }
    }
    progress.finish_and_clear();
    let audit = mira_audit::AuditLog::new(ingest.archive().catalogue.pool().clone());
    for (study, count) in studies {
        audit
            .record(mira_audit::AuditEvent {
                actor: mira_audit::Actor::System("import".into()),
                site: args.site.clone().unwrap_or_default(),
                action: mira_audit::AuditAction::Store,
                object: mira_audit::AuditObject::Study(study),
                outcome: mira_audit::Outcome::Success,
                source_address: String::new(),
                detail: format!("mira import: {count} instances"),
            })
            .await
            .context("cannot write the audit log")?;
    }
    summary.rejected.sort_by(|a, b| a.path.cmp(&b.path));
    summary.skipped.sort();
    ingest.archive().catalogue.close().await;

    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &summary)?;
            writeln!(out)?;
        }
        Format::Table => write_summary(&mut out, &summary)?,
    }
    Ok(if summary.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn import_one(
    ingest: &Ingest,
    path: &Path,
    skip_non_dicom: bool,
    site: Option<&str>,
) -> Result<Option<(Outcome, String)>, IngestError> {
    if skip_non_dicom && !has_dicm_prefix(path) {
        return Ok(None);
    }
    let receipt = ingest.import_file_for(path, site).await?;
    Ok(Some((receipt.outcome, receipt.study_instance_uid)))
}

fn has_dicm_prefix(path: &Path) -> bool {
    let mut head = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head[128..] == b"DICM"
}

fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
                let entry = entry.with_context(|| format!("cannot walk {}", path.display()))?;
                if entry.file_type().is_file() {
                    files.push(entry.into_path());
                }
            }
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn write_summary(out: &mut impl Write, summary: &ImportSummary) -> std::io::Result<()> {
    let mut by_code: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &summary.rejected {
        *by_code.entry(r.code.as_str()).or_default() += 1;
    }
    writeln!(
        out,
        "{} files: {} stored, {} duplicate, {} replaced, {} kept existing, {} rejected, {} skipped",
        summary.files,
        summary.stored,
        summary.duplicate,
        summary.replaced,
        summary.kept_existing,
        summary.rejected.len(),
        summary.skipped.len()
    )?;
    for r in &summary.rejected {
        writeln!(out, "rejected  {}: {}", r.path.display(), r.reason)?;
    }
    for (code, n) in by_code {
        writeln!(out, "  {n} × {code}")?;
    }
    Ok(())
}
