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
use crate::model::Aggregation;
use crate::state::slot::SlotKind;
use crate::state::windows::SlotChange;

/// Builds the commands of one checkpoint (every lane) into an atomic
/// pipeline; `lane_keys` names where each lane's checkpoint lives.
pub fn build(
    settings: &OutputSettings,
    lanes: &[LaneCommit],
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
    commit: &RuleCommit,
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
            let keep = needs_state(merged, metric.aggregation, slot.kind);
            slot_state(pipe, size, keys, rule, &id, slot, keep);
        }
    }
    pipe.hset_multiple(keys.rule(rule), &rule_meta(commit))
        .ignore();
    pipe.sadd(keys.rule_names(), rule).ignore();
    rule_extras(pipe, commit);
}

/// Whether a slot's groups must be in the checkpoint for a restart to
/// give the right output.
///
/// A lane of a partitioned source folds a count, sum, min, max, decimal
/// sum or mean into the merged output as a change since its last
/// checkpoint (or, for min and max, a value folded in idempotently), in
/// the same MULTI/EXEC as its offset. So the output already holds every
/// checkpointed record's part, and a lane restarted without the slot (or
/// with an older copy of it, written before this rule) adds only what
/// comes after, which is what it must add. Writing the state anyway cost
/// Redis one hash field per group per checkpoint: for a metric per client
/// IP and minute, one per input line, about a sixth of Redis' time on the
/// Kafka bench (BENCHMARKS.md, issue 14 items 4 and 5).
///
/// Step panes are never output (their records reach the output when the
/// pane closes), and distinct counts need their members to know which
/// ones are new, so both keep their state.
fn needs_state(merged: bool, aggregation: Aggregation, kind: SlotKind) -> bool {
    let folded = matches!(
        aggregation,
        Aggregation::Count
            | Aggregation::Sum
            | Aggregation::Min
            | Aggregation::Max
            | Aggregation::DecimalSum { .. }
            | Aggregation::Avg { .. }
    );
    !(merged && folded && kind.is_output())
}

/// One slot's checkpoint state: deleted once closed, else (when `keep`)
/// its changed groups and new member hashes.
fn slot_state(
    pipe: &mut Pipeline,
    size: &mut CommitSize,
    keys: &CheckpointKeys,
    rule: &str,
    id: &str,
    slot: &SlotChange,
    keep: bool,
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
    if !keep {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_merged_lanes_folded_outputs_go_without_state() {
        let count = Aggregation::Count;
        assert!(!needs_state(true, count, SlotKind::Window));
        assert!(!needs_state(true, count, SlotKind::Total));
        assert!(needs_state(true, count, SlotKind::Pane));
        assert!(needs_state(false, count, SlotKind::Window));
        for kept in [Aggregation::Distinct, Aggregation::ApproxDistinct] {
            assert!(needs_state(true, kept, SlotKind::Window), "{kept}");
        }
        assert!(!needs_state(
            true,
            Aggregation::Avg { scale: 2 },
            SlotKind::Window
        ));
    }
}
