-- Indexes for the queries viewers and worklists send (C-FIND, QIDO-RS).
-- PN matching ignores case by default: LIKE 'DOE%' can use an index only when the index ignores
-- case too. SQLite used COLLATE NOCASE indexes; PostgreSQL has no NOCASE collation, so these
-- index lower(col), and a query uses them with lower(col) LIKE lower('DOE%') or
-- lower(col) = lower(...). text_pattern_ops lets a LIKE prefix use the index whatever the
-- database's collation (the default operator class does so only under the C collation).
CREATE INDEX patients_name_nocase ON patients (lower(patient_name) text_pattern_ops);
CREATE INDEX studies_referring_nocase ON studies (lower(referring_physician_name) text_pattern_ops);
CREATE INDEX studies_study_id ON studies (study_id);
-- study search by modality: EXISTS (series of the study with that modality)
CREATE INDEX series_modality_study ON series (modality, study_pk);
DROP INDEX series_modality;
CREATE INDEX series_date ON series (series_date);
CREATE INDEX instances_sop_class ON instances (sop_class_uid);
