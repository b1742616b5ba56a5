//! Reading Kafka topics as a member of a consumer group.
//!
//! The checkpoint store, not Kafka, holds the positions. When partitions
//! are assigned, each one is claimed through [`LaneClaims`] (its ownership
//! token taken, its checkpointed offset read) and starts at that offset (or
//! at its beginning), so a restart or a rebalance neither skips nor repeats
//! a record that made it into a checkpoint, and an instance that lost a
//! partition can no longer write its state. Rebalances are handed to the
//! pipeline as [`Rebalance`] events between batches: a batch never spans
//! one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

mod assign;
mod end;
mod intake;

use assign::AssignContext;
use end::EndWatch;
use intake::{Intake, Pushed};

use super::SourceError;
use crate::config::KafkaSourceConfig;
use crate::contract::Batch;
use crate::model::{Assignment, LaneClaims, Position, SourceStats, partition_lane, split_lane};

/// Longest a batch waits for more records before it is handed out.
const BATCH_WAIT: Duration = Duration::from_millis(100);

/// A change of the partitions this instance owns, in the order it happened
/// relative to the batches around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalance {
    /// Partitions taken, each with the token it was taken under.
    Assigned(Vec<Assignment>),
    /// Partitions given up in an orderly way: flush them, then drop them.
    Revoked(Vec<String>),
    /// Partitions lost (the group moved on without us): drop them without
    /// writing, another instance may already own them.
    Lost(Vec<String>),
}

/// A Kafka consumer producing batches.
pub struct KafkaSource {
    consumer: BaseConsumer<AssignContext>,
    intake: Intake,
    /// Messages polled after a rebalance, for the next batch.
    carry: VecDeque<OwnedMessage>,
    batch_records: usize,
    /// With `stop_at_end`: which partitions were read to their end.
    end: Option<EndWatch>,
}

/// One step of a Kafka source: the records read, then whatever rebalances
/// happened after them.
pub struct KafkaStep {
    /// The records (possibly none).
    pub batch: Batch,
    /// Rebalances after the batch's records, in order.
    pub rebalances: Vec<Rebalance>,
}

impl KafkaSource {
    /// Joins the consumer group and subscribes to the configured topics.
    pub fn open(
        config: &KafkaSourceConfig,
        claims: Arc<dyn LaneClaims>,
        max_record_bytes: usize,
        batch_records: usize,
    ) -> Result<Self, SourceError> {
        let mut client = ClientConfig::new();
        // weir's own values come last, over the user's: the config warned
        // about any it replaces. Secrets are never weir's keys.
        for (key, value) in config.client_properties() {
            client.set(key, value);
        }
        for (key, secret) in &config.librdkafka_secrets {
            client.set(key, secret.expose());
        }
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group);
        let context = AssignContext {
            claims,
            events: Mutex::new(Vec::new()),
            refused: Mutex::new(None),
        };
        let kafka = |error: rdkafka::error::KafkaError| SourceError::Kafka(error.to_string());
        let consumer: BaseConsumer<AssignContext> =
            client.create_with_context(context).map_err(kafka)?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(kafka)?;
        Ok(Self {
            consumer,
            intake: Intake {
                topics: config.topics.clone(),
                next: BTreeMap::new(),
                starting: HashMap::new(),
                max_record_bytes,
                stats: SourceStats::default(),
            },
            carry: VecDeque::new(),
            batch_records,
            end: config.stop_at_end.then(|| EndWatch::new(&config.topics[0])),
        })
    }

    /// The next batch: whatever arrived within a short wait (possibly
    /// nothing), ended early by a rebalance. A Kafka source never ends;
    /// broker errors are logged and retried by librdkafka.
    pub fn next_batch(&mut self) -> KafkaStep {
        let mut batch = Batch {
            sources: self.intake.topics.clone(),
            data: Vec::new(),
            records: Vec::with_capacity(self.batch_records),
        };
        while let Some(message) = self.carry.pop_front() {
            note_record(&mut self.end, &message);
            let pushed = self.intake.push(&mut batch, &message);
            self.follow(pushed);
        }
        let started = Instant::now();
        let mut ends_after = Vec::new();
        while batch.records.len() < self.batch_records {
            let Some(left) = BATCH_WAIT.checked_sub(started.elapsed()) else {
                break;
            };
            let wait = if batch.records.is_empty() {
                left
            } else {
                Duration::ZERO
            };
            let polled = self.consumer.poll(wait);
            let rebalanced = self.has_rebalances();
            let Some(message) = polled else {
                if rebalanced {
                    break;
                }
                if batch.records.is_empty() {
                    continue;
                }
                break;
            };
            match message {
                Ok(message) if rebalanced => {
                    // Polled after the rebalance: it belongs to the next batch.
                    self.carry.push_back(message.detach());
                    break;
                }
                Ok(message) => {
                    note_record(&mut self.end, &message);
                    let pushed = self.intake.push(&mut batch, &message);
                    self.follow(pushed);
                }
                Err(KafkaError::PartitionEOF(partition)) if rebalanced => {
                    // Maybe of a partition just assigned: note it after
                    // the assignment.
                    ends_after.push(partition);
                    break;
                }
                Err(KafkaError::PartitionEOF(partition)) => self.at_end(partition),
                Err(error) => {
                    tracing::warn!(%error, "Kafka consumer error; retrying");
                    if rebalanced {
                        break;
                    }
                }
            }
        }
        if !self.intake.starting.is_empty() {
            self.check_silent_starts();
        }
        let rebalances = self.take_rebalances();
        for event in &rebalances {
            self.track(event);
        }
        for partition in ends_after {
            self.at_end(partition);
        }
        KafkaStep { batch, rebalances }
    }

    /// Why the brokers refused this client for good, if they have (see
    /// `AssignContext::error`).
    pub fn refused(&self) -> Option<String> {
        self.consumer.context().refused.lock().ok()?.clone()
    }

    /// librdkafka reached the end of `partition`.
    fn at_end(&mut self, partition: i32) {
        if let Some(end) = &mut self.end {
            tracing::debug!(partition, "end of partition reached");
            end.at_end(partition, Instant::now());
        }
    }

    /// With `stop_at_end`: whether every partition owned has been read to
    /// its end (see [`EndWatch`]).
    pub fn finished(&self) -> bool {
        self.carry.is_empty()
            && self
                .end
                .as_ref()
                .is_some_and(|end| end.finished(Instant::now()))
    }

    /// Seeks back when [`Intake::push`] asks to.
    fn follow(&self, pushed: Pushed) {
        if let Pushed::SeekBack { lane, offset } = pushed {
            self.seek(&lane, Offset::Offset(offset as i64));
        }
    }

    fn seek(&self, lane: &str, offset: Offset) {
        let Some((topic, partition)) = split_lane(lane) else {
            return;
        };
        if let Err(error) = self
            .consumer
            .seek(topic, partition, offset, Duration::from_secs(5))
        {
            tracing::error!(%error, lane, "cannot seek a partition");
        }
    }

    /// Partitions started at a checkpointed offset that have delivered
    /// nothing for a while although the topic holds records past the start
    /// (the broker skipped the rest of the partition): seek further back.
    fn check_silent_starts(&mut self) {
        let silent: Vec<String> = self
            .intake
            .starting
            .iter()
            .filter(|(_, s)| s.since.elapsed() >= SILENT_START)
            .map(|(lane, _)| lane.clone())
            .collect();
        for lane in silent {
            let Some((topic, partition)) = split_lane(&lane) else {
                continue;
            };
            let high = self
                .consumer
                .fetch_watermarks(topic, partition, Duration::from_secs(1))
                .map(|(_, high)| high.max(0) as u64);
            tracing::debug!(%lane, ?high, "partition silent since its start; checked the topic's end");
            let Some(starting) = self.intake.starting.get_mut(&lane) else {
                continue;
            };
            starting.since = Instant::now();
            let Ok(high) = high else {
                continue;
            };
            // Caught up (high watermark = start): nothing is missing. A
            // high watermark below the start means the broker reports
            // something other than the end (tansu 0.6 reports an offset
            // inside its last batch): treat it like one above.
            let seek_to = if high == starting.start {
                None
            } else {
                starting.further_back()
            };
            if let Some(seek_to) = seek_to {
                tracing::debug!(%lane, start = starting.start, high, seek_to, "nothing read past the start although the topic has more; seeking back");
                self.seek(&lane, Offset::Offset(seek_to as i64));
            }
        }
    }

    fn has_rebalances(&self) -> bool {
        self.consumer
            .context()
            .events
            .lock()
            .is_ok_and(|events| !events.is_empty())
    }

    fn take_rebalances(&self) -> Vec<Rebalance> {
        self.consumer
            .context()
            .events
            .lock()
            .map(|mut events| std::mem::take(&mut *events))
            .unwrap_or_default()
    }

    /// Keeps the partitions' next offsets in step with the assignment.
    fn track(&mut self, event: &Rebalance) {
        match event {
            Rebalance::Assigned(taken) => {
                // The seek decided where each starts: accept any offset
                // until records arrive.
                for assignment in taken {
                    self.intake.restart(&assignment.lane, assignment.start);
                    if let Some(end) = &mut self.end {
                        end.owned(&assignment.lane);
                    }
                }
            }
            Rebalance::Revoked(lanes) | Rebalance::Lost(lanes) => {
                for lane in lanes {
                    self.intake.restart(lane, None);
                    if let Some(end) = &mut self.end {
                        end.released(lane);
                    }
                }
                self.carry.retain(|message| {
                    !lanes.contains(&partition_lane(message.topic(), message.partition() as u32))
                });
            }
        }
    }

    /// The next offset of every owned partition read, as checkpoint fields
    /// (the lane name).
    pub fn positions(&self) -> Vec<(String, Position)> {
        self.intake
            .next
            .iter()
            .map(|(lane, &offset)| {
                (
                    lane.clone(),
                    Position {
                        identity: format!("kafka:{lane}"),
                        head_len: 0,
                        head_hash: 0,
                        offset,
                        line: 0,
                    },
                )
            })
            .collect()
    }

    /// Remembers that a revoked lane was flushed under `token` and its
    /// state is kept in memory, in case the partition comes straight back.
    pub fn park(&self, lane: &str, token: u64) {
        self.consumer.context().claims.park(lane, token);
    }

    /// Commits checkpointed offsets to Kafka, for lag monitoring only:
    /// positions are read back from Redis, never from these.
    pub fn commit_offsets(&self, positions: &[(String, u64)]) {
        let mut tpl = TopicPartitionList::new();
        for (lane, offset) in positions {
            let Some((topic, partition)) = split_lane(lane) else {
                continue;
            };
            let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(*offset as i64));
        }
        if tpl.count() > 0
            && let Err(error) = self.consumer.commit(&tpl, CommitMode::Async)
        {
            tracing::debug!(%error, "cannot commit offsets to Kafka (lag monitoring only)");
        }
    }

    /// Reads a partition again from `offset` (its beginning if `None`):
    /// its lane was reloaded from an older checkpoint.
    pub fn rewind(&mut self, lane: &str, offset: Option<u64>) {
        self.intake.restart(lane, offset);
        self.carry
            .retain(|message| partition_lane(message.topic(), message.partition() as u32) != lane);
        self.seek(
            lane,
            offset.map_or(Offset::Beginning, |offset| Offset::Offset(offset as i64)),
        );
    }

    /// Source counters.
    pub fn stats(&self) -> SourceStats {
        self.intake.stats
    }
}

/// With `stop_at_end`, notes that a message of its partition arrived.
fn note_record(end: &mut Option<EndWatch>, message: &impl Message) {
    if let Some(end) = end {
        end.record(&partition_lane(message.topic(), message.partition() as u32));
    }
}

/// How long a partition started at a checkpointed offset may stay silent
/// before the topic's end is checked.
const SILENT_START: Duration = Duration::from_millis(500);
