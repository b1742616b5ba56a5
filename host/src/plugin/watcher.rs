//! Watching the plugins folder: which rule files changed, once they are
//! complete.
//!
//! The rule for "complete": a file renamed into the folder (how `weir
//! deploy`, `install`, `mv` and most deploy tools publish a file) arrived
//! whole and is reported at once; a file written in place (`cp`, an editor
//! saving over it, `scp` straight into the folder) is reported only once its
//! size and mtime have stood still for [`SETTLE`], so a copy in progress is
//! never loaded half-written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use notify::event::{ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};

/// A rule file that needs (re)loading or unloading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginChange {
    /// The `.wasm` file (or its `<stem>.toml` sidecar) was added or changed.
    Upsert(PathBuf),
    /// The `.wasm` file is gone.
    Remove(PathBuf),
}

/// How long a file written in place must stay unchanged (size and mtime)
/// before it is loaded: a copy in progress is never loaded half-written.
/// Files renamed into the folder do not wait.
pub const SETTLE: Duration = Duration::from_millis(150);

/// How often files written in place are looked at while they settle.
const SETTLE_POLL: Duration = Duration::from_millis(25);

/// Watches a folder; dropping it stops the watch.
pub struct PluginWatcher {
    _watcher: notify::RecommendedWatcher,
    /// Complete changes.
    pub changes: Receiver<PluginChange>,
}

/// How a path changed, as far as the file system says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    /// Renamed into place: the name now points at a file some other name
    /// finished writing, so its content is whole.
    Renamed,
    /// Created, written, truncated or deleted in place: it may still be
    /// changing.
    Touched,
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

/// The paths an event is about, and how they changed. Reading a file to
/// load it is an access event: only changes count, or every load would
/// trigger another.
fn arrivals(event: notify::Event) -> Vec<(PathBuf, Arrival)> {
    let arrival = match event.kind {
        EventKind::Access(_) => return Vec::new(),
        // inotify sends `From` and `To` as well as `Both`.
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => return Vec::new(),
        // `Any` (macOS, BSD) may be either end of the rename; a source that
        // is gone settles into a removal like any other.
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Any)) => Arrival::Renamed,
        _ => Arrival::Touched,
    };
    event
        .paths
        .into_iter()
        .map(|path| (path, arrival))
        .collect()
}

impl PluginWatcher {
    /// Starts watching `dir`.
    pub fn start(dir: &Path) -> notify::Result<Self> {
        let (raw_tx, raw_rx) = mpsc::channel::<(PathBuf, Arrival)>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event {
                    for arrival in arrivals(event) {
                        let _ = raw_tx.send(arrival);
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

/// Turns raw events into complete changes (see [`Settler`]).
fn settle(raw: &Receiver<(PathBuf, Arrival)>, out: &Sender<PluginChange>) {
    let mut settler = Settler::default();
    let mut last_look = Instant::now();
    loop {
        let mut changes = Vec::new();
        match raw.recv_timeout(SETTLE_POLL) {
            Ok((path, arrival)) => changes.extend(settler.on_event(&path, arrival, Instant::now())),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Looked at on a clock of its own, so a stream of events about other
        // files cannot hold a settled one back.
        if last_look.elapsed() >= SETTLE_POLL {
            last_look = Instant::now();
            changes.extend(settler.settled(last_look));
        }
        for change in changes {
            if out.send(change).is_err() {
                return;
            }
        }
    }
}

/// The rule files written in place that have not settled yet.
#[derive(Default)]
struct Settler {
    pending: HashMap<PathBuf, (Look, Instant)>,
}

impl Settler {
    /// A raw event about `path`. A `.wasm` or sidecar renamed into place is
    /// reported at once, unless the same rule also has in-place writes still
    /// settling (then the rename joins them, so the rule never loads beside
    /// a half-written sidecar or the other way round).
    fn on_event(&mut self, path: &Path, arrival: Arrival, now: Instant) -> Option<PluginChange> {
        let file = rule_file(path)?;
        let seen = look(&file);
        if arrival == Arrival::Renamed && seen.len.is_some() && !self.pending.contains_key(&file) {
            return Some(PluginChange::Upsert(file));
        }
        self.pending.insert(file, (seen, now));
        None
    }

    /// The pending files whose size and mtime have not changed for
    /// [`SETTLE`] by `now`.
    fn settled(&mut self, now: Instant) -> Vec<PluginChange> {
        let mut settled = Vec::new();
        for (file, (seen, since)) in &mut self.pending {
            let current = look(file);
            if current != *seen {
                *seen = current;
                *since = now;
            } else if now.duration_since(*since) >= SETTLE {
                settled.push(file.clone());
            }
        }
        settled.sort();
        settled
            .into_iter()
            .filter_map(|file| {
                let (seen, _) = self.pending.remove(&file)?;
                Some(if seen.len.is_some() {
                    PluginChange::Upsert(file)
                } else {
                    PluginChange::Remove(file)
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(watcher: &PluginWatcher) -> PluginChange {
        watcher
            .changes
            .recv_timeout(Duration::from_secs(5))
            .unwrap()
    }

    #[test]
    fn settled_changes_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let watcher = PluginWatcher::start(dir.path()).unwrap();
        let wasm = dir.path().join("rule.wasm");
        std::fs::write(&wasm, b"one").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
        assert_eq!(recv(&watcher), PluginChange::Upsert(wasm.clone()));
        std::fs::write(dir.path().join("rule.toml"), b"x = 1").unwrap();
        assert_eq!(recv(&watcher), PluginChange::Upsert(wasm.clone()));
        std::fs::remove_file(&wasm).unwrap();
        assert_eq!(recv(&watcher), PluginChange::Remove(wasm));
    }

    #[test]
    fn a_file_renamed_into_place_is_reported_without_the_settle_wait() {
        let dir = tempfile::tempdir().unwrap();
        let watcher = PluginWatcher::start(dir.path()).unwrap();
        let wasm = dir.path().join("rule.wasm");
        let part = dir.path().join("rule.part");
        std::fs::write(&part, b"whole").unwrap();
        let renamed = Instant::now();
        std::fs::rename(&part, &wasm).unwrap();
        assert_eq!(recv(&watcher), PluginChange::Upsert(wasm));
        assert!(
            renamed.elapsed() < SETTLE,
            "reported after {:?}",
            renamed.elapsed()
        );
        assert!(
            watcher.changes.recv_timeout(SETTLE * 2).is_err(),
            "reported twice"
        );
    }

    #[test]
    fn a_file_written_slowly_in_place_is_reported_once_whole() {
        let dir = tempfile::tempdir().unwrap();
        let watcher = PluginWatcher::start(dir.path()).unwrap();
        let wasm = dir.path().join("rule.wasm");
        let mut file = std::fs::File::create(&wasm).unwrap();
        for _ in 0..8 {
            std::io::Write::write_all(&mut file, &[7; 1000]).unwrap();
            std::thread::sleep(SETTLE / 3);
        }
        drop(file);
        assert_eq!(recv(&watcher), PluginChange::Upsert(wasm.clone()));
        assert_eq!(std::fs::metadata(&wasm).unwrap().len(), 8000);
    }

    #[test]
    fn a_rename_waits_for_in_place_writes_to_the_same_rule() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("rule.wasm");
        let sidecar = dir.path().join("rule.toml");
        std::fs::write(&wasm, b"whole").unwrap();
        std::fs::write(&sidecar, b"x = ").unwrap();
        let mut settler = Settler::default();
        let start = Instant::now();
        // The sidecar is still being written when the `.wasm` is renamed in.
        assert_eq!(settler.on_event(&sidecar, Arrival::Touched, start), None);
        assert_eq!(settler.on_event(&wasm, Arrival::Renamed, start), None);
        assert!(settler.settled(start + SETTLE / 2).is_empty());
        assert_eq!(
            settler.settled(start + SETTLE),
            vec![PluginChange::Upsert(wasm.clone())]
        );
        // Nothing pending: the next rename is reported at once.
        assert_eq!(
            settler.on_event(&wasm, Arrival::Renamed, start + SETTLE),
            Some(PluginChange::Upsert(wasm))
        );
    }

    #[test]
    fn an_in_place_write_settles_only_after_it_stops_changing() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("rule.wasm");
        std::fs::write(&wasm, b"half").unwrap();
        let mut settler = Settler::default();
        let start = Instant::now();
        assert_eq!(settler.on_event(&wasm, Arrival::Touched, start), None);
        std::fs::write(&wasm, b"half and the rest").unwrap();
        // Changed since the event: the wait starts again.
        assert!(settler.settled(start + SETTLE).is_empty());
        assert!(settler.settled(start + SETTLE * 3 / 2).is_empty());
        assert_eq!(
            settler.settled(start + SETTLE * 2),
            vec![PluginChange::Upsert(wasm.clone())]
        );
        // A removal settles into `Remove`; a rename away is not an arrival.
        std::fs::remove_file(&wasm).unwrap();
        assert_eq!(settler.on_event(&wasm, Arrival::Renamed, start), None);
        assert_eq!(
            settler.settled(start + SETTLE),
            vec![PluginChange::Remove(wasm)]
        );
    }

    #[test]
    fn events_are_sorted_into_renames_and_touches() {
        use notify::event::{AccessKind, CreateKind};
        let path = PathBuf::from("/p/rule.wasm");
        let event = |kind| notify::Event::new(kind).add_path(path.clone());
        assert_eq!(
            arrivals(event(EventKind::Modify(ModifyKind::Name(RenameMode::To)))),
            vec![(path.clone(), Arrival::Renamed)]
        );
        assert_eq!(
            arrivals(event(EventKind::Modify(ModifyKind::Name(RenameMode::From)))),
            vec![(path.clone(), Arrival::Touched)]
        );
        assert_eq!(
            arrivals(event(EventKind::Create(CreateKind::File))),
            vec![(path.clone(), Arrival::Touched)]
        );
        assert!(arrivals(event(EventKind::Access(AccessKind::Any))).is_empty());
        assert!(arrivals(event(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))).is_empty());
    }
}
