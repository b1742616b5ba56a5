//! Enforcing a rule's limits: deadlines by epoch interruption, a memory cap
//! by a resource limiter, optional fuel.

use std::time::Duration;

use wasmtime::{Engine, Store};

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
