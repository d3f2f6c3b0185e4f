-- Dataset release (the "apply – use – feedback" process): a researcher's request with its
-- purpose and criteria, a data steward's decision, the de-identified export and its
-- manifest, and the researcher's report of use and results.
CREATE TABLE dataset_requests (
    id INTEGER PRIMARY KEY,
    requested_by TEXT NOT NULL,
    requester_site TEXT NOT NULL,
    purpose TEXT NOT NULL,
    -- JSON: modality, study dates, body part, sites, de-identification options
    criteria TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'requested'
        CHECK (state IN ('requested', 'approved', 'refused', 'exported', 'closed')),
    decided_by TEXT,
    decision_note TEXT,
    decided_at TEXT,
    exported_by TEXT,
    exported_at TEXT,
    -- JSON manifest of the export (files, digests, profile, counts); no original values
    manifest TEXT,
    archive_path TEXT,
    feedback TEXT,
    feedback_at TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX dataset_requests_requester ON dataset_requests (requested_by);
