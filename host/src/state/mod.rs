//! Window state: aggregates per window and group, and how they are checkpointed.

pub mod aggregate;
pub mod codec;
pub mod decimal;
pub mod distinct;
pub mod hll;
pub mod open_slots;
pub mod recent;
pub mod rule;
pub mod sketch;
pub mod slot;
pub mod windows;

pub use rule::{MetricChanges, RuleState};
