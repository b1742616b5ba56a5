//! `cpu`: average and percentiles of CPU use per host per minute — the
//! CPU-percentile job of the pipelines weir replaces, without a hand-made
//! histogram.
//!
//! Input, one line per sample:
//!
//! ```text
//! 2026-11-21 10:15:03 host=web1 cpu=37.5
//! ```
//!
//! The time is local time, `utc_offset_secs` east of UTC (config; default
//! 28800, UTC+8); `cpu` a decimal with up to 2 digits after the point.
//! Output: `cpu_avg` (avg, 2 digits) per host and `cpu` quantiles 0.5, 0.75
//! and 0.99 per host (published as `cpu_p50`, `cpu_p75`, `cpu_p99`, within
//! 1%), tumbling 60 s. A line without a valid time, `host=` or `cpu=` is
//! rejected with the reason.

use serde::Deserialize;
use weir_sdk::prelude::*;

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Offset of the local time east of UTC, in seconds.
    #[serde(default = "default_utc_offset")]
    pub utc_offset_secs: i64,
}

fn default_utc_offset() -> i64 {
    28_800
}

/// Averages and ranks CPU samples per host.
pub struct Cpu {
    utc_offset_secs: i64,
}

impl Rule for Cpu {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("cpu", env!("CARGO_PKG_VERSION"))
            .metric(Metric::avg("cpu_avg", 2).tumbling(60))
            .metric(Metric::quantiles("cpu", &[0.5, 0.75, 0.99]).tumbling(60))
    }

    fn new(config: Config) -> Result<Self> {
        Ok(Cpu {
            utc_offset_secs: config.utc_offset_secs,
        })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let line = record.text()?;
        let stamp = line
            .get(..19)
            .ok_or_else(|| Error::msg("no YYYY-MM-DD HH:MM:SS time"))?;
        let time_ms = parse_datetime_with_offset(stamp, self.utc_offset_secs)?;
        let fields = &line[19..];
        let host = kv::field(fields, "host").ok_or_else(|| Error::msg("no host="))?;
        let cpu = kv::field(fields, "cpu").ok_or_else(|| Error::msg("no cpu="))?;
        let value: Decimal = cpu.parse()?;
        value.to_scaled(2)?;
        out.decimal("cpu_avg", host, cpu, time_ms);
        out.decimal("cpu", host, cpu, time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!(Cpu);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::*;

    #[test]
    fn reads_host_and_cpu() {
        let mut rule = TestRule::<Cpu>::new("{}").unwrap();
        let out = rule.process_lines(&[
            "2026-11-21 10:15:03 host=web1 cpu=37.5",
            "2026-11-21 10:15:04 host=web1",
            "2026-11-21 10:15:04 host=web1 cpu=abc",
            "garbage",
        ]);
        assert_eq!(out.of("cpu_avg")[0].key, "web1");
        assert_eq!(out.of("cpu").len(), 1);
        assert_eq!(out.rejects.len(), 3);
    }
}
