//! Event-time windows: which windows a record falls in, and when they close.
//!
//! Windows are owned by the host, not by rules: a rule only says which window
//! shapes a metric is kept for. Time is event time in Unix milliseconds.

mod watermark;

pub use crate::model::{Alignment, WindowSpec};
pub use watermark::Watermark;
