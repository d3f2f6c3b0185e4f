//! mira's imaging quality control: every stored instance and every complete study is checked
//! against a catalogue of rules, and the results feed per-site indicators.
//!
//! What it does: header completeness and plausibility per IOD, CT series completeness and the
//! low-dose lung screening protocol, chest radiograph exposure and pixel checks, fundus
//! photograph gradability (EyeQ grades), persistence of results and indicators (pass rate per
//! rule, first-class-image rate, repeat rate, LDCT dose compliance) grouped by site, device or
//! technologist. What it does not do: speak HTTP (that is `mira-web`), decide anything
//! clinical (QC findings say what to repeat or fix, never what the image shows), or use AI.
//!
//! - [`rules`]: the catalogue ([`RuleSet`]; `rules/default.toml` compiled in, site overrides).
//! - [`report`]: [`Check`] (one rule evaluated: status, measured, expected, action, source),
//!   [`Report`] per instance, series or study, [`Grade`] for fundus photographs.
//! - [`header`]: reading the attributes QC needs ([`header::Header`]), also from instances the
//!   archive would refuse.
//! - [`instance`], [`iod`]: header checks; [`study`]: consistency across a study and series;
//!   [`ct`]: series completeness and protocol; [`cxr`]: radiograph checks; [`fundus`]:
//!   gradability.
//! - [`offline`]: files and folders without a server (`mira qc PATH...`).
//! - [`store`]: results in the catalogue database and the indicators computed from them.
//! - [`worker`]: the server's QC jobs, fed by the ingest pipeline's `InstanceStored` events.
//!
//! | Modality | Instance | Series / study |
//! |---|---|---|
//! | all | UIDs, sex, dates and ages | one patient and study date per study |
//! | CT | Type 1/2 (CT Image IOD), pixel spacing | slices sorted along the normal: gaps, duplicates, orientation, spacing, tilt, interval vs thickness; LDCT: thickness, interval, kVp, CTDIvol |
//! | CR, DX | Type 1/2, pixel spacing, EI/DI, view position, polarity (MONOCHROME1/2), clipping, dynamic range, collimation | |
//! | OP, JPEG, PNG | Type 1/2 (OP 8-bit IOD); field of view, illumination, focus, contrast, optic disc → Good / Usable / Reject | |
//!
//! Every clinical criterion names its source in the catalogue and in the module docs; those the
//! reference digest marks partly verified or unverified are thresholds a site can change.
//!
//! # Example
//! ```no_run
//! let rules = mira_qc::RuleSet::default();
//! let ctx = mira_qc::instance::Context::now(&rules);
//! let run = mira_qc::offline::check_paths(&ctx, &["study/".into()]);
//! for file in &run.files {
//!     for finding in file.report.findings() {
//!         println!("{}: {} {}", file.path, finding.rule, finding.message);
//!     }
//! }
//! ```
#![warn(missing_docs)]

pub mod ct;
pub mod cxr;
pub mod fundus;
pub mod header;
pub mod instance;
pub mod iod;
pub mod offline;
pub mod report;
pub mod rules;
pub mod store;
pub mod study;
pub mod worker;

use dicom_pixeldata::PixelDecoder;
use image::RgbImage;

pub use report::{Check, Grade, Level, Report, Status};
pub use rules::{Rule, RuleSet, RulesError, Severity};

use crate::header::{Instance, ReadError};
use crate::instance::Context;

/// Every instance-level check of a DICOM instance: header rules, then the pixel checks of its
/// modality (radiograph or fundus photograph) when its pixel data was read.
pub fn check_dicom(ctx: &Context<'_>, subject: &str, instance: &Instance) -> Report {
    let h = &instance.header;
    let mut report = Report::new(Level::Instance, subject);
    report
        .checks
        .extend(instance::check_header(ctx, &instance.object, h));
    let has_pixels = instance
        .object
        .get(dicom_dictionary_std::tags::PIXEL_DATA)
        .is_some();
    match h.modality.as_deref() {
        Some("CR" | "DX") => {
            report.checks.extend(cxr::check_header(ctx, h));
            if has_pixels {
                match cxr::Greyscale::decode(&instance.object, h) {
                    Ok(img) => {
                        let stats = cxr::measure(&img);
                        report.checks.extend(cxr::check_pixels(ctx, h, &stats));
                        report
                            .measurements
                            .insert("polarity_contrast".into(), round4(stats.polarity_contrast));
                        report
                            .measurements
                            .insert("dynamic_range".into(), round4(stats.dynamic_range));
                        report
                            .measurements
                            .insert("clipped_fraction".into(), round4(stats.clipped_fraction));
                        report
                            .measurements
                            .insert("field_fraction".into(), round4(stats.field_fraction));
                    }
                    Err(e) => push_undecodable(ctx, h, &mut report, &e),
                }
            }
        }
        Some("OP") if has_pixels => match decode_rgb(&instance.object) {
            Ok(img) => {
                let photo = check_photo(ctx, subject, &img);
                report.checks.extend(photo.checks);
                report.measurements.extend(photo.measurements);
                // the grade is about the picture; header findings stand beside it
                report.grade = photo.grade;
            }
            Err(e) => push_undecodable(ctx, h, &mut report, &e),
        },
        _ => {}
    }
    report
}

fn round4(v: f64) -> f64 {
    (v * 10000.0).round() / 10000.0
}

fn push_undecodable(ctx: &Context<'_>, h: &header::Header, report: &mut Report, e: &ReadError) {
    if let Some(r) = ctx.rules.active("pixels.decodable", h.modality.as_deref()) {
        report.checks.push(Check::new(
            r,
            false,
            h.transfer_syntax_uid.clone(),
            Some("a decodable transfer syntax".into()),
            e.to_string(),
        ));
    }
}

/// Decodes the first frame of a colour (or greyscale) instance to 8-bit RGB.
fn decode_rgb(obj: &dicom_object::DefaultDicomObject) -> Result<RgbImage, ReadError> {
    let decoded = obj
        .decode_pixel_data()
        .map_err(|e| ReadError::Pixels(e.to_string()))?;
    let (w, h) = (decoded.columns(), decoded.rows());
    let samples: Vec<u8> = decoded
        .to_vec_frame(0)
        .map_err(|e| ReadError::Pixels(e.to_string()))?;
    let rgb = match decoded.samples_per_pixel() {
        3 => samples,
        1 => samples.iter().flat_map(|v| [*v, *v, *v]).collect(),
        n => return Err(ReadError::Pixels(format!("{n} samples per pixel"))),
    };
    RgbImage::from_raw(w, h, rgb)
        .ok_or_else(|| ReadError::Pixels("pixel data shorter than rows x columns".into()))
}

/// Gradability of a fundus photograph (a JPEG or PNG file, or a decoded OP instance).
pub fn check_photo(ctx: &Context<'_>, subject: &str, img: &RgbImage) -> Report {
    let measures = fundus::measure(img);
    fundus::check(ctx, subject, &measures)
}
