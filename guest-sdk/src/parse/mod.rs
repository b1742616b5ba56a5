//! Parsers for the log formats weir users run today.
//!
//! Hand-written and allocation-free: a rule spends most of its time here, and
//! these run at over a million lines a second even inside WebAssembly.

pub mod access;
pub mod kv;
pub(crate) mod scan;
pub mod time;

/// Why a line did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    what: &'static str,
}

impl ParseError {
    pub(crate) const fn new(what: &'static str) -> Self {
        Self { what }
    }

    /// What was wrong.
    pub fn what(&self) -> &'static str {
        self.what
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)
    }
}

impl std::error::Error for ParseError {}
