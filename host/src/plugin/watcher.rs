//! Watching the plugins folder: which rule files changed, once they settle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};

/// A rule file that needs (re)loading or unloading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginChange {
    /// The `.wasm` file (or its `<stem>.toml` sidecar) was added or changed.
    Upsert(PathBuf),
    /// The `.wasm` file is gone.
    Remove(PathBuf),
}

/// How long a file must stay unchanged (size and mtime) before it is
/// loaded: a copy in progress is never loaded half-written. Atomic renames
/// settle at once.
pub const SETTLE: Duration = Duration::from_millis(150);

/// Watches a folder; dropping it stops the watch.
pub struct PluginWatcher {
    _watcher: notify::RecommendedWatcher,
    /// Settled changes.
    pub changes: Receiver<PluginChange>,
}

/// What a file looked like at the last look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Look {
    len: Option<u64>,
    modified: Option<SystemTime>,
}

fn look(path: &Path) -> Look {
    match std::fs::metadata(path) {
        Ok(meta) => Look {
            len: Some(meta.len()),
            modified: meta.modified().ok(),
        },
        Err(_) => Look {
            len: None,
            modified: None,
        },
    }
}

/// The rule file a changed path is about: the `.wasm` itself, or the
/// `.wasm` beside a `.toml` sidecar.
fn rule_file(path: &Path) -> Option<PathBuf> {
    match path.extension()?.to_str()? {
        "wasm" => Some(path.to_owned()),
        "toml" => Some(path.with_extension("wasm")),
        _ => None,
    }
}

impl PluginWatcher {
    /// Starts watching `dir`.
    pub fn start(dir: &Path) -> notify::Result<Self> {
        let (raw_tx, raw_rx) = mpsc::channel::<PathBuf>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                // Reading a file to load it is an access event: only changes count,
                // or every load would trigger another.
                if let Ok(event) = event
                    && !matches!(event.kind, notify::EventKind::Access(_))
                {
                    for path in event.paths {
                        let _ = raw_tx.send(path);
                    }
                }
            })?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        let (tx, changes) = mpsc::channel();
        std::thread::Builder::new()
            .name("weir-watch".into())
            .spawn(move || settle(&raw_rx, &tx))
            .map_err(|error| notify::Error::generic(&error.to_string()))?;
        Ok(Self {
            _watcher: watcher,
            changes,
        })
    }
}

/// Turns raw events into settled changes: a rule file is reported once its
/// size and mtime have not changed for [`SETTLE`].
fn settle(raw: &Receiver<PathBuf>, out: &Sender<PluginChange>) {
    let mut pending: HashMap<PathBuf, (Look, Instant)> = HashMap::new();
    loop {
        match raw.recv_timeout(SETTLE / 3) {
            Ok(path) => {
                if let Some(file) = rule_file(&path) {
                    let now = look(&file);
                    pending.insert(file, (now, Instant::now()));
                }
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let mut settled = Vec::new();
        for (file, (seen, since)) in &mut pending {
            let now = look(file);
            if now != *seen {
                *seen = now;
                *since = Instant::now();
            } else if since.elapsed() >= SETTLE {
                settled.push(file.clone());
            }
        }
        for file in settled {
            let Some((seen, _)) = pending.remove(&file) else {
                continue;
            };
            let change = if seen.len.is_some() {
                PluginChange::Upsert(file)
            } else {
                PluginChange::Remove(file)
            };
            if out.send(change).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_changes_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let watcher = PluginWatcher::start(dir.path()).unwrap();
        let wasm = dir.path().join("rule.wasm");
        std::fs::write(&wasm, b"one").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
        let change = watcher
            .changes
            .recv_timeout(Duration::from_secs(5))
            .unwrap();
        assert_eq!(change, PluginChange::Upsert(wasm.clone()));
        std::fs::write(dir.path().join("rule.toml"), b"x = 1").unwrap();
        let change = watcher
            .changes
            .recv_timeout(Duration::from_secs(5))
            .unwrap();
        assert_eq!(change, PluginChange::Upsert(wasm.clone()));
        std::fs::remove_file(&wasm).unwrap();
        let change = watcher
            .changes
            .recv_timeout(Duration::from_secs(5))
            .unwrap();
        assert_eq!(change, PluginChange::Remove(wasm));
    }
}
