//! JSON records: [`Record::json`](crate::Record::json) and field helpers for
//! `#[serde(deserialize_with = ...)]`.
//!
//! Producers disagree on whether a timestamp is a number or a string, so the
//! time helpers accept both and read the value's text, never a float:
//!
//! ```
//! # use weir_sdk::prelude::*;
//! #[derive(serde::Deserialize)]
//! struct Event {
//!     #[serde(deserialize_with = "weir_sdk::json::epoch_secs")]
//!     time_ms: i64,
//! }
//! # let ms = |json: &str| serde_json::from_str::<Event>(json).map(|e| e.time_ms).ok();
//! assert_eq!(ms(r#"{"time_ms": 1795256103}"#), Some(1_795_256_103_000));
//! assert_eq!(ms(r#"{"time_ms": "1795256103.412"}"#), Some(1_795_256_103_412));
//! ```

use serde::de::{Deserialize, Deserializer, Error as _};
use serde_json::error::Category;
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::parse::time;

/// Parses `bytes` as one JSON value of type `T`; the error names what is
/// wrong and where, as the reason of the rejected record.
pub(crate) fn from_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|error| describe::<T>(&error))
}

/// `invalid JSON at line 1 column 5: expected value`, or, for valid JSON of
/// the wrong shape, `JSON does not fit Spend at line 1 column 40: missing
/// field `roleid``.
fn describe<T>(error: &serde_json::Error) -> Error {
    let what = match error.classify() {
        Category::Data => format!("JSON does not fit {}", short_type_name::<T>()),
        Category::Syntax | Category::Eof | Category::Io => "invalid JSON".to_owned(),
    };
    let full = error.to_string();
    if error.line() == 0 {
        return Error::msg(format!("{what}: {full}"));
    }
    let position = format!(" at line {} column {}", error.line(), error.column());
    let problem = full.strip_suffix(&position).unwrap_or(&full);
    Error::msg(format!("{what}{position}: {problem}"))
}

/// `Spend` for `my_rule::Spend<'a>`: the name a rule author wrote, without
/// the module path and generics that `type_name` adds.
fn short_type_name<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    let path = name.split('<').next().unwrap_or(name);
    path.rsplit("::").next().unwrap_or(path)
}

/// The text of a JSON number (`33.8`, as written) or the content of a JSON
/// string (`"33.80"` gives `33.80`); any other value is refused naming
/// `expected`. Reads serde_json's raw text, so no digit passes through a
/// float.
pub(crate) fn scalar_text<'de, D: Deserializer<'de>>(
    deserializer: D,
    expected: &str,
) -> Result<String, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    let text = raw.get();
    let found = match text.as_bytes().first() {
        Some(b'"') => return serde_json::from_str(text).map_err(D::Error::custom),
        Some(b'-' | b'0'..=b'9') => return Ok(text.to_owned()),
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        _ => "nothing",
    };
    Err(D::Error::custom(format!(
        "invalid type: {found}, expected {expected}"
    )))
}

/// Deserializes Unix seconds, a JSON number or string (`1795256103`,
/// `"1795256103.412"`), to Unix milliseconds; see
/// [`epoch_secs`](crate::parse::time::epoch_secs) for the accepted text.
pub fn epoch_secs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let text = scalar_text(deserializer, "epoch seconds")?;
    time::epoch_secs(&text).map_err(D::Error::custom)
}

/// Deserializes Unix milliseconds, a JSON integer or string
/// (`1795256103412`); see [`epoch_millis`](crate::parse::time::epoch_millis).
pub fn epoch_millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let text = scalar_text(deserializer, "epoch milliseconds")?;
    time::epoch_millis(&text).map_err(D::Error::custom)
}

/// Deserializes an RFC 3339 string (`"2026-11-21T10:15:03Z"`) to Unix
/// milliseconds; see [`parse_rfc3339`](crate::parse::time::parse_rfc3339).
pub fn rfc3339<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let text = String::deserialize(deserializer)?;
    time::parse_rfc3339(&text).map_err(D::Error::custom)
}

#[cfg(test)]
mod tests;
