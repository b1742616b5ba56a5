//! Reading a rule's checkpoint back into its state, the same way from any
//! store: the store fetches the raw data (a meta hash, slot hashes, member
//! hash strings), this module decides what it means.
//!
//! Metrics whose definition changed since the checkpoint start empty, with
//! a log line saying so: their old state would not mean the same thing.
//! So do the windows a change of the rule's day offset moves (see
//! [`realign`]).

use std::collections::HashMap;

use super::StoreError;
use super::layout;
use crate::model::{Alignment, RuleSpec, RuleStats};
use crate::state::RuleState;
use crate::state::codec;
use crate::state::slot::SlotKind;
use crate::window::Watermark;

/// The value a slot group holds when its members are kept under their own
/// key (a distinct set, appended to at every checkpoint).
pub const MEMBERS_MARKER: &[u8] = b"d";

/// Restores the watermark and counters from a rule's meta hash; returns
/// false if there is no checkpoint of the rule.
pub fn apply_meta(
    meta: &HashMap<String, String>,
    spec: &RuleSpec,
    lateness_ms: i64,
    state: &mut RuleState,
) -> bool {
    if meta.is_empty() {
        return false;
    }
    let max_event_ms = meta.get("max_event_ms").and_then(|ms| ms.parse().ok());
    let closed_all = meta.get("closed_all").is_some_and(|flag| flag == "1");
    state.watermark = Watermark::restored(lateness_ms, max_event_ms, closed_all);
    state.stats = meta
        .get("stats")
        .and_then(|json| serde_json::from_str::<RuleStats>(json).ok())
        .unwrap_or_default();
    for metric in &spec.metrics {
        if !unchanged(meta, spec, &metric.name) && meta.contains_key(&def_field(&metric.name)) {
            tracing::warn!(rule = %spec.name, metric = %metric.name, "metric definition changed since the checkpoint; its windows start empty");
        }
    }
    true
}

/// The meta field holding the offset, in milliseconds, the rule's windows
/// were aligned by (see [`Alignment::offset_ms`]).
pub const DAY_OFFSET_FIELD: &str = "day_offset_ms";

/// Called once a rule's slots are restored into `state`: if the
/// checkpoint's windows were aligned otherwise (the rule's day offset
/// changed between runs), the window shapes the change moves lose their open
/// windows, with one WARN naming the metrics, and the next checkpoint
/// deletes their state (see [`RuleState::realign_from`]). A checkpoint
/// written before the offset was recorded is taken to be aligned as now:
/// that is what those versions assumed.
pub fn realign(meta: &HashMap<String, String>, spec: &RuleSpec, lane: &str, state: &mut RuleState) {
    let Some(was) = meta
        .get(DAY_OFFSET_FIELD)
        .and_then(|ms| ms.parse().ok())
        .map(Alignment::from_offset_ms)
    else {
        return;
    };
    let now = state.alignment();
    if was == now {
        return;
    }
    let discarded = state.realign_from(was);
    if !discarded.is_empty() {
        tracing::warn!(
            rule = %spec.name,
            lane,
            metrics = %discarded.join(", "),
            checkpoint_day_offset_secs = was.offset_ms() / 1000,
            day_offset_secs = now.offset_ms() / 1000,
            "the rule's day offset changed since the checkpoint; open windows it moves were discarded"
        );
    }
}

/// The meta field holding a metric's signature.
pub fn def_field(metric: &str) -> String {
    format!("def:{metric}")
}

/// Whether `metric` has the same definition in the checkpoint as in `spec`.
fn unchanged(meta: &HashMap<String, String>, spec: &RuleSpec, metric: &str) -> bool {
    let old = meta.get(&def_field(metric));
    let new = spec.metric(metric).map(|m| m.signature());
    old.is_some() && old == new.as_ref()
}

/// The checkpointed slots worth reading: those of unchanged metrics.
pub fn wanted_slots(
    meta: &HashMap<String, String>,
    spec: &RuleSpec,
    slot_ids: Vec<String>,
) -> Vec<String> {
    slot_ids
        .into_iter()
        .filter(|id| {
            layout::parse_slot_id(id).is_some_and(|(metric, ..)| unchanged(meta, spec, metric))
        })
        .collect()
}

/// The groups of a slot whose members are kept under their own key.
pub fn member_groups(groups: &HashMap<String, Vec<u8>>) -> Vec<&String> {
    groups
        .iter()
        .filter(|(_, v)| v.as_slice() == MEMBERS_MARKER)
        .map(|(k, _)| k)
        .collect()
}

/// Restores one slot's groups into `state`; returns how many.
pub fn apply_slot(
    state: &mut RuleState,
    id: &str,
    groups: &HashMap<String, Vec<u8>>,
    members: &HashMap<&str, Vec<u8>>,
) -> Result<usize, StoreError> {
    let Some((metric_name, window_name, kind, start_ms)) = layout::parse_slot_id(id) else {
        return Ok(0);
    };
    let kind =
        SlotKind::from_tag(kind).ok_or_else(|| StoreError::Corrupt(format!("slot id {id:?}")))?;
    let Some(metric) = state.metrics.iter_mut().find(|m| m.name == metric_name) else {
        return Ok(0);
    };
    let Some(windows) = metric
        .windows
        .iter_mut()
        .find(|w| w.spec().to_string() == window_name)
    else {
        return Ok(0);
    };
    let mut restored = 0;
    for (group, value) in groups {
        let agg = codec::decode(value, members.get(group.as_str()).map(Vec::as_slice))
            .map_err(|error| StoreError::Corrupt(format!("{id} group {group:?}: {error}")))?;
        windows.restore(kind, start_ms, group, agg);
        restored += 1;
    }
    Ok(restored)
}
