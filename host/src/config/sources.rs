//! `[source]` or `[sources.<name>]`: the one source of a pipeline, or
//! several named ones read side by side.
//!
//! `[source]` is a single source named [`DEFAULT_SOURCE`] whose lanes keep
//! the names they always had (`0`, `topic/partition`), so checkpoints
//! written before named sources existed still resume. Each
//! `[sources.<name>]` table takes the keys of `[source]`; its lanes are
//! prefixed with the name (`<name>`, `<name>/topic/partition`).

use std::collections::BTreeMap;

use super::reader::TableReader;
use super::source::{KindName, SourceRead, read_source};
use super::{SourceConfig, SourceKind, is_name};

/// The name `[source]` goes by in `[rules.R] sources` and `weir status`.
pub const DEFAULT_SOURCE: &str = "default";

/// Where a pipeline's records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcesConfig {
    /// `[source]`: one source, named [`DEFAULT_SOURCE`], lanes unprefixed.
    Single(SourceConfig),
    /// `[sources.<name>]`: one or more sources by name, lanes prefixed.
    Named(BTreeMap<String, SourceConfig>),
}

impl SourcesConfig {
    /// Every source with its name, in name order (`default` for `[source]`).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SourceConfig)> {
        let (single, named) = match self {
            Self::Single(config) => (Some((DEFAULT_SOURCE, config)), None),
            Self::Named(sources) => (None, Some(sources)),
        };
        single.into_iter().chain(
            named
                .into_iter()
                .flatten()
                .map(|(name, config)| (name.as_str(), config)),
        )
    }

    /// The `[source]` section, if that is how the config names its source.
    pub fn single(&self) -> Option<&SourceConfig> {
        match self {
            Self::Single(config) => Some(config),
            Self::Named(_) => None,
        }
    }

    /// Owned form of [`SourcesConfig::single`].
    pub fn into_single(self) -> Option<SourceConfig> {
        match self {
            Self::Single(config) => Some(config),
            Self::Named(_) => None,
        }
    }

    /// Whether the sources are `[sources.<name>]` tables (lanes prefixed).
    pub fn is_named(&self) -> bool {
        matches!(self, Self::Named(_))
    }

    /// Whether any source is Kafka.
    pub fn has_kafka(&self) -> bool {
        self.iter()
            .any(|(_, config)| matches!(config.kind, SourceKind::Kafka(_)))
    }
}

/// What reading the sources found, for the `[rules]` checks: by name, each
/// source's kind and topics as far as they are valid.
pub(super) struct SourcesRead {
    /// `true` for `[sources.<name>]`, `false` for `[source]`.
    pub(super) named: bool,
    /// Each source by name (`default` for `[source]`).
    pub(super) by_name: BTreeMap<String, SourceRead>,
    /// Whether every source is valid (else `config` is `None`).
    valid: bool,
}

impl SourcesRead {
    /// The `[source]` section as read, if the config has it.
    pub(super) fn single(&self) -> Option<&SourceRead> {
        if self.named {
            None
        } else {
            self.by_name.get(DEFAULT_SOURCE)
        }
    }

    /// The validated sources, if every one is valid.
    pub(super) fn config(self) -> Option<SourcesConfig> {
        if !self.valid {
            return None;
        }
        let mut by_name = BTreeMap::new();
        for (name, read) in self.by_name {
            by_name.insert(name, read.config?);
        }
        if self.named {
            Some(SourcesConfig::Named(by_name))
        } else {
            by_name.into_values().next().map(SourcesConfig::Single)
        }
    }
}

/// Whether `name` may name a source: 1 to 64 characters of a-z, 0-9, `_`
/// and `-`, starting with a letter (a lane named after it must not look
/// like the unnamed source's lane `0`, and `/` separates a lane's parts).
pub(super) fn is_source_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && is_name(name, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
        })
}

/// Reads `[source]` or `[sources]` from the root; `None` when neither
/// (or both) is there, which is reported.
pub(super) fn read_sources(root: &mut TableReader<'_>) -> Option<SourcesRead> {
    let has_single = root.raw("source").is_some();
    let has_named = root.raw("sources").is_some();
    if has_single && has_named {
        root.problem(
            "sources",
            "not allowed together with [source]: name every source ([sources.<name>]) or keep the one [source]",
        );
    }
    if !has_named {
        let single = root.required_table("source").map(read_source)?;
        let valid = single.config.is_some();
        return Some(SourcesRead {
            named: false,
            by_name: BTreeMap::from([(DEFAULT_SOURCE.to_owned(), single)]),
            valid,
        });
    }
    let mut table = root.table("sources")?;
    let names = table.keys();
    if names.is_empty() {
        root.problem(
            "sources",
            "must name at least one source ([sources.<name>])",
        );
        return None;
    }
    let mut valid = !has_single;
    let mut by_name = BTreeMap::new();
    let mut stdin: Option<&str> = None;
    for name in names {
        let name_ok = is_source_name(name);
        if !name_ok {
            table.problem(
                name,
                "invalid source name (expected 1 to 64 characters of a-z, 0-9, _ and -, starting with a letter)",
            );
            valid = false;
        }
        let Some(source) = table.table(name) else {
            valid = false;
            continue;
        };
        let path = source.path_of("kind");
        let read = read_source(source);
        if name_ok && read.kind == Some(KindName::Stdin) {
            match stdin {
                Some(first) => {
                    table.problems().push(
                        path,
                        format!("only one source can read stdin (sources.{first} already does)"),
                    );
                    valid = false;
                }
                None => stdin = Some(name),
            }
        }
        valid &= read.config.is_some();
        if name_ok {
            by_name.insert(name.to_owned(), read);
        }
    }
    Some(SourcesRead {
        named: true,
        by_name,
        valid,
    })
}
