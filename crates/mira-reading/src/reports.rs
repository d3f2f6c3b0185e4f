//! Reports: a draft pre-filled from the findings the physician kept, edited, checked (report
//! QC) and signed; addenda after signing; critical-finding notifications.
//!
//! Signing is final: the row becomes immutable (the database refuses any update or delete of
//! a signed report), the review of every AI finding is recorded for the evaluation centre, and
//! the study's findings are closed to further decisions. Changes after that are addenda, each
//! signed by a physician.

use mira_report::qc::{QcContext, QcResult, Severity};
use mira_report::{
    Decision, Finding, FindingSource, InstanceRef, Notification, ReportDocument, ReportHeader,
    SeriesRef, Signature, SignedReport, Template,
};
use mira_store::SiteFilter;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Reading, ReadingError};

/// A report or addendum as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportView {
    /// The report's id.
    pub id: i64,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// 1 for the report, then 2, 3… for its addenda.
    pub version: u32,
    /// `report` or `addendum`.
    pub kind: String,
    /// `draft` or `signed`.
    pub state: String,
    /// The report's content.
    pub document: ReportDocument,
    /// An addendum's text.
    pub addendum_text: Option<String>,
    /// Who drafted it (login name).
    pub author: String,
    /// Who signed it (login name).
    pub signed_by: Option<String>,
    /// The signer's display name.
    pub signed_by_name: Option<String>,
    /// When it was signed (UTC).
    pub signed_at: Option<String>,
    /// SOP Instance UID of its DICOM SR in the archive.
    pub sr_sop_instance_uid: Option<String>,
    /// When it was created (UTC).
    pub created_at: String,
    /// When it last changed (UTC).
    pub updated_at: String,
    /// Report QC: as it stands for a draft, as it was at signing for a signed report.
    pub qc: Option<QcResult>,
}

/// Changes to a draft (absent fields are kept).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportPatch {
    /// 检查技术: technique.
    pub technique: Option<String>,
    /// 影像所见: findings.
    pub findings_text: Option<String>,
    /// 诊断意见: impression.
    pub impression: Option<String>,
    /// Recommendation (follow-up, referral).
    pub recommendation: Option<String>,
    /// `Some(None)` clears it.
    #[serde(default, with = "double_option")]
    pub lung_rads: Option<Option<String>>,
    /// The DR grade, for a DR screening finding.
    pub dr: Option<Vec<mira_report::DrGrade>>,
    /// Whether it reports a critical finding (危急值).
    pub critical: Option<bool>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::deserialize(d)?))
    }
}

/// The physician who signs (the caller checked the role and the password).
#[derive(Debug, Clone)]
pub struct SignedBy {
    /// Login name.
    pub user: String,
    /// Name shown and signed with.
    pub display_name: String,
}

/// A critical-finding notification to record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNotification {
    /// Who was told (name and role, e.g. "Dr Wang, ward 5 attending").
    pub recipient: String,
    /// `phone`, `in-person` or `message`.
    pub method: String,
    /// What was said.
    pub message: String,
    /// The recipient read the finding back (复读).
    pub read_back: bool,
}

const REPORT_COLUMNS: &str = "id, study_instance_uid, version, kind, state, document, \
    addendum_text, author, signed_by, signed_by_name, signed_at, sr_sop_instance_uid, \
    created_at, updated_at, qc";

impl Reading {
    /// The header of a study's report, from the catalogue.
    pub async fn report_header(
        &self,
        study_uid: &str,
        sites: &SiteFilter,
    ) -> Result<ReportHeader, ReadingError> {
        let summary = self.study_summary(study_uid, sites).await?;
        let body_part: Option<String> = sqlx::query_scalar(
            "SELECT se.body_part_examined FROM series se JOIN studies s ON s.id = se.study_pk \
             WHERE s.study_instance_uid = $1 AND se.body_part_examined IS NOT NULL LIMIT 1",
        )
        .bind(study_uid)
        .fetch_optional(&self.pool)
        .await?;
        let rows = sqlx::query(
            "SELECT se.series_instance_uid, se.modality, se.series_number, se.series_description, \
             se.body_part_examined, i.sop_instance_uid, i.sop_class_uid, i.instance_number \
             FROM instances i JOIN series se ON se.id = i.series_pk JOIN studies s ON s.id = se.study_pk \
             WHERE s.study_instance_uid = $1 ORDER BY se.series_number, se.id, i.instance_number, i.id",
        )
        .bind(study_uid)
        .fetch_all(&self.pool)
        .await?;
        let mut series: Vec<SeriesRef> = Vec::new();
        for row in rows {
            let uid: String = row.get(0);
            if series.last().is_none_or(|s| s.series_instance_uid != uid) {
                series.push(SeriesRef {
                    series_instance_uid: uid,
                    modality: row.get(1),
                    series_number: row.get(2),
                    description: row.get(3),
                    body_part: row.get(4),
                    instances: Vec::new(),
                });
            }
            series
                .last_mut()
                .expect("pushed above")
                .instances
                .push(InstanceRef {
                    sop_instance_uid: row.get(5),
                    sop_class_uid: row.get(6),
                    instance_number: row.get(7),
                });
        }
        Ok(ReportHeader {
            patient_name: summary.patient_name,
            patient_id: summary.patient_id,
            patient_sex: summary.patient_sex,
            patient_birth_date: summary.patient_birth_date,
            accession_number: summary.accession_number,
            study_instance_uid: summary.study_instance_uid,
            study_date: summary.study_date,
            study_time: summary.study_time,
            modalities: summary.modalities,
            study_description: summary.study_description,
            body_part,
            site_name: summary.site.map(|s| s.name),
            series,
        })
    }

    /// The findings a report rests on: accepted, edited and added; never pending or rejected.
    async fn kept_findings(&self, study_uid: &str) -> Result<Vec<Finding>, ReadingError> {
        Ok(self
            .findings(study_uid)
            .await?
            .into_iter()
            .map(|v| v.finding)
            .filter(|f| {
                matches!(
                    f.decision,
                    Decision::Accepted | Decision::Edited | Decision::Added
                )
            })
            .collect())
    }

    /// The study's draft: the existing one, or a new one pre-filled from the kept findings.
    /// A study whose report is signed gets no new draft (addenda instead).
    pub async fn create_report(
        &self,
        study_uid: &str,
        template: Option<Template>,
        author: &str,
        sites: &SiteFilter,
    ) -> Result<ReportView, ReadingError> {
        let header = self.report_header(study_uid, sites).await?;
        self.refuse_if_signed(study_uid).await?;
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM reports WHERE study_instance_uid = $1 AND kind = 'report' AND state = 'draft'",
        )
        .bind(study_uid)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(id) = existing {
            return self.report(id, sites).await;
        }
        // the report describes the images acquired, not what mira derived (AI SR, signed SR)
        let derived: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT se.series_instance_uid FROM series se \
             JOIN studies s ON s.id = se.study_pk JOIN instances i ON i.series_pk = se.id \
             WHERE s.study_instance_uid = $1 \
             AND (i.received_from LIKE 'analysis:%' OR i.received_from LIKE 'reading:%')",
        )
        .bind(study_uid)
        .fetch_all(&self.pool)
        .await?;
        let mut header = header;
        header
            .series
            .retain(|s| !derived.contains(&s.series_instance_uid));
        let findings = self.kept_findings(study_uid).await?;
        let all = self.findings(study_uid).await?;
        let template = template.unwrap_or_else(|| choose_template(&header, &all));
        let document = mira_report::prefill(template, self.settings.language, &header, &findings);
        let now = crate::now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO reports (study_instance_uid, version, kind, state, document, author, \
             created_at, updated_at) VALUES ($1, 1, 'report', 'draft', $2, $3, $4, $5) RETURNING id",
        )
        .bind(study_uid)
        .bind(to_json(&document)?)
        .bind(author)
        .bind(&now)
        .bind(&now)
        .fetch_one(&self.pool)
        .await?;
        self.open(study_uid, author).await?;
        self.report(id, sites).await
    }

    /// A report, with its QC, if the caller's sites see its study.
    pub async fn report(&self, id: i64, sites: &SiteFilter) -> Result<ReportView, ReadingError> {
        let mut view = self.report_row(id).await?;
        // the study must be visible: another site's report is as unknown as a missing one
        let summary = match self.study_summary(&view.study_instance_uid, sites).await {
            Ok(summary) => summary,
            Err(ReadingError::UnknownStudy) => return Err(ReadingError::UnknownReport),
            Err(e) => return Err(e),
        };
        if view.state == "draft" {
            let mut document = view.document.clone();
            document.findings = self.kept_findings(&view.study_instance_uid).await?;
            let ctx = self.qc_context(&summary, None).await?;
            view.qc = Some(mira_report::qc::check(&document, &ctx));
        }
        Ok(view)
    }

    async fn report_row(&self, id: i64) -> Result<ReportView, ReadingError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(ReadingError::UnknownReport)?;
        report_from_row(&row)
    }

    /// Every report and addendum of a study, oldest first.
    pub async fn reports_of(&self, study_uid: &str) -> Result<Vec<ReportView>, ReadingError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REPORT_COLUMNS} FROM reports WHERE study_instance_uid = $1 ORDER BY version"
        )))
        .bind(study_uid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(report_from_row).collect()
    }

    /// Edits a draft; a signed report is refused.
    pub async fn update_report(
        &self,
        id: i64,
        patch: ReportPatch,
        sites: &SiteFilter,
    ) -> Result<ReportView, ReadingError> {
        let view = self.report(id, sites).await?;
        if view.state == "signed" {
            return Err(ReadingError::Signed);
        }
        let mut document = view.document;
        if let Some(v) = patch.technique {
            document.technique = v;
        }
        if let Some(v) = patch.findings_text {
            document.findings_text = v;
        }
        if let Some(v) = patch.impression {
            document.impression = v;
        }
        if let Some(v) = patch.recommendation {
            document.recommendation = v;
        }
        if let Some(v) = patch.lung_rads {
            document.lung_rads = v.filter(|s| !s.trim().is_empty());
        }
        if let Some(v) = patch.dr {
            document.dr = v;
        }
        if let Some(v) = patch.critical {
            document.critical = v;
        }
        sqlx::query(
            "UPDATE reports SET document = $1, updated_at = $2 WHERE id = $3 AND state = 'draft'",
        )
        .bind(to_json(&document)?)
        .bind(crate::now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.report(id, sites).await
    }

    /// Signs a draft. Report QC runs first: errors refuse the signature
    /// ([`ReadingError::QcFailed`]), warnings are kept with the report.
    pub async fn sign(
        &self,
        id: i64,
        signer: &SignedBy,
        sites: &SiteFilter,
    ) -> Result<ReportView, ReadingError> {
        let view = self.report(id, sites).await?;
        if view.state == "signed" {
            return Err(ReadingError::Signed);
        }
        let study_uid = view.study_instance_uid.clone();
        let summary = self.study_summary(&study_uid, sites).await?;
        let signed_at = crate::now();
        let mut document = view.document;
        let all = self.findings(&study_uid).await?;
        document.findings = all
            .iter()
            .map(|v| v.finding.clone())
            .filter(|f| {
                matches!(
                    f.decision,
                    Decision::Accepted | Decision::Edited | Decision::Added
                )
            })
            .collect();
        let ctx = self.qc_context(&summary, Some(signed_at.clone())).await?;
        let qc = mira_report::qc::check(&document, &ctx);
        if qc.issues.iter().any(|i| i.severity == Severity::Error) {
            return Err(ReadingError::QcFailed(qc));
        }
        let sr_uid = derived_uid(&format!("mira-report:{study_uid}:{id}:{}", view.version));
        let mut tx = mira_store::db::begin_write(&self.pool, "mira.reports").await?;
        let updated = sqlx::query(
            "UPDATE reports SET state = 'signed', document = $1, signed_by = $2, signed_by_name = $3, \
             signed_at = $4, qc = $5, sr_sop_instance_uid = $6, updated_at = $7 \
             WHERE id = $8 AND state = 'draft'",
        )
        .bind(to_json(&document)?)
        .bind(&signer.user)
        .bind(&signer.display_name)
        .bind(&signed_at)
        .bind(to_json(&qc)?)
        .bind(&sr_uid)
        .bind(&signed_at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            // signed by someone else in the meantime
            return Err(ReadingError::Signed);
        }
        for v in &all {
            let FindingSource::Ai { analyzer, version } = &v.finding.source else {
                continue;
            };
            let decision = match v.finding.decision {
                Decision::Accepted => "accepted",
                Decision::Edited => "edited",
                Decision::Rejected { .. } => "rejected",
                _ => "unreviewed",
            };
            sqlx::query(
                "INSERT INTO reading_reviews (report_id, study_instance_uid, finding_id, analyzer, \
                 analyzer_version, site_pk, decision, signed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(&study_uid)
            .bind(&v.finding.id)
            .bind(analyzer)
            .bind(version)
            .bind(summary.site_pk)
            .bind(decision)
            .bind(&signed_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        tracing::info!(report = id, "report signed");
        self.report(id, sites).await
    }

    /// Adds a signed addendum to a signed report.
    pub async fn addendum(
        &self,
        id: i64,
        text: &str,
        signer: &SignedBy,
        sites: &SiteFilter,
    ) -> Result<ReportView, ReadingError> {
        let base = self.report(id, sites).await?;
        if base.state != "signed" {
            return Err(ReadingError::NotSigned);
        }
        if text.trim().is_empty() {
            return Err(ReadingError::Invalid("an addendum needs text".into()));
        }
        let now = crate::now();
        let mut tx = mira_store::db::begin_write(&self.pool, "mira.reports").await?;
        let version: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(version), 0) + 1 FROM reports WHERE study_instance_uid = $1",
        )
        .bind(&base.study_instance_uid)
        .fetch_one(&mut *tx)
        .await?;
        let sr_uid = derived_uid(&format!(
            "mira-report:{}:addendum:{version}",
            base.study_instance_uid
        ));
        let new_id: i64 = sqlx::query_scalar(
            "INSERT INTO reports (study_instance_uid, version, kind, state, document, addendum_text, \
             author, signed_by, signed_by_name, signed_at, sr_sop_instance_uid, created_at, updated_at) \
             VALUES ($1, $2, 'addendum', 'signed', $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&base.study_instance_uid)
        .bind(version)
        .bind(to_json(&base.document)?)
        .bind(text.trim())
        .bind(&signer.user)
        .bind(&signer.user)
        .bind(&signer.display_name)
        .bind(&now)
        .bind(&sr_uid)
        .bind(&now)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        self.report(new_id, sites).await
    }

    /// The signed report (with every addendum) of the report or addendum `id`, as the
    /// exports need it.
    pub async fn signed_report(
        &self,
        id: i64,
        sites: &SiteFilter,
    ) -> Result<SignedReport, ReadingError> {
        let view = self.report(id, sites).await?;
        let all = self.reports_of(&view.study_instance_uid).await?;
        let base = all
            .iter()
            .find(|r| r.kind == "report" && r.state == "signed")
            .ok_or(ReadingError::NotSigned)?;
        let signature = |r: &ReportView| Signature {
            user: r.signed_by.clone().unwrap_or_default(),
            display_name: r.signed_by_name.clone().unwrap_or_default(),
            signed_at: r.signed_at.clone().unwrap_or_default(),
        };
        let summary = self.study_summary(&view.study_instance_uid, sites).await?;
        Ok(SignedReport {
            report_id: base.id,
            version: all.iter().map(|r| r.version).max().unwrap_or(1),
            document: base.document.clone(),
            signature: signature(base),
            addenda: all
                .iter()
                .filter(|r| r.kind == "addendum")
                .map(|r| (r.addendum_text.clone().unwrap_or_default(), signature(r)))
                .collect(),
            exam_completed_at: summary.last_received_at,
        })
    }

    /// Records a critical-finding notification.
    pub async fn notify(
        &self,
        study_uid: &str,
        new: NewNotification,
        user: &str,
    ) -> Result<Notification, ReadingError> {
        if new.recipient.trim().is_empty() {
            return Err(ReadingError::Invalid(
                "a notification names who was told".into(),
            ));
        }
        if !matches!(new.method.as_str(), "phone" | "in-person" | "message") {
            return Err(ReadingError::Invalid(
                "method must be phone, in-person or message".into(),
            ));
        }
        let at = crate::now();
        sqlx::query(
            "INSERT INTO critical_notifications (study_instance_uid, recipient, method, message, \
             read_back, notified_by, notified_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(study_uid)
        .bind(new.recipient.trim())
        .bind(&new.method)
        .bind(&new.message)
        .bind(i64::from(new.read_back))
        .bind(user)
        .bind(&at)
        .execute(&self.pool)
        .await?;
        Ok(Notification {
            recipient: new.recipient.trim().into(),
            method: new.method,
            message: new.message,
            read_back: new.read_back,
            notified_by: user.into(),
            notified_at: at,
        })
    }

    /// A study's notifications, oldest first.
    pub async fn notifications(&self, study_uid: &str) -> Result<Vec<Notification>, ReadingError> {
        let rows = sqlx::query(
            "SELECT recipient, method, message, read_back, notified_by, notified_at \
             FROM critical_notifications WHERE study_instance_uid = $1 ORDER BY id",
        )
        .bind(study_uid)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| Notification {
                recipient: row.get(0),
                method: row.get(1),
                message: row.get(2),
                read_back: row.get::<i64, _>(3) != 0,
                notified_by: row.get(4),
                notified_at: row.get(5),
            })
            .collect())
    }

    async fn qc_context(
        &self,
        summary: &crate::StudySummary,
        report_time: Option<String>,
    ) -> Result<QcContext, ReadingError> {
        Ok(QcContext {
            dicom_sex: summary.patient_sex.clone(),
            notifications: self.notifications(&summary.study_instance_uid).await?,
            exam_completed_at: summary.last_received_at.clone(),
            report_time: Some(report_time.unwrap_or_else(crate::now)),
            limits: self.settings.turnaround,
            urgent: summary.urgent,
        })
    }
}

/// LDCT for chest CT with nodule findings (or a CT routed to the lung analyzer), DR screening
/// for fundus photographs, general otherwise.
fn choose_template(header: &ReportHeader, findings: &[crate::FindingView]) -> Template {
    let kinds: Vec<&str> = findings.iter().map(|f| f.finding.kind.as_str()).collect();
    if kinds.contains(&"lung-nodule") {
        Template::LdctLungRads
    } else if kinds
        .iter()
        .any(|k| k.starts_with("fundus") || *k == "dr-grade")
        || header.modalities.iter().any(|m| m == "OP")
    {
        Template::DrScreening
    } else {
        Template::General
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, ReadingError> {
    serde_json::to_string(value).map_err(|e| ReadingError::Invalid(e.to_string()))
}

fn report_from_row(row: &sqlx::any::AnyRow) -> Result<ReportView, ReadingError> {
    let document: ReportDocument = serde_json::from_str(&row.get::<String, _>(5))
        .map_err(|e| ReadingError::Corrupt(format!("report document: {e}")))?;
    let qc: Option<String> = row.get(14);
    let qc = qc
        .map(|q| serde_json::from_str(&q))
        .transpose()
        .map_err(|e| ReadingError::Corrupt(format!("report QC: {e}")))?;
    Ok(ReportView {
        id: row.get(0),
        study_instance_uid: row.get(1),
        version: row.get::<i64, _>(2) as u32,
        kind: row.get(3),
        state: row.get(4),
        document,
        addendum_text: row.get(6),
        author: row.get(7),
        signed_by: row.get(8),
        signed_by_name: row.get(9),
        signed_at: row.get(10),
        sr_sop_instance_uid: row.get(11),
        created_at: row.get(12),
        updated_at: row.get(13),
        qc,
    })
}

/// The Series Instance UID of a study's signed reports (one series per study).
pub fn report_series_uid(study_uid: &str) -> String {
    derived_uid(&format!("mira-report-series:{study_uid}"))
}

/// A `2.25` UID from 128 bits of SHA-256 over `identity` (PS3.5 B.2): the same report version
/// always has the same SR UID, so exporting it twice stores one instance.
fn derived_uid(identity: &str) -> String {
    let digest = Sha256::digest(identity.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!("2.25.{}", u128::from_be_bytes(bytes))
}
