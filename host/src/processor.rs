//! Running batches through every rule and into its windows: the pipeline's
//! CPU path, with no I/O, so benchmarks and tests can drive it directly.

use crate::contract::Batch;
use crate::plugin::{CallError, RuleRegistry};
use crate::state::RuleState;
use crate::window::Alignment;

/// A rule call failed; which rule, and why.
#[derive(Debug, thiserror::Error)]
#[error("rule `{rule}`: {source}")]
pub struct RuleFailed {
    /// The rule's name.
    pub rule: String,
    /// The call error.
    pub source: CallError,
}

/// Every rule with its state.
pub struct Processor {
    /// The rules.
    pub registry: RuleRegistry,
    /// One state per rule, in registry order.
    pub states: Vec<RuleState>,
}

impl Processor {
    /// Fresh state for every rule.
    pub fn new(registry: RuleRegistry, align: Alignment, lateness_ms: i64) -> Self {
        let states = registry
            .rules()
            .iter()
            .map(|rule| RuleState::new(&rule.spec, align, lateness_ms))
            .collect();
        Self { registry, states }
    }

    /// Runs one batch through every rule and applies what each produced.
    pub fn process(&mut self, batch: &Batch) -> Result<(), RuleFailed> {
        if batch.records.is_empty() {
            return Ok(());
        }
        for (rule, state) in self.registry.rules_mut().iter_mut().zip(&mut self.states) {
            let output = rule.runner.process(batch).map_err(|source| RuleFailed {
                rule: rule.spec.name.clone(),
                source,
            })?;
            for reject in output.rejects.iter().take(3) {
                let offset = batch.records.get(reject.record as usize).map(|r| r.offset);
                tracing::debug!(rule = %rule.spec.name, offset, reason = %reject.reason, "record rejected");
            }
            state.apply(&batch.records, &output);
        }
        Ok(())
    }

    /// The input ended: close every window of every rule.
    pub fn close_all(&mut self) {
        for state in &mut self.states {
            state.close_all();
        }
    }
}
