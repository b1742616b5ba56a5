//! `weir reset`: forget a pipeline's checkpoint, so the next `weir run`
//! starts from the beginning of its input.
//!
//! A finished file run is final: its checkpoint says the file was read to
//! its end, so running it again reads nothing. `weir reset` deletes every
//! key under `weir:ckpt:{namespace}:` and, with `--outputs`, the published
//! keys `weir:{rule}:*` of each rule found in that checkpoint.
//!
//! Keys are found with `SCAN … MATCH` (never `KEYS`, which blocks Redis) and
//! deleted with `UNLINK` in batches. Outputs go first: a reset cut short
//! leaves the checkpoint, which still names the rules, so running it again
//! finishes the job.

use super::scan_keys;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use crate::sink::conn::RedisConn;
use anyhow::Context;

use crate::config::Config;
use crate::model::is_valid_name;
use crate::sink::{RedisTarget, keys, scan};

/// The start of every checkpoint key, of every namespace.
const CHECKPOINT_ROOT: &str = "weir:ckpt:";

/// What `weir reset` deleted; its `Display` is the command's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetReport {
    /// The checkpoint namespace reset.
    pub namespace: String,
    /// Checkpoint keys deleted, by kind.
    pub checkpoint: BTreeMap<CheckpointPart, u64>,
    /// The rules that had checkpointed in the namespace.
    pub rules: BTreeSet<String>,
    /// Output keys deleted, by rule and kind; `None` without `--outputs`.
    pub outputs: Option<BTreeMap<String, BTreeMap<OutputPart, u64>>>,
}

/// What a checkpoint key holds (see [`crate::sink::CheckpointKeys`] for the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckpointPart {
    /// A rule's watermark, counters and version (`…:rule:{rule}`), and the
    /// lane's list of rules (`…:rules`).
    RuleState,
    /// A rule's open windows: slots and distinct members (`…:rule:{rule}:…`).
    WindowState,
    /// Source positions and checkpoint sequence numbers.
    Positions,
    /// Cross-lane merge state of distinct and approx-distinct windows, and
    /// on a Redis Cluster the lanes' outboxes and the windows' guards.
    MergeState,
    /// The lane list and the lanes' ownership tokens.
    Lanes,
    /// Anything else under the namespace.
    Other,
}

impl CheckpointPart {
    fn label(self) -> &'static str {
        match self {
            Self::RuleState => "rule state",
            Self::WindowState => "window state",
            Self::Positions => "source positions",
            Self::MergeState => "merge state",
            Self::Lanes => "lane ownership",
            Self::Other => "other",
        }
    }
}

/// What a published key of a rule holds (the README's "Redis layout").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutputPart {
    /// A window's hash of values (`weir:{rule}:{metric}:{size}:{start}`).
    Windows,
    /// A metric's index of recent windows (`…:windows`).
    Indexes,
    /// The rule's metric catalog (`weir:{rule}:metrics`).
    Catalog,
    /// The rule's dead letters (`weir:{rule}:dead`).
    DeadLetters,
}

impl OutputPart {
    fn label(self) -> &'static str {
        match self {
            Self::Windows => "window hashes",
            Self::Indexes => "window indexes",
            Self::Catalog => "metric catalog",
            Self::DeadLetters => "dead letters",
        }
    }
}

/// Resets the namespace of the pipeline at `config_path`; with `outputs`,
/// also deletes the published keys of the rules that checkpointed there.
///
/// Refuses, deleting nothing, when the config is invalid or Redis cannot
/// be reached. Stop every `weir run` of the namespace first: a running
/// pipeline writes its state back at its next checkpoint.
pub async fn reset(config_path: &Path, outputs: bool) -> anyhow::Result<ResetReport> {
    let config = Config::load(config_path)?;
    let nothing_deleted =
        |error: crate::sink::ConnectError| anyhow::anyhow!("{error}; nothing was deleted");
    let target = RedisTarget::new(&config.redis).map_err(nothing_deleted)?;
    let mut conn = target.connect().await.map_err(nothing_deleted)?;

    let namespace = &config.checkpoint.namespace;
    let prefix = namespace_prefix(namespace);
    let checkpoint_keys = scan_keys(&mut conn, &format!("{prefix}*")).await?;
    let mut report = ResetReport {
        namespace: namespace.clone(),
        ..ResetReport::default()
    };
    let mut by_part: BTreeMap<CheckpointPart, Vec<String>> = BTreeMap::new();
    for key in checkpoint_keys {
        let Some(own) = key.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let (part, rule) = classify_checkpoint_key(own);
        if let Some(rule) = rule {
            if is_valid_name(rule) {
                report.rules.insert(rule.to_owned());
            } else {
                tracing::warn!(
                    key,
                    "not a rule name weir writes; its outputs are left alone"
                );
            }
        }
        by_part.entry(part).or_default().push(key);
    }

    if outputs {
        let mut deleted = BTreeMap::new();
        for rule in &report.rules {
            deleted.insert(rule.clone(), delete_outputs(&mut conn, rule).await?);
        }
        report.outputs = Some(deleted);
    }
    for (part, keys) in by_part {
        let count = unlink(&mut conn, &keys).await?;
        report.checkpoint.insert(part, count);
    }
    Ok(report)
}

/// `weir:ckpt:{namespace}:`, the prefix of every checkpoint key of the
/// namespace. Namespaces hold no `:` and no glob characters, so this
/// prefix matches no other namespace's keys.
fn namespace_prefix(namespace: &str) -> String {
    format!("{CHECKPOINT_ROOT}{namespace}:")
}

/// What a checkpoint key holds, and the rule it belongs to, from the key
/// without its namespace prefix (the layout of [`crate::sink::CheckpointKeys`]).
fn classify_checkpoint_key(key: &str) -> (CheckpointPart, Option<&str>) {
    // A lane's own keys sit under `lane:{topic}/{partition}:`; a topic
    // name holds no `:`.
    let own = match key.strip_prefix("lane:") {
        Some(lane_key) => match lane_key.split_once(':') {
            Some((_lane, own)) => own,
            None => return (CheckpointPart::Other, None),
        },
        // An unpartitioned lane's keys on a Redis Cluster sit under its
        // hash tag `{namespace}:`.
        None => match key.strip_prefix('{').and_then(|k| k.split_once("}:")) {
            Some((_tag, own)) => own,
            None => key,
        },
    };
    if own == "rules" {
        return (CheckpointPart::RuleState, None);
    }
    if let Some(rule_key) = own.strip_prefix("rule:") {
        return match rule_key.split_once(':') {
            None => (CheckpointPart::RuleState, Some(rule_key)),
            Some((rule, _)) => (CheckpointPart::WindowState, Some(rule)),
        };
    }
    let head = own.split(':').next().unwrap_or_default();
    let part = match head {
        "source" | "seq" => CheckpointPart::Positions,
        "union" | "sketch" | "applied" | "outbox" => CheckpointPart::MergeState,
        "lanes" | "fence" => CheckpointPart::Lanes,
        _ => CheckpointPart::Other,
    };
    (part, None)
}

/// Deletes `weir:{rule}:*` and the cluster names of its window and alert
/// keys, `{weir:{rule}:*` (top-N sets `{W}:top`, the alerts' seen hash),
/// counted by kind. The `:` after the name keeps rule `ip` off
/// `weir:ip-count:*`; checkpoint keys (`weir:ckpt:*`, which a rule named
/// `ckpt` would match) are never touched.
async fn delete_outputs(
    conn: &mut RedisConn,
    rule: &str,
) -> anyhow::Result<BTreeMap<OutputPart, u64>> {
    let mut by_part: BTreeMap<OutputPart, Vec<String>> = BTreeMap::new();
    let mut found = scan_keys(conn, &format!("weir:{rule}:*")).await?;
    found.extend(scan_keys(conn, &format!("{{weir:{rule}:*")).await?);
    for key in found {
        if key.starts_with(CHECKPOINT_ROOT) {
            continue;
        }
        let part = if key == keys::catalog(rule) {
            OutputPart::Catalog
        } else if key == keys::dead_letters(rule) {
            OutputPart::DeadLetters
        } else if key.ends_with(":windows") {
            OutputPart::Indexes
        } else {
            OutputPart::Windows
        };
        by_part.entry(part).or_default().push(key);
    }
    let mut deleted = BTreeMap::new();
    for (part, keys) in by_part {
        deleted.insert(part, unlink(conn, &keys).await?);
    }
    Ok(deleted)
}

/// Deletes `keys` in batches; returns how many existed.
async fn unlink(conn: &mut RedisConn, keys: &[String]) -> anyhow::Result<u64> {
    scan::unlink(conn, keys)
        .await
        .context("deleting keys from Redis (the reset is incomplete; run it again)")
}

impl fmt::Display for ResetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: u64 = self.checkpoint.values().sum();
        writeln!(
            f,
            "namespace {:?}: deleted {total} checkpoint keys",
            self.namespace
        )?;
        for (part, count) in &self.checkpoint {
            writeln!(f, "  {:<18} {count:>8}", part.label())?;
        }
        if !self.rules.is_empty() {
            let rules: Vec<&str> = self.rules.iter().map(String::as_str).collect();
            writeln!(f, "  rules checkpointed: {}", rules.join(", "))?;
        }
        match &self.outputs {
            None if self.rules.is_empty() => {}
            None => writeln!(
                f,
                "outputs kept (weir:<rule>:*); `weir reset --outputs` deletes them too"
            )?,
            Some(outputs) => {
                for (rule, parts) in outputs {
                    let total: u64 = parts.values().sum();
                    writeln!(
                        f,
                        "rule {rule}: deleted {total} output keys (weir:{rule}:*)"
                    )?;
                    for (part, count) in parts {
                        writeln!(f, "  {:<18} {count:>8}", part.label())?;
                    }
                    if rule == "ckpt" {
                        writeln!(
                            f,
                            "  (keys under weir:ckpt: are checkpoint keys and were left alone)"
                        )?;
                    }
                }
            }
        }
        if total == 0 {
            writeln!(f, "nothing to reset: no checkpoint in this namespace")
        } else {
            writeln!(
                f,
                "the next `weir run` starts from the beginning of its input"
            )
        }
    }
}

#[cfg(test)]
mod tests;
