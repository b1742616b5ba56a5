//! `hive-audit`: Hive metastore audit events per client IP and per table.
//!
//! Lines are filtered and parsed with the expressions the Flink jobs this
//! replaces use, so results match them: lines without `HiveMetaStore.audit`,
//! and audit lines the parse expression does not match (no `tbl=`), are
//! skipped, not rejected.

use regex::Regex;
use serde::Deserialize;
use weir_sdk::parse::time::parse_datetime_with_offset;
use weir_sdk::prelude::*;

const AUDIT_MARKER: &str = "HiveMetaStore.audit";
const AUDIT_LINE: &str = r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}).*ip=/(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}).*tbl=([a-zA-Z0-9_]+)";

/// Configuration: audit timestamps carry no zone.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Offset of the log's local time east of UTC, in seconds (28800 for UTC+8).
    #[serde(default)]
    pub utc_offset_secs: i64,
}

/// Counts audit events per client IP (`by_ip`) and per table (`by_table`).
pub struct HiveAudit {
    line: Regex,
    utc_offset_secs: i64,
}

impl Rule for HiveAudit {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("hive-audit", env!("CARGO_PKG_VERSION"))
            .metric(Metric::count("by_ip").tumbling(60))
            .metric(Metric::count("by_table").tumbling(60))
    }

    fn new(config: Config) -> Result<Self> {
        Ok(HiveAudit {
            line: Regex::new(AUDIT_LINE)?,
            utc_offset_secs: config.utc_offset_secs,
        })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let text = record.text()?;
        if !text.contains(AUDIT_MARKER) {
            return Ok(());
        }
        let Some(caps) = self.line.captures(text) else {
            return Ok(());
        };
        let (_, [time, ip, table]) = caps.extract();
        let time_ms = parse_datetime_with_offset(time, self.utc_offset_secs)?;
        out.count("by_ip", ip, time_ms);
        out.count("by_table", table, time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!(HiveAudit);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::HiveAudit;

    const AUDIT: &str = "2026-11-21 10:15:03,412 INFO  [pool-5-thread-7]: HiveMetaStore.audit (HiveMetaStore.java:logAuditEvent(309)) - ugi=etl ip=/10.10.10.230 cmd=get_table : db=sales tbl=orders";

    #[test]
    fn counts_audit_lines_by_ip_and_table() {
        let mut rule = TestRule::<HiveAudit>::new("{}").unwrap();
        let out = rule.process_lines(&[AUDIT, "2026-11-21 10:15:04,000 INFO other line"]);
        assert_eq!(out.of("by_ip")[0].key, "10.10.10.230");
        assert_eq!(out.of("by_table")[0].key, "orders");
        assert_eq!(out.of("by_ip")[0].event_time_ms, Some(1_795_256_103_412));
        assert_eq!(out.emitted.len(), 2);
        assert!(out.rejects.is_empty());
    }

    #[test]
    fn audit_line_without_table_is_skipped_and_bad_date_rejected() {
        let mut rule = TestRule::<HiveAudit>::new(r#"{"utc_offset_secs": 28800}"#).unwrap();
        let out = rule.process_lines(&[
            "2026-11-21 10:15:03,412 INFO HiveMetaStore.audit - ugi=etl ip=/10.1.1.1 cmd=get_all_databases",
            &AUDIT.replace("2026-11-21", "2026-02-30"),
            AUDIT,
        ]);
        assert_eq!(out.rejects.len(), 1);
        assert_eq!(out.rejects[0].record, 1);
        assert_eq!(
            out.of("by_ip")[0].event_time_ms,
            Some(1_795_256_103_412 - 28_800_000)
        );
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        assert!(TestRule::<HiveAudit>::new(r#"{"utc_ofset": 1}"#).is_err());
    }
}
