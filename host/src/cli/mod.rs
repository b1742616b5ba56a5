//! The `weir` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub mod check;
pub mod run;
pub mod status;

/// weir: real-time log analytics with sandboxed WebAssembly rules.
///
/// weir reads log lines (a file, stdin), runs every rule component in the
/// plugins folder over them, keeps event-time windows of what the rules
/// count, and writes the results to Redis as `weir:{rule}:{metric}:{size}:{start}`
/// hashes. State is checkpointed to Redis, so a restart continues exactly.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline described by a config file.
    ///
    /// A finite input (a file without `follow`, stdin) runs to its end,
    /// closes every window and exits; otherwise weir runs until SIGINT or
    /// SIGTERM, then checkpoints and exits.
    Run {
        /// The pipeline's config file (TOML).
        #[arg(long, short, env = "WEIR_CONFIG")]
        config: PathBuf,
    },
    /// Show each rule's version, counters (records, rejected, late, traps,
    /// dead letters, quarantined) and state, as of the last checkpoint.
    Status {
        /// The pipeline's config file (TOML).
        #[arg(long, short, env = "WEIR_CONFIG")]
        config: PathBuf,
    },
    /// Check a config file and every plugin without running anything.
    ///
    /// Lists every problem at once; exits non-zero if there is any.
    Check {
        /// The pipeline's config file (TOML).
        #[arg(long, short, env = "WEIR_CONFIG")]
        config: PathBuf,
    },
}
