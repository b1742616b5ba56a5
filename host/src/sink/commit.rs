//! One checkpoint as Redis commands, in a single MULTI/EXEC: the public
//! output ([`super::output`]) and the private checkpoint layout (window
//! state, member hashes, rule meta, source positions) under
//! `weir:ckpt:<namespace>:…`.
//!
//! Output writes are HSETs of absolute values, never increments, so writing
//! the same checkpoint twice, or replaying input after a crash, leaves the
//! same values. Checkpoint state is written as deltas: changed groups only,
//! and for distinct sets only the member hashes added since the previous
//! checkpoint (APPEND), so a checkpoint costs what changed, not the size of
//! the state.
//!
//! A partitioned (Kafka) source checkpoints each partition's lane under its
//! own keys, and merges the lanes' output values in Redis (see
//! [`super::merge`]).

use redis::Pipeline;

use super::keys::CheckpointKeys;
use super::output::{MetricOutput, OutputSettings, rule_extras};
use crate::checkpoint::layout::{rule_meta, slot_id};
use crate::checkpoint::{CommitSize, LaneCommit, RuleCommit};
use crate::state::windows::SlotChange;

/// Builds the commands of one checkpoint (every lane) into an atomic
/// pipeline; `lane_keys` names where each lane's checkpoint lives.
pub fn build(
    settings: &OutputSettings,
    lanes: &[LaneCommit<'_>],
    lane_keys: impl Fn(&str) -> CheckpointKeys,
) -> (Pipeline, CommitSize) {
    let mut pipe = redis::pipe();
    pipe.atomic();
    let mut size = CommitSize::default();
    for lane in lanes {
        let keys = lane_keys(&lane.lane);
        for rule in &lane.rules {
            build_rule(&mut pipe, &mut size, &keys, lane.merged, settings, rule);
        }
        for (field, position) in &lane.positions {
            let json = serde_json::to_string(position).unwrap_or_default();
            pipe.hset(keys.source(), field, json).ignore();
        }
        if lane.merged {
            pipe.sadd(keys.lanes(), &lane.lane).ignore();
        }
    }
    (pipe, size)
}

fn build_rule(
    pipe: &mut Pipeline,
    size: &mut CommitSize,
    keys: &CheckpointKeys,
    merged: bool,
    settings: &OutputSettings,
    commit: &RuleCommit<'_>,
) {
    let rule = commit.spec.name.as_str();
    for (metric, spec, slots) in commit.changed_windows() {
        let output = MetricOutput {
            settings,
            rule,
            metric,
            size_secs: spec.size_secs(),
            keys,
            merged,
        };
        output.write(pipe, size, slots);
        let window_name = spec.to_string();
        for slot in slots {
            let id = slot_id(&metric.name, &window_name, slot.kind.tag(), slot.start_ms);
            slot_state(pipe, size, keys, rule, &id, slot);
        }
    }
    pipe.hset_multiple(keys.rule(rule), &rule_meta(commit))
        .ignore();
    rule_extras(pipe, commit);
}

/// One slot's checkpoint state: deleted once closed, else its changed
/// groups and new member hashes.
fn slot_state(
    pipe: &mut Pipeline,
    size: &mut CommitSize,
    keys: &CheckpointKeys,
    rule: &str,
    id: &str,
    slot: &SlotChange,
) {
    if slot.closed {
        size.closed_slots += 1;
        if slot.persisted {
            pipe.del(keys.slot(rule, id)).ignore();
            for group in &slot.distinct_groups {
                pipe.del(keys.members(rule, id, group)).ignore();
            }
            pipe.srem(keys.slots(rule), id).ignore();
        }
        return;
    }
    let fields: Vec<(&str, &[u8])> = slot
        .groups
        .iter()
        .filter_map(|group| Some((group.key.as_str(), group.state.as_deref()?)))
        .collect();
    if !fields.is_empty() {
        size.state_groups += fields.len();
        pipe.hset_multiple(keys.slot(rule, id), &fields).ignore();
    }
    for group in slot
        .groups
        .iter()
        .filter(|group| !group.new_members.is_empty())
    {
        size.member_bytes += group.new_members.len();
        pipe.append(keys.members(rule, id, &group.key), &group.new_members[..])
            .ignore();
    }
    if !slot.persisted {
        pipe.sadd(keys.slots(rule), id).ignore();
    }
}
