//! `weir check`: validate a config and its plugins.

use std::path::Path;

use crate::config::Config;
use crate::pipeline::load_rules;

/// Loads the config and every plugin; returns a report for the operator.
pub fn check(config_path: &Path) -> anyhow::Result<String> {
    let config = Config::load(config_path)?;
    let registry = load_rules(&config)?;
    let mut report = format!("{}: ok\n", config_path.display());
    for rule in registry.rules() {
        report.push_str(&format!(
            "rule {} {} ({}, {})\n",
            rule.spec.name,
            rule.spec.version,
            rule.path.display(),
            rule.version_hash
        ));
        for metric in &rule.spec.metrics {
            let windows: Vec<String> = metric.windows.iter().map(ToString::to_string).collect();
            report.push_str(&format!(
                "  metric {}: {} over {}\n",
                metric.name,
                metric.aggregation,
                windows.join(", ")
            ));
        }
    }
    Ok(report)
}
