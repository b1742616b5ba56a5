//! Enforcing a rule's limits: deadlines by epoch interruption, a memory cap
//! by a resource limiter, optional fuel.

use std::time::Duration;

use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};

use super::sandbox::RuleHost;
use crate::config::LimitsConfig;

/// How often the engine's epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Starts the thread that advances `engine`'s epoch every [`EPOCH_TICK`].
/// It holds only a weak reference and ends when the engine is dropped.
pub fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("weir-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the epoch thread; rule call deadlines are not enforced");
    }
}

/// The memory cap, as the store's resource limiter. Growing past it traps
/// (a rule's allocator would otherwise see a failed grow and abort anyway),
/// and the trap names the setting, so a dead letter says which limit
/// stopped the rule; everything else is wasmtime's `StoreLimits`.
pub struct MemoryCap {
    bytes: usize,
    inner: StoreLimits,
}

impl MemoryCap {
    /// A cap of `bytes` of linear memory per instance.
    pub fn new(bytes: u64) -> Self {
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        Self {
            bytes,
            inner: StoreLimitsBuilder::new()
                .memory_size(bytes)
                .trap_on_grow_failure(true)
                .build(),
        }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.bytes {
            wasmtime::bail!(
                "memory cap: growing the rule's memory to {desired} bytes would pass limits.memory_bytes = {}",
                self.bytes
            );
        }
        self.inner.memory_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }
}

/// Names the limit a failed call ran into ahead of the engine's
/// explanation ("interrupt" alone does not tell an operator which setting
/// to look at). The memory cap and the output cap name theirs already.
pub fn explain(error: &wasmtime::Error, limits: &LimitsConfig) -> String {
    let limit = match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => format!(
            "deadline: the call ran past limits.call_timeout_ms = {}",
            limits.call_timeout_ms
        ),
        Some(wasmtime::Trap::OutOfFuel) => format!(
            "fuel: the call used up limits.fuel_per_call = {}",
            limits.fuel_per_call.unwrap_or_default()
        ),
        _ => return format!("{error:#}"),
    };
    format!("{limit}; {error:#}")
}

/// A store for one instance of rule `rule`: deny-all sandbox, memory cap
/// as its resource limiter, first call's limits armed.
pub fn new_store(engine: &Engine, rule: &str, limits: &LimitsConfig) -> Store<RuleHost> {
    let mut store = Store::new(engine, RuleHost::new(rule, limits.memory_bytes));
    store.limiter(|host| &mut host.limits);
    arm(&mut store, limits);
    store
}

/// Arms the limits of one call: a fresh deadline (unless deadlines are off),
/// and fuel if configured.
pub fn arm(store: &mut Store<RuleHost>, limits: &LimitsConfig) {
    if limits.call_timeout_ms > 0 {
        let ticks = limits
            .call_timeout_ms
            .div_ceil(EPOCH_TICK.as_millis() as u64)
            .max(1);
        store.set_epoch_deadline(ticks);
    }
    if let Some(fuel) = limits.fuel_per_call {
        // Fuel is only enabled in the engine when configured, so this cannot fail.
        let _ = store.set_fuel(fuel);
    }
}
