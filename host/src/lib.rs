//! weir: real-time log analytics in one process.
//!
//! Sources feed batches of records to rules (sandboxed WebAssembly
//! components); the host keeps event-time windows of what the rules emit,
//! checkpoints them, and writes results to Redis.

pub mod cli;
pub mod config;
pub mod contract;
pub mod lanes;
pub mod pipeline;
pub mod plugin;
pub mod processor;
pub mod sink;
pub mod source;
pub mod state;
pub mod stats;
pub mod window;
