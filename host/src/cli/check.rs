//! `weir check`: validate a config and its plugins.

use std::path::Path;

use crate::config::{Config, SourceConfig, SourceKind};
use crate::pipeline::load_rules;

/// Loads the config and every plugin; returns a report for the operator.
pub fn check(config_path: &Path) -> anyhow::Result<String> {
    let config = Config::load(config_path)?;
    let registry = load_rules(&config)?;
    let mut report = format!("{}: ok\n", config_path.display());
    if config.sources.is_named() {
        for (name, source) in config.sources.iter() {
            report.push_str(&format!("source {name}: {}\n", describe(source)));
        }
    }
    for rule in registry.rules() {
        report.push_str(&format!(
            "rule {} {} ({}, {})\n",
            rule.spec.name,
            rule.spec.version,
            rule.path.display(),
            rule.version_hash
        ));
        let routed = config.rules.get(&rule.spec.name);
        if let Some(sources) = routed.and_then(|rule| rule.sources.as_ref()) {
            report.push_str(&format!("  reads sources {}\n", sources.join(", ")));
        }
        if let Some(topics) = routed.and_then(|rule| rule.topics.as_ref()) {
            report.push_str(&format!("  reads topics {}\n", topics.join(", ")));
        }
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

/// One line about a source: its kind and what it reads.
fn describe(source: &SourceConfig) -> String {
    match &source.kind {
        SourceKind::File { path, follow, .. } => {
            let follow = if *follow { ", followed" } else { "" };
            format!("file {}{follow}", path.display())
        }
        SourceKind::Stdin => "stdin".to_owned(),
        SourceKind::Kafka(kafka) => format!(
            "kafka {} at {} (group {})",
            kafka.topics.join(", "),
            kafka.brokers,
            kafka.group
        ),
    }
}
