//! `weir status`: what each rule of a pipeline has done, from its checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use crate::config::{Config, DEFAULT_SOURCE, SourcesConfig};
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
    /// The same counters split by source, each with the lanes it
    /// checkpointed (`default` for `[source]`); only the sources the rule
    /// reads, when `[rules.<name>] sources` names them.
    pub sources: Vec<SourceStatus>,
}

/// One source's share of a rule's counters.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    /// The source's name (`default` for `[source]`).
    pub name: String,
    /// Its lanes that hold a checkpoint of the rule (`0` for the unnamed
    /// file or stdin).
    pub lanes: Vec<String>,
    /// The rule's counters over those lanes.
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
    let config = Config::load(config_path)?;
    Ok(table(&rules, config.sources.is_named()))
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
    let mut all_keys = vec![(SINGLE_LANE_NAME.to_owned(), base.clone())];
    all_keys.extend(lanes.iter().map(|lane| (lane.clone(), base.lane(lane))));
    let mut rules: BTreeMap<String, RuleSummary> = BTreeMap::new();
    for (lane, keys) in &all_keys {
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
            let source = source_of_lane(&config.sources, lane);
            rules.entry(name).or_default().add(source, lane, meta);
        }
    }
    Ok(rules
        .into_iter()
        .map(|(name, summary)| {
            let mut status = summary.status(name);
            // A rule has (empty) state in the lanes of sources it does not
            // read; only those it reads are its sources.
            if let Some(reads) = config
                .rules
                .get(&status.name)
                .and_then(|r| r.sources.as_ref())
            {
                status.sources.retain(|source| reads.contains(&source.name));
            }
            status
        })
        .collect())
}

/// The lane of `[source]`'s file or stdin, checkpointed under the
/// namespace's own keys.
const SINGLE_LANE_NAME: &str = crate::model::SINGLE_LANE;

/// The source a checkpointed lane belongs to: the first part of a named
/// source's lane (`web`, `bus/access/0`), `default` under `[source]`.
fn source_of_lane(sources: &SourcesConfig, lane: &str) -> String {
    match sources {
        SourcesConfig::Single(_) => DEFAULT_SOURCE.to_owned(),
        SourcesConfig::Named(_) => lane.split('/').next().unwrap_or(lane).to_owned(),
    }
}

/// The operator's table: one row per rule, notes below it; with `named`
/// sources, a line per source under each rule.
fn table(rules: &[RuleStatus], named: bool) -> String {
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
        for source in rule.sources.iter().filter(|_| named) {
            let stats = source.stats;
            report.push_str(&format!(
                "{:<16} source {}: {} records, {} rejected, {} updates, {} late (lanes {})\n",
                "",
                source.name,
                stats.records_in,
                stats.rejected,
                stats.updates,
                stats.late,
                source.lanes.join(", ")
            ));
        }
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
    /// Per source: its lanes and counters.
    by_source: BTreeMap<String, (Vec<String>, RuleStats)>,
}

impl RuleSummary {
    fn add(&mut self, source: String, lane: &str, meta: HashMap<String, String>) {
        let stats: RuleStats = meta
            .get("stats")
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        self.stats.add(&stats);
        let (lanes, by_source) = self.by_source.entry(source).or_default();
        lanes.push(lane.to_owned());
        by_source.add(&stats);
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
            sources: self
                .by_source
                .into_iter()
                .map(|(name, (lanes, stats))| SourceStatus { name, lanes, stats })
                .collect(),
            name,
        }
    }
}
