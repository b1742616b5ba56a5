//! `{{name}}`: ERROR lines per service per minute, with an alert when a
//! minute's count is above a threshold.
//!
//! Input, one log line per record:
//!
//! ```text
//! 2026-11-21 10:15:03,123 ERROR [payment] message
//! ```
//!
//! The time is local time, `utc_offset_secs` east of UTC (config; default
//! 0). Output: `errors` (count of ERROR lines per service, tumbling 60 s),
//! and an alert in the stream `weir:{{name}}:alerts` when a minute's count
//! is above `threshold` (config, default 5), at most one per service per
//! `throttle_secs` (config, default 600) of event time. Other levels are
//! skipped; lines without a time, level or `[service]` are rejected.

use serde::Deserialize;
use weir_sdk::prelude::*;

/// Configuration (`[rules.{{name}}] config` or `weir test --rule-config`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Offset of the local time east of UTC, in seconds.
    #[serde(default)]
    pub utc_offset_secs: i64,
    /// Alert when a minute has more ERROR lines than this.
    #[serde(default = "default_threshold")]
    pub threshold: u64,
    /// At most one alert per service per this many seconds of event time.
    #[serde(default = "default_throttle")]
    pub throttle_secs: u64,
}

fn default_threshold() -> u64 {
    5
}

fn default_throttle() -> u64 {
    600
}

/// Counts ERROR lines per service and alerts on spikes.
pub struct {{Type}} {
    config: Config,
}

fn manifest_with(threshold: u64, throttle_secs: u64) -> Manifest {
    Manifest::new("{{name}}", env!("CARGO_PKG_VERSION")).metric(
        Metric::count("errors")
            .tumbling(60)
            .alert_above(threshold, throttle_secs),
    )
}

impl Rule for {{Type}} {
    type Config = Config;

    fn manifest() -> Manifest {
        manifest_with(default_threshold(), default_throttle())
    }

    /// The threshold and throttle come from the config.
    fn describe(&self) -> Manifest {
        manifest_with(self.config.threshold, self.config.throttle_secs)
    }

    fn new(config: Config) -> Result<Self> {
        Ok({{Type}} { config })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let line = record.text()?;
        let stamp = line
            .get(..23)
            .ok_or_else(|| Error::msg("no YYYY-MM-DD HH:MM:SS,mmm time"))?;
        let time_ms = parse_datetime_with_offset(stamp, self.config.utc_offset_secs)?;
        let mut rest = line[23..].split_whitespace();
        let level = rest.next().ok_or_else(|| Error::msg("no level"))?;
        let service = rest
            .next()
            .and_then(|s| s.strip_prefix('[')?.strip_suffix(']'))
            .ok_or_else(|| Error::msg("no [service]"))?;
        if level == "ERROR" {
            out.count("errors", service, time_ms);
        }
        Ok(())
    }
}

weir_sdk::export_rule!({{Type}});

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::{{Type}};

    #[test]
    fn counts_errors_per_service() {
        let mut rule = TestRule::<{{Type}}>::new(r#"{"threshold": 2}"#).unwrap();
        let out = rule.process_lines(&[
            "2026-11-21 10:15:03,123 ERROR [payment] timeout",
            "2026-11-21 10:15:04,000 INFO [payment] ok",
            "garbage",
        ]);
        assert_eq!(out.of("errors")[0].key, "payment");
        assert_eq!(out.rejects.len(), 1);
        let alert = rule.manifest().metrics[0].alert.clone().unwrap();
        assert_eq!(alert.threshold, "2");
    }
}
