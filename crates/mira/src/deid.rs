//! `mira deid IN OUT`: de-identify files or folders (recursively) into a new tree.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context as _, bail};
use mira_deid::{BurnedInPolicy, DeidKey, DeidOption, Deidentifier};
use serde::Serialize;

use crate::Format;

#[derive(Debug, clap::Args)]
pub struct DeidArgs {
    /// A DICOM file, or a folder walked recursively.
    input: PathBuf,
    /// Where the de-identified file (or tree, mirroring the input's) goes; never the input
    /// nor inside it.
    output: PathBuf,
    /// File holding the de-identification key (at least 16 bytes; a trailing newline is
    /// ignored). The same key gives the same pseudonyms, UIDs and date shifts in every run.
    #[arg(long, env = "MIRA_DEID_KEY_FILE", conflicts_with = "key")]
    key_file: Option<PathBuf>,
    /// The key itself (prefer --key-file: an environment variable can leak into logs).
    #[arg(long, env = "MIRA_DEID_KEY", hide_env_values = true)]
    key: Option<String>,
    /// A PS3.15 profile option (repeatable): retain-dates (shifted per patient),
    /// retain-patient-characteristics, retain-device-identity, retain-institution-identity,
    /// clean-descriptors, retain-uids.
    #[arg(long = "option", value_parser = parse_option)]
    options: Vec<DeidOption>,
    /// Write instances whose Burned In Annotation is YES anyway (they are refused by
    /// default: their pixels may show names).
    #[arg(long)]
    allow_burned_in: bool,
    /// Worker threads (default: the number of CPUs).
    #[arg(long)]
    jobs: Option<usize>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

fn parse_option(name: &str) -> Result<DeidOption, String> {
    DeidOption::from_cli_name(name).ok_or_else(|| {
        let known: Vec<&str> = DeidOption::SELECTABLE.iter().map(|(n, _)| *n).collect();
        format!("unknown option {name:?}; known: {}", known.join(", "))
    })
}

#[derive(Debug, Serialize)]
struct Refusal {
    path: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct Summary {
    files: usize,
    deidentified: usize,
    refused: Vec<Refusal>,
    options: Vec<DeidOption>,
    seconds: f64,
    instances_per_second: f64,
}

pub async fn run(args: DeidArgs) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || run_blocking(args))
        .await
        .context("de-identification worker")?
}

/// The key in a key file (trailing line ends trimmed).
pub fn read_key_file(path: &std::path::Path) -> anyhow::Result<DeidKey> {
    let mut bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    DeidKey::new(bytes).with_context(|| format!("key file {}", path.display()))
}

fn read_key(args: &DeidArgs) -> anyhow::Result<DeidKey> {
    let bytes = match (&args.key_file, &args.key) {
        (Some(path), _) => return read_key_file(path),
        (None, Some(key)) => key.trim_end().as_bytes().to_vec(),
        (None, None) => bail!("no de-identification key: give --key-file or set MIRA_DEID_KEY"),
    };
    Ok(DeidKey::new(bytes)?)
}

fn run_blocking(args: DeidArgs) -> anyhow::Result<ExitCode> {
    let key = read_key(&args)?;
    keep_freed_buffers();
    let input = args
        .input
        .canonicalize()
        .with_context(|| format!("cannot open {}", args.input.display()))?;
    let jobs: Vec<(PathBuf, PathBuf)> = if input.is_dir() {
        if args.output.exists() && !args.output.is_dir() {
            bail!(
                "{} is a file; the output of a folder is a folder",
                args.output.display()
            );
        }
        std::fs::create_dir_all(&args.output)
            .with_context(|| format!("cannot create {}", args.output.display()))?;
        let output = args.output.canonicalize()?;
        if output.starts_with(&input) || input.starts_with(&output) {
            bail!(
                "the output {} must lie outside the input {} (and not contain it)",
                output.display(),
                input.display()
            );
        }
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(&input).sort_by_file_name() {
            let entry = entry.with_context(|| format!("cannot walk {}", input.display()))?;
            if entry.file_type().is_file() {
                let relative = entry.path().strip_prefix(&input)?.to_path_buf();
                files.push((entry.path().to_path_buf(), output.join(relative)));
            }
        }
        files
    } else {
        let output = if args.output.is_dir() {
            args.output.join(input.file_name().unwrap_or_default())
        } else {
            args.output.clone()
        };
        if output.canonicalize().is_ok_and(|o| o == input) {
            bail!("the output {} is the input", output.display());
        }
        vec![(input.clone(), output)]
    };

    let deidentifier =
        Deidentifier::new(key, &args.options).with_burned_in_policy(if args.allow_burned_in {
            BurnedInPolicy::Report
        } else {
            BurnedInPolicy::Refuse
        });
    let threads = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256);
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let refused = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.min(jobs.len().max(1)) {
            scope.spawn(|| {
                // buffers kept across files: fresh 100-KB buffers per file cost more in page
                // faults than the de-identification itself
                let mut buffers = (Vec::new(), Vec::new());
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((from, to)) = jobs.get(index) else {
                        break;
                    };
                    match deidentify_one(&deidentifier, from, to, &mut buffers) {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => refused.lock().unwrap().push(Refusal {
                            path: from.display().to_string(),
                            reason: format!("{e:#}"),
                        }),
                    }
                }
            });
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut refused = refused.into_inner().unwrap();
    refused.sort_by(|a, b| a.path.cmp(&b.path));
    let deidentified = done.into_inner();
    let summary = Summary {
        files: jobs.len(),
        deidentified,
        options: deidentifier.options().to_vec(),
        seconds,
        instances_per_second: if seconds > 0.0 {
            deidentified as f64 / seconds
        } else {
            0.0
        },
        refused,
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &summary)?;
            writeln!(out)?;
        }
        Format::Table => {
            for refusal in &summary.refused {
                writeln!(out, "refused  {}: {}", refusal.path, refusal.reason)?;
            }
            writeln!(
                out,
                "{} files: {} de-identified, {} refused in {:.2} s ({:.0} instances/s)",
                summary.files,
                summary.deidentified,
                summary.refused.len(),
                summary.seconds,
                summary.instances_per_second
            )?;
        }
    }
    Ok(if summary.refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One file: read, de-identify, write beside the target and rename into place.
fn deidentify_one(
    deidentifier: &Deidentifier,
    from: &Path,
    to: &Path,
    (input, out): &mut (Vec<u8>, Vec<u8>),
) -> anyhow::Result<()> {
    input.clear();
    std::fs::File::open(from)
        .and_then(|mut file| std::io::Read::read_to_end(&mut file, input))
        .context("cannot read")?;
    deidentifier.deidentify_into(input, out)?;
    if let Some(parent) = to.parent()
        && !parent.is_dir()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut partial = to.as_os_str().to_owned();
    partial.push(".mira-deid-partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, &out[..])
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, to).with_context(|| format!("cannot write {}", to.display()))?;
    Ok(())
}

/// Every file allocates buffers of its own size (100 KB and more: pixel data fragments, the
/// encoded output). glibc serves those from fresh `mmap`s and unmaps them on free, so each file
/// faulted in its pages anew, which cost more than the de-identification itself. A run of this
/// command keeps freed memory for the next file instead (bounded by the largest file times the
/// worker count).
fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before the workers start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}
