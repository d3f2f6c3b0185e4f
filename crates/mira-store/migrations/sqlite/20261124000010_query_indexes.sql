-- Indexes for the queries viewers and worklists send (C-FIND, QIDO-RS).
-- PN matching ignores case by default: LIKE 'DOE%' can use an index only with NOCASE.
CREATE INDEX patients_name_nocase ON patients (patient_name COLLATE NOCASE);
CREATE INDEX studies_referring_nocase ON studies (referring_physician_name COLLATE NOCASE);
CREATE INDEX studies_study_id ON studies (study_id);
-- study search by modality: EXISTS (series of the study with that modality)
CREATE INDEX series_modality_study ON series (modality, study_pk);
DROP INDEX series_modality;
CREATE INDEX series_date ON series (series_date);
CREATE INDEX instances_sop_class ON instances (sop_class_uid);
