//! `pvuv`: page views and unique visitors per minute and for today so far,
//! from nginx/Apache access logs.

use weir_sdk::prelude::*;

/// Counts every valid request line (`pv`) and distinct client IPs (`uv`).
pub struct PvUv;

impl Rule for PvUv {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("pvuv", env!("CARGO_PKG_VERSION"))
            .metric(Metric::count("pv").tumbling(60).cumulative(DAY_SECS, 60))
            .metric(Metric::distinct("uv").tumbling(60).cumulative(DAY_SECS, 60))
    }

    fn new(_config: NoConfig) -> Result<Self> {
        Ok(PvUv)
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let line = AccessLog::parse(record.text()?)?;
        out.count("pv", "total", line.time_ms);
        out.distinct("uv", "total", line.client, line.time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!(PvUv);

#[cfg(test)]
mod tests {
    use weir_sdk::Measure;
    use weir_sdk::testing::TestRule;

    use super::PvUv;

    #[test]
    fn counts_valid_lines_and_rejects_the_rest() {
        let mut rule = TestRule::<PvUv>::new("{}").unwrap();
        let out = rule.process_lines(&[
            r#"1.2.3.4 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 5 "-" "ua""#,
            "not a log line",
            r#"1.2.3.4 - - [21/Nov/2026:10:00:30 +0800] "GET /b HTTP/1.1" 404 -"#,
        ]);
        assert_eq!(out.of("pv").len(), 2);
        assert_eq!(out.of("uv")[0].measure, Measure::Member("1.2.3.4".into()));
        assert_eq!(out.rejects.len(), 1);
        assert_eq!(out.rejects[0].record, 1);
        assert_eq!(out.of("pv")[1].event_time_ms, Some(1_795_226_430_000));
    }

    #[test]
    fn invalid_utf8_is_rejected_with_its_position() {
        let mut rule = TestRule::<PvUv>::new("{}").unwrap();
        let out = rule.process_payloads(&[b"1.2.3.4 \xff\xfe"]);
        assert!(out.emitted.is_empty());
        assert_eq!(out.rejects[0].reason, "invalid UTF-8 at byte 8");
    }
}
