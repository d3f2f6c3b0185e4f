-- The reading workflow: physicians review AI findings, write and sign reports.
-- AI never replaces the physician's judgement: decisions and signatures are the physician's,
-- each with who and when; signed reports are immutable (triggers below), later changes are
-- addenda.

-- Per study: its priority and who opened it for reading.
CREATE TABLE reading_state (
    study_instance_uid TEXT PRIMARY KEY,
    priority TEXT NOT NULL DEFAULT 'routine' CHECK (priority IN ('routine', 'urgent', 'stat')),
    opened_by TEXT,
    opened_at TEXT
);

-- Every decision on a finding, append-only; the latest per finding is in force.
-- finding_id: `lung-ct/17/2` (analyzer/job/index) for AI findings, `physician/N` for added ones.
CREATE TABLE reading_decisions (
    id INTEGER PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    analyzer TEXT,
    analyzer_version TEXT,
    decision TEXT NOT NULL CHECK (decision IN ('accepted', 'edited', 'rejected', 'added')),
    reason TEXT,
    -- JSON: the finding as decided (an edit's values, an added finding)
    finding TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX reading_decisions_study ON reading_decisions (study_instance_uid, id);

-- Reports and addenda: version 1 is the report, later versions are addenda.
CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('report', 'addendum')),
    state TEXT NOT NULL CHECK (state IN ('draft', 'signed')),
    -- JSON: mira_report::ReportDocument
    document TEXT NOT NULL,
    addendum_text TEXT,
    author TEXT NOT NULL,
    signed_by TEXT,
    signed_by_name TEXT,
    signed_at TEXT,
    -- JSON: the report QC result at signing
    qc TEXT,
    sr_sop_instance_uid TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (study_instance_uid, version)
);

CREATE TRIGGER reports_signed_immutable BEFORE UPDATE ON reports
WHEN OLD.state = 'signed'
BEGIN
    SELECT RAISE(ABORT, 'signed reports are immutable');
END;

CREATE TRIGGER reports_signed_kept BEFORE DELETE ON reports
WHEN OLD.state = 'signed'
BEGIN
    SELECT RAISE(ABORT, 'signed reports are kept');
END;

-- The review of each AI finding as it stood when the report was signed, for the evaluation
-- centre's agreement and post-deployment monitoring (accepted, edited, rejected, unreviewed).
CREATE TABLE reading_reviews (
    report_id INTEGER NOT NULL REFERENCES reports (id),
    study_instance_uid TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    analyzer TEXT NOT NULL,
    analyzer_version TEXT NOT NULL,
    site_pk INTEGER,
    decision TEXT NOT NULL CHECK (decision IN ('accepted', 'edited', 'rejected', 'unreviewed')),
    signed_at TEXT NOT NULL,
    PRIMARY KEY (report_id, finding_id)
);
CREATE INDEX reading_reviews_model ON reading_reviews (analyzer, analyzer_version, signed_at);

-- Critical-finding notifications (危急值通报): who was called, when, and the read-back.
CREATE TABLE critical_notifications (
    id INTEGER PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    recipient TEXT NOT NULL,
    method TEXT NOT NULL,
    message TEXT NOT NULL,
    read_back INTEGER NOT NULL,
    notified_by TEXT NOT NULL,
    notified_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX critical_notifications_study ON critical_notifications (study_instance_uid);
