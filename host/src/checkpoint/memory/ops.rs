//! A checkpoint as writes to a [`MemoryStore`](super::MemoryStore): built
//! from the lanes' changes like the Redis pipeline is, applied all at once
//! when it is sent.

use super::{Memory, RuleData};
use crate::checkpoint::layout::{rule_meta, slot_id};
use crate::checkpoint::{CommitSize, LaneCommit, RuleCommit};
use crate::model::{Aggregation, DeadLetter, Position};
use crate::state::aggregate::{Aggregate, Delta};
use crate::state::hll;

/// Output hash key of one window (the public layout, see the README).
fn output_key(rule: &str, metric: &str, size_secs: i64, start_secs: i64) -> String {
    format!("weir:{rule}:{metric}:{size_secs}:{start_secs}")
}

/// How a lane's output value goes into the shared output hash.
#[derive(Debug, Clone)]
pub(super) enum OutputWrite {
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
    /// A decimal sum's, mean's or quantile sketch's change, merged into
    /// the aggregate kept for the group (contract 0.2.0); a sketch's
    /// quantiles go to `quantile_keys`.
    Exact {
        /// The change.
        delta: Delta,
        /// The merged aggregate's empty value.
        empty: Aggregate,
        /// Quantiles: each quantile's output key.
        quantile_keys: Vec<String>,
    },
}

/// One write of a checkpoint.
#[derive(Debug, Clone)]
pub(super) enum Op {
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
    pub(super) ops: Vec<Op>,
}

impl Memory {
    pub(super) fn apply(&mut self, op: Op) {
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
            OutputWrite::Exact {
                delta,
                empty,
                quantile_keys,
            } => {
                let merged = self
                    .exact
                    .entry((key.clone(), group.clone()))
                    .or_insert(empty);
                merged.absorb(&delta);
                let quantiles = merged.quantiles();
                if !quantile_keys.is_empty() {
                    for (key, value) in quantile_keys.into_iter().zip(quantiles) {
                        self.outputs
                            .entry(key)
                            .or_default()
                            .insert(group.clone(), value);
                    }
                    return;
                }
                merged.render()
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
pub(super) fn rule_ops(
    ops: &mut Vec<Op>,
    size: &mut CommitSize,
    lane: &LaneCommit,
    commit: &RuleCommit,
) {
    let rule = commit.spec.name.as_str();
    for (metric, spec, slots) in commit.changed_windows() {
        let window_name = spec.to_string();
        for slot in slots {
            if slot.kind.is_output() {
                let start_secs = slot.start_ms.div_euclid(1000);
                let key = output_key(rule, &metric.name, spec.size_secs(), start_secs);
                let quantile_keys: Vec<String> = match metric.aggregation {
                    Aggregation::Quantiles(set) => set
                        .suffixes()
                        .iter()
                        .map(|suffix| {
                            output_key(
                                rule,
                                &format!("{}{suffix}", metric.name),
                                spec.size_secs(),
                                start_secs,
                            )
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                for group in &slot.groups {
                    let write = match (lane.merged, metric.aggregation) {
                        (false, Aggregation::Quantiles(_)) => {
                            for (key, value) in quantile_keys.iter().zip(&group.quantiles) {
                                ops.push(Op::Output {
                                    key: key.clone(),
                                    group: group.key.clone(),
                                    write: OutputWrite::Set(value.clone()),
                                });
                            }
                            None
                        }
                        (false, _) => group.output.clone().map(OutputWrite::Set),
                        (
                            true,
                            Aggregation::DecimalSum { .. }
                            | Aggregation::Avg { .. }
                            | Aggregation::Quantiles(_),
                        ) => group.delta.clone().map(|delta| OutputWrite::Exact {
                            delta,
                            empty: Aggregate::empty(metric.aggregation),
                            quantile_keys: quantile_keys.clone(),
                        }),
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
