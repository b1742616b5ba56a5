//! `weir status`: what each rule of a pipeline has done, from its checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;

use crate::config::Config;
use crate::sink::CheckpointKeys;
use crate::stats::RuleStats;

/// Reads every rule's checkpointed record of itself (version, counters,
/// quarantine) from Redis and renders a table for the operator.
pub async fn status(config_path: &Path) -> anyhow::Result<String> {
    let config = Config::load(config_path)?;
    let client = redis::Client::open(config.redis.url.as_str())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("cannot reach Redis at {}", config.redis.url))?;
    let base = CheckpointKeys::new(&config.checkpoint.namespace);
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
        let names: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async::<Vec<String>>(&mut conn)
            .await?
            .into_iter()
            .filter_map(|key| key.strip_prefix(&prefix).map(str::to_owned))
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
    for (name, summary) in &rules {
        let stats = summary.stats;
        let meta = &summary.meta;
        let field = |key: &str| meta.get(key).cloned().unwrap_or_default();
        let state = match meta
            .get("quarantined_for_ms")
            .and_then(|ms| ms.parse::<u64>().ok())
        {
            Some(ms) if ms > 0 => format!("quarantined ({} s left at last checkpoint)", ms / 1000),
            _ if field("closed_all") == "1" => "finished".to_owned(),
            _ if summary.lanes > 1 => format!("running ({} partitions)", summary.lanes),
            _ => "running".to_owned(),
        };
        report.push_str(&format!(
            "{:<16} {:<18} {:>10} {:>9} {:>10} {:>8} {:>6} {:>6} {:>11}  {}\n",
            name,
            format!(
                "{} {}",
                field("version"),
                field("version_hash").get(..8).unwrap_or_default()
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
        if let Some(error) = meta.get("last_load_error").filter(|e| !e.is_empty()) {
            report.push_str(&format!(
                "{:<16} last load error (previous version still running): {error}\n",
                ""
            ));
        }
        if let Some(loaded_at) = meta.get("loaded_at_ms") {
            report.push_str(&format!("{:<16} loaded at {loaded_at} (Unix ms)\n", ""));
        }
    }
    if rules.is_empty() {
        report.push_str("(no checkpoint yet in this namespace)\n");
    }
    Ok(report)
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
}
