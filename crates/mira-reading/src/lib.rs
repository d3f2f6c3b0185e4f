//! The reading workflow: what a physician sees, decides and signs.
//!
//! The rule that governs it: **AI never replaces the physician's judgement**. Analyzers leave
//! drafts (their results in `analysis_jobs`); here a physician accepts, edits or rejects each
//! AI finding, adds their own, writes the report from a template pre-filled with the findings
//! they kept, checks it (report QC), notifies critical findings, and signs. A signed report is
//! immutable (database triggers refuse any change); later changes are addenda, each signed.
//!
//! | module | what |
//! |---|---|
//! | [`worklist`] | the worklist: studies with site, QC, AI flags and reading state, filtered to the caller's sites |
//! | [`findings`] | AI findings read out of analyzer results, with the physician's decisions applied |
//! | [`reports`] | drafts, report QC, signing, addenda, notifications, and what the exports need |
//! | [`review`] | what reading tells the evaluation centre (agreement per model version and site) and report indicators |
//!
//! Who may do what is decided by the caller (the web layer checks the `sign` permission and
//! re-authenticates before a signature); this crate records who did it and when. It keeps its
//! tables in the catalogue database (migration `20261203000080_reading.sql`) and knows nothing
//! of HTTP.
#![warn(missing_docs)]

pub mod findings;
pub mod reports;
pub mod review;
pub mod worklist;

use sqlx::AnyPool;

pub use findings::{DecisionInput, FindingView};
pub use reports::{NewNotification, ReportPatch, ReportView, SignedBy};
pub use review::{AgreementRow, ReportIndicators};
pub use worklist::{StudySummary, WorklistFilter};

/// Why a reading operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadingError {
    /// The database failed.
    #[error("catalogue database: {0}")]
    Database(#[from] sqlx::Error),
    /// The study is unknown, or outside the caller's sites (told apart nowhere).
    #[error("no such study")]
    UnknownStudy,
    /// No finding with that id on the study.
    #[error("no such finding on this study")]
    UnknownFinding,
    /// No report with that id.
    #[error("no such report")]
    UnknownReport,
    /// The study's report is signed: decisions and edits are closed; use an addendum.
    #[error("the report is signed; changes go into a signed addendum")]
    Signed,
    /// An addendum needs a signed report first.
    #[error("the report is not signed yet; edit the draft instead")]
    NotSigned,
    /// The request is not valid (says why).
    #[error("{0}")]
    Invalid(String),
    /// Report QC found errors that block signing.
    #[error("report QC found {} error(s)", .0.issues.iter().filter(|i| i.severity == mira_report::qc::Severity::Error).count())]
    QcFailed(mira_report::qc::QcResult),
    /// Something stored cannot be read back.
    #[error("stored reading data is corrupt: {0}")]
    Corrupt(String),
}

/// The reading workflow over the catalogue database.
#[derive(Debug, Clone)]
pub struct Reading {
    pool: AnyPool,
    settings: ReadingSettings,
}

/// Settings of the reading workflow (`[reading]` in the configuration).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadingSettings {
    /// The language of pre-filled reports and finding labels (Chinese by default).
    pub language: mira_report::Language,
    /// Report turnaround limits (报告时限), per exam class.
    pub turnaround: mira_report::qc::TurnaroundLimits,
}

impl Reading {
    /// The workflow on the catalogue's pool (its migrations already applied).
    pub fn new(pool: AnyPool, settings: ReadingSettings) -> Self {
        Reading { pool, settings }
    }

    /// The settings in force.
    pub fn settings(&self) -> &ReadingSettings {
        &self.settings
    }
}

/// Now, as stored (`2026-12-03T14:00:00.000Z`, the format of the catalogue's timestamps).
pub(crate) use mira_store::db::now;
