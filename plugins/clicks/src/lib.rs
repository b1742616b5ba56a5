//! `clicks`: page views and unique accounts from JSON click events, per
//! minute and "today so far" — the click-event job of the pipelines weir
//! replaces (an app's tracking events shipped as JSON lines).
//!
//! Input, one JSON object per line (other fields are ignored):
//!
//! ```text
//! {"account_id":"id1","client_ip":"72.11.1.111","client_info":"mi10","p_dt":"2026-12-01","c_time":"2026-12-01 19:11:00"}
//! ```
//!
//! `c_time` is local time, `YYYY-MM-DD HH:MM:SS`, `utc_offset_secs` east of
//! UTC (config; default 28800, UTC+8). Output: `pv` (count) and `uv`
//! (distinct `account_id`), group `total`, tumbling 60 s and cumulative day
//! (step 60 s). A line that is not such an object, or whose `account_id` or
//! `c_time` is missing, of the wrong type or not a real time, is rejected
//! with the reason.

use std::borrow::Cow;

use serde::Deserialize;
use weir_sdk::prelude::*;

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Offset of `c_time`'s local time east of UTC, in seconds.
    #[serde(default = "default_utc_offset")]
    pub utc_offset_secs: i64,
}

fn default_utc_offset() -> i64 {
    28_800
}

impl Default for Config {
    fn default() -> Self {
        Self {
            utc_offset_secs: default_utc_offset(),
        }
    }
}

/// One click event: only what the rule reads.
#[derive(Deserialize)]
struct Click<'a> {
    #[serde(borrow)]
    account_id: Cow<'a, str>,
    #[serde(borrow)]
    c_time: Cow<'a, str>,
}

/// Counts clicks (`pv`) and distinct accounts (`uv`).
pub struct Clicks {
    utc_offset_secs: i64,
}

impl Rule for Clicks {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("clicks", env!("CARGO_PKG_VERSION"))
            .metric(Metric::count("pv").tumbling(60).cumulative(DAY_SECS, 60))
            .metric(Metric::distinct("uv").tumbling(60).cumulative(DAY_SECS, 60))
    }

    fn new(config: Config) -> Result<Self> {
        Ok(Clicks {
            utc_offset_secs: config.utc_offset_secs,
        })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        // serde reads a struct from a JSON array too (by position); an
        // event is an object.
        if !record.text()?.trim_start().starts_with('{') {
            return Err(Error::msg("not a JSON object"));
        }
        let click: Click<'_> = record.json()?;
        let time_ms = parse_datetime_with_offset(&click.c_time, self.utc_offset_secs)?;
        out.count("pv", "total", time_ms);
        out.distinct("uv", "total", &click.account_id, time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!(Clicks);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::Clicks;

    const CLICK: &str = r#"{"account_id":"id1","client_ip":"72.11.1.111","client_info":"mi10","p_dt":"2026-12-01","c_time":"2026-12-01 19:11:00"}"#;

    #[test]
    fn counts_a_click_at_its_local_time() {
        let mut rule = TestRule::<Clicks>::new("{}").unwrap();
        let out = rule.process_lines(&[CLICK]);
        // 19:11 in UTC+8 is 11:11 UTC.
        assert_eq!(out.of("pv")[0].event_time_ms, Some(1_796_123_460_000));
        assert_eq!(out.of("pv")[0].key, "total");
        assert_eq!(out.emitted.len(), 2);
    }

    #[test]
    fn escaped_strings_and_other_offsets_work() {
        let mut rule = TestRule::<Clicks>::new(r#"{"utc_offset_secs": 0}"#).unwrap();
        let out =
            rule.process_lines(&[r#"{"c_time":"2026-12-01 19:11:00","account_id":"id\u0031"}"#]);
        assert_eq!(out.emitted.len(), 2);
        assert_eq!(out.of("pv")[0].event_time_ms, Some(1_796_152_260_000));
    }

    #[test]
    fn malformed_lines_are_rejected_with_a_reason() {
        let mut rule = TestRule::<Clicks>::new("{}").unwrap();
        let out = rule.process_lines(&[
            "not json",
            r#"{"account_id":7,"c_time":"2026-12-01 19:11:00"}"#,
            r#"{"account_id":"id1"}"#,
            r#"{"account_id":"id1","c_time":"2026-02-30 10:00:00"}"#,
            r#"["id1","2026-12-01 19:11:00"]"#,
        ]);
        assert!(out.emitted.is_empty());
        assert_eq!(out.rejects.len(), 5, "{:?}", out.rejects);
    }
}
