//! The worklist: every study the caller's sites may see, with its QC outcome, AI state and
//! flags, and its reading state; urgent AI findings first.
//!
//! Reading states: `new` (nothing analysed yet), `ai-done` (analysis finished), `in-review` (a
//! physician opened it, decided a finding or drafted a report), `signed`, `amended` (a signed
//! addendum exists).

use std::collections::BTreeMap;

use mira_store::SiteFilter;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Reading, ReadingError};

/// Filters of the worklist (every one optional).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WorklistFilter {
    /// Reading state.
    pub state: Option<String>,
    /// A modality in the study.
    pub modality: Option<String>,
    /// Site code.
    pub site: Option<String>,
    /// Only studies with an urgent AI flag or an urgent priority.
    pub urgent: Option<bool>,
    /// Text in the patient's name or ID or the accession number.
    pub q: Option<String>,
    /// `urgency` (default) or `date`.
    pub sort: Option<String>,
    /// At most this many (default 200, at most 1000).
    pub limit: Option<u32>,
}

/// A site as the worklist shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SiteLabel {
    /// Machine-readable code.
    pub code: String,
    /// Name shown.
    pub name: String,
}

/// QC outcome of a study.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QcSummary {
    /// The study-level outcome (`pass`, `info`, `warning`, `fail`), `None` before QC ran.
    pub outcome: Option<String>,
    /// Rules that failed on any instance, series or the study.
    pub failed: Vec<String>,
}

/// An AI flag for the worklist.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AiFlag {
    /// Machine-readable code.
    pub code: String,
    /// A short description, in the report's language.
    pub label: String,
    /// Whether it puts the study first on the worklist.
    pub urgent: bool,
}

/// The AI state of a study.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AiSummary {
    /// `none`, `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Every flag of every analysis job.
    pub flags: Vec<AiFlag>,
}

/// One worklist row (also the header of a study opened for reading).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StudySummary {
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Patient's Name (0010,0010).
    pub patient_name: Option<String>,
    /// Patient ID (0010,0020).
    pub patient_id: Option<String>,
    /// Patient's Sex (0010,0040).
    pub patient_sex: Option<String>,
    /// Patient's Birth Date (0010,0030), DA.
    pub patient_birth_date: Option<String>,
    /// Accession Number (0008,0050): the exam number.
    pub accession_number: Option<String>,
    /// Study Date (0008,0020), DA.
    pub study_date: Option<String>,
    /// Study Time (0008,0030), TM.
    pub study_time: Option<String>,
    /// Study Description (0008,1030): the exam item.
    pub study_description: Option<String>,
    /// Image modalities (SR and PR left out).
    pub modalities: Vec<String>,
    /// Site code (`None` for studies of no site).
    pub site: Option<SiteLabel>,
    /// `site_pk`, for the review records.
    #[serde(skip)]
    pub site_pk: Option<i64>,
    /// `routine`, `urgent` or `stat`.
    pub priority: String,
    /// An urgent AI flag or an urgent priority.
    pub urgent: bool,
    /// QC outcome.
    pub qc: QcSummary,
    /// AI state and flags.
    pub ai: AiSummary,
    /// Reading state: `new`, `ai-done`, `in-review`, `signed` or `amended`.
    pub state: String,
    /// When the study arrived, and when its last image did (exam completion).
    pub received_at: String,
    /// When its last image arrived (UTC): exam completion for turnaround.
    pub last_received_at: Option<String>,
    /// Series in the study.
    pub series_count: i64,
    /// Instances in the study.
    pub instance_count: i64,
}

/// Counts per reading state.
pub type StateCounts = BTreeMap<String, usize>;

fn sites_clause(sites: &SiteFilter) -> String {
    match sites {
        SiteFilter::All => "1 = 1".into(),
        SiteFilter::Only(ids) if ids.is_empty() => "0 = 1".into(),
        // integers only: nothing a caller typed reaches this text
        SiteFilter::Only(ids) => format!(
            "s.site_pk IN ({})",
            ids.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

const STUDY_COLUMNS: &str = "s.study_instance_uid, p.patient_name, p.patient_id, p.patient_sex, \
    p.patient_birth_date, s.accession_number, s.study_date, s.study_time, s.study_description, \
    s.site_pk, si.code, si.name, s.created_at, \
    (SELECT string_agg(m, ',') FROM (SELECT DISTINCT se.modality AS m FROM series se \
        WHERE se.study_pk = s.id AND se.modality NOT IN ('SR', 'PR')) AS modalities), \
    (SELECT count(*) FROM series se WHERE se.study_pk = s.id), \
    (SELECT count(*) FROM instances i JOIN series se ON se.id = i.series_pk \
        WHERE se.study_pk = s.id), \
    (SELECT max(i.received_at) FROM instances i JOIN series se ON se.id = i.series_pk \
        WHERE se.study_pk = s.id AND i.received_from NOT LIKE 'analysis:%')";

impl Reading {
    /// The worklist for a caller who sees `sites`.
    pub async fn worklist(
        &self,
        filter: &WorklistFilter,
        sites: &SiteFilter,
    ) -> Result<(Vec<StudySummary>, StateCounts), ReadingError> {
        let limit = filter.limit.unwrap_or(200).clamp(1, 1000);
        let mut sql = format!(
            "SELECT {STUDY_COLUMNS} FROM studies s JOIN patients p ON p.id = s.patient_pk \
             LEFT JOIN sites si ON si.id = s.site_pk WHERE {}",
            sites_clause(sites)
        );
        // numbered in the order they are bound below
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if filter.site.is_some() {
            sql.push_str(&format!(" AND si.code = ${}", next()));
        }
        if filter.modality.is_some() {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM series se WHERE se.study_pk = s.id AND se.modality = ${})",
                next()
            ));
        }
        if filter.q.is_some() {
            // lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not
            let (a, b, c) = (next(), next(), next());
            sql.push_str(&format!(
                " AND (lower(p.patient_name) LIKE lower(${a}) ESCAPE '\\' \
                 OR lower(p.patient_id) LIKE lower(${b}) ESCAPE '\\' \
                 OR lower(s.accession_number) LIKE lower(${c}) ESCAPE '\\')"
            ));
        }
        // newest first; urgency sorting happens after the states are known
        sql.push_str(" ORDER BY s.created_at DESC, s.id DESC LIMIT 5000");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(site) = &filter.site {
            query = query.bind(site.clone());
        }
        if let Some(modality) = &filter.modality {
            query = query.bind(modality.clone());
        }
        if let Some(q) = &filter.q {
            let escaped = q
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let pattern = format!("%{escaped}%");
            query = query
                .bind(pattern.clone())
                .bind(pattern.clone())
                .bind(pattern);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut studies = Vec::with_capacity(rows.len());
        for row in &rows {
            studies.push(self.complete_summary(row).await?);
        }
        let mut counts = StateCounts::new();
        for study in &studies {
            *counts.entry(study.state.clone()).or_default() += 1;
        }
        studies.retain(|s| {
            filter.state.as_ref().is_none_or(|state| &s.state == state)
                && filter.urgent.is_none_or(|urgent| s.urgent == urgent)
        });
        if filter.sort.as_deref() != Some("date") {
            // urgent first; the sort is stable, so newest first within each group
            studies.sort_by_key(|s| !s.urgent);
        }
        studies.truncate(limit as usize);
        Ok((studies, counts))
    }

    /// One study's summary, if the caller's sites see it.
    pub async fn study_summary(
        &self,
        study_uid: &str,
        sites: &SiteFilter,
    ) -> Result<StudySummary, ReadingError> {
        let sql = format!(
            "SELECT {STUDY_COLUMNS} FROM studies s JOIN patients p ON p.id = s.patient_pk \
             LEFT JOIN sites si ON si.id = s.site_pk \
             WHERE s.study_instance_uid = $1 AND {}",
            sites_clause(sites)
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(study_uid)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(ReadingError::UnknownStudy)?;
        self.complete_summary(&row).await
    }

    async fn complete_summary(
        &self,
        row: &sqlx::any::AnyRow,
    ) -> Result<StudySummary, ReadingError> {
        let uid: String = row.get(0);
        let site = match (
            row.get::<Option<String>, _>(10),
            row.get::<Option<String>, _>(11),
        ) {
            (Some(code), Some(name)) => Some(SiteLabel { code, name }),
            _ => None,
        };
        let modalities = row
            .get::<Option<String>, _>(13)
            .map(|m| {
                m.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let qc = self.qc_summary(&uid).await?;
        let ai = self.ai_summary(&uid).await?;
        let (priority, opened): (String, i64) = sqlx::query_as::<_, (String, i64)>(
            "SELECT priority, CASE WHEN opened_by IS NULL THEN 0 ELSE 1 END FROM reading_state \
             WHERE study_instance_uid = $1",
        )
        .bind(&uid)
        .fetch_optional(&self.pool)
        .await?
        .unwrap_or(("routine".into(), 0));
        let opened = opened != 0;
        let state = self.reading_state(&uid, &ai, opened).await?;
        let urgent = priority != "routine" || ai.flags.iter().any(|f| f.urgent);
        Ok(StudySummary {
            study_instance_uid: uid,
            patient_name: row.get(1),
            patient_id: row.get(2),
            patient_sex: row.get(3),
            patient_birth_date: row.get(4),
            accession_number: row.get(5),
            study_date: row.get(6),
            study_time: row.get(7),
            study_description: row.get(8),
            modalities,
            site,
            site_pk: row.get(9),
            priority,
            urgent,
            qc,
            ai,
            state,
            received_at: row.get(12),
            series_count: row.get(14),
            instance_count: row.get(15),
            last_received_at: row.get(16),
        })
    }

    async fn qc_summary(&self, study_uid: &str) -> Result<QcSummary, ReadingError> {
        let outcome: Option<String> = sqlx::query_scalar(
            "SELECT outcome FROM qc_results WHERE level = 'study' AND study_instance_uid = $1",
        )
        .bind(study_uid)
        .fetch_optional(&self.pool)
        .await?;
        let failed: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT c.rule_id FROM qc_checks c JOIN qc_results r ON r.id = c.result_pk \
             WHERE r.study_instance_uid = $1 AND c.status = 'fail' ORDER BY c.rule_id",
        )
        .bind(study_uid)
        .fetch_all(&self.pool)
        .await?;
        Ok(QcSummary { outcome, failed })
    }

    async fn ai_summary(&self, study_uid: &str) -> Result<AiSummary, ReadingError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT state, flags FROM analysis_jobs WHERE study_instance_uid = $1 ORDER BY id",
        )
        .bind(study_uid)
        .fetch_all(&self.pool)
        .await?;
        let states: Vec<&str> = rows.iter().map(|(s, _)| s.as_str()).collect();
        let state = if states.is_empty() {
            "none"
        } else if states.contains(&"running") {
            "running"
        } else if states.contains(&"queued") {
            "queued"
        } else if states.contains(&"done") {
            "done"
        } else {
            "failed"
        };
        let mut flags = Vec::new();
        for (_, json) in &rows {
            let parsed: Vec<AiFlag> = serde_json::from_str(json)
                .map_err(|e| ReadingError::Corrupt(format!("analysis flags: {e}")))?;
            flags.extend(parsed);
        }
        Ok(AiSummary {
            state: state.into(),
            flags,
        })
    }

    async fn reading_state(
        &self,
        study_uid: &str,
        ai: &AiSummary,
        opened: bool,
    ) -> Result<String, ReadingError> {
        let reports: Vec<(String, String)> = sqlx::query_as(
            "SELECT kind, state FROM reports WHERE study_instance_uid = $1 ORDER BY version",
        )
        .bind(study_uid)
        .fetch_all(&self.pool)
        .await?;
        if reports
            .iter()
            .any(|(k, s)| k == "addendum" && s == "signed")
        {
            return Ok("amended".into());
        }
        if reports.iter().any(|(k, s)| k == "report" && s == "signed") {
            return Ok("signed".into());
        }
        let decided = sqlx::query_scalar::<_, i64>(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM reading_decisions \
             WHERE study_instance_uid = $1) THEN 1 ELSE 0 END",
        )
        .bind(study_uid)
        .fetch_one(&self.pool)
        .await?
            != 0;
        if opened || decided || !reports.is_empty() {
            return Ok("in-review".into());
        }
        Ok(if ai.state == "done" { "ai-done" } else { "new" }.into())
    }

    /// Marks the study opened for reading by `user` (the first opening is kept).
    pub async fn open(&self, study_uid: &str, user: &str) -> Result<(), ReadingError> {
        sqlx::query(
            "INSERT INTO reading_state (study_instance_uid, opened_by, opened_at) VALUES ($1, $2, $3) \
             ON CONFLICT (study_instance_uid) DO UPDATE SET \
             opened_by = coalesce(reading_state.opened_by, excluded.opened_by), \
             opened_at = coalesce(reading_state.opened_at, excluded.opened_at)",
        )
        .bind(study_uid)
        .bind(user)
        .bind(crate::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets the study's priority (`routine`, `urgent`, `stat`).
    pub async fn set_priority(&self, study_uid: &str, priority: &str) -> Result<(), ReadingError> {
        if !matches!(priority, "routine" | "urgent" | "stat") {
            return Err(ReadingError::Invalid(
                "priority must be routine, urgent or stat".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO reading_state (study_instance_uid, priority) VALUES ($1, $2) \
             ON CONFLICT (study_instance_uid) DO UPDATE SET priority = excluded.priority",
        )
        .bind(study_uid)
        .bind(priority)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
