//! `weir status`: what each rule of a pipeline has done, from its checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use crate::config::Config;
use crate::model::RuleStats;
use crate::sink::{CheckpointKeys, RedisTarget};

/// What `weir status` reports about one rule, as of its last checkpoint
/// (added up over partitions for a Kafka pipeline). `--json` prints a list
/// of these, for scripts.
#[derive(Debug, Clone, Serialize)]
pub struct RuleStatus {
    /// The rule's name.
    pub name: String,
    /// The version the rule declares.
    pub version: String,
    /// The hash of the loaded component.
    pub version_hash: String,
    /// When the running version was loaded (Unix ms), if known.
    pub loaded_at_ms: Option<u64>,
    /// Running, finished or quarantined.
    pub state: RunState,
    /// How long the quarantine had left at the last checkpoint.
    pub quarantined_for_ms: u64,
    /// Partitions (lanes) checkpointed; 1 for a file or stdin pipeline.
    pub lanes: usize,
    /// Why the newest file of the rule did not load (the previous version
    /// still runs).
    pub last_load_error: Option<String>,
    /// The last hot reload of the rule in this run and what it reset.
    pub last_reload: Option<String>,
    /// Counters.
    pub stats: RuleStats,
}

/// Where a rule stands, as of its last checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Reading input.
    Running,
    /// Its input ended and every window closed.
    Finished,
    /// Skipping records after repeated failures (see `quarantined_for_ms`).
    Quarantined,
}

/// Renders `weir status` for the operator: a table, or JSON with `json`.
pub async fn status(config_path: &Path, json: bool) -> anyhow::Result<String> {
    let rules = rule_statuses(config_path).await?;
    if json {
        let mut out = serde_json::to_string_pretty(&rules)?;
        out.push('\n');
        return Ok(out);
    }
    Ok(table(&rules))
}

/// Reads every rule's checkpointed record of itself (version, counters,
/// quarantine) from Redis.
pub async fn rule_statuses(config_path: &Path) -> anyhow::Result<Vec<RuleStatus>> {
    let config = Config::load(config_path)?;
    let mut conn = RedisTarget::new(&config.redis)?.connect().await?;
    let base = CheckpointKeys::for_target(&config.checkpoint.namespace, config.redis.cluster);
    // A partitioned (Kafka) pipeline checkpoints each partition's lane on
    // its own: add up the lanes.
    let mut lanes: Vec<String> = redis::cmd("SMEMBERS")
        .arg(base.lanes())
        .query_async(&mut conn)
        .await?;
    lanes.sort();
    let mut all_keys = vec![base.clone()];
    all_keys.extend(lanes.iter().map(|lane| base.lane(lane)));
    let mut rules: BTreeMap<String, RuleSummary> = BTreeMap::new();
    for keys in &all_keys {
        let prefix = keys.rule("");
        let names: Vec<String> = super::scan_keys(&mut conn, &format!("{prefix}*"))
            .await?
            .into_iter()
            .filter_map(|key: String| key.strip_prefix(prefix.as_str()).map(str::to_owned))
            .filter(|name| !name.contains(':'))
            .collect();
        for name in names {
            let meta: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(keys.rule(&name))
                .query_async(&mut conn)
                .await?;
            rules.entry(name).or_default().add(meta);
        }
    }
    Ok(rules
        .into_iter()
        .map(|(name, summary)| summary.status(name))
        .collect())
}

/// The operator's table: one row per rule, notes below it.
fn table(rules: &[RuleStatus]) -> String {
    let mut report = format!(
        "{:<16} {:<18} {:>10} {:>9} {:>10} {:>8} {:>6} {:>6} {:>11}  {}\n",
        "rule",
        "version",
        "records",
        "rejected",
        "updates",
        "late",
        "traps",
        "dead",
        "quarantined",
        "state"
    );
    for rule in rules {
        let stats = rule.stats;
        let state = match rule.state {
            RunState::Quarantined => format!(
                "quarantined ({} s left at last checkpoint)",
                rule.quarantined_for_ms / 1000
            ),
            RunState::Finished => "finished".to_owned(),
            RunState::Running if rule.lanes > 1 => {
                format!("running ({} partitions)", rule.lanes)
            }
            RunState::Running => "running".to_owned(),
        };
        report.push_str(&format!(
            "{:<16} {:<18} {:>10} {:>9} {:>10} {:>8} {:>6} {:>6} {:>11}  {}\n",
            rule.name,
            format!(
                "{} {}",
                rule.version,
                rule.version_hash.get(..8).unwrap_or_default()
            ),
            stats.records_in,
            stats.rejected,
            stats.updates,
            stats.late,
            stats.traps,
            stats.dead_lettered,
            stats.quarantined,
            state
        ));
        if let Some(error) = &rule.last_load_error {
            report.push_str(&format!(
                "{:<16} last load error (previous version still running): {error}\n",
                ""
            ));
        }
        if let Some(reload) = &rule.last_reload {
            report.push_str(&format!("{:<16} last reload: {reload}\n", ""));
        }
        if let Some(loaded_at) = rule.loaded_at_ms {
            report.push_str(&format!("{:<16} loaded at {loaded_at} (Unix ms)\n", ""));
        }
    }
    if rules.is_empty() {
        report.push_str("(no checkpoint yet in this namespace)\n");
    }
    report
}

/// One rule's checkpointed record, added up over lanes.
#[derive(Default)]
struct RuleSummary {
    /// Counters of every lane.
    stats: RuleStats,
    /// The most recently loaded version's fields.
    meta: HashMap<String, String>,
    /// Lanes seen.
    lanes: usize,
}

impl RuleSummary {
    fn add(&mut self, meta: HashMap<String, String>) {
        let stats: RuleStats = meta
            .get("stats")
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        self.stats.add(&stats);
        self.lanes += 1;
        let loaded_at = |meta: &HashMap<String, String>| -> u64 {
            meta.get("loaded_at_ms")
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(0)
        };
        if self.meta.is_empty() || loaded_at(&meta) > loaded_at(&self.meta) {
            self.meta = meta;
        }
    }

    fn status(self, name: String) -> RuleStatus {
        let meta = self.meta;
        let field = |key: &str| meta.get(key).cloned().unwrap_or_default();
        let quarantined_for_ms = meta
            .get("quarantined_for_ms")
            .and_then(|ms| ms.parse::<u64>().ok())
            .unwrap_or(0);
        let state = if quarantined_for_ms > 0 {
            RunState::Quarantined
        } else if field("closed_all") == "1" {
            RunState::Finished
        } else {
            RunState::Running
        };
        RuleStatus {
            version: field("version"),
            version_hash: field("version_hash"),
            loaded_at_ms: meta.get("loaded_at_ms").and_then(|ms| ms.parse().ok()),
            state,
            quarantined_for_ms,
            lanes: self.lanes,
            last_load_error: meta
                .get("last_load_error")
                .filter(|e| !e.is_empty())
                .cloned(),
            last_reload: meta.get("last_reload").filter(|e| !e.is_empty()).cloned(),
            stats: self.stats,
            name,
        }
    }
}
