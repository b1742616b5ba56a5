//! Turning Kafka messages into batch records, once each: offsets already
//! handed out are skipped (a broker or a seek that delivers them again
//! changes nothing), a start at a checkpointed offset is checked against the
//! first record, and a gap makes the partition be read again from further
//! back.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use rdkafka::message::Message;

use crate::contract::{Batch, RecordMeta, Span};
use crate::model::{SourceStats, partition_lane};

/// Turns messages into batch records.
pub(super) struct Intake {
    pub(super) topics: Vec<String>,
    /// Next offset of every owned partition handed out so far; records
    /// before it are duplicates.
    pub(super) next: BTreeMap<String, u64>,
    /// Partitions just started at a checkpointed offset, until their first
    /// record shows the start was honoured: the offset and how far back the
    /// last re-seek went (see [`Intake::push`]).
    pub(super) starting: HashMap<String, Starting>,
    pub(super) max_record_bytes: usize,
    pub(super) stats: SourceStats,
}

impl Intake {
    /// A partition (re)starts at `start` (its beginning, or nothing more to
    /// read, if `None`): forget where it was, and check its first record
    /// against `start`.
    pub(super) fn restart(&mut self, lane: &str, start: Option<u64>) {
        self.next.remove(lane);
        match start {
            Some(start) => {
                self.starting.insert(lane.to_owned(), Starting::at(start));
            }
            None => {
                self.starting.remove(lane);
            }
        }
    }

    /// Adds one message to a batch, unless it is a duplicate (an offset
    /// already handed out) or too long.
    ///
    /// The first record after a start at a checkpointed offset must be at
    /// or before it. A broker may answer a fetch from the middle of a
    /// record batch with the *next* batch (tansu 0.6 does), which would
    /// skip records: then this asks to seek further back, ever further,
    /// and records before the start are skipped as duplicates.
    pub(super) fn push(&mut self, batch: &mut Batch, message: &impl Message) -> Pushed {
        let topic = message.topic();
        let partition = message.partition();
        let offset = message.offset().max(0) as u64;
        let lane = partition_lane(topic, partition as u32);
        if let Some(starting) = self.starting.get_mut(&lane) {
            let start = starting.start;
            if offset > start
                && let Some(seek_to) = starting.further_back()
            {
                tracing::debug!(%lane, start, got = offset, seek_to, "the broker skipped past the start; seeking further back");
                return Pushed::SeekBack {
                    lane,
                    offset: seek_to,
                };
            }
            if offset > start {
                tracing::warn!(%lane, start, got = offset, "records before this offset are no longer in the topic");
            }
            self.starting.remove(&lane);
            self.next.insert(lane.clone(), start);
        }
        match self.next.get(&lane) {
            Some(&next) if offset < next => {
                self.stats.duplicates += 1;
                return Pushed::Skipped;
            }
            Some(&next) if offset > next => {
                // Records missing: a broker that answered a fetch from
                // the middle of a batch with the next one. Read back.
                let mut starting = Starting::at(next);
                if let Some(seek_to) = starting.further_back() {
                    tracing::debug!(%lane, expected = next, got = offset, seek_to, "gap in offsets; seeking back");
                    self.starting.insert(lane.clone(), starting);
                    return Pushed::SeekBack {
                        lane,
                        offset: seek_to,
                    };
                }
            }
            Some(_) => {}
            None => {
                tracing::debug!(%lane, offset, "first record of the partition since it was assigned")
            }
        }
        self.next.insert(lane, offset + 1);
        let payload = message.payload().unwrap_or_default();
        self.stats.bytes += payload.len() as u64;
        if payload.len() > self.max_record_bytes {
            self.stats.oversized += 1;
            tracing::warn!(
                topic,
                partition,
                offset,
                len = payload.len(),
                max = self.max_record_bytes,
                "message is longer than source.max_record_bytes; skipped"
            );
            return Pushed::Skipped;
        }
        let source = match self.topics.iter().position(|t| t == topic) {
            Some(index) => index,
            None => {
                self.topics.push(topic.to_owned());
                batch.sources.push(topic.to_owned());
                self.topics.len() - 1
            }
        };
        let payload_span = Span {
            start: batch.data.len() as u32,
            len: payload.len() as u32,
        };
        batch.data.extend_from_slice(payload);
        let key = message.key().map(|key| {
            let span = Span {
                start: batch.data.len() as u32,
                len: key.len() as u32,
            };
            batch.data.extend_from_slice(key);
            span
        });
        batch.records.push(RecordMeta {
            payload: payload_span,
            key,
            source: source as u32,
            partition: partition as u32,
            offset,
            timestamp_ms: message.timestamp().to_millis(),
        });
        self.stats.records += 1;
        Pushed::Added
    }
}

/// A partition started at a checkpointed offset, until its first record.
pub(super) struct Starting {
    /// The offset it must resume at.
    pub(super) start: u64,
    /// How far before `start` the last seek went.
    back: u64,
    /// When it was last (re)started.
    pub(super) since: Instant,
}

impl Starting {
    pub(super) fn at(start: u64) -> Self {
        Self {
            start,
            back: 0,
            since: Instant::now(),
        }
    }

    /// The next offset to seek to, further back than the last (`None` once
    /// the partition's beginning was tried).
    pub(super) fn further_back(&mut self) -> Option<u64> {
        if self.back >= self.start {
            return None;
        }
        self.back = (self.back * 4).max(256).min(self.start);
        self.since = Instant::now();
        Some(self.start - self.back)
    }
}

/// What became of a message.
pub(super) enum Pushed {
    /// It is in the batch.
    Added,
    /// Skipped (duplicate or too long).
    Skipped,
    /// The partition must be read again from `offset`.
    SeekBack {
        /// The lane.
        lane: String,
        /// Where to seek to.
        offset: u64,
    },
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;

    use super::*;

    fn intake(max_record_bytes: usize) -> Intake {
        Intake {
            topics: vec!["access".to_owned()],
            next: BTreeMap::new(),
            starting: HashMap::new(),
            max_record_bytes,
            stats: SourceStats::default(),
        }
    }

    fn batch() -> Batch {
        Batch {
            sources: vec!["access".to_owned()],
            data: Vec::new(),
            records: Vec::new(),
        }
    }

    fn message(partition: i32, offset: i64) -> OwnedMessage {
        let line = format!("line {partition}/{offset}");
        OwnedMessage::new(
            Some(line.into_bytes()),
            None,
            "access".to_owned(),
            Timestamp::CreateTime(1_000 + offset),
            partition,
            offset,
            None,
        )
    }

    /// Pushes offsets `range` of `partition`; returns how many were added.
    fn push_all(
        intake: &mut Intake,
        batch: &mut Batch,
        partition: i32,
        range: std::ops::Range<i64>,
    ) -> usize {
        range
            .filter(|&offset| {
                matches!(
                    intake.push(batch, &message(partition, offset)),
                    Pushed::Added
                )
            })
            .count()
    }

    fn offsets(batch: &Batch, partition: u32) -> Vec<u64> {
        batch
            .records
            .iter()
            .filter(|r| r.partition == partition)
            .map(|r| r.offset)
            .collect()
    }

    #[test]
    fn offsets_delivered_again_are_skipped() {
        let mut intake = intake(1024);
        let mut batch = batch();
        assert_eq!(push_all(&mut intake, &mut batch, 0, 0..10), 10);
        assert_eq!(push_all(&mut intake, &mut batch, 1, 0..4), 4);
        // A seek back (or a broker) delivers 3..10 of partition 0 again.
        assert_eq!(push_all(&mut intake, &mut batch, 0, 3..10), 0);
        assert_eq!(intake.stats.duplicates, 7);
        assert_eq!(push_all(&mut intake, &mut batch, 0, 10..12), 2);
        // Partition 1 keeps its own position.
        assert_eq!(push_all(&mut intake, &mut batch, 1, 4..6), 2);
        assert_eq!(offsets(&batch, 0), (0..12).collect::<Vec<u64>>());
        assert_eq!(offsets(&batch, 1), (0..6).collect::<Vec<u64>>());
        assert_eq!(intake.stats.records, 18);
        let first = batch.records[0].payload;
        let text = &batch.data[first.start as usize..(first.start + first.len) as usize];
        assert_eq!(text, b"line 0/0");
        assert_eq!(batch.records[0].timestamp_ms, Some(1_000));
    }

    #[test]
    fn a_start_skipped_by_the_broker_is_read_from_further_back() {
        let mut intake = intake(1024);
        let mut batch = batch();
        intake.restart("access/0", Some(1_000));
        // The broker answers from past the checkpointed offset.
        match intake.push(&mut batch, &message(0, 1_100)) {
            Pushed::SeekBack { lane, offset } => {
                assert_eq!(lane, "access/0");
                assert_eq!(offset, 1_000 - 256);
            }
            _ => panic!("a start past the checkpoint must seek back"),
        }
        assert!(batch.records.is_empty());
        // Read from 744: what came before the checkpoint is skipped.
        assert_eq!(push_all(&mut intake, &mut batch, 0, 744..1_005), 5);
        assert_eq!(offsets(&batch, 0), (1_000..1_005).collect::<Vec<u64>>());
        assert_eq!(intake.stats.duplicates, 256);
    }

    #[test]
    fn a_gap_in_offsets_is_read_again() {
        let mut intake = intake(1024);
        let mut batch = batch();
        assert_eq!(push_all(&mut intake, &mut batch, 0, 0..5), 5);
        match intake.push(&mut batch, &message(0, 9)) {
            Pushed::SeekBack { offset, .. } => assert_eq!(offset, 0),
            _ => panic!("a gap must seek back"),
        }
        assert_eq!(push_all(&mut intake, &mut batch, 0, 0..12), 7);
        assert_eq!(offsets(&batch, 0), (0..12).collect::<Vec<u64>>());
    }

    #[test]
    fn a_record_over_the_cap_is_skipped_and_counted() {
        let mut intake = intake(10);
        let mut batch = batch();
        let long = OwnedMessage::new(
            Some(vec![b'x'; 11]),
            None,
            "access".to_owned(),
            Timestamp::NotAvailable,
            0,
            0,
            None,
        );
        assert!(matches!(intake.push(&mut batch, &long), Pushed::Skipped));
        assert_eq!(intake.stats.oversized, 1);
        // The partition moves on past it.
        assert_eq!(push_all(&mut intake, &mut batch, 0, 1..2), 1);
        assert_eq!(offsets(&batch, 0), vec![1]);
    }
}
