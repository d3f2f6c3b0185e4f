//! Analysis routing and execution: the bridge between a settled, quality-checked study and
//! the analyzers (lung nodules on chest CT, diabetic-retinopathy screening on fundus
//! photographs, and whatever a site adds).
//!
//! - [`analyzer`]: the [`Analyzer`] trait. An analyzer decides from a [`StudyView`] (the
//!   study's series and instances with their QC outcomes) which subjects it wants, and turns
//!   the files of one subject into a JSON report, worklist flags and derived DICOM objects
//!   (a Structured Report).
//! - [`jobs`]: [`JobQueue`], the jobs in the catalogue database (`analysis_jobs`). Jobs are
//!   claimed with a lease and retried with exponential backoff; a result is stored only by
//!   the lease holder.
//! - [`fundus`] and `lung`: the analyzers mira ships, over `mira-fundus` and `mira-lung`, each
//!   writing its result as a TID 1500 SR (`mira-sr`).
//! - [`worker`]: the server's loop. It routes every study whose study-level QC result is newer
//!   than what it routed last (QC's settle window is the completeness signal), claims jobs,
//!   runs them on the blocking pool, stores derived objects through the ingest pipeline (so an
//!   AI result is an ordinary instance of the study: queryable, retrievable) and records the
//!   outcome.
//!
//! # Invariants
//! - A job is identified by (analyzer, subject, digest of the inputs' blob keys): routing the
//!   same study twice makes no new job; new or replaced instances make a new one.
//! - `done` implies every derived object is durable in the archive. Derived SOP Instance UIDs
//!   are derived from the job's identity, so a job that runs twice (lease expired) stores the
//!   same UIDs, and the archive keeps one instance of each.
//! - Analysis results are drafts for a physician: nothing here signs or verifies anything.
//! - Logs name jobs by id and analyzer, never patients.
//!
//! The queue lives in the catalogue database, not in memory, so that any node can route and
//! run jobs and nothing is lost across restarts. This crate knows nothing of HTTP or DIMSE.
#![warn(missing_docs)]

pub mod analyzer;
pub mod fundus;
pub mod jobs;
pub mod lung;
pub mod worker;

pub use analyzer::{
    AnalysisInput, AnalysisOutput, Analyzer, AnalyzerError, Flag, InputFile, InstanceView,
    PriorResult, SeriesView, StudyView, Subject, SubjectLevel,
};
pub use jobs::{Job, JobQueue, JobRow, JobState, QueueError};
pub use worker::{AnalysisSettings, load_study, spawn};

/// Today's date and the time now, UTC, as DICOM DA and TM (`YYYYMMDD`, `HHMMSS`), for the
/// content date and time of derived objects.
pub(crate) fn now_date_time() -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    (
        format!(
            "{:04}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        ),
        format!("{:02}{:02}{:02}", now.hour(), now.minute(), now.second()),
    )
}
