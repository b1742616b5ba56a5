//! One checkpoint: output values, window state and source position, written
//! to Redis in a single MULTI/EXEC.
//!
//! Output writes are HSETs of absolute values, never increments, so writing
//! the same checkpoint twice, or replaying input after a crash, leaves the
//! same values. Checkpoint state is written as deltas: changed groups only,
//! and for distinct sets only the member hashes added since the previous
//! checkpoint (APPEND), so a checkpoint costs what changed, not the size of
//! the state.
//!
//! A partitioned (Kafka) source checkpoints each partition's lane under its
//! own keys, and merges the lanes' output values in Redis (see [`merge`]).

use std::collections::BTreeMap;

use redis::Pipeline;

use super::merge;

use super::keys::{self, CheckpointKeys};
use crate::plugin::spec::{Aggregation, RuleSpec};
use crate::processor::DeadLetter;
use crate::source::Position;
use crate::state::{MetricChanges, RuleState};

/// Dead letters kept per rule (approximately: Redis trims whole nodes).
const DEAD_LETTERS_KEPT: usize = 100_000;

/// Output settings that apply to every rule.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    /// TTL of output hashes when a metric has none of its own (0 = none).
    pub default_ttl_secs: u64,
    /// Per rule, per metric TTLs.
    pub ttl_secs: BTreeMap<String, BTreeMap<String, u64>>,
    /// How many recent windows each metric's index keeps.
    pub index_windows: usize,
}

impl OutputSettings {
    fn ttl(&self, rule: &str, metric: &str) -> u64 {
        self.ttl_secs
            .get(rule)
            .and_then(|metrics| metrics.get(metric))
            .copied()
            .unwrap_or(self.default_ttl_secs)
    }
}

/// One rule's part of a checkpoint.
pub struct RuleCommit<'a> {
    /// The rule's manifest.
    pub spec: &'a RuleSpec,
    /// Names the loaded version.
    pub version_hash: &'a str,
    /// When this version was loaded, Unix milliseconds.
    pub loaded_at_ms: u64,
    /// Remaining quarantine, in milliseconds (0 = not quarantined).
    pub quarantined_for_ms: u64,
    /// Its state after the changes were drained (watermark, counters).
    pub state: &'a RuleState,
    /// The last error loading a new version, while the old one runs.
    pub last_load_error: Option<&'a str>,
    /// What changed since the previous checkpoint.
    pub changes: Vec<MetricChanges>,
    /// Records the rule failed on since the previous checkpoint.
    pub dead_letters: Vec<DeadLetter>,
    /// Whether to (re)write the rule's metric catalog.
    pub write_catalog: bool,
}

/// One lane's part of a checkpoint: its rules' state and its position.
pub struct LaneCommit<'a> {
    /// Where the lane's checkpoint lives.
    pub keys: CheckpointKeys,
    /// `Some(lane)` for a partition of a partitioned source: its output
    /// values are partials, merged with the other lanes' (see [`merge`]).
    pub merge_as: Option<String>,
    /// Source positions to record (field, position).
    pub positions: Vec<(String, Position)>,
    /// Each rule's state in this lane.
    pub rules: Vec<RuleCommit<'a>>,
}

/// Counts of what a checkpoint wrote, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitSize {
    /// Output fields written.
    pub output_fields: usize,
    /// Checkpoint groups written.
    pub state_groups: usize,
    /// Member hash bytes appended.
    pub member_bytes: usize,
    /// Slots closed.
    pub closed_slots: usize,
}

/// Builds the commands of one checkpoint (every lane) into an atomic
/// pipeline.
pub fn build(settings: &OutputSettings, lanes: &[LaneCommit<'_>]) -> (Pipeline, CommitSize) {
    let mut pipe = redis::pipe();
    pipe.atomic();
    let mut size = CommitSize::default();
    for lane in lanes {
        for rule in &lane.rules {
            build_rule(&mut pipe, &mut size, lane, settings, rule);
        }
        for (field, position) in &lane.positions {
            let json = serde_json::to_string(position).unwrap_or_default();
            pipe.hset(lane.keys.source(), field, json).ignore();
        }
        if let Some(name) = &lane.merge_as {
            pipe.sadd(lane.keys.lanes(), name).ignore();
        }
    }
    (pipe, size)
}

fn build_rule(
    pipe: &mut Pipeline,
    size: &mut CommitSize,
    lane: &LaneCommit<'_>,
    settings: &OutputSettings,
    commit: &RuleCommit<'_>,
) {
    let keys = &lane.keys;
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
        let size_secs = spec.size_secs();
        let ttl = settings.ttl(rule, &metric.name);
        let index = keys::output_index(rule, &metric.name, size_secs);
        let mut indexed = false;
        for slot in &changes.slots {
            let slot_id = keys::slot_id(&metric.name, &window_name, slot.kind.tag(), slot.start_ms);
            if slot.kind.is_output() && !slot.groups.is_empty() {
                let start_secs = slot.start_ms.div_euclid(1000);
                let key = keys::output(rule, &metric.name, size_secs, start_secs);
                let fields: Vec<(&str, &str)> = slot
                    .groups
                    .iter()
                    .filter_map(|group| Some((group.key.as_str(), group.output.as_deref()?)))
                    .collect();
                size.output_fields += fields.len();
                match &lane.merge_as {
                    None => {
                        pipe.hset_multiple(&key, &fields).ignore();
                    }
                    Some(_) => {
                        let merge_ttl = if ttl > 0 {
                            ttl
                        } else {
                            merge::DEFAULT_TTL_SECS
                        };
                        let merge = merge::Merge {
                            keys,
                            output_key: &key,
                            ttl_secs: merge_ttl,
                        };
                        match metric.aggregation {
                            Aggregation::Distinct => merge.distinct(pipe, &slot.groups),
                            Aggregation::ApproxDistinct => merge.sketch(pipe, &slot.groups),
                            other => merge.numbers(pipe, other, &slot.groups),
                        }
                    }
                }
                if ttl > 0 {
                    pipe.expire(&key, ttl as i64).ignore();
                }
                pipe.zadd(&index, start_secs, start_secs).ignore();
                indexed = true;
            }
            if slot.closed {
                size.closed_slots += 1;
                if slot.persisted {
                    pipe.del(keys.slot(rule, &slot_id)).ignore();
                    for group in &slot.distinct_groups {
                        pipe.del(keys.members(rule, &slot_id, group)).ignore();
                    }
                    pipe.srem(keys.slots(rule), &slot_id).ignore();
                }
                continue;
            }
            let fields: Vec<(&str, &[u8])> = slot
                .groups
                .iter()
                .filter_map(|group| Some((group.key.as_str(), group.state.as_deref()?)))
                .collect();
            if !fields.is_empty() {
                size.state_groups += fields.len();
                pipe.hset_multiple(keys.slot(rule, &slot_id), &fields)
                    .ignore();
            }
            for group in slot
                .groups
                .iter()
                .filter(|group| !group.new_members.is_empty())
            {
                size.member_bytes += group.new_members.len();
                pipe.append(
                    keys.members(rule, &slot_id, &group.key),
                    &group.new_members[..],
                )
                .ignore();
            }
            if !slot.persisted {
                pipe.sadd(keys.slots(rule), &slot_id).ignore();
            }
        }
        if indexed {
            // Keep the newest `index_windows` starts.
            pipe.zremrangebyrank(&index, 0, -(settings.index_windows as isize) - 1)
                .ignore();
        }
    }
    let watermark = &commit.state.watermark;
    let mut meta: Vec<(String, String)> = vec![
        (
            "max_event_ms".to_owned(),
            watermark
                .max_event_ms()
                .map_or_else(String::new, |ms| ms.to_string()),
        ),
        (
            "closed_all".to_owned(),
            u8::from(watermark.is_closed_all()).to_string(),
        ),
        (
            "stats".to_owned(),
            serde_json::to_string(&commit.state.stats).unwrap_or_default(),
        ),
        ("version".to_owned(), commit.spec.version.clone()),
        ("version_hash".to_owned(), commit.version_hash.to_owned()),
        ("loaded_at_ms".to_owned(), commit.loaded_at_ms.to_string()),
        (
            "quarantined_for_ms".to_owned(),
            commit.quarantined_for_ms.to_string(),
        ),
        (
            "last_load_error".to_owned(),
            commit.last_load_error.unwrap_or_default().to_owned(),
        ),
    ];
    for metric in &commit.spec.metrics {
        meta.push((format!("def:{}", metric.name), metric.signature()));
    }
    pipe.hset_multiple(keys.rule(rule), &meta).ignore();
    let dead_stream = keys::dead_letters(rule);
    for dead in &commit.dead_letters {
        pipe.cmd("XADD")
            .arg(&dead_stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(DEAD_LETTERS_KEPT)
            .arg("*")
            .arg("reason")
            .arg(&dead.reason)
            .arg("source")
            .arg(&dead.source)
            .arg("partition")
            .arg(dead.partition)
            .arg("offset")
            .arg(dead.offset)
            .arg("version")
            .arg(&dead.version)
            .arg("payload")
            .arg(&dead.payload[..])
            .ignore();
    }
    if commit.write_catalog {
        let catalog: Vec<(String, String)> = commit
            .spec
            .metrics
            .iter()
            .map(|metric| {
                let windows: Vec<serde_json::Value> = metric
                    .windows
                    .iter()
                    .map(|w| serde_json::json!({ "window": w.to_string(), "size_secs": w.size_secs() }))
                    .collect();
                let json = serde_json::json!({
                    "aggregation": metric.aggregation.to_string(),
                    "windows": windows,
                });
                (metric.name.clone(), json.to_string())
            })
            .collect();
        pipe.hset_multiple(keys::catalog(rule), &catalog).ignore();
    }
}
