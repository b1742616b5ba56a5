//! What a rule declares about itself: its name, version and metrics.

/// Seconds in a day, for day windows.
pub const DAY_SECS: u64 = 86_400;

/// How the host combines a metric's updates within one window and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Number of updates.
    Count,
    /// Sum of numbers.
    Sum,
    /// Smallest number.
    Min,
    /// Largest number.
    Max,
    /// Exact number of distinct members.
    Distinct,
    /// Approximate number of distinct members (HyperLogLog).
    ApproxDistinct,
}

/// A window of event time a metric is kept for; sizes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Back-to-back windows of this many seconds.
    Tumbling(u64),
    /// Windows of `size_secs`, one starting every `hop_secs`.
    Hopping {
        /// Window length in seconds.
        size_secs: u64,
        /// Distance between window starts in seconds.
        hop_secs: u64,
    },
    /// A window of `size_secs` whose value so far is published every `step_secs`.
    Cumulative {
        /// Whole window length in seconds.
        size_secs: u64,
        /// Publication step in seconds.
        step_secs: u64,
    },
}

/// One metric a rule produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Name, unique within the rule.
    pub name: String,
    /// How updates combine.
    pub aggregation: Aggregation,
    /// Windows the metric is kept for.
    pub windows: Vec<Window>,
}

impl Metric {
    /// A metric with the given aggregation and no windows yet.
    pub fn new(name: impl Into<String>, aggregation: Aggregation) -> Self {
        Self {
            name: name.into(),
            aggregation,
            windows: Vec::new(),
        }
    }

    /// A metric counting updates.
    pub fn count(name: impl Into<String>) -> Self {
        Self::new(name, Aggregation::Count)
    }

    /// A metric summing numbers.
    pub fn sum(name: impl Into<String>) -> Self {
        Self::new(name, Aggregation::Sum)
    }

    /// A metric keeping the smallest number.
    pub fn min(name: impl Into<String>) -> Self {
        Self::new(name, Aggregation::Min)
    }

    /// A metric keeping the largest number.
    pub fn max(name: impl Into<String>) -> Self {
        Self::new(name, Aggregation::Max)
    }

    /// A metric counting distinct members exactly.
    pub fn distinct(name: impl Into<String>) -> Self {
        Self::new(name, Aggregation::Distinct)
    }

    /// A metric counting distinct members approximately, in fixed memory.
    pub fn approx_distinct(name: impl Into<String>) -> Self {
        Self::new(name, Aggregation::ApproxDistinct)
    }

    /// Adds back-to-back windows of `size_secs`.
    pub fn tumbling(mut self, size_secs: u64) -> Self {
        self.windows.push(Window::Tumbling(size_secs));
        self
    }

    /// Adds overlapping windows of `size_secs`, one every `hop_secs`.
    pub fn hopping(mut self, size_secs: u64, hop_secs: u64) -> Self {
        self.windows.push(Window::Hopping {
            size_secs,
            hop_secs,
        });
        self
    }

    /// Adds a window of `size_secs` whose value so far is published every `step_secs`.
    pub fn cumulative(mut self, size_secs: u64, step_secs: u64) -> Self {
        self.windows.push(Window::Cumulative {
            size_secs,
            step_secs,
        });
        self
    }
}

/// A rule's description: read by the host once per load.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Rule name, unique among loaded rules (`[a-z0-9_-]`).
    pub name: String,
    /// Version shown in logs and status.
    pub version: String,
    /// The metrics, in the order updates refer to them.
    pub metrics: Vec<Metric>,
}

impl Manifest {
    /// A manifest with no metrics yet.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            metrics: Vec::new(),
        }
    }

    /// Adds a metric.
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metrics.push(metric);
        self
    }
}
