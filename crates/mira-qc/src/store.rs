//! QC results in the catalogue database, and the indicators computed from them.
//!
//! Results are idempotent: storing a report for a subject (an instance, series or study UID)
//! replaces whatever was stored for it. Indicators are computed from stored results for any
//! period, grouped by site (Institution Name), device (manufacturer / model / station) or
//! technologist (Operators' Name):
//!
//! - **pass rate per rule**: checks that passed / checks evaluated;
//! - **first-class-image rate** (甲级片率 in the sense of clinical-rules.md 3.5, computed
//!   automatically): studies without any failing finding / studies checked;
//! - **repeat rate** (a 废片率 proxy): projection radiographs (CR, DX) beyond the first of the
//!   same view (modality, body part, view position, laterality) in a study / such images.
//!   Fundus photographs are left out: a screening set has two fields per eye by design, and
//!   the header does not say which field an image is;
//! - **LDCT dose compliance**: low-dose screening series with CTDIvol within the limit /
//!   screening series with a standard-size patient and a CTDIvol.

use mira_store::SiteFilter;
use std::collections::BTreeMap;

use serde::Serialize;
// the only SQL built at run time interpolates a column name from `GroupBy::column`, a
// closed set of identifiers; every value is bound
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::header::Header;
use crate::report::{Level, Report};

/// Why a QC store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("qc results: {0}")]
    Database(#[from] sqlx::Error),
    /// A date is not YYYY-MM-DD.
    #[error("invalid date '{0}': expected YYYY-MM-DD")]
    InvalidDate(String),
}

/// What indicators are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// Institution Name.
    Site,
    /// Manufacturer / model / station.
    Device,
    /// Operators' Name.
    Operator,
}

impl GroupBy {
    /// Parses `site`, `device` or `operator`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "site" => GroupBy::Site,
            "device" => GroupBy::Device,
            "operator" => GroupBy::Operator,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            GroupBy::Site => "site",
            GroupBy::Device => "device",
            GroupBy::Operator => "operator",
        }
    }
}

/// Where and by whom a subject was acquired, and when.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Provenance {
    /// Study Instance UID (or the folder, offline).
    pub study_instance_uid: String,
    /// Series Instance UID, for instances and series.
    pub series_instance_uid: Option<String>,
    /// Modality.
    pub modality: Option<String>,
    /// Institution Name.
    pub site: Option<String>,
    /// Manufacturer / model / station.
    pub device: Option<String>,
    /// Operators' Name.
    pub operator: Option<String>,
    /// The view, for repeat counting (projection radiographs only).
    pub view_key: Option<String>,
    /// Study date as YYYY-MM-DD, if known.
    pub performed_on: Option<String>,
}

impl Provenance {
    /// Provenance from an instance's header.
    pub fn from_header(h: &Header) -> Self {
        // projection radiographs only: a fundus screening set has two fields per eye by design
        let view_key = matches!(h.modality.as_deref(), Some("CR" | "DX")).then(|| {
            [
                h.modality.as_deref(),
                h.body_part_examined.as_deref(),
                h.view_position.as_deref(),
                h.laterality.as_deref(),
            ]
            .map(|p| p.unwrap_or(""))
            .join("|")
        });
        Provenance {
            study_instance_uid: h.study_instance_uid.clone().unwrap_or_default(),
            series_instance_uid: h.series_instance_uid.clone(),
            modality: h.modality.clone(),
            site: h.institution_name.clone(),
            device: h.device(),
            operator: h.operators_name.clone(),
            view_key,
            performed_on: h
                .study_date
                .as_deref()
                .or(h.content_date.as_deref())
                .and_then(crate::instance::parse_da)
                .map(|d| d.to_string()),
        }
    }
}

/// A stored result, for the API.
#[derive(Debug, Clone, Serialize)]
pub struct StoredResult {
    /// Instance, series or study.
    pub level: String,
    /// The subject's UID.
    pub subject: String,
    /// Series, for instances and series.
    pub series_instance_uid: Option<String>,
    /// Modality.
    pub modality: Option<String>,
    /// Worst status.
    pub outcome: String,
    /// Fundus grade.
    pub grade: Option<String>,
    /// Key measurements.
    pub measurements: serde_json::Value,
    /// When QC ran.
    pub checked_at: String,
    /// Every rule evaluated.
    pub checks: Vec<StoredCheck>,
}

/// A stored check.
#[derive(Debug, Clone, Serialize)]
pub struct StoredCheck {
    /// Rule id.
    pub rule: String,
    /// pass, info, warning or fail.
    pub status: String,
    /// What was measured.
    pub measured: Option<String>,
    /// What was expected.
    pub expected: Option<String>,
    /// What was found.
    pub message: String,
    /// What to do.
    pub action: Option<String>,
}

/// Pass rate of one rule in a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleRate {
    /// Rule id.
    pub rule: String,
    /// Times evaluated.
    pub evaluated: i64,
    /// Times passed.
    pub passed: i64,
    /// passed / evaluated.
    pub pass_rate: f64,
}

/// Indicators of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupIndicators {
    /// The site, device or operator (`(unknown)` where the header did not say).
    pub group: String,
    /// Studies with QC results in the period.
    pub studies: i64,
    /// Studies without any failing finding.
    pub first_class_studies: i64,
    /// first_class_studies / studies.
    pub first_class_rate: Option<f64>,
    /// Projection radiographs checked.
    pub view_images: i64,
    /// Of those, images beyond the first of the same view in the same study.
    pub repeats: i64,
    /// repeats / view_images.
    pub repeat_rate: Option<f64>,
    /// LDCT series with a dose verdict (standard-size patient, CTDIvol known).
    pub ldct_series: i64,
    /// Of those, within the dose limit.
    pub ldct_compliant: i64,
    /// ldct_compliant / ldct_series.
    pub ldct_dose_compliance: Option<f64>,
    /// Pass rate per rule.
    pub rules: Vec<RuleRate>,
}

/// Indicators for a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicators {
    /// First day (YYYY-MM-DD), inclusive.
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// The grouping.
    pub group_by: GroupBy,
    /// One entry per group, by name.
    pub groups: Vec<GroupIndicators>,
}

/// QC results over the catalogue's database pool.
#[derive(Debug, Clone)]
pub struct QcStore {
    pool: AnyPool,
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| (n as f64 / d as f64 * 10000.0).round() / 10000.0)
}

/// Checks a YYYY-MM-DD date.
pub fn parse_day(text: &str) -> Result<String, StoreError> {
    let b = text.as_bytes();
    let shaped = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    shaped
        .then(|| crate::instance::parse_da(&text.replace('-', "")))
        .flatten()
        .map(|d| d.to_string())
        .ok_or_else(|| StoreError::InvalidDate(text.to_string()))
}

impl QcStore {
    /// QC results in the database behind `pool` (the catalogue's; its migrations create the
    /// tables).
    pub fn new(pool: AnyPool) -> Self {
        QcStore { pool }
    }

    /// Stores a report, replacing any stored for the same subject.
    pub async fn save(&self, report: &Report, p: &Provenance) -> Result<(), StoreError> {
        self.save_all(std::slice::from_ref(&(report.clone(), p.clone())))
            .await
    }

    /// Stores reports in one transaction (one flush of the database), each replacing any
    /// stored for the same subject.
    pub async fn save_all(&self, items: &[(Report, Provenance)]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        // SQLite: wait for the write lock rather than fail on an upgrade (the archive's writer
        // shares the database file)
        let mut tx = mira_store::db::begin(&self.pool).await?;
        for (report, p) in items {
            save_one(&mut tx, report, p).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every stored result of a study: the study's, its series' and its instances'.
    pub async fn study_results(&self, study_uid: &str) -> Result<Vec<StoredResult>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, level, subject_uid, series_instance_uid, modality, outcome, grade, measurements, checked_at
             FROM qc_results WHERE study_instance_uid = $1
             ORDER BY CASE level WHEN 'study' THEN 0 WHEN 'series' THEN 1 ELSE 2 END, series_instance_uid, subject_uid",
        )
        .bind(study_uid)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let pk: i64 = r.get(0);
            let checks = sqlx::query(
                "SELECT rule_id, status, measured, expected, message, action FROM qc_checks
                 WHERE result_pk = $1 ORDER BY position",
            )
            .bind(pk)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|c| StoredCheck {
                rule: c.get(0),
                status: c.get(1),
                measured: c.get(2),
                expected: c.get(3),
                message: c.get(4),
                action: c.get(5),
            })
            .collect();
            let measurements: String = r.get(7);
            out.push(StoredResult {
                level: r.get(1),
                subject: r.get(2),
                series_instance_uid: r.get(3),
                modality: r.get(4),
                outcome: r.get(5),
                grade: r.get(6),
                measurements: serde_json::from_str(&measurements)
                    .unwrap_or(serde_json::Value::Null),
                checked_at: r.get(8),
                checks,
            });
        }
        Ok(out)
    }

    /// Indicators for `from..=to` (YYYY-MM-DD), grouped, over every site.
    pub async fn indicators(
        &self,
        from: &str,
        to: &str,
        group_by: GroupBy,
    ) -> Result<Indicators, StoreError> {
        self.indicators_within(from, to, group_by, &SiteFilter::All)
            .await
    }

    /// [`indicators`](Self::indicators) over the studies of `sites` only (a site's QC
    /// officer sees the site's own indicators).
    pub async fn indicators_within(
        &self,
        from: &str,
        to: &str,
        group_by: GroupBy,
        sites: &SiteFilter,
    ) -> Result<Indicators, StoreError> {
        let (from, to) = (parse_day(from)?, parse_day(to)?);
        // integers only, so formatting them into the SQL is safe
        let within = |column: &str| match sites {
            SiteFilter::All => String::new(),
            SiteFilter::Only(ids) if ids.is_empty() => " AND FALSE".to_string(),
            SiteFilter::Only(ids) => format!(
                " AND {column} IN (SELECT study_instance_uid FROM studies WHERE site_pk IN ({}))",
                ids.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let (within_r, within_plain) =
            (within("r.study_instance_uid"), within("study_instance_uid"));
        let g = group_by.column();
        let mut groups: BTreeMap<String, GroupIndicators> = BTreeMap::new();
        let blank = |name: String| GroupIndicators {
            group: name,
            studies: 0,
            first_class_studies: 0,
            first_class_rate: None,
            view_images: 0,
            repeats: 0,
            repeat_rate: None,
            ldct_series: 0,
            ldct_compliant: 0,
            ldct_dose_compliance: None,
            rules: Vec::new(),
        };

        // studies and first-class studies; a study belongs to the group of its instances
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT grp, count(*), CAST(sum(CASE WHEN fails = 0 THEN 1 ELSE 0 END) AS BIGINT) FROM (
                SELECT r.study_instance_uid, coalesce(max(r.{g}), '(unknown)') AS grp,
                       CAST(coalesce(sum(f.n), 0) AS BIGINT) AS fails
                FROM qc_results r
                LEFT JOIN (SELECT result_pk, count(*) AS n FROM qc_checks WHERE status = 'fail'
                           GROUP BY result_pk) f ON f.result_pk = r.id
                WHERE r.performed_on BETWEEN $1 AND $2{within_r}
                GROUP BY r.study_instance_uid) AS per_study
             GROUP BY grp"
        )))
        .bind(&from)
        .bind(&to)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let name: String = r.get(0);
            let entry = groups.entry(name.clone()).or_insert_with(|| blank(name));
            entry.studies = r.get(1);
            entry.first_class_studies = r.get(2);
        }

        // repeats: images beyond the first of a view in a study
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT coalesce({g}, '(unknown)') AS grp, count(*),
                    count(*) - count(DISTINCT study_instance_uid || '/' || view_key)
             FROM qc_results
             WHERE level = 'instance' AND view_key IS NOT NULL AND performed_on BETWEEN $1 AND $2{within_plain}
             GROUP BY grp"
        )))
        .bind(&from)
        .bind(&to)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let name: String = r.get(0);
            let entry = groups.entry(name.clone()).or_insert_with(|| blank(name));
            entry.view_images = r.get(1);
            entry.repeats = r.get(2);
        }

        // pass rate per rule (LDCT dose compliance is that of ct.ldct.ctdivol, info excluded)
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT coalesce(r.{g}, '(unknown)') AS grp, c.rule_id, count(*),
                    CAST(sum(CASE WHEN c.status = 'pass' THEN 1 ELSE 0 END) AS BIGINT),
                    CAST(sum(CASE WHEN c.status IN ('pass', 'fail', 'warning') THEN 1 ELSE 0 END) AS BIGINT)
             FROM qc_checks c JOIN qc_results r ON c.result_pk = r.id
             WHERE r.performed_on BETWEEN $1 AND $2{within_r}
             GROUP BY grp, c.rule_id ORDER BY grp, c.rule_id"
        )))
        .bind(&from)
        .bind(&to)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let name: String = r.get(0);
            let rule: String = r.get(1);
            let (evaluated, passed, verdicts): (i64, i64, i64) = (r.get(2), r.get(3), r.get(4));
            let entry = groups.entry(name.clone()).or_insert_with(|| blank(name));
            if rule == "ct.ldct.ctdivol" {
                entry.ldct_series = verdicts;
                entry.ldct_compliant = passed;
            }
            entry.rules.push(RuleRate {
                rule,
                evaluated,
                passed,
                pass_rate: ratio(passed, evaluated).unwrap_or(0.0),
            });
        }
        let groups = groups
            .into_values()
            .map(|mut e| {
                e.first_class_rate = ratio(e.first_class_studies, e.studies);
                e.repeat_rate = ratio(e.repeats, e.view_images);
                e.ldct_dose_compliance = ratio(e.ldct_compliant, e.ldct_series);
                e
            })
            .collect();
        Ok(Indicators {
            from,
            to,
            group_by,
            groups,
        })
    }
}

async fn save_one(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    report: &Report,
    p: &Provenance,
) -> Result<(), StoreError> {
    let performed_on = p
        .performed_on
        .clone()
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().date().to_string());
    let measurements = serde_json::to_string(&report.measurements).unwrap_or_default();
    let pk: i64 = sqlx::query(
            "INSERT INTO qc_results (level, subject_uid, study_instance_uid, series_instance_uid, modality,
                site, device, operator, view_key, performed_on, outcome, grade, measurements)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (level, subject_uid) DO UPDATE SET
                study_instance_uid = excluded.study_instance_uid,
                series_instance_uid = excluded.series_instance_uid,
                modality = excluded.modality, site = excluded.site, device = excluded.device,
                operator = excluded.operator, view_key = excluded.view_key,
                performed_on = excluded.performed_on, outcome = excluded.outcome,
                grade = excluded.grade, measurements = excluded.measurements,
                checked_at = excluded.checked_at
             RETURNING id",
        )
        .bind(report.level.as_str())
        .bind(&report.subject)
        .bind(&p.study_instance_uid)
        .bind(&p.series_instance_uid)
        .bind(&p.modality)
        .bind(&p.site)
        .bind(&p.device)
        .bind(&p.operator)
        .bind(if report.level == Level::Instance {
            p.view_key.as_deref()
        } else {
            None
        })
        .bind(&performed_on)
        .bind(report.outcome().as_str())
        .bind(report.grade.map(|g| g.as_str()))
        .bind(&measurements)
        .fetch_one(&mut **tx)
        .await?
        .get(0);
    sqlx::query("DELETE FROM qc_checks WHERE result_pk = $1")
        .bind(pk)
        .execute(&mut **tx)
        .await?;
    for (position, c) in report.checks.iter().enumerate() {
        sqlx::query(
                "INSERT INTO qc_checks (result_pk, rule_id, status, measured, expected, message, action, position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(pk)
            .bind(&c.rule)
            .bind(c.status.as_str())
            .bind(&c.measured)
            .bind(&c.expected)
            .bind(&c.message)
            .bind(&c.action)
            .bind(position as i64)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
