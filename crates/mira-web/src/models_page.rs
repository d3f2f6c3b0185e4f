//! The model catalogue over HTTP: `/models`, a server-rendered page listing every model
//! version with its deployment state and evaluation cards, and `/api/models`, the same as
//! JSON. Read-only: deployment goes through `mira models deploy` and its gate.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mira_eval::catalogue::{ModelCatalogue, ModelEntry};
use mira_eval::report::escape;

use crate::problem::Problem;

/// The routes, with their state applied.
pub fn models_routes(catalogue: ModelCatalogue) -> Router {
    Router::new()
        .route("/models", get(page))
        .route("/api/models", get(api))
        .with_state(catalogue)
}

async fn entries(catalogue: &ModelCatalogue) -> Result<Vec<ModelEntry>, Response> {
    catalogue.list().await.map_err(|e| {
        tracing::error!(error = %e, "model catalogue");
        Problem::internal("the model catalogue cannot be read").into_response()
    })
}

async fn api(State(catalogue): State<ModelCatalogue>) -> Response {
    match entries(&catalogue).await {
        Ok(entries) => Json(entries).into_response(),
        Err(response) => response,
    }
}

async fn page(State(catalogue): State<ModelCatalogue>) -> Response {
    let entries = match entries(&catalogue).await {
        Ok(entries) => entries,
        Err(response) => return response,
    };
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        render(&entries),
    )
        .into_response()
}

/// The page: one card per model version.
fn render(entries: &[ModelEntry]) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Model catalogue</title>\
         <style>body{font-family:system-ui,sans-serif;margin:2em;max-width:64em}\
         section{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;margin:1em 0}\
         table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:right}\
         td:first-child,th:first-child{text-align:left}.state{font-weight:bold}</style></head>\
         <body><h1>Model catalogue</h1>",
    );
    if entries.is_empty() {
        html.push_str("<p>No model is registered. <code>mira eval run --model M --dataset D</code> registers and evaluates one.</p>");
    }
    for e in entries {
        html.push_str(&format!(
            "<section><h2>{} {}</h2><p class=\"state\">{}</p><p>{}: {}</p><p>SHA-256 <code>{}</code>, registered {}</p>",
            escape(&e.model_id),
            escape(&e.version),
            e.state.as_str(),
            escape(&e.task),
            escape(&e.intended_use),
            escape(&e.sha256),
            escape(&e.registered_at)
        ));
        if e.runs.is_empty() {
            html.push_str("<p>No evaluation yet.</p>");
        }
        for run in &e.runs {
            html.push_str(&format!(
                "<h3>Evaluation {} on {} <small>({})</small>, {}</h3><table><tr><th>metric</th><th>estimate</th><th>95% CI</th></tr>",
                run.id,
                escape(&run.dataset),
                escape(&run.dataset_version[..12.min(run.dataset_version.len())]),
                escape(&run.evaluated_at)
            ));
            for (name, v) in &run.metrics {
                html.push_str(&format!(
                    "<tr><td>{}</td><td>{:.4}</td><td>{:.4}–{:.4}</td></tr>",
                    escape(name),
                    v.value,
                    v.low,
                    v.high
                ));
            }
            html.push_str("</table>");
        }
        html.push_str("</section>");
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use mira_eval::Estimate;
    use mira_eval::catalogue::{EvaluationRun, State};

    #[test]
    fn the_page_shows_each_version_with_its_evaluation_card_escaped() {
        let entry = ModelEntry {
            model_id: "dr<script>".into(),
            version: "1.0".into(),
            task: "classification".into(),
            intended_use: "fundus & more".into(),
            sha256: "ab".repeat(32),
            state: State::Deployed,
            registered_at: "2026-11-23T00:00:00Z".into(),
            runs: vec![EvaluationRun {
                id: 7,
                model_id: "dr<script>".into(),
                version: "1.0".into(),
                dataset: "regional-test".into(),
                dataset_version: "0123456789abcdef".into(),
                evaluated_at: "2026-11-23T01:00:00Z".into(),
                metrics: [(
                    "auc".to_string(),
                    Estimate {
                        value: 0.93,
                        low: 0.9,
                        high: 0.96,
                    },
                )]
                .into(),
            }],
        };
        let html = render(&[entry]);
        assert!(html.contains("dr&lt;script&gt; 1.0") && !html.contains("<script>"));
        assert!(html.contains("deployed") && html.contains("fundus &amp; more"));
        assert!(html.contains("Evaluation 7 on regional-test") && html.contains("0.9300"));
        assert!(render(&[]).contains("No model is registered"));
    }
}
