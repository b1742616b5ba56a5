//! `{{name}}`: page views and unique visitors from an access log.
//!
//! Input: nginx/Apache access logs (combined or common format),
//!
//! ```text
//! 10.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 512 "-" "curl/8.0"
//! ```
//!
//! Output: `pv` (count) and `uv` (distinct client IP), group `total`, per
//! minute and "today so far" (cumulative day, step 60 s). A line in another
//! format is rejected with the reason.

use weir_sdk::prelude::*;

/// Counts requests and distinct clients.
pub struct {{Type}};

impl Rule for {{Type}} {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("{{name}}", env!("CARGO_PKG_VERSION"))
            .metric(Metric::count("pv").tumbling(60).cumulative(DAY_SECS, 60))
            .metric(Metric::distinct("uv").tumbling(60).cumulative(DAY_SECS, 60))
    }

    fn new(_config: NoConfig) -> Result<Self> {
        Ok({{Type}})
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let line = AccessLog::parse(record.text()?)?;
        out.count("pv", "total", line.time_ms);
        out.distinct("uv", "total", line.client, line.time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!({{Type}});

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::{{Type}};

    #[test]
    fn counts_a_request_and_its_client() {
        let mut rule = TestRule::<{{Type}}>::new("{}").unwrap();
        let out = rule.process_lines(&[
            r#"10.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 512 "-" "curl/8.0""#,
        ]);
        assert_eq!(out.of("pv").len(), 1);
        assert_eq!(out.of("uv")[0].key, "total");
        assert_eq!(out.of("pv")[0].event_time_ms, Some(1_795_226_400_000));
    }

    #[test]
    fn rejects_other_lines() {
        let mut rule = TestRule::<{{Type}}>::new("{}").unwrap();
        let out = rule.process_lines(&["", "GET / HTTP/1.1"]);
        assert!(out.emitted.is_empty());
        assert_eq!(out.rejects.len(), 2);
    }
}
