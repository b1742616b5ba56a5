//! A checkpoint store in memory: the same layout as Redis (output hashes
//! under their public key names, per-lane checkpoint state, fences and
//! sequence numbers), for tests of the pipeline and runs without Redis.
//! Every handle made by [`CheckpointStore::open_another`] and every
//! [`LaneClaims`] it hands out share one state, like connections to one
//! server.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

mod ops;

pub use ops::MemoryCommit;
use ops::{Op, rule_ops};

use super::fence::{FenceCheck, check_fences};
use super::restore::{apply_meta, apply_slot, member_groups, realign, wanted_slots};
use super::{CheckpointStore, CommitSize, Fence, LaneCommit, Prepared, StoreError};
use crate::model::{Assignment, DeadLetter, LaneClaims, Position, RuleSpec};
use crate::state::RuleState;

/// What one rule checkpointed in one lane.
#[derive(Debug, Clone, Default)]
struct RuleData {
    meta: HashMap<String, String>,
    slots: BTreeMap<String, HashMap<String, Vec<u8>>>,
    members: HashMap<(String, String), Vec<u8>>,
}

/// What one lane checkpointed.
#[derive(Debug, Clone, Default)]
struct LaneData {
    positions: BTreeMap<String, Position>,
    seq: u64,
    rules: BTreeMap<String, RuleData>,
}

/// Everything a [`MemoryStore`] holds.
#[derive(Debug, Default)]
struct Memory {
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    unions: HashMap<(String, String), HashSet<u64>>,
    sketches: HashMap<(String, String), Vec<u8>>,
    /// Decimal sums, means and sketches merged across lanes (contract 0.2.0).
    exact: HashMap<(String, String), crate::state::aggregate::Aggregate>,
    lanes: BTreeMap<String, LaneData>,
    fences: BTreeMap<String, u64>,
    parked: HashMap<String, u64>,
    dead_letters: BTreeMap<String, Vec<DeadLetter>>,
    fail_sends: u32,
    /// How long each checkpoint write takes.
    send_delay: Option<std::time::Duration>,
    sends: u64,
    /// Send attempts so far.
    attempts: u64,
    /// Another instance takes this lane right before this send attempt.
    steal_at: Option<(String, u64)>,
}

/// A checkpoint store in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    shared: Arc<Mutex<Memory>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every output hash: key (`weir:R:M:S:T`) → group → value.
    pub fn outputs(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.memory().outputs.clone()
    }

    /// One output hash.
    pub fn output(&self, key: &str) -> Option<BTreeMap<String, String>> {
        self.memory().outputs.get(key).cloned()
    }

    /// The dead letters written for `rule`.
    pub fn dead_letters(&self, rule: &str) -> Vec<DeadLetter> {
        self.memory()
            .dead_letters
            .get(rule)
            .cloned()
            .unwrap_or_default()
    }

    /// Checkpoints written so far.
    pub fn checkpoints(&self) -> u64 {
        self.memory().sends
    }

    /// Makes the next `count` checkpoint writes fail as if the store were
    /// unreachable (tests of retries).
    pub fn fail_next_sends(&self, count: u32) {
        self.memory().fail_sends = count;
    }

    /// Makes every checkpoint write take `delay`, as a busy store's does
    /// (tests of processing going on meanwhile).
    pub fn slow_sends(&self, delay: std::time::Duration) {
        self.memory().send_delay = Some(delay);
    }

    /// Takes `lane`'s token the way another instance would (tests of
    /// fencing): this store's holder is fenced out of it.
    pub fn steal(&self, lane: &str) -> u64 {
        let mut memory = self.memory();
        let token = memory.fences.entry(lane.to_owned()).or_default();
        *token += 1;
        *token
    }

    /// Makes another instance take `lane` right before the `nth` checkpoint
    /// write from now (1 = the next): that write is refused, whatever runs
    /// in between (tests of fencing).
    pub fn steal_at_send(&self, lane: &str, nth: u64) {
        let mut memory = self.memory();
        let at = memory.attempts + nth;
        memory.steal_at = Some((lane.to_owned(), at));
    }

    /// A rule's meta field in a lane's checkpoint (tests).
    pub fn rule_meta(&self, lane: &str, rule: &str, field: &str) -> Option<String> {
        self.memory()
            .lanes
            .get(lane)?
            .rules
            .get(rule)?
            .meta
            .get(field)
            .cloned()
    }

    /// The slots (open windows) a lane's checkpoint holds of a rule, by id
    /// (tests).
    pub fn slot_ids(&self, lane: &str, rule: &str) -> Vec<String> {
        self.memory()
            .lanes
            .get(lane)
            .and_then(|lane| lane.rules.get(rule))
            .map(|rule| rule.slots.keys().cloned().collect())
            .unwrap_or_default()
    }
}

#[async_trait]
impl CheckpointStore for MemoryStore {
    const NAME: &'static str = "the memory store";
    type Body = MemoryCommit;

    fn prepare(&self, lanes: &[LaneCommit], fences: Vec<Fence>) -> Prepared<MemoryCommit> {
        let mut ops = Vec::new();
        let mut size = CommitSize::default();
        for lane in lanes {
            for rule in &lane.rules {
                rule_ops(&mut ops, &mut size, lane, rule);
            }
            for (field, position) in &lane.positions {
                ops.push(Op::Position {
                    lane: lane.lane.clone(),
                    field: field.clone(),
                    position: position.clone(),
                });
            }
        }
        Prepared {
            body: MemoryCommit { ops },
            fences,
            size,
        }
    }

    async fn send(&mut self, prepared: &Prepared<MemoryCommit>) -> Result<CommitSize, StoreError> {
        let delay = self.memory().send_delay;
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let mut memory = self.memory();
        memory.attempts += 1;
        if let Some((lane, at)) = memory.steal_at.take() {
            if at == memory.attempts {
                *memory.fences.entry(lane).or_default() += 1;
            } else {
                memory.steal_at = Some((lane, at));
            }
        }
        if memory.fail_sends > 0 {
            memory.fail_sends -= 1;
            return Err(StoreError::Unavailable(
                "memory store: failure injected".to_owned(),
            ));
        }
        let fences = &prepared.fences;
        let tokens: Vec<Option<u64>> = fences
            .iter()
            .map(|f| memory.fences.get(&f.lane).copied())
            .collect();
        let seqs: Vec<Option<u64>> = fences
            .iter()
            .map(|f| memory.lanes.get(&f.lane).map(|lane| lane.seq))
            .collect();
        match check_fences(fences, &tokens, &seqs) {
            FenceCheck::Fenced(lost) => return Err(StoreError::Fenced(lost)),
            FenceCheck::AlreadyWritten if !fences.is_empty() => return Ok(prepared.size),
            _ => {}
        }
        for op in prepared.body.ops.iter().cloned() {
            memory.apply(op);
        }
        for fence in fences {
            memory.lanes.entry(fence.lane.clone()).or_default().seq = fence.seq + 1;
        }
        memory.sends += 1;
        Ok(prepared.size)
    }

    async fn open_another(&self) -> Result<Self, StoreError> {
        Ok(self.clone())
    }

    async fn reconnect(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn restore_rule(
        &mut self,
        lane: &str,
        spec: &RuleSpec,
        lateness_ms: i64,
        state: &mut RuleState,
    ) -> Result<usize, StoreError> {
        let data = {
            let memory = self.memory();
            match memory.lanes.get(lane).and_then(|l| l.rules.get(&spec.name)) {
                Some(data) => data.clone(),
                None => return Ok(0),
            }
        };
        if !apply_meta(&data.meta, spec, lateness_ms, state) {
            return Ok(0);
        }
        let mut restored = 0;
        for id in wanted_slots(&data.meta, spec, data.slots.keys().cloned().collect()) {
            let Some(groups) = data.slots.get(&id) else {
                continue;
            };
            let members: HashMap<&str, Vec<u8>> = member_groups(groups)
                .into_iter()
                .map(|group| {
                    let bytes = data
                        .members
                        .get(&(id.clone(), group.clone()))
                        .cloned()
                        .unwrap_or_default();
                    (group.as_str(), bytes)
                })
                .collect();
            restored += apply_slot(state, &id, groups, &members)?;
        }
        realign(&data.meta, spec, lane, state);
        Ok(restored)
    }

    async fn position(&mut self, lane: &str) -> Result<Option<Position>, StoreError> {
        Ok(self
            .memory()
            .lanes
            .get(lane)
            .and_then(|l| l.positions.get(lane).cloned()))
    }

    async fn commit_seq(&mut self, lane: &str) -> Result<u64, StoreError> {
        Ok(self.memory().lanes.get(lane).map_or(0, |l| l.seq))
    }

    async fn forget_rule(&mut self, lane: &str, rule: &str) -> Result<(), StoreError> {
        if let Some(lane) = self.memory().lanes.get_mut(lane) {
            lane.rules.remove(rule);
        }
        Ok(())
    }

    async fn discard_lane(&mut self, lane: &str) -> Result<u64, StoreError> {
        Ok(self
            .memory()
            .lanes
            .remove(lane)
            .map_or(0, |data| (data.positions.len() + data.rules.len()) as u64))
    }

    fn claims(&self) -> Arc<dyn LaneClaims> {
        Arc::new(self.clone())
    }
}

impl LaneClaims for MemoryStore {
    fn claim(&self, lane: &str) -> Assignment {
        let mut memory = self.memory();
        let parked = memory.parked.remove(lane);
        let held = memory.fences.get(lane).copied();
        let (token, kept) = match (parked, held) {
            (Some(token), Some(held)) if token == held => (token, true),
            _ => {
                let token = memory.fences.entry(lane.to_owned()).or_default();
                *token += 1;
                (*token, false)
            }
        };
        let start = memory
            .lanes
            .get(lane)
            .and_then(|l| l.positions.get(lane))
            .map(|p| p.offset);
        Assignment {
            lane: lane.to_owned(),
            token,
            kept,
            start,
        }
    }

    fn park(&self, lane: &str, token: u64) {
        self.memory().parked.insert(lane.to_owned(), token);
    }

    fn clear_parked(&self) {
        self.memory().parked.clear();
    }
}
