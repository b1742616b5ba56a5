//! Folding the lanes one instance checkpoints together into one change per
//! output window, before anything is sent to Redis.
//!
//! Each lane (a Kafka partition) keeps its own window state, so a
//! partition can move to another instance. Their output values are merged
//! in Redis (see [`super::merge`]). On one Redis a checkpoint of every lane
//! is one MULTI/EXEC, so instead of one merge per lane and window, the
//! lanes' changes of each window are added up here first and Redis gets
//! each window's change once: one `HINCRBY` per group rather than one per
//! group and lane, each new member once rather than once per lane that saw
//! it. What a lane contributes is the same as before, so the merged values
//! are those of merging lane by lane (a float `sum` may round differently
//! in its last digit, as adding its lanes in another order would).
//!
//! A Redis Cluster writes each lane on its own (its outbox and guards are
//! per lane), so it does not fold.

use std::collections::BTreeMap;

use crate::checkpoint::LaneCommit;
use crate::model::{Aggregation, MetricSpec};
use crate::state::aggregate::Delta;
use crate::state::windows::{GroupChange, SlotChange};

/// One output window's change from every folded lane.
pub struct FoldedWindow<'a> {
    /// The rule.
    pub rule: &'a str,
    /// The metric.
    pub metric: &'a MetricSpec,
    /// The window length.
    pub size_secs: i64,
    /// The window's changed groups, every lane's contribution added up
    /// (only what a merge reads: merge values, deltas, new members and
    /// registers; no checkpoint state).
    pub slot: SlotChange,
}

/// Which window a slot change belongs to: rule, metric, window shape,
/// slot kind and start.
type WindowId<'a> = (&'a str, &'a str, String, char, i64);

/// The output windows the merged lanes of `lanes` changed, each once.
pub fn fold<'a>(lanes: &'a [LaneCommit<'a>]) -> Vec<FoldedWindow<'a>> {
    let mut windows: BTreeMap<WindowId<'a>, FoldedWindow<'a>> = BTreeMap::new();
    let mut groups: BTreeMap<WindowId<'a>, BTreeMap<&'a str, GroupChange>> = BTreeMap::new();
    for lane in lanes.iter().filter(|lane| lane.merged) {
        for rule in &lane.rules {
            let name = rule.spec.name.as_str();
            for (metric, spec, slots) in rule.changed_windows() {
                for slot in slots {
                    if !slot.kind.is_output() || slot.groups.is_empty() {
                        continue;
                    }
                    let id = (
                        name,
                        metric.name.as_str(),
                        spec.to_string(),
                        slot.kind.tag(),
                        slot.start_ms,
                    );
                    windows.entry(id.clone()).or_insert_with(|| FoldedWindow {
                        rule: name,
                        metric,
                        size_secs: spec.size_secs(),
                        slot: empty_like(slot),
                    });
                    let folded = groups.entry(id).or_default();
                    for change in &slot.groups {
                        match folded.get_mut(change.key.as_str()) {
                            Some(sum) => add(sum, change, metric.aggregation),
                            None => {
                                folded.insert(change.key.as_str(), contribution(change));
                            }
                        }
                    }
                }
            }
        }
    }
    windows
        .into_iter()
        .map(|(id, mut window)| {
            window.slot.groups = groups
                .remove(&id)
                .unwrap_or_default()
                .into_values()
                .map(|mut group| {
                    dedup_members(&mut group.new_members);
                    group
                })
                .collect();
            window
        })
        .collect()
}

/// A slot like `slot` with no groups.
fn empty_like(slot: &SlotChange) -> SlotChange {
    SlotChange {
        kind: slot.kind,
        start_ms: slot.start_ms,
        groups: Vec::new(),
        closed: false,
        persisted: true,
        distinct_groups: Vec::new(),
    }
}

/// What `change` contributes to a merge (its checkpoint state left out).
fn contribution(change: &GroupChange) -> GroupChange {
    GroupChange {
        state: None,
        ..change.clone()
    }
}

/// Adds lane change `change` into `sum`, as the merge in Redis would.
fn add(sum: &mut GroupChange, change: &GroupChange, aggregation: Aggregation) {
    sum.merge_value = match (sum.merge_value, change.merge_value) {
        (Some(a), Some(b)) => Some(match aggregation {
            Aggregation::Min => a.min(b),
            Aggregation::Max => a.max(b),
            _ => a + b,
        }),
        (a, b) => a.or(b),
    };
    if sum.output.is_none() {
        sum.output.clone_from(&change.output);
    }
    sum.new_members.extend_from_slice(&change.new_members);
    // The merge keeps each register's largest value, in any order.
    sum.new_registers.extend_from_slice(&change.new_registers);
    sum.delta = match (sum.delta.take(), &change.delta) {
        (Some(Delta::Units(a)), Some(Delta::Units(b))) => Some(Delta::Units(a + b)),
        (
            Some(Delta::Mean { units, count }),
            Some(Delta::Mean {
                units: more,
                count: added,
            }),
        ) => Some(Delta::Mean {
            units: units + more,
            count: count + added,
        }),
        // Bucket counts are added by the merge, so repeats are fine.
        (Some(Delta::Buckets(mut a)), Some(Delta::Buckets(b))) => {
            a.extend_from_slice(b);
            Some(Delta::Buckets(a))
        }
        (a, b) => a.or_else(|| b.clone()),
    };
}

/// Member hashes are 8 bytes each: keeps each once (the union would
/// anyway; this saves sending it twice).
fn dedup_members(members: &mut Vec<u8>) {
    if members.len() <= 8 {
        return;
    }
    let mut hashes: Vec<[u8; 8]> = members
        .chunks_exact(8)
        .filter_map(|chunk| chunk.try_into().ok())
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    members.clear();
    for hash in hashes {
        members.extend_from_slice(&hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, merge_value: Option<f64>, members: &[u64]) -> GroupChange {
        GroupChange {
            key: key.to_owned(),
            output: Some("x".to_owned()),
            merge_value,
            state: Some(vec![1]),
            new_members: members.iter().flat_map(|m| m.to_be_bytes()).collect(),
            new_registers: Vec::new(),
            delta: None,
            quantiles: Vec::new(),
        }
    }

    #[test]
    fn lane_changes_add_up_as_the_merge_would() {
        let mut count = change("a", Some(2.0), &[]);
        add(&mut count, &change("a", Some(3.0), &[]), Aggregation::Count);
        assert_eq!(count.merge_value, Some(5.0));
        let mut min = change("a", Some(2.0), &[]);
        add(&mut min, &change("a", Some(1.5), &[]), Aggregation::Min);
        assert_eq!(min.merge_value, Some(1.5));
        let mut max = change("a", Some(2.0), &[]);
        add(&mut max, &change("a", Some(1.5), &[]), Aggregation::Max);
        assert_eq!(max.merge_value, Some(2.0));

        let mut units = change("a", None, &[]);
        units.delta = Some(Delta::Units(150));
        let mut more = change("a", None, &[]);
        more.delta = Some(Delta::Units(-20));
        add(&mut units, &more, Aggregation::DecimalSum { scale: 2 });
        assert_eq!(units.delta, Some(Delta::Units(130)));

        let mut mean = change("a", None, &[]);
        mean.delta = Some(Delta::Mean {
            units: 10,
            count: 2,
        });
        let mut other = change("a", None, &[]);
        other.delta = Some(Delta::Mean { units: 5, count: 1 });
        add(&mut mean, &other, Aggregation::Avg { scale: 0 });
        assert_eq!(
            mean.delta,
            Some(Delta::Mean {
                units: 15,
                count: 3
            })
        );

        let mut seen = change("a", None, &[3, 1]);
        add(
            &mut seen,
            &change("a", None, &[1, 2]),
            Aggregation::Distinct,
        );
        dedup_members(&mut seen.new_members);
        let expected: Vec<u8> = [1u64, 2, 3].iter().flat_map(|m| m.to_be_bytes()).collect();
        assert_eq!(seen.new_members, expected);
    }
}
