//! Unit tests of the parent module.

use super::*;
use std::collections::HashSet;

/// Deterministic pseudo-random generator (SplitMix64) so tests need no
/// extra dependency and failures reproduce.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A member of 0..=23 bytes drawn from a pool of `pool` values, so
    /// the stream has duplicates and varied lengths.
    fn member(&mut self, pool: u64) -> Vec<u8> {
        let id = self.next() % pool;
        let len = (id % 24) as usize;
        let mut m = format!("m{id}").into_bytes();
        m.resize(len.max(m.len()), b'x');
        m
    }
}

#[test]
fn hash_member_is_pinned() {
    // Checkpoints depend on these exact values; if this fails, the hash
    // changed and stored state would no longer match.
    assert_eq!(hash_member(b""), 0x5077_c092_9468_27d9);
    assert_eq!(hash_member(b"user-42"), 0x8742_ded0_032a_77b4);
}

#[test]
fn len_matches_hashset_through_growth() {
    let mut rng = SplitMix(1);
    let mut set = DistinctSet::new();
    let mut reference = HashSet::new();
    for step in 0..300_000 {
        let m = rng.member(120_000);
        assert_eq!(set.insert(&m), reference.insert(m.clone()), "step {step}");
        if step % 997 == 0 {
            assert_eq!(set.len(), reference.len() as u64);
        }
    }
    assert_eq!(set.len(), reference.len() as u64);
    assert!(set.capacity() > 100_000, "table grew");
    for m in &reference {
        assert!(set.contains_hash(hash_member(m)));
    }
    let hashes: HashSet<u64> = set.iter_hashes().collect();
    assert_eq!(hashes.len() as u64, set.len());
}

#[test]
fn sequential_hashes_work() {
    // Structured inputs must not degrade into one probe cluster.
    let mut set = DistinctSet::new();
    for h in 1..=50_000u64 {
        assert!(set.insert_hash(h));
    }
    for h in 1..=50_000u64 {
        assert!(!set.insert_hash(h));
        assert!(set.contains_hash(h));
    }
    assert!(!set.contains_hash(50_001));
    assert_eq!(set.len(), 50_000);
}

#[test]
fn growth_is_by_one_and_a_half_then_a_quarter() {
    let mut set = DistinctSet::new();
    assert_eq!(set.capacity(), 0);
    assert_eq!(set.heap_bytes(), 0);
    let mut caps = vec![];
    for h in 1..=20_000u64 {
        set.insert_hash(h);
        if caps.last() != Some(&set.capacity()) {
            caps.push(set.capacity());
        }
        assert!(set.len() as usize <= max_len(set.capacity()));
    }
    assert_eq!(&caps[..6], &[8, 12, 18, 27, 40, 60]);
    let large: Vec<usize> = caps.into_iter().filter(|&cap| cap >= 4096).collect();
    assert_eq!(&large[..4], &[5_166, 6_457, 8_071, 10_088]);
    // From there on a full table holds 85% and a grown one 68%: at most
    // 12 bytes per member with the new-member bitmap.
    let per_member = set.heap_bytes() as f64 / set.len() as f64;
    assert!(per_member <= 12.0, "{per_member} bytes per member");
}

#[test]
fn duplicates_at_full_load_do_not_grow() {
    let mut set = DistinctSet::new();
    for h in 1..=6u64 {
        set.insert_hash(h);
    }
    assert_eq!(set.capacity(), 8, "6 is 85% of 8, rounded down");
    assert!(!set.insert_hash(3));
    assert_eq!(set.capacity(), 8);
    assert!(set.insert_hash(7));
    assert_eq!(set.capacity(), 12);
    assert_eq!(set.len(), 7);
    assert!((1..=7).all(|h| set.contains_hash(h)));
}

#[test]
fn with_capacity_avoids_growth() {
    for n in [1usize, 5, 6, 7, 100, 12_345] {
        let mut set = DistinctSet::with_capacity(n);
        let cap = set.capacity();
        for h in 1..=n as u64 {
            set.insert_hash(h);
        }
        assert_eq!(set.capacity(), cap, "n = {n}");
        assert_eq!(set.len(), n as u64);
    }
    assert_eq!(DistinctSet::with_capacity(0).heap_bytes(), 0);
}

#[test]
fn empty_set() {
    let set = DistinctSet::default();
    assert!(set.is_empty());
    assert_eq!(set.len(), 0);
    assert!(!set.contains_hash(0));
    assert!(!set.contains_hash(7));
    assert_eq!(set.iter_hashes().count(), 0);
    assert!(format!("{set:?}").contains("len: 0"));
}

#[test]
fn merge_is_union() {
    let mut rng = SplitMix(2);
    let mut a = DistinctSet::new();
    let mut b = DistinctSet::new();
    let mut union = HashSet::new();
    for _ in 0..20_000 {
        let m = rng.member(15_000);
        a.insert(&m);
        union.insert(m);
    }
    for _ in 0..20_000 {
        let m = rng.member(30_000);
        b.insert(&m);
        union.insert(m);
    }
    let b_len = b.len();
    a.merge(&b);
    assert_eq!(a.len(), union.len() as u64);
    assert_eq!(b.len(), b_len, "other is untouched");
    for m in &union {
        assert!(a.contains_hash(hash_member(m)));
    }

    let before = a.len();
    let copy = a.clone();
    a.merge(&copy);
    a.merge(&DistinctSet::new());
    assert_eq!(a.len(), before);

    let mut empty = DistinctSet::new();
    empty.merge(&b);
    assert_eq!(empty.len(), b.len());
}

/// Small merges into a full set grow it by the usual step, not to the
/// exact size each time (which would rebuild it on every merge).
#[test]
fn merges_grow_geometrically() {
    let mut day = DistinctSet::new();
    for h in 1..=10_000u64 {
        day.insert_hash(h);
    }
    let mut rebuilds = 0;
    let mut next = 1_000_000u64;
    for _ in 0..100 {
        let capacity = day.capacity();
        let mut pane = DistinctSet::new();
        for _ in 0..50 {
            pane.insert_hash(next);
            next += 1;
        }
        day.merge(&pane);
        rebuilds += usize::from(day.capacity() != capacity);
    }
    assert_eq!(day.len(), 15_000);
    assert!(rebuilds <= 2, "{rebuilds} rebuilds for 100 merges");
}

/// Merging into an empty set copies the table; the copy is a set like any
/// other: every member is pending for the checkpoint, and it keeps growing.
#[test]
fn merge_into_empty_copies_and_tracks() {
    let mut rng = SplitMix(3);
    let mut pane = DistinctSet::new();
    for _ in 0..5_000 {
        pane.insert(&rng.member(4_000));
    }
    let mut day = DistinctSet::with_capacity(10);
    day.merge(&pane);
    let mut pending = day.take_new_hashes();
    let mut expected: Vec<u64> = pane.iter_hashes().collect();
    pending.sort_unstable();
    expected.sort_unstable();
    assert_eq!(pending, expected);
    for _ in 0..20_000 {
        let m = rng.member(30_000);
        day.insert(&m);
        pane.insert(&m);
    }
    assert_eq!(day.len(), pane.len());
    assert!(pane.iter_hashes().all(|h| day.contains_hash(h)));
}

#[test]
fn take_new_hashes_returns_each_new_hash_once() {
    let mut set = DistinctSet::new();
    assert!(set.take_new_hashes().is_empty());
    set.insert(b"a");
    set.insert(b"b");
    set.insert(b"a");
    let mut first = set.take_new_hashes();
    first.sort_unstable();
    let mut expected = vec![hash_member(b"a"), hash_member(b"b")];
    expected.sort_unstable();
    assert_eq!(first, expected, "table order, each once");
    assert!(set.take_new_hashes().is_empty());

    set.insert(b"b");
    set.insert(b"c");
    assert_eq!(set.take_new_hashes(), vec![hash_member(b"c")]);

    let mut other = DistinctSet::new();
    other.insert(b"c");
    other.insert(b"d");
    set.merge(&other);
    assert_eq!(set.take_new_hashes(), vec![hash_member(b"d")]);
    assert_eq!(set.len(), 4);
}

/// New hashes cost one bit per slot, tracked across growth, not a list.
#[test]
fn new_hashes_cost_one_bit_per_slot() {
    let mut set = DistinctSet::new();
    for h in 1..=1000u64 {
        set.insert_hash(h);
    }
    let bitmap = set.capacity().div_ceil(64) * 8;
    assert_eq!(set.heap_bytes(), set.capacity() * 8 + bitmap);
    let mut new = set.take_new_hashes();
    new.sort_unstable();
    assert_eq!(
        new,
        (1..=1000u64).collect::<Vec<_>>(),
        "every hash survives the rehashes"
    );
    assert_eq!(
        set.heap_bytes(),
        set.capacity() * 8 + bitmap,
        "kept for the next inserts"
    );
    assert!(set.take_new_hashes().is_empty());
}

/// The encoded drain is the encoding of the list drain.
#[test]
fn take_new_encoded_matches_encode_hashes() {
    let mut rng = SplitMix(9);
    let mut set = DistinctSet::new();
    let mut twin = DistinctSet::new();
    for _ in 0..3_000 {
        let member = rng.member(2_000);
        set.insert(&member);
        twin.insert(&member);
    }
    assert_eq!(
        set.take_new_encoded(),
        encode_hashes(&twin.take_new_hashes())
    );
    assert!(set.take_new_encoded().is_empty());
    set.insert(b"late");
    assert_eq!(
        set.take_new_encoded(),
        encode_hashes(&[hash_member(b"late")])
    );
}

#[test]
fn tracking_can_be_switched_off() {
    let mut set = DistinctSet::new();
    set.insert(b"a");
    set.track_new(false);
    assert_eq!(set.heap_bytes(), set.capacity() * 8);
    set.insert(b"b");
    assert!(set.take_new_hashes().is_empty());
    set.track_new(true);
    set.insert(b"c");
    assert_eq!(set.take_new_hashes(), vec![hash_member(b"c")]);
    assert_eq!(set.len(), 3);
}

#[test]
fn incremental_checkpoints_restore_the_set() {
    let mut rng = SplitMix(3);
    let mut set = DistinctSet::new();
    let mut log = Vec::new();
    for round in 0..5 {
        for _ in 0..3000 {
            set.insert(&rng.member(10_000));
        }
        log.extend(encode_hashes(&set.take_new_hashes()));
        let restored = DistinctSet::from_hashes(decode_hashes(&log).unwrap());
        assert_eq!(restored.len(), set.len(), "round {round}");
    }
    let mut restored = DistinctSet::from_hashes(decode_hashes(&log).unwrap());
    assert!(
        restored.take_new_hashes().is_empty(),
        "restored hashes are not new"
    );
    assert!(restored.insert(b"fresh"));
    assert_eq!(restored.take_new_hashes(), vec![hash_member(b"fresh")]);
}

#[test]
fn encode_decode_roundtrip() {
    let hashes = vec![1, u64::MAX, ZERO_HASH_REPLACEMENT, 0x0102_0304_0506_0708];
    let bytes = encode_hashes(&hashes);
    assert_eq!(bytes.len(), 32);
    assert_eq!(&bytes[24..], &[8, 7, 6, 5, 4, 3, 2, 1], "little-endian");
    assert_eq!(decode_hashes(&bytes).unwrap(), hashes);
    assert!(encode_hashes(&[]).is_empty());
    assert_eq!(decode_hashes(&[]).unwrap(), Vec::<u64>::new());

    let set = DistinctSet::from_hashes(hashes.iter().copied().chain([1, 1]));
    assert_eq!(set.len(), 4);
    let mut round: Vec<u64> =
        decode_hashes(&encode_hashes(&set.iter_hashes().collect::<Vec<_>>())).unwrap();
    round.sort_unstable();
    let mut expected = hashes.clone();
    expected.sort_unstable();
    assert_eq!(round, expected);
}

#[test]
fn decode_rejects_bad_length() {
    for len in [1usize, 7, 9, 15, 17] {
        let err = decode_hashes(&vec![0xAB; len]).unwrap_err();
        assert_eq!(err, DecodeError::HashListLength { len });
        assert!(err.to_string().contains("multiple of 8"));
    }
}

#[test]
fn hash_zero_is_remapped() {
    let mut set = DistinctSet::new();
    assert!(set.insert_hash(0));
    assert!(set.contains_hash(0));
    assert!(set.contains_hash(ZERO_HASH_REPLACEMENT));
    assert!(!set.insert_hash(0));
    assert!(
        !set.insert_hash(ZERO_HASH_REPLACEMENT),
        "0 and replacement merge"
    );
    assert_eq!(set.len(), 1);
    assert_eq!(
        set.iter_hashes().collect::<Vec<_>>(),
        vec![ZERO_HASH_REPLACEMENT]
    );
    assert_eq!(set.take_new_hashes(), vec![ZERO_HASH_REPLACEMENT]);

    let restored = DistinctSet::from_hashes([0, 5]);
    assert_eq!(restored.len(), 2);
    assert!(restored.contains_hash(ZERO_HASH_REPLACEMENT));
}

#[test]
fn heap_is_at_most_16_bytes_per_member_at_one_million() {
    const N: u64 = 1_000_000;
    let mut set = DistinctSet::new();
    for i in 0..N {
        assert!(set.insert(&i.to_le_bytes()));
        // The bound holds for the table at every size past tiny sets,
        // not just at the one size measured below.
        if i >= 1000 {
            assert!(set.capacity() * 8 <= 16 * set.len() as usize, "at {i}");
        }
    }
    assert_eq!(set.len(), N);
    // New hashes cost one bit per slot, drained or not.
    let bitmap = set.capacity().div_ceil(64) * 8;
    assert_eq!(set.heap_bytes(), set.capacity() * 8 + bitmap);
    let per_member = set.heap_bytes() as f64 / N as f64;
    assert!(per_member <= 16.0, "{per_member} bytes/member");
    assert_eq!(set.take_new_hashes().len() as u64, N);

    let mut untracked = DistinctSet::new();
    untracked.track_new(false);
    for i in 0..N {
        untracked.insert(&i.to_le_bytes());
    }
    assert_eq!(untracked.heap_bytes() + bitmap, set.heap_bytes());
}

/// Growing in place keeps every hash findable and every new-hash flag with
/// its hash, across many growths, with drains in between, including hashes
/// whose runs wrap past the end of the table.
#[test]
fn growth_in_place_keeps_hashes_and_their_new_flags() {
    // The inverse of SLOT_MIX modulo 2^64 (Newton's iteration), to make
    // hashes whose home is the table's last slot.
    let mut inverse: u64 = 1;
    for _ in 0..6 {
        inverse = inverse.wrapping_mul(2u64.wrapping_sub(SLOT_MIX.wrapping_mul(inverse)));
    }
    assert_eq!(SLOT_MIX.wrapping_mul(inverse), 1);
    let mut rng = SplitMix(11);
    let mut set = DistinctSet::new();
    let mut all = HashSet::new();
    let mut undrained = HashSet::new();
    for round in 0..40u64 {
        for _ in 0..round * 37 + 5 {
            let h = if rng.next().is_multiple_of(4) {
                (u64::MAX - rng.next() % 4096).wrapping_mul(inverse)
            } else {
                rng.next() | 1
            };
            let new = set.insert_hash(h);
            assert_eq!(new, all.insert(h), "round {round}");
            if new {
                undrained.insert(h);
            }
        }
        assert_eq!(set.len(), all.len() as u64);
        assert!(all.iter().all(|&h| set.contains_hash(h)), "round {round}");
        if round.is_multiple_of(3) {
            let mut new: Vec<u64> = set.take_new_hashes();
            let mut expected: Vec<u64> = undrained.drain().collect();
            new.sort_unstable();
            expected.sort_unstable();
            assert_eq!(new, expected, "round {round}");
        }
    }
    assert!(set.capacity() > 1000, "it grew many times");
}
