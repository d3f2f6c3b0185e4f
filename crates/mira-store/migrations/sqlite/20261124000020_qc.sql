-- QC results: one row per checked subject (instance, series or study) and one row per rule
-- evaluated on it. Re-running QC on a subject replaces its row and its checks.
-- site = Institution Name, device = manufacturer / model / station, operator = Operators' Name
-- (staff, not patients); performed_on = the study date (YYYY-MM-DD), else the day of the check.

CREATE TABLE qc_results (
    id INTEGER PRIMARY KEY,
    level TEXT NOT NULL CHECK (level IN ('instance', 'series', 'study')),
    subject_uid TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL,
    series_instance_uid TEXT,
    modality TEXT,
    site TEXT,
    device TEXT,
    operator TEXT,
    -- instances of projection radiography: modality|body part|view|laterality, so that a
    -- second image of the same view in a study counts as a repeat
    view_key TEXT,
    performed_on TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'info', 'warning', 'fail')),
    grade TEXT,
    measurements TEXT NOT NULL DEFAULT '{}',
    checked_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (level, subject_uid)
);
CREATE INDEX qc_results_study ON qc_results (study_instance_uid);
CREATE INDEX qc_results_period ON qc_results (performed_on);

CREATE TABLE qc_checks (
    result_pk INTEGER NOT NULL REFERENCES qc_results (id) ON DELETE CASCADE,
    rule_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pass', 'info', 'warning', 'fail')),
    measured TEXT,
    expected TEXT,
    message TEXT NOT NULL,
    action TEXT
);
CREATE INDEX qc_checks_result ON qc_checks (result_pk);
CREATE INDEX qc_checks_rule ON qc_checks (rule_id, status);
