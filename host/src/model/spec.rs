//! A rule's checked manifest: its metrics, how they aggregate and the
//! windows they are kept for. What every part of the host relies on about a
//! rule, with no tie to how the rule runs.

use std::fmt;

use super::window::WindowSpec;

/// How a metric's updates combine (the contract's aggregation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregation {
    /// Number of updates.
    Count,
    /// Sum of numbers.
    Sum,
    /// Smallest number.
    Min,
    /// Largest number.
    Max,
    /// Exact distinct members.
    Distinct,
    /// Approximate distinct members.
    ApproxDistinct,
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Count => "count",
            Self::Sum => "sum",
            Self::Min => "min",
            Self::Max => "max",
            Self::Distinct => "distinct",
            Self::ApproxDistinct => "approx-distinct",
        })
    }
}

/// One metric of a rule, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSpec {
    /// Name, unique within the rule.
    pub name: String,
    /// How updates combine.
    pub aggregation: Aggregation,
    /// Window shapes, each with a distinct size.
    pub windows: Vec<WindowSpec>,
}

impl MetricSpec {
    /// A text that changes whenever the metric's definition does; state is
    /// kept across restarts and reloads only while it is unchanged.
    pub fn signature(&self) -> String {
        let windows: Vec<String> = self.windows.iter().map(ToString::to_string).collect();
        format!("{}|{}", self.aggregation, windows.join(","))
    }
}

/// A rule's manifest, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// Rule name.
    pub name: String,
    /// Rule version.
    pub version: String,
    /// Metrics in manifest order (updates refer to them by index).
    pub metrics: Vec<MetricSpec>,
}

/// Whether `name` is a valid rule or metric name: it appears in Redis keys.
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl RuleSpec {
    /// The metric with this name.
    pub fn metric(&self, name: &str) -> Option<&MetricSpec> {
        self.metrics.iter().find(|m| m.name == name)
    }
}
