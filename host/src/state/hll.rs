//! Approximate distinct counting with a fixed-size HyperLogLog sketch.
//!
//! Where an exact [`DistinctSet`](super::distinct::DistinctSet) would cost
//! 10–15 bytes per member, a [`HyperLogLog`] costs a flat 16 KiB no matter
//! how many members it sees, for a standard error of about
//! 1.04 / √16384 ≈ 0.8%. Members are hashed with the same
//! [`hash_member`] as the exact set, so both agree on what a member is and
//! a checkpointed sketch stays valid across versions.

use std::fmt;

use super::distinct::{DecodeError, hash_member};

/// Number of hash bits that select a register.
///
/// 14 gives 16384 registers (16 KiB) and ≈0.8% standard error, the usual
/// balance between memory and accuracy for per-window counts.
pub const PRECISION: u8 = 14;

/// Number of one-byte registers, `2^PRECISION`.
pub const REGISTER_COUNT: usize = 1 << PRECISION;

/// Largest value a register can hold: one more than the hash bits left
/// after the register index (64 − 14 + 1).
pub const MAX_REGISTER: u8 = 64 - PRECISION + 1;

/// Version byte at the start of [`HyperLogLog::to_bytes`] output, so the
/// checkpoint format can change later without misreading old data.
pub const FORMAT_VERSION: u8 = 1;

/// Length of [`HyperLogLog::to_bytes`] output: version, precision, registers.
pub const ENCODED_LEN: usize = 2 + REGISTER_COUNT;

/// A HyperLogLog sketch (precision 14) for approximate distinct counts.
///
/// Each register keeps the largest "rank" (position of the first set bit)
/// seen among hashes routed to it; [`estimate`](Self::estimate) turns the
/// registers into a count. Sketches merge losslessly with
/// [`merge`](Self::merge), so per-partition or per-window sketches can be
/// combined, and serialise to a fixed [`ENCODED_LEN`] bytes for checkpoints.
#[derive(Clone)]
pub struct HyperLogLog {
    /// `REGISTER_COUNT` registers, each `0..=MAX_REGISTER`.
    registers: Box<[u8]>,
    /// Registers raised since [`take_changed`](Self::take_changed): what a
    /// partition adds to the sketch merged across partitions.
    changed: Vec<u16>,
}

/// Two sketches are equal when their registers are (what changed since a
/// checkpoint is bookkeeping, not content).
impl PartialEq for HyperLogLog {
    fn eq(&self, other: &Self) -> bool {
        self.registers == other.registers
    }
}

impl Eq for HyperLogLog {}

impl Default for HyperLogLog {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HyperLogLog {
    /// Summarises instead of printing 16384 registers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperLogLog")
            .field("precision", &PRECISION)
            .field("estimate", &self.estimate())
            .finish()
    }
}

impl HyperLogLog {
    /// Creates an empty sketch (all registers 0, estimate 0).
    #[must_use]
    pub fn new() -> Self {
        Self {
            registers: vec![0u8; REGISTER_COUNT].into_boxed_slice(),
            changed: Vec::new(),
        }
    }

    /// Adds a member by its bytes, hashed with [`hash_member`].
    pub fn insert(&mut self, member: &[u8]) {
        self.insert_hash(hash_member(member));
    }

    /// Adds a member by its 64-bit hash.
    ///
    /// The top [`PRECISION`] bits pick the register; the rank is the number
    /// of leading zeros in the remaining 50 bits plus one. Hashes should come
    /// from [`hash_member`] so they are uniform and match other sketches.
    pub fn insert_hash(&mut self, h: u64) {
        let index = (h >> (64 - PRECISION)) as usize;
        let rest = h << PRECISION;
        let rank = (rest.leading_zeros() as u8).min(MAX_REGISTER - 1) + 1;
        if let Some(r) = self.registers.get_mut(index)
            && *r < rank
        {
            *r = rank;
            self.changed.push(index as u16);
        }
    }

    /// Estimated number of distinct members inserted.
    ///
    /// The standard HyperLogLog estimate `α·m² / Σ 2^-M[j]`, switching to
    /// linear counting `m·ln(m / V)` (V = empty registers) while the raw
    /// estimate is at most 2.5·m, where linear counting is far more accurate.
    /// No large-range correction is needed with 64-bit hashes.
    #[must_use]
    pub fn estimate(&self) -> u64 {
        let mut ranks = [0u32; MAX_REGISTER as usize + 1];
        for &r in &self.registers {
            if let Some(count) = ranks.get_mut(usize::from(r)) {
                *count += 1;
            }
        }
        estimate_from_ranks(&ranks)
    }

    /// Takes the registers raised since the last call, as `(index, value)`
    /// triples of bytes (index big-endian), sorted and without repeats.
    pub fn take_changed(&mut self) -> Vec<u8> {
        let mut changed = std::mem::take(&mut self.changed);
        changed.sort_unstable();
        changed.dedup();
        let mut out = Vec::with_capacity(changed.len() * 3);
        for index in changed {
            out.extend_from_slice(&index.to_be_bytes());
            out.push(self.registers.get(usize::from(index)).copied().unwrap_or(0));
        }
        out
    }

    /// Folds `other` into `self`: afterwards `self` estimates the union.
    ///
    /// Register-wise maximum, which is exactly the sketch of the union of
    /// both inputs — merging loses nothing.
    pub fn merge(&mut self, other: &HyperLogLog) {
        for (index, (a, &b)) in self
            .registers
            .iter_mut()
            .zip(other.registers.iter())
            .enumerate()
        {
            if *a < b {
                *a = b;
                self.changed.push(index as u16);
            }
        }
    }

    /// Serialises the sketch for a checkpoint.
    ///
    /// Layout: [`FORMAT_VERSION`], [`PRECISION`], then the 16384 registers —
    /// always [`ENCODED_LEN`] bytes, independent of machine endianness.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_LEN);
        out.push(FORMAT_VERSION);
        out.push(PRECISION);
        out.extend_from_slice(&self.registers);
        out
    }

    /// Restores a sketch written by [`to_bytes`](Self::to_bytes).
    ///
    /// Validates length, header and every register, returning a
    /// [`DecodeError`] instead of panicking or accepting a corrupt sketch
    /// that would skew every later estimate.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() != ENCODED_LEN {
            return Err(DecodeError::HllLength {
                len: bytes.len(),
                expected: ENCODED_LEN,
            });
        }
        let (header, registers) = bytes.split_at(2);
        if header != [FORMAT_VERSION, PRECISION] {
            return Err(DecodeError::HllHeader {
                version: header.first().copied().unwrap_or(0),
                precision: header.get(1).copied().unwrap_or(0),
                expected_version: FORMAT_VERSION,
                expected_precision: PRECISION,
            });
        }
        if let Some((index, &value)) = registers
            .iter()
            .enumerate()
            .find(|&(_, &r)| r > MAX_REGISTER)
        {
            return Err(DecodeError::HllRegister {
                index,
                value,
                max: MAX_REGISTER,
            });
        }
        Ok(Self {
            registers: registers.into(),
            changed: Vec::new(),
        })
    }

    /// Heap bytes owned by the sketch (16384 plus the changed list), for
    /// memory accounting.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.registers.len() + self.changed.capacity() * size_of::<u16>()
    }
}

/// The estimate of a sketch from how many registers hold each value
/// (`ranks[r]` = registers equal to `r`). Summing by value, in value order,
/// makes the result independent of where the registers live: the merged
/// sketch of a partitioned source, kept in Redis by a Lua script that does
/// the same arithmetic (`sink::merge`), gets the same estimate as one
/// sketch in memory.
pub fn estimate_from_ranks(ranks: &[u32]) -> u64 {
    let m = REGISTER_COUNT as f64;
    let mut sum = 0.0f64;
    for (rank, &count) in ranks.iter().enumerate() {
        if count > 0 {
            sum += f64::from(count) * f64::exp2(-(rank as f64));
        }
    }
    let zeros = ranks.first().copied().unwrap_or(0);
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let raw = alpha * m * m / sum;
    let est = if raw <= 2.5 * m && zeros > 0 {
        m * (m / f64::from(zeros)).ln()
    } else {
        raw
    };
    (est + 0.5).floor() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relative_error(estimate: u64, truth: u64) -> f64 {
        (estimate as f64 - truth as f64).abs() / truth as f64
    }

    fn sketch_of(range: std::ops::Range<u64>) -> HyperLogLog {
        let mut hll = HyperLogLog::new();
        for i in range {
            hll.insert(format!("user-{i}").as_bytes());
        }
        hll
    }

    #[test]
    fn empty_and_tiny() {
        let mut hll = HyperLogLog::default();
        assert_eq!(hll.estimate(), 0);
        hll.insert(b"a");
        hll.insert(b"a");
        assert_eq!(hll.estimate(), 1);
        assert!(format!("{hll:?}").contains("estimate: 1"));
    }

    #[test]
    fn small_counts_are_nearly_exact() {
        for n in [10u64, 100, 1000, 5000] {
            let est = sketch_of(0..n).estimate();
            assert!(relative_error(est, n) <= 0.02, "n = {n}, estimate {est}");
        }
    }

    #[test]
    fn one_million_within_three_percent() {
        let n = 1_000_000;
        let est = sketch_of(0..n).estimate();
        assert!(relative_error(est, n) <= 0.03, "estimate {est}");
    }

    #[test]
    fn duplicates_do_not_count() {
        let mut hll = sketch_of(0..10_000);
        let before = hll.estimate();
        for i in 0..10_000u64 {
            hll.insert(format!("user-{i}").as_bytes());
        }
        assert_eq!(hll.estimate(), before);
    }

    #[test]
    fn extreme_hashes() {
        let mut hll = HyperLogLog::new();
        hll.insert_hash(0);
        hll.insert_hash(u64::MAX);
        hll.insert_hash(1);
        assert!(hll.registers.iter().all(|&r| r <= MAX_REGISTER));
        assert_eq!(hll.registers[0], MAX_REGISTER);
        assert_eq!(hll.registers[REGISTER_COUNT - 1], 1);
        assert!(HyperLogLog::from_bytes(&hll.to_bytes()).is_ok());
    }

    #[test]
    fn merge_equals_sketch_of_union() {
        let mut a = sketch_of(0..60_000);
        let b = sketch_of(40_000..100_000);
        a.merge(&b);
        assert_eq!(a, sketch_of(0..100_000));
        assert!(relative_error(a.estimate(), 100_000) <= 0.03);

        let snapshot = a.clone();
        a.merge(&HyperLogLog::new());
        a.merge(&snapshot);
        assert_eq!(a, snapshot);
    }

    #[test]
    fn bytes_roundtrip() {
        let hll = sketch_of(0..50_000);
        let bytes = hll.to_bytes();
        assert_eq!(bytes.len(), ENCODED_LEN);
        assert_eq!(&bytes[..2], &[FORMAT_VERSION, PRECISION]);
        let back = HyperLogLog::from_bytes(&bytes).unwrap();
        assert_eq!(back, hll);
        assert_eq!(back.estimate(), hll.estimate());

        let empty = HyperLogLog::from_bytes(&HyperLogLog::new().to_bytes()).unwrap();
        assert_eq!(empty.estimate(), 0);
    }

    #[test]
    fn from_bytes_rejects_bad_length() {
        for len in [0, 1, 2, ENCODED_LEN - 1, ENCODED_LEN + 1, REGISTER_COUNT] {
            let err = HyperLogLog::from_bytes(&vec![0u8; len]).unwrap_err();
            assert_eq!(
                err,
                DecodeError::HllLength {
                    len,
                    expected: ENCODED_LEN
                }
            );
        }
    }

    #[test]
    fn from_bytes_rejects_bad_header_and_registers() {
        let good = HyperLogLog::new().to_bytes();

        let mut bad_version = good.clone();
        bad_version[0] = 9;
        assert!(matches!(
            HyperLogLog::from_bytes(&bad_version),
            Err(DecodeError::HllHeader { version: 9, .. })
        ));

        let mut bad_precision = good.clone();
        bad_precision[1] = 12;
        assert!(matches!(
            HyperLogLog::from_bytes(&bad_precision),
            Err(DecodeError::HllHeader { precision: 12, .. })
        ));

        let mut bad_register = good;
        bad_register[2 + 77] = MAX_REGISTER + 1;
        let err = HyperLogLog::from_bytes(&bad_register).unwrap_err();
        assert_eq!(
            err,
            DecodeError::HllRegister {
                index: 77,
                value: MAX_REGISTER + 1,
                max: MAX_REGISTER
            }
        );
        assert!(!err.to_string().is_empty());
    }

    #[test]
    fn heap_bytes_is_fixed_between_checkpoints() {
        assert_eq!(HyperLogLog::new().heap_bytes(), REGISTER_COUNT);
        let mut sketch = sketch_of(0..100_000);
        assert!(
            sketch.heap_bytes() > REGISTER_COUNT,
            "raised registers are listed"
        );
        let changed = sketch.take_changed();
        assert_eq!(sketch.heap_bytes(), REGISTER_COUNT);
        // Every register raised once at least, listed once, in order.
        let indexes: Vec<u16> = changed
            .chunks(3)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        assert!(indexes.windows(2).all(|w| w[0] < w[1]));
        assert!(indexes.len() > REGISTER_COUNT * 9 / 10);
        assert!(sketch.take_changed().is_empty());
    }
}
