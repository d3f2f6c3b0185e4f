//! The catalogue: an sqlx index of patients, studies, series and instances.
//!
//! SQLite is the embedded default (one file in the data directory); PostgreSQL serves a region
//! of many nodes (see [`crate::db`]). On either, a node's archive writer task is the only
//! writer of these tables in that node; on PostgreSQL several nodes' writers commit at once,
//! so every insert is an upsert and a batch that loses a deadlock is run again.

use std::collections::HashSet;
use std::path::Path;

use mira_dicom::InstanceAttributes;
use serde::Serialize;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::db::{self, Backend, PoolSettings};
use crate::{BlobKey, StoreError};

/// Handle on the catalogue database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pool: AnyPool,
}

/// Where an instance's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceLocation {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Blob key (SHA-256 of the data set).
    pub blob_key: String,
    /// Digest of the data set bytes (equal to the blob key).
    pub dataset_digest: String,
    /// Offset of the data set in the file.
    pub dataset_offset: i64,
    /// Size of the file.
    pub size_bytes: i64,
    /// Transfer syntax of the stored file.
    pub transfer_syntax_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// Study Instance UID.
    pub study_instance_uid: String,
}

impl InstanceLocation {
    /// Reads the columns of [`LOCATION_COLUMNS`] in order.
    pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Self {
        InstanceLocation {
            sop_instance_uid: r.get(0),
            blob_key: r.get(1),
            dataset_digest: r.get(2),
            dataset_offset: r.get(3),
            size_bytes: r.get(4),
            transfer_syntax_uid: r.get(5),
            sop_class_uid: r.get(6),
            series_instance_uid: r.get(7),
            study_instance_uid: r.get(8),
        }
    }
}

/// The columns [`InstanceLocation::from_row`] reads, over `instances i`, `series se` and
/// `studies st`.
pub(crate) const LOCATION_COLUMNS: &str = "i.sop_instance_uid, i.blob_key, i.dataset_digest, \
    i.dataset_offset, i.size_bytes, i.transfer_syntax_uid, i.sop_class_uid, \
    se.series_instance_uid, st.study_instance_uid";

const LOCATION_FROM: &str = " FROM instances i JOIN series se ON i.series_pk = se.id JOIN studies st ON se.study_pk = st.id";

/// One patient, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct PatientRow {
    /// Patient ID.
    pub patient_id: String,
    /// Issuer of Patient ID ('' when absent).
    pub issuer_of_patient_id: String,
    /// Patient's Name.
    pub patient_name: Option<String>,
    /// Patient's Birth Date.
    pub patient_birth_date: Option<String>,
    /// Patient's Sex.
    pub patient_sex: Option<String>,
    /// Number of studies.
    pub studies: i64,
}

/// One study, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct StudyRow {
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Patient ID.
    pub patient_id: String,
    /// Study Date.
    pub study_date: Option<String>,
    /// Accession Number.
    pub accession_number: Option<String>,
    /// Study Description.
    pub study_description: Option<String>,
    /// Modalities in the study, `\`-separated.
    pub modalities_in_study: Option<String>,
    /// Number of series.
    pub series: i64,
    /// Number of instances.
    pub instances: i64,
}

/// One series, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesRow {
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Modality.
    pub modality: Option<String>,
    /// Series Number.
    pub series_number: Option<i64>,
    /// Series Description.
    pub series_description: Option<String>,
    /// Number of instances.
    pub instances: i64,
}

/// The row of an instance that already exists, as seen inside the writer's transaction.
#[derive(Debug, Clone)]
pub(crate) struct ExistingInstance {
    pub dataset_digest: String,
    pub blob_key: String,
}

/// What the catalogue records of a newly accepted file.
#[derive(Debug, Clone)]
pub(crate) struct NewLocation<'a> {
    pub key: &'a BlobKey,
    pub dataset_offset: u64,
    pub size_bytes: u64,
    pub received_from: &'a str,
    pub site: Option<&'a str>,
}

impl Catalogue {
    /// The site of a study: `Ok(None)` for an unknown study, `Ok(Some(None))` for a study of
    /// no site.
    pub async fn study_site(&self, study_uid: &str) -> Result<Option<Option<i64>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT site_pk FROM studies WHERE study_instance_uid = $1")
                .bind(study_uid)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Opens (creating if needed) the SQLite catalogue at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::connect(&db::sqlite_url(path), PoolSettings::default()).await
    }

    /// Opens the catalogue at a database URL (`sqlite://FILE?mode=rwc` or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`) and applies migrations.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        Ok(Catalogue {
            pool: db::connect(url, settings).await?,
        })
    }

    /// The connection pool, for crates that keep their own tables in the catalogue database
    /// (QC results, jobs, users, audit, reports).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The database engine.
    pub fn backend(&self) -> Backend {
        db::backend(&self.pool)
    }

    /// Whether the database answers (for readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Begins the writer's transaction ([`db::begin`]).
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(db::begin(&self.pool).await?)
    }

    /// Where the bytes of an instance are, if it is stored.
    pub async fn instance_location(
        &self,
        sop_instance_uid: &str,
    ) -> Result<Option<InstanceLocation>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOCATION_COLUMNS}{LOCATION_FROM} WHERE i.sop_instance_uid = $1"
        )))
        .bind(sop_instance_uid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(InstanceLocation::from_row))
    }

    /// Every instance with its location, in SOP Instance UID order.
    pub async fn all_instance_locations(&self) -> Result<Vec<InstanceLocation>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOCATION_COLUMNS}{LOCATION_FROM} ORDER BY i.sop_instance_uid"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(InstanceLocation::from_row).collect())
    }

    /// The blob keys that instances reference.
    pub async fn referenced_blob_keys(&self) -> Result<HashSet<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT blob_key FROM instances")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// Number of instances stored.
    pub async fn count_instances(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT count(*) FROM instances")
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }

    /// Patients with their study counts, ordered by Patient ID.
    pub async fn list_patients(&self) -> Result<Vec<PatientRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.patient_id, p.issuer_of_patient_id, p.patient_name, p.patient_birth_date, p.patient_sex,
                    (SELECT count(*) FROM studies s WHERE s.patient_pk = p.id)
             FROM patients p ORDER BY p.patient_id, p.issuer_of_patient_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| PatientRow {
                patient_id: r.get(0),
                issuer_of_patient_id: r.get(1),
                patient_name: r.get(2),
                patient_birth_date: r.get(3),
                patient_sex: r.get(4),
                studies: r.get(5),
            })
            .collect())
    }

    /// Studies with their series and instance counts, ordered by date then UID.
    pub async fn list_studies(&self) -> Result<Vec<StudyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT st.study_instance_uid, p.patient_id, st.study_date, st.accession_number, st.study_description,
                    (SELECT string_agg(m, '\\' ORDER BY m) FROM (SELECT DISTINCT se.modality AS m FROM series se
                        WHERE se.study_pk = st.id AND se.modality IS NOT NULL) AS modalities),
                    (SELECT count(*) FROM series se WHERE se.study_pk = st.id),
                    (SELECT count(*) FROM instances i JOIN series se ON i.series_pk = se.id WHERE se.study_pk = st.id)
             FROM studies st JOIN patients p ON st.patient_pk = p.id
             ORDER BY st.study_date, st.study_instance_uid",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| StudyRow {
                study_instance_uid: r.get(0),
                patient_id: r.get(1),
                study_date: r.get(2),
                accession_number: r.get(3),
                study_description: r.get(4),
                modalities_in_study: r.get(5),
                series: r.get(6),
                instances: r.get(7),
            })
            .collect())
    }

    /// Series with their instance counts, ordered by study then series number.
    pub async fn list_series(&self) -> Result<Vec<SeriesRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT se.series_instance_uid, st.study_instance_uid, se.modality, se.series_number, se.series_description,
                    (SELECT count(*) FROM instances i WHERE i.series_pk = se.id)
             FROM series se JOIN studies st ON se.study_pk = st.id
             ORDER BY st.study_instance_uid, se.series_number, se.series_instance_uid",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SeriesRow {
                series_instance_uid: r.get(0),
                study_instance_uid: r.get(1),
                modality: r.get(2),
                series_number: r.get(3),
                series_description: r.get(4),
                instances: r.get(5),
            })
            .collect())
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub(crate) async fn existing_instance(
    tx: &mut Transaction<'static, Any>,
    sop_instance_uid: &str,
) -> Result<Option<ExistingInstance>, StoreError> {
    let row =
        sqlx::query("SELECT dataset_digest, blob_key FROM instances WHERE sop_instance_uid = $1")
            .bind(sop_instance_uid)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|r| ExistingInstance {
        dataset_digest: r.get(0),
        blob_key: r.get(1),
    }))
}

/// Inserts or replaces the instance row, creating or updating its patient, study and series.
/// Patient, study and series attributes take the values of the newest instance, as a
/// modality's corrections arrive with later instances.
pub(crate) async fn upsert_instance(
    tx: &mut Transaction<'static, Any>,
    attrs: &InstanceAttributes,
    location: &NewLocation<'_>,
) -> Result<(), StoreError> {
    let p = &attrs.patient;
    let patient_pk: i64 = sqlx::query(
        "INSERT INTO patients (patient_id, issuer_of_patient_id, patient_name, patient_birth_date, patient_sex)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (patient_id, issuer_of_patient_id) DO UPDATE SET
            patient_name = excluded.patient_name,
            patient_birth_date = excluded.patient_birth_date,
            patient_sex = excluded.patient_sex
         RETURNING id",
    )
    .bind(&p.patient_id)
    .bind(p.issuer_of_patient_id.as_deref().unwrap_or(""))
    .bind(&p.patient_name)
    .bind(&p.patient_birth_date)
    .bind(&p.patient_sex)
    .fetch_one(&mut **tx)
    .await?
    .get(0);

    let s = &attrs.study;
    let study_pk: i64 = sqlx::query(
        "INSERT INTO studies (study_instance_uid, patient_pk, study_date, study_time, accession_number, study_id,
            referring_physician_name, study_description, patient_age, patient_size, patient_weight, institution_name,
            site_pk)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, (SELECT id FROM sites WHERE code = $13))
         ON CONFLICT (study_instance_uid) DO UPDATE SET
            -- a study stays with the site that first sent it
            site_pk = COALESCE(studies.site_pk, excluded.site_pk),
            patient_pk = excluded.patient_pk,
            study_date = excluded.study_date,
            study_time = excluded.study_time,
            accession_number = excluded.accession_number,
            study_id = excluded.study_id,
            referring_physician_name = excluded.referring_physician_name,
            study_description = excluded.study_description,
            patient_age = excluded.patient_age,
            patient_size = excluded.patient_size,
            patient_weight = excluded.patient_weight,
            institution_name = excluded.institution_name,
            updated_at = excluded.updated_at
         RETURNING id",
    )
    .bind(&s.study_instance_uid)
    .bind(patient_pk)
    .bind(&s.study_date)
    .bind(&s.study_time)
    .bind(&s.accession_number)
    .bind(&s.study_id)
    .bind(&s.referring_physician_name)
    .bind(&s.study_description)
    .bind(&s.patient_age)
    .bind(db::Float(s.patient_size))
    .bind(db::Float(s.patient_weight))
    .bind(&s.institution_name)
    .bind(location.site)
    .fetch_one(&mut **tx)
    .await?
    .get(0);

    let se = &attrs.series;
    let series_pk: i64 = sqlx::query(
        "INSERT INTO series (series_instance_uid, study_pk, modality, series_number, series_description, series_date,
            series_time, body_part_examined, protocol_name, laterality, performed_procedure_step_start_date,
            manufacturer, manufacturer_model_name, station_name, device_serial_number)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (series_instance_uid) DO UPDATE SET
            study_pk = excluded.study_pk,
            modality = excluded.modality,
            series_number = excluded.series_number,
            series_description = excluded.series_description,
            series_date = excluded.series_date,
            series_time = excluded.series_time,
            body_part_examined = excluded.body_part_examined,
            protocol_name = excluded.protocol_name,
            laterality = excluded.laterality,
            performed_procedure_step_start_date = excluded.performed_procedure_step_start_date,
            manufacturer = excluded.manufacturer,
            manufacturer_model_name = excluded.manufacturer_model_name,
            station_name = excluded.station_name,
            device_serial_number = excluded.device_serial_number,
            updated_at = excluded.updated_at
         RETURNING id",
    )
    .bind(&se.series_instance_uid)
    .bind(study_pk)
    .bind(&se.modality)
    .bind(se.series_number)
    .bind(&se.series_description)
    .bind(&se.series_date)
    .bind(&se.series_time)
    .bind(&se.body_part_examined)
    .bind(&se.protocol_name)
    .bind(&se.laterality)
    .bind(&se.performed_procedure_step_start_date)
    .bind(&se.manufacturer)
    .bind(&se.manufacturer_model_name)
    .bind(&se.station_name)
    .bind(&se.device_serial_number)
    .fetch_one(&mut **tx)
    .await?
    .get(0);

    let i = &attrs.instance;
    sqlx::query(
        "INSERT INTO instances (sop_instance_uid, series_pk, sop_class_uid, instance_number, transfer_syntax_uid,
            image_type, acquisition_date, acquisition_time, content_date, content_time, rows, columns,
            number_of_frames, bits_allocated, photometric_interpretation, image_position_patient,
            image_orientation_patient, pixel_spacing, slice_thickness, slice_location, kvp, ctdi_vol, view_position,
            specific_character_set, blob_key, dataset_digest, dataset_offset, size_bytes, received_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)
         ON CONFLICT (sop_instance_uid) DO UPDATE SET
            series_pk = excluded.series_pk, sop_class_uid = excluded.sop_class_uid,
            instance_number = excluded.instance_number, transfer_syntax_uid = excluded.transfer_syntax_uid,
            image_type = excluded.image_type, acquisition_date = excluded.acquisition_date,
            acquisition_time = excluded.acquisition_time, content_date = excluded.content_date,
            content_time = excluded.content_time, rows = excluded.rows, columns = excluded.columns,
            number_of_frames = excluded.number_of_frames, bits_allocated = excluded.bits_allocated,
            photometric_interpretation = excluded.photometric_interpretation,
            image_position_patient = excluded.image_position_patient,
            image_orientation_patient = excluded.image_orientation_patient,
            pixel_spacing = excluded.pixel_spacing, slice_thickness = excluded.slice_thickness,
            slice_location = excluded.slice_location, kvp = excluded.kvp, ctdi_vol = excluded.ctdi_vol,
            view_position = excluded.view_position, specific_character_set = excluded.specific_character_set,
            blob_key = excluded.blob_key, dataset_digest = excluded.dataset_digest,
            dataset_offset = excluded.dataset_offset, size_bytes = excluded.size_bytes,
            received_from = excluded.received_from,
            received_at = excluded.received_at",
    )
    .bind(&attrs.sop_instance_uid)
    .bind(series_pk)
    .bind(&i.sop_class_uid)
    .bind(i.instance_number)
    .bind(&i.transfer_syntax_uid)
    .bind(&i.image_type)
    .bind(&i.acquisition_date)
    .bind(&i.acquisition_time)
    .bind(&i.content_date)
    .bind(&i.content_time)
    .bind(i.rows)
    .bind(i.columns)
    .bind(i.number_of_frames)
    .bind(i.bits_allocated)
    .bind(&i.photometric_interpretation)
    .bind(&i.image_position_patient)
    .bind(&i.image_orientation_patient)
    .bind(&i.pixel_spacing)
    .bind(db::Float(i.slice_thickness))
    .bind(db::Float(i.slice_location))
    .bind(db::Float(i.kvp))
    .bind(db::Float(i.ctdi_vol))
    .bind(&i.view_position)
    .bind(&attrs.specific_character_set)
    .bind(location.key.as_str())
    .bind(location.key.as_str())
    .bind(location.dataset_offset as i64)
    .bind(location.size_bytes as i64)
    .bind(location.received_from)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
