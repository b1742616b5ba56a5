//! Secrets in the config: passwords, tokens and keys that weir needs to
//! connect and must never print.
//!
//! A secret is written in the file only if the operator wants it there;
//! otherwise it comes from an environment variable (`{ env = "VAR" }`,
//! `password_env = "VAR"`) or a file (`{ file = "path" }`,
//! `password_file = "path"`), read when the config is loaded so that a
//! missing one is a config problem with its key path, like any other.

use std::fmt;
use std::path::Path;

use super::reader::TableReader;

/// What a secret prints as, everywhere: logs, errors, `weir status`,
/// `weir check`.
pub const REDACTED: &str = "***";

/// A password, token or key: its `Debug` and `Display` print [`REDACTED`];
/// only [`Secret::expose`] gives the value, to the client that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the connection that needs it; never for a message.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The secret in environment variable `var`; a problem at `key` if it is
/// unset or empty.
pub(super) fn from_env(t: &TableReader<'_>, key: &str, var: &str) -> Option<Secret> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(Secret(value)),
        Ok(_) => {
            t.problem(key, format!("environment variable {var} is empty"));
            None
        }
        Err(std::env::VarError::NotPresent) => {
            t.problem(key, format!("environment variable {var} is not set"));
            None
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            t.problem(key, format!("environment variable {var} is not UTF-8"));
            None
        }
    }
}

/// The secret in the file at `path` (one trailing line end dropped, as a
/// file written by `echo` or an orchestrator's secret mount has); a problem
/// at `key` if it cannot be read or is empty.
pub(super) fn from_file(t: &TableReader<'_>, key: &str, path: &Path) -> Option<Secret> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let value = text
                .strip_suffix("\r\n")
                .or_else(|| text.strip_suffix('\n'))
                .unwrap_or(&text);
            if value.is_empty() {
                t.problem(key, format!("{} is empty", path.display()));
                None
            } else {
                Some(Secret(value.to_owned()))
            }
        }
        Err(error) => {
            t.problem(key, format!("cannot read {}: {error}", path.display()));
            None
        }
    }
}

/// `url` with the password of its `user:password@` part replaced by
/// [`REDACTED`] (a URL without one is returned as is).
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    // `user:password`; a userinfo without `:` is only a user name.
    let Some((user, _password)) = authority[..at].split_once(':') else {
        return url.to_owned();
    };
    format!(
        "{}{user}:{REDACTED}@{}",
        &url[..scheme_end],
        &url[scheme_end + at + 1..]
    )
}

/// Whether `url` carries a password in its `user:password@` part.
pub fn url_has_password(url: &str) -> bool {
    redact_url(url) != url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), REDACTED);
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(***)");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn urls_lose_their_password() {
        for (url, shown) in [
            (
                "redis://weir:s3cr%40t@db:6379/0",
                "redis://weir:***@db:6379/0",
            ),
            ("rediss://:pw@db:6380", "rediss://:***@db:6380"),
            ("redis://weir@db", "redis://weir@db"),
            ("redis://db:6379/0", "redis://db:6379/0"),
            ("redis://db/0?user=a@b", "redis://db/0?user=a@b"),
            ("unix:///run/redis.sock", "unix:///run/redis.sock"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            assert_eq!(url_has_password(url), url != shown, "{url}");
        }
    }
}
