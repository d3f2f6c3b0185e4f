//! What an analyzer is to the platform: it chooses its subjects in a settled study and turns a
//! subject's files into a report, flags and derived objects.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A stored study as routing sees it: every series and instance with its QC outcome.
#[derive(Debug, Clone, Serialize)]
pub struct StudyView {
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Study Date (DA), when known.
    pub study_date: Option<String>,
    /// The study-level QC outcome (`pass`, `info`, `warning`, `fail`).
    pub qc_outcome: Option<String>,
    /// The series, in the order they were stored.
    pub series: Vec<SeriesView>,
}

/// One series of a [`StudyView`].
#[derive(Debug, Clone, Serialize)]
pub struct SeriesView {
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// Modality.
    pub modality: Option<String>,
    /// Body Part Examined.
    pub body_part_examined: Option<String>,
    /// Series Description.
    pub series_description: Option<String>,
    /// Protocol Name.
    pub protocol_name: Option<String>,
    /// The series-level QC outcome (CT completeness and protocol for CT).
    pub qc_outcome: Option<String>,
    /// The instances, by Instance Number.
    pub instances: Vec<InstanceView>,
}

/// One instance of a [`SeriesView`].
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Blob key of the stored file.
    pub blob_key: String,
    /// Where the instance came from: `import`, `stow-rs`, a calling AE title, or an analyzer.
    pub received_from: String,
    /// The instance-level QC outcome.
    pub qc_outcome: Option<String>,
    /// The instance-level QC grade (fundus gradability: `good`, `usable`, `reject`).
    pub qc_grade: Option<String>,
}

/// Granularity of a job's subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectLevel {
    /// The whole study (e.g. both eyes of a fundus screening).
    Study,
    /// One series (e.g. a chest CT volume).
    Series,
    /// One instance.
    Instance,
}

impl SubjectLevel {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectLevel::Study => "study",
            SubjectLevel::Series => "series",
            SubjectLevel::Instance => "instance",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "study" => Some(SubjectLevel::Study),
            "series" => Some(SubjectLevel::Series),
            "instance" => Some(SubjectLevel::Instance),
            _ => None,
        }
    }
}

/// What an analyzer wants analysed: a study, series or instance, and exactly which instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Granularity.
    pub level: SubjectLevel,
    /// The UID of the study, series or instance.
    pub uid: String,
    /// The instances to analyse: (SOP Instance UID, blob key).
    pub instances: Vec<(String, String)>,
}

impl Subject {
    /// SHA-256 over the sorted blob keys: the identity of the input.
    pub fn input_digest(&self) -> String {
        let mut keys: Vec<&str> = self.instances.iter().map(|(_, k)| k.as_str()).collect();
        keys.sort_unstable();
        let mut hash = Sha256::new();
        for key in keys {
            hash.update(key.as_bytes());
            hash.update(b"\n");
        }
        hex::encode(hash.finalize())
    }
}

/// One file given to an analyzer.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// The stored PS3.10 file.
    pub path: PathBuf,
}

/// A finished result of the same analyzer on an earlier study of the same patient.
#[derive(Debug, Clone)]
pub struct PriorResult {
    /// Study Instance UID of the earlier study.
    pub study_instance_uid: String,
    /// Its Study Date (DA).
    pub study_date: Option<String>,
    /// The analyzer's report on it.
    pub result: serde_json::Value,
}

/// Everything an analyzer gets for one job.
#[derive(Debug, Clone)]
pub struct AnalysisInput {
    /// The job's id (for logs).
    pub job_id: i64,
    /// Granularity of the subject.
    pub level: SubjectLevel,
    /// The subject's UID.
    pub subject_uid: String,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Study Date of this study (DA), when known.
    pub study_date: Option<String>,
    /// The files, in the order routing listed them.
    pub files: Vec<InputFile>,
    /// Earlier results on the same patient, most recent first (only for analyzers that
    /// [`want priors`](Analyzer::wants_priors)).
    pub priors: Vec<PriorResult>,
    /// Identity of the job, for derived UIDs.
    pub(crate) identity: String,
}

impl AnalysisInput {
    /// The `n`th UID for an object this job derives (an SR, its series): the same for every
    /// run of the same job, so a job that runs twice stores the same instances. A `2.25` UID
    /// from 128 bits of SHA-256 over the job's identity (PS3.5 B.2).
    pub fn derived_uid(&self, n: u32) -> String {
        let mut hash = Sha256::new();
        hash.update(self.identity.as_bytes());
        hash.update(n.to_be_bytes());
        let digest = hash.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        format!("2.25.{}", u128::from_be_bytes(bytes))
    }
}

/// A flag for the worklist: what a reader should see before opening the study.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// Stable code, e.g. `lung-rads-4B`, `dr-referable`, `fundus-ungradable`.
    pub code: String,
    /// Short text for people.
    pub label: String,
    /// Whether the study goes to the top of the worklist.
    pub urgent: bool,
}

/// What an analyzer produced for one job.
#[derive(Debug, Clone, Default)]
pub struct AnalysisOutput {
    /// The report (the analyzer's documented JSON).
    pub result: serde_json::Value,
    /// Worklist flags.
    pub flags: Vec<Flag>,
    /// Derived DICOM objects as PS3.10 bytes (e.g. a TID 1500 SR), stored in the archive.
    pub derived: Vec<Vec<u8>>,
}

/// Why a job did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    /// The input cannot be analysed (gantry tilt, incomplete series, not a fundus image…):
    /// final, the job is not retried; the message says why, for the reader.
    #[error("cannot analyse: {0}")]
    Refused(String),
    /// Something failed that may succeed later (I/O, resources): retried with backoff.
    #[error("analysis failed: {0}")]
    Failed(String),
}

/// An analyzer the worker can route to.
pub trait Analyzer: Send + Sync + 'static {
    /// Stable name, stored with each job (e.g. `lung-ct`, `fundus-dr`).
    fn name(&self) -> &str;
    /// Version of the algorithm or model, stored with each result.
    fn version(&self) -> String;
    /// The subjects of `study` this analyzer wants analysed (none is fine).
    fn route(&self, study: &StudyView) -> Vec<Subject>;
    /// Whether [`AnalysisInput::priors`] should carry earlier results of the same patient.
    fn wants_priors(&self) -> bool {
        false
    }
    /// Analyses one subject. Runs on the blocking pool.
    fn run(&self, input: &AnalysisInput) -> Result<AnalysisOutput, AnalyzerError>;
}
