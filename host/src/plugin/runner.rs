//! Calling a rule: one batch in, what it produced out.

use std::sync::{Arc, OnceLock};

use wasmtime::component::{Func, TypedFunc};
use wasmtime::{Engine, Store};

use super::limits;
use super::sandbox::RuleHost;
use crate::config::LimitsConfig;
use crate::contract::raw::{BatchView, RawMeasure, RawOutput, RawText};
use crate::contract::{Manifest, RULE_INTERFACE, RuleWorld, RuleWorldPre, v1};
use crate::model::{Measure, RuleOutput, Text, Update};

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
    fn process(&mut self, batch: BatchView<'_>) -> Result<RuleOutput, CallError>;

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

/// A component linked for the contract version it was built for.
pub enum Pre {
    /// Built for `weir:rule@0.1.0`.
    V1(v1::RuleWorldPre<RuleHost>),
    /// Built for `weir:rule@0.2.0`.
    V2(RuleWorldPre<RuleHost>),
}

/// An instance's exports, by contract version.
enum World {
    V1(v1::RuleWorld),
    /// A 0.2.0 rule's `process` export, called through [`raw`]'s types
    /// rather than the generated ones (which are used for `load`).
    V2(Func),
}

/// What a fresh instance needs: the pre-instantiated component, the rule's
/// config and limits. Shared by every instance of one loaded version.
pub struct InstanceRecipe {
    /// The engine the component was compiled with.
    pub engine: Engine,
    /// The component, linked and ready to instantiate in microseconds.
    pub pre: Pre,
    /// The rule's name.
    pub name: String,
    /// The JSON config passed to init.
    pub config_json: String,
    /// Limits of every call.
    pub limits: LimitsConfig,
    /// The manifest a 0.2.0 rule's first instance returned from `load`:
    /// every later instance (a fork, a reset) must return the same one, or
    /// two instances of one rule would count differently.
    manifest: OnceLock<Manifest>,
}

/// A fresh, initialized instance.
pub struct Instance {
    store: Store<RuleHost>,
    world: World,
    /// What `load` returned (0.2.0 rules; `None` for 0.1.0, whose
    /// manifest comes from `describe`).
    pub manifest: Option<Manifest>,
}

impl InstanceRecipe {
    /// A recipe for instances of `pre`.
    pub fn new(
        engine: Engine,
        pre: Pre,
        name: String,
        config_json: String,
        limits: LimitsConfig,
    ) -> Self {
        Self {
            engine,
            pre,
            name,
            config_json,
            limits,
            manifest: OnceLock::new(),
        }
    }

    /// The same component under another rule name and config.
    pub fn named(self, name: String, config_json: String) -> Self {
        Self::new(self.engine, self.pre, name, config_json, self.limits)
    }

    /// Instantiates and initializes a fresh instance.
    pub fn instantiate(&self) -> Result<Instance, InstantiateError> {
        let instance = self.instantiate_with(&self.config_json)?;
        if let Some(manifest) = &instance.manifest
            && self.manifest.get_or_init(|| manifest.clone()) != manifest
        {
            return Err(InstantiateError::Refused(
                "load() returned a different manifest than the rule's first instance did; a rule's manifest must depend on its config only".to_owned(),
            ));
        }
        Ok(instance)
    }

    /// Instantiates and initializes an instance with `config_json`, without
    /// checking its manifest against earlier instances.
    pub fn instantiate_with(&self, config_json: &str) -> Result<Instance, InstantiateError> {
        let mut store = limits::new_store(&self.engine, &self.name, &self.limits);
        match &self.pre {
            Pre::V1(pre) => {
                let world = pre
                    .instantiate(&mut store)
                    .map_err(InstantiateError::Trap)?;
                limits::arm(&mut store, &self.limits);
                world
                    .weir_rule_rule()
                    .call_init(&mut store, config_json)
                    .map_err(InstantiateError::Trap)?
                    .map_err(InstantiateError::Refused)?;
                Ok(Instance {
                    store,
                    world: World::V1(world),
                    manifest: None,
                })
            }
            Pre::V2(pre) => {
                let instance = pre
                    .instance_pre()
                    .instantiate(&mut store)
                    .map_err(InstantiateError::Trap)?;
                let world =
                    RuleWorld::new(&mut store, &instance).map_err(InstantiateError::Trap)?;
                let process =
                    process_export(&mut store, &instance).map_err(InstantiateError::Trap)?;
                limits::arm(&mut store, &self.limits);
                let manifest = world
                    .weir_rule_rule()
                    .call_load(&mut store, config_json)
                    .map_err(InstantiateError::Trap)?
                    .map_err(InstantiateError::Refused)?;
                Ok(Instance {
                    store,
                    world: World::V2(process),
                    manifest: Some(manifest),
                })
            }
        }
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
    world: World,
}

impl WasmRule {
    /// A running instance made from `recipe`.
    pub fn new(recipe: Arc<InstanceRecipe>, instance: Instance) -> Self {
        Self {
            recipe,
            store: instance.store,
            world: instance.world,
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

    fn call(&mut self, batch: BatchView<'_>) -> wasmtime::Result<RuleOutput> {
        match &self.world {
            World::V2(process) => {
                let process: TypedFunc<(BatchView<'_>,), (RawOutput,)> =
                    process.typed(&self.store)?;
                let (output,) = process.call(&mut self.store, (batch,))?;
                Ok(rule_output(output))
            }
            World::V1(world) => world
                .weir_rule_rule()
                .call_process(&mut self.store, &v1::batch(batch))
                .map(|output| v1::output(output).into()),
        }
    }
}

/// The `process` export of a 0.2.0 rule's instance.
fn process_export(
    store: &mut Store<RuleHost>,
    instance: &wasmtime::component::Instance,
) -> wasmtime::Result<Func> {
    let missing = || wasmtime::format_err!("the component exports no {RULE_INTERFACE}#process");
    let interface = instance
        .get_export_index(&mut *store, None, RULE_INTERFACE)
        .ok_or_else(missing)?;
    let process = instance
        .get_export_index(&mut *store, Some(&interface), "process")
        .ok_or_else(missing)?;
    instance.get_func(&mut *store, process).ok_or_else(missing)
}

/// A lifted output in the host's types.
fn rule_output(output: RawOutput) -> RuleOutput {
    let text = |text: RawText| match text {
        RawText::Span(span) => Text::Batch(span),
        RawText::Owned(span) => Text::Own(span),
    };
    RuleOutput {
        updates: output
            .updates
            .updates
            .into_iter()
            .map(|update| Update {
                record: update.record,
                metric: update.metric,
                key: text(update.key),
                measure: match update.measure {
                    RawMeasure::One => Measure::One,
                    RawMeasure::Number(x) => Measure::Number(x),
                    RawMeasure::Member(member) => Measure::Member(text(member)),
                    RawMeasure::Decimal(decimal) => Measure::Decimal(text(decimal)),
                },
                event_time_ms: update.event_time_ms,
            })
            .collect(),
        rejects: output.rejects,
        texts: output.updates.texts,
    }
}

impl RuleRunner for WasmRule {
    fn process(&mut self, batch: BatchView<'_>) -> Result<RuleOutput, CallError> {
        limits::arm(&mut self.store, &self.recipe.limits);
        let output = self.call(batch).map_err(|error| CallError {
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
            Ok(instance) => Some(Box::new(WasmRule::new(self.recipe.clone(), instance))),
            Err(error) => {
                tracing::warn!(rule = %self.recipe.name, %error, "cannot make a second instance; the rule runs on one");
                None
            }
        }
    }

    fn reset(&mut self) -> Result<(), CallError> {
        let instance = self.recipe.instantiate().map_err(|error| CallError {
            detail: format!("cannot make a fresh instance: {error}"),
        })?;
        self.store = instance.store;
        self.world = instance.world;
        Ok(())
    }
}
