//! The WebAssembly side of the contract: the only place that runs wit-bindgen.
//!
//! `export_rule!` expands to a call into this module; rule authors never use
//! it directly.

use std::any::Any;
use std::cell::RefCell;

use crate::batch::{BatchView, RecordMeta, Span};
use crate::emit::{Measure, Text, metric_names};
use crate::log::Level;
use crate::manifest::{Aggregation, Window};
use crate::rule::{Rule, parse_config, run_batch};

#[allow(missing_docs, reason = "generated from the documented WIT")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/rule@0.2.0",
        world: "rule-world",
        pub_export_macro: true,
        default_bindings_module: "weir_sdk::__guest::bindings",
    });
}

use bindings::exports::weir::rule::rule as exported;
use bindings::weir::rule::{host, types as wit};

pub use bindings::export;
pub use exported::Guest;

/// The manifest as the contract spells it.
pub type WitManifest = wit::Manifest;
/// A batch as the contract spells it.
pub type WitBatch = wit::Batch;
/// A batch's output as the contract spells it.
pub type WitBatchOutput = wit::BatchOutput;

struct Loaded {
    rule: Box<dyn Any>,
    metric_names: Vec<String>,
    /// The batch's record metadata in the SDK's types, reused across
    /// batches so that a call does not allocate it anew.
    records: Vec<RecordMeta>,
}

thread_local! {
    static LOADED: RefCell<Option<Loaded>> = const { RefCell::new(None) };
}

/// The contract's manifest from the rule's.
fn wit_manifest(manifest: crate::manifest::Manifest) -> WitManifest {
    wit::Manifest {
        name: manifest.name,
        version: manifest.version,
        day_offset_secs: manifest.day_offset_secs,
        metrics: manifest
            .metrics
            .into_iter()
            .map(|metric| wit::Metric {
                name: metric.name,
                aggregation: match metric.aggregation {
                    Aggregation::Count => wit::Aggregation::Count,
                    Aggregation::Sum => wit::Aggregation::Sum,
                    Aggregation::Min => wit::Aggregation::Min,
                    Aggregation::Max => wit::Aggregation::Max,
                    Aggregation::Distinct => wit::Aggregation::Distinct,
                    Aggregation::ApproxDistinct => wit::Aggregation::ApproxDistinct,
                    Aggregation::DecimalSum(scale) => wit::Aggregation::DecimalSum(scale),
                    Aggregation::Avg(scale) => wit::Aggregation::Avg(scale),
                    Aggregation::Quantiles(qs) => wit::Aggregation::Quantiles(qs),
                },
                windows: metric
                    .windows
                    .into_iter()
                    .map(|window| match window {
                        Window::Tumbling(size) => wit::Window::Tumbling(size),
                        Window::Hopping {
                            size_secs,
                            hop_secs,
                        } => wit::Window::Hopping(wit::HoppingWindow {
                            size_secs,
                            hop_secs,
                        }),
                        Window::Cumulative {
                            size_secs,
                            step_secs,
                        } => wit::Window::Cumulative(wit::CumulativeWindow {
                            size_secs,
                            step_secs,
                        }),
                    })
                    .collect(),
                top: metric.top,
                alert: metric.alert.map(|alert| wit::Alert {
                    direction: if alert.above {
                        wit::Direction::Above
                    } else {
                        wit::Direction::Below
                    },
                    threshold: alert.threshold,
                    throttle_secs: alert.throttle_secs,
                }),
            })
            .collect(),
    }
}

/// Builds the rule from its JSON config, keeps it for `process` and
/// returns its manifest.
pub fn load<R: Rule>(config_json: &str) -> Result<WitManifest, String> {
    let config = parse_config::<R>(config_json).map_err(|e| e.to_string())?;
    let rule = R::new(config).map_err(|e| e.to_string())?;
    let manifest = rule.describe();
    let metric_names = metric_names(&manifest);
    LOADED.with(|loaded| {
        *loaded.borrow_mut() = Some(Loaded {
            rule: Box::new(rule),
            metric_names,
            records: Vec::new(),
        });
    });
    Ok(wit_manifest(manifest))
}

/// Runs the rule over a batch. Before `init` every record is rejected.
pub fn process<R: Rule>(batch: WitBatch) -> WitBatchOutput {
    LOADED.with(|loaded| {
        let mut loaded = loaded.borrow_mut();
        let Some(Loaded {
            rule,
            metric_names,
            records,
        }) = loaded.as_mut()
        else {
            return not_initialized(batch.records.len());
        };
        let Some(rule) = rule.downcast_mut::<R>() else {
            return not_initialized(batch.records.len());
        };
        records.clear();
        records.extend(batch.records.iter().map(|meta| RecordMeta {
            payload: span(meta.payload),
            key: meta.key.map(span),
            source: meta.source,
            partition: meta.partition,
            offset: meta.offset,
            timestamp_ms: meta.timestamp_ms,
        }));
        let view = BatchView {
            sources: &batch.sources,
            data: &batch.data,
            records,
        };
        let output = run_batch(rule, metric_names, &view);
        wit::BatchOutput {
            updates: output
                .updates
                .into_iter()
                .map(|update| wit::MetricUpdate {
                    record: update.record,
                    metric: update.metric,
                    key: text(update.key),
                    measure: match update.measure {
                        Measure::One => wit::Measure::One,
                        Measure::Number(value) => wit::Measure::Number(value),
                        Measure::Member(member) => wit::Measure::Member(text(member)),
                        Measure::Decimal(value) => wit::Measure::Decimal(text(value)),
                    },
                    event_time_ms: update.event_time_ms,
                })
                .collect(),
            rejects: output
                .rejects
                .into_iter()
                .map(|reject| wit::Reject {
                    record: reject.record,
                    reason: reject.reason,
                })
                .collect(),
        }
    })
}

fn span(span: wit::Span) -> Span {
    Span {
        start: span.start,
        len: span.len,
    }
}

fn text(text: Text) -> wit::Text {
    match text {
        Text::Span(span) => wit::Text::Span(wit::Span {
            start: span.start,
            len: span.len,
        }),
        Text::Owned(text) => wit::Text::Owned(text),
    }
}

fn not_initialized(records: usize) -> WitBatchOutput {
    wit::BatchOutput {
        updates: Vec::new(),
        rejects: (0..records as u32)
            .map(|record| wit::Reject {
                record,
                reason: "rule was not initialized".to_owned(),
            })
            .collect(),
    }
}

/// Sends a log message to the host.
pub fn log(level: Level, message: &str) {
    let level = match level {
        Level::Debug => host::Level::Debug,
        Level::Info => host::Level::Info,
        Level::Warn => host::Level::Warn,
        Level::Error => host::Level::Error,
    };
    host::log(level, message);
}
