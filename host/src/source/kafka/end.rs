//! `stop_at_end`: knowing when every partition owned has been read to its
//! end, so a bounded run (a backfill, a replay of a finished topic) can
//! close its windows and exit.
//!
//! librdkafka reports reaching the end of a partition as an event carrying
//! only the partition number (`enable.partition.eof`), which is why the
//! option needs a single topic. The broker's high watermark is not used:
//! tansu 0.6 reports one inside its last record batch.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long every partition must have stayed at its end before the input
/// counts as finished. An end reported just before a seek back (see
/// [`super::intake::Intake::push`]) is undone by the records the seek
/// brings, which a broker may take up to `fetch.wait.max.ms` (500 ms by
/// default) to send.
const QUIET: Duration = Duration::from_secs(2);

/// Which owned partitions are at their end, and since when.
#[derive(Debug, Default)]
pub(super) struct EndWatch {
    /// The single topic read.
    topic: String,
    /// Every owned lane: `Some(since)` once at its end, `None` while
    /// records may follow.
    lanes: BTreeMap<String, Option<Instant>>,
}

impl EndWatch {
    pub(super) fn new(topic: &str) -> Self {
        Self {
            topic: topic.to_owned(),
            lanes: BTreeMap::new(),
        }
    }

    /// A lane now owned: it has its partition still to read.
    pub(super) fn owned(&mut self, lane: &str) {
        self.lanes.insert(lane.to_owned(), None);
    }

    /// A lane no longer owned.
    pub(super) fn released(&mut self, lane: &str) {
        self.lanes.remove(lane);
    }

    /// A record of `lane` arrived (even one skipped): more may follow.
    pub(super) fn record(&mut self, lane: &str) {
        if let Some(end) = self.lanes.get_mut(lane) {
            *end = None;
        }
    }

    /// librdkafka reached the end of `partition` of the topic.
    pub(super) fn at_end(&mut self, partition: i32, now: Instant) {
        let lane = crate::model::partition_lane(&self.topic, partition.max(0) as u32);
        if let Some(end) = self.lanes.get_mut(&lane) {
            end.get_or_insert(now);
        }
    }

    /// Whether some partition is owned and every one owned has been at its
    /// end for [`QUIET`].
    pub(super) fn finished(&self, now: Instant) -> bool {
        !self.lanes.is_empty()
            && self
                .lanes
                .values()
                .all(|end| end.is_some_and(|since| now.duration_since(since) >= QUIET))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_once_every_owned_partition_stayed_at_its_end() {
        let start = Instant::now();
        let mut watch = EndWatch::new("access");
        assert!(!watch.finished(start), "nothing owned yet");
        watch.owned("access/0");
        watch.owned("access/1");
        watch.at_end(0, start);
        assert!(!watch.finished(start + QUIET), "access/1 is still read");
        watch.at_end(1, start + Duration::from_millis(100));
        assert!(!watch.finished(start + QUIET), "not quiet long enough");
        assert!(watch.finished(start + QUIET + Duration::from_millis(100)));
        // A record (a seek back, new data) undoes the end.
        watch.record("access/1");
        assert!(!watch.finished(start + QUIET * 3));
        watch.at_end(1, start + QUIET * 3);
        assert!(watch.finished(start + QUIET * 4));
        // Partitions given up no longer count; ends of others are ignored.
        watch.owned("access/2");
        assert!(!watch.finished(start + QUIET * 5));
        watch.at_end(7, start);
        watch.released("access/2");
        assert!(watch.finished(start + QUIET * 5));
    }
}
