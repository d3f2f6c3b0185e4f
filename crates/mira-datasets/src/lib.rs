//! Dataset release: the regional plan's "apply – use – feedback" process for data that
//! leaves the clinic for research or model training.
//!
//! 1. A researcher **requests** a dataset: a purpose and criteria (modality, study dates,
//!    body part, sites, de-identification options) — [`Releases::request`].
//! 2. A data steward **approves** or **refuses** it, with a note — [`Releases::decide`].
//! 3. The steward **exports** an approved request: the matching studies, within the
//!    steward's own sites, are de-identified by PS3.15 Annex E (`mira-deid`) into a tar archive
//!    with a `manifest.json` (every file with its SHA-256, the profile and options, the key's
//!    fingerprint, what was refused and why) — [`Releases::export`].
//! 4. The researcher downloads the archive and later **reports back** use and results —
//!    [`Releases::feedback`].
//!
//! Every step is a state change in `dataset_requests` (migration `20261125000070`), refused
//! out of order ([`ReleaseError::State`]); the edges audit each one.
//!
//! # Invariants
//! - Nothing identifying leaves: the archive holds only de-identified instances and a manifest
//!   of new UIDs, pseudonyms and digests; an instance the de-identifier refuses (burned-in
//!   annotation, unreadable) is counted in the manifest and left out.
//! - The export covers only studies of the exporting steward's sites (`SiteFilter`).
//! - Only the requester may download and report back; only a steward may decide and export.
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use mira_deid::{DeidKey, DeidOption, Deidentifier};
use mira_store::{Archive, BlobKey, Level, Matcher, Query, SiteFilter};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

/// What a researcher asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// Modality in the study (e.g. `CT`).
    #[serde(default)]
    pub modality: Option<String>,
    /// First study date, `YYYYMMDD`.
    #[serde(default)]
    pub study_date_from: Option<String>,
    /// Last study date, `YYYYMMDD`.
    #[serde(default)]
    pub study_date_to: Option<String>,
    /// Sites (codes) to draw from; empty: every site the exporting steward may see.
    #[serde(default)]
    pub sites: Vec<String>,
    /// PS3.15 options by their CLI names (`retain-dates`, `retain-patient-characteristics`…).
    #[serde(default)]
    pub options: Vec<String>,
    /// Most studies to export.
    #[serde(default)]
    pub max_studies: Option<u32>,
}

/// State of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for a steward.
    Requested,
    /// Approved, not yet exported.
    Approved,
    /// Refused (final).
    Refused,
    /// Exported; the requester may download.
    Exported,
    /// The requester reported back (final).
    Closed,
}

impl State {
    fn parse(text: &str) -> Option<State> {
        Some(match text {
            "requested" => State::Requested,
            "approved" => State::Approved,
            "refused" => State::Refused,
            "exported" => State::Exported,
            "closed" => State::Closed,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            State::Requested => "requested",
            State::Approved => "approved",
            State::Refused => "refused",
            State::Exported => "exported",
            State::Closed => "closed",
        }
    }
}

/// A request as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    /// Id.
    pub id: i64,
    /// The researcher.
    pub requested_by: String,
    /// The researcher's site.
    pub requester_site: String,
    /// What the data is for.
    pub purpose: String,
    /// What is asked for.
    pub criteria: Criteria,
    /// Where it stands.
    pub state: State,
    /// The steward who decided.
    pub decided_by: Option<String>,
    /// Their note.
    pub decision_note: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// When it was exported.
    pub exported_at: Option<String>,
    /// The export's manifest.
    pub manifest: Option<serde_json::Value>,
    /// The researcher's report of use and results.
    pub feedback: Option<String>,
    /// When they reported.
    pub feedback_at: Option<String>,
    /// When it was made.
    pub created_at: String,
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// No such request.
    #[error("no dataset request {0}")]
    NotFound(i64),
    /// The step does not apply in the request's state.
    #[error("the request is {state}; {step} needs it {needed}")]
    State {
        /// Current state.
        state: &'static str,
        /// The step.
        step: &'static str,
        /// The state it needs.
        needed: &'static str,
    },
    /// Someone other than the requester.
    #[error("only the researcher who made the request may {0}")]
    NotRequester(&'static str),
    /// Bad criteria or input.
    #[error("{0}")]
    Invalid(String),
    /// The server has no de-identification key.
    #[error("no de-identification key is configured ([deid] key_file)")]
    NoKey,
    /// Writing the export failed.
    #[error("export: {0}")]
    Io(String),
    /// The database failed.
    #[error("dataset requests: {0}")]
    Database(#[from] sqlx::Error),
    /// The catalogue failed.
    #[error("catalogue: {0}")]
    Store(String),
}

/// The release process over the catalogue database.
#[derive(Debug, Clone)]
pub struct Releases {
    pool: AnyPool,
}

const COLUMNS: &str = "id, requested_by, requester_site, purpose, criteria, state, decided_by, \
    decision_note, decided_at, exported_at, manifest, feedback, feedback_at, created_at";

fn request_row(row: &sqlx::any::AnyRow) -> Result<Request, ReleaseError> {
    let criteria: String = row.get(4);
    let state: String = row.get(5);
    let manifest: Option<String> = row.get(10);
    Ok(Request {
        id: row.get(0),
        requested_by: row.get(1),
        requester_site: row.get(2),
        purpose: row.get(3),
        criteria: serde_json::from_str(&criteria)
            .map_err(|e| ReleaseError::Invalid(format!("stored criteria: {e}")))?,
        state: State::parse(&state)
            .ok_or_else(|| ReleaseError::Invalid(format!("stored state {state:?}")))?,
        decided_by: row.get(6),
        decision_note: row.get(7),
        decided_at: row.get(8),
        exported_at: row.get(9),
        manifest: manifest.and_then(|m| serde_json::from_str(&m).ok()),
        feedback: row.get(11),
        feedback_at: row.get(12),
        created_at: row.get(13),
    })
}

impl Releases {
    /// The process over the catalogue database behind `pool`.
    pub fn new(pool: AnyPool) -> Self {
        Releases { pool }
    }

    /// A researcher's request.
    pub async fn request(
        &self,
        researcher: &str,
        site: &str,
        purpose: &str,
        criteria: &Criteria,
    ) -> Result<Request, ReleaseError> {
        if purpose.trim().len() < 10 {
            return Err(ReleaseError::Invalid(
                "say what the data is for (a purpose of at least 10 characters)".into(),
            ));
        }
        options_of(criteria)?;
        for date in [&criteria.study_date_from, &criteria.study_date_to]
            .into_iter()
            .flatten()
        {
            if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ReleaseError::Invalid(format!(
                    "study dates are YYYYMMDD, not {date:?}"
                )));
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO dataset_requests (requested_by, requester_site, purpose, criteria)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(researcher)
        .bind(site)
        .bind(purpose.trim())
        .bind(serde_json::to_string(criteria).expect("criteria serialise"))
        .fetch_one(&self.pool)
        .await?;
        self.get(id).await
    }

    /// One request.
    pub async fn get(&self, id: i64) -> Result<Request, ReleaseError> {
        let sql = format!("SELECT {COLUMNS} FROM dataset_requests WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(ReleaseError::NotFound(id))?;
        request_row(&row)
    }

    /// Requests, newest first: all of them, or one researcher's.
    pub async fn list(&self, researcher: Option<&str>) -> Result<Vec<Request>, ReleaseError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM dataset_requests WHERE ($1 IS NULL OR requested_by = $1)
             ORDER BY id DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(researcher)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(request_row).collect()
    }

    async fn transition(
        &self,
        id: i64,
        step: &'static str,
        from: State,
        sql: &'static str,
        binds: &[&str],
    ) -> Result<Request, ReleaseError> {
        let current = self.get(id).await?;
        if current.state != from {
            return Err(ReleaseError::State {
                state: current.state.as_str(),
                step,
                needed: from.as_str(),
            });
        }
        let mut query = sqlx::query(sql);
        for b in binds {
            query = query.bind(*b);
        }
        let done = query
            .bind(id)
            .bind(from.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() != 1 {
            // decided by someone else meanwhile
            let now = self.get(id).await?;
            return Err(ReleaseError::State {
                state: now.state.as_str(),
                step,
                needed: from.as_str(),
            });
        }
        self.get(id).await
    }

    /// A steward's decision on a request.
    pub async fn decide(
        &self,
        id: i64,
        steward: &str,
        approve: bool,
        note: &str,
    ) -> Result<Request, ReleaseError> {
        let state = if approve { "approved" } else { "refused" };
        let now = mira_store::db::now();
        self.transition(
            id,
            "a decision",
            State::Requested,
            "UPDATE dataset_requests SET state = $1, decided_by = $2, decision_note = $3,
                decided_at = $4
             WHERE id = $5 AND state = $6",
            &[state, steward, note, &now],
        )
        .await
    }

    /// The requester's report of use and results; closes the request.
    pub async fn feedback(
        &self,
        id: i64,
        researcher: &str,
        text: &str,
    ) -> Result<Request, ReleaseError> {
        if self.get(id).await?.requested_by != researcher {
            return Err(ReleaseError::NotRequester("report back on it"));
        }
        if text.trim().is_empty() {
            return Err(ReleaseError::Invalid("say how the data was used".into()));
        }
        self.transition(
            id,
            "feedback",
            State::Exported,
            "UPDATE dataset_requests SET state = 'closed', feedback = $1,
                feedback_at = $2
             WHERE id = $3 AND state = $4",
            &[text.trim(), &mira_store::db::now()],
        )
        .await
    }

    /// The archive of an exported request, for its requester only.
    pub async fn archive_for(&self, id: i64, researcher: &str) -> Result<PathBuf, ReleaseError> {
        let request = self.get(id).await?;
        if request.requested_by != researcher {
            return Err(ReleaseError::NotRequester("download it"));
        }
        if !matches!(request.state, State::Exported | State::Closed) {
            return Err(ReleaseError::State {
                state: request.state.as_str(),
                step: "a download",
                needed: "exported",
            });
        }
        let path: Option<String> =
            sqlx::query_scalar("SELECT archive_path FROM dataset_requests WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        path.map(PathBuf::from)
            .ok_or_else(|| ReleaseError::Io("the archive is missing".into()))
    }

    /// Exports an approved request: de-identifies the matching studies within `sites` into
    /// `export_dir/dataset-<id>.tar` with its manifest. Blocking work runs on the blocking
    /// pool.
    pub async fn export(
        &self,
        id: i64,
        steward: &str,
        sites: &SiteFilter,
        archive: &Archive,
        key: Option<&DeidKey>,
        export_dir: &Path,
    ) -> Result<Request, ReleaseError> {
        let request = self.get(id).await?;
        if request.state != State::Approved {
            return Err(ReleaseError::State {
                state: request.state.as_str(),
                step: "an export",
                needed: "approved",
            });
        }
        let key = key.ok_or(ReleaseError::NoKey)?;
        let options = options_of(&request.criteria)?;
        let deidentifier = Deidentifier::new(key.clone(), &options);
        let sites = self.narrow(sites, &request.criteria.sites).await?;
        let mut query = Query::new(Level::Study);
        if let Some(modality) = &request.criteria.modality {
            query
                .key_matcher(
                    dicom_dictionary_std::tags::MODALITIES_IN_STUDY,
                    Matcher::Single(modality.clone()),
                )
                .map_err(|e| ReleaseError::Invalid(e.to_string()))?;
        }
        if request.criteria.study_date_from.is_some() || request.criteria.study_date_to.is_some() {
            query
                .key_matcher(
                    dicom_dictionary_std::tags::STUDY_DATE,
                    Matcher::Range {
                        from: request.criteria.study_date_from.clone(),
                        to: request.criteria.study_date_to.clone(),
                    },
                )
                .map_err(|e| ReleaseError::Invalid(e.to_string()))?;
        }
        query.sites = sites;
        query.limit = request.criteria.max_studies;
        let studies = archive
            .catalogue
            .query(&query)
            .await
            .map_err(|e| ReleaseError::Store(e.to_string()))?;
        let mut files = Vec::new();
        for study in &studies {
            let Some(uid) = study.get(dicom_dictionary_std::tags::STUDY_INSTANCE_UID) else {
                continue;
            };
            let scope = mira_store::Scope {
                study_instance_uid: uid.to_string(),
                series_instance_uid: None,
                sop_instance_uid: None,
            };
            for located in archive
                .catalogue
                .locate(&scope)
                .await
                .map_err(|e| ReleaseError::Store(e.to_string()))?
            {
                if let Ok(key) = BlobKey::parse(&located.blob_key) {
                    files.push(
                        archive
                            .blobs
                            .local_path(&key)
                            .await
                            .map_err(|e| ReleaseError::Store(e.to_string()))?,
                    );
                }
            }
        }
        let dir = export_dir.to_path_buf();
        let header = serde_json::json!({
            "dataset": id,
            "purpose": request.purpose,
            "requested_by": request.requested_by,
            "approved_by": request.decided_by,
            "exported_by": steward,
            "criteria": request.criteria,
            "profile": {
                "standard": "DICOM PS3.15 Annex E",
                "codes": std::iter::once(mira_deid::BASIC_PROFILE_CODE)
                    .chain(options.iter().map(|o| o.code()))
                    .map(|(code, meaning)| serde_json::json!({"code": code, "scheme": "DCM", "meaning": meaning}))
                    .collect::<Vec<_>>(),
            },
            "key_fingerprint": key.fingerprint("mira dataset key"),
            "studies": studies.len(),
        });
        let (archive_path, manifest) = tokio::task::spawn_blocking(move || {
            write_archive(&deidentifier, id, &files, &dir, header)
        })
        .await
        .map_err(|e| ReleaseError::Io(e.to_string()))??;
        let manifest_text = manifest.to_string();
        let path_text = archive_path.display().to_string();
        self.transition(
            id,
            "an export",
            State::Approved,
            "UPDATE dataset_requests SET state = 'exported', exported_by = $1, manifest = $2,
                archive_path = $3, exported_at = $4
             WHERE id = $5 AND state = $6",
            &[steward, &manifest_text, &path_text, &mira_store::db::now()],
        )
        .await
    }

    /// The sites of the export: the steward's, narrowed to the requested ones.
    async fn narrow(
        &self,
        steward: &SiteFilter,
        codes: &[String],
    ) -> Result<SiteFilter, ReleaseError> {
        if codes.is_empty() {
            return Ok(steward.clone());
        }
        let mut ids = Vec::new();
        for code in codes {
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM sites WHERE code = $1")
                .bind(code)
                .fetch_optional(&self.pool)
                .await?;
            let id = id.ok_or_else(|| ReleaseError::Invalid(format!("no site {code:?}")))?;
            if steward.allows(Some(id)) {
                ids.push(id);
            }
        }
        Ok(SiteFilter::Only(ids))
    }
}

fn options_of(criteria: &Criteria) -> Result<Vec<DeidOption>, ReleaseError> {
    criteria
        .options
        .iter()
        .map(|name| {
            DeidOption::from_cli_name(name).ok_or_else(|| {
                ReleaseError::Invalid(format!("unknown de-identification option {name:?}"))
            })
        })
        .collect()
}

/// De-identifies `files` into a tar at `dir/dataset-<id>.tar`: `manifest.json` first, then
/// `files/<patient pseudonym>/<study>/<series>/<instance>.dcm`.
fn write_archive(
    deidentifier: &Deidentifier,
    id: i64,
    files: &[PathBuf],
    dir: &Path,
    mut manifest: serde_json::Value,
) -> Result<(PathBuf, serde_json::Value), ReleaseError> {
    let io = |e: std::io::Error| ReleaseError::Io(e.to_string());
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let mut listed = Vec::new();
    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    let mut patients = std::collections::BTreeSet::new();
    for path in files {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                *refused
                    .entry(format!("unreadable: {}", e.kind()))
                    .or_default() += 1;
                continue;
            }
        };
        match deidentifier.deidentify_bytes(&bytes) {
            Ok((out, report)) => {
                let name = format!(
                    "files/{}/{}/{}/{}.dcm",
                    report.patient_pseudonym,
                    report.study_instance_uid,
                    report.series_instance_uid,
                    report.sop_instance_uid
                );
                patients.insert(report.patient_pseudonym.clone());
                listed.push(serde_json::json!({
                    "path": name,
                    "sha256": hex::encode(Sha256::digest(&out)),
                    "size": out.len(),
                }));
                entries.push((name, out));
            }
            // the reason names no value of the file (mira-deid's errors never do)
            Err(e) => *refused.entry(e.to_string()).or_default() += 1,
        }
    }
    manifest["instances"] = serde_json::json!(entries.len());
    manifest["patients"] = serde_json::json!(patients.len());
    manifest["refused"] = serde_json::json!(refused);
    manifest["files"] = serde_json::json!(listed);
    let final_path = dir.join(format!("dataset-{id}.tar"));
    let partial = dir.join(format!("dataset-{id}.tar.partial"));
    let file = std::fs::File::create(&partial).map_err(io)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut append = |name: &str, data: &[u8]| -> Result<(), ReleaseError> {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, format!("dataset-{id}/{name}"), data)
            .map_err(io)
    };
    append(
        "manifest.json",
        serde_json::to_string_pretty(&manifest)
            .expect("manifest serialises")
            .as_bytes(),
    )?;
    for (name, data) in &entries {
        append(name, data)?;
    }
    let mut writer = tar.into_inner().map_err(io)?;
    writer.flush().map_err(io)?;
    writer
        .into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)?;
    std::fs::rename(&partial, &final_path).map_err(io)?;
    Ok((final_path, manifest))
}
