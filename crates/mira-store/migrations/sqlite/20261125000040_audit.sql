-- The tamper-evident audit log (mira-audit): one row per audited event, appended only.
-- seq numbers the records 1, 2, 3 … without gaps; prev_hash is the SHA-256 of the previous
-- record's canonical bytes (64 zeros for the first) and hash that of this record's, so that an
-- edit, a deletion or a reordering breaks the chain where it happened (`mira audit verify`).
-- No patient names or IDs: objects are study/series UIDs or keyed pseudonyms.
-- id is the physical order of insertion; seq is part of the hashed content.

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    site TEXT NOT NULL,
    action TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    source_address TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (recorded_at);
