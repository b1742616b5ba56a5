//! The `[engine]` section: how many threads call the rules.

use super::reader::TableReader;
use super::within;

/// The `[engine]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Threads that call the rules (`threads`): a large batch is cut, per
    /// rule, into runs of consecutive records that the threads share, each
    /// run on one of this many instances of the rule, and the outputs are
    /// joined in record order, so the results are those of one thread. The
    /// pipeline's own thread first applies the previous batch's outcomes
    /// to the windows, then takes runs too; with 1 it does everything in
    /// turn. Default: the cores this process may use.
    pub threads: usize,
}

impl EngineConfig {
    /// Largest `threads`.
    pub const MAX_THREADS: usize = 256;

    /// Default of `threads`: the cores this process may use.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(Self::MAX_THREADS)
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            threads: Self::default_threads(),
        }
    }
}

/// Reads `[engine]`.
pub(super) fn read_engine(mut t: TableReader<'_>) -> EngineConfig {
    let threads = t.optional::<u64>("threads");
    let threads = within(&t, "threads", threads, 1, EngineConfig::MAX_THREADS as u64);
    EngineConfig {
        threads: threads.map_or_else(EngineConfig::default_threads, |n| n as usize),
    }
}
