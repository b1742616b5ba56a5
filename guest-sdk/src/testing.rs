//! Running a rule natively, for unit tests with plain `cargo test`.
//!
//! ```
//! # use weir_sdk::prelude::*;
//! # struct Lines;
//! # impl Rule for Lines {
//! #     type Config = NoConfig;
//! #     fn manifest() -> Manifest { Manifest::new("lines", "1").metric(Metric::count("n").tumbling(60)) }
//! #     fn new(_: NoConfig) -> Result<Self> { Ok(Lines) }
//! #     fn process(&mut self, r: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
//! #         out.count("n", r.text()?, 0); Ok(())
//! #     }
//! # }
//! use weir_sdk::testing::TestRule;
//!
//! let mut rule = TestRule::<Lines>::new("{}").unwrap();
//! let out = rule.process_lines(&["a", "b"]);
//! assert_eq!(out.emitted.len(), 2);
//! ```
//!
//! A test fails where the host would refuse the rule or drop its output:
//!
//! * [`TestRule::new`] returns an error for a manifest the host would not
//!   load (every problem listed, in the words of `weir check`), as it does
//!   for a config the rule refuses;
//! * processing **panics** when the rule emits an update the host would not
//!   apply: a metric the manifest does not declare (the host rejects the
//!   record), or a value of the wrong kind for the metric's aggregation
//!   (`out.count` for count, a finite `out.number` for sum, min and max,
//!   `out.distinct` for distinct and approx-distinct; the host drops the
//!   update). The message names the rule, the record and the metric. These
//!   are bugs in the rule, not in its input, so they fail the test rather
//!   than appear as rejects to assert on.
//!
//! ```should_panic
//! # use weir_sdk::prelude::*;
//! # struct Shop;
//! # impl Rule for Shop {
//! #     type Config = NoConfig;
//! #     fn new(_: NoConfig) -> Result<Self> { Ok(Shop) }
//! fn manifest() -> Manifest {
//!     Manifest::new("shop", "1").metric(Metric::sum("spend").tumbling(60))
//! }
//!
//! fn process(&mut self, r: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
//!     out.number("spnd", "total", r.text()?.parse()?, 0); // typo: panics in tests
//!     Ok(())
//! }
//! # }
//! # use weir_sdk::testing::TestRule;
//! TestRule::<Shop>::new("{}").unwrap().process_lines(&["12.5"]);
//! ```

use std::fmt::Write as _;

use crate::batch::{BatchView, RecordMeta, Span};
use crate::check::Misuse;
use crate::emit::{Emitter, Measure, Output, Reject, metric_names};
use crate::error::Result;
use crate::manifest::Manifest;
use crate::rule::{Rule, parse_config, run_records};

/// Misuses listed in a panic message; the rest are counted.
const MISUSES_SHOWN: usize = 10;
/// Characters of a record's payload shown in a panic message.
const PAYLOAD_CHARS_SHOWN: usize = 120;

/// A rule loaded natively, configured like the host would.
pub struct TestRule<R: Rule> {
    rule: R,
    manifest: Manifest,
    metric_names: Vec<String>,
}

/// One update with its metric named, for readable assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// Index of the record within the batch.
    pub record: u32,
    /// Metric name.
    pub metric: String,
    /// Group key.
    pub key: String,
    /// Value contributed (text as [`crate::Text::Owned`], resolved from
    /// the batch).
    pub measure: Measure,
    /// Event time, Unix milliseconds.
    pub event_time_ms: Option<i64>,
}

/// What a batch produced, with metric names resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestOutput {
    /// Updates in record order.
    pub emitted: Vec<Emitted>,
    /// Refused records.
    pub rejects: Vec<Reject>,
}

impl TestOutput {
    /// The updates of one metric.
    pub fn of(&self, metric: &str) -> Vec<&Emitted> {
        self.emitted.iter().filter(|e| e.metric == metric).collect()
    }
}

impl<R: Rule> TestRule<R> {
    /// Builds the rule from JSON config text, as the host's init does.
    ///
    /// Fails where the host would refuse to load the rule: a manifest it
    /// would not accept (see [`Manifest::validate`]), config text that does
    /// not parse, or a config the rule refuses.
    pub fn new(config_json: &str) -> Result<Self> {
        Self::with_config(parse_config::<R>(config_json)?)
    }

    /// Builds the rule from a typed config; fails like [`TestRule::new`].
    pub fn with_config(config: R::Config) -> Result<Self> {
        let rule = R::new(config)?;
        let manifest = rule.describe();
        manifest.validate()?;
        Ok(Self {
            rule,
            metric_names: metric_names(&manifest),
            manifest,
        })
    }

    /// The rule's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Processes a batch exactly as the wasm export does, checking every
    /// update against the manifest.
    ///
    /// # Panics
    ///
    /// If the rule emits an update the host would not apply (see the
    /// [module docs](self)); the message names the record and the metric.
    #[track_caller]
    pub fn process_batch(&mut self, batch: &BatchView<'_>) -> Output {
        let mut out = Emitter::checked(
            &self.metric_names,
            &self.manifest,
            batch.data,
            batch.records.len() * 2,
        );
        run_records(&mut self.rule, batch, &mut out);
        let (output, misuses) = out.finish_checked();
        if !misuses.is_empty() {
            panic!("{}", self.misuse_report(batch, &misuses));
        }
        output
    }

    /// Processes lines of text as one batch from source `test`; panics like
    /// [`TestRule::process_batch`].
    #[track_caller]
    pub fn process_lines(&mut self, lines: &[&str]) -> TestOutput {
        let bytes: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
        self.process_payloads(&bytes)
    }

    /// Processes raw payloads (which need not be UTF-8) as one batch;
    /// panics like [`TestRule::process_batch`].
    #[track_caller]
    pub fn process_payloads(&mut self, payloads: &[&[u8]]) -> TestOutput {
        let mut data = Vec::new();
        let mut records = Vec::with_capacity(payloads.len());
        for (offset, payload) in payloads.iter().enumerate() {
            records.push(RecordMeta {
                payload: Span {
                    start: data.len() as u32,
                    len: payload.len() as u32,
                },
                offset: offset as u64,
                ..RecordMeta::default()
            });
            data.extend_from_slice(payload);
        }
        let sources = vec!["test".to_owned()];
        let output = self.process_batch(&BatchView {
            sources: &sources,
            data: &data,
            records: &records,
        });
        TestOutput {
            emitted: output
                .updates
                .into_iter()
                .map(|update| Emitted {
                    record: update.record,
                    metric: self
                        .metric_names
                        .get(update.metric as usize)
                        .cloned()
                        .unwrap_or_default(),
                    key: update.key.resolve(&data).unwrap_or_default().to_owned(),
                    measure: match update.measure {
                        Measure::Member(member) => Measure::Member(member.owned(&data)),
                        Measure::Decimal(value) => Measure::Decimal(value.owned(&data)),
                        other => other,
                    },
                    event_time_ms: update.event_time_ms,
                })
                .collect(),
            rejects: output.rejects,
        }
    }

    /// The panic message for updates the host would not apply.
    fn misuse_report(&self, batch: &BatchView<'_>, misuses: &[Misuse]) -> String {
        let mut report = format!(
            "rule `{}` emitted {} update(s) the host would not apply:",
            self.manifest.name,
            misuses.len()
        );
        for misuse in misuses.iter().take(MISUSES_SHOWN) {
            let payload = batch
                .record(misuse.record as usize)
                .map(|record| String::from_utf8_lossy(record.payload).into_owned())
                .unwrap_or_default();
            let mut shown: String = payload.chars().take(PAYLOAD_CHARS_SHOWN).collect();
            if shown.len() < payload.len() {
                shown.push_str("...");
            }
            let _ = write!(
                report,
                "\n  - record {} `{shown}`: {}",
                misuse.record, misuse.problem
            );
        }
        if misuses.len() > MISUSES_SHOWN {
            let _ = write!(report, "\n  ... and {} more", misuses.len() - MISUSES_SHOWN);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;
    use crate::prelude::*;

    /// Emits what each line says: `count M`, `number M X`, `member M V`,
    /// then `fail` (an error after emitting) or nothing.
    struct Scripted;

    impl Rule for Scripted {
        type Config = NoConfig;

        fn manifest() -> Manifest {
            Manifest::new("shop", "1")
                .metric(Metric::sum("spend").tumbling(60))
                .metric(Metric::count("orders").tumbling(60))
                .metric(Metric::distinct("buyers").tumbling(60))
        }

        fn new(_config: NoConfig) -> Result<Self> {
            Ok(Scripted)
        }

        fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
            let words: Vec<&str> = record.text()?.split(' ').collect();
            match words[..] {
                ["count", metric, ..] => out.count(metric, "k", 0),
                ["number", metric, x, ..] => out.number(metric, "k", x.parse()?, 0),
                ["member", metric, member, ..] => out.distinct(metric, "k", member, 0),
                _ => return Err(Error::msg("unknown line")),
            }
            if words.last() == Some(&"fail") {
                return Err(Error::msg("failed after emitting"));
            }
            Ok(())
        }
    }

    /// The message `lines` panic with.
    fn panic_message(lines: &[&str]) -> String {
        let mut rule = TestRule::<Scripted>::new("{}").unwrap();
        let payload = catch_unwind(AssertUnwindSafe(|| rule.process_lines(lines)))
            .expect_err("processing should panic");
        payload
            .downcast_ref::<String>()
            .cloned()
            .expect("a formatted panic message")
    }

    #[test]
    fn fitting_updates_and_rejects_pass() {
        let mut rule = TestRule::<Scripted>::new("{}").unwrap();
        let out = rule.process_lines(&[
            "number spend 12.5",
            "count orders",
            "member buyers ann",
            "garbage",
        ]);
        assert_eq!(out.emitted.len(), 3);
        assert_eq!(out.of("spend")[0].measure, Measure::Number(12.5));
        assert_eq!(out.rejects.len(), 1);
        assert_eq!(out.rejects[0].record, 3);
    }

    #[test]
    fn an_unknown_metric_panics_naming_the_metric_and_the_record() {
        let message = panic_message(&["count orders", "number spnd 3"]);
        assert_eq!(
            message,
            "rule `shop` emitted 1 update(s) the host would not apply:\n  \
             - record 1 `number spnd 3`: out.number(\"spnd\", ...) names a metric the manifest \
             does not declare (it declares `spend`, `orders`, `buyers`); the host rejects the record"
        );
    }

    #[test]
    fn a_measure_of_the_wrong_kind_panics() {
        let message = panic_message(&["number orders 1", "count buyers", "member spend x"]);
        assert!(message.contains("emitted 3 update(s)"), "{message}");
        assert!(
            message.contains(
                "record 0 `number orders 1`: out.number(\"orders\", ...) on a count metric, \
                 which takes out.count(...)"
            ),
            "{message}"
        );
        assert!(
            message.contains("record 1 `count buyers`: out.count(\"buyers\", ...) on a distinct"),
            "{message}"
        );
        assert!(
            message.contains("record 2 `member spend x`: out.distinct(\"spend\", ...) on a sum"),
            "{message}"
        );
    }

    #[test]
    fn a_number_that_is_not_finite_panics() {
        let message = panic_message(&["number spend NaN"]);
        assert!(message.contains("with NaN: the host drops numbers that are not finite"));
    }

    #[test]
    fn a_misuse_in_a_record_that_then_fails_is_still_caught() {
        let message = panic_message(&["count spnd fail"]);
        assert!(message.contains("record 0 `count spnd fail`: out.count(\"spnd\""));
    }

    #[test]
    fn a_long_report_is_cut() {
        let lines = vec!["count nope"; 25];
        let message = panic_message(&lines);
        assert!(message.contains("emitted 25 update(s)"));
        assert_eq!(message.matches("\n  - record").count(), MISUSES_SHOWN);
        assert!(message.ends_with("\n  ... and 15 more"), "{message}");
    }

    /// A rule whose manifest the host would refuse.
    struct BadManifest;

    impl Rule for BadManifest {
        type Config = NoConfig;

        fn manifest() -> Manifest {
            Manifest::new("bad", "1")
                .metric(Metric::count("pv").tumbling(60))
                .metric(Metric::distinct("pv").hopping(300, 7))
        }

        fn new(_config: NoConfig) -> Result<Self> {
            Ok(BadManifest)
        }

        fn process(&mut self, _record: &Record<'_>, _out: &mut Emitter<'_>) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_invalid_manifest_fails_new() {
        let error = TestRule::<BadManifest>::new("{}").err().unwrap();
        assert_eq!(
            error.message(),
            "rule `bad`: invalid manifest:\n  \
             - metric \"pv\": declared twice\n  \
             - metric \"pv\": hopping window size 300 s is not a multiple of its hop 7 s"
        );
        assert!(TestRule::<BadManifest>::with_config(NoConfig {}).is_err());
    }
}
