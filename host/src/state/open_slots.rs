//! The open windows (or panes) of one metric, by start.
//!
//! The watermark moves once per batch, and a replayed batch of 4,096 lines
//! (the default) spans about fifty minutes of event time: a minute window's
//! map holds dozens of open slots by the batch's end, and every update looked its
//! slot up in a `BTreeMap` of them — half of `MetricWindows::add`'s time in
//! a profile of the 2M-line file, spent comparing keys. Records arrive in
//! near time order, so the slot an update wants is almost always the
//! newest or one of the few before it: slots are kept sorted in a deque and
//! looked up from the back, with a binary search when the few newest do
//! not hold it (very late or far-spread records), and closed from the
//! front.

use std::collections::VecDeque;

use super::slot::Slot;

/// How many of the newest slots are compared before a binary search.
const NEWEST: usize = 4;

/// Open slots in start order.
#[derive(Debug, Clone, Default)]
pub struct OpenSlots {
    slots: VecDeque<(i64, Slot)>,
}

impl OpenSlots {
    /// The slot starting at `start`, made by `make` if there is none.
    pub fn get_or_insert_with(&mut self, start: i64, make: impl FnOnce() -> Slot) -> &mut Slot {
        let index = match self.position(start) {
            Ok(index) => index,
            Err(index) => {
                self.slots.insert(index, (start, make()));
                index
            }
        };
        &mut self.slots[index].1
    }

    /// The slot starting at `start`.
    pub fn get(&self, start: i64) -> Option<&Slot> {
        self.position(start).ok().map(|index| &self.slots[index].1)
    }

    /// Takes out the first slot if `closed` says its start is closed.
    pub fn pop_first_if(&mut self, closed: impl FnOnce(i64) -> bool) -> Option<(i64, Slot)> {
        let (start, _) = self.slots.front()?;
        if closed(*start) {
            self.slots.pop_front()
        } else {
            None
        }
    }

    /// Whether no slot is open.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The slots, in start order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &Slot)> {
        self.slots.iter().map(|(start, slot)| (*start, slot))
    }

    /// The slots, in start order, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (i64, &mut Slot)> {
        self.slots.iter_mut().map(|(start, slot)| (*start, slot))
    }

    /// Where `start` is (`Ok`) or would go (`Err`).
    fn position(&self, start: i64) -> Result<usize, usize> {
        for (back, (at, _)) in self.slots.iter().rev().take(NEWEST).enumerate() {
            let index = self.slots.len() - 1 - back;
            match at.cmp(&start) {
                std::cmp::Ordering::Equal => return Ok(index),
                std::cmp::Ordering::Less => return Err(index + 1),
                std::cmp::Ordering::Greater => {}
            }
        }
        self.slots.binary_search_by_key(&start, |(at, _)| *at)
    }
}

impl IntoIterator for OpenSlots {
    type Item = (i64, Slot);
    type IntoIter = std::collections::vec_deque::IntoIter<(i64, Slot)>;

    fn into_iter(self) -> Self::IntoIter {
        self.slots.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::Aggregation;
    use crate::state::aggregate::Contribution;

    /// Starts in a scrambled order (a fixed linear congruential sequence),
    /// near the newest and far from it, agree with a `BTreeMap`.
    #[test]
    fn keeps_start_order_and_finds_every_slot() {
        let mut open = OpenSlots::default();
        let mut reference: BTreeMap<i64, u64> = BTreeMap::new();
        let mut seed: u64 = 7;
        for step in 0..5_000_i64 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let jitter = i64::try_from(seed >> 58).unwrap_or(0); // 0..64
            let start = (step / 10 - jitter).max(0) * 60;
            open.get_or_insert_with(start, Slot::default)
                .add(Aggregation::Count, "k", Contribution::One)
                .unwrap();
            *reference.entry(start).or_default() += 1;
            if step % 97 == 0 {
                let cut = (step / 10 - 40) * 60;
                while let Some((first, _)) = open.pop_first_if(|first| first < cut) {
                    assert_eq!(reference.pop_first().map(|(at, _)| at), Some(first));
                }
                assert!(reference.first_key_value().is_none_or(|(at, _)| *at >= cut));
            }
        }
        let starts: Vec<i64> = open.iter().map(|(start, _)| start).collect();
        assert_eq!(starts, reference.keys().copied().collect::<Vec<_>>());
        for (start, count) in &reference {
            let slot = open.get(*start).expect("every start is found");
            let counts: Vec<String> = slot.groups().map(|(_, agg)| agg.render()).collect();
            assert_eq!(counts, vec![count.to_string()], "slot {start}");
        }
        assert!(open.get(-60).is_none());
        assert!(open.get(reference.keys().last().unwrap() + 60).is_none());
    }
}
