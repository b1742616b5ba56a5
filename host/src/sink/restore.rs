//! Reading a pipeline's checkpoint back from Redis after a restart (what
//! the data means is decided in [`crate::checkpoint::restore`]).

use std::collections::HashMap;

use redis::aio::ConnectionLike;

use super::keys::CheckpointKeys;
use crate::checkpoint::StoreError;
use crate::checkpoint::restore::{apply_meta, apply_slot, member_groups, realign, wanted_slots};
use crate::model::{Position, RuleSpec};
use crate::state::RuleState;

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

/// Restores a rule's watermark, counters and open windows in `lane` into
/// `state`; returns how many groups were restored.
pub async fn rule_state(
    conn: &mut impl ConnectionLike,
    keys: &CheckpointKeys,
    lane: &str,
    spec: &RuleSpec,
    lateness_ms: i64,
    state: &mut RuleState,
) -> Result<usize, StoreError> {
    let rule = spec.name.as_str();
    let meta: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(keys.rule(rule))
        .query_async(conn)
        .await?;
    if !apply_meta(&meta, spec, lateness_ms, state) {
        return Ok(0);
    }
    let slot_ids: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.slots(rule))
        .query_async(conn)
        .await?;
    let slot_ids = wanted_slots(&meta, spec, slot_ids);
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
        let distinct = member_groups(&groups);
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
        restored += apply_slot(state, id, &groups, &members)?;
    }
    realign(&meta, spec, lane, state);
    Ok(restored)
}
