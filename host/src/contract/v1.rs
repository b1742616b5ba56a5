//! Components built for `weir:rule@0.1.0`: its bindings, and the conversions
//! between its types and the host's (the newest contract's). 0.1.0 is a
//! subset of 0.2.0, so every conversion is total.

#![expect(missing_docs, reason = "generated from the documented WIT")]

wasmtime::component::bindgen!({
    path: "../wit/rule@0.1.0",
    world: "rule-world",
});

use self::weir::rule::types as old;
use super::raw::BatchView;
use super::{
    Aggregation, BatchOutput, CumulativeWindow, HoppingWindow, Level, Manifest, Measure, Metric,
    MetricUpdate, RecordMeta, Reject, Span, Text, Window,
};

/// The interface a rule built for 0.1.0 exports.
pub const RULE_INTERFACE: &str = "weir:rule/rule@0.1.0";

/// A batch as a 0.1.0 rule takes it: a copy, since the generated types differ.
pub fn batch(batch: BatchView<'_>) -> old::Batch {
    old::Batch {
        sources: batch.sources.to_vec(),
        data: batch.data.to_vec(),
        records: batch.records.iter().map(record).collect(),
    }
}

fn span(span: Span) -> old::Span {
    old::Span {
        start: span.start,
        len: span.len,
    }
}

fn record(meta: &RecordMeta) -> old::RecordMeta {
    old::RecordMeta {
        payload: span(meta.payload),
        key: meta.key.map(span),
        source: meta.source,
        partition: meta.partition,
        offset: meta.offset,
        timestamp_ms: meta.timestamp_ms,
    }
}

/// What a 0.1.0 rule produced, in the host's types.
pub fn output(output: old::BatchOutput) -> BatchOutput {
    BatchOutput {
        updates: output
            .updates
            .into_iter()
            .map(|update| MetricUpdate {
                record: update.record,
                metric: update.metric,
                key: Text::Owned(update.key),
                measure: match update.measure {
                    old::Measure::One => Measure::One,
                    old::Measure::Number(x) => Measure::Number(x),
                    old::Measure::Member(member) => Measure::Member(Text::Owned(member)),
                },
                event_time_ms: update.event_time_ms,
            })
            .collect(),
        rejects: output
            .rejects
            .into_iter()
            .map(|reject| Reject {
                record: reject.record,
                reason: reject.reason,
            })
            .collect(),
    }
}

/// A 0.1.0 manifest in the host's types: no top-N, alerts or day offset.
pub fn manifest(manifest: old::Manifest) -> Manifest {
    Manifest {
        name: manifest.name,
        version: manifest.version,
        metrics: manifest
            .metrics
            .into_iter()
            .map(|metric| Metric {
                name: metric.name,
                aggregation: match metric.aggregation {
                    old::Aggregation::Count => Aggregation::Count,
                    old::Aggregation::Sum => Aggregation::Sum,
                    old::Aggregation::Min => Aggregation::Min,
                    old::Aggregation::Max => Aggregation::Max,
                    old::Aggregation::Distinct => Aggregation::Distinct,
                    old::Aggregation::ApproxDistinct => Aggregation::ApproxDistinct,
                },
                windows: metric.windows.into_iter().map(window).collect(),
                top: None,
                alert: None,
            })
            .collect(),
        day_offset_secs: None,
    }
}

fn window(window: old::Window) -> Window {
    match window {
        old::Window::Tumbling(size) => Window::Tumbling(size),
        old::Window::Hopping(old::HoppingWindow {
            size_secs,
            hop_secs,
        }) => Window::Hopping(HoppingWindow {
            size_secs,
            hop_secs,
        }),
        old::Window::Cumulative(old::CumulativeWindow {
            size_secs,
            step_secs,
        }) => Window::Cumulative(CumulativeWindow {
            size_secs,
            step_secs,
        }),
    }
}

/// A 0.1.0 log level in the host's type.
pub fn level(level: self::weir::rule::host::Level) -> Level {
    use self::weir::rule::host::Level as Old;
    match level {
        Old::Debug => Level::Debug,
        Old::Info => Level::Info,
        Old::Warn => Level::Warn,
        Old::Error => Level::Error,
    }
}
