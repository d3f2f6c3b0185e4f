//! The model catalogue: model versions (from their mira-models manifests), the evaluation
//! runs that back them, and their deployment state (candidate → approved → deployed →
//! retired), in the catalogue database (tables `eval_*`, migration in mira-store).
//!
//! [`ModelCatalogue::deploy`] is the gate: a model version is deployed only when its latest
//! evaluation on the dataset its intended use's gate requires meets every minimum; otherwise
//! the refusal names each shortfall. Every state change is recorded with its reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};

use crate::gate::Gates;
use crate::stats::Estimate;

/// Why a catalogue operation failed or was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// The database failed.
    #[error("model catalogue: {0}")]
    Database(#[from] sqlx::Error),
    /// Stored JSON could not be read back.
    #[error("model catalogue: stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// No such model version.
    #[error("no model {model_id} version {version} in the catalogue")]
    UnknownModel {
        /// The model.
        model_id: String,
        /// Its version.
        version: String,
    },
    /// Deployment refused by the gate.
    #[error("deployment of {model_id} {version} refused: {}", reasons.join("; "))]
    Refused {
        /// The model.
        model_id: String,
        /// Its version.
        version: String,
        /// Why, one sentence per reason.
        reasons: Vec<String>,
    },
}

impl CatalogueError {
    /// Whether the gate refused (as opposed to the catalogue failing).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            CatalogueError::Refused { .. } | CatalogueError::UnknownModel { .. }
        )
    }
}

/// Deployment state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Registered, not yet approved.
    Candidate,
    /// Passed its gate; may be deployed.
    Approved,
    /// In use: analyses may route to it.
    Deployed,
    /// No longer used.
    Retired,
}

impl State {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Candidate => "candidate",
            State::Approved => "approved",
            State::Deployed => "deployed",
            State::Retired => "retired",
        }
    }

    fn parse(text: &str) -> State {
        match text {
            "approved" => State::Approved,
            "deployed" => State::Deployed,
            "retired" => State::Retired,
            _ => State::Candidate,
        }
    }
}

/// An evaluation run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRun {
    /// Its id (0 before it is stored).
    pub id: i64,
    /// The model.
    pub model_id: String,
    /// Its version.
    pub version: String,
    /// The dataset's name.
    pub dataset: String,
    /// The dataset's content hash.
    pub dataset_version: String,
    /// When (RFC 3339, UTC).
    pub evaluated_at: String,
    /// Headline metrics by name.
    pub metrics: BTreeMap<String, Estimate>,
}

/// A model version with its runs: what the catalogue page shows as an evaluation card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// The model.
    pub model_id: String,
    /// Its version.
    pub version: String,
    /// Task (classification, detection, segmentation).
    pub task: String,
    /// Intended use, from the manifest.
    pub intended_use: String,
    /// SHA-256 of the `.onnx` file.
    pub sha256: String,
    /// Deployment state.
    pub state: State,
    /// When it was registered.
    pub registered_at: String,
    /// Its evaluation runs, newest first.
    pub runs: Vec<EvaluationRun>,
}

/// The catalogue over the catalogue database's pool.
#[derive(Debug, Clone)]
pub struct ModelCatalogue {
    pool: AnyPool,
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl ModelCatalogue {
    /// The catalogue in the database behind `pool` (migrated by mira-store).
    pub fn new(pool: AnyPool) -> Self {
        ModelCatalogue { pool }
    }

    /// Registers a model version as a candidate; registering it again changes nothing.
    pub async fn register(
        &self,
        manifest: &mira_models::Manifest,
        sha256: &str,
    ) -> Result<(), CatalogueError> {
        let task = serde_json::to_value(manifest.task)?;
        sqlx::query(
            "INSERT INTO eval_model_versions (model_id, version, task, intended_use, sha256, manifest, registered_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (model_id, version) DO NOTHING",
        )
        .bind(&manifest.id)
        .bind(&manifest.version)
        .bind(task.as_str().unwrap_or_default())
        .bind(&manifest.intended_use)
        .bind(sha256)
        .bind(serde_json::to_string(manifest)?)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a dataset version and its provenance (idempotent).
    pub async fn record_dataset(
        &self,
        dataset: &crate::dataset::Dataset,
    ) -> Result<(), CatalogueError> {
        sqlx::query(
            "INSERT INTO eval_datasets (name, version, items, provenance, recorded_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name, version) DO NOTHING",
        )
        .bind(&dataset.name)
        .bind(&dataset.version)
        .bind(dataset.items.len() as i64)
        .bind(serde_json::to_string(&dataset.provenance)?)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores an evaluation run of a registered model with its full report; returns its id.
    pub async fn record_run(
        &self,
        run: &EvaluationRun,
        report: &serde_json::Value,
    ) -> Result<i64, CatalogueError> {
        self.entry(&run.model_id, &run.version).await?;
        let id = sqlx::query(
            "INSERT INTO eval_runs (model_id, version, dataset, dataset_version, evaluated_at, metrics, report) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&run.model_id)
        .bind(&run.version)
        .bind(&run.dataset)
        .bind(&run.dataset_version)
        .bind(if run.evaluated_at.is_empty() { now() } else { run.evaluated_at.clone() })
        .bind(serde_json::to_string(&run.metrics)?)
        .bind(serde_json::to_string(report)?)
        .fetch_one(&self.pool)
        .await?
        .get::<i64, _>(0);
        Ok(id)
    }

    /// Every model version with its runs, by model and version.
    pub async fn list(&self) -> Result<Vec<ModelEntry>, CatalogueError> {
        let rows = sqlx::query(
            "SELECT model_id, version, task, intended_use, sha256, state, registered_at \
             FROM eval_model_versions ORDER BY model_id, version",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let model_id: String = row.get(0);
            let version: String = row.get(1);
            let runs = self.runs(&model_id, &version, None).await?;
            entries.push(ModelEntry {
                task: row.get(2),
                intended_use: row.get(3),
                sha256: row.get(4),
                state: State::parse(row.get::<&str, _>(5)),
                registered_at: row.get(6),
                runs,
                model_id,
                version,
            });
        }
        Ok(entries)
    }

    /// One model version.
    pub async fn entry(&self, model_id: &str, version: &str) -> Result<ModelEntry, CatalogueError> {
        self.list()
            .await?
            .into_iter()
            .find(|e| e.model_id == model_id && e.version == version)
            .ok_or_else(|| CatalogueError::UnknownModel {
                model_id: model_id.to_string(),
                version: version.to_string(),
            })
    }

    /// Runs of a model version, newest first, on one dataset or all.
    pub async fn runs(
        &self,
        model_id: &str,
        version: &str,
        dataset: Option<&str>,
    ) -> Result<Vec<EvaluationRun>, CatalogueError> {
        let rows = sqlx::query(
            "SELECT id, dataset, dataset_version, evaluated_at, metrics FROM eval_runs \
             WHERE model_id = $1 AND version = $2 AND ($3 IS NULL OR dataset = $4) ORDER BY id DESC",
        )
        .bind(model_id)
        .bind(version)
        .bind(dataset)
        .bind(dataset)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(EvaluationRun {
                    id: row.get(0),
                    model_id: model_id.to_string(),
                    version: version.to_string(),
                    dataset: row.get(1),
                    dataset_version: row.get(2),
                    evaluated_at: row.get(3),
                    metrics: serde_json::from_str(row.get::<&str, _>(4))?,
                })
            })
            .collect()
    }

    /// Checks a model version against its gate: `Ok(reasons)`, empty when it passes.
    pub async fn check_gate(
        &self,
        entry: &ModelEntry,
        gates: &Gates,
    ) -> Result<Vec<String>, CatalogueError> {
        let Some(gate) = gates.for_intended_use(&entry.intended_use) else {
            return Ok(vec![format!(
                "no deployment gate is set for the intended use \"{}\"",
                entry.intended_use
            )]);
        };
        let runs = self
            .runs(&entry.model_id, &entry.version, Some(&gate.dataset))
            .await?;
        let Some(latest) = runs.first() else {
            return Ok(vec![format!(
                "no evaluation on the required dataset \"{}\"",
                gate.dataset
            )]);
        };
        Ok(gate
            .shortfalls(&latest.metrics)
            .into_iter()
            .map(|s| {
                format!(
                    "{s} (run {} on {} {})",
                    latest.id,
                    latest.dataset,
                    &latest.dataset_version[..12.min(latest.dataset_version.len())]
                )
            })
            .collect())
    }

    /// Deploys a model version if its gate passes; otherwise [`CatalogueError::Refused`].
    pub async fn deploy(
        &self,
        model_id: &str,
        version: &str,
        gates: &Gates,
    ) -> Result<ModelEntry, CatalogueError> {
        let entry = self.entry(model_id, version).await?;
        let mut reasons = Vec::new();
        if entry.state == State::Retired {
            reasons.push("it is retired".to_string());
        }
        reasons.extend(self.check_gate(&entry, gates).await?);
        if !reasons.is_empty() {
            return Err(CatalogueError::Refused {
                model_id: model_id.to_string(),
                version: version.to_string(),
                reasons,
            });
        }
        self.change_state(&entry, State::Deployed, "gate passed")
            .await?;
        self.entry(model_id, version).await
    }

    /// Approves a model version if its gate passes.
    pub async fn approve(
        &self,
        model_id: &str,
        version: &str,
        gates: &Gates,
    ) -> Result<ModelEntry, CatalogueError> {
        let entry = self.entry(model_id, version).await?;
        let reasons = self.check_gate(&entry, gates).await?;
        if !reasons.is_empty() {
            return Err(CatalogueError::Refused {
                model_id: model_id.to_string(),
                version: version.to_string(),
                reasons,
            });
        }
        self.change_state(&entry, State::Approved, "gate passed")
            .await?;
        self.entry(model_id, version).await
    }

    /// Retires a model version.
    pub async fn retire(
        &self,
        model_id: &str,
        version: &str,
        reason: &str,
    ) -> Result<ModelEntry, CatalogueError> {
        let entry = self.entry(model_id, version).await?;
        self.change_state(&entry, State::Retired, reason).await?;
        self.entry(model_id, version).await
    }

    async fn change_state(
        &self,
        entry: &ModelEntry,
        to: State,
        reason: &str,
    ) -> Result<(), CatalogueError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE eval_model_versions SET state = $1 WHERE model_id = $2 AND version = $3",
        )
        .bind(to.as_str())
        .bind(&entry.model_id)
        .bind(&entry.version)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO eval_state_changes (model_id, version, from_state, to_state, reason, changed_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&entry.model_id)
        .bind(&entry.version)
        .bind(entry.state.as_str())
        .bind(to.as_str())
        .bind(reason)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
