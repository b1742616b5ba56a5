//! The rule contracts as Rust types: the only place the host runs
//! `bindgen!`.
//!
//! The newest contract (`wit/rule@0.2.0`) is the host's own language for
//! records in flight: a batch goes from a source into a rule's memory
//! without being converted. What a rule makes of it is lifted by [`raw`]
//! (one pass over the rule's memory) into the host's
//! [`RuleOutput`](crate::model::RuleOutput). Components built for an older
//! contract run through [`v1`], which converts at the edge.

#![expect(missing_docs, reason = "generated from the documented WIT")]

wasmtime::component::bindgen!({
    path: "../wit/rule@0.2.0",
    world: "rule-world",
    additional_derives: [PartialEq],
});

pub mod lower;
pub mod raw;
pub mod v1;

/// The contract package this host implements, as named in errors.
pub const CONTRACT_PACKAGE: &str = "weir:rule";
/// The contract versions this host loads, newest first.
pub const CONTRACT_VERSIONS: [&str; 2] = ["0.2.0", "0.1.0"];
/// The interface a rule built for the newest contract exports.
pub const RULE_INTERFACE: &str = "weir:rule/rule@0.2.0";

pub use self::weir::rule::host::Level;
pub use self::weir::rule::types::{
    Aggregation, Alert, Batch, BatchOutput, CumulativeWindow, Direction, HoppingWindow, Manifest,
    Measure, Metric, MetricUpdate, RecordMeta, Reject, Span, Text, Window,
};

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self::Owned(text)
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self::Owned(text.to_owned())
    }
}

/// Canonical ABI layouts as wasmtime computes them, for the tests that pin
/// the offsets [`lower`] and [`raw`] read and write by hand.
#[cfg(test)]
pub(crate) mod layout {
    use wasmtime::component::__internal::CanonicalAbiInfo;
    use wasmtime::component::ComponentType;

    /// `T`'s size and alignment in the canonical ABI.
    pub fn abi<T: ComponentType>() -> CanonicalAbiInfo {
        T::ABI
    }

    /// Where each field of a record of `fields` starts, in order.
    pub fn field_offsets(fields: &[CanonicalAbiInfo]) -> Vec<usize> {
        let mut offset = 0;
        fields
            .iter()
            .map(|field| field.next_field32_size(&mut offset))
            .collect()
    }
}
