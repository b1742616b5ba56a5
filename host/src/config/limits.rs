//! The `[limits]` section: what a rule may cost before the host stops it.

use super::at_least;
use super::reader::TableReader;

/// Limits applied to every rule instance, with defaults that suit log
/// parsing: a misbehaving rule costs the records it traps on, never the
/// pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Wall-clock deadline of one call into a rule, in milliseconds
    /// (`call_timeout_ms`, 1000); enforced by epoch interruption, which costs
    /// about 10% of a rule's run time (see BENCHMARKS.md). 0 turns deadlines
    /// off, for rules trusted not to loop.
    pub call_timeout_ms: u64,
    /// Largest linear memory of a rule instance in bytes (`memory_bytes`, 256 MiB).
    pub memory_bytes: u64,
    /// Most metric updates one batch may produce (`max_updates_per_batch`,
    /// 1,000,000); a batch over it is treated like a trap.
    pub max_updates_per_batch: usize,
    /// Largest `.wasm` file loaded, in bytes (`max_wasm_bytes`, 64 MiB).
    pub max_wasm_bytes: u64,
    /// Longest time compiling one `.wasm` may take, in milliseconds
    /// (`compile_timeout_ms`, 30,000); a slower file is refused.
    pub compile_timeout_ms: u64,
    /// Optional deterministic CPU budget per call, in wasmtime fuel units
    /// (`fuel_per_call`, none).
    pub fuel_per_call: Option<u64>,
    /// Traps within `trap_window_secs` that quarantine a rule (`trap_threshold`, 5).
    pub trap_threshold: u32,
    /// The span traps are counted over, in seconds (`trap_window_secs`, 60).
    pub trap_window_secs: u64,
    /// First quarantine length in seconds (`quarantine_secs`, 30); doubles on
    /// each quarantine in a row, up to an hour.
    pub quarantine_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            call_timeout_ms: 1000,
            memory_bytes: 256 * 1024 * 1024,
            max_updates_per_batch: 1_000_000,
            max_wasm_bytes: 64 * 1024 * 1024,
            compile_timeout_ms: 30_000,
            fuel_per_call: None,
            trap_threshold: 5,
            trap_window_secs: 60,
            quarantine_secs: 30,
        }
    }
}

/// Reads `[limits]`.
pub(super) fn read_limits(mut t: TableReader<'_>) -> LimitsConfig {
    let defaults = LimitsConfig::default();
    let call_timeout_ms = t.optional::<u64>("call_timeout_ms");
    let memory_bytes = t.optional::<u64>("memory_bytes");
    let max_updates_per_batch = t.optional::<usize>("max_updates_per_batch");
    let max_wasm_bytes = t.optional::<u64>("max_wasm_bytes");
    let fuel_per_call = t.optional::<u64>("fuel_per_call");
    let compile_timeout_ms = t.optional::<u64>("compile_timeout_ms");
    let trap_threshold = t.optional::<u32>("trap_threshold");
    let trap_window_secs = t.optional::<u64>("trap_window_secs");
    let quarantine_secs = t.optional::<u64>("quarantine_secs");
    LimitsConfig {
        call_timeout_ms: call_timeout_ms
            .filter(|&ms| {
                let ok = ms == 0 || ms >= 10;
                if !ok {
                    t.problem(
                        "call_timeout_ms",
                        format!("must be 0 (no deadline) or at least 10 (found {ms})"),
                    );
                }
                ok
            })
            .unwrap_or(defaults.call_timeout_ms),
        memory_bytes: at_least(&t, "memory_bytes", memory_bytes, 1024 * 1024)
            .unwrap_or(defaults.memory_bytes),
        max_updates_per_batch: at_least(&t, "max_updates_per_batch", max_updates_per_batch, 1)
            .unwrap_or(defaults.max_updates_per_batch),
        max_wasm_bytes: at_least(&t, "max_wasm_bytes", max_wasm_bytes, 1024)
            .unwrap_or(defaults.max_wasm_bytes),
        compile_timeout_ms: at_least(&t, "compile_timeout_ms", compile_timeout_ms, 100)
            .unwrap_or(defaults.compile_timeout_ms),
        fuel_per_call: at_least(&t, "fuel_per_call", fuel_per_call, 1),
        trap_threshold: at_least(&t, "trap_threshold", trap_threshold, 1)
            .unwrap_or(defaults.trap_threshold),
        trap_window_secs: at_least(&t, "trap_window_secs", trap_window_secs, 1)
            .unwrap_or(defaults.trap_window_secs),
        quarantine_secs: at_least(&t, "quarantine_secs", quarantine_secs, 1)
            .unwrap_or(defaults.quarantine_secs),
    }
}
