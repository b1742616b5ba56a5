//! An exact distinct count as a flat open-addressing table of member hashes.
//!
//! Members are hashed as weir hashes them (`weir::state::distinct::hash_member`:
//! XXH3-64 with weir's seed, 0 replaced), so the baseline and weir count the
//! same thing down to 64-bit hash collisions. Linear probing, at most half
//! full, 8 bytes per slot.

/// `weir::state::distinct::HASH_SEED`.
const HASH_SEED: u64 = 0x7765_6972_5f64_7374;
/// `weir::state::distinct::ZERO_HASH_REPLACEMENT`: 0 marks an empty slot.
const ZERO_HASH_REPLACEMENT: u64 = 0x9E37_79B9_7F4A_7C15;
/// Slots of a table's first allocation.
const MIN_CAPACITY: usize = 64;

/// The hash a member is counted by.
pub fn hash_member(member: &[u8]) -> u64 {
    match xxhash_rust::xxh3::xxh3_64_with_seed(member, HASH_SEED) {
        0 => ZERO_HASH_REPLACEMENT,
        h => h,
    }
}

/// A set of non-zero member hashes.
#[derive(Debug, Default)]
pub struct HashSet {
    slots: Vec<u64>,
    len: usize,
}

impl HashSet {
    /// Adds a hash from [`hash_member`].
    pub fn insert(&mut self, hash: u64) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        if self.place(hash) {
            self.len += 1;
        }
    }

    /// Members counted.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Empties the set and keeps its table, for the next window.
    pub fn clear(&mut self) {
        self.slots.fill(0);
        self.len = 0;
    }

    /// Stores `hash`; false if it was there.
    fn place(&mut self, hash: u64) -> bool {
        let mask = self.slots.len() - 1;
        // The hash is uniform: its high bits pick the slot.
        let mut i = (hash >> 32) as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == hash {
                return false;
            }
            if slot == 0 {
                self.slots[i] = hash;
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(MIN_CAPACITY);
        let old = std::mem::replace(&mut self.slots, vec![0; capacity]);
        for hash in old.into_iter().filter(|&h| h != 0) {
            self.place(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_member_once() {
        let mut set = HashSet::default();
        for round in 0..3 {
            for i in 0..10_000u32 {
                set.insert(hash_member(
                    format!("10.0.{}.{}", i / 256, i % 256).as_bytes(),
                ));
            }
            assert_eq!(set.len(), 10_000, "round {round}");
        }
        set.clear();
        assert_eq!(set.len(), 0);
        set.insert(hash_member(b"1.2.3.4"));
        assert_eq!(set.len(), 1);
    }
}
