//! Logging from a rule into the host's log, tagged with the rule name.
//!
//! The host rate-limits these messages, so logging from the per-record path
//! cannot flood the host. Natively (in tests) messages go to stderr.

/// Severity of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Detail for rule authors.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected the rule handled.
    Warn,
    /// Something the rule could not handle.
    Error,
}

/// Writes `message` at `level` to the host log.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::__guest::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    {
        #[expect(
            clippy::print_stderr,
            reason = "native runs have no host log to write to"
        )]
        {
            eprintln!("[{level:?}] {message}");
        }
    }
}

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
