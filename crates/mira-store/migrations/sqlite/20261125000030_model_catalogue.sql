-- The model catalogue (mira-eval): model versions, the datasets and evaluation runs that back
-- them, and every change of deployment state.
CREATE TABLE eval_model_versions (
    model_id      TEXT NOT NULL,
    version       TEXT NOT NULL,
    task          TEXT NOT NULL,
    intended_use  TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    manifest      TEXT NOT NULL,            -- the manifest as JSON
    state         TEXT NOT NULL DEFAULT 'candidate'
                  CHECK (state IN ('candidate', 'approved', 'deployed', 'retired')),
    registered_at TEXT NOT NULL,
    PRIMARY KEY (model_id, version)
);

CREATE TABLE eval_datasets (
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,              -- content hash
    items       INTEGER NOT NULL,
    provenance  TEXT NOT NULL,              -- JSON
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE eval_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id        TEXT NOT NULL,
    version         TEXT NOT NULL,
    dataset         TEXT NOT NULL,
    dataset_version TEXT NOT NULL,
    evaluated_at    TEXT NOT NULL,
    metrics         TEXT NOT NULL,          -- JSON: metric name -> {value, low, high}
    report          TEXT NOT NULL,          -- JSON: the full report
    FOREIGN KEY (model_id, version) REFERENCES eval_model_versions (model_id, version)
);
CREATE INDEX eval_runs_by_model ON eval_runs (model_id, version, dataset, id);

CREATE TABLE eval_state_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id   TEXT NOT NULL,
    version    TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
