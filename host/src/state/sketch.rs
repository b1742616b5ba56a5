//! A quantile sketch with bounded relative error (DDSketch, Masson et al.,
//! VLDB 2019): values fall into logarithmic buckets, bucket `i` holding
//! (γ^(i-1), γ^i] with γ = (1 + α)/(1 − α), and a quantile is read as the
//! bucket's midpoint 2γ^i/(γ + 1), within α = 1% of the true value.
//!
//! Sketches merge by adding bucket counts, so lanes merge exactly in Redis:
//! the merge script (`sink::merge`) computes quantiles from merged buckets
//! with the same formula, the same rank and the same rendering
//! ([`render_g6`] ≡ C's `%.6g`), so one lane and N lanes publish the same.

use std::collections::BTreeMap;

use crate::model::QuantileSet;

/// Relative accuracy.
pub const ALPHA: f64 = 0.01;

/// γ = (1 + α)/(1 − α), computed as the merge script does.
pub fn gamma() -> f64 {
    (1.0 + ALPHA) / (1.0 - ALPHA)
}

/// Which bucket map a value falls in, and its index there; the field name
/// in the merge state is `p<i>`, `n<i>` or `z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bucket {
    /// A negative value, by the bucket of its magnitude.
    Negative(i32),
    /// Zero (and magnitudes too small for a bucket).
    Zero,
    /// A positive value.
    Positive(i32),
}

impl Bucket {
    /// The bucket of `x` (finite).
    pub fn of(x: f64) -> Self {
        let magnitude = x.abs();
        if magnitude < 1e-300 {
            return Self::Zero;
        }
        let index = (magnitude.ln() / gamma().ln()).ceil() as i32;
        if x < 0.0 {
            Self::Negative(index)
        } else {
            Self::Positive(index)
        }
    }

    /// The field name in the merge state.
    pub fn field(self) -> String {
        match self {
            Self::Negative(i) => format!("n{i}"),
            Self::Zero => "z".to_owned(),
            Self::Positive(i) => format!("p{i}"),
        }
    }

    /// Parses a field name written by [`Bucket::field`].
    pub fn from_field(field: &str) -> Option<Self> {
        match field.split_at_checked(1)? {
            ("z", "") => Some(Self::Zero),
            ("n", i) => i.parse().ok().map(Self::Negative),
            ("p", i) => i.parse().ok().map(Self::Positive),
            _ => None,
        }
    }

    /// The value the bucket stands for.
    fn value(self) -> f64 {
        let mid = |i: i32| 2.0 * gamma().powf(f64::from(i)) / (gamma() + 1.0);
        match self {
            Self::Negative(i) => -mid(i),
            Self::Zero => 0.0,
            Self::Positive(i) => mid(i),
        }
    }

    /// Position in value order: negatives by falling magnitude, zero, positives.
    fn order(self) -> (i8, i64) {
        match self {
            Self::Negative(i) => (0, -i64::from(i)),
            Self::Zero => (1, 0),
            Self::Positive(i) => (2, i64::from(i)),
        }
    }
}

/// One group's sketch, and the bucket counts added since the last
/// checkpoint (what a lane merges into the cross-lane buckets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    buckets: BTreeMap<Bucket, u64>,
    fresh: BTreeMap<Bucket, u64>,
}

impl Sketch {
    /// Adds a value.
    pub fn insert(&mut self, x: f64) {
        let bucket = Bucket::of(x);
        *self.buckets.entry(bucket).or_default() += 1;
        *self.fresh.entry(bucket).or_default() += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        for (&bucket, &count) in &other.buckets {
            *self.buckets.entry(bucket).or_default() += count;
            *self.fresh.entry(bucket).or_default() += count;
        }
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.buckets.values().sum()
    }

    /// The bucket counts, for checkpoints.
    pub fn buckets(&self) -> impl Iterator<Item = (Bucket, u64)> + '_ {
        self.buckets.iter().map(|(&b, &c)| (b, c))
    }

    /// A sketch restored from a checkpoint (nothing fresh).
    pub fn from_buckets(buckets: impl IntoIterator<Item = (Bucket, u64)>) -> Self {
        Self {
            buckets: buckets.into_iter().collect(),
            fresh: BTreeMap::new(),
        }
    }

    /// Takes the counts added since the last call.
    pub fn take_fresh(&mut self) -> Vec<(Bucket, u64)> {
        std::mem::take(&mut self.fresh).into_iter().collect()
    }

    /// Forgets what was added (a pane whose counts are not merged).
    pub fn clear_fresh(&mut self) {
        self.fresh.clear();
    }

    /// The quantile `ppm`/10^6: the value of the bucket holding the value of
    /// rank ⌊q·(n − 1)⌋ (0-based), walking buckets in value order.
    pub fn quantile(&self, ppm: u32) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = u128::from(ppm) * u128::from(n - 1) / 1_000_000;
        let mut ordered: Vec<(Bucket, u64)> = self.buckets().collect();
        ordered.sort_by_key(|(bucket, _)| bucket.order());
        let mut seen: u128 = 0;
        for (bucket, count) in ordered {
            seen += u128::from(count);
            if seen > rank {
                return Some(bucket.value());
            }
        }
        None
    }

    /// Every quantile of `set`, rendered, in the set's order.
    pub fn render(&self, set: QuantileSet) -> Vec<String> {
        set.ppm()
            .iter()
            .map(|&ppm| self.quantile(ppm).map(render_g6).unwrap_or_default())
            .collect()
    }
}

/// `x` as C's `printf("%.6g")` writes it (six significant digits, trailing
/// zeros dropped, an exponent below 1e-4 and from 1e6), which is what the
/// merge script's `string.format('%.6g')` writes.
pub fn render_g6(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    let sci = format!("{x:.5e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim(mantissa.to_owned()), exp.abs());
    }
    trim(format!("{x:.prec$}", prec = (5 - exp) as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_one_percent() {
        let mut sketch = Sketch::default();
        let values: Vec<f64> = (1..=10_000).map(|i| f64::from(i) * 0.37).collect();
        for &x in &values {
            sketch.insert(x);
        }
        for ppm in [500_000, 750_000, 990_000, 999_000] {
            let rank = (u64::from(ppm) * 9_999 / 1_000_000) as usize;
            let exact = values[rank];
            let got = sketch.quantile(ppm).unwrap();
            assert!(
                (got - exact).abs() <= 0.01 * exact,
                "q{ppm}: {got} vs {exact}"
            );
        }
        let mut mixed = Sketch::default();
        for x in [-5.0, -1.0, 0.0, 2.0, 3.0] {
            mixed.insert(x);
        }
        assert!((mixed.quantile(0).unwrap() + 5.0).abs() < 0.05);
        assert_eq!(mixed.quantile(500_000), Some(0.0));
    }

    #[test]
    fn merged_sketches_equal_one_sketch() {
        let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        for i in 0..1000 {
            let x = f64::from(i % 97) + 0.5;
            if i % 3 == 0 {
                a.insert(x)
            } else {
                b.insert(x)
            }
            all.insert(x);
        }
        a.merge(&b);
        assert_eq!(a.quantile(990_000), all.quantile(990_000));
        assert_eq!(
            Bucket::from_field(&Bucket::Negative(-3).field()),
            Some(Bucket::Negative(-3))
        );
    }

    #[test]
    fn rendering_matches_printf_g6() {
        assert_eq!(render_g6(37.508_712), "37.5087");
        assert_eq!(render_g6(100.0), "100");
        assert_eq!(render_g6(1_234_567.0), "1.23457e+06");
        assert_eq!(render_g6(0.000_012_345_67), "1.23457e-05");
        assert_eq!(render_g6(0.5), "0.5");
        assert_eq!(render_g6(-2.25), "-2.25");
    }
}
