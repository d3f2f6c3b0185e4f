//! The analyzers `mira serve` routes settled studies to, built from the configuration.

use std::sync::Arc;

use mira_analysis::Analyzer;

use crate::config::Config;

/// Every analyzer this build offers, configured.
pub fn all(_config: &Config) -> Vec<Arc<dyn Analyzer>> {
    Vec::new()
}
