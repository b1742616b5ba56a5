//! Lanes: the unit of input order, window state and checkpointing.
//!
//! A file or stdin is one lane. A Kafka source has one lane per topic
//! partition, so whichever instance owns a partition can load exactly its
//! state, and whether a record is late depends only on the records before
//! it in its partition (an order Kafka keeps).
//!
//! A pipeline with several named sources (`[sources.<name>]`) prefixes each
//! lane with its source's name, so every lane says where it comes from:
//! `<source>` for a file or stdin, `<source>/<topic>/<partition>` for
//! Kafka. The single `[source]` keeps the unprefixed names, so its
//! checkpoints resume as they always did.

/// The lane of an unpartitioned source (a file, stdin); also the field its
/// position is checkpointed under.
pub const SINGLE_LANE: &str = "0";

/// The lane (and checkpoint position field) of a topic partition:
/// `topic/partition`.
pub fn partition_lane(topic: &str, partition: u32) -> String {
    format!("{topic}/{partition}")
}

/// The topic and partition of a partition's lane.
pub fn split_lane(lane: &str) -> Option<(&str, i32)> {
    let (topic, partition) = lane.rsplit_once('/')?;
    Some((topic, partition.parse().ok()?))
}

/// How one source of a pipeline names its lanes, and which lanes are its.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLanes {
    /// The source's name (`default` for `[source]`).
    name: String,
    /// Whether lanes carry the name (`[sources.<name>]`).
    prefixed: bool,
    /// Whether the source has a lane per topic partition (Kafka).
    partitioned: bool,
}

impl SourceLanes {
    /// The lanes of `[source]`, named as they always were: [`SINGLE_LANE`]
    /// or `topic/partition` (`partitioned`).
    pub fn unnamed(name: &str, partitioned: bool) -> Self {
        Self {
            name: name.to_owned(),
            prefixed: false,
            partitioned,
        }
    }

    /// The lanes of `[sources.<name>]`: `<name>`, or
    /// `<name>/topic/partition` (`partitioned`).
    pub fn named(name: &str, partitioned: bool) -> Self {
        Self {
            name: name.to_owned(),
            prefixed: true,
            partitioned,
        }
    }

    /// The source's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether its lanes carry its name (`[sources.<name>]`).
    pub fn is_prefixed(&self) -> bool {
        self.prefixed
    }

    /// Whether the source has a lane per topic partition.
    pub fn is_partitioned(&self) -> bool {
        self.partitioned
    }

    /// The lane of a record from `topic` (as the source names it) and
    /// `partition`.
    pub fn lane(&self, topic: &str, partition: u32) -> String {
        match (self.prefixed, self.partitioned) {
            (false, false) => SINGLE_LANE.to_owned(),
            (false, true) => partition_lane(topic, partition),
            (true, false) => self.name.clone(),
            (true, true) => format!("{}/{}", self.name, partition_lane(topic, partition)),
        }
    }

    /// The lane of an unpartitioned source (a file, stdin).
    pub fn whole(&self) -> String {
        self.lane("", 0)
    }

    /// A lane of this source as the source itself names it (without the
    /// prefix: `topic/partition`); `None` if the lane is not this source's.
    pub fn local<'a>(&self, lane: &'a str) -> Option<&'a str> {
        if !self.prefixed {
            return Some(lane);
        }
        let rest = lane.strip_prefix(self.name.as_str())?;
        match rest.strip_prefix('/') {
            Some(local) if self.partitioned => Some(local),
            None if rest.is_empty() && !self.partitioned => Some(SINGLE_LANE),
            _ => None,
        }
    }

    /// A lane as the source names it, as the pipeline names it.
    pub fn global(&self, local: &str) -> String {
        match (self.prefixed, self.partitioned) {
            (false, _) => local.to_owned(),
            (true, false) => self.name.clone(),
            (true, true) => format!("{}/{local}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_sources_prefix_their_lanes() {
        let default = SourceLanes::unnamed("default", true);
        assert_eq!(default.lane("access", 2), "access/2");
        assert_eq!(default.local("access/2"), Some("access/2"));
        assert_eq!(SourceLanes::unnamed("default", false).whole(), SINGLE_LANE);

        let bus = SourceLanes::named("bus", true);
        assert_eq!(bus.lane("web/access", 2), "bus/web/access/2");
        assert_eq!(bus.local("bus/web/access/2"), Some("web/access/2"));
        assert_eq!(bus.global("web/access/2"), "bus/web/access/2");
        assert_eq!(bus.local("busy/access/2"), None);
        assert_eq!(bus.local("web"), None);

        let web = SourceLanes::named("web", false);
        assert_eq!(web.whole(), "web");
        assert_eq!(web.local("web"), Some(SINGLE_LANE));
        assert_eq!(web.global(SINGLE_LANE), "web");
        assert_eq!(web.local("web/x/1"), None);
        assert_eq!(web.local("bus/web/access/2"), None);
    }

    #[test]
    fn a_lane_names_its_partition() {
        let lane = partition_lane("web/access", 3);
        assert_eq!(lane, "web/access/3");
        assert_eq!(split_lane(&lane), Some(("web/access", 3)));
        assert_eq!(split_lane(SINGLE_LANE), None);
    }
}
