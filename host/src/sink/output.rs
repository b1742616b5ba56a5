//! The public output of a checkpoint (see the README's Redis layout): each
//! changed window's hash, its index entry and TTL, the metric catalog and
//! the dead letters. Users' dashboards read these keys; the checkpoint's
//! private layout is in [`super::commit`].

use std::collections::BTreeMap;

use redis::Pipeline;

use super::keys::{self, CheckpointKeys};
use super::{alerts, merge, merge_exact, rank};
use crate::checkpoint::{CommitSize, RuleCommit};
use crate::model::{Aggregation, MetricSpec};
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
    pub metric: &'a MetricSpec,
    /// The window length.
    pub size_secs: i64,
    /// The lane's checkpoint keys (merge state shares their base).
    pub keys: &'a CheckpointKeys,
    /// Whether the lane's values are partials merged across lanes.
    pub merged: bool,
}

impl MetricOutput<'_> {
    /// The names the metric is published under: itself, or one per
    /// quantile (`cpu_p50`, `cpu_p99`).
    fn published_names(&self) -> Vec<String> {
        match self.metric.aggregation {
            Aggregation::Quantiles(set) => set
                .suffixes()
                .iter()
                .map(|suffix| format!("{}{suffix}", self.metric.name))
                .collect(),
            _ => vec![self.metric.name.clone()],
        }
    }

    /// Writes the output values of the changed slots; returns whether any
    /// window was written.
    pub fn write(&self, pipe: &mut Pipeline, size: &mut CommitSize, slots: &[SlotChange]) -> bool {
        let ttl = self.settings.ttl(self.rule, &self.metric.name);
        let merge_ttl = if ttl > 0 {
            ttl
        } else {
            merge::DEFAULT_TTL_SECS
        };
        let names = self.published_names();
        let mut indexed = false;
        for slot in slots {
            if !slot.kind.is_output() || slot.groups.is_empty() {
                continue;
            }
            let start_secs = slot.start_ms.div_euclid(1000);
            let output_keys: Vec<String> = names
                .iter()
                .map(|name| keys::output(self.rule, name, self.size_secs, start_secs))
                .collect();
            let key = &output_keys[0];
            size.output_fields += slot.groups.iter().filter(|g| g.output.is_some()).count();
            if self.merged {
                self.merge(pipe, slot, &output_keys, merge_ttl);
            } else if let Aggregation::Quantiles(_) = self.metric.aggregation {
                for (index, output_key) in output_keys.iter().enumerate() {
                    let fields: Vec<(&str, &str)> = slot
                        .groups
                        .iter()
                        .filter_map(|group| {
                            Some((group.key.as_str(), group.quantiles.get(index)?.as_str()))
                        })
                        .collect();
                    pipe.hset_multiple(output_key, &fields).ignore();
                }
            } else {
                let fields: Vec<(&str, &str)> = slot
                    .groups
                    .iter()
                    .filter_map(|group| Some((group.key.as_str(), group.output.as_deref()?)))
                    .collect();
                pipe.hset_multiple(key, &fields).ignore();
            }
            let changed = || slot.groups.iter().map(|group| group.key.as_str());
            if let Some(n) = self.metric.top {
                let top = rank::TopN {
                    output_key: key,
                    ranking_key: self.keys.merge_state("rank", key),
                    top_key: keys::output_top(key, self.keys.is_cluster()),
                    n,
                };
                top.update(pipe, merge_ttl, ttl, changed());
            }
            if let Some(alert) = &self.metric.alert {
                let check = alerts::AlertCheck {
                    rule: self.rule,
                    metric: &self.metric.name,
                    alert,
                    output_key: key,
                    start_secs,
                    size_secs: self.size_secs,
                    cluster: self.keys.is_cluster(),
                };
                check.check(pipe, changed());
            }
            for output_key in &output_keys {
                if ttl > 0 {
                    pipe.expire(output_key, ttl as i64).ignore();
                }
            }
            for name in &names {
                let index = keys::output_index(self.rule, name, self.size_secs);
                pipe.zadd(&index, start_secs, start_secs).ignore();
            }
            indexed = true;
        }
        if indexed {
            // Keep the newest `index_windows` starts.
            for name in &names {
                let index = keys::output_index(self.rule, name, self.size_secs);
                pipe.zremrangebyrank(&index, 0, -(self.settings.index_windows as isize) - 1)
                    .ignore();
            }
        }
        indexed
    }

    /// Folds a lane's changes into the values merged across lanes.
    fn merge(&self, pipe: &mut Pipeline, slot: &SlotChange, output_keys: &[String], ttl_secs: u64) {
        let key = &output_keys[0];
        let merge = merge::Merge {
            keys: self.keys,
            output_key: key,
            ttl_secs,
        };
        let exact = merge_exact::ExactMerge {
            keys: self.keys,
            output_key: key,
            ttl_secs,
        };
        match self.metric.aggregation {
            Aggregation::Distinct => merge.distinct(pipe, &slot.groups),
            Aggregation::ApproxDistinct => merge.sketch(pipe, &slot.groups),
            Aggregation::DecimalSum { scale } => exact.units(pipe, scale, &slot.groups),
            Aggregation::Avg { scale } => exact.mean(pipe, scale, &slot.groups),
            Aggregation::Quantiles(set) => exact.quantiles(pipe, set, output_keys, &slot.groups),
            other => merge.numbers(pipe, other, &slot.groups),
        }
    }
}

/// Appends a rule's dead letters to its stream and (re)writes its metric
/// catalog if asked.
pub fn rule_extras(pipe: &mut Pipeline, commit: &RuleCommit) {
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
                let mut json = serde_json::json!({
                    "aggregation": metric.aggregation.to_string(),
                    "windows": windows,
                });
                if let Aggregation::Quantiles(set) = metric.aggregation {
                    let published: Vec<String> = set
                        .suffixes()
                        .iter()
                        .map(|suffix| format!("{}{suffix}", metric.name))
                        .collect();
                    json["published_as"] = serde_json::json!(published);
                }
                if let Some(n) = metric.top {
                    json["top"] = serde_json::json!(n);
                }
                if let Some(alert) = &metric.alert {
                    json["alert"] = serde_json::json!({
                        "direction": if alert.above { "above" } else { "below" },
                        "threshold": alert.threshold,
                        "throttle_secs": alert.throttle_secs,
                    });
                }
                (metric.name.clone(), json.to_string())
            })
            .collect();
        pipe.hset_multiple(keys::catalog(rule), &catalog).ignore();
    }
}
