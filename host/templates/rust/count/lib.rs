//! `{{name}}`: log lines per level, per minute.
//!
//! Input: application log lines that start with a time and a level,
//!
//! ```text
//! 2026-11-21 10:15:03,412 ERROR [pool-5-thread-7] OrderService - payment refused
//! ```
//!
//! (time `YYYY-MM-DD HH:MM:SS[,mmm]` in UTC). Output: `lines` (count) per
//! level, tumbling 60 s. A line without a time and a level is rejected
//! with the reason; change `process` to split or match your own format.

use weir_sdk::prelude::*;

/// Counts lines per level.
pub struct {{Type}};

impl Rule for {{Type}} {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("{{name}}", env!("CARGO_PKG_VERSION"))
            .metric(Metric::count("lines").tumbling(60))
    }

    fn new(_config: NoConfig) -> Result<Self> {
        Ok({{Type}})
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let mut fields = record.text()?.split_whitespace();
        let (Some(date), Some(time), Some(level)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(Error::msg("expected `DATE TIME LEVEL ...`"));
        };
        let time_ms = parse_datetime(&format!("{date} {time}"))?;
        out.count("lines", level, time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!({{Type}});

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::{{Type}};

    #[test]
    fn counts_a_line_under_its_level() {
        let mut rule = TestRule::<{{Type}}>::new("{}").unwrap();
        let out = rule.process_lines(&["2026-11-21 10:15:03,412 ERROR [main] Shop - refused"]);
        assert_eq!(out.of("lines")[0].key, "ERROR");
        assert_eq!(out.of("lines")[0].event_time_ms, Some(1_795_256_103_412));
    }

    #[test]
    fn rejects_a_line_without_time_and_level() {
        let mut rule = TestRule::<{{Type}}>::new("{}").unwrap();
        let out = rule.process_lines(&["", "hello", "2026-13-01 00:00:00 INFO x"]);
        assert!(out.emitted.is_empty());
        assert_eq!(out.rejects.len(), 3, "{:?}", out.rejects);
    }
}
