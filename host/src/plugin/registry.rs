//! The rules of a pipeline: every component in the plugins folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::loader::{LoadedRule, RuleLoader};
use super::runner::RuleRunner;
use crate::config::RuleConfig;
use crate::model::RuleSpec;

/// One rule as the pipeline runs it.
pub struct ActiveRule {
    /// The checked manifest.
    pub spec: RuleSpec,
    /// Where it was loaded from (empty for native rules).
    pub path: PathBuf,
    /// Names the loaded version.
    pub version_hash: String,
    /// When it was loaded, Unix milliseconds.
    pub loaded_at_ms: u64,
    /// The instance batches go through.
    pub runner: Box<dyn RuleRunner>,
    /// More instances, for the other threads' runs of large batches
    /// (`[engine] threads`), made on first use.
    pub spares: Vec<Box<dyn RuleRunner>>,
}

impl From<LoadedRule> for ActiveRule {
    fn from(loaded: LoadedRule) -> Self {
        Self {
            spec: loaded.spec,
            path: loaded.path,
            version_hash: loaded.version_hash,
            loaded_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64),
            runner: Box::new(loaded.runner),
            spares: Vec::new(),
        }
    }
}

/// Plugins that could not be loaded, all of them.
#[derive(Debug, thiserror::Error)]
#[error("{} plugin problem(s) in {dir}:\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct RegistryError {
    /// The plugins folder.
    pub dir: PathBuf,
    /// One line per problem.
    pub problems: Vec<String>,
}

/// The rules loaded from the plugins folder at start, in file-name order
/// (the engine then keeps each in a slot of its own, by id).
#[derive(Default)]
pub struct RuleRegistry {
    rules: Vec<ActiveRule>,
}

impl RuleRegistry {
    /// A registry of already-built rules (benchmarks, tests).
    pub fn from_rules(rules: Vec<ActiveRule>) -> Self {
        Self { rules }
    }

    /// Loads every `*.wasm` file in `dir`, reporting every file that fails
    /// and every `[rules.<name>]` table that names no loaded rule.
    pub fn load_dir(
        loader: &RuleLoader,
        dir: &Path,
        rule_configs: &BTreeMap<String, RuleConfig>,
    ) -> Result<Self, RegistryError> {
        let mut problems = Vec::new();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "wasm") && path.is_file())
                .collect(),
            Err(error) => {
                return Err(RegistryError {
                    dir: dir.to_owned(),
                    problems: vec![format!("cannot read the plugins folder: {error}")],
                });
            }
        };
        files.sort();
        let mut rules: Vec<ActiveRule> = Vec::new();
        for file in &files {
            let mut sidecar_error = None;
            let loaded = loader.load(file, |name| {
                super::reload::config_json(file, name, rule_configs).unwrap_or_else(|error| {
                    sidecar_error = Some(error);
                    "{}".to_owned()
                })
            });
            if let Some(error) = sidecar_error {
                problems.push(format!("invalid sidecar config: {error}"));
                continue;
            }
            match loaded {
                Ok(loaded) => {
                    if let Some(other) =
                        rules.iter().find(|rule| rule.spec.name == loaded.spec.name)
                    {
                        problems.push(format!(
                            "{}: rule `{}` is also defined by {}",
                            file.display(),
                            loaded.spec.name,
                            other.path.display()
                        ));
                    } else {
                        rules.push(loaded.into());
                    }
                }
                Err(error) => problems.push(error.to_string()),
            }
        }
        if files.is_empty() {
            problems.push("no *.wasm rules found".to_owned());
        }
        for (name, rule_config) in rule_configs {
            if let Some(rule) = rules.iter().find(|rule| &rule.spec.name == name) {
                for metric in rule_config.ttl_secs.keys() {
                    if rule.spec.metric(metric).is_none() {
                        problems.push(format!(
                            "rules.{name}.ttl_secs.{metric}: rule `{name}` has no metric `{metric}`"
                        ));
                    }
                }
            } else if problems.is_empty() {
                problems.push(format!("rules.{name}: no loaded rule is called `{name}`"));
            }
        }
        if problems.is_empty() {
            Ok(Self { rules })
        } else {
            Err(RegistryError {
                dir: dir.to_owned(),
                problems,
            })
        }
    }

    /// Takes the rules out, in order.
    pub fn into_rules(self) -> Vec<ActiveRule> {
        self.rules
    }

    /// The rules.
    pub fn rules(&self) -> &[ActiveRule] {
        &self.rules
    }
}
