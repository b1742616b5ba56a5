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

use crate::batch::{BatchView, RecordMeta, Span};
use crate::emit::{Measure, Output, Reject, metric_names};
use crate::error::Result;
use crate::manifest::Manifest;
use crate::rule::{Rule, parse_config, run_batch};

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
    /// Value contributed.
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
        let manifest = R::manifest();
        manifest.validate()?;
        Ok(Self {
            rule: R::new(config)?,
            metric_names: metric_names(&manifest),
            manifest,
        })
    }

    /// The rule's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Processes a batch exactly as the wasm export does.
    pub fn process_batch(&mut self, batch: &BatchView<'_>) -> Output {
        run_batch(&mut self.rule, &self.metric_names, batch)
    }

    /// Processes lines of text as one batch from source `test`.
    pub fn process_lines(&mut self, lines: &[&str]) -> TestOutput {
        let bytes: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
        self.process_payloads(&bytes)
    }

    /// Processes raw payloads (which need not be UTF-8) as one batch.
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
                    key: update.key,
                    measure: update.measure,
                    event_time_ms: update.event_time_ms,
                })
                .collect(),
            rejects: output.rejects,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

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
