//! Test guest `aggregates`: every aggregation on every window shape, for
//! the host's end-to-end aggregation tests (`host/tests/all/aggregates.rs`),
//! which compute the expected values independently.
//!
//! Lines look like `2026-11-21 10:15:03 key=web1 value=37.5 user=u17`
//! (UTC); the group key of every metric is `key`. A line without a
//! timestamp, a key, a user or a finite value is rejected.

use weir_sdk::prelude::*;

/// Sums, extremes, distinct users and line counts per key.
pub struct Aggregates;

/// The fields of one line.
struct Line<'a> {
    time_ms: i64,
    key: &'a str,
    value: f64,
    user: &'a str,
}

impl<'a> Line<'a> {
    fn parse(text: &'a str) -> Result<Self> {
        let time_ms = parse_datetime(text)?;
        let (mut key, mut value, mut user) = (None, None, None);
        for field in text.get(19..).unwrap_or_default().split_whitespace() {
            match field.split_once('=') {
                Some(("key", v)) => key = Some(v),
                Some(("value", v)) => value = Some(v),
                Some(("user", v)) => user = Some(v),
                _ => {}
            }
        }
        let value: f64 = value.ok_or_else(|| Error::msg("no value="))?.parse()?;
        if !value.is_finite() {
            return Err(Error::msg("value is not a finite number"));
        }
        Ok(Line {
            time_ms,
            key: key.ok_or_else(|| Error::msg("no key="))?,
            value,
            user: user.ok_or_else(|| Error::msg("no user="))?,
        })
    }
}

impl Rule for Aggregates {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("aggregates", env!("CARGO_PKG_VERSION"))
            .metric(
                Metric::sum("sum")
                    .tumbling(60)
                    .hopping(120, 60)
                    .cumulative(3600, 600),
            )
            .metric(Metric::min("min").tumbling(60).hopping(120, 60))
            .metric(Metric::max("max").hopping(120, 60).cumulative(3600, 600))
            .metric(Metric::distinct("users").tumbling(60).hopping(120, 60))
            .metric(
                Metric::approx_distinct("users_approx")
                    .hopping(120, 60)
                    .cumulative(3600, 600),
            )
            .metric(Metric::count("lines").tumbling(60).cumulative(3600, 600))
    }

    fn new(_config: NoConfig) -> Result<Self> {
        Ok(Aggregates)
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let line = Line::parse(record.text()?)?;
        let (key, t) = (line.key, line.time_ms);
        for metric in ["sum", "min", "max"] {
            out.number(metric, key, line.value, t);
        }
        out.distinct("users", key, line.user, t);
        out.distinct("users_approx", key, line.user, t);
        out.count("lines", key, t);
        Ok(())
    }
}

weir_sdk::export_rule!(Aggregates);

#[cfg(test)]
mod tests {
    use weir_sdk::Measure;
    use weir_sdk::testing::TestRule;

    use super::Aggregates;

    #[test]
    fn emits_every_metric_and_rejects_bad_values() {
        let mut rule = TestRule::<Aggregates>::new("{}").unwrap();
        let out = rule.process_lines(&[
            "2026-11-21 10:15:03 key=web1 value=37.5 user=u17",
            "2026-11-21 10:15:04 key=web1 value=oops user=u17",
            "2026-11-21 10:15:05 key=web1 value=inf user=u17",
            "2026-11-21 10:15:06 value=1 user=u17",
        ]);
        assert_eq!(out.emitted.len(), 6);
        assert_eq!(out.of("max")[0].measure, Measure::Number(37.5));
        assert_eq!(
            out.of("users_approx")[0].measure,
            Measure::Member("u17".into())
        );
        assert_eq!(out.of("lines")[0].event_time_ms, Some(1_795_256_103_000));
        assert_eq!(out.rejects.len(), 3);
    }
}
