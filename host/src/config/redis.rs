//! The `[redis]` section: where windows are written and how long they live.

use super::at_least;
use super::reader::TableReader;

/// The `[redis]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Connection URL (`url`): `redis://`, `rediss://` or `unix://`.
    pub url: String,
    /// TTL of output hashes in seconds, 0 for no expiry (`default_ttl_secs`).
    pub default_ttl_secs: u64,
    /// How many recent windows each metric's index keeps (`index_windows`);
    /// at least 1.
    pub index_windows: usize,
}

impl RedisConfig {
    /// Default of `index_windows`: one day of minute windows.
    pub const DEFAULT_INDEX_WINDOWS: usize = 1440;
}

impl Default for RedisConfig {
    /// A local Redis, database 0, no expiry.
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379/0".to_owned(),
            default_ttl_secs: 0,
            index_windows: Self::DEFAULT_INDEX_WINDOWS,
        }
    }
}

/// Reads `[redis]`.
pub(super) fn read_redis(mut t: TableReader<'_>) -> Option<RedisConfig> {
    let url = t.required::<String>("url").filter(|url| {
        let ok = ["redis://", "rediss://", "unix://"]
            .iter()
            .any(|scheme| url.starts_with(scheme));
        if !ok {
            t.problem(
                "url",
                format!("must start with redis://, rediss:// or unix:// (found {url:?})"),
            );
        }
        ok
    });
    let default_ttl_secs = t.optional::<u64>("default_ttl_secs").unwrap_or(0);
    let index_windows = t.optional::<usize>("index_windows");
    let index_windows = at_least(&t, "index_windows", index_windows, 1)
        .unwrap_or(RedisConfig::DEFAULT_INDEX_WINDOWS);
    Some(RedisConfig {
        url: url?,
        default_ttl_secs,
        index_windows,
    })
}
