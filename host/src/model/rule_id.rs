//! A rule's identity while it runs.

use std::fmt;

/// Names one loaded rule for as long as it runs, whatever else is added or
/// removed: everything kept per rule (its instances, breaker, dead letters,
/// each lane's windows) is looked up by id, never by position in a list, so
/// a table that misses a rule says so instead of pairing it with another.
/// A new version of a rule swapped in by hot reload keeps the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleId(pub u32);

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
