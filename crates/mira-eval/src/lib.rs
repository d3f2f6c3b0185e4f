//! mira's evaluation centre: scores models (mira's own or external products) on ground truth
//! and gates their deployment.
//!
//! - [`froc`]: nodule detection, FROC and CPM exactly as the LUNA16 evaluation script
//!   defines them, with bootstrap intervals.
//! - [`classify`]: sensitivity/specificity at the operating point (Wilson), ROC AUC (DeLong),
//!   accuracy, macro-F1, Cohen's and quadratic-weighted kappa, confusion matrix, calibration.
//! - [`measure`]: Bland–Altman bias and limits of agreement.
//! - [`subgroup`]: every classification metric by sex, age band, site, manufacturer and
//!   model, with a flag when a subgroup falls below the whole by more than a margin.
//! - [`report`]: JSON and self-contained HTML with inline SVG plots.
//! - [`dataset`]: ground truth imported from CSV or JSON, versioned by content hash.
//! - [`gate`] and [`catalogue`]: the model catalogue (model versions, their evaluation runs,
//!   deployment state) and the deployment gate: thresholds per intended use, as TOML.
//! - [`run`]: a mira-models model run over a dataset of images.
//! - [`monitoring`]: post-deployment monitoring: physicians' acceptance, edits and
//!   rejections of a deployed model's findings per version and site, with drift alerts.
//!
//! # Invariants
//!
//! - No HTTP: the server shapes these results for clients.
//! - Every resampling is seeded: the same inputs give the same report.
//! - A model is deployed only when its latest evaluation on the dataset its gate requires
//!   meets every threshold; a refusal says which and by how much.
#![warn(missing_docs)]

pub mod catalogue;
pub mod classify;
pub mod dataset;
pub mod error;
pub mod froc;
pub mod gate;
pub mod measure;
pub mod monitoring;
pub mod report;
pub mod run;
pub mod stats;
pub mod subgroup;
pub mod table;

pub use error::InputError;
pub use stats::Estimate;
