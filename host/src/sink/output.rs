//! The public output of a checkpoint (see the README's Redis layout): each
//! changed window's hash, its index entry and TTL, the metric catalog and
//! the dead letters. Users' dashboards read these keys; the checkpoint's
//! private layout is in [`super::commit`].

use std::collections::BTreeMap;

use redis::Pipeline;

use super::keys::{self, CheckpointKeys};
use super::merge;
use crate::checkpoint::{CommitSize, RuleCommit};
use crate::model::Aggregation;
use crate::state::windows::SlotChange;

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

/// Where one metric window's output goes.
pub struct MetricOutput<'a> {
    /// The output settings.
    pub settings: &'a OutputSettings,
    /// The rule.
    pub rule: &'a str,
    /// The metric.
    pub metric: &'a str,
    /// How it aggregates.
    pub aggregation: Aggregation,
    /// The window length.
    pub size_secs: i64,
    /// `Some(keys)` when the lane's values are partials merged across
    /// lanes (its checkpoint keys hold the merge state).
    pub merged: Option<&'a CheckpointKeys>,
}

impl MetricOutput<'_> {
    /// Writes the output values of the changed slots; returns whether any
    /// window was written (then [`MetricOutput::trim_index`] is due).
    pub fn write(&self, pipe: &mut Pipeline, size: &mut CommitSize, slots: &[SlotChange]) -> bool {
        let ttl = self.settings.ttl(self.rule, self.metric);
        let index = keys::output_index(self.rule, self.metric, self.size_secs);
        let mut indexed = false;
        for slot in slots {
            if !slot.kind.is_output() || slot.groups.is_empty() {
                continue;
            }
            let start_secs = slot.start_ms.div_euclid(1000);
            let key = keys::output(self.rule, self.metric, self.size_secs, start_secs);
            match self.merged {
                None => {
                    let fields: Vec<(&str, &str)> = slot
                        .groups
                        .iter()
                        .filter_map(|group| Some((group.key.as_str(), group.output.as_deref()?)))
                        .collect();
                    size.output_fields += fields.len();
                    pipe.hset_multiple(&key, &fields).ignore();
                }
                Some(keys) => {
                    size.output_fields += slot.groups.iter().filter(|g| g.output.is_some()).count();
                    let merge = merge::Merge {
                        keys,
                        output_key: &key,
                        ttl_secs: if ttl > 0 {
                            ttl
                        } else {
                            merge::DEFAULT_TTL_SECS
                        },
                    };
                    match self.aggregation {
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
        if indexed {
            // Keep the newest `index_windows` starts.
            pipe.zremrangebyrank(&index, 0, -(self.settings.index_windows as isize) - 1)
                .ignore();
        }
        indexed
    }
}

/// Appends a rule's dead letters to its stream and (re)writes its metric
/// catalog if asked.
pub fn rule_extras(pipe: &mut Pipeline, commit: &RuleCommit<'_>) {
    let rule = commit.spec.name.as_str();
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
