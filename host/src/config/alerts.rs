//! The `[alerts]` section: where alerts go besides the Redis stream.

use super::at_least;
use super::reader::TableReader;

/// The `[alerts]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    /// POST every alert as JSON to this `http://` or `https://` URL
    /// (`webhook_url`); `None`: alerts only go to `weir:<rule>:alerts`.
    pub webhook_url: Option<String>,
    /// How long one POST may take, in milliseconds (`timeout_ms`).
    pub timeout_ms: u64,
    /// Longest wait between two tries of one alert, in milliseconds
    /// (`max_backoff_ms`); waits double from 100 ms up to it.
    pub max_backoff_ms: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            timeout_ms: 5_000,
            max_backoff_ms: 30_000,
        }
    }
}

/// Reads `[alerts]`.
pub(super) fn read_alerts(mut t: TableReader<'_>) -> AlertsConfig {
    let defaults = AlertsConfig::default();
    let webhook_url = t.optional::<String>("webhook_url").filter(|url| {
        let ok = url.starts_with("http://") || url.starts_with("https://");
        if !ok {
            t.problem(
                "webhook_url",
                format!("must be an http:// or https:// URL (found {url:?})"),
            );
        }
        ok
    });
    let timeout_ms = t.optional::<u64>("timeout_ms");
    let timeout_ms = at_least(&t, "timeout_ms", timeout_ms, 1).unwrap_or(defaults.timeout_ms);
    let max_backoff_ms = t.optional::<u64>("max_backoff_ms");
    let max_backoff_ms =
        at_least(&t, "max_backoff_ms", max_backoff_ms, 100).unwrap_or(defaults.max_backoff_ms);
    AlertsConfig {
        webhook_url,
        timeout_ms,
        max_backoff_ms,
    }
}
