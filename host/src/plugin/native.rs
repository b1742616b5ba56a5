//! Rules compiled into the host as Rust, run through the real host path
//! (`Engine`, isolation, windows) without WebAssembly: for tests and
//! benchmarks, which can then drive a `weir_sdk::Rule` exactly as
//! `weir run` drives its component.
//!
//! Behind the `native-rules` feature, which adds the `weir-sdk` dependency.
//! The rule gets the host's batch through [`weir_sdk::run_batch`], the same
//! per-batch path the SDK's wasm export runs. A native rule runs outside the
//! sandbox, so no call deadline, memory cap or output cap applies; a panic
//! becomes a failed call, which the engine isolates like a trap.
//!
//! ```no_run
//! # fn demo() -> Result<(), weir::plugin::native::NativeRuleError> {
//! use weir::plugin::{ActiveRule, RuleRegistry};
//!
//! let registry = RuleRegistry::from_rules(vec![ActiveRule::native::<pvuv::PvUv>("{}")?]);
//! # Ok(()) }
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use weir_sdk::Rule;

use super::registry::ActiveRule;
use super::runner::{CallError, RuleRunner};
use crate::contract::{self, Batch, BatchOutput};
use crate::model::RuleSpec;

/// Why a native rule could not be made; the same refusals as loading a
/// component.
#[derive(Debug, thiserror::Error)]
pub enum NativeRuleError {
    /// The manifest is invalid.
    #[error("native rule `{rule}`: invalid manifest:\n  - {}", problems.join("\n  - "))]
    Manifest {
        /// The rule's name as declared.
        rule: String,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// The config did not parse, or the rule refused it.
    #[error("native rule `{rule}` refused its config: {message}")]
    Init {
        /// The rule's name.
        rule: String,
        /// The rule's explanation.
        message: String,
    },
}

impl ActiveRule {
    /// The Rust rule `R`, built from its JSON config (as `[rules.<name>]
    /// config` would give it) and checked like a loaded component: its
    /// manifest by [`RuleSpec::from_manifest`], its config by `R::new`.
    pub fn native<R: Rule + Send>(config_json: &str) -> Result<Self, NativeRuleError> {
        let manifest = R::manifest();
        let spec = RuleSpec::from_manifest(&contract_manifest(&manifest)).map_err(|problems| {
            NativeRuleError::Manifest {
                rule: manifest.name.clone(),
                problems,
            }
        })?;
        let runner = NativeRule::<R>::new(config_json)?;
        Ok(Self {
            spec,
            path: PathBuf::new(),
            version_hash: "native".to_owned(),
            loaded_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64),
            runner: Box::new(runner),
            spare: None,
        })
    }
}

/// A [`RuleRunner`] over a Rust rule: the host's batch goes to
/// [`weir_sdk::run_batch`] and its output comes back in the contract's types.
pub struct NativeRule<R: Rule> {
    rule: R,
    /// Kept to make fresh instances ([`RuleRunner::reset`], [`RuleRunner::fork`]).
    config_json: String,
    metric_names: Vec<String>,
    /// The batch's record metadata in the SDK's types, reused across batches.
    records: Vec<weir_sdk::RecordMeta>,
}

impl<R: Rule + Send> NativeRule<R> {
    /// Builds the rule from its JSON config, as the SDK's init does in a
    /// component (blank text is an empty object). Does not check the
    /// manifest: [`ActiveRule::native`] does.
    pub fn new(config_json: &str) -> Result<Self, NativeRuleError> {
        let manifest = R::manifest();
        let refused = |message: String| NativeRuleError::Init {
            rule: manifest.name.clone(),
            message,
        };
        let text = if config_json.trim().is_empty() {
            "{}"
        } else {
            config_json
        };
        let config: R::Config = serde_json::from_str(text)
            .map_err(|error| refused(format!("invalid config: {error}")))?;
        let rule = R::new(config).map_err(|error| refused(error.to_string()))?;
        Ok(Self {
            rule,
            config_json: config_json.to_owned(),
            metric_names: manifest.metrics.iter().map(|m| m.name.clone()).collect(),
            records: Vec::new(),
        })
    }
}

impl<R: Rule + Send> RuleRunner for NativeRule<R> {
    fn process(&mut self, batch: &Batch) -> Result<BatchOutput, CallError> {
        self.records.clear();
        self.records
            .extend(batch.records.iter().map(|meta| weir_sdk::RecordMeta {
                payload: sdk_span(meta.payload),
                key: meta.key.map(sdk_span),
                source: meta.source,
                partition: meta.partition,
                offset: meta.offset,
                timestamp_ms: meta.timestamp_ms,
            }));
        let view = weir_sdk::BatchView {
            sources: &batch.sources,
            data: &batch.data,
            records: &self.records,
        };
        let (rule, metric_names) = (&mut self.rule, &self.metric_names);
        let output = catch_unwind(AssertUnwindSafe(|| {
            weir_sdk::run_batch(rule, metric_names, &view)
        }))
        .map_err(|panic| CallError {
            detail: format!("native rule panicked: {}", panic_message(panic.as_ref())),
        })?;
        Ok(contract_output(output))
    }

    fn reset(&mut self) -> Result<(), CallError> {
        *self = Self::new(&self.config_json).map_err(|error| CallError {
            detail: format!("cannot make a fresh instance: {error}"),
        })?;
        Ok(())
    }

    fn fork(&self) -> Option<Box<dyn RuleRunner>> {
        match Self::new(&self.config_json) {
            Ok(rule) => Some(Box::new(rule)),
            Err(error) => {
                tracing::warn!(%error, "cannot make a second instance; the rule runs on one");
                None
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

fn sdk_span(span: contract::Span) -> weir_sdk::Span {
    weir_sdk::Span {
        start: span.start,
        len: span.len,
    }
}

/// The SDK's output in the contract's types, as the wasm export returns it.
fn contract_output(output: weir_sdk::Output) -> BatchOutput {
    BatchOutput {
        updates: output
            .updates
            .into_iter()
            .map(|update| contract::MetricUpdate {
                record: update.record,
                metric: update.metric,
                key: update.key,
                measure: match update.measure {
                    weir_sdk::Measure::One => contract::Measure::One,
                    weir_sdk::Measure::Number(x) => contract::Measure::Number(x),
                    weir_sdk::Measure::Member(member) => contract::Measure::Member(member),
                },
                event_time_ms: update.event_time_ms,
            })
            .collect(),
        rejects: output
            .rejects
            .into_iter()
            .map(|reject| contract::Reject {
                record: reject.record,
                reason: reject.reason,
            })
            .collect(),
    }
}

/// The SDK's manifest in the contract's types, as `describe` returns it.
fn contract_manifest(manifest: &weir_sdk::Manifest) -> contract::Manifest {
    contract::Manifest {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        metrics: manifest
            .metrics
            .iter()
            .map(|metric| contract::Metric {
                name: metric.name.clone(),
                aggregation: match metric.aggregation {
                    weir_sdk::Aggregation::Count => contract::Aggregation::Count,
                    weir_sdk::Aggregation::Sum => contract::Aggregation::Sum,
                    weir_sdk::Aggregation::Min => contract::Aggregation::Min,
                    weir_sdk::Aggregation::Max => contract::Aggregation::Max,
                    weir_sdk::Aggregation::Distinct => contract::Aggregation::Distinct,
                    weir_sdk::Aggregation::ApproxDistinct => contract::Aggregation::ApproxDistinct,
                },
                windows: metric
                    .windows
                    .iter()
                    .map(|window| match *window {
                        weir_sdk::Window::Tumbling(size) => contract::Window::Tumbling(size),
                        weir_sdk::Window::Hopping {
                            size_secs,
                            hop_secs,
                        } => contract::Window::Hopping(contract::HoppingWindow {
                            size_secs,
                            hop_secs,
                        }),
                        weir_sdk::Window::Cumulative {
                            size_secs,
                            step_secs,
                        } => contract::Window::Cumulative(contract::CumulativeWindow {
                            size_secs,
                            step_secs,
                        }),
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use weir_sdk::prelude::*;

    use super::*;
    use crate::config::LimitsConfig;
    use crate::engine::Engine;
    use crate::model::{Alignment, RuleId};
    use crate::plugin::RuleRegistry;
    use crate::state::slot::SlotKind;

    /// 2026-11-21T10:00:00+08:00 in Unix milliseconds.
    const TEN_AM_MS: i64 = 1_795_226_400_000;

    /// One batch of `lines` from a file source, as `FileSource` makes it.
    fn batch(lines: &[&str]) -> Batch {
        let mut data = Vec::new();
        let mut records = Vec::new();
        for line in lines {
            records.push(contract::RecordMeta {
                payload: contract::Span {
                    start: data.len() as u32,
                    len: line.len() as u32,
                },
                key: None,
                source: 0,
                partition: 0,
                offset: data.len() as u64,
                timestamp_ms: None,
            });
            data.extend_from_slice(line.as_bytes());
            data.push(b'\n');
        }
        Batch {
            sources: vec!["access.log".to_owned()],
            data,
            records,
        }
    }

    fn processor(rules: Vec<ActiveRule>) -> Engine {
        Engine::new(
            RuleRegistry::from_rules(rules),
            Alignment::new(0),
            10_000,
            &LimitsConfig::default(),
            false,
        )
    }

    /// Closes every window and returns the output values of rule 0:
    /// (metric, window, slot start) -> value of group `total`.
    fn closed_totals(processor: &mut Engine) -> BTreeMap<(String, usize, i64), String> {
        processor.close_all();
        let mut values = BTreeMap::new();
        for (_, states) in processor.lanes.iter_mut() {
            let Some(state) = states.get_mut(RuleId(0)) else {
                continue;
            };
            let names: Vec<String> = state.metrics.iter().map(|m| m.name.clone()).collect();
            for change in state.drain_changes() {
                for slot in change.slots.iter().filter(|s| s.kind != SlotKind::Pane) {
                    for group in slot.groups.iter().filter(|g| g.key == "total") {
                        values.insert(
                            (names[change.metric].clone(), change.window, slot.start_ms),
                            group.output.clone().unwrap_or_default(),
                        );
                    }
                }
            }
        }
        values
    }

    #[test]
    fn pvuv_runs_natively_through_the_engine() {
        let mut processor = processor(vec![ActiveRule::native::<pvuv::PvUv>("{}").unwrap()]);
        processor.process(&batch(&[
            r#"1.2.3.4 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 5 "-" "ua""#,
            r#"1.2.3.4 - - [21/Nov/2026:10:00:30 +0800] "GET /a HTTP/1.1" 200 5 "-" "ua""#,
            "not a log line",
            r#"5.6.7.8 - - [21/Nov/2026:10:01:10 +0800] "GET /b HTTP/1.1" 404 -"#,
        ]));
        let stats = processor.totals(RuleId(0));
        assert_eq!(
            (stats.records_in, stats.rejected, stats.updates, stats.traps),
            (4, 1, 6, 0)
        );
        let minute = |m: i64| TEN_AM_MS + m * 60_000;
        // Day windows start at midnight UTC (alignment 0).
        let day = TEN_AM_MS - TEN_AM_MS.rem_euclid(86_400_000);
        let expected: BTreeMap<(String, usize, i64), String> = [
            (("pv", 0, minute(0)), "2"),
            (("pv", 0, minute(1)), "1"),
            (("pv", 1, day), "3"),
            (("uv", 0, minute(0)), "1"),
            (("uv", 0, minute(1)), "1"),
            (("uv", 1, day), "2"),
        ]
        .into_iter()
        .map(|((metric, window, start), value)| {
            ((metric.to_owned(), window, start), value.to_owned())
        })
        .collect();
        assert_eq!(closed_totals(&mut processor), expected);
    }

    /// Counts lines per first word and panics on `BOOM`.
    struct Fragile;

    impl Rule for Fragile {
        type Config = NoConfig;

        fn manifest() -> Manifest {
            Manifest::new("fragile", "1").metric(Metric::count("lines").tumbling(60))
        }

        fn new(_config: NoConfig) -> weir_sdk::Result<Self> {
            Ok(Fragile)
        }

        fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> weir_sdk::Result<()> {
            let text = record.text()?;
            assert_ne!(text, "BOOM", "the rule cannot take it");
            out.count("lines", "total", TEN_AM_MS);
            Ok(())
        }
    }

    #[test]
    fn a_panic_is_a_failed_call_and_only_its_record_is_lost() {
        let mut processor = processor(vec![ActiveRule::native::<Fragile>("").unwrap()]);
        processor.process(&batch(&["a", "b", "BOOM", "c"]));
        let stats = processor.totals(RuleId(0));
        assert_eq!((stats.updates, stats.dead_lettered), (3, 1));
        assert!(stats.traps >= 1);
        let dead: Vec<_> = processor
            .take_dead_letters()
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        assert_eq!(dead[0][0].payload, b"BOOM");
        assert!(
            dead[0][0].reason.contains("native rule panicked"),
            "{}",
            dead[0][0].reason
        );
        assert_eq!(dead[0][0].version, "native");
    }

    #[test]
    fn a_refused_config_or_manifest_is_an_error() {
        let error = ActiveRule::native::<Fragile>("42").err().unwrap();
        assert!(
            error
                .to_string()
                .starts_with("native rule `fragile` refused its config: invalid config:"),
            "{error}"
        );
        let error = ActiveRule::native::<Mismatched>("{}").err().unwrap();
        assert!(matches!(error, NativeRuleError::Manifest { .. }), "{error}");
    }

    /// A manifest both the SDK and the host refuse.
    struct Mismatched;

    impl Rule for Mismatched {
        type Config = NoConfig;

        fn manifest() -> Manifest {
            Manifest::new("Bad Name", "1")
                .metric(Metric::count("pv").tumbling(0).hopping(300, 7))
                .metric(
                    Metric::count("pv")
                        .tumbling(DAY_SECS)
                        .cumulative(DAY_SECS, 60),
                )
                .metric(Metric::sum("spend!"))
                .metric(
                    Metric::max("late")
                        .hopping(401 * DAY_SECS, 60)
                        .cumulative(60, 0),
                )
        }

        fn new(_config: NoConfig) -> weir_sdk::Result<Self> {
            Ok(Mismatched)
        }

        fn process(&mut self, _: &Record<'_>, _: &mut Emitter<'_>) -> weir_sdk::Result<()> {
            Ok(())
        }
    }

    /// The SDK checks manifests natively (`TestRule::new`) with its own copy
    /// of the host's rules; this keeps the two copies saying the same thing.
    #[test]
    fn the_sdk_refuses_manifests_as_the_host_does() {
        let manifest = Mismatched::manifest();
        let host = RuleSpec::from_manifest(&contract_manifest(&manifest)).unwrap_err();
        let sdk = manifest.validate().unwrap_err().problems;
        assert_eq!(sdk, host);
        assert_eq!(host.len(), 9, "{host:#?}");
    }
}
