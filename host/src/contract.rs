//! The rule contract (`wit/rule@0.1.0`) as Rust types: the only place the
//! host runs `bindgen!`.
//!
//! The contract's batch and output types are the host's own types for
//! records in flight, so a batch goes from a source into a rule's memory
//! without being converted.

#![expect(missing_docs, reason = "generated from the documented WIT")]

wasmtime::component::bindgen!({
    path: "../wit/rule@0.1.0",
    world: "rule-world",
});

/// The contract package this host implements, as named in errors.
pub const CONTRACT_PACKAGE: &str = "weir:rule";
/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";
/// The interface a rule exports.
pub const RULE_INTERFACE: &str = "weir:rule/rule@0.1.0";

pub use self::weir::rule::host::Level;
pub use self::weir::rule::types::{
    Aggregation, Batch, BatchOutput, CumulativeWindow, HoppingWindow, Manifest, Measure, Metric,
    MetricUpdate, RecordMeta, Reject, Span, Window,
};
