//! `{{name}}`: spend and paying players per app, from JSON events.
//!
//! Input, one JSON object per line (other fields are ignored):
//!
//! ```text
//! {"appkey":"app1","servertime":"2026-11-21 14:10:36","consumenum":33.8,"roleid":"r1"}
//! ```
//!
//! `servertime` is local time, `utc_offset_secs` east of UTC (config;
//! default 0). Output per `appkey`: `spend_cents` (sum of `consumenum` in
//! hundredths, exact) and `payers` (distinct `roleid`), tumbling 60 s and
//! "today so far" (cumulative day, step 60 s). A line that is not such an
//! object is rejected with the reason.

use serde::Deserialize;
use weir_sdk::prelude::*;

/// Configuration (`[rules.{{name}}] config` or `weir test --rule-config`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Offset of `servertime`'s local time east of UTC, in seconds.
    #[serde(default)]
    pub utc_offset_secs: i64,
}

/// One event: only what the rule reads.
#[derive(Deserialize)]
struct Spend {
    appkey: String,
    servertime: String,
    consumenum: Decimal,
    roleid: String,
}

/// Sums spend and counts distinct players per app.
pub struct {{Type}} {
    utc_offset_secs: i64,
}

impl Rule for {{Type}} {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("{{name}}", env!("CARGO_PKG_VERSION"))
            .metric(Metric::sum("spend_cents").tumbling(60).cumulative(DAY_SECS, 60))
            .metric(Metric::distinct("payers").tumbling(60).cumulative(DAY_SECS, 60))
    }

    fn new(config: Config) -> Result<Self> {
        Ok({{Type}} {
            utc_offset_secs: config.utc_offset_secs,
        })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let spend = record.json::<Spend>()?;
        let time_ms = parse_datetime_with_offset(&spend.servertime, self.utc_offset_secs)?;
        // 33.8 and "33.80" both give 3380; exact below 2^53.
        let cents = spend.consumenum.to_scaled(2)?;
        out.number("spend_cents", &spend.appkey, cents as f64, time_ms);
        out.distinct("payers", &spend.appkey, &spend.roleid, time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!({{Type}});

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::{{Type}};

    const EVENT: &str =
        r#"{"appkey":"app1","servertime":"2026-11-21 14:10:36","consumenum":33.8,"roleid":"r1"}"#;

    #[test]
    fn sums_cents_and_counts_the_player() {
        let mut rule = TestRule::<{{Type}}>::new(r#"{"utc_offset_secs": 28800}"#).unwrap();
        let out = rule.process_lines(&[EVENT]);
        assert_eq!(out.of("spend_cents").len(), 1);
        assert_eq!(out.of("payers")[0].key, "app1");
        // 14:10:36 in UTC+8 is 06:10:36 UTC.
        assert_eq!(out.of("payers")[0].event_time_ms, Some(1_795_241_436_000));
    }

    #[test]
    fn rejects_what_is_not_an_event() {
        let mut rule = TestRule::<{{Type}}>::new("{}").unwrap();
        let out = rule.process_lines(&[
            "not json",
            r#"{"appkey":"app1","servertime":"2026-11-21 14:10:36","roleid":"r1"}"#,
            r#"{"appkey":"app1","servertime":"2026-11-21 14:10:36","consumenum":1.005,"roleid":"r1"}"#,
        ]);
        assert!(out.emitted.is_empty());
        assert_eq!(out.rejects.len(), 3, "{:?}", out.rejects);
    }
}
