-- The order of a result's checks, as the rule engine produced them: the same on every engine
-- (SQLite's implicit rowid order is not a column PostgreSQL has).
ALTER TABLE qc_checks ADD COLUMN position BIGINT NOT NULL DEFAULT 0;
