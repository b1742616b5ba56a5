//! `ip-count`: requests per client IP per minute, from access logs.

use weir_sdk::prelude::*;

/// Counts requests per client IP.
pub struct IpCount;

impl Rule for IpCount {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("ip-count", env!("CARGO_PKG_VERSION"))
            .metric(Metric::count("requests").tumbling(60))
    }

    fn new(_config: NoConfig) -> Result<Self> {
        Ok(IpCount)
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let line = AccessLog::parse(record.text()?)?;
        out.count("requests", line.client, line.time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!(IpCount);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::IpCount;

    #[test]
    fn groups_by_client_ip() {
        let mut rule = TestRule::<IpCount>::new("{}").unwrap();
        let out = rule.process_lines(&[
            r#"1.2.3.4 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 5"#,
            r#"5.6.7.8 - - [21/Nov/2026:10:00:01 +0800] "GET / HTTP/1.1" 200 5"#,
        ]);
        let keys: Vec<&str> = out.emitted.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["1.2.3.4", "5.6.7.8"]);
    }
}
