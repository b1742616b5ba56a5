//! weir: real-time log analytics in one process.
//!
//! Sources feed batches of records to rules (sandboxed WebAssembly
//! components); the host keeps event-time windows of what the rules emit,
//! checkpoints them, and writes results to Redis.
//!
//! Dependencies point one way: [`cli`] → [`pipeline`] → {[`source`],
//! [`engine`], [`checkpoint`], [`sink`], [`plugin`]} → {[`state`],
//! [`window`]} → [`model`] (and [`contract`], the generated WIT types).

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod contract;
pub mod engine;
pub mod http;
pub mod model;
pub mod notify;
pub mod pipeline;
pub mod plugin;
pub mod sink;
pub mod source;
pub mod state;
pub mod telemetry;
pub mod window;
