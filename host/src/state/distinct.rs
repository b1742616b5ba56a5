//! Exact distinct counting over 64-bit member hashes.
//!
//! A [`DistinctSet`] never stores member bytes. Each member is reduced to a
//! 64-bit hash with [`hash_member`], and only the hash goes into an
//! open-addressing table (linear probing). That keeps the cost per member at
//! 8 bytes of slot plus load-factor slack — 9.4 to 12 bytes of heap per
//! member in a large set, no matter how long the members are — which is
//! what lets one set per window × group stay affordable.
//!
//! # Collision bound
//!
//! "Exact" means exact up to hash collisions. Two distinct members that share
//! a hash are counted once, so with `n` distinct members the probability that
//! the count is off at all is the birthday bound
//!
//! ```text
//! P(any two distinct members share a hash) ≈ n² / 2^65
//! ```
//!
//! which is about 2.7e-8 at one million members and 2.7e-4 at one hundred
//! million. The error is one-sided: a collision can only merge two members,
//! so the count can be *under* the truth by the number of collisions but is
//! never *over* it. The bound includes the remapping of hash value 0 (see
//! [`ZERO_HASH_REPLACEMENT`]): it merges two of the 2^64 hash values, which
//! only matters if one member hashes to 0 and another to the replacement —
//! negligible next to n² / 2^65.
//!
//! # Checkpoints
//!
//! Hashes, not members, are what gets checkpointed (to Redis), so
//! [`hash_member`] is part of the persisted format and must never change.
//! [`DistinctSet::take_new_hashes`] hands out only the hashes added since the
//! previous call so checkpoints can be incremental, and [`encode_hashes`] /
//! [`decode_hashes`] define the byte form of a list of hashes.
//!
//! (Over 400 lines on purpose: the set, its hashing and its checkpoint
//! encoding are one design, read together; the tests are in `tests.rs`.)

use std::fmt;

/// Seed for [`hash_member`]: the ASCII bytes `weir_dst`.
///
/// It is part of the checkpoint format. Changing it would make every hash
/// already stored in Redis disagree with freshly computed ones, so restored
/// sets would double-count members; it must stay fixed across versions.
pub const HASH_SEED: u64 = 0x7765_6972_5f64_7374;

/// Value stored in place of a member hash of 0.
///
/// Slot value 0 marks an empty slot, so a hash of 0 cannot be stored as is.
/// It is replaced by this constant, which merges the hash values 0 and
/// `ZERO_HASH_REPLACEMENT` into one (part of the collision bound in the
/// module docs). Replaced values are what [`DistinctSet::iter_hashes`]
/// yields and what checkpoints hold, so the constant must stay fixed across
/// versions.
pub const ZERO_HASH_REPLACEMENT: u64 = 0x9E37_79B9_7F4A_7C15;

/// Odd multiplier that scrambles a hash before range reduction.
///
/// Multiplication by an odd constant is a bijection on `u64`, so it adds no
/// collisions, but it spreads the high bits of structured inputs (such as
/// small or sequential values given to [`DistinctSet::insert_hash`]) that
/// would otherwise all land in slot 0 under multiply-high reduction.
const SLOT_MIX: u64 = 0xBF58_476D_1CE4_E5B9;

/// Capacity of the first table, allocated on the first insert.
const MIN_CAPACITY: usize = 8;

/// Hashes a member for [`DistinctSet`] and the HyperLogLog sketch.
///
/// Uses XXH3-64 with the fixed seed [`HASH_SEED`]. The result is stable
/// across processes, machines and versions of this program — it must be,
/// because hashes are checkpointed to Redis and compared with hashes
/// computed after a restart. A golden-value test pins it.
#[must_use]
pub fn hash_member(member: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(member, HASH_SEED)
}

/// Why a checkpointed distinct-count state could not be decoded.
///
/// Shared by [`decode_hashes`] and the HyperLogLog decoder so callers that
/// restore either kind of state handle one error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A hash list was not a whole number of 8-byte hashes.
    #[error("hash list is {len} bytes, not a multiple of 8")]
    HashListLength {
        /// Length of the rejected input in bytes.
        len: usize,
    },
    /// A HyperLogLog encoding had the wrong total length.
    #[error("HyperLogLog encoding is {len} bytes, expected {expected}")]
    HllLength {
        /// Length of the rejected input in bytes.
        len: usize,
        /// Length this version writes and accepts.
        expected: usize,
    },
    /// A HyperLogLog encoding had an unknown format version or precision.
    #[error(
        "HyperLogLog header has format version {version} and precision {precision}, \
         expected version {expected_version} and precision {expected_precision}"
    )]
    HllHeader {
        /// Format version found in the input.
        version: u8,
        /// Precision found in the input.
        precision: u8,
        /// Format version this code reads.
        expected_version: u8,
        /// Precision this code reads.
        expected_precision: u8,
    },
    /// A HyperLogLog register held a value no 64-bit hash can produce.
    #[error("HyperLogLog register {index} holds {value}, above the maximum {max}")]
    HllRegister {
        /// Index of the offending register.
        index: usize,
        /// Value found in it.
        value: u8,
        /// Largest valid register value.
        max: u8,
    },
}

/// Encodes hashes for a checkpoint: each as 8 little-endian bytes, in order.
///
/// Little-endian is fixed so checkpoints move between machines; the output
/// is exactly `8 * hashes.len()` bytes with no header, so incremental
/// checkpoints can simply be appended to each other.
#[must_use]
pub fn encode_hashes(hashes: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len().saturating_mul(8));
    for h in hashes {
        out.extend_from_slice(&h.to_le_bytes());
    }
    out
}

/// Decodes the output of [`encode_hashes`] (or several concatenated).
///
/// Returns [`DecodeError::HashListLength`] rather than panicking or silently
/// dropping a tail when the input is not a whole number of hashes, since a
/// torn checkpoint must be noticed, not half-restored.
pub fn decode_hashes(bytes: &[u8]) -> Result<Vec<u64>, DecodeError> {
    let (chunks, rest) = bytes.as_chunks::<8>();
    if !rest.is_empty() {
        return Err(DecodeError::HashListLength { len: bytes.len() });
    }
    Ok(chunks.iter().map(|c| u64::from_le_bytes(*c)).collect())
}

/// An exact (up to 64-bit hash collisions) set of members for distinct counts.
///
/// Stores member hashes in an open-addressing table with linear probing:
/// slot value 0 means empty, the table grows once it is 85% full, by ×1.25
/// from [`SMALL_TABLE`] slots on (×1.5 below), so a large set holds its
/// members at a load of 68-85%: at most 12 bytes per member with the
/// new-member bitmap. A hash picks its home slot with the
/// multiply-high range reduction `(h' * cap) >> 64` of the hash `h'`
/// scrambled by an odd multiplier, which works for any capacity, not just
/// powers of two. See the module docs for the collision
/// bound.
///
/// An empty set allocates nothing; the first insert allocates 8 slots, so
/// millions of tiny sets (one per window × group) stay cheap.
///
/// # New-hash tracking
///
/// Tracking is on by default: the slot of every hash that is new to the set
/// is flagged in a bitmap (one bit per slot) that
/// [`take_new_hashes`](Self::take_new_hashes) drains, so a checkpoint writes
/// only what changed. One bit per slot, not a list of the new hashes: a list
/// cost 8 bytes per member (16 with `Vec` growth) until the next checkpoint,
/// which for a day that fills within one checkpoint interval (a replay, a
/// burst) was more than the table itself. The price is that a drain reads
/// the whole bitmap (capacity / 64 words) and hands the new hashes out in
/// table order rather than insertion order, which nothing depends on. It is
/// on by default because forgetting it would silently lose members on
/// restore; sets that are never checkpointed should call
/// [`track_new(false)`](Self::track_new) to drop the bitmap.
#[derive(Clone)]
pub struct DistinctSet {
    /// Open-addressing table; 0 = empty slot. Empty before the first insert.
    slots: Box<[u64]>,
    /// Number of occupied slots.
    len: usize,
    /// One bit per slot: set where the slot's hash is new since the last
    /// drain. Empty while nothing is new or tracking is off.
    fresh: Vec<u64>,
    /// How many bits of `fresh` are set.
    fresh_len: usize,
    /// Whether new hashes are flagged in `fresh`.
    track_new: bool,
}

impl Default for DistinctSet {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for DistinctSet {
    /// Summarises instead of listing slots, which could number millions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistinctSet")
            .field("len", &self.len)
            .field("capacity", &self.slots.len())
            .field("fresh", &self.fresh_len)
            .field("track_new", &self.track_new)
            .finish()
    }
}

impl DistinctSet {
    /// Creates an empty set without allocating, with new-hash tracking on.
    #[must_use]
    pub fn new() -> Self {
        Self {
            slots: Box::default(),
            len: 0,
            fresh: Vec::new(),
            fresh_len: 0,
            track_new: true,
        }
    }

    /// Creates an empty set that holds `n` members without growing.
    ///
    /// Useful when restoring a checkpoint whose size is known, to skip the
    /// intermediate tables. `with_capacity(0)` allocates nothing.
    ///
    /// # Panics
    ///
    /// Like `Vec::with_capacity`, panics if the table would exceed
    /// `isize::MAX` bytes.
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        let mut set = Self::new();
        if n > 0 {
            set.slots = empty_table(capacity_for(n));
        }
        set
    }

    /// Builds a set from hashes, e.g. ones restored with [`decode_hashes`].
    ///
    /// Duplicates are fine, and a 0 is remapped as in
    /// [`insert_hash`](Self::insert_hash). Nothing is flagged new
    /// because restored hashes are already checkpointed; tracking is on for
    /// hashes inserted afterwards.
    #[must_use]
    pub fn from_hashes<I: IntoIterator<Item = u64>>(hashes: I) -> Self {
        let iter = hashes.into_iter();
        let mut set = Self::with_capacity(iter.size_hint().0);
        set.track_new = false;
        for h in iter {
            set.insert_hash(h);
        }
        set.track_new = true;
        set
    }

    /// Adds a member by its bytes; returns `true` if it was not already in.
    ///
    /// Equivalent to `insert_hash(hash_member(member))`.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        self.insert_hash(hash_member(member))
    }

    /// Adds a member by its hash; returns `true` if the hash was new.
    ///
    /// Hashes should come from [`hash_member`] (or from this set's own
    /// checkpoints); the collision bound assumes uniformly distributed
    /// 64-bit values. A hash of 0 is stored as [`ZERO_HASH_REPLACEMENT`].
    pub fn insert_hash(&mut self, h: u64) -> bool {
        let h = normalize(h);
        let mut slot = match self.probe(h) {
            Probe::Found => return false,
            Probe::Vacant(slot) => slot,
        };
        if self.len >= max_len(self.slots.len()) {
            self.grow();
            slot = match self.probe(h) {
                Probe::Found => return false,
                Probe::Vacant(slot) => slot,
            };
        }
        if let Some(s) = self.slots.get_mut(slot) {
            *s = h;
            self.len += 1;
            if self.track_new {
                self.flag_fresh(slot);
            }
        }
        true
    }

    /// Returns `true` if the hash is in the set (0 is remapped as on insert).
    #[must_use]
    pub fn contains_hash(&self, h: u64) -> bool {
        matches!(self.probe(normalize(h)), Probe::Found)
    }

    /// Number of distinct member hashes: the distinct count.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len as u64
    }

    /// Returns `true` if nothing was inserted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots in the table, for sizing diagnostics.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Heap bytes owned by the set: the table plus the bitmap of new slots.
    ///
    /// Lets the engine account state memory per window and shed or spill
    /// before the process runs out. Excludes the fixed-size struct itself.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        (self.slots.len() + self.fresh.capacity()) * size_of::<u64>()
    }

    /// Iterates over the stored hashes, in table order (not insertion order).
    ///
    /// Yields [`ZERO_HASH_REPLACEMENT`] for a member that hashed to 0. Used
    /// for full checkpoints and for merging.
    pub fn iter_hashes(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots.iter().copied().filter(|&h| h != 0)
    }

    /// Adds every member of `other` to `self` (set union).
    ///
    /// Hashes new to `self` are flagged new like any other insert,
    /// since `self`'s checkpoint does not have them yet.
    ///
    /// An empty set takes a copy of `other`'s table instead: a cumulative
    /// window's first pane is all of it, and copying the table costs a
    /// memcpy where inserting costs a probe per member.
    pub fn merge(&mut self, other: &DistinctSet) {
        if self.is_empty() {
            self.slots = other.slots.clone();
            self.len = other.len;
            self.fresh = Vec::new();
            self.fresh_len = 0;
            if self.track_new {
                for slot in 0..self.slots.len() {
                    if self.slots[slot] != 0 {
                        self.flag_fresh(slot);
                    }
                }
            }
            return;
        }
        // Room first: `other` hands its hashes out in table order, which is
        // the order of their home slots here too, and linear probing fed a
        // sorted run while it grows piles them into ever longer clusters
        // (the merge then costs far more than as many random inserts).
        self.reserve(other.len);
        for h in other.iter_hashes() {
            self.insert_hash(h);
        }
    }

    /// Makes room for `additional` more members without growing on the
    /// way (a merge may overlap, so this can leave room unused). It grows
    /// by at least the usual step (see [`grow`](Self::grow)): a day set taking a few new
    /// members from each minute's pane must not be rebuilt every minute.
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.len.saturating_add(additional);
        let cap = self.slots.len();
        if needed > max_len(cap) {
            self.rehash(capacity_for(needed).max(grown_capacity(cap)));
        }
    }

    /// Turns new-hash tracking on or off.
    ///
    /// Turning it off also frees the bitmap of new slots, for sets that are never
    /// checkpointed. Turning it on does not back-fill: only hashes inserted
    /// from then on are returned by [`take_new_hashes`](Self::take_new_hashes),
    /// so a set that was not tracked needs a full checkpoint from
    /// [`iter_hashes`](Self::iter_hashes) first.
    pub fn track_new(&mut self, on: bool) {
        self.track_new = on;
        if !on {
            self.fresh = Vec::new();
            self.fresh_len = 0;
        }
    }

    /// Returns the hashes inserted since the previous call, in table order.
    ///
    /// This is the delta for an incremental checkpoint. Returns an empty
    /// list when tracking is off.
    pub fn take_new_hashes(&mut self) -> Vec<u64> {
        let mut hashes = Vec::with_capacity(self.fresh_len);
        self.drain_fresh(|h| hashes.push(h));
        hashes
    }

    /// The hashes inserted since the previous call, encoded as
    /// [`encode_hashes`] does, straight from the table: a checkpoint of a
    /// large delta holds one copy of it, not a list and its encoding.
    pub fn take_new_encoded(&mut self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.fresh_len.saturating_mul(8));
        self.drain_fresh(|h| bytes.extend_from_slice(&h.to_le_bytes()));
        bytes
    }

    /// Hands every hash flagged new to `each`, in table order, and clears
    /// the flags. The bitmap stays allocated (one bit per slot) for the
    /// next inserts.
    fn drain_fresh(&mut self, mut each: impl FnMut(u64)) {
        if self.fresh_len == 0 {
            return;
        }
        for (index, word) in self.fresh.iter_mut().enumerate() {
            let mut bits = std::mem::take(word);
            while bits != 0 {
                let slot = index * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(&h) = self.slots.get(slot) {
                    each(h);
                }
            }
        }
        self.fresh_len = 0;
    }

    /// Flags `slot` as holding a new hash (it must not be flagged yet),
    /// first sizing the bitmap to the table if it is shorter (a set's
    /// first new hash, or the first since tracking was turned back on).
    fn flag_fresh(&mut self, slot: usize) {
        lengthen_bitmap(&mut self.fresh, self.slots.len());
        if set_bit(&mut self.fresh, slot) {
            self.fresh_len += 1;
        }
    }

    /// Looks up a normalised hash along its linear-probing run.
    ///
    /// Terminates because the load factor keeps at least one slot empty; an
    /// unallocated table reports `Vacant(0)`, which `insert_hash` never
    /// writes to because it grows first.
    fn probe(&self, h: u64) -> Probe {
        let cap = self.slots.len();
        if cap == 0 {
            return Probe::Vacant(0);
        }
        let mut i = home_slot(h, cap);
        loop {
            match self.slots.get(i) {
                Some(&s) if s == h => return Probe::Found,
                Some(&0) | None => return Probe::Vacant(i),
                Some(_) => {}
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
    }

    /// Replaces the table with one a step larger ([`grown_capacity`]) and
    /// reinserts all hashes.
    fn grow(&mut self) {
        self.rehash(grown_capacity(self.slots.len()));
    }

    /// Grows the table to `new_cap` slots (more than it has) and moves
    /// every hash to where a lookup in the larger table looks for it.
    ///
    /// In place: the table is extended (`realloc`; glibc remaps a large
    /// table's pages rather than copying them) and the hashes are moved
    /// within it, so growing a table of `c` slots costs its new size at
    /// the peak (`1.25 c` for a large table), not the old and the new table
    /// side by side (`2.25 c`): a day set of a million members peaked at
    /// 23 MB while it grew.
    ///
    /// Each hash is placed once, in slot order: it goes to the first slot
    /// from its new home that is empty or holds a hash not placed yet, and
    /// a hash it displaces is placed next. Placed hashes never move again,
    /// so every slot between a hash's home and its place is taken when the
    /// rehash ends, which is what linear probing needs. Flags of new
    /// hashes travel with their hashes.
    fn rehash(&mut self, new_cap: usize) {
        let old_cap = self.slots.len();
        let mut slots = std::mem::take(&mut self.slots).into_vec();
        slots.reserve_exact(new_cap.saturating_sub(old_cap));
        slots.resize(new_cap, 0);
        if !self.fresh.is_empty() {
            lengthen_bitmap(&mut self.fresh, new_cap);
        }
        let mut placed = vec![0u64; new_cap.div_ceil(64)];
        for start in 0..old_cap {
            if slots[start] == 0 || bit(&placed, start) {
                continue;
            }
            let mut h = std::mem::take(&mut slots[start]);
            let mut fresh = take_bit(&mut self.fresh, start);
            loop {
                let mut i = home_slot(h, new_cap);
                while slots[i] != 0 && bit(&placed, i) {
                    i += 1;
                    if i == new_cap {
                        i = 0;
                    }
                }
                let displaced = std::mem::replace(&mut slots[i], h);
                let displaced_fresh = take_bit(&mut self.fresh, i);
                if fresh {
                    set_bit(&mut self.fresh, i);
                }
                set_bit(&mut placed, i);
                if displaced == 0 {
                    break;
                }
                h = displaced;
                fresh = displaced_fresh;
            }
        }
        self.slots = slots.into_boxed_slice();
    }
}

/// Whether bit `i` of a bitmap is set (bits past its end are not).
fn bit(words: &[u64], i: usize) -> bool {
    words
        .get(i / 64)
        .is_some_and(|word| word & (1 << (i % 64)) != 0)
}

/// Sets bit `i` of a bitmap; returns whether the bitmap holds bit `i`.
fn set_bit(words: &mut [u64], i: usize) -> bool {
    let Some(word) = words.get_mut(i / 64) else {
        return false;
    };
    *word |= 1 << (i % 64);
    true
}

/// Makes a bitmap long enough for `bits` bits (new words are clear), with
/// no room to spare: it is one bit per slot of a table that is sized
/// with care.
fn lengthen_bitmap(words: &mut Vec<u64>, bits: usize) {
    let needed = bits.div_ceil(64);
    if words.len() < needed {
        words.reserve_exact(needed - words.len());
        words.resize(needed, 0);
    }
}

/// Clears bit `i` of a bitmap and returns whether it was set.
fn take_bit(words: &mut [u64], i: usize) -> bool {
    let Some(word) = words.get_mut(i / 64) else {
        return false;
    };
    let mask = 1 << (i % 64);
    let was = *word & mask != 0;
    *word &= !mask;
    was
}

/// Outcome of looking a hash up in the table.
enum Probe {
    /// The hash is stored.
    Found,
    /// The hash is absent; the slot index is where it would go.
    Vacant(usize),
}

/// Maps hash 0, which marks empty slots, to [`ZERO_HASH_REPLACEMENT`].
fn normalize(h: u64) -> u64 {
    if h == 0 { ZERO_HASH_REPLACEMENT } else { h }
}

/// Home slot of `h` in a table of `cap` slots; always `< cap` for `cap > 0`.
fn home_slot(h: u64, cap: usize) -> usize {
    let mixed = h.wrapping_mul(SLOT_MIX);
    ((u128::from(mixed) * cap as u128) >> 64) as usize
}

/// Most members a table of `cap` slots may hold: ⌊0.85 · cap⌋. Linear
/// probing at 85% still finds a member in a few neighbouring slots, mostly
/// of one cache line; the pvuv bench's window updates took as long as at
/// 80% (BENCHMARKS.md, 2026-12-03 continued).
fn max_len(cap: usize) -> usize {
    cap / 20 * 17 + cap % 20 * 17 / 20
}

/// Tables from this many slots grow by ×1.25, smaller ones by ×1.5: the
/// slack of a large set is memory that counts (a day of a million members),
/// the rebuilds of a small one are time that counts (millions of small
/// sets, one per window × group).
const SMALL_TABLE: usize = 4096;

/// The capacity a full table of `cap` slots grows to.
fn grown_capacity(cap: usize) -> usize {
    if cap < MIN_CAPACITY {
        MIN_CAPACITY
    } else if cap < SMALL_TABLE {
        cap.saturating_add(cap / 2)
    } else {
        cap.saturating_add(cap / 4)
    }
}

/// Smallest table capacity that holds `n > 0` members without growing.
fn capacity_for(n: usize) -> usize {
    let mut cap = n.saturating_add(n / 6).max(MIN_CAPACITY);
    while max_len(cap) < n && cap < usize::MAX {
        cap += 1;
    }
    cap
}

/// A zeroed (all-empty) table of `cap` slots.
fn empty_table(cap: usize) -> Box<[u64]> {
    vec![0u64; cap].into_boxed_slice()
}

#[cfg(test)]
mod tests;
