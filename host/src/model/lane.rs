//! Lanes: the unit of input order, window state and checkpointing.
//!
//! A file or stdin is one lane. A Kafka source has one lane per topic
//! partition, so whichever instance owns a partition can load exactly its
//! state, and whether a record is late depends only on the records before
//! it in its partition (an order Kafka keeps).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_names_its_partition() {
        let lane = partition_lane("web/access", 3);
        assert_eq!(lane, "web/access/3");
        assert_eq!(split_lane(&lane), Some(("web/access", 3)));
        assert_eq!(split_lane(SINGLE_LANE), None);
    }
}
