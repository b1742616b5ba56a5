//! Names inside a checkpoint that every store shares.

use super::RuleCommit;
use super::restore::{DAY_OFFSET_FIELD, def_field};

/// A rule's meta fields: watermark, counters, window alignment, version and
/// status, and the signature of each metric (restore keeps a metric's state
/// only while it is unchanged, and a window's while it is aligned alike).
pub fn rule_meta(commit: &RuleCommit) -> Vec<(String, String)> {
    let watermark = &commit.state.watermark;
    let mut meta: Vec<(String, String)> = vec![
        (
            "max_event_ms".to_owned(),
            watermark
                .max_event_ms()
                .map_or_else(String::new, |ms| ms.to_string()),
        ),
        (
            "closed_all".to_owned(),
            u8::from(watermark.is_closed_all()).to_string(),
        ),
        (
            "stats".to_owned(),
            serde_json::to_string(&commit.state.stats).unwrap_or_default(),
        ),
        (
            DAY_OFFSET_FIELD.to_owned(),
            commit.state.alignment.offset_ms().to_string(),
        ),
        ("version".to_owned(), commit.spec.version.clone()),
        ("version_hash".to_owned(), commit.version_hash.clone()),
        ("loaded_at_ms".to_owned(), commit.loaded_at_ms.to_string()),
        (
            "quarantined_for_ms".to_owned(),
            commit.quarantined_for_ms.to_string(),
        ),
        (
            "last_load_error".to_owned(),
            commit.last_load_error.clone().unwrap_or_default(),
        ),
        (
            "last_reload".to_owned(),
            commit.last_reload.clone().unwrap_or_default(),
        ),
        ("reloads".to_owned(), commit.reloads.to_string()),
        ("load_errors".to_owned(), commit.load_errors.to_string()),
    ];
    for metric in &commit.spec.metrics {
        meta.push((def_field(&metric.name), metric.signature()));
    }
    meta
}

/// Names one slot in checkpoints: `{metric}:{window}:{kind}:{start_ms}`.
pub fn slot_id(metric: &str, window: &str, kind_tag: char, start_ms: i64) -> String {
    format!("{metric}:{window}:{kind_tag}:{start_ms}")
}

/// Splits a slot id into metric, window, kind tag and start.
pub fn parse_slot_id(id: &str) -> Option<(&str, &str, &str, i64)> {
    let mut parts = id.splitn(4, ':');
    let metric = parts.next()?;
    let window = parts.next()?;
    let kind = parts.next()?;
    let start = parts.next()?.parse().ok()?;
    Some((metric, window, kind, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ids_read_back() {
        let id = slot_id("pv", "c86400-60", 'p', -60_000);
        assert_eq!(parse_slot_id(&id), Some(("pv", "c86400-60", "p", -60_000)));
    }
}
