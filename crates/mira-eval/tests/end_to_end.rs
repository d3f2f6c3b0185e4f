//! End to end: two versions of a tiny ONNX classifier (written by python3 with `onnx`, as
//! mira-models' tests do) are run by mira-models over a small generated image dataset,
//! evaluated, recorded in the model catalogue, and put to the deployment gate: the better one
//! passes and is deployed, the worse one is refused with the shortfalls named. Skipped
//! without python3 and `onnx`, except under `CI=true`.

use std::collections::BTreeMap;
use std::process::Command;

use mira_eval::catalogue::{CatalogueError, EvaluationRun, ModelCatalogue, State};
use mira_eval::classify::{self, ClassifyOptions};
use mira_eval::dataset::Dataset;
use mira_eval::gate::Gates;

#[path = "support/tiny_models.rs"]
mod tiny_models;

use tiny_models::{INTENDED_USE, MAKE_MODELS, dataset, have_onnx, manifest};

#[tokio::test]
async fn the_better_model_is_deployed_and_the_worse_refused() {
    if !have_onnx() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .args(["-c", MAKE_MODELS])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let good = manifest(dir.path(), "good.onnx", "2.0.0");
    let poor = manifest(dir.path(), "poor.onnx", "1.0.0");
    let data = Dataset::import(&dataset(dir.path())).unwrap();
    assert_eq!(data.name, "tiny-colour");
    assert_eq!(data.version.len(), 64);

    let store = mira_store::Catalogue::open(&dir.path().join("catalogue.db"))
        .await
        .unwrap();
    let catalogue = ModelCatalogue::new(store.pool().clone());
    catalogue.record_dataset(&data).await.unwrap();
    let options = ClassifyOptions {
        bootstrap_samples: 200,
        ..ClassifyOptions::default()
    };
    let mut aucs = BTreeMap::new();
    for manifest_path in [&good, &poor] {
        let model = mira_models::Model::load(manifest_path).unwrap();
        catalogue
            .register(model.manifest(), model.sha256())
            .await
            .unwrap();
        let input = mira_eval::run::classify_dataset(&model, &data).unwrap();
        let metrics = classify::evaluate(&input, &options);
        aucs.insert(model.manifest().version.clone(), metrics.auc.unwrap().value);
        let run = EvaluationRun {
            id: 0,
            model_id: model.manifest().id.clone(),
            version: model.manifest().version.clone(),
            dataset: data.name.clone(),
            dataset_version: data.version.clone(),
            evaluated_at: String::new(),
            metrics: metrics
                .headline()
                .into_iter()
                .map(|(n, e)| (n.to_string(), e))
                .collect(),
        };
        catalogue
            .record_run(&run, &serde_json::to_value(&metrics).unwrap())
            .await
            .unwrap();
    }
    assert_eq!(aucs["2.0.0"], 1.0, "the good model separates red from blue");
    assert!(
        aucs["1.0.0"] < 0.8,
        "the poor model looks at green: {}",
        aucs["1.0.0"]
    );

    let gates_path = dir.path().join("gates.toml");
    std::fs::write(
        &gates_path,
        format!(
            "[[gate]]\nintended_use = \"{INTENDED_USE}\"\ndataset = \"tiny-colour\"\n[gate.minimum]\nauc = 0.9\nsensitivity = 0.8\nspecificity = 0.8\n"
        ),
    )
    .unwrap();
    let gates = Gates::from_path(&gates_path).unwrap();

    let deployed = catalogue
        .deploy("red-vs-blue", "2.0.0", &gates)
        .await
        .unwrap();
    assert_eq!(deployed.state, State::Deployed);

    let refused = catalogue
        .deploy("red-vs-blue", "1.0.0", &gates)
        .await
        .unwrap_err();
    let CatalogueError::Refused { reasons, .. } = &refused else {
        panic!("{refused}")
    };
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("auc ") && r.contains("< 0.9 required")),
        "{reasons:?}"
    );
    let message = refused.to_string();
    assert!(
        message.starts_with("deployment of red-vs-blue 1.0.0 refused: auc"),
        "{message}"
    );
    assert_eq!(
        catalogue.entry("red-vs-blue", "1.0.0").await.unwrap().state,
        State::Candidate
    );

    // no gate for an intended use, no evaluation on the required dataset: refused too
    let refused = catalogue
        .deploy("red-vs-blue", "1.0.0", &Gates::default())
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("no deployment gate is set"),
        "{refused}"
    );
    let listed = catalogue.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|e| e.runs.len() == 1));
}
