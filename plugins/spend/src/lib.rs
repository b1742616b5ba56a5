//! `spend`: money spent per game (`appkey`) per minute and "today so far",
//! and paying players today — the game-spend job of the pipelines weir
//! replaces, with exact sums (no `594051.7800000004`).
//!
//! Input, one JSON object per line (other fields are ignored):
//!
//! ```text
//! {"appkey":"appkey1","servertime":"2026-11-21 14:10:36","consumenum":33.8,"roleid":"roleid1","serverid":"1"}
//! ```
//!
//! `consumenum` is a JSON number or a string holding one, up to 2 digits
//! after the point (taken from its text, never through a float);
//! `servertime` is local time, `YYYY-MM-DD HH:MM:SS`, `utc_offset_secs`
//! east of UTC (config; default 28800, UTC+8), and days are local days.
//! Output: `spend` (decimal-sum, scale 2) per appkey, tumbling 60 s and
//! cumulative day (step 60 s); `payers` (distinct `roleid`) per appkey,
//! cumulative day. A line that is not such an object, or with a missing or
//! malformed field, or an amount with more than 2 decimals, is rejected
//! with the reason.

use std::borrow::Cow;

use serde::Deserialize;
use weir_sdk::prelude::*;

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Offset of `servertime`'s local time east of UTC, in seconds.
    #[serde(default = "default_utc_offset")]
    pub utc_offset_secs: i64,
}

fn default_utc_offset() -> i64 {
    28_800
}

/// One spend event: only what the rule reads.
#[derive(Deserialize)]
struct Spend<'a> {
    #[serde(borrow)]
    appkey: Cow<'a, str>,
    #[serde(borrow)]
    servertime: Cow<'a, str>,
    consumenum: Decimal,
    #[serde(borrow)]
    roleid: Cow<'a, str>,
}

/// Sums spend and counts payers per appkey.
pub struct SpendRule {
    utc_offset_secs: i64,
}

impl Rule for SpendRule {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("spend", env!("CARGO_PKG_VERSION"))
            .metric(
                Metric::decimal_sum("spend", 2)
                    .tumbling(60)
                    .cumulative(DAY_SECS, 60),
            )
            .metric(Metric::distinct("payers").cumulative(DAY_SECS, 60))
    }

    fn describe(&self) -> Manifest {
        // Local midnight is UTC midnight minus the zone's offset.
        Self::manifest().day_offset_secs(-self.utc_offset_secs)
    }

    fn new(config: Config) -> Result<Self> {
        Ok(SpendRule {
            utc_offset_secs: config.utc_offset_secs,
        })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        if !record.text()?.trim_start().starts_with('{') {
            return Err(Error::msg("not a JSON object"));
        }
        let spend: Spend<'_> = record.json()?;
        let time_ms = parse_datetime_with_offset(&spend.servertime, self.utc_offset_secs)?;
        // Checked here so that a bad amount rejects the record with a reason.
        spend.consumenum.to_scaled(2)?;
        out.decimal("spend", &spend.appkey, spend.consumenum.as_str(), time_ms);
        out.distinct("payers", &spend.appkey, &spend.roleid, time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!(SpendRule);

#[cfg(test)]
mod tests {
    use weir_sdk::Measure;
    use weir_sdk::testing::TestRule;

    use super::*;

    #[test]
    fn sums_exact_amounts_per_appkey() {
        let mut rule = TestRule::<SpendRule>::new("{}").unwrap();
        let out = rule.process_lines(&[
            r#"{"appkey":"a1","servertime":"2026-11-21 14:10:36","consumenum":33.8,"roleid":"r1","serverid":"1"}"#,
            r#"{"appkey":"a1","servertime":"2026-11-21 14:10:37","consumenum":"0.10","roleid":"r2"}"#,
            r#"{"appkey":"a1","servertime":"2026-11-21 14:10:38","consumenum":1.005,"roleid":"r2"}"#,
            r#"{"appkey":"a1","servertime":"2026-11-21 25:10:38","consumenum":1,"roleid":"r2"}"#,
            r#"[1,2]"#,
        ]);
        let spend = out.of("spend");
        assert_eq!(spend.len(), 2);
        assert_eq!(spend[0].key, "a1");
        assert_eq!(spend[0].measure, Measure::Decimal("33.8".into()));
        assert_eq!(spend[1].measure, Measure::Decimal("0.10".into()));
        assert_eq!(out.rejects.len(), 3, "{:?}", out.rejects);
        assert_eq!(rule.manifest().day_offset_secs, Some(-28_800));
    }
}
