//! Which records a rule is given: routing by the name of the source a
//! record comes from (a Kafka topic today, `[rules.R] topics`).
//!
//! Routing is a predicate on the source name only, never on the payload, so
//! a lane (one topic partition) is either wholly a rule's or not at all:
//! whether a rule sees a record depends on where it came from, not on the
//! records around it. A record a rule does not see is not a reject and is
//! not counted anywhere for that rule; it is simply not its input. The same
//! predicate serves a later `[rules.R] sources = [...]` over several named
//! sources.

/// The sources a rule sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Route {
    /// Every source (no `topics` for the rule).
    #[default]
    All,
    /// Only the sources named here.
    Only(Vec<String>),
}

impl Route {
    /// Whether a record from source `name` goes to the rule.
    pub fn admits(&self, name: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(names) => names.iter().any(|n| n == name),
        }
    }

    /// Which of a batch's sources (by index) the rule sees; `None` when it
    /// sees all of them, so the common case costs nothing.
    pub fn mask(&self, sources: &[String]) -> Option<Vec<bool>> {
        let Self::Only(_) = self else {
            return None;
        };
        let mask: Vec<bool> = sources.iter().map(|name| self.admits(name)).collect();
        if mask.iter().all(|&seen| seen) {
            None
        } else {
            Some(mask)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_admits_only_its_sources() {
        let sources = ["access".to_owned(), "audit".to_owned()];
        assert_eq!(Route::All.mask(&sources), None);
        assert!(Route::All.admits("anything"));
        let access = Route::Only(vec!["access".to_owned()]);
        assert!(access.admits("access") && !access.admits("audit"));
        assert_eq!(access.mask(&sources), Some(vec![true, false]));
        // Every source of this batch is the rule's: nothing to filter.
        assert_eq!(access.mask(&sources[..1]), None);
    }
}
