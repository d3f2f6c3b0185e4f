//! QC of files and folders without a server: what `mira qc PATH...` runs.
//!
//! DICOM files are grouped into series and studies by their UIDs, or by folder where the UIDs
//! are absent (the missing UIDs are then header findings of each instance). JPEG and PNG files
//! are fundus photographs (greyscale ones, radiographs saved as pictures, are not). In folders,
//! files that are neither are skipped and counted; a file named on the command line that
//! cannot be checked is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::header::{Header, Pixels, read_file};
use crate::instance::Context;
use crate::report::{Report, Status};

/// One file's report, with what grouped it.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file.
    pub path: String,
    /// Modality (`OP` for photographs).
    pub modality: Option<String>,
    /// The checks.
    #[serde(flatten)]
    pub report: Report,
}

/// A file that could not be checked, and why.
#[derive(Debug, Clone, Serialize)]
pub struct FileError {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Everything an offline run found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Run {
    /// Per file.
    pub files: Vec<FileReport>,
    /// Per series (completeness for CT; consistency for all).
    pub series: Vec<Report>,
    /// Per study.
    pub studies: Vec<Report>,
    /// Files that could not be checked.
    pub errors: Vec<FileError>,
    /// Files in folders that were neither DICOM nor JPEG/PNG.
    pub skipped: usize,
}

impl Run {
    /// The worst status of every report.
    pub fn outcome(&self) -> Status {
        self.files
            .iter()
            .map(|f| f.report.outcome())
            .chain(self.series.iter().map(Report::outcome))
            .chain(self.studies.iter().map(Report::outcome))
            .max()
            .unwrap_or(Status::Pass)
    }
}

fn is_photo(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

/// Checks files and folders (recursively, in path order).
pub fn check_paths(ctx: &Context<'_>, paths: &[PathBuf]) -> Run {
    let mut run = Run::default();
    let mut headers: Vec<(PathBuf, Header)> = Vec::new();
    for root in paths {
        if root.is_dir() {
            let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
                .into_iter()
                .filter_map(|e| match e {
                    Ok(e) if e.file_type().is_file() => Some(e.into_path()),
                    Ok(_) => None,
                    Err(err) => {
                        run.errors.push(FileError {
                            path: err
                                .path()
                                .map_or(root.display().to_string(), |p| p.display().to_string()),
                            reason: err.to_string(),
                        });
                        None
                    }
                })
                .collect();
            files.sort();
            for file in files {
                check_file(ctx, &file, true, &mut run, &mut headers);
            }
        } else {
            check_file(ctx, root, false, &mut run, &mut headers);
        }
    }

    // series and studies, keyed by UID or by folder
    let folder = |p: &Path| {
        format!(
            "folder:{}",
            p.parent()
                .map_or(String::new(), |d| d.display().to_string())
        )
    };
    let mut series: BTreeMap<String, Vec<&Header>> = BTreeMap::new();
    let mut studies: BTreeMap<String, Vec<&Header>> = BTreeMap::new();
    for (path, h) in &headers {
        let se = h
            .series_instance_uid
            .clone()
            .unwrap_or_else(|| folder(path));
        let st = h.study_instance_uid.clone().unwrap_or_else(|| folder(path));
        series.entry(se).or_default().push(h);
        studies.entry(st).or_default().push(h);
    }
    for (key, members) in &series {
        let mut report = if members.iter().any(|h| h.modality.as_deref() == Some("CT")) {
            crate::ct::check_series(ctx, key, members)
        } else {
            let mut r = Report::new(crate::Level::Series, key.as_str());
            r.measurements
                .insert("instances".into(), members.len() as f64);
            r
        };
        report
            .checks
            .extend(crate::study::check_series_consistency(ctx, members));
        run.series.push(report);
    }
    for (key, members) in &studies {
        run.studies
            .push(crate::study::check_study(ctx, key, members));
    }
    run
}

/// Whether every sampled pixel has equal channels (a radiograph saved as PNG, say).
fn is_greyscale(img: &image::RgbImage) -> bool {
    img.pixels()
        .step_by(97)
        .all(|p| p.0[0].abs_diff(p.0[1]) <= 2 && p.0[1].abs_diff(p.0[2]) <= 2)
}

fn check_file(
    ctx: &Context<'_>,
    path: &Path,
    in_folder: bool,
    run: &mut Run,
    headers: &mut Vec<(PathBuf, Header)>,
) {
    let shown = path.display().to_string();
    if is_photo(path) {
        match image::open(path) {
            Ok(img) => {
                let img = img.into_rgb8();
                if is_greyscale(&img) {
                    if in_folder {
                        run.skipped += 1;
                    } else {
                        run.errors.push(FileError {
                            path: shown,
                            reason: "greyscale image, not a colour fundus photograph: only fundus photographs are checked as JPEG/PNG".into(),
                        });
                    }
                    return;
                }
                let report = crate::check_photo(ctx, &shown, &img);
                run.files.push(FileReport {
                    path: shown,
                    modality: Some("OP".into()),
                    report,
                });
            }
            Err(e) => run.errors.push(FileError {
                path: shown,
                reason: format!("image cannot be decoded: {e}"),
            }),
        }
        return;
    }
    match read_file(path, Pixels::Skip) {
        Ok(instance) => {
            let instance = if crate::header::needs_pixels(&instance.header) {
                match read_file(path, Pixels::Read) {
                    Ok(full) => full,
                    Err(e) => {
                        run.errors.push(FileError {
                            path: shown,
                            reason: e.to_string(),
                        });
                        return;
                    }
                }
            } else {
                instance
            };
            let subject = instance
                .header
                .sop_instance_uid
                .clone()
                .unwrap_or_else(|| shown.clone());
            let report = crate::check_dicom(ctx, &subject, &instance);
            run.files.push(FileReport {
                path: shown,
                modality: instance.header.modality.clone(),
                report,
            });
            headers.push((path.to_path_buf(), instance.header));
        }
        Err(crate::header::ReadError::NotDicom) if in_folder => run.skipped += 1,
        Err(e) => run.errors.push(FileError {
            path: shown,
            reason: e.to_string(),
        }),
    }
}
