//! `risk`: an alert when one client IP makes more than `max_per_minute`
//! requests in a minute — the anti-abuse job of the pipelines weir
//! replaces.
//!
//! Input: access log lines (Combined Log Format, as `pvuv`). Output:
//! `requests` (count per client IP, tumbling 60 s) and an alert (stream
//! `weir:risk:alerts`) when a minute's count for an IP is above
//! `max_per_minute` (config, default 600), at most one per IP per
//! `throttle_secs` (config, default 600) of event time. Malformed lines are
//! rejected with the reason.

use serde::Deserialize;
use weir_sdk::prelude::*;

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Alert when an IP makes more requests than this in a minute.
    #[serde(default = "default_max")]
    pub max_per_minute: u64,
    /// At most one alert per IP per this many seconds of event time.
    #[serde(default = "default_throttle")]
    pub throttle_secs: u64,
}

fn default_max() -> u64 {
    600
}

fn default_throttle() -> u64 {
    600
}

/// Counts requests per client IP and alerts on floods.
pub struct Risk {
    config: Config,
}

fn manifest_with(max: u64, throttle_secs: u64) -> Manifest {
    Manifest::new("risk", env!("CARGO_PKG_VERSION")).metric(
        Metric::count("requests")
            .tumbling(60)
            .alert_above(max, throttle_secs),
    )
}

impl Rule for Risk {
    type Config = Config;

    fn manifest() -> Manifest {
        manifest_with(default_max(), default_throttle())
    }

    fn describe(&self) -> Manifest {
        manifest_with(self.config.max_per_minute, self.config.throttle_secs)
    }

    fn new(config: Config) -> Result<Self> {
        Ok(Risk { config })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let line = AccessLog::parse(record.text()?)?;
        out.count("requests", line.client, line.time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!(Risk);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::*;

    #[test]
    fn counts_per_ip() {
        let mut rule = TestRule::<Risk>::new(r#"{"max_per_minute": 3}"#).unwrap();
        let out = rule.process_lines(&[
            r#"1.2.3.4 - - [21/Nov/2026:10:15:03 +0800] "GET / HTTP/1.1" 200 12 "-" "curl/8""#,
            "nope",
        ]);
        assert_eq!(out.of("requests")[0].key, "1.2.3.4");
        assert_eq!(out.rejects.len(), 1);
        assert_eq!(
            rule.manifest().metrics[0].alert.clone().unwrap().threshold,
            "3"
        );
    }
}
