//! Reading a pipeline's checkpoint back after a restart.

use std::collections::HashMap;

use redis::aio::ConnectionLike;

use super::StoreError;
use super::keys::{self, CheckpointKeys};
use crate::plugin::spec::RuleSpec;
use crate::source::Position;
use crate::state::RuleState;
use crate::state::codec;
use crate::state::slot::SlotKind;
use crate::stats::RuleStats;
use crate::window::Watermark;

/// Reads the source position in checkpoint field `field`.
pub async fn position(
    conn: &mut impl ConnectionLike,
    keys: &CheckpointKeys,
    field: &str,
) -> Result<Option<Position>, StoreError> {
    let json: Option<String> = redis::cmd("HGET")
        .arg(keys.source())
        .arg(field)
        .query_async(conn)
        .await?;
    match json {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json)
            .map(Some)
            .map_err(|error| StoreError::Corrupt(format!("source position {json:?}: {error}"))),
    }
}

/// Reads a lane's checkpoint sequence number (0 before its first).
pub async fn commit_seq(
    conn: &mut impl ConnectionLike,
    keys: &CheckpointKeys,
) -> Result<u64, StoreError> {
    let seq: Option<u64> = redis::cmd("GET")
        .arg(keys.commit_seq())
        .query_async(conn)
        .await?;
    Ok(seq.unwrap_or(0))
}

/// Restores a rule's watermark, counters and open windows into `state`.
///
/// Metrics whose definition changed since the checkpoint start empty, with a
/// log line saying so: their old state would not mean the same thing.
/// Returns how many groups were restored.
pub async fn rule_state(
    conn: &mut impl ConnectionLike,
    keys: &CheckpointKeys,
    spec: &RuleSpec,
    lateness_ms: i64,
    state: &mut RuleState,
) -> Result<usize, StoreError> {
    let rule = spec.name.as_str();
    let meta: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(keys.rule(rule))
        .query_async(conn)
        .await?;
    if meta.is_empty() {
        return Ok(0);
    }
    let max_event_ms = meta.get("max_event_ms").and_then(|ms| ms.parse().ok());
    let closed_all = meta.get("closed_all").is_some_and(|flag| flag == "1");
    state.watermark = Watermark::restored(lateness_ms, max_event_ms, closed_all);
    state.stats = meta
        .get("stats")
        .and_then(|json| serde_json::from_str::<RuleStats>(json).ok())
        .unwrap_or_default();
    let unchanged = |metric: &str| {
        let old = meta.get(&format!("def:{metric}"));
        let new = spec.metric(metric).map(|m| m.signature());
        old.is_some() && old == new.as_ref()
    };
    for metric in &spec.metrics {
        if !unchanged(&metric.name) && meta.contains_key(&format!("def:{}", metric.name)) {
            tracing::warn!(rule, metric = %metric.name, "metric definition changed since the checkpoint; its windows start empty");
        }
    }
    let slot_ids: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.slots(rule))
        .query_async(conn)
        .await?;
    let slot_ids: Vec<String> = slot_ids
        .into_iter()
        .filter(|id| keys::parse_slot_id(id).is_some_and(|(metric, ..)| unchanged(metric)))
        .collect();
    if slot_ids.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    for id in &slot_ids {
        pipe.cmd("HGETALL").arg(keys.slot(rule, id));
    }
    let slots: Vec<HashMap<String, Vec<u8>>> = pipe.query_async(conn).await?;
    let mut restored = 0;
    for (id, groups) in slot_ids.iter().zip(slots) {
        let Some((metric_name, window_name, kind, start_ms)) = keys::parse_slot_id(id) else {
            continue;
        };
        let kind = SlotKind::from_tag(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("slot id {id:?}")))?;
        let Some(metric) = state.metrics.iter_mut().find(|m| m.name == metric_name) else {
            continue;
        };
        let Some(windows) = metric
            .windows
            .iter_mut()
            .find(|w| w.spec().to_string() == window_name)
        else {
            continue;
        };
        let distinct: Vec<&String> = groups
            .iter()
            .filter(|(_, v)| v.as_slice() == b"d")
            .map(|(k, _)| k)
            .collect();
        let mut members: HashMap<&str, Vec<u8>> = HashMap::new();
        if !distinct.is_empty() {
            let mut pipe = redis::pipe();
            for group in &distinct {
                pipe.cmd("GET").arg(keys.members(rule, id, group));
            }
            let values: Vec<Option<Vec<u8>>> = pipe.query_async(conn).await?;
            for (group, value) in distinct.iter().zip(values) {
                members.insert(group.as_str(), value.unwrap_or_default());
            }
        }
        for (group, value) in &groups {
            let agg = codec::decode(value, members.get(group.as_str()).map(Vec::as_slice))
                .map_err(|error| StoreError::Corrupt(format!("{id} group {group:?}: {error}")))?;
            windows.restore(kind, start_ms, group, agg);
            restored += 1;
        }
    }
    Ok(restored)
}
