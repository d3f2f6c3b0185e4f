//! What reading tells the evaluation centre and the QC officer: how physicians received each
//! model version's findings (agreement, for post-deployment monitoring), and report
//! indicators per site.
//!
//! Agreement counts come from `reading_reviews`, written when a report is signed: every AI
//! finding of the study as it stood then (accepted, edited, rejected, or left unreviewed).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Reading, ReadingError};

/// How agreement is grouped in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// One figure for the whole period.
    #[default]
    All,
    /// Per ISO 8601 week (`2026-W49`: weeks from Monday, week 1 holds the first Thursday).
    Week,
    /// Per month (`2026-12`).
    Month,
}

impl Bucket {
    fn sql(self, backend: mira_store::db::Backend) -> &'static str {
        use mira_store::db::Backend;
        match (self, backend) {
            (Bucket::All, _) => "'all'",
            (Bucket::Week, Backend::Sqlite) => "strftime('%G-W%V', r.signed_at)",
            (Bucket::Week, Backend::Postgres) => {
                "to_char(CAST(substr(r.signed_at, 1, 10) AS DATE), 'IYYY-\"W\"IW')"
            }
            (Bucket::Month, _) => "substr(r.signed_at, 1, 7)",
        }
    }
}

/// Review counts of one model version at one site in one period.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgreementRow {
    /// The analyzer (`lung-ct`, `fundus-dr`).
    pub analyzer: String,
    /// Its version, with the model's when one ran.
    pub analyzer_version: String,
    /// Site code (`None` for studies of no site).
    pub site: Option<String>,
    /// `all`, a week (`2026-W48`) or a month (`2026-12`).
    pub period: String,
    /// AI findings accepted as they were.
    pub accepted: i64,
    /// AI findings accepted with changes.
    pub edited: i64,
    /// AI findings rejected.
    pub rejected: i64,
    /// AI findings left undecided when the report was signed.
    pub unreviewed: i64,
    /// Reports signed on studies with this model's findings.
    pub reports: i64,
}

impl AgreementRow {
    /// Findings a physician decided on.
    pub fn reviewed(&self) -> i64 {
        self.accepted + self.edited + self.rejected
    }
}

/// Report indicators of one site (clinical-rules.md §4.2–4.4).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ReportIndicators {
    /// Site code (`None` for studies of no site).
    pub site: Option<String>,
    /// Reports signed.
    pub signed: i64,
    /// Signed within the turnaround limit (报告及时率 = within / signed).
    pub within_turnaround: i64,
    /// Reports whose QC at signing had no warning (书写合格率 = clean / signed).
    pub qc_clean: i64,
    /// Reports marked critical, and those with a read-back notification (危急值通报率).
    pub critical: i64,
    /// Critical reports with a read-back notification.
    pub critical_notified: i64,
    /// Reports with at least one kept finding (检查阳性率 = positive / signed).
    pub positive: i64,
    /// Signed addenda (amended reports).
    pub amended: i64,
    /// Median turnaround, minutes.
    pub median_turnaround_minutes: Option<f64>,
}

impl Reading {
    /// Agreement per analyzer, version, site and period, for reports signed in `[from, to]`
    /// (dates `YYYY-MM-DD`, inclusive; either open).
    pub async fn agreement(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        bucket: Bucket,
        sites: &mira_store::SiteFilter,
    ) -> Result<Vec<AgreementRow>, ReadingError> {
        let sql = format!(
            "SELECT r.analyzer, r.analyzer_version, si.code, {period} AS period, \
             CAST(sum(CASE WHEN r.decision = 'accepted' THEN 1 ELSE 0 END) AS BIGINT), CAST(sum(CASE WHEN r.decision = 'edited' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(sum(CASE WHEN r.decision = 'rejected' THEN 1 ELSE 0 END) AS BIGINT), CAST(sum(CASE WHEN r.decision = 'unreviewed' THEN 1 ELSE 0 END) AS BIGINT), \
             count(DISTINCT r.report_id), r.site_pk \
             FROM reading_reviews r LEFT JOIN sites si ON si.id = r.site_pk \
             WHERE ($1 IS NULL OR substr(r.signed_at, 1, 10) >= $1) \
             AND ($2 IS NULL OR substr(r.signed_at, 1, 10) <= $2) \
             GROUP BY r.analyzer, r.analyzer_version, r.site_pk, si.code, period \
             ORDER BY r.analyzer, r.analyzer_version, si.code, period",
            period = bucket.sql(mira_store::db::backend(&self.pool))
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| sites.allows(row.get::<Option<i64>, _>(9)))
            .map(|row| AgreementRow {
                analyzer: row.get(0),
                analyzer_version: row.get(1),
                site: row.get(2),
                period: row.get(3),
                accepted: row.get(4),
                edited: row.get(5),
                rejected: row.get(6),
                unreviewed: row.get(7),
                reports: row.get(8),
            })
            .collect())
    }

    /// Report indicators per site for reports signed in `[from, to]` (dates, inclusive).
    pub async fn report_indicators(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        sites: &mira_store::SiteFilter,
    ) -> Result<Vec<ReportIndicators>, ReadingError> {
        let rows = sqlx::query(
            "SELECT s.site_pk, si.code, r.document, r.qc, r.signed_at, \
             (SELECT max(i.received_at) FROM instances i JOIN series se ON se.id = i.series_pk \
              WHERE se.study_pk = s.id AND i.received_from NOT LIKE 'analysis:%'), \
             (SELECT count(*) FROM reports a WHERE a.study_instance_uid = r.study_instance_uid \
              AND a.kind = 'addendum'), \
             CASE WHEN EXISTS (SELECT 1 FROM critical_notifications n \
              WHERE n.study_instance_uid = r.study_instance_uid AND n.read_back = 1) \
              THEN 1 ELSE 0 END \
             FROM reports r JOIN studies s ON s.study_instance_uid = r.study_instance_uid \
             LEFT JOIN sites si ON si.id = s.site_pk \
             WHERE r.kind = 'report' AND r.state = 'signed' \
             AND ($1 IS NULL OR substr(r.signed_at, 1, 10) >= $1) \
             AND ($2 IS NULL OR substr(r.signed_at, 1, 10) <= $2) \
             ORDER BY si.code",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<ReportIndicators> = Vec::new();
        let mut turnarounds: Vec<Vec<f64>> = Vec::new();
        for row in rows {
            if !sites.allows(row.get::<Option<i64>, _>(0)) {
                continue;
            }
            let site: Option<String> = row.get(1);
            if out.last().is_none_or(|i| i.site != site) {
                out.push(ReportIndicators {
                    site: site.clone(),
                    ..ReportIndicators::default()
                });
                turnarounds.push(Vec::new());
            }
            let ind = out.last_mut().expect("pushed above");
            let document: mira_report::ReportDocument =
                serde_json::from_str(&row.get::<String, _>(2))
                    .map_err(|e| ReadingError::Corrupt(format!("report document: {e}")))?;
            let qc: Option<mira_report::qc::QcResult> = row
                .get::<Option<String>, _>(3)
                .map(|q| serde_json::from_str(&q))
                .transpose()
                .map_err(|e| ReadingError::Corrupt(format!("report QC: {e}")))?;
            let signed_at: String = row.get(4);
            let completed: Option<String> = row.get(5);
            ind.signed += 1;
            if qc.as_ref().is_some_and(|q| q.issues.is_empty()) {
                ind.qc_clean += 1;
            }
            if document.critical {
                ind.critical += 1;
                if row.get::<i64, _>(7) != 0 {
                    ind.critical_notified += 1;
                }
            }
            if !document.findings.is_empty() {
                ind.positive += 1;
            }
            if row.get::<i64, _>(6) > 0 {
                ind.amended += 1;
            }
            if let Some(minutes) = completed
                .as_deref()
                .and_then(|c| mira_report::qc::turnaround_minutes(c, &signed_at).ok())
            {
                turnarounds.last_mut().expect("pushed above").push(minutes);
                let class = mira_report::qc::ExamClass::of(&document.header.modalities, false);
                if minutes <= f64::from(self.settings.turnaround.minutes(class)) {
                    ind.within_turnaround += 1;
                }
            }
        }
        for (ind, mut minutes) in out.iter_mut().zip(turnarounds) {
            minutes.sort_by(f64::total_cmp);
            ind.median_turnaround_minutes = match minutes.len() {
                0 => None,
                n if n % 2 == 1 => Some(minutes[n / 2]),
                n => Some((minutes[n / 2 - 1] + minutes[n / 2]) / 2.0),
            };
        }
        Ok(out)
    }
}
