//! Which records a rule is given: routing by where a record comes from,
//! the configured source (`[rules.R] sources`) and, within a Kafka source,
//! its topic (`[rules.R] topics`).
//!
//! Routing is a predicate on those names only, never on the payload, so a
//! lane (a file, one topic partition) is either wholly a rule's or not at
//! all: whether a rule sees a record depends on where it came from, not on
//! the records around it. A record a rule does not see is not a reject and
//! is not counted anywhere for that rule; it is simply not its input.

use super::SourceLanes;

/// The sources and topics a rule sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// The configured sources it reads, by name; `None`: all.
    sources: Option<Vec<String>>,
    /// The topics it sees, `None`: all. Only records with a topic (Kafka's;
    /// under `[source]`, whatever the source names its records) pass it.
    topics: Option<Vec<String>>,
}

impl Route {
    /// Every record.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only the records of these topics (`[rules.R] topics`).
    pub fn topics(topics: Vec<String>) -> Self {
        Self {
            sources: None,
            topics: Some(topics),
        }
    }

    /// Only these sources' records (`sources`), and of those only these
    /// topics' (`topics`); `None` leaves a side open.
    pub fn new(sources: Option<Vec<String>>, topics: Option<Vec<String>>) -> Self {
        Self { sources, topics }
    }

    /// Whether every record goes to the rule.
    pub fn is_all(&self) -> bool {
        self.sources.is_none() && self.topics.is_none()
    }

    /// Whether a record that `origin` names `name` (its topic, for Kafka)
    /// goes to the rule.
    pub fn admits(&self, origin: &SourceLanes, name: &str) -> bool {
        let source_ok = self
            .sources
            .as_ref()
            .is_none_or(|sources| sources.iter().any(|s| s == origin.name()));
        // A named file or stdin has no topics: a rule narrowed to topics
        // takes none of its records.
        let has_topics = origin.is_partitioned() || !origin.is_prefixed();
        let topic_ok = self
            .topics
            .as_ref()
            .is_none_or(|topics| has_topics && topics.iter().any(|t| t == name));
        source_ok && topic_ok
    }

    /// Which of a batch's source names (by index) the rule sees, for a
    /// batch read from `origin`; `None` when it sees all of them, so the
    /// common case costs nothing.
    pub fn mask(&self, origin: &SourceLanes, sources: &[String]) -> Option<Vec<bool>> {
        if self.is_all() {
            return None;
        }
        let mask: Vec<bool> = sources
            .iter()
            .map(|name| self.admits(origin, name))
            .collect();
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
    fn a_route_admits_only_its_topics() {
        let default = SourceLanes::unnamed("default", true);
        let sources = ["access".to_owned(), "audit".to_owned()];
        assert_eq!(Route::all().mask(&default, &sources), None);
        assert!(Route::all().admits(&default, "anything"));
        let access = Route::topics(vec!["access".to_owned()]);
        assert!(access.admits(&default, "access") && !access.admits(&default, "audit"));
        assert_eq!(access.mask(&default, &sources), Some(vec![true, false]));
        // Every source of this batch is the rule's: nothing to filter.
        assert_eq!(access.mask(&default, &sources[..1]), None);
    }

    #[test]
    fn a_route_admits_only_its_sources() {
        let web = SourceLanes::named("web", false);
        let bus = SourceLanes::named("bus", true);
        let path = ["/var/log/access.log".to_owned()];
        let topics = ["access".to_owned(), "audit".to_owned()];
        let only_web = Route::new(Some(vec!["web".to_owned()]), None);
        assert_eq!(only_web.mask(&web, &path), None);
        assert_eq!(only_web.mask(&bus, &topics), Some(vec![false, false]));
        let bus_audit = Route::new(Some(vec!["bus".to_owned()]), Some(vec!["audit".to_owned()]));
        assert_eq!(bus_audit.mask(&bus, &topics), Some(vec![false, true]));
        assert_eq!(bus_audit.mask(&web, &path), Some(vec![false]));
        // Topics alone: a named file has none, so none of its records.
        let audit = Route::topics(vec!["audit".to_owned()]);
        assert_eq!(audit.mask(&web, &["audit".to_owned()]), Some(vec![false]));
        assert_eq!(audit.mask(&bus, &topics), Some(vec![false, true]));
    }
}
