//! The consumer's rebalance callback: partitions are claimed through
//! [`LaneClaims`] as librdkafka assigns them (inside `poll`, on the
//! pipeline's thread), positioned at their checkpointed offsets, and every
//! change is recorded for the pipeline as a [`Rebalance`].

use std::sync::{Arc, Mutex};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::Rebalance;
use crate::model::{LaneClaims, partition_lane};

/// Claims partitions as they are assigned (inside `poll`, on the
/// pipeline's thread) and records what happened for the pipeline.
pub(super) struct AssignContext {
    pub(super) claims: Arc<dyn LaneClaims>,
    pub(super) events: Mutex<Vec<Rebalance>>,
    /// Why the brokers refused this client for good (authentication, an
    /// untrusted certificate), once they have; the source then fails.
    pub(super) refused: Mutex<Option<String>>,
}

impl AssignContext {
    fn push_event(&self, event: Rebalance) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}

fn lanes_of(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|elem| (elem.topic().to_owned(), elem.partition()))
        .collect()
}

impl ClientContext for AssignContext {
    /// librdkafka's client errors: most are retried by librdkafka (a
    /// broker down, a connection lost); a refusal can never succeed, so it
    /// is kept for [`super::KafkaSource::refused`] to fail the run.
    fn error(&self, error: KafkaError, reason: &str) {
        if is_refusal(&error, reason) {
            tracing::error!(%error, reason, "Kafka refused the connection");
            if let Ok(mut refused) = self.refused.lock() {
                refused.get_or_insert_with(|| format!("{error}: {reason}"));
            }
        } else {
            tracing::warn!(%error, reason, "Kafka client error; librdkafka retries");
        }
    }
}

/// Whether a client error means the brokers refuse these settings: a
/// failed SASL login, or a TLS certificate that does not verify (on either
/// side). A broker that is down or a dropped connection is not.
fn is_refusal(error: &KafkaError, reason: &str) -> bool {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => true,
        Some(RDKafkaErrorCode::SSL) => {
            let reason = reason.to_ascii_lowercase();
            ["certificate", "unknown ca", "bad decrypt", "alert"]
                .iter()
                .any(|what| reason.contains(what))
        }
        _ => false,
    }
}

impl ConsumerContext for AssignContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut taken = Vec::new();
                for (topic, partition) in lanes_of(tpl) {
                    let lane = partition_lane(&topic, partition as u32);
                    let assignment = self.claims.claim(&lane);
                    let offset = assignment
                        .start
                        .map_or(Offset::Beginning, |offset| Offset::Offset(offset as i64));
                    tracing::info!(%lane, token = assignment.token, kept = assignment.kept, ?offset, "partition assigned");
                    let _ = tpl.set_partition_offset(&topic, partition, offset);
                    taken.push(assignment);
                }
                // Parked lanes not given back are someone else's now.
                self.claims.clear_parked();
                if let Err(error) = consumer.assign(tpl) {
                    tracing::error!(%error, "cannot take the assigned partitions");
                }
                self.push_event(Rebalance::Assigned(taken));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let lanes: Vec<String> = lanes_of(tpl)
                    .iter()
                    .map(|(topic, partition)| partition_lane(topic, *partition as u32))
                    .collect();
                let lost = consumer.assignment_lost();
                tracing::info!(partitions = lanes.len(), lost, "partitions revoked");
                if let Err(error) = consumer.unassign() {
                    tracing::error!(%error, "cannot release the revoked partitions");
                }
                self.push_event(if lost {
                    Rebalance::Lost(lanes)
                } else {
                    Rebalance::Revoked(lanes)
                });
            }
            other => tracing::error!(?other, "rebalance error"),
        }
    }
}
