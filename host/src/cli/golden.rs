//! The windowed results of a replay as one JSON document, and how two of
//! them differ: the golden files of `weir test --expect` and `--update`.
//!
//! The form is `{"<metric>:<size>": {"<start>": {"<group>": <value>}}}`:
//! `<size>` is the window's size in seconds (a cumulative window's whole
//! size, as in the Redis keys), `<start>` its start in Unix seconds, and
//! `<value>` a JSON number. A golden file may also be written in the Redis
//! form of `tests/golden/*/expected.json` (`{"weir:<rule>:<metric>:<size>:<start>":
//! {"<group>": "<value>"}}`), so the oracle's files compare as they are.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Number, Value};

/// Groups and their values in one window.
pub type Groups = BTreeMap<String, Value>;

/// Every window's final values: `"<metric>:<size>"` → start (Unix seconds,
/// as text) → group → value.
pub type Windows = BTreeMap<String, BTreeMap<String, Groups>>;

/// A golden file that is neither form.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not windows.
    #[error(
        "{0}; expected {{\"<metric>:<size>\": {{\"<start>\": {{\"<group>\": <value>}}}}}} (what `weir test --json` prints)"
    )]
    Shape(String),
}

/// A value as the store keeps it (decimal text) as a JSON number; text that
/// is no number stays text, so it still compares.
pub fn value_of(text: &str) -> Value {
    if let Ok(int) = text.parse::<i64>() {
        return Value::from(int);
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::from(text), Value::Number)
}

/// Adds the Redis hash `key` (`weir:<rule>:<metric>:<size>:<start>`) to
/// `windows`; `false` if the key is not an output window's.
pub fn add_hash(windows: &mut Windows, key: &str, fields: &BTreeMap<String, String>) -> bool {
    let mut parts = key.rsplitn(4, ':');
    let (Some(start), Some(size), Some(metric), Some(prefix)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if !prefix.starts_with("weir:") || !numeric(start) || !numeric(size) {
        return false;
    }
    let groups = windows
        .entry(format!("{metric}:{size}"))
        .or_default()
        .entry(start.to_owned())
        .or_default();
    for (group, value) in fields {
        groups.insert(group.clone(), value_of(value));
    }
    true
}

/// Reads a golden file in either form (see the module docs).
pub fn parse(text: &str) -> Result<Windows, GoldenError> {
    let value: Value = serde_json::from_str(text)?;
    let Value::Object(top) = value else {
        return Err(GoldenError::Shape("the file is not a JSON object".into()));
    };
    let mut windows = Windows::new();
    for (key, inner) in &top {
        if key.starts_with("weir:") {
            let fields = string_fields(inner)
                .ok_or_else(|| GoldenError::Shape(format!("`{key}` is not a hash of values")))?;
            if !add_hash(&mut windows, key, &fields) {
                return Err(GoldenError::Shape(format!(
                    "`{key}` is not `weir:<rule>:<metric>:<size>:<start>`"
                )));
            }
            continue;
        }
        let Value::Object(starts) = inner else {
            return Err(GoldenError::Shape(format!("`{key}` is not an object")));
        };
        let metric = windows.entry(key.clone()).or_default();
        for (start, groups) in starts {
            let fields = string_fields(groups).ok_or_else(|| {
                GoldenError::Shape(format!("`{key}` → `{start}` is not groups and values"))
            })?;
            metric.insert(
                start.clone(),
                fields
                    .iter()
                    .map(|(group, value)| (group.clone(), value_of(value)))
                    .collect(),
            );
        }
    }
    Ok(windows)
}

/// An object's values as text (numbers as written, strings unquoted).
fn string_fields(value: &Value) -> Option<BTreeMap<String, String>> {
    let Value::Object(fields) = value else {
        return None;
    };
    fields
        .iter()
        .map(|(field, value)| match value {
            Value::Number(n) => Some((field.clone(), n.to_string())),
            Value::String(s) => Some((field.clone(), s.clone())),
            _ => None,
        })
        .collect()
}

/// The golden file's text for `windows`: pretty JSON, keys sorted, with a
/// final newline, so a rule's golden file diffs well in review.
pub fn render(windows: &Windows) -> String {
    let mut text = serde_json::to_string_pretty(windows).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

/// Every difference between `expected` and `got`, one line each
/// (`pv:60 @1795226400 [total]: expected 17, got 16`), in key order.
pub fn diff(expected: &Windows, got: &Windows) -> Vec<String> {
    let mut lines = Vec::new();
    let empty_starts = BTreeMap::new();
    let empty_groups = Groups::new();
    let metrics: BTreeSet<&String> = expected.keys().chain(got.keys()).collect();
    for metric in metrics {
        let want = expected.get(metric).unwrap_or(&empty_starts);
        let have = got.get(metric).unwrap_or(&empty_starts);
        let starts: BTreeSet<&String> = want.keys().chain(have.keys()).collect();
        for start in starts {
            let want = want.get(start).unwrap_or(&empty_groups);
            let have = have.get(start).unwrap_or(&empty_groups);
            let groups: BTreeSet<&String> = want.keys().chain(have.keys()).collect();
            for group in groups {
                let (w, h) = (want.get(group), have.get(group));
                if w == h {
                    continue;
                }
                let mut line = format!("{metric} @{start} [{group}]: ");
                let shown =
                    |v: Option<&Value>| v.map_or_else(|| "nothing".to_owned(), Value::to_string);
                let _ = write!(line, "expected {}, got {}", shown(w), shown(h));
                lines.push(line);
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_forms_alike() {
        let ours =
            parse(r#"{"pv:60": {"1795226400": {"total": 17}}, "sum:60": {"60": {"a": 2.5}}}"#)
                .unwrap();
        let redis = parse(
            r#"{"weir:pvuv:pv:60:1795226400": {"total": "17"}, "weir:x:sum:60:60": {"a": "2.5"}}"#,
        )
        .unwrap();
        assert_eq!(ours, redis);
        assert_eq!(parse(&render(&ours)).unwrap(), ours);
    }

    #[test]
    fn lists_every_difference() {
        let expected = parse(r#"{"pv:60": {"60": {"a": 1, "b": 2}}}"#).unwrap();
        let got = parse(r#"{"pv:60": {"60": {"a": 1, "b": 3}, "120": {"a": 1}}}"#).unwrap();
        assert_eq!(
            diff(&expected, &got),
            vec![
                "pv:60 @120 [a]: expected nothing, got 1",
                "pv:60 @60 [b]: expected 2, got 3",
            ]
        );
        assert!(diff(&got, &got).is_empty());
    }

    #[test]
    fn refuses_what_is_not_windows() {
        assert!(matches!(parse("[1]"), Err(GoldenError::Shape(_))));
        assert!(matches!(
            parse(r#"{"pv:60": 3}"#),
            Err(GoldenError::Shape(_))
        ));
        assert!(matches!(parse("{"), Err(GoldenError::Json(_))));
    }
}
