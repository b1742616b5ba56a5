//! What a rule's instance may touch: nothing but its inputs.
//!
//! The wasm32-wasip2 standard library imports WASI, so the linker provides
//! it, with a deny-all context: no files, no network, no environment or
//! arguments, and clocks frozen at the epoch so a rule cannot read the time
//! (event time must come from records, or replays would differ). Random
//! numbers come from generators with fixed seeds for the same reason: a
//! rule that draws them, or a library that does (std's `HashMap` seeds its
//! hasher from `wasi:random/insecure-seed`), sees the same sequence in
//! every instance and on every run.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use std::sync::{Arc, Mutex};

use super::guest_output::GuestOutput;
use super::host_log::RuleLog;
use super::limits::MemoryCap;
use crate::contract::Level;

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

/// Seed of `wasi:random/random` (`get-random-bytes`, what `getrandom` reads).
const RANDOM_SEED: u64 = 0x7765_6972_0000_0001;
/// Seed of `wasi:random/insecure`.
const INSECURE_RANDOM_SEED: u64 = 0x7765_6972_0000_0002;
/// What `wasi:random/insecure-seed` returns (std's `HashMap` keys).
const INSECURE_SEED: u128 = 0x7765_6972_0000_0003;

/// The host side of one rule instance (the wasmtime store's data).
pub struct RuleHost {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Where the rule's log messages (and stdout/stderr lines) go, under
    /// one rate limit.
    pub log: Arc<Mutex<RuleLog>>,
    /// The memory cap, enforced as the store's resource limiter.
    pub limits: MemoryCap,
}

impl RuleHost {
    /// A deny-all sandbox for the rule called `rule`, whose linear memory
    /// may not grow past `memory_bytes`.
    pub fn new(rule: &str, memory_bytes: u64) -> Self {
        let log = Arc::new(Mutex::new(RuleLog::new(rule)));
        let wasi = WasiCtxBuilder::new()
            .stdout(GuestOutput::new(log.clone(), Level::Info))
            .stderr(GuestOutput::new(log.clone(), Level::Warn))
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(Xoshiro256PlusPlus::seed_from_u64(RANDOM_SEED))
            .insecure_random(Xoshiro256PlusPlus::seed_from_u64(INSECURE_RANDOM_SEED))
            .insecure_random_seed(INSECURE_SEED)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            log,
            limits: MemoryCap::new(memory_bytes),
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
