//! Calling a rule: one batch in, what it produced out.

use wasmtime::Store;

use super::sandbox::RuleHost;
use crate::contract::{Batch, BatchOutput, RuleWorld};

/// A failed call into a rule.
#[derive(Debug, thiserror::Error)]
#[error("rule call failed: {detail}")]
pub struct CallError {
    /// The engine's explanation (trap message and backtrace).
    pub detail: String,
}

/// Something that turns batches into metric updates: a wasm rule, or (in
/// benchmarks) the same rule compiled natively.
pub trait RuleRunner: Send {
    /// Processes one batch.
    fn process(&mut self, batch: &Batch) -> Result<BatchOutput, CallError>;
}

/// A rule instance in its own store.
pub struct WasmRule {
    store: Store<RuleHost>,
    world: RuleWorld,
}

impl WasmRule {
    pub(crate) fn new(store: Store<RuleHost>, world: RuleWorld) -> Self {
        Self { store, world }
    }

    /// Log messages the rule's rate limit dropped so far.
    pub fn suppressed_logs(&self) -> u64 {
        self.store.data().log.suppressed()
    }
}

impl RuleRunner for WasmRule {
    fn process(&mut self, batch: &Batch) -> Result<BatchOutput, CallError> {
        self.world
            .weir_rule_rule()
            .call_process(&mut self.store, batch)
            .map_err(|error| CallError {
                detail: format!("{error:#}"),
            })
    }
}
