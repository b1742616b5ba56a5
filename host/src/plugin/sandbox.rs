//! What a rule's instance may touch: nothing but its inputs.
//!
//! The wasm32-wasip2 standard library imports WASI, so the linker provides
//! it, with a deny-all context: no files, no network, no environment or
//! arguments, and clocks frozen at the epoch so a rule cannot read the time
//! (event time must come from records, or replays would differ).

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use super::host_log::RuleLog;

/// A clock stopped at zero.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// The host side of one rule instance (the wasmtime store's data).
pub struct RuleHost {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Where the rule's log messages go.
    pub log: RuleLog,
}

impl RuleHost {
    /// A deny-all sandbox for the rule called `rule`.
    pub fn new(rule: &str) -> Self {
        let wasi = WasiCtxBuilder::new()
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            log: RuleLog::new(rule),
        }
    }
}

impl WasiView for RuleHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
