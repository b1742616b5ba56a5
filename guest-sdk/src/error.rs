//! The error type rules return; the host turns it into a counted reject.

use std::fmt;

/// Why a record could not be processed. Any error type converts into it, so
/// `?` works on parsers, number conversions and the rule's own errors alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with the given message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message shown to operators with the rejected record.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        Self::msg(error.to_string())
    }
}

/// Result of rule code.
pub type Result<T, E = Error> = std::result::Result<T, E>;
