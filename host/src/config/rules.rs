//! The `[rules]` section: one optional `[rules.<name>]` table per rule, with
//! the config passed to the rule's init, TTL overrides, the rule's own day
//! offset, the named sources it reads and, for a Kafka source, the topics
//! it sees.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::reader::{Problems, TableReader, join_key, mismatch};
use super::source::{KindName, Need, SourceRead, not_for_kind};
use super::sources::SourcesRead;
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
    /// The sources this rule reads (`sources`), by name (`default` for
    /// `[source]`); `None` for all of them. Records of the others are not
    /// its input.
    pub sources: Option<Vec<String>>,
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
            sources: None,
            day_offset_secs: None,
        }
    }
}

/// Reads `[rules]`: one table per rule name.
pub(super) fn read_rules(
    mut t: TableReader<'_>,
    sources: Option<&SourcesRead>,
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
        let rule = read_rule(rule, sources);
        if name_ok {
            rules.insert(name.to_owned(), rule);
        }
    }
    rules
}

/// Reads one `[rules.<name>]` table.
fn read_rule(mut t: TableReader<'_>, sources: Option<&SourcesRead>) -> RuleConfig {
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

    let rule_sources = t
        .optional_list::<String>("sources")
        .and_then(|names| check_rule_sources(&t, names, sources));
    let topics = match sources {
        Some(sources) if sources.named => {
            read_topics_of_named(&mut t, sources, rule_sources.as_deref())
        }
        _ => read_topics(&mut t, sources.and_then(SourcesRead::single)),
    };

    let max = WindowsConfig::MAX_DAY_OFFSET_SECS;
    let day_offset_secs = t.optional::<i64>("day_offset_secs");
    let day_offset_secs = within(&t, "day_offset_secs", day_offset_secs, -max, max);

    RuleConfig {
        config_json,
        ttl_secs,
        topics,
        sources: rule_sources,
        day_offset_secs,
    }
}

/// Reads `topics` of a rule of a `[source]` pipeline: Kafka only, each one
/// of `source.topics`.
fn read_topics(t: &mut TableReader<'_>, source: Option<&SourceRead>) -> Option<Vec<String>> {
    let kind = source.and_then(|source| source.kind);
    let topics = match Need::of(kind, KindName::Kafka, false) {
        Need::Forbidden(kind, owner) => {
            t.forbidden("topics", not_for_kind(kind, owner));
            None
        }
        _ => t.optional_list::<String>("topics"),
    }?;
    let known = source.and_then(|source| source.kafka_topics.as_ref());
    known_topics(t, topics, known, "source.topics")
}

/// Reads `topics` of a rule of a `[sources.<name>]` pipeline: the rule
/// reads at least one Kafka source (of its `sources`, or of all), and
/// each topic is one of those sources' topics.
fn read_topics_of_named(
    t: &mut TableReader<'_>,
    sources: &SourcesRead,
    rule_sources: Option<&[String]>,
) -> Option<Vec<String>> {
    let read: Vec<&SourceRead> = sources
        .by_name
        .iter()
        .filter(|(name, _)| rule_sources.is_none_or(|names| names.contains(name)))
        .map(|(_, source)| source)
        .collect();
    let kinds_known = read.iter().all(|source| source.kind.is_some());
    let any_kafka = read
        .iter()
        .any(|source| source.kind == Some(KindName::Kafka));
    if kinds_known && !any_kafka {
        t.forbidden(
            "topics",
            r#"not allowed: none of the sources this rule reads is of kind "kafka""#,
        );
        return None;
    }
    let topics = t.optional_list::<String>("topics")?;
    // Every Kafka source's topics, when all of them are known.
    let known: Option<Vec<String>> = read
        .iter()
        .filter(|source| source.kind == Some(KindName::Kafka))
        .map(|source| source.kafka_topics.clone())
        .collect::<Option<Vec<Vec<String>>>>()
        .map(|lists| lists.concat());
    known_topics(
        t,
        topics,
        known.as_ref(),
        "the topics of the kafka sources this rule reads",
    )
}

/// Checks a rule's topic list, and that each is in `known` (when known).
fn known_topics(
    t: &TableReader<'_>,
    topics: Vec<String>,
    known: Option<&Vec<String>>,
    known_as: &str,
) -> Option<Vec<String>> {
    let topics = check_topics(t, "topics", topics)?;
    let mut ok = true;
    for (index, topic) in topics.iter().enumerate() {
        if known.is_some_and(|known| !known.contains(topic)) {
            let path = format!("{}[{index}]", t.path_of("topics"));
            t.problems()
                .push(path, format!("topic {topic:?} is not in {known_as}"));
            ok = false;
        }
    }
    ok.then_some(topics)
}

/// Checks a rule's `sources`: non-empty, no duplicates, each one a source
/// of the config (`default` for `[source]`).
fn check_rule_sources(
    t: &TableReader<'_>,
    names: Vec<String>,
    sources: Option<&SourcesRead>,
) -> Option<Vec<String>> {
    if names.is_empty() {
        t.problem("sources", "must list at least one source");
        return None;
    }
    let mut ok = true;
    for (index, name) in names.iter().enumerate() {
        let path = format!("{}[{index}]", t.path_of("sources"));
        if names[..index].contains(name) {
            t.problems()
                .push(path, format!("duplicate source {name:?}"));
            ok = false;
        } else if let Some(sources) = sources
            && !sources.by_name.contains_key(name)
        {
            let expected: Vec<&str> = sources.by_name.keys().map(String::as_str).collect();
            t.problems().push(
                path,
                format!(
                    "unknown source {name:?} (expected one of: {})",
                    expected.join(", ")
                ),
            );
            ok = false;
        }
    }
    ok.then_some(names)
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
