//! The lanes this instance holds: where each resumes, under which token and
//! sequence number it is checkpointed, when it last had records, and the
//! lanes parked after a revoke. One table, so taking, parking, releasing
//! and fencing a lane change one entry.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::checkpoint::Fence;
use crate::engine::LaneRules;
use crate::model::Position;

/// A lane this instance owns (partitioned sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owned {
    /// The ownership token it was taken under: checkpoints of the lane are
    /// written only while the store still holds it.
    pub token: u64,
    /// The sequence number of its last checkpoint: the next one writes
    /// `seq + 1`, once.
    pub seq: u64,
}

/// What is known of one lane.
#[derive(Debug, Clone, Default)]
struct Entry {
    /// Where a restart resumes: just past the last batch in its windows.
    position: Option<Position>,
    /// Partitioned sources: the token it is held under.
    owned: Option<Owned>,
    /// When it last had records (idle partitions).
    last_seen: Option<Instant>,
}

/// A lane flushed on revoke and kept in memory in case it comes back.
#[derive(Debug, Clone)]
pub struct Parked {
    /// The token it was held under.
    pub owned: Owned,
    /// Its window state.
    pub states: LaneRules,
    /// Where it resumes.
    pub position: Option<Position>,
}

/// Every lane held, and the parked ones.
#[derive(Debug, Default)]
pub struct LaneTable {
    entries: BTreeMap<String, Entry>,
    parked: BTreeMap<String, Parked>,
    partitioned: bool,
}

impl LaneTable {
    /// An empty table; `partitioned`: lanes are owned partitions (only
    /// owned lanes are held).
    pub fn new(partitioned: bool) -> Self {
        Self {
            partitioned,
            ..Self::default()
        }
    }

    /// Whether lanes are owned partitions.
    pub fn is_partitioned(&self) -> bool {
        self.partitioned
    }

    /// Whether this instance may process and checkpoint `lane`.
    pub fn holds(&self, lane: &str) -> bool {
        !self.partitioned || self.entries.get(lane).is_some_and(|e| e.owned.is_some())
    }

    /// Starts owning `lane` under `token`, its last checkpoint being `seq`.
    pub fn own(&mut self, lane: &str, token: u64, seq: u64, now: Instant) {
        let entry = self.entries.entry(lane.to_owned()).or_default();
        entry.owned = Some(Owned { token, seq });
        entry.last_seen = Some(now);
    }

    /// Sets a lane's checkpoint sequence (after a restore).
    pub fn set_seq(&mut self, lane: &str, seq: u64) {
        if let Some(owned) = self.entries.get_mut(lane).and_then(|e| e.owned.as_mut()) {
            owned.seq = seq;
        }
    }

    /// Notes that `lane` had records.
    pub fn seen(&mut self, lane: &str, now: Instant) {
        if let Some(entry) = self.entries.get_mut(lane) {
            entry.last_seen = Some(now);
        }
    }

    /// Records where lanes now resume (held lanes only).
    pub fn note_positions(&mut self, positions: Vec<(String, Position)>) {
        for (lane, position) in positions {
            if self.holds(&lane) {
                self.entries.entry(lane).or_default().position = Some(position);
            }
        }
    }

    /// Sets (or clears) where `lane` resumes.
    pub fn set_position(&mut self, lane: &str, position: Option<Position>) {
        self.entries.entry(lane.to_owned()).or_default().position = position;
    }

    /// Where `lane` resumes.
    pub fn position(&self, lane: &str) -> Option<&Position> {
        self.entries.get(lane)?.position.as_ref()
    }

    /// Forgets `lane` (not its parked copy).
    pub fn remove(&mut self, lane: &str) -> Option<(Option<Owned>, Option<Position>)> {
        self.entries.remove(lane).map(|e| (e.owned, e.position))
    }

    /// The lanes owned, in order.
    pub fn owned(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.owned.is_some())
            .map(|(lane, _)| lane.clone())
            .collect()
    }

    /// The fences to write `lanes` under (owned lanes only).
    pub fn fences(&self, lanes: &[String]) -> Vec<Fence> {
        lanes
            .iter()
            .filter_map(|lane| {
                let owned = self.entries.get(lane)?.owned?;
                Some(Fence {
                    lane: lane.clone(),
                    token: owned.token,
                    seq: owned.seq,
                })
            })
            .collect()
    }

    /// A checkpoint with these fences was written: each lane's next one
    /// writes the following sequence number.
    pub fn committed(&mut self, fences: &[Fence]) {
        for fence in fences {
            self.set_seq(&fence.lane, fence.seq + 1);
        }
    }

    /// Owned lanes without records for `idle_after`.
    pub fn idle(&self, now: Instant, idle_after: Duration) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.owned.is_some())
            .filter(|(_, e)| {
                e.last_seen
                    .is_some_and(|seen| now.duration_since(seen) >= idle_after)
            })
            .map(|(lane, _)| lane.clone())
            .collect()
    }

    /// Keeps a flushed lane's state in case it comes back.
    pub fn park(&mut self, lane: String, parked: Parked) {
        self.parked.insert(lane, parked);
    }

    /// Takes every parked lane out (an assignment decides which come back).
    pub fn take_parked(&mut self) -> BTreeMap<String, Parked> {
        std::mem::take(&mut self.parked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(offset: u64) -> Position {
        Position {
            identity: "kafka:t/0".into(),
            head_len: 0,
            head_hash: 0,
            offset,
            line: 0,
        }
    }

    #[test]
    fn only_owned_partitions_are_held() {
        let now = Instant::now();
        let mut table = LaneTable::new(true);
        table.note_positions(vec![("t/0".into(), position(5))]);
        assert!(!table.holds("t/0"));
        assert_eq!(table.position("t/0"), None);
        table.own("t/0", 3, 7, now);
        table.note_positions(vec![
            ("t/0".into(), position(9)),
            ("t/1".into(), position(1)),
        ]);
        assert_eq!(table.position("t/0").map(|p| p.offset), Some(9));
        assert_eq!(table.position("t/1"), None);
        assert_eq!(table.owned(), vec!["t/0".to_owned()]);
    }

    #[test]
    fn a_written_checkpoint_moves_the_sequence_on() {
        let now = Instant::now();
        let mut table = LaneTable::new(true);
        table.own("t/0", 3, 7, now);
        table.own("t/1", 1, 0, now);
        let fences = table.fences(&["t/0".into(), "t/1".into(), "t/2".into()]);
        assert_eq!(fences.len(), 2, "t/2 is not owned: no fence");
        table.committed(&fences);
        let next = table.fences(&["t/0".into()]);
        assert_eq!((next[0].token, next[0].seq), (3, 8));
    }

    #[test]
    fn idle_lanes_are_found_and_a_file_is_always_held() {
        let start = Instant::now();
        let mut table = LaneTable::new(true);
        table.own("t/0", 1, 0, start);
        table.own("t/1", 1, 0, start);
        table.seen("t/1", start + Duration::from_secs(10));
        let idle = table.idle(start + Duration::from_secs(11), Duration::from_secs(5));
        assert_eq!(idle, vec!["t/0".to_owned()]);
        let mut file = LaneTable::new(false);
        assert!(file.holds("0"));
        file.note_positions(vec![("0".into(), position(42))]);
        assert_eq!(file.position("0").map(|p| p.offset), Some(42));
        assert!(
            file.fences(&["0".into()]).is_empty(),
            "a file lane is not fenced"
        );
    }

    #[test]
    fn parked_lanes_are_taken_once() {
        let mut table = LaneTable::new(true);
        table.park(
            "t/0".into(),
            Parked {
                owned: Owned { token: 2, seq: 4 },
                states: LaneRules::default(),
                position: Some(position(10)),
            },
        );
        assert_eq!(table.take_parked().len(), 1);
        assert!(table.take_parked().is_empty());
    }
}
