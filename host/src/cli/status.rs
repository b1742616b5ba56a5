//! `weir status`: what each rule of a pipeline has done, from its checkpoint.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde::Serialize;

use crate::config::{Config, DEFAULT_SOURCE, SourcesConfig};
use crate::model::{RuleStats, SINGLE_LANE};
use crate::sink::conn::RedisConn;
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
    /// New versions of the rule swapped in (or the rule added) by the
    /// running process, as of its last checkpoint (a restart counts anew).
    pub reloads: u64,
    /// Files of the rule the running process failed to load.
    pub load_errors: u64,
    /// Counters.
    pub stats: RuleStats,
    /// The same counters split by source, each with the lanes it
    /// checkpointed (`default` for `[source]`); only the sources the rule
    /// reads, when `[rules.<name>] sources` names them.
    pub sources: Vec<SourceStatus>,
    /// Each lane's watermark as of its last checkpoint (lane `0` for a
    /// file or stdin, `topic/partition` for Kafka): windows ending at or
    /// before every lane's watermark are final.
    pub watermarks: BTreeMap<String, LaneWatermark>,
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

/// What reading statuses needs from the config: where the checkpoint is,
/// how lanes map to sources and which sources each rule reads.
#[derive(Debug, Clone)]
pub struct StatusScope {
    /// `[checkpoint] namespace`.
    pub namespace: String,
    /// `[windows] allowed_lateness_secs`, in ms: turns each lane's highest
    /// event time into its watermark.
    pub lateness_ms: i64,
    /// Whether Redis is a cluster (checkpoint key names differ).
    pub cluster: bool,
    /// The sources, to name each lane's.
    pub sources: SourcesConfig,
    /// `[rules.<name>] sources`, for rules that name theirs.
    pub rule_sources: BTreeMap<String, Vec<String>>,
}

impl StatusScope {
    /// The scope of `config`.
    pub fn of(config: &Config) -> Self {
        Self {
            namespace: config.checkpoint.namespace.clone(),
            lateness_ms: config.windows.allowed_lateness_ms(),
            cluster: config.redis.cluster,
            sources: config.sources.clone(),
            rule_sources: config
                .rules
                .iter()
                .filter_map(|(name, rule)| Some((name.clone(), rule.sources.clone()?)))
                .collect(),
        }
    }

    fn base(&self) -> CheckpointKeys {
        CheckpointKeys::for_target(&self.namespace, self.cluster)
    }

    /// The source a checkpointed lane belongs to: the first part of a
    /// named source's lane (`web`, `bus/access/0`), `default` under
    /// `[source]`.
    fn source_of_lane(&self, lane: &str) -> String {
        match &self.sources {
            SourcesConfig::Single(_) => DEFAULT_SOURCE.to_owned(),
            SourcesConfig::Named(_) => lane.split('/').next().unwrap_or(lane).to_owned(),
        }
    }
}

/// One lane's watermark, as of its last checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LaneWatermark {
    /// Highest event time seen minus the allowed lateness (Unix ms); `None`
    /// before the lane's first event.
    pub watermark_ms: Option<i64>,
    /// The lane's input ended and every window closed.
    pub closed: bool,
}

impl LaneWatermark {
    /// Whether a window ending at `end_ms` is closed in this lane.
    pub fn is_closed(&self, end_ms: i64) -> bool {
        self.closed
            || self
                .watermark_ms
                .is_some_and(|watermark| end_ms <= watermark)
    }
}

impl RuleStatus {
    /// Whether a window ending at `end_ms` is final: closed in every lane.
    pub fn is_final(&self, end_ms: i64) -> bool {
        !self.watermarks.is_empty()
            && self
                .watermarks
                .values()
                .all(|watermark| watermark.is_closed(end_ms))
    }
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
    read_statuses(&mut conn, &StatusScope::of(&config)).await
}

/// Reads every rule's status in `namespace` on an open connection (the
/// HTTP server's `/api/v1/rules` and `/metrics` use it too, so they report
/// exactly what `weir status` does); `lateness_ms` turns each lane's
/// highest event time into its watermark.
pub async fn read_statuses(
    conn: &mut RedisConn,
    scope: &StatusScope,
) -> anyhow::Result<Vec<RuleStatus>> {
    let names = rule_names(conn, scope).await?;
    read_statuses_of(conn, scope, &names).await
}

/// The lanes of `namespace` and their checkpoint keys: the pipeline's own
/// (lane `0`, a file or stdin) and each partition's (Kafka).
async fn lane_keys(
    conn: &mut RedisConn,
    base: &CheckpointKeys,
) -> anyhow::Result<Vec<(String, CheckpointKeys)>> {
    let mut lanes: Vec<String> = redis::cmd("SMEMBERS")
        .arg(base.lanes())
        .query_async(conn)
        .await?;
    lanes.sort();
    let mut all_keys = vec![(SINGLE_LANE.to_owned(), base.clone())];
    all_keys.extend(lanes.iter().map(|lane| (lane.clone(), base.lane(lane))));
    Ok(all_keys)
}

/// The rules that checkpointed in `namespace`, in any lane: each lane's
/// list of them (one round trip for every lane). A namespace whose lanes
/// have no list was written by a weir from before the lists; its rules
/// are found by walking the keyspace (`SCAN`, a pass over every key per
/// lane), as that weir did, until a checkpoint writes the lists.
pub async fn rule_names(
    conn: &mut RedisConn,
    scope: &StatusScope,
) -> anyhow::Result<BTreeSet<String>> {
    let mut conn = conn.clone();
    let all_keys = lane_keys(&mut conn, &scope.base()).await?;
    let mut pipe = redis::pipe();
    for (_, keys) in &all_keys {
        pipe.smembers(keys.rule_names());
    }
    let listed: Vec<BTreeSet<String>> = pipe.query_async(&mut conn).await?;
    let names: BTreeSet<String> = listed.into_iter().flatten().collect();
    if !names.is_empty() {
        return Ok(names);
    }
    let mut names = BTreeSet::new();
    for (_, keys) in all_keys {
        let prefix = keys.rule("");
        names.extend(
            super::scan_keys(&mut conn, &format!("{prefix}*"))
                .await?
                .into_iter()
                .filter_map(|key: String| key.strip_prefix(prefix.as_str()).map(str::to_owned))
                .filter(|name| !name.contains(':')),
        );
    }
    Ok(names)
}

/// The statuses of the rules `names` in `namespace`: every lane's record
/// of each, in one round trip (a rule without a record in a lane has no
/// part in it).
pub async fn read_statuses_of(
    conn: &mut RedisConn,
    scope: &StatusScope,
    names: &BTreeSet<String>,
) -> anyhow::Result<Vec<RuleStatus>> {
    let mut conn = conn.clone();
    let all_keys = lane_keys(&mut conn, &scope.base()).await?;
    let mut pipe = redis::pipe();
    for (_, keys) in &all_keys {
        for name in names {
            pipe.hgetall(keys.rule(name));
        }
    }
    let metas: Vec<HashMap<String, String>> = if all_keys.is_empty() || names.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(&mut conn).await?
    };
    let mut metas = metas.into_iter();
    let mut rules: BTreeMap<String, RuleSummary> = BTreeMap::new();
    for (lane, _) in &all_keys {
        for name in names {
            let meta = metas.next().unwrap_or_default();
            if !meta.is_empty() {
                let source = scope.source_of_lane(lane);
                rules
                    .entry(name.clone())
                    .or_default()
                    .add(source, lane, meta, scope.lateness_ms);
            }
        }
    }
    Ok(rules
        .into_iter()
        .map(|(name, summary)| {
            let mut status = summary.status(name);
            // A rule has (empty) state in the lanes of sources it does not
            // read; only those it reads are its sources.
            if let Some(reads) = scope.rule_sources.get(&status.name) {
                status.sources.retain(|source| reads.contains(&source.name));
            }
            status
        })
        .collect())
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
    /// Each lane's watermark.
    watermarks: BTreeMap<String, LaneWatermark>,
    /// Per source: its lanes and counters.
    by_source: BTreeMap<String, (Vec<String>, RuleStats)>,
}

impl RuleSummary {
    fn add(&mut self, source: String, lane: &str, meta: HashMap<String, String>, lateness_ms: i64) {
        let max_event_ms = meta
            .get("max_event_ms")
            .and_then(|ms| ms.parse::<i64>().ok());
        self.watermarks.insert(
            lane.to_owned(),
            LaneWatermark {
                watermark_ms: max_event_ms.map(|max| max.saturating_sub(lateness_ms)),
                closed: meta.get("closed_all").is_some_and(|flag| flag == "1"),
            },
        );
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
            reloads: meta
                .get("reloads")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            load_errors: meta
                .get("load_errors")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            stats: self.stats,
            watermarks: self.watermarks,
            sources: self
                .by_source
                .into_iter()
                .map(|(name, (lanes, stats))| SourceStatus { name, lanes, stats })
                .collect(),
            name,
        }
    }
}
