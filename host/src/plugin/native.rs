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
use crate::contract::{self, raw::BatchView};
use crate::model::RuleOutput;
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
        let runner = NativeRule::<R>::new(config_json)?;
        let manifest = runner.rule.describe();
        let spec = RuleSpec::from_manifest(&contract_manifest(&manifest)).map_err(|problems| {
            NativeRuleError::Manifest {
                rule: manifest.name.clone(),
                problems,
            }
        })?;
        Ok(Self {
            spec,
            path: PathBuf::new(),
            version_hash: "native".to_owned(),
            loaded_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64),
            runner: Box::new(runner),
            spares: Vec::new(),
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
        let refused = |message: String| NativeRuleError::Init {
            rule: R::manifest().name,
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
        let manifest = rule.describe();
        Ok(Self {
            rule,
            config_json: config_json.to_owned(),
            metric_names: manifest.metrics.iter().map(|m| m.name.clone()).collect(),
            records: Vec::new(),
        })
    }
}

impl<R: Rule + Send> RuleRunner for NativeRule<R> {
    fn process(&mut self, batch: BatchView<'_>) -> Result<RuleOutput, CallError> {
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
            sources: batch.sources,
            data: batch.data,
            records: &self.records,
        };
        let (rule, metric_names) = (&mut self.rule, &self.metric_names);
        let output = catch_unwind(AssertUnwindSafe(|| {
            weir_sdk::run_batch(rule, metric_names, &view)
        }))
        .map_err(|panic| CallError {
            detail: format!("native rule panicked: {}", panic_message(panic.as_ref())),
        })?;
        Ok(rule_output(output))
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

/// The SDK's output in the host's types, as a wasm rule's is lifted: each
/// owned text copied into the output's own texts.
fn rule_output(output: weir_sdk::Output) -> RuleOutput {
    let mut converted = RuleOutput {
        updates: Vec::with_capacity(output.updates.len()),
        rejects: output
            .rejects
            .into_iter()
            .map(|reject| contract::Reject {
                record: reject.record,
                reason: reject.reason,
            })
            .collect(),
        texts: String::new(),
    };
    for update in output.updates {
        converted.push(contract::MetricUpdate {
            record: update.record,
            metric: update.metric,
            key: contract_text(update.key),
            measure: match update.measure {
                weir_sdk::Measure::One => contract::Measure::One,
                weir_sdk::Measure::Number(x) => contract::Measure::Number(x),
                weir_sdk::Measure::Member(member) => {
                    contract::Measure::Member(contract_text(member))
                }
                weir_sdk::Measure::Decimal(value) => {
                    contract::Measure::Decimal(contract_text(value))
                }
            },
            event_time_ms: update.event_time_ms,
        });
    }
    converted
}

/// An SDK text in the contract's type (an owned one is moved, not copied).
fn contract_text(text: weir_sdk::Text) -> contract::Text {
    match text {
        weir_sdk::Text::Span(span) => contract::Text::Span(contract::Span {
            start: span.start,
            len: span.len,
        }),
        weir_sdk::Text::Owned(text) => contract::Text::Owned(text),
    }
}

/// The SDK's manifest in the contract's types, as `load` returns it.
fn contract_manifest(manifest: &weir_sdk::Manifest) -> contract::Manifest {
    contract::Manifest {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        day_offset_secs: manifest.day_offset_secs,
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
                    weir_sdk::Aggregation::DecimalSum(scale) => {
                        contract::Aggregation::DecimalSum(scale)
                    }
                    weir_sdk::Aggregation::Avg(scale) => contract::Aggregation::Avg(scale),
                    weir_sdk::Aggregation::Quantiles(ref qs) => {
                        contract::Aggregation::Quantiles(qs.clone())
                    }
                },
                top: metric.top,
                alert: metric.alert.as_ref().map(|alert| contract::Alert {
                    direction: if alert.above {
                        contract::Direction::Above
                    } else {
                        contract::Direction::Below
                    },
                    threshold: alert.threshold.clone(),
                    throttle_secs: alert.throttle_secs,
                }),
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
mod tests;
