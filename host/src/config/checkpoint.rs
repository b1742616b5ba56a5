//! The `[checkpoint]` section: how often state is checkpointed, and under
//! which namespace.

use super::reader::TableReader;
use super::{at_least, is_name};

/// The `[checkpoint]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// How often to checkpoint, in milliseconds (`interval_ms`); at least
    /// [`CheckpointConfig::MIN_INTERVAL_MS`].
    pub interval_ms: u64,
    /// Names this pipeline's checkpoint keys in Redis (`namespace`);
    /// 1 to 64 characters of `A-Z a-z 0-9 _ -`.
    pub namespace: String,
}

impl CheckpointConfig {
    /// Default of `interval_ms`.
    pub const DEFAULT_INTERVAL_MS: u64 = 1000;
    /// Smallest allowed `interval_ms`.
    pub const MIN_INTERVAL_MS: u64 = 10;
    /// Default of `namespace`.
    pub const DEFAULT_NAMESPACE: &str = "default";
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            interval_ms: Self::DEFAULT_INTERVAL_MS,
            namespace: Self::DEFAULT_NAMESPACE.to_owned(),
        }
    }
}

/// Reads `[checkpoint]`.
pub(super) fn read_checkpoint(mut t: TableReader<'_>) -> CheckpointConfig {
    let interval_ms = t.optional::<u64>("interval_ms");
    let interval_ms = at_least(
        &t,
        "interval_ms",
        interval_ms,
        CheckpointConfig::MIN_INTERVAL_MS,
    )
    .unwrap_or(CheckpointConfig::DEFAULT_INTERVAL_MS);
    let namespace = t.optional::<String>("namespace").filter(|namespace| {
        let ok = is_name(namespace, |c| {
            c.is_ascii_alphanumeric() || c == '_' || c == '-'
        });
        if !ok {
            t.problem(
                "namespace",
                format!(
                    "must be 1 to 64 characters of A-Z, a-z, 0-9, _ and - (found {namespace:?})"
                ),
            );
        }
        ok
    });
    CheckpointConfig {
        interval_ms,
        namespace: namespace.unwrap_or_else(|| CheckpointConfig::DEFAULT_NAMESPACE.to_owned()),
    }
}
