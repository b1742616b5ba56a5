//! The `[rules]` section: one optional `[rules.<name>]` table per rule, with
//! the config passed to the rule's init, TTL overrides, the rule's own day
//! offset and, for a Kafka source, the topics the rule sees.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::reader::{Problems, TableReader, join_key, mismatch};
use super::source::{KindName, Need, SourceRead, not_for_kind};
use super::windows::WindowsConfig;
use super::{check_topics, is_name, within};

/// One `[rules.<name>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleConfig {
    /// The `config` table as JSON object text, passed to the rule's init;
    /// `"{}"` when absent. TOML datetimes become JSON strings.
    pub config_json: String,
    /// Per-metric TTL overrides in seconds, by metric name (`ttl_secs`).
    pub ttl_secs: BTreeMap<String, u64>,
    /// The Kafka topics this rule sees (`topics`), each one of
    /// `source.topics`; `None` for all of them.
    pub topics: Option<Vec<String>>,
    /// Where this rule's day windows start, as seconds from UTC midnight
    /// (`day_offset_secs`, same meaning and range as `[windows]
    /// day_offset_secs`, which it overrides); `None` to use that one. Lets
    /// one pipeline count one rule's days in UTC and another's in local
    /// time.
    pub day_offset_secs: Option<i64>,
}

impl Default for RuleConfig {
    /// Empty config, no TTL overrides, all topics.
    fn default() -> Self {
        Self {
            config_json: "{}".to_owned(),
            ttl_secs: BTreeMap::new(),
            topics: None,
            day_offset_secs: None,
        }
    }
}

/// Reads `[rules]`: one table per rule name.
pub(super) fn read_rules(
    mut t: TableReader<'_>,
    source: Option<&SourceRead>,
) -> BTreeMap<String, RuleConfig> {
    let mut rules = BTreeMap::new();
    for name in t.keys() {
        let name_ok = is_name(name, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
        });
        if !name_ok {
            t.problem(
                name,
                "invalid rule name (expected 1 to 64 characters of a-z, 0-9, _ and -)",
            );
        }
        let Some(rule) = t.table(name) else { continue };
        let rule = read_rule(rule, source);
        if name_ok {
            rules.insert(name.to_owned(), rule);
        }
    }
    rules
}

/// Reads one `[rules.<name>]` table.
fn read_rule(mut t: TableReader<'_>, source: Option<&SourceRead>) -> RuleConfig {
    let config_json = match t.raw("config") {
        None => "{}".to_owned(),
        Some(Value::Table(table)) => {
            let json = table_to_json(table, &t.path_of("config"), t.problems());
            serde_json::Value::Object(json).to_string()
        }
        Some(other) => {
            t.problem("config", mismatch("a table", other));
            "{}".to_owned()
        }
    };

    let mut ttl_secs = BTreeMap::new();
    if let Some(mut ttls) = t.table("ttl_secs") {
        for metric in ttls.keys() {
            if let Some(ttl) = ttls.optional::<u64>(metric) {
                ttl_secs.insert(metric.to_owned(), ttl);
            }
        }
    }

    let kind = source.and_then(|source| source.kind);
    let topics = match Need::of(kind, KindName::Kafka, false) {
        Need::Forbidden(kind, owner) => {
            t.forbidden("topics", not_for_kind(kind, owner));
            None
        }
        _ => t.optional_list::<String>("topics"),
    };
    let topics = topics.and_then(|topics| {
        let topics = check_topics(&t, "topics", topics)?;
        let known = source.and_then(|source| source.kafka_topics.as_ref());
        let mut ok = true;
        for (index, topic) in topics.iter().enumerate() {
            if known.is_some_and(|known| !known.contains(topic)) {
                let path = format!("{}[{index}]", t.path_of("topics"));
                t.problems()
                    .push(path, format!("topic {topic:?} is not in source.topics"));
                ok = false;
            }
        }
        ok.then_some(topics)
    });

    let max = WindowsConfig::MAX_DAY_OFFSET_SECS;
    let day_offset_secs = t.optional::<i64>("day_offset_secs");
    let day_offset_secs = within(&t, "day_offset_secs", day_offset_secs, -max, max);

    RuleConfig {
        config_json,
        ttl_secs,
        topics,
        day_offset_secs,
    }
}

/// A TOML table as a JSON object; datetimes become strings. Floats JSON
/// cannot hold (NaN, infinities) are reported under `path`.
fn table_to_json(
    table: &Table,
    path: &str,
    problems: &Problems,
) -> serde_json::Map<String, serde_json::Value> {
    table
        .iter()
        .map(|(key, value)| {
            let json = toml_to_json(value, &join_key(path, key), problems);
            (key.clone(), json)
        })
        .collect()
}

/// One TOML value as JSON; see [`table_to_json`].
fn toml_to_json(value: &Value, path: &str, problems: &Problems) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::String(s) => Json::String(s.clone()),
        Value::Integer(i) => Json::from(*i),
        Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Json::Number(n),
            None => {
                problems.push(
                    path.to_owned(),
                    format!("{f} cannot be passed to a rule as JSON"),
                );
                Json::Null
            }
        },
        Value::Boolean(b) => Json::Bool(*b),
        Value::Datetime(dt) => Json::String(dt.to_string()),
        Value::Array(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| toml_to_json(item, &format!("{path}[{index}]"), problems))
                .collect(),
        ),
        Value::Table(table) => Json::Object(table_to_json(table, path, problems)),
    }
}
