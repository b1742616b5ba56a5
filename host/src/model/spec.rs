//! A rule's checked manifest: its metrics, how they aggregate and the
//! windows they are kept for. What every part of the host relies on about a
//! rule, with no tie to how the rule runs.

use std::fmt;

use super::window::WindowSpec;

/// How a metric's updates combine (the contract's aggregation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregation {
    /// Exact fixed-point sum with `scale` digits after the point.
    DecimalSum {
        /// Digits after the point, 0..=18.
        scale: u8,
    },
    /// Mean, published with `scale` digits after the point.
    Avg {
        /// Digits after the point, 0..=18.
        scale: u8,
    },
    /// Quantiles from a log-bucket sketch.
    Quantiles(QuantileSet),
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
            Self::DecimalSum { scale } => return write!(f, "decimal-sum({scale})"),
            Self::Avg { scale } => return write!(f, "avg({scale})"),
            Self::Quantiles(set) => return write!(f, "quantiles({set})"),
        })
    }
}

impl Aggregation {
    /// Whether a sorted top-N can be kept for the metric: its values grow
    /// with its inputs (count, sum, decimal-sum).
    pub fn can_rank(self) -> bool {
        matches!(self, Self::Count | Self::Sum | Self::DecimalSum { .. })
    }
}

/// Most quantiles one metric may ask for.
pub const MAX_QUANTILES: usize = 8;

/// The quantiles a metric publishes, in parts per million (0.5 → 500000),
/// so that the set is `Copy` and compares exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuantileSet {
    len: u8,
    ppm: [u32; MAX_QUANTILES],
}

impl QuantileSet {
    /// The set of `quantiles`; each must be in (0, 1) with at most six
    /// digits after the point, and there must be 1 to [`MAX_QUANTILES`].
    pub fn new(quantiles: &[f64]) -> Result<Self, String> {
        if quantiles.is_empty() || quantiles.len() > MAX_QUANTILES {
            return Err(format!(
                "quantiles needs 1 to {MAX_QUANTILES} values (found {})",
                quantiles.len()
            ));
        }
        let mut ppm = [0; MAX_QUANTILES];
        for (slot, &q) in ppm.iter_mut().zip(quantiles) {
            let scaled = (q * 1e6).round();
            if !(q > 0.0 && q < 1.0) || (q * 1e6 - scaled).abs() > 1e-6 {
                return Err(format!(
                    "quantile {q} must be between 0 and 1 (exclusive) with at most 6 digits after the point"
                ));
            }
            *slot = scaled as u32;
        }
        let set = Self {
            len: quantiles.len() as u8,
            ppm,
        };
        let mut sorted: Vec<u32> = set.ppm().to_vec();
        sorted.dedup();
        if sorted.len() != set.ppm().len() {
            return Err("a quantile is listed twice".to_owned());
        }
        Ok(set)
    }

    /// The quantiles in parts per million, in manifest order.
    pub fn ppm(&self) -> &[u32] {
        &self.ppm[..self.len as usize]
    }

    /// The quantiles as fractions.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.ppm().iter().map(|&ppm| f64::from(ppm) / 1e6)
    }

    /// The suffix of each quantile's published metric: `_p50`, `_p75`,
    /// `_p99`, `_p99_9` (q × 100, `.` written `_`, no trailing zeros).
    pub fn suffixes(&self) -> Vec<String> {
        self.ppm()
            .iter()
            .map(|&ppm| {
                let whole = ppm / 10_000;
                let fraction = format!("{:04}", ppm % 10_000);
                let fraction = fraction.trim_end_matches('0');
                if fraction.is_empty() {
                    format!("_p{whole}")
                } else {
                    format!("_p{whole}_{fraction}")
                }
            })
            .collect()
    }
}

impl fmt::Display for QuantileSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values: Vec<String> = self.values().map(|q| q.to_string()).collect();
        f.write_str(&values.join(","))
    }
}

/// An alert on a metric (contract 0.2.0): fired once per group and throttle
/// bucket of window starts, when a value crosses the threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSpec {
    /// Fires above the threshold (`false`: below).
    pub above: bool,
    /// The threshold as decimal text, as written in the manifest.
    pub threshold: String,
    /// Throttle interval of event time, seconds (≥ 1).
    pub throttle_secs: u64,
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
    /// Size of the sorted top-N kept next to each output window.
    pub top: Option<u32>,
    /// The metric's alert.
    pub alert: Option<AlertSpec>,
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
    /// The rule's own day alignment (contract 0.2.0), as `[windows]
    /// day_offset_secs`: an offset from UTC midnight.
    pub day_offset_secs: Option<i64>,
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
