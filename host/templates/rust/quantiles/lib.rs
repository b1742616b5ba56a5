//! `{{name}}`: average and percentiles of a measurement per host per
//! minute.
//!
//! Input, one line per sample:
//!
//! ```text
//! 2026-11-21 10:15:03 host=web1 cpu=37.5
//! ```
//!
//! The time is local time, `utc_offset_secs` east of UTC (config; default
//! 0); `cpu` a decimal with up to 2 digits after the point. Output:
//! `cpu_avg` (mean, 2 digits) and `cpu` quantiles 0.5, 0.9 and 0.99
//! (published as `cpu_p50`, `cpu_p90`, `cpu_p99`, within 1%) per host,
//! tumbling 60 s. Lines without a time, `host=` or `cpu=` are rejected.

use serde::Deserialize;
use weir_sdk::prelude::*;

/// Configuration (`[rules.{{name}}] config` or `weir test --rule-config`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Offset of the local time east of UTC, in seconds.
    #[serde(default)]
    pub utc_offset_secs: i64,
}

/// Averages and ranks samples per host.
pub struct {{Type}} {
    utc_offset_secs: i64,
}

impl Rule for {{Type}} {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("{{name}}", env!("CARGO_PKG_VERSION"))
            .metric(Metric::avg("cpu_avg", 2).tumbling(60))
            .metric(Metric::quantiles("cpu", &[0.5, 0.9, 0.99]).tumbling(60))
    }

    fn new(config: Config) -> Result<Self> {
        Ok({{Type}} {
            utc_offset_secs: config.utc_offset_secs,
        })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let line = record.text()?;
        let stamp = line.get(..19).ok_or_else(|| Error::msg("no time"))?;
        let time_ms = parse_datetime_with_offset(stamp, self.utc_offset_secs)?;
        let host = kv::field(&line[19..], "host").ok_or_else(|| Error::msg("no host="))?;
        let cpu = kv::field(&line[19..], "cpu").ok_or_else(|| Error::msg("no cpu="))?;
        cpu.parse::<Decimal>()?.to_scaled(2)?;
        out.decimal("cpu_avg", host, cpu, time_ms);
        out.decimal("cpu", host, cpu, time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!({{Type}});

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::{{Type}};

    #[test]
    fn reads_host_and_value() {
        let mut rule = TestRule::<{{Type}}>::new("{}").unwrap();
        let out = rule.process_lines(&[
            "2026-11-21 10:15:03 host=web1 cpu=37.5",
            "2026-11-21 10:15:04 host=web1",
        ]);
        assert_eq!(out.of("cpu")[0].key, "web1");
        assert_eq!(out.rejects.len(), 1);
    }
}
