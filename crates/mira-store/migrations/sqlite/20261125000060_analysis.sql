-- Analysis jobs: one row per analyzer, subject and input. A job is claimed with a lease, so
-- that the work of a process that dies mid-job goes to another after the lease expires; a
-- result is stored only by the holder of the lease, and derived objects (SR) carry UIDs made
-- from the job's identity, so a job that runs twice leaves one result (exactly once in effect).
CREATE TABLE analysis_jobs (
    id INTEGER PRIMARY KEY,
    analyzer TEXT NOT NULL,
    subject_level TEXT NOT NULL CHECK (subject_level IN ('study', 'series', 'instance')),
    subject_uid TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL,
    -- JSON array of the SOP Instance UIDs analysed, fixed when the job is made
    inputs TEXT NOT NULL,
    -- SHA-256 of the inputs' blob keys, sorted: new or replaced instances make a new job
    input_digest TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    claimed_by TEXT,
    lease_until TEXT,
    analyzer_version TEXT,
    -- JSON: the analyzer's report
    result TEXT,
    -- JSON array of flags for the worklist, e.g. {"code":"lung-rads-4A","urgent":true}
    flags TEXT NOT NULL DEFAULT '[]',
    -- JSON array of the SOP Instance UIDs of derived objects stored in the archive (SR)
    derived TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at TEXT,
    finished_at TEXT,
    UNIQUE (analyzer, subject_uid, input_digest)
);
CREATE INDEX analysis_jobs_claim ON analysis_jobs (state, not_before);
CREATE INDEX analysis_jobs_study ON analysis_jobs (study_instance_uid);

-- Which settled studies the router has looked at: the study QC result's checked_at it saw.
CREATE TABLE analysis_routing (
    study_instance_uid TEXT PRIMARY KEY,
    routed_at TEXT NOT NULL
);
