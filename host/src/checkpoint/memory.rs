//! A checkpoint store in memory: the same layout as Redis (output hashes
//! under their public key names, per-lane checkpoint state, fences and
//! sequence numbers), for tests of the pipeline and runs without Redis.
//! Every handle made by [`CheckpointStore::open_another`] and every
//! [`LaneClaims`] it hands out share one state, like connections to one
//! server.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::fence::{FenceCheck, check_fences};
use super::layout::{rule_meta, slot_id};
use super::restore::{apply_meta, apply_slot, member_groups, wanted_slots};
use super::{CheckpointStore, CommitSize, Fence, LaneCommit, Prepared, StoreError};
use crate::model::{Aggregation, Assignment, DeadLetter, LaneClaims, Position, RuleSpec};
use crate::state::RuleState;
use crate::state::hll;

/// Output hash key of one window (the public layout, see the README).
fn output_key(rule: &str, metric: &str, size_secs: i64, start_secs: i64) -> String {
    format!("weir:{rule}:{metric}:{size_secs}:{start_secs}")
}

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
    lanes: BTreeMap<String, LaneData>,
    fences: BTreeMap<String, u64>,
    parked: HashMap<String, u64>,
    dead_letters: BTreeMap<String, Vec<DeadLetter>>,
    fail_sends: u32,
    sends: u64,
}

/// How a lane's output value goes into the shared output hash.
#[derive(Debug, Clone)]
enum OutputWrite {
    /// The lane's value is the value (one lane).
    Set(String),
    /// A count's or sum's change since the lane's last checkpoint.
    Add(f64),
    /// Folded in with min.
    Min(f64),
    /// Folded in with max.
    Max(f64),
    /// New member hashes of a distinct group (8 bytes each).
    Union(Vec<u8>),
    /// Raised HyperLogLog registers, (index big-endian, value) triples.
    Sketch(Vec<u8>),
}

/// One write of a checkpoint.
#[derive(Debug, Clone)]
enum Op {
    Output {
        key: String,
        group: String,
        write: OutputWrite,
    },
    SlotGroups {
        lane: String,
        rule: String,
        slot: String,
        groups: Vec<(String, Vec<u8>)>,
    },
    AppendMembers {
        lane: String,
        rule: String,
        slot: String,
        group: String,
        bytes: Vec<u8>,
    },
    DeleteSlot {
        lane: String,
        rule: String,
        slot: String,
    },
    Meta {
        lane: String,
        rule: String,
        fields: Vec<(String, String)>,
    },
    Position {
        lane: String,
        field: String,
        position: Position,
    },
    DeadLetters {
        rule: String,
        letters: Vec<DeadLetter>,
    },
}

/// A checkpoint prepared for a [`MemoryStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryCommit {
    ops: Vec<Op>,
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

    /// Takes `lane`'s token the way another instance would (tests of
    /// fencing): this store's holder is fenced out of it.
    pub fn steal(&self, lane: &str) -> u64 {
        let mut memory = self.memory();
        let token = memory.fences.entry(lane.to_owned()).or_default();
        *token += 1;
        *token
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
}

impl Memory {
    fn apply(&mut self, op: Op) {
        match op {
            Op::Output { key, group, write } => self.write_output(key, group, write),
            Op::SlotGroups {
                lane,
                rule,
                slot,
                groups,
            } => {
                let data = self.rule_data(&lane, &rule);
                data.slots.entry(slot).or_default().extend(groups);
            }
            Op::AppendMembers {
                lane,
                rule,
                slot,
                group,
                bytes,
            } => {
                let data = self.rule_data(&lane, &rule);
                data.members
                    .entry((slot, group))
                    .or_default()
                    .extend_from_slice(&bytes);
            }
            Op::DeleteSlot { lane, rule, slot } => {
                let data = self.rule_data(&lane, &rule);
                data.slots.remove(&slot);
                data.members.retain(|(s, _), _| *s != slot);
            }
            Op::Meta { lane, rule, fields } => {
                self.rule_data(&lane, &rule).meta.extend(fields);
            }
            Op::Position {
                lane,
                field,
                position,
            } => {
                let lane = self.lanes.entry(lane).or_default();
                lane.positions.insert(field, position);
            }
            Op::DeadLetters { rule, letters } => {
                self.dead_letters.entry(rule).or_default().extend(letters);
            }
        }
    }

    fn rule_data(&mut self, lane: &str, rule: &str) -> &mut RuleData {
        self.lanes
            .entry(lane.to_owned())
            .or_default()
            .rules
            .entry(rule.to_owned())
            .or_default()
    }

    fn write_output(&mut self, key: String, group: String, write: OutputWrite) {
        let old = self
            .outputs
            .get(&key)
            .and_then(|hash| hash.get(&group))
            .and_then(|v| v.parse::<f64>().ok());
        let value = match write {
            OutputWrite::Set(value) => value,
            OutputWrite::Add(x) => render(old.unwrap_or(0.0) + x),
            OutputWrite::Min(x) => render(old.map_or(x, |old| old.min(x))),
            OutputWrite::Max(x) => render(old.map_or(x, |old| old.max(x))),
            OutputWrite::Union(bytes) => {
                let set = self.unions.entry((key.clone(), group.clone())).or_default();
                for chunk in bytes.chunks_exact(8) {
                    let mut hash = [0u8; 8];
                    hash.copy_from_slice(chunk);
                    set.insert(u64::from_le_bytes(hash));
                }
                set.len().to_string()
            }
            OutputWrite::Sketch(bytes) => {
                let registers = self
                    .sketches
                    .entry((key.clone(), group.clone()))
                    .or_insert_with(|| vec![0; hll::REGISTER_COUNT]);
                for triple in bytes.chunks_exact(3) {
                    let index = usize::from(triple[0]) << 8 | usize::from(triple[1]);
                    if let Some(register) = registers.get_mut(index) {
                        *register = (*register).max(triple[2]);
                    }
                }
                let mut ranks = vec![0u32; usize::from(hll::MAX_REGISTER) + 1];
                for &register in registers.iter() {
                    if let Some(rank) = ranks.get_mut(usize::from(register)) {
                        *rank += 1;
                    }
                }
                hll::estimate_from_ranks(&ranks).to_string()
            }
        };
        self.outputs.entry(key).or_default().insert(group, value);
    }
}

/// A number as the output shows it: the shortest decimal that reads back
/// as the same double.
fn render(x: f64) -> String {
    x.to_string()
}

/// The writes of one lane's rule, in the order Redis would apply them.
fn rule_ops(
    ops: &mut Vec<Op>,
    size: &mut CommitSize,
    lane: &LaneCommit<'_>,
    commit: &super::RuleCommit<'_>,
) {
    let rule = commit.spec.name.as_str();
    for changes in &commit.changes {
        let (Some(metric), Some(metric_state)) = (
            commit.spec.metrics.get(changes.metric),
            commit.state.metrics.get(changes.metric),
        ) else {
            continue;
        };
        let Some(windows) = metric_state.windows.get(changes.window) else {
            continue;
        };
        let spec = windows.spec();
        let window_name = spec.to_string();
        for slot in &changes.slots {
            if slot.kind.is_output() {
                let key = output_key(
                    rule,
                    &metric.name,
                    spec.size_secs(),
                    slot.start_ms.div_euclid(1000),
                );
                for group in &slot.groups {
                    let write = match (lane.merged, metric.aggregation) {
                        (false, _) => group.output.clone().map(OutputWrite::Set),
                        (true, Aggregation::Distinct) => {
                            Some(OutputWrite::Union(group.new_members.clone()))
                        }
                        (true, Aggregation::ApproxDistinct) => {
                            Some(OutputWrite::Sketch(group.new_registers.clone()))
                        }
                        (true, Aggregation::Min) => group.merge_value.map(OutputWrite::Min),
                        (true, Aggregation::Max) => group.merge_value.map(OutputWrite::Max),
                        (true, _) => group.merge_value.map(OutputWrite::Add),
                    };
                    if let Some(write) = write {
                        size.output_fields += 1;
                        ops.push(Op::Output {
                            key: key.clone(),
                            group: group.key.clone(),
                            write,
                        });
                    }
                }
            }
            let id = slot_id(&metric.name, &window_name, slot.kind.tag(), slot.start_ms);
            if slot.closed {
                size.closed_slots += 1;
                ops.push(Op::DeleteSlot {
                    lane: lane.lane.clone(),
                    rule: rule.to_owned(),
                    slot: id,
                });
                continue;
            }
            let groups: Vec<(String, Vec<u8>)> = slot
                .groups
                .iter()
                .filter_map(|group| Some((group.key.clone(), group.state.clone()?)))
                .collect();
            size.state_groups += groups.len();
            ops.push(Op::SlotGroups {
                lane: lane.lane.clone(),
                rule: rule.to_owned(),
                slot: id.clone(),
                groups,
            });
            for group in slot.groups.iter().filter(|g| !g.new_members.is_empty()) {
                size.member_bytes += group.new_members.len();
                ops.push(Op::AppendMembers {
                    lane: lane.lane.clone(),
                    rule: rule.to_owned(),
                    slot: id.clone(),
                    group: group.key.clone(),
                    bytes: group.new_members.clone(),
                });
            }
        }
    }
    ops.push(Op::Meta {
        lane: lane.lane.clone(),
        rule: rule.to_owned(),
        fields: rule_meta(commit),
    });
    if !commit.dead_letters.is_empty() {
        ops.push(Op::DeadLetters {
            rule: rule.to_owned(),
            letters: commit.dead_letters.clone(),
        });
    }
}

#[async_trait]
impl CheckpointStore for MemoryStore {
    type Body = MemoryCommit;

    fn prepare(&self, lanes: &[LaneCommit<'_>], fences: Vec<Fence>) -> Prepared<MemoryCommit> {
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
        let mut memory = self.memory();
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
