//! `[source.librdkafka]`: raw librdkafka properties, with secrets taken
//! from the environment or a file and kept apart so they never print.

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::Value;

use super::reader::{TableReader, mismatch};
use super::secret::{self, Secret};

/// librdkafka properties that `weir` sets from other keys: refused in
/// `[source.librdkafka]`.
const RESERVED: [(&str, &str); 3] = [
    ("bootstrap.servers", "brokers"),
    ("metadata.broker.list", "brokers"),
    ("group.id", "group"),
];

/// librdkafka properties that hold a password, a key or a token: kept as
/// [`Secret`]s even when written inline.
const SENSITIVE: [&str; 7] = [
    "sasl.password",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.key.pem",
    "ssl_key",
];

/// `[source.librdkafka]`, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Properties {
    /// Everything but secrets: numbers and booleans as text.
    pub(super) plain: BTreeMap<String, String>,
    /// Sensitive properties and any given as `{ env = "VAR" }` or
    /// `{ file = "path" }`.
    pub(super) secrets: BTreeMap<String, Secret>,
    /// Whether a sensitive property is written in the file itself.
    pub(super) inline_secret: bool,
}

/// Reads `[source.librdkafka]`.
pub(super) fn read_librdkafka(mut t: TableReader<'_>) -> Properties {
    let mut properties = Properties::default();
    for key in t.keys() {
        let Some(value) = t.raw(key) else { continue };
        if let Some((_, instead)) = RESERVED.iter().find(|(name, _)| *name == key) {
            t.problem(key, format!("set source.{instead} instead"));
            continue;
        }
        let sensitive = SENSITIVE.contains(&key);
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Table(from) => {
                if let Some(secret) = secret_from(&t, key, from) {
                    properties.secrets.insert(key.to_owned(), secret);
                }
                continue;
            }
            other => {
                t.problem(
                    key,
                    mismatch(
                        "a string, number or boolean, or { env = \"VAR\" } / { file = \"path\" }",
                        other,
                    ),
                );
                continue;
            }
        };
        if sensitive {
            properties.inline_secret = true;
            properties.secrets.insert(key.to_owned(), Secret::new(text));
        } else {
            properties.plain.insert(key.to_owned(), text);
        }
    }
    properties
}

/// The value of `{ env = "VAR" }` or `{ file = "path" }` at `key`.
fn secret_from(
    t: &TableReader<'_>,
    key: &str,
    from: &toml::map::Map<String, Value>,
) -> Option<Secret> {
    let only = |name: &str| from.len() == 1 && from.contains_key(name);
    match (from.get("env"), from.get("file")) {
        (Some(Value::String(var)), _) if only("env") => secret::from_env(t, key, var),
        (_, Some(Value::String(path))) if only("file") => {
            secret::from_file(t, key, &PathBuf::from(path))
        }
        _ => {
            t.problem(
                key,
                "expected { env = \"VAR\" } or { file = \"path\" } (one key, a string)",
            );
            None
        }
    }
}
