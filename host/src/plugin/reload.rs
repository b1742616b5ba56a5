//! Hot reload: compiling changed rules off the hot path and handing them to
//! the pipeline, which swaps them in at a batch boundary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};

use super::loader::RuleLoader;
use super::registry::ActiveRule;
use super::watcher::{PluginChange, PluginWatcher};
use crate::config::RuleConfig;

/// The outcome of one change in the plugins folder.
pub enum ReloadEvent {
    /// A rule file compiled, linked, described itself and accepted its config.
    Loaded(Box<ActiveRule>),
    /// A rule file failed to load; the running version (if any) stays.
    Failed {
        /// The rule file.
        path: PathBuf,
        /// Why, for logs and `weir status`.
        error: String,
    },
    /// A rule file was removed.
    Removed(PathBuf),
}

/// The config a rule file gets: its sidecar `<stem>.toml` if there is one
/// (the whole file is the config table), else `[rules.<name>] config`, else `{}`.
pub fn config_json(
    wasm: &Path,
    rule: &str,
    configs: &BTreeMap<String, RuleConfig>,
) -> Result<String, String> {
    let sidecar = wasm.with_extension("toml");
    match std::fs::read_to_string(&sidecar) {
        Ok(text) => {
            let table: toml::Table = text
                .parse()
                .map_err(|error| format!("{}: {error}", sidecar.display()))?;
            serde_json::to_string(&table).map_err(|error| format!("{}: {error}", sidecar.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(configs
            .get(rule)
            .map_or_else(|| "{}".to_owned(), |rule| rule.config_json.clone())),
        Err(error) => Err(format!("{}: {error}", sidecar.display())),
    }
}

/// Watches the plugins folder and loads changed rules in a background thread.
pub struct Reloader {
    _watcher_thread: std::thread::JoinHandle<()>,
    /// Loaded, failed and removed rules, in the order they happened.
    pub events: Receiver<ReloadEvent>,
}

impl Reloader {
    /// Starts watching `dir`.
    pub fn start(
        loader: Arc<RuleLoader>,
        dir: &Path,
        configs: BTreeMap<String, RuleConfig>,
    ) -> notify::Result<Self> {
        let watcher = PluginWatcher::start(dir)?;
        let (tx, events) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("weir-reload".into())
            .spawn(move || {
                // Move the whole watcher in (not just its channel): dropping
                // it would end the watch.
                let watcher = watcher;
                for change in watcher.changes.iter() {
                    let event = match change {
                        PluginChange::Remove(path) => ReloadEvent::Removed(path),
                        PluginChange::Upsert(path) if !path.exists() => continue,
                        PluginChange::Upsert(path) => load(&loader, &path, &configs),
                    };
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            })
            .map_err(|error| notify::Error::generic(&error.to_string()))?;
        Ok(Self {
            _watcher_thread: thread,
            events,
        })
    }
}

fn load(loader: &RuleLoader, path: &Path, configs: &BTreeMap<String, RuleConfig>) -> ReloadEvent {
    let started = std::time::Instant::now();
    let event = load_file(loader, path, configs);
    if let ReloadEvent::Loaded(rule) = &event {
        // From the file being complete to the rule ready to swap in.
        tracing::info!(rule = %rule.spec.name, hash = %rule.version_hash, load_ms = started.elapsed().as_millis() as u64, "rule file loaded");
    }
    event
}

fn load_file(
    loader: &RuleLoader,
    path: &Path,
    configs: &BTreeMap<String, RuleConfig>,
) -> ReloadEvent {
    let mut sidecar_error = None;
    let result = loader.load(path, |name| {
        config_json(path, name, configs).unwrap_or_else(|error| {
            sidecar_error = Some(error);
            "{}".to_owned()
        })
    });
    if let Some(error) = sidecar_error {
        return ReloadEvent::Failed {
            path: path.to_owned(),
            error: format!("invalid sidecar config: {error}"),
        };
    }
    match result {
        Ok(rule) => ReloadEvent::Loaded(Box::new(ActiveRule::from(rule))),
        Err(error) => ReloadEvent::Failed {
            path: path.to_owned(),
            error: error.to_string(),
        },
    }
}
