-- The catalogue: one row per patient, study, series and instance.
-- Columns follow PS3.4 C.6 required keys per level plus what QC and analysis select on.
-- Text is UTF-8 (decoded from the instance's Specific Character Set); dates are DICOM DA/TM text.

CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL,
    -- '' when absent, so that the pair is a usable unique key
    issuer_of_patient_id TEXT NOT NULL DEFAULT '',
    patient_name TEXT,
    patient_birth_date TEXT,
    patient_sex TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (patient_id, issuer_of_patient_id)
);
CREATE INDEX patients_name ON patients (patient_name);

CREATE TABLE studies (
    id INTEGER PRIMARY KEY,
    study_instance_uid TEXT NOT NULL UNIQUE,
    patient_pk INTEGER NOT NULL REFERENCES patients (id),
    study_date TEXT,
    study_time TEXT,
    accession_number TEXT,
    study_id TEXT,
    referring_physician_name TEXT,
    study_description TEXT,
    patient_age TEXT,
    patient_size REAL,
    patient_weight REAL,
    institution_name TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX studies_patient ON studies (patient_pk);
CREATE INDEX studies_date ON studies (study_date, study_time);
CREATE INDEX studies_accession ON studies (accession_number);

CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    series_instance_uid TEXT NOT NULL UNIQUE,
    study_pk INTEGER NOT NULL REFERENCES studies (id),
    modality TEXT,
    series_number INTEGER,
    series_description TEXT,
    series_date TEXT,
    series_time TEXT,
    body_part_examined TEXT,
    protocol_name TEXT,
    laterality TEXT,
    performed_procedure_step_start_date TEXT,
    manufacturer TEXT,
    manufacturer_model_name TEXT,
    station_name TEXT,
    device_serial_number TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX series_study ON series (study_pk);
CREATE INDEX series_modality ON series (modality);

CREATE TABLE instances (
    id INTEGER PRIMARY KEY,
    sop_instance_uid TEXT NOT NULL UNIQUE,
    series_pk INTEGER NOT NULL REFERENCES series (id),
    sop_class_uid TEXT NOT NULL,
    instance_number INTEGER,
    transfer_syntax_uid TEXT NOT NULL,
    image_type TEXT,
    acquisition_date TEXT,
    acquisition_time TEXT,
    content_date TEXT,
    content_time TEXT,
    rows INTEGER,
    columns INTEGER,
    number_of_frames INTEGER,
    bits_allocated INTEGER,
    photometric_interpretation TEXT,
    image_position_patient TEXT,
    image_orientation_patient TEXT,
    pixel_spacing TEXT,
    slice_thickness REAL,
    slice_location REAL,
    kvp REAL,
    ctdi_vol REAL,
    view_position TEXT,
    specific_character_set TEXT,
    -- where the bytes are: the blob key is the SHA-256 of the data set bytes
    blob_key TEXT NOT NULL,
    dataset_digest TEXT NOT NULL,
    dataset_offset INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    -- 'import' or the calling AE title
    received_from TEXT NOT NULL,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX instances_series ON instances (series_pk, instance_number);
CREATE INDEX instances_blob ON instances (blob_key);
