//! Reading Kafka topics as a member of a consumer group.
//!
//! Redis, not Kafka, holds the positions: when partitions are assigned, each
//! one starts at the offset the last checkpoint recorded for it (or at its
//! beginning), so a restart neither skips nor repeats a record that made it
//! into a checkpoint.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::{Position, SourceError};
use crate::config::KafkaSourceConfig;
use crate::contract::{Batch, RecordMeta, Span};
use crate::sink::CheckpointKeys;
use crate::stats::SourceStats;

/// Longest a batch waits for more records before it is handed out.
const BATCH_WAIT: Duration = Duration::from_millis(100);

/// The checkpoint field of a Kafka partition's position.
pub fn position_field(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// Seeks newly assigned partitions to their checkpointed offsets.
struct AssignContext {
    redis: Mutex<Option<redis::Connection>>,
    redis_url: String,
    keys: CheckpointKeys,
}

impl AssignContext {
    /// The checkpointed next offset of a partition, read at assignment time
    /// (another instance may have moved it since this one started).
    fn resume_offset(&self, topic: &str, partition: i32) -> Offset {
        let Ok(mut guard) = self.redis.lock() else {
            return Offset::Beginning;
        };
        if guard.is_none() {
            *guard = redis::Client::open(self.redis_url.as_str())
                .and_then(|client| client.get_connection())
                .map_err(|error| tracing::error!(%error, "cannot read checkpointed Kafka offsets"))
                .ok();
        }
        let Some(conn) = guard.as_mut() else {
            return Offset::Beginning;
        };
        let json: Option<String> = redis::cmd("HGET")
            .arg(self.keys.source())
            .arg(position_field(topic, partition))
            .query(conn)
            .unwrap_or(None);
        match json.and_then(|json| serde_json::from_str::<Position>(&json).ok()) {
            Some(position) => Offset::Offset(position.offset as i64),
            None => Offset::Beginning,
        }
    }
}

impl ClientContext for AssignContext {}

impl ConsumerContext for AssignContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let partitions: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|elem| (elem.topic().to_owned(), elem.partition()))
                    .collect();
                for (topic, partition) in &partitions {
                    let offset = self.resume_offset(topic, *partition);
                    tracing::info!(topic, partition, ?offset, "partition assigned");
                    let _ = tpl.set_partition_offset(topic, *partition, offset);
                }
                if let Err(error) = consumer.assign(tpl) {
                    tracing::error!(%error, "cannot take the assigned partitions");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = tpl.count(), "partitions revoked");
                if let Err(error) = consumer.unassign() {
                    tracing::error!(%error, "cannot release the revoked partitions");
                }
            }
            other => tracing::error!(?other, "rebalance error"),
        }
    }
}

/// A Kafka consumer producing batches.
pub struct KafkaSource {
    consumer: BaseConsumer<AssignContext>,
    topics: Vec<String>,
    /// Next offset of every partition read so far.
    next: BTreeMap<(String, i32), u64>,
    batch_records: usize,
    max_record_bytes: usize,
    stats: SourceStats,
}

impl KafkaSource {
    /// Joins the consumer group and subscribes to the configured topics.
    pub fn open(
        config: &KafkaSourceConfig,
        redis_url: &str,
        keys: CheckpointKeys,
        max_record_bytes: usize,
        batch_records: usize,
    ) -> Result<Self, SourceError> {
        let mut client = ClientConfig::new();
        for (key, value) in &config.librdkafka {
            client.set(key, value);
        }
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group)
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "earliest");
        let context = AssignContext {
            redis: Mutex::new(None),
            redis_url: redis_url.to_owned(),
            keys,
        };
        let kafka = |error: rdkafka::error::KafkaError| SourceError::Kafka(error.to_string());
        let consumer: BaseConsumer<AssignContext> =
            client.create_with_context(context).map_err(kafka)?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(kafka)?;
        Ok(Self {
            consumer,
            topics: config.topics.clone(),
            next: BTreeMap::new(),
            batch_records,
            max_record_bytes,
            stats: SourceStats::default(),
        })
    }

    /// The next batch: whatever arrived within a short wait (possibly
    /// nothing). A Kafka source never ends; broker errors are logged and
    /// retried by librdkafka.
    pub fn next_batch(&mut self) -> Batch {
        let mut batch = Batch {
            sources: self.topics.clone(),
            data: Vec::new(),
            records: Vec::with_capacity(self.batch_records),
        };
        let started = Instant::now();
        while batch.records.len() < self.batch_records {
            let Some(left) = BATCH_WAIT.checked_sub(started.elapsed()) else {
                break;
            };
            let wait = if batch.records.is_empty() {
                left
            } else {
                Duration::ZERO
            };
            let Some(message) = self.consumer.poll(wait) else {
                if batch.records.is_empty() {
                    continue;
                }
                break;
            };
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "Kafka consumer error; retrying");
                    continue;
                }
            };
            let topic = message.topic();
            let partition = message.partition();
            let offset = message.offset().max(0) as u64;
            self.next.insert((topic.to_owned(), partition), offset + 1);
            let payload = message.payload().unwrap_or_default();
            self.stats.bytes += payload.len() as u64;
            if payload.len() > self.max_record_bytes {
                self.stats.oversized += 1;
                tracing::warn!(
                    topic,
                    partition,
                    offset,
                    len = payload.len(),
                    "message is longer than source.max_record_bytes; skipped"
                );
                continue;
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
        }
        batch
    }

    /// The next offset of every partition read, as checkpoint fields.
    pub fn positions(&self) -> Vec<(String, Position)> {
        self.next
            .iter()
            .map(|((topic, partition), &offset)| {
                (
                    position_field(topic, *partition),
                    Position {
                        identity: format!("kafka:{topic}/{partition}"),
                        head_len: 0,
                        head_hash: 0,
                        offset,
                    },
                )
            })
            .collect()
    }

    /// Source counters.
    pub fn stats(&self) -> SourceStats {
        self.stats
    }
}
