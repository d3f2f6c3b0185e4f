//! Chest-CT lung-nodule analysis: from a CT series to nodules, their measurements, type and
//! Lung-RADS category, with a prior study compared where there is one.
//!
//! The pipeline ([`analyze`]), each stage timed in the report:
//!
//! | stage | module | what |
//! |---|---|---|
//! | assembly | [`volume`] | files or objects of one series → a HU volume sorted along the normal; tilted, incomplete, mixed series refused |
//! | `resample` | [`grid`] | block-average to a working grid of about 1.25 mm |
//! | `lungs` | [`lungs`] | threshold, components, outside air and airways set aside, left/right, holes filled, closing (juxta-pleural nodules) |
//! | `candidates` | [`detect`] | multi-scale scale-normalised LoG blobs in 3-D, Hessian eigenvalues at the chosen scale |
//! | `nodules` | [`segment`] | per candidate, on the full-resolution volume: adaptive threshold, vessel-cutting opening, axes, volume, type, calcification; false-positive reduction (classical, or an ONNX classifier through mira-models) |
//! | `assessment` | [`priors`], mira-clinical | match with the prior study, growth, status; Lung-RADS v2022 or Fleischner 2017 per nodule and exam |
//!
//! The result is a [`LungReport`] (serde, stable field names) that carries what a DICOM SR
//! (TID 1500) needs. [`phantom`] generates synthetic chests with planted nodules of known
//! size and type, for tests and benchmarks.
//!
//! What it does not do: no I/O beyond reading the files it is given (and a model's files),
//! no storage, no network, no logging of patient attributes. Its output is a draft for a
//! physician, never a diagnosis.
//!
//! ```no_run
//! use mira_lung::{LungOptions, Volume, analyze};
//! let files = Volume::files_in(std::path::Path::new("series/")).unwrap();
//! let volume = Volume::from_paths(&files).unwrap();
//! let report = analyze(&volume, &LungOptions::lung_rads().unwrap(), None).unwrap();
//! println!("Lung-RADS {}: {}", report.exam.label, report.exam.management);
//! ```
#![warn(missing_docs)]

pub mod detect;
pub mod grid;
pub mod lungs;
pub mod phantom;
pub mod priors;
pub mod report;
pub mod segment;
pub mod volume;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use mira_clinical::{
    Attenuation, BenignFeature, CalcificationPattern, ExamContext, History, Location, Mm, Nodule,
    NoduleSize, NoduleStatus, PriorMeasurement, Profile,
};
use mira_models::Model;
use rayon::prelude::*;

pub use priors::PriorStudy;
pub use report::{LungReport, NoduleReport};
pub use volume::{Volume, VolumeError};

use crate::detect::Candidate;
use crate::lungs::Lungs;
use crate::report::{
    Algorithm, ExamReport, LungSummary, ModelRef, PriorMatch, PriorRef, ProfileRef, StageTiming,
    VolumeSummary,
};
use crate::segment::{Kind, Segmented};

/// Target spacing of the working grid (mm): fine enough for a 4 mm nodule's scale (σ ≈ 1 mm),
/// coarse enough for a 300-slice series in seconds.
pub const WORKING_SPACING_MM: f64 = 1.25;

/// This crate's version, as reports and SR name the algorithm.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Default confidence a candidate needs to be reported.
pub const DEFAULT_MIN_CONFIDENCE: f64 = 0.5;

/// A nodule is reported as calcified (benign, Lung-RADS category 1) when at least this
/// fraction of it is above 200 HU: diffuse (complete) calcification.
pub const CALCIFIED_BENIGN_FRACTION: f64 = 0.5;

/// Side of the cube the classifier sees around a candidate, mm, and the sampling step:
/// patches are resampled to the manifest's input size over this extent.
pub const PATCH_EXTENT_MM: f64 = 32.0;

/// Why a volume could not be analysed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LungError {
    /// The volume could not be assembled.
    #[error(transparent)]
    Volume(#[from] VolumeError),
    /// No lungs in the volume.
    #[error(transparent)]
    Lungs(#[from] lungs::LungsError),
    /// The profile could not categorise the exam.
    #[error("assessment: {0}")]
    Assess(#[from] mira_clinical::AssessError),
    /// The profile could not be loaded.
    #[error("profile: {0}")]
    Profile(#[from] mira_clinical::ProfileError),
    /// The candidate classifier could not be loaded.
    #[error("candidate classifier: {0}")]
    ModelLoad(#[from] mira_models::LoadError),
    /// The candidate classifier failed on a patch.
    #[error("candidate classifier: {0}")]
    ModelRun(#[from] mira_models::RunError),
    /// The classifier is not a patch classifier.
    #[error("candidate classifier {model}: {reason}")]
    ModelUnfit {
        /// Model id.
        model: String,
        /// Why.
        reason: String,
    },
}

/// Options of an analysis.
#[derive(Debug, Clone)]
pub struct LungOptions {
    /// The guideline profile.
    pub profile: Profile,
    /// What is known about the exam (risk for Fleischner, incompleteness, S modifier).
    pub exam: ExamContext,
    /// A candidate classifier (patch → nodule probability) in place of the classical
    /// false-positive reduction. Its input is an NCDHW patch of [`PATCH_EXTENT_MM`] around
    /// the candidate, HU mapped to 0..1 over −1000..+400 then normalised by the manifest's
    /// mean and std; the class labelled `nodule` (else the last class) is the probability.
    pub classifier: Option<Arc<Model>>,
    /// Confidence a candidate needs to be reported.
    pub min_confidence: f64,
}

impl LungOptions {
    /// Lung-RADS v2022, classical false-positive reduction.
    pub fn lung_rads() -> Result<LungOptions, LungError> {
        Ok(LungOptions::with_profile(Profile::lung_rads_2022()?))
    }

    /// Another profile, classical false-positive reduction.
    pub fn with_profile(profile: Profile) -> LungOptions {
        LungOptions {
            profile,
            exam: ExamContext::default(),
            classifier: None,
            min_confidence: DEFAULT_MIN_CONFIDENCE,
        }
    }

    /// Loads the candidate classifier named by a mira-models manifest.
    pub fn with_classifier_manifest(mut self, manifest: &Path) -> Result<LungOptions, LungError> {
        let model = Model::load(manifest)?;
        let input = &model.manifest().input;
        if input.layout != mira_models::Layout::Ncdhw || input.channels != 1 {
            return Err(LungError::ModelUnfit {
                model: model.manifest().id.clone(),
                reason: "needs a one-channel NCDHW patch input".into(),
            });
        }
        self.classifier = Some(Arc::new(model));
        Ok(self)
    }
}

struct Found {
    candidate: Candidate,
    seg: Segmented,
    confidence: f64,
}

fn smoothstep(lo: f64, hi: f64, x: f64) -> f64 {
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The classical false-positive reduction as a confidence in 0..1: a ball (Hessian
/// blobness), compact after the vessel-cutting opening (elongation), of nodule size (mean
/// diameter ≥ 3 mm), standing out of the parenchyma, not leaking along vessels.
pub fn classical_confidence(candidate: &Candidate, seg: &Segmented) -> f64 {
    if seg.touches_border {
        return 0.0;
    }
    let blob = smoothstep(0.1, 0.45, candidate.blobness());
    let compact = 1.0 - smoothstep(1.5, 2.4, seg.elongation);
    let mean = (seg.long_axis_mm + seg.short_axis_mm) / 2.0;
    let size = smoothstep(2.5, 3.5, mean) * (1.0 - smoothstep(30.0, 40.0, mean));
    let contrast = smoothstep(80.0, 200.0, seg.mean_hu - seg.parenchyma_hu);
    let round = smoothstep(0.4, 0.65, seg.short_axis_mm / seg.long_axis_mm.max(1e-6));
    (blob * compact * size * contrast * round).powf(0.5)
}

fn patch(volume: &Volume, centre: [f64; 3], d: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(d * h * w);
    let sample = |p: [f64; 3]| -> f32 {
        let q: Vec<usize> = (0..3)
            .map(|a| p[a].round().clamp(0.0, volume.dims[a] as f64 - 1.0) as usize)
            .collect();
        f32::from(volume.hu[volume.index(q[0], q[1], q[2])])
    };
    for k in 0..d {
        for j in 0..h {
            for i in 0..w {
                let off = |n: usize, idx: usize| (idx as f64 + 0.5) / n as f64 - 0.5;
                let p = [
                    centre[0] + off(w, i) * PATCH_EXTENT_MM / volume.spacing_mm[0],
                    centre[1] + off(h, j) * PATCH_EXTENT_MM / volume.spacing_mm[1],
                    centre[2] + off(d, k) * PATCH_EXTENT_MM / volume.spacing_mm[2],
                ];
                out.push(((sample(p) + 1000.0) / 1400.0).clamp(0.0, 1.0));
            }
        }
    }
    out
}

fn model_confidence(model: &Model, volume: &Volume, centre: [f64; 3]) -> Result<f64, LungError> {
    let input = &model.manifest().input;
    let depth = input.depth.unwrap_or(1) as usize;
    let mut tensor = patch(
        volume,
        centre,
        depth,
        input.height as usize,
        input.width as usize,
    );
    let (mean, std) = (
        input.mean.first().copied().unwrap_or(0.0),
        input.std.first().copied().unwrap_or(1.0),
    );
    for v in &mut tensor {
        *v = (*v - mean) / std;
    }
    let result = model.classify_tensor(&tensor)?;
    let p = result
        .probability("nodule")
        .or_else(|| result.classes.last().map(|c| c.probability))
        .unwrap_or(0.0);
    Ok(f64::from(p))
}

fn side_name(label: u8) -> &'static str {
    if label == 2 { "left" } else { "right" }
}

/// Approximate lobe from the position within the lung: by height (fraction from the apex)
/// and depth (fraction from the front); the fissures are not segmented.
fn lobe(lungs: &Lungs, side: u8, voxel: [usize; 3], z_up: bool, y_back: bool) -> &'static str {
    let Some((min, max)) = lungs.bounds[side as usize - 1] else {
        return if side == 2 {
            "left-upper"
        } else {
            "right-upper"
        };
    };
    let frac = |a: usize, forward: bool| {
        let t = (voxel[a] as f64 - min[a] as f64) / ((max[a] - min[a]).max(1) as f64);
        if forward { t } else { 1.0 - t }
    };
    let from_apex = frac(2, !z_up);
    let from_front = frac(1, y_back);
    // the oblique fissure runs from high at the back to low at the front
    let lower = from_apex + 0.5 * from_front > 0.85;
    match (side, lower) {
        (2, true) => "left-lower",
        (2, false) => "left-upper",
        (_, true) => "right-lower",
        (_, false) if from_apex > 0.45 && from_front < 0.55 => "right-middle",
        _ => "right-upper",
    }
}

fn lung_summaries(volume: &Volume, lungs: &Lungs) -> Vec<LungSummary> {
    let mut out = Vec::new();
    for side in [1u8, 2] {
        let Some((min, max)) = lungs.bounds[side as usize - 1] else {
            continue;
        };
        let (mut sum, mut n) = ([0.0f64; 3], 0usize);
        let [nx, ny, _] = lungs.dims;
        for (i, &l) in lungs.label.iter().enumerate() {
            if l == side {
                sum[0] += (i % nx) as f64;
                sum[1] += ((i / nx) % ny) as f64;
                sum[2] += (i / (nx * ny)) as f64;
                n += 1;
            }
        }
        let f = lungs.factors;
        let to_volume = |p: [f64; 3]| {
            volume.to_patient(
                p[0] * f[0] as f64 + (f[0] as f64 - 1.0) / 2.0,
                p[1] * f[1] as f64 + (f[1] as f64 - 1.0) / 2.0,
                p[2] * f[2] as f64 + (f[2] as f64 - 1.0) / 2.0,
            )
        };
        let a = to_volume(min.map(|v| v as f64));
        let b = to_volume(max.map(|v| v as f64));
        out.push(LungSummary {
            side: side_name(side).into(),
            volume_ml: lungs.volume_ml[side as usize - 1],
            centroid_mm: to_volume(sum.map(|s| s / n.max(1) as f64)),
            min_mm: [a[0].min(b[0]), a[1].min(b[1]), a[2].min(b[2])],
            max_mm: [a[0].max(b[0]), a[1].max(b[1]), a[2].max(b[2])],
        });
    }
    out
}

/// A nodule's size as mira-clinical holds it: each axis rounded half up to 0.1 mm from its
/// decimal value (so 3.95 is exactly 3.95), the short axis no longer than the long one.
pub fn clinical_size(long_axis_mm: f64, short_axis_mm: f64) -> NoduleSize {
    let long = Mm::from_f64(long_axis_mm.max(0.0)).unwrap_or(Mm::ZERO);
    let short = Mm::from_f64(short_axis_mm.max(0.0))
        .unwrap_or(Mm::ZERO)
        .min(long);
    NoduleSize::new(long, short).expect("short ≤ long")
}

/// The working-grid factors for a volume: block sizes that bring each axis near
/// [`WORKING_SPACING_MM`].
pub fn working_factors(volume: &Volume) -> [usize; 3] {
    [0, 1, 2].map(|a| ((WORKING_SPACING_MM / volume.spacing_mm[a]).round() as usize).max(1))
}

/// Segments the lungs of a volume alone (on the working grid; [`lungs::Lungs::factors`] maps
/// volume voxels to it).
pub fn segment_lungs(volume: &Volume) -> Result<Lungs, LungError> {
    let factors = working_factors(volume);
    let grid = grid::downsample(volume, factors);
    Ok(lungs::segment(
        &grid,
        factors,
        volume.row_direction[0] >= 0.0,
    )?)
}

/// Analyses one CT volume: lungs, nodules, measurements, types, Lung-RADS (or the options'
/// profile), compared with `prior` where given.
pub fn analyze(
    volume: &Volume,
    options: &LungOptions,
    prior: Option<&PriorStudy>,
) -> Result<LungReport, LungError> {
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |stage: &str, timings: &mut Vec<StageTiming>| {
        timings.push(StageTiming {
            stage: stage.into(),
            ms: clock.elapsed().as_secs_f64() * 1000.0,
        });
        clock = Instant::now();
    };
    let factors = working_factors(volume);
    let grid = grid::downsample(volume, factors);
    lap("resample", &mut timings);
    let lungs = lungs::segment(&grid, factors, volume.row_direction[0] >= 0.0)?;
    lap("lungs", &mut timings);
    let candidates = detect::candidates(&grid, &lungs);
    lap("candidates", &mut timings);
    let z_up = volume.normal[2] >= 0.0;
    let y_back = volume.column_direction[1] >= 0.0;
    let segmented: Vec<Found> = candidates
        .par_iter()
        .filter_map(|c| {
            let centre = [0, 1, 2]
                .map(|a| (c.voxel[a] * factors[a] + factors[a] / 2).min(volume.dims[a] - 1));
            let seg = segment::segment(volume, &lungs, centre, c.radius_mm)?;
            Some(Found {
                candidate: *c,
                seg,
                confidence: 0.0,
            })
        })
        .collect();
    let mut found = Vec::with_capacity(segmented.len());
    for mut f in segmented {
        f.confidence = match &options.classifier {
            Some(model) if !f.seg.touches_border => {
                model_confidence(model, volume, f.seg.centre_voxel)?
            }
            Some(_) => 0.0,
            None => classical_confidence(&f.candidate, &f.seg),
        };
        if f.confidence >= options.min_confidence {
            found.push(f);
        }
    }
    // one nodule per place: the most confident candidate wins
    found.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(b.seg.voxels.cmp(&a.seg.voxels))
    });
    let mut kept: Vec<Found> = Vec::new();
    let to_mm =
        |s: &Segmented| volume.to_patient(s.centre_voxel[0], s.centre_voxel[1], s.centre_voxel[2]);
    for f in found {
        let p = to_mm(&f.seg);
        let duplicate = kept.iter().any(|k| {
            let q = to_mm(&k.seg);
            let d = (0..3).map(|a| (p[a] - q[a]).powi(2)).sum::<f64>().sqrt();
            d < (k.seg.long_axis_mm.max(f.seg.long_axis_mm) / 2.0).max(2.0)
        });
        if !duplicate {
            kept.push(f);
        }
    }
    lap("nodules", &mut timings);
    let precision = options.profile.precision();
    let mut nodules = Vec::with_capacity(kept.len());
    let mut clinical = Vec::with_capacity(kept.len());
    for (i, f) in kept.iter().enumerate() {
        let s = &f.seg;
        let size =
            clinical_size(s.long_axis_mm, s.short_axis_mm).with_volume(s.volume_mm3.round() as u64);
        let (long, short) = (size.long_axis(), size.short_axis());
        let solid_component = s.solid_axes_mm.map(|(l, sh)| {
            let l = Mm::from_f64(l).unwrap_or(Mm::ZERO);
            precision.mean(l, Mm::from_f64(sh).unwrap_or(Mm::ZERO).min(l))
        });
        let attenuation = match s.kind {
            Kind::Solid => Attenuation::Solid,
            Kind::PartSolid => Attenuation::PartSolid { solid_component },
            Kind::GroundGlass => Attenuation::GroundGlass,
        };
        let calcified = s.calcified_fraction >= CALCIFIED_BENIGN_FRACTION;
        let mut nodule = Nodule::baseline(size, attenuation);
        if calcified {
            nodule.benign_feature =
                Some(BenignFeature::Calcification(CalcificationPattern::Complete));
        }
        if s.juxtapleural {
            nodule.location = Location::Juxtapleural {
                smooth_margins: false,
                benign_shape: false,
            };
        }
        let voxel = s.centre_voxel.map(|v| v.round().max(0.0) as usize);
        let w = [0, 1, 2].map(|a| (voxel[a] / factors[a]).min(lungs.dims[a] - 1));
        let mut side = lungs.label_at(w[0], w[1], w[2]);
        if side == 0 {
            side = lungs
                .label_at(
                    f.candidate.voxel[0],
                    f.candidate.voxel[1],
                    f.candidate.voxel[2],
                )
                .max(1);
        }
        let slice = &volume.slices[s.slice];
        nodules.push(NoduleReport {
            id: i as u32 + 1,
            centre_mm: to_mm(s),
            slice_index: s.slice,
            sop_instance_uid: slice.sop_instance_uid.clone(),
            sop_class_uid: slice.sop_class_uid.clone(),
            long_axis_px: s.long_axis_px,
            short_axis_px: s.short_axis_px,
            long_axis_mm: long.as_f64(),
            short_axis_mm: short.as_f64(),
            mean_diameter_mm: size.mean_diameter(precision).as_f64(),
            volume_mm3: s.volume_mm3.round() as u64,
            attenuation: match s.kind {
                Kind::Solid => "solid",
                Kind::PartSolid => "part-solid",
                Kind::GroundGlass => "ground-glass",
            }
            .into(),
            solid_component_mm: solid_component.map(Mm::as_f64),
            mean_hu: (s.mean_hu * 10.0).round() / 10.0,
            calcified_fraction: (s.calcified_fraction * 1000.0).round() / 1000.0,
            calcified,
            lung: side_name(side).into(),
            lobe: lobe(&lungs, side, w, z_up, y_back).into(),
            location: if s.juxtapleural {
                "juxtapleural"
            } else {
                "parenchymal"
            }
            .into(),
            confidence: (f.confidence * 1000.0).round() / 1000.0,
            category: String::new(),
            category_rule: String::new(),
            category_source: String::new(),
            management: String::new(),
            status: String::new(),
            prior: None,
        });
        clinical.push(nodule);
    }
    let lung_summary = lung_summaries(volume, &lungs);
    let mut not_found = Vec::new();
    if let Some(prior) = prior {
        let matches = priors::match_nodules(&nodules, &lung_summary, &prior.report);
        let mut taken = vec![false; prior.report.nodules.len()];
        for ((n, c), m) in nodules.iter_mut().zip(clinical.iter_mut()).zip(matches) {
            match m {
                Some((j, distance)) => {
                    taken[j] = true;
                    let p = &prior.report.nodules[j];
                    let then = Mm::from_f64(p.mean_diameter_mm).unwrap_or(Mm::ZERO);
                    c.history = History::Seen(vec![PriorMeasurement {
                        months_before: prior.months_before,
                        mean_diameter: then,
                        solid_component: p.solid_component_mm.and_then(|v| Mm::from_f64(v).ok()),
                        category: Some(p.category.clone()).filter(|c| !c.is_empty()),
                    }]);
                    n.prior = Some(PriorMatch {
                        prior_id: p.id,
                        prior_mean_diameter_mm: p.mean_diameter_mm,
                        growth_mm: ((n.mean_diameter_mm - p.mean_diameter_mm) * 10.0).round()
                            / 10.0,
                        distance_mm: (distance * 10.0).round() / 10.0,
                    });
                }
                None => c.history = History::New,
            }
        }
        not_found = prior
            .report
            .nodules
            .iter()
            .zip(&taken)
            .filter(|(_, t)| !**t)
            .map(|(n, _)| n.id)
            .collect();
    }
    let exam = options.profile.assess_exam(&clinical, &options.exam)?;
    for (n, a) in nodules.iter_mut().zip(&exam.nodules) {
        n.category = a.category.clone();
        n.category_rule = a.rule.clone();
        n.category_source = a.source.clone();
        n.management = a.management.clone();
        n.status = match a.status {
            NoduleStatus::Baseline => "baseline",
            NoduleStatus::New => "new",
            NoduleStatus::Growing => "growing",
            NoduleStatus::SlowlyGrowing => "slowly-growing",
            NoduleStatus::Stable => "stable",
        }
        .into();
    }
    lap("assessment", &mut timings);
    let model = options.classifier.as_ref().map(|m| ModelRef {
        id: m.manifest().id.clone(),
        version: m.manifest().version.clone(),
        sha256: m.sha256().to_string(),
    });
    Ok(LungReport {
        algorithm: Algorithm {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
            fp_reduction: model.as_ref().map_or("classical".into(), |m| m.id.clone()),
            model,
        },
        study_instance_uid: volume.study_instance_uid.clone(),
        series_instance_uid: volume.series_instance_uid.clone(),
        frame_of_reference_uid: volume.frame_of_reference_uid.clone(),
        study_date: volume.study_date.clone(),
        volume: VolumeSummary {
            dims: volume.dims,
            spacing_mm: volume.spacing_mm,
            slice_thickness_mm: volume.slice_thickness_mm,
        },
        lungs: lung_summary,
        candidates: candidates.len(),
        nodules,
        prior_nodules_not_found: not_found,
        exam: ExamReport {
            label: exam.label(),
            category: exam.category.clone(),
            management: exam.management.clone(),
            rule: exam.rule.clone(),
            source: exam.source.clone(),
            most_suspicious: exam.most_suspicious.map(|i| i as u32 + 1),
        },
        profile: ProfileRef {
            id: options.profile.id().into(),
            name: options.profile.name().into(),
            citation: options.profile.citation().into(),
        },
        prior: prior.map(|p| PriorRef {
            study_instance_uid: p.report.study_instance_uid.clone(),
            series_instance_uid: p.report.series_instance_uid.clone(),
            months_before: p.months_before,
        }),
        timings,
    })
}
