//! The `[plugins]` section: where the rule components are.

use std::path::PathBuf;

use super::reader::TableReader;

/// The `[plugins]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginsConfig {
    /// Directory whose `*.wasm` components are the rules (`dir`); a relative
    /// path is kept as written (resolved against the current directory by
    /// the caller).
    pub dir: PathBuf,
}

/// Reads `[plugins]`.
pub(super) fn read_plugins(mut t: TableReader<'_>) -> Option<PluginsConfig> {
    let dir: Option<PathBuf> = t.required("dir");
    let dir = dir.filter(|dir| {
        let ok = !dir.as_os_str().is_empty();
        if !ok {
            t.problem("dir", "must not be empty");
        }
        ok
    });
    Some(PluginsConfig { dir: dir? })
}
