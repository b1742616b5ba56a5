//! One group's aggregate within one window.

use super::decimal::{format_units, mean_units};
use super::distinct::{DistinctSet, hash_member};
use super::hll::HyperLogLog;
use super::sketch::Sketch;
use crate::model::{Aggregation, QuantileSet};

/// The running value of one group in one window.
#[derive(Debug, Clone)]
pub enum Aggregate {
    /// Number of updates.
    Count(u64),
    /// Sum of numbers.
    Sum(f64),
    /// Smallest number so far (`+inf` before any).
    Min(f64),
    /// Largest number so far (`-inf` before any).
    Max(f64),
    /// Exact distinct members, as 64-bit hashes.
    Distinct(DistinctSet),
    /// Approximate distinct members.
    ApproxDistinct(Box<HyperLogLog>),
    /// Exact sum in units of 10^-scale.
    Decimal {
        /// The sum.
        units: i128,
        /// Digits after the point.
        scale: u8,
    },
    /// Exact sum and count, published as their mean.
    Avg {
        /// The sum in units of 10^-scale.
        units: i128,
        /// Number of values.
        count: u64,
        /// Digits after the point.
        scale: u8,
    },
    /// A quantile sketch.
    Quantiles(Box<Sketch>, QuantileSet),
}

/// What one update contributes, resolved from the rule's measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Contribution {
    /// One occurrence.
    One,
    /// A number.
    Number(f64),
    /// A member's hash.
    Member(u64),
    /// A decimal in units of 10^-scale of the metric.
    Units(i128),
}

impl Contribution {
    /// Hashes a member.
    pub fn member(member: &str) -> Self {
        Self::Member(hash_member(member.as_bytes()))
    }
}

impl Aggregate {
    /// The empty aggregate of a kind.
    pub fn empty(kind: Aggregation) -> Self {
        match kind {
            Aggregation::Count => Self::Count(0),
            Aggregation::Sum => Self::Sum(0.0),
            Aggregation::Min => Self::Min(f64::INFINITY),
            Aggregation::Max => Self::Max(f64::NEG_INFINITY),
            Aggregation::Distinct => Self::Distinct(DistinctSet::new()),
            Aggregation::ApproxDistinct => Self::ApproxDistinct(Box::default()),
            Aggregation::DecimalSum { scale } => Self::Decimal { units: 0, scale },
            Aggregation::Avg { scale } => Self::Avg {
                units: 0,
                count: 0,
                scale,
            },
            Aggregation::Quantiles(set) => Self::Quantiles(Box::default(), set),
        }
    }

    /// The empty aggregate of a kind, an exact distinct set with room for
    /// `members` without growing (other kinds ignore it).
    pub fn with_capacity(kind: Aggregation, members: usize) -> Self {
        match kind {
            Aggregation::Distinct => Self::Distinct(DistinctSet::with_capacity(members)),
            _ => Self::empty(kind),
        }
    }

    /// Adds a contribution; returns whether the value may have changed.
    /// A contribution of the wrong shape (a member for a sum) is ignored and
    /// reported as unchanged; the caller counts it as a mismatch.
    pub fn add(&mut self, contribution: Contribution) -> Result<bool, Mismatch> {
        match (self, contribution) {
            (Self::Count(n), _) => {
                *n += 1;
                Ok(true)
            }
            (Self::Sum(sum), Contribution::Number(x)) => {
                *sum += x;
                Ok(true)
            }
            (Self::Min(min), Contribution::Number(x)) => {
                let changed = x < *min;
                *min = min.min(x);
                Ok(changed)
            }
            (Self::Max(max), Contribution::Number(x)) => {
                let changed = x > *max;
                *max = max.max(x);
                Ok(changed)
            }
            (Self::Distinct(set), Contribution::Member(h)) => Ok(set.insert_hash(h)),
            (Self::ApproxDistinct(hll), Contribution::Member(h)) => {
                hll.insert_hash(h);
                Ok(true)
            }
            (Self::Decimal { units, .. }, Contribution::Units(x)) => {
                *units = units.checked_add(x).ok_or(Mismatch)?;
                Ok(x != 0)
            }
            (Self::Avg { units, count, .. }, Contribution::Units(x)) => {
                *units = units.checked_add(x).ok_or(Mismatch)?;
                *count += 1;
                Ok(true)
            }
            (Self::Quantiles(sketch, _), Contribution::Number(x)) => {
                sketch.insert(x);
                Ok(true)
            }
            _ => Err(Mismatch),
        }
    }

    /// Folds another aggregate of the same kind into this one (a cumulative
    /// window absorbing a closed step pane).
    pub fn merge(&mut self, other: &Aggregate) {
        match (self, other) {
            (Self::Count(a), Self::Count(b)) => *a += b,
            (Self::Sum(a), Self::Sum(b)) => *a += b,
            (Self::Min(a), Self::Min(b)) => *a = a.min(*b),
            (Self::Max(a), Self::Max(b)) => *a = a.max(*b),
            (Self::Distinct(a), Self::Distinct(b)) => a.merge(b),
            (Self::ApproxDistinct(a), Self::ApproxDistinct(b)) => a.merge(b),
            (Self::Decimal { units: a, .. }, Self::Decimal { units: b, .. }) => {
                *a = a.saturating_add(*b);
            }
            (
                Self::Avg {
                    units: a, count: n, ..
                },
                Self::Avg {
                    units: b, count: m, ..
                },
            ) => {
                *a = a.saturating_add(*b);
                *n += m;
            }
            (Self::Quantiles(a, _), Self::Quantiles(b, _)) => a.merge(b),
            _ => {}
        }
    }

    /// Adds a lane's change (see [`Delta`]) to this merged aggregate.
    pub fn absorb(&mut self, delta: &Delta) {
        match (self, delta) {
            (Self::Decimal { units, .. }, Delta::Units(x)) => *units = units.saturating_add(*x),
            (Self::Avg { units, count, .. }, Delta::Mean { units: u, count: n }) => {
                *units = units.saturating_add(*u);
                *count += n;
            }
            (Self::Quantiles(sketch, _), Delta::Buckets(buckets)) => {
                sketch.merge(&Sketch::from_buckets(buckets.iter().copied()));
            }
            _ => {}
        }
    }

    /// A count, sum, min or max as a number (`None` for distinct counts,
    /// and for a min or max without values).
    pub fn number(&self) -> Option<f64> {
        match self {
            Self::Count(n) => Some(*n as f64),
            Self::Sum(x) | Self::Min(x) | Self::Max(x) => x.is_finite().then_some(*x),
            Self::Distinct(_)
            | Self::ApproxDistinct(_)
            | Self::Decimal { .. }
            | Self::Avg { .. }
            | Self::Quantiles(..) => None,
        }
    }

    /// The value as the decimal string written to Redis.
    pub fn render(&self) -> String {
        match self {
            Self::Count(n) => n.to_string(),
            Self::Sum(x) | Self::Min(x) | Self::Max(x) => render_number(*x),
            Self::Distinct(set) => set.len().to_string(),
            Self::ApproxDistinct(hll) => hll.estimate().to_string(),
            Self::Decimal { units, scale } => format_units(*units, *scale),
            Self::Avg {
                units,
                count,
                scale,
            } => mean_units(*units, *count)
                .map(|mean| format_units(mean, *scale))
                .unwrap_or_default(),
            // Each quantile has its own output; see `Aggregate::quantiles`.
            Self::Quantiles(sketch, set) => sketch.render(*set).join(","),
        }
    }

    /// Each quantile's rendered value, in the metric's order (empty for
    /// other aggregations).
    pub fn quantiles(&self) -> Vec<String> {
        match self {
            Self::Quantiles(sketch, set) => sketch.render(*set),
            _ => Vec::new(),
        }
    }
}

/// Shortest decimal that reads back as the same number; integral values
/// have no fraction (`34`, not `34.0`).
fn render_number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// What a lane adds to the value merged across lanes, for the
/// aggregations of contract 0.2.0 (counts, sums, min and max merge as
/// numbers; distinct counts by members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    /// A decimal sum's change, in units.
    Units(i128),
    /// A mean's change: sum units and count.
    Mean {
        /// Change of the sum, in units.
        units: i128,
        /// Change of the count.
        count: u64,
    },
    /// Bucket counts added to a quantile sketch.
    Buckets(Vec<(super::sketch::Bucket, u64)>),
}

/// A measure of the wrong shape for the metric's aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_render_as_decimals() {
        let mut sum = Aggregate::empty(Aggregation::Sum);
        sum.add(Contribution::Number(33.8)).unwrap();
        sum.add(Contribution::Number(1.2)).unwrap();
        assert_eq!(sum.render(), "35");
        let mut min = Aggregate::empty(Aggregation::Min);
        assert_eq!(min.add(Contribution::Number(2.5)), Ok(true));
        assert_eq!(min.add(Contribution::Number(3.0)), Ok(false));
        assert_eq!(min.render(), "2.5");
        let mut uv = Aggregate::empty(Aggregation::Distinct);
        for ip in ["a", "b", "a"] {
            uv.add(Contribution::member(ip)).unwrap();
        }
        assert_eq!(uv.render(), "2");
        assert_eq!(uv.add(Contribution::Number(1.0)), Err(Mismatch));
    }
}
