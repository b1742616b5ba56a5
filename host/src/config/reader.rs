//! Field-by-field reading of a parsed TOML table that collects every problem.
//!
//! serde stops at the first error in a document. [`TableReader`] instead pulls
//! each field out of a [`toml::Table`] on its own, deserializes just that value
//! with serde, records a [`Problem`] under the field's full key path when it is
//! missing or malformed, and carries on. When a reader is dropped it reports
//! every key it was never asked about as unknown, listing the keys it takes.

use std::cell::RefCell;
use std::fmt::Display;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::Problem;

/// The problems found in one config file, shared by all of its readers.
#[derive(Debug, Default)]
pub(crate) struct Problems(RefCell<Vec<Problem>>);

impl Problems {
    /// Records a problem at `key_path` (empty for the file as a whole).
    pub(crate) fn push(&self, key_path: String, message: impl Into<String>) {
        self.0.borrow_mut().push(Problem {
            key_path,
            message: message.into(),
        });
    }

    /// Every problem recorded so far, in the order found.
    pub(crate) fn into_vec(self) -> Vec<Problem> {
        self.0.into_inner()
    }
}

/// Reads the fields of one TOML table, recording problems instead of stopping.
///
/// Every accessor marks its key as known, whether the key is present or not;
/// on drop, the keys present in the table but never asked for are reported as
/// unknown. Accessors return `None` when the value is absent or invalid (an
/// invalid value has been reported, so the caller may substitute a default:
/// the config as a whole is rejected anyway).
pub(crate) struct TableReader<'a> {
    /// Key path of this table (`""` for the document root).
    path: String,
    /// The table being read.
    table: &'a Table,
    /// Where problems go.
    problems: &'a Problems,
    /// Keys asked for so far, in order, for the "expected one of" list.
    known: Vec<&'a str>,
}

impl<'a> TableReader<'a> {
    /// A reader over the document root.
    pub(crate) fn root(table: &'a Table, problems: &'a Problems) -> Self {
        Self::at(String::new(), table, problems)
    }

    /// A reader over `table`, which lives at key path `path`.
    fn at(path: String, table: &'a Table, problems: &'a Problems) -> Self {
        Self {
            path,
            table,
            problems,
            known: Vec::new(),
        }
    }

    /// The full key path of `key` in this table.
    pub(crate) fn path_of(&self, key: &str) -> String {
        join_key(&self.path, key)
    }

    /// Records a problem with the value of `key`.
    pub(crate) fn problem(&self, key: &str, message: impl Into<String>) {
        self.problems.push(self.path_of(key), message);
    }

    /// The problem sink, for helpers that walk values on their own.
    pub(crate) fn problems(&self) -> &'a Problems {
        self.problems
    }

    /// Every key present in the table (for tables whose keys are names, such
    /// as `[rules]`). Does not mark them as known.
    pub(crate) fn keys(&self) -> Vec<&'a str> {
        self.table.keys().map(String::as_str).collect()
    }

    /// Marks `key` as known without reading it.
    fn mark(&mut self, key: &'a str) {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
    }

    /// The raw value of `key`, if present; marks the key as known.
    pub(crate) fn raw(&mut self, key: &'a str) -> Option<&'a Value> {
        self.mark(key);
        self.table.get(key)
    }

    /// Like [`Self::raw`], but reports a missing key.
    fn raw_required(&mut self, key: &'a str, what: &str) -> Option<&'a Value> {
        let value = self.raw(key);
        if value.is_none() {
            self.problem(key, format!("missing required {what}"));
        }
        value
    }

    /// Converts `value` (found at `key`) to `T`, reporting a failure.
    fn convert<T: DeserializeOwned>(&self, key_path: String, value: &Value) -> Option<T> {
        match convert(value) {
            Ok(v) => Some(v),
            Err(message) => {
                self.problems.push(key_path, message);
                None
            }
        }
    }

    /// A required field: reports it when missing or not a valid `T`.
    pub(crate) fn required<T: DeserializeOwned>(&mut self, key: &'a str) -> Option<T> {
        let value = self.raw_required(key, "key")?;
        self.convert(self.path_of(key), value)
    }

    /// An optional field: `None` when absent; reported when not a valid `T`.
    pub(crate) fn optional<T: DeserializeOwned>(&mut self, key: &'a str) -> Option<T> {
        let value = self.raw(key)?;
        self.convert(self.path_of(key), value)
    }

    /// A required array whose items are each converted to `T`; a bad item is
    /// reported at `key[index]` and left out.
    pub(crate) fn required_list<T: DeserializeOwned>(&mut self, key: &'a str) -> Option<Vec<T>> {
        let value = self.raw_required(key, "key")?;
        self.list_of(key, value)
    }

    /// An optional array whose items are each converted to `T`; see
    /// [`Self::required_list`].
    pub(crate) fn optional_list<T: DeserializeOwned>(&mut self, key: &'a str) -> Option<Vec<T>> {
        let value = self.raw(key)?;
        self.list_of(key, value)
    }

    /// Converts the array `value` found at `key`, item by item.
    fn list_of<T: DeserializeOwned>(&self, key: &str, value: &Value) -> Option<Vec<T>> {
        let Value::Array(items) = value else {
            self.problem(key, mismatch("an array", value));
            return None;
        };
        let path = self.path_of(key);
        let mut out = Vec::with_capacity(items.len());
        let mut all_ok = true;
        for (index, item) in items.iter().enumerate() {
            match self.convert(format!("{path}[{index}]"), item) {
                Some(v) => out.push(v),
                None => all_ok = false,
            }
        }
        all_ok.then_some(out)
    }

    /// A key that is known but not allowed in this context: reported with
    /// `why` when present.
    pub(crate) fn forbidden(&mut self, key: &'a str, why: impl Display) {
        if self.raw(key).is_some() {
            self.problem(key, why.to_string());
        }
    }

    /// An optional sub-table; reported when present but not a table.
    pub(crate) fn table(&mut self, key: &'a str) -> Option<TableReader<'a>> {
        let value = self.raw(key)?;
        self.table_of(key, value)
    }

    /// A required sub-table; reported when missing or not a table.
    pub(crate) fn required_table(&mut self, key: &'a str) -> Option<TableReader<'a>> {
        let value = self.raw_required(key, "table")?;
        self.table_of(key, value)
    }

    /// A reader over the table `value` found at `key`.
    fn table_of(&self, key: &str, value: &'a Value) -> Option<TableReader<'a>> {
        match value {
            Value::Table(table) => Some(TableReader::at(self.path_of(key), table, self.problems)),
            other => {
                self.problem(key, mismatch("a table", other));
                None
            }
        }
    }
}

impl Drop for TableReader<'_> {
    /// Reports every key present in the table that was never asked for.
    fn drop(&mut self) {
        for key in self.table.keys() {
            if self.known.contains(&key.as_str()) {
                continue;
            }
            let message = if self.known.is_empty() {
                "unknown key (this table takes no keys)".to_owned()
            } else {
                format!("unknown key (expected one of: {})", self.known.join(", "))
            };
            self.problems.push(self.path_of(key), message);
        }
    }
}

/// Joins a table's key path and one of its keys, quoting the key as TOML
/// would when it is not a bare key (`rules."Bad Name"`).
pub(crate) fn join_key(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// `"expected {expected}, found {a/an type}"` for a value of the wrong type.
pub(crate) fn mismatch(expected: &str, found: &Value) -> String {
    format!(
        "expected {expected}, found {}",
        with_article(found.type_str())
    )
}

/// `"a boolean"`, `"an integer"`.
fn with_article(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {type_name}")
}

/// Deserializes one TOML value with serde, turning serde's messages into the
/// config's wording (`expected a boolean, found a string`).
fn convert<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    T::deserialize(value.clone()).map_err(|error| describe(error.message().trim(), value))
}

/// Rewrites serde's `invalid type: …, expected …` and `invalid value: …,
/// expected …` messages; passes any other message through.
fn describe(message: &str, value: &Value) -> String {
    if let Some((_, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.rsplit_once(", expected "))
    {
        return mismatch(&expected_wording(expected), value);
    }
    if let Some((_, expected)) = message
        .strip_prefix("invalid value: ")
        .and_then(|rest| rest.rsplit_once(", expected "))
    {
        return format!("expected {}, found {value}", expected_wording(expected));
    }
    message.to_owned()
}

/// serde's name for what a type expects, in the config's words.
fn expected_wording(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "a table".to_owned(),
        "path string" => "a string".to_owned(),
        other => other.to_owned(),
    }
}
