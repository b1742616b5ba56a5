//! Compiled rules kept by the hash of their bytes, so loading a version seen
//! before (a rollback, a restart, the same rule in `weir test`) does not run
//! Cranelift again: a few recent ones in memory, more on disk.
//!
//! The disk copy is wasmtime's own serialized form. Loading it skips
//! validation, so only files that weir wrote are read: the folder is made
//! `0700` and must be ours and writable by no one else, names carry the engine's
//! compatibility hash (another wasmtime version or engine config never
//! shares a file), and each file starts with a checksum of the rest. A file
//! that fails any check, or that wasmtime refuses, is deleted and the rule
//! compiled again.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled rules go: `WEIR_COMPILE_CACHE` (a folder, or `off`),
/// else `$XDG_CACHE_HOME/weir/compiled`, else `~/.cache/weir/compiled`.
pub const DIR_VAR: &str = "WEIR_COMPILE_CACHE";

/// Compiled components kept in memory (the running versions are held anyway;
/// these are for switching back).
const IN_MEMORY: usize = 4;

/// The disk cache is trimmed, oldest use first, to this many bytes.
const MAX_DISK_BYTES: u64 = 512 << 20;

/// Bytes of checksum in front of each artifact.
const CHECKSUM_BYTES: usize = 16;

/// A rule's bytes, by hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(u128);

impl Key {
    /// The key of a `.wasm` file's bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(xxhash_rust::xxh3::xxh3_128(bytes))
    }
}

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Kept from an earlier load in this process.
    Memory,
    /// Read from the disk cache.
    Disk,
}

/// Compiled components by the hash of their `.wasm` bytes.
pub struct CompiledCache {
    memory: Mutex<VecDeque<(Key, Component)>>,
    disk: Option<DiskCache>,
}

impl CompiledCache {
    /// A cache for `engine` in the folder [`DIR_VAR`] names (memory only
    /// when there is none or it is not private).
    pub fn new(engine: &Engine) -> Self {
        let dir = match std::env::var_os(DIR_VAR) {
            Some(value) if value == "off" => None,
            Some(value) => Some(PathBuf::from(value)),
            None => std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
                .map(|cache| cache.join("weir").join("compiled")),
        };
        Self::in_dir(engine, dir.as_deref())
    }

    /// A cache for `engine` in `dir` (`None`: memory only).
    pub fn in_dir(engine: &Engine, dir: Option<&Path>) -> Self {
        let disk = dir.and_then(|dir| match DiskCache::open(engine, dir) {
            Ok(disk) => Some(disk),
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "compiled rules are not cached on disk; every start compiles them");
                None
            }
        });
        Self {
            memory: Mutex::new(VecDeque::new()),
            disk,
        }
    }

    /// The component compiled from bytes with `key`, if kept.
    pub fn get(&self, engine: &Engine, key: Key) -> Option<(Component, Found)> {
        if let Ok(mut memory) = self.memory.lock()
            && let Some(at) = memory.iter().position(|(kept, _)| *kept == key)
            && let Some(entry) = memory.remove(at)
        {
            let component = entry.1.clone();
            memory.push_back(entry);
            return Some((component, Found::Memory));
        }
        let component = self.disk.as_ref()?.get(engine, key)?;
        self.keep(key, &component);
        Some((component, Found::Disk))
    }

    /// Keeps `component`, compiled from bytes with `key`, in memory.
    pub fn keep(&self, key: Key, component: &Component) {
        if let Ok(mut memory) = self.memory.lock() {
            memory.retain(|(kept, _)| *kept != key);
            memory.push_back((key, component.clone()));
            while memory.len() > IN_MEMORY {
                memory.pop_front();
            }
        }
    }

    /// Writes `component`, compiled from bytes with `key`, to the disk cache
    /// (a few milliseconds: done after the loader has it).
    pub fn save(&self, key: Key, component: &Component) {
        if let Some(disk) = &self.disk {
            disk.put(key, component);
        }
    }
}

/// Serialized components in a private folder.
struct DiskCache {
    dir: PathBuf,
    /// The engine's compatibility hash, in every file name.
    engine: u64,
}

impl DiskCache {
    fn open(engine: &Engine, dir: &Path) -> std::io::Result<Self> {
        create_private(dir)?;
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir: dir.to_owned(),
            engine: hasher.finish(),
        })
    }

    fn path(&self, key: Key) -> PathBuf {
        self.dir
            .join(format!("{:016x}-{:032x}.cwasm", self.engine, key.0))
    }

    fn get(&self, engine: &Engine, key: Key) -> Option<Component> {
        let path = self.path(key);
        let bytes = std::fs::read(&path).ok()?;
        let artifact = bytes
            .split_at_checked(CHECKSUM_BYTES)
            .filter(|(sum, artifact)| *sum == checksum(artifact))
            .map(|(_, artifact)| artifact);
        let Some(artifact) = artifact else {
            tracing::warn!(path = %path.display(), "a compiled rule in the cache is damaged; compiling again");
            let _ = std::fs::remove_file(&path);
            return None;
        };
        match deserialize(engine, artifact) {
            Ok(component) => {
                // Its mtime says when it was last used, for trimming.
                let _ = std::fs::File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|file| file.set_modified(std::time::SystemTime::now()));
                Some(component)
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %format!("{error:#}"), "wasmtime refused a cached compiled rule; compiling again");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Writes beside the final name and renames, so a reader (this or
    /// another weir process) sees a whole file or none.
    fn put(&self, key: Key, component: &Component) {
        let path = self.path(key);
        let written = component
            .serialize()
            .map_err(|error| std::io::Error::other(format!("{error:#}")))
            .and_then(|artifact| {
                let tmp = path.with_extension(format!("{}.part", std::process::id()));
                let mut bytes = Vec::with_capacity(CHECKSUM_BYTES + artifact.len());
                bytes.extend_from_slice(&checksum(&artifact));
                bytes.extend_from_slice(&artifact);
                std::fs::write(&tmp, &bytes)?;
                std::fs::rename(&tmp, &path).inspect_err(|_| {
                    let _ = std::fs::remove_file(&tmp);
                })
            });
        match written {
            Ok(()) => self.trim(),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot cache a compiled rule; it is compiled again on the next start")
            }
        }
    }

    /// Deletes the least recently used files past [`MAX_DISK_BYTES`].
    fn trim(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "cwasm"))
            .filter_map(|entry| {
                let meta = entry.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), entry.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= MAX_DISK_BYTES {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

fn checksum(artifact: &[u8]) -> [u8; CHECKSUM_BYTES] {
    xxhash_rust::xxh3::xxh3_128(artifact).to_le_bytes()
}

/// Turns a cached artifact back into a component.
#[expect(
    unsafe_code,
    reason = "wasmtime cannot validate compiled code; the caller reads only artifacts weir serialized into a folder private to this user, checked against their checksum"
)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `artifact` is what `Component::serialize` wrote (DiskCache::put)
    // into a folder only this user can write (create_private), and its
    // checksum matched, so it is not truncated or corrupted. wasmtime itself
    // refuses an artifact of another wasmtime version or engine config.
    unsafe { Component::deserialize(engine, artifact) }
}

/// Creates `dir` private to this user (`0700`), and refuses an existing one
/// that others can write to or that belongs to someone else.
fn create_private(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(dir)?;
        // A file we create is ours: the folder must belong to the same user.
        let probe = dir.join(format!(".owner-{}", std::process::id()));
        std::fs::write(&probe, b"")?;
        let ours = std::fs::metadata(&probe).map(|probe| probe.uid());
        let _ = std::fs::remove_file(&probe);
        let ours = ours?;
        if meta.uid() != ours || meta.mode() & 0o022 != 0 {
            return Err(std::io::Error::other(format!(
                "the folder must belong to this user and only it may write there, it has owner {} and mode {:o}",
                meta.uid(),
                meta.mode() & 0o777
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(engine: &Engine) -> Component {
        Component::new(engine, "(component (core module (func (export \"f\"))))").unwrap()
    }

    #[test]
    fn a_component_comes_back_from_memory_and_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("compiled");
        let engine = Engine::default();
        let key = Key::of(b"one");
        let cache = CompiledCache::in_dir(&engine, Some(&cache_dir));
        assert!(cache.get(&engine, key).is_none());
        let compiled = component(&engine);
        cache.keep(key, &compiled);
        cache.save(key, &compiled);
        assert_eq!(cache.get(&engine, key).unwrap().1, Found::Memory);
        // A restart: a new cache over the same folder.
        let cache = CompiledCache::in_dir(&engine, Some(&cache_dir));
        assert_eq!(cache.get(&engine, key).unwrap().1, Found::Disk);
        assert!(cache.get(&engine, Key::of(b"two")).is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&cache_dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn a_damaged_or_foreign_artifact_is_dropped_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let key = Key::of(b"one");
        CompiledCache::in_dir(&engine, Some(dir.path())).save(key, &component(&engine));
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
            .unwrap();
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        let cache = CompiledCache::in_dir(&engine, Some(dir.path()));
        assert!(cache.get(&engine, key).is_none());
        assert!(!file.exists(), "the damaged file is deleted");

        // Another engine config never reads this engine's files.
        CompiledCache::in_dir(&engine, Some(dir.path())).save(key, &component(&engine));
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = Engine::new(&config).unwrap();
        assert!(
            CompiledCache::in_dir(&other, Some(dir.path()))
                .get(&other, key)
                .is_none()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_others_can_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let engine = Engine::default();
        let key = Key::of(b"one");
        let cache = CompiledCache::in_dir(&engine, Some(dir.path()));
        cache.save(key, &component(&engine));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
