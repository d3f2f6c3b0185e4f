//! The analyzers `mira serve` routes settled studies to, built from the configuration.

use std::sync::Arc;

use anyhow::{Context, bail};
use mira_analysis::Analyzer;
use mira_sr::model::Language;

use crate::config::Config;

/// Every analyzer `[analysis] analyzers` names, configured.
pub fn all(config: &Config) -> anyhow::Result<Vec<Arc<dyn Analyzer>>> {
    let settings = &config.analysis;
    let language = match settings.language.as_str() {
        "zh-CN" => Language::ZhCn,
        "en-US" => Language::EnUs,
        other => bail!("[analysis] language {other:?}: zh-CN or en-US"),
    };
    let mut out: Vec<Arc<dyn Analyzer>> = Vec::new();
    for name in &settings.analyzers {
        match name.as_str() {
            "fundus-dr" => {
                let mut fundus = mira_fundus::Analyzer::new().with_rules(
                    config
                        .qc
                        .worker_config()
                        .context("QC rules")?
                        .rules
                        .as_ref()
                        .clone(),
                );
                if let Some(manifest) = &settings.fundus_model {
                    fundus = fundus.with_model(manifest).with_context(|| {
                        format!("[analysis] fundus_model {}", manifest.display())
                    })?;
                }
                out.push(Arc::new(mira_analysis::fundus::FundusAnalyzer::new(
                    fundus, language,
                )));
            }
            "lung-ct" => {
                let mut options =
                    mira_lung::LungOptions::lung_rads().context("Lung-RADS profile")?;
                if let Some(manifest) = &settings.lung_model {
                    options = options
                        .with_classifier_manifest(manifest)
                        .with_context(|| format!("[analysis] lung_model {}", manifest.display()))?;
                }
                out.push(Arc::new(mira_analysis::lung::LungAnalyzer::new(
                    options, language,
                )));
            }
            other => bail!("[analysis] analyzers: unknown analyzer {other:?} (lung-ct, fundus-dr)"),
        }
    }
    Ok(out)
}
