//! Calling a rule: one batch in, what it produced out.

use std::sync::Arc;

use wasmtime::{Engine, Store};

use super::limits;
use super::sandbox::RuleHost;
use crate::config::LimitsConfig;
use crate::contract::{Batch, BatchOutput, RuleWorld, RuleWorldPre};

/// A failed call into a rule: a trap (panic, deadline, memory, stack
/// overflow), or output over the limits. The instance is no longer usable;
/// [`RuleRunner::reset`] replaces it.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct CallError {
    /// The engine's explanation (trap message and backtrace).
    pub detail: String,
}

/// Something that turns batches into metric updates: a wasm rule, or (in
/// benchmarks) the same rule compiled natively.
pub trait RuleRunner: Send {
    /// Processes one batch.
    fn process(&mut self, batch: &Batch) -> Result<BatchOutput, CallError>;

    /// Replaces a failed instance with a fresh one (same code, same config).
    fn reset(&mut self) -> Result<(), CallError> {
        Ok(())
    }

    /// A second, independent instance of the same rule, so halves of a
    /// batch can run side by side (rules are pure functions of their
    /// records); `None` if the runner cannot make one.
    fn fork(&self) -> Option<Box<dyn RuleRunner>> {
        None
    }
}

/// What a fresh instance needs: the pre-instantiated component, the rule's
/// config and limits. Shared by every instance of one loaded version.
pub struct InstanceRecipe {
    /// The engine the component was compiled with.
    pub engine: Engine,
    /// The component, linked and ready to instantiate in microseconds.
    pub pre: RuleWorldPre<RuleHost>,
    /// The rule's name.
    pub name: String,
    /// The JSON config passed to init.
    pub config_json: String,
    /// Limits of every call.
    pub limits: LimitsConfig,
}

impl InstanceRecipe {
    /// Instantiates and initializes a fresh instance.
    pub fn instantiate(&self) -> Result<(Store<RuleHost>, RuleWorld), InstantiateError> {
        let mut store = limits::new_store(&self.engine, &self.name, &self.limits);
        let world = self
            .pre
            .instantiate(&mut store)
            .map_err(InstantiateError::Trap)?;
        limits::arm(&mut store, &self.limits);
        world
            .weir_rule_rule()
            .call_init(&mut store, &self.config_json)
            .map_err(InstantiateError::Trap)?
            .map_err(InstantiateError::Refused)?;
        Ok((store, world))
    }
}

/// Why a fresh instance could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InstantiateError {
    /// Instantiation or init trapped.
    #[error("trapped: {0:#}")]
    Trap(wasmtime::Error),
    /// The rule's init refused its config.
    #[error("refused its config: {0}")]
    Refused(String),
}

/// A rule instance in its own store.
pub struct WasmRule {
    recipe: Arc<InstanceRecipe>,
    store: Store<RuleHost>,
    world: RuleWorld,
}

impl WasmRule {
    /// A running instance made from `recipe`.
    pub fn new(recipe: Arc<InstanceRecipe>, store: Store<RuleHost>, world: RuleWorld) -> Self {
        Self {
            recipe,
            store,
            world,
        }
    }

    /// Log messages the rule's rate limit dropped so far.
    pub fn suppressed_logs(&self) -> u64 {
        self.store
            .data()
            .log
            .lock()
            .map_or(0, |log| log.suppressed())
    }
}

impl RuleRunner for WasmRule {
    fn process(&mut self, batch: &Batch) -> Result<BatchOutput, CallError> {
        limits::arm(&mut self.store, &self.recipe.limits);
        let output = self
            .world
            .weir_rule_rule()
            .call_process(&mut self.store, batch)
            .map_err(|error| CallError {
                detail: limits::explain(&error, &self.recipe.limits),
            })?;
        let cap = self.recipe.limits.max_updates_per_batch;
        if output.updates.len() > cap {
            return Err(CallError {
                detail: format!(
                    "the batch produced {} updates, over limits.max_updates_per_batch = {cap}",
                    output.updates.len()
                ),
            });
        }
        Ok(output)
    }

    fn fork(&self) -> Option<Box<dyn RuleRunner>> {
        match self.recipe.instantiate() {
            Ok((store, world)) => Some(Box::new(WasmRule::new(self.recipe.clone(), store, world))),
            Err(error) => {
                tracing::warn!(rule = %self.recipe.name, %error, "cannot make a second instance; the rule runs on one");
                None
            }
        }
    }

    fn reset(&mut self) -> Result<(), CallError> {
        let (store, world) = self.recipe.instantiate().map_err(|error| CallError {
            detail: format!("cannot make a fresh instance: {error}"),
        })?;
        self.store = store;
        self.world = world;
        Ok(())
    }
}
