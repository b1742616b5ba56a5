//! `errors`: ERROR lines per service per minute, with an alert when a
//! minute's count is above a threshold — the error-spike job of the
//! pipelines weir replaces, without an external poller.
//!
//! Input, one log line per record:
//!
//! ```text
//! 2026-11-21 10:15:03,123 ERROR [payment] message
//! ```
//!
//! Levels DEBUG, INFO, WARN and ERROR; the service in brackets; local time
//! (`utc_offset_secs`, default 28800). Output: `errors` (count of ERROR
//! lines per service, tumbling 60 s); an alert (stream `weir:errors:alerts`)
//! when a minute's count is above `threshold` (config, default 100), at
//! most one per service per `throttle_secs` (config, default 600) of window
//! start. Lines of other levels are skipped; malformed lines are rejected.

use serde::Deserialize;
use weir_sdk::prelude::*;

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Offset of the local time east of UTC, in seconds.
    #[serde(default = "default_utc_offset")]
    pub utc_offset_secs: i64,
    /// Alert when a minute has more ERROR lines than this.
    #[serde(default = "default_threshold")]
    pub threshold: u64,
    /// At most one alert per service per this many seconds of event time.
    #[serde(default = "default_throttle")]
    pub throttle_secs: u64,
}

fn default_utc_offset() -> i64 {
    28_800
}

fn default_threshold() -> u64 {
    100
}

fn default_throttle() -> u64 {
    600
}

/// Counts ERROR lines per service.
pub struct Errors {
    config: Config,
}

impl Rule for Errors {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("errors", env!("CARGO_PKG_VERSION")).metric(
            Metric::count("errors")
                .tumbling(60)
                .alert_above(default_threshold(), default_throttle()),
        )
    }

    fn describe(&self) -> Manifest {
        Manifest::new("errors", env!("CARGO_PKG_VERSION")).metric(
            Metric::count("errors")
                .tumbling(60)
                .alert_above(self.config.threshold, self.config.throttle_secs),
        )
    }

    fn new(config: Config) -> Result<Self> {
        Ok(Errors { config })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let line = record.text()?;
        let stamp = line
            .get(..23)
            .ok_or_else(|| Error::msg("no YYYY-MM-DD HH:MM:SS,mmm time"))?;
        let time_ms = parse_datetime_with_offset(stamp, self.config.utc_offset_secs)?;
        let mut rest = line[23..].split(' ').filter(|part| !part.is_empty());
        let level = rest.next().ok_or_else(|| Error::msg("no level"))?;
        if !matches!(level, "DEBUG" | "INFO" | "WARN" | "ERROR") {
            return Err(Error::msg(format!("unknown level {level:?}")));
        }
        let service = rest
            .next()
            .and_then(|s| s.strip_prefix('[')?.strip_suffix(']'))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::msg("no [service]"))?;
        if level == "ERROR" {
            out.count("errors", service, time_ms);
        }
        Ok(())
    }
}

weir_sdk::export_rule!(Errors);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::*;

    #[test]
    fn counts_errors_per_service() {
        let mut rule = TestRule::<Errors>::new(r#"{"threshold": 5}"#).unwrap();
        let out = rule.process_lines(&[
            "2026-11-21 10:15:03,123 ERROR [payment] timeout",
            "2026-11-21 10:15:03,124 INFO [payment] ok",
            "2026-11-21 10:15:03,125 FATAL [payment] ok",
            "2026-11-21 10:15:03,126 ERROR payment oops",
        ]);
        assert_eq!(out.of("errors").len(), 1);
        assert_eq!(out.of("errors")[0].key, "payment");
        assert_eq!(out.rejects.len(), 2);
        let alert = rule.manifest().metrics[0].alert.clone().unwrap();
        assert_eq!(alert.threshold, "5");
    }
}
