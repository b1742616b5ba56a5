//! The host's domain types: rule, metric and window specs, window
//! alignments, positions in a source, lanes, routes, rule ids, what a rule
//! made of a batch, counters.
//!
//! Every other part of the host depends on this module and it depends on
//! nothing of the host but the contract's generated types, so dependencies
//! point one way: `cli` → `pipeline` → {`source`, `engine`, `checkpoint`,
//! `sink`, `plugin`} → `model`.

mod alignment;
mod claims;
mod lane;
mod outcome;
mod output;
mod position;
mod route;
mod rule_id;
mod spec;
mod stats;
mod window;

pub use alignment::{Alignment, RuleAlignments};
pub use claims::{Assignment, LaneClaims};
pub use lane::{SINGLE_LANE, SourceLanes, partition_lane, split_lane};
pub use outcome::{DEAD_LETTER_PAYLOAD_BYTES, DeadLetter, RuleOutcome};
pub use output::{Measure, RuleOutput, Text, Texts, Update};
pub use position::Position;
pub use route::Route;
pub use rule_id::RuleId;
pub use spec::{
    Aggregation, AlertSpec, MAX_QUANTILES, MetricSpec, QuantileSet, RuleSpec, is_valid_name,
};
pub use stats::{RuleStats, SourceStats};
pub use window::WindowSpec;
