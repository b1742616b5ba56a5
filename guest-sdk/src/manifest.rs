//! What a rule declares about itself: its name, version and metrics.

/// Seconds in a day, for day windows.
pub const DAY_SECS: u64 = 86_400;

/// How the host combines a metric's updates within one window and group.
#[derive(Debug, Clone, PartialEq)]
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
    /// Exact fixed-point sum with this many digits after the point (0 to 18).
    DecimalSum(u8),
    /// Mean, published with this many digits after the point.
    Avg(u8),
    /// These quantiles (each in (0, 1)), within 1%.
    Quantiles(Vec<f64>),
}

/// An alert on a metric: fired once per group and throttle interval of
/// event time when a window's value crosses the threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Fires when the value is above the threshold (`false`: below).
    pub above: bool,
    /// The threshold, as decimal text.
    pub threshold: String,
    /// At most one alert per group per this many seconds of window starts.
    pub throttle_secs: u64,
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
    /// Size of the sorted top-N kept next to each window (count, sum and
    /// decimal-sum).
    pub top: Option<u32>,
    /// The metric's alert.
    pub alert: Option<Alert>,
}

impl Metric {
    /// A metric with the given aggregation and no windows yet.
    pub fn new(name: impl Into<String>, aggregation: Aggregation) -> Self {
        Self {
            name: name.into(),
            aggregation,
            windows: Vec::new(),
            top: None,
            alert: None,
        }
    }

    /// A metric summing decimals exactly, `scale` digits after the point
    /// (`611795.34` at scale 2); feed it with `out.decimal` or `out.number`.
    pub fn decimal_sum(name: impl Into<String>, scale: u8) -> Self {
        Self::new(name, Aggregation::DecimalSum(scale))
    }

    /// A metric averaging its inputs, published with `scale` digits.
    pub fn avg(name: impl Into<String>, scale: u8) -> Self {
        Self::new(name, Aggregation::Avg(scale))
    }

    /// A metric publishing these quantiles of its inputs (`&[0.5, 0.99]`),
    /// each as its own metric `<name>_p50`, `<name>_p99`.
    pub fn quantiles(name: impl Into<String>, quantiles: &[f64]) -> Self {
        Self::new(name, Aggregation::Quantiles(quantiles.to_vec()))
    }

    /// Keeps a sorted set of the `n` largest groups next to each window.
    pub fn top(mut self, n: u32) -> Self {
        self.top = Some(n);
        self
    }

    /// Alerts when a window's value for a group is above `threshold`, at
    /// most once per group per `throttle_secs` of event time.
    pub fn alert_above(mut self, threshold: impl ToString, throttle_secs: u64) -> Self {
        self.alert = Some(Alert {
            above: true,
            threshold: threshold.to_string(),
            throttle_secs,
        });
        self
    }

    /// Alerts when a window's value for a group is below `threshold`.
    pub fn alert_below(mut self, threshold: impl ToString, throttle_secs: u64) -> Self {
        self.alert = Some(Alert {
            above: false,
            threshold: threshold.to_string(),
            throttle_secs,
        });
        self
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
    /// Where the rule's day windows start, as an offset in seconds from UTC
    /// midnight (-28800 = local midnight in UTC+8); the host's
    /// `[rules.<name>] day_offset_secs` overrides it.
    pub day_offset_secs: Option<i64>,
}

impl Manifest {
    /// A manifest with no metrics yet.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            metrics: Vec::new(),
            day_offset_secs: None,
        }
    }

    /// Starts the rule's day windows `secs` after UTC midnight (-28800:
    /// local midnight in UTC+8, i.e. minus the zone's offset east of UTC).
    pub fn day_offset_secs(mut self, secs: i64) -> Self {
        self.day_offset_secs = Some(secs);
        self
    }

    /// Adds a metric.
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metrics.push(metric);
        self
    }
}
