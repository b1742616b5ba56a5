//! Writing checkpoints: building one from every lane, handing it to Redis
//! (in the background while processing goes on, or waiting for it), and
//! settling the outcome: retried while Redis is down, lanes dropped and
//! rewound when another instance took partitions over.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{LaneLayout, MAX_BACKOFF, Pipeline};
use crate::plugin::ActiveRule;
use crate::processor::DeadLetter;
use crate::sink::{CommitSize, PreparedCommit, RedisStore, RuleCommit, StoreError};
use crate::source::Source;
use crate::state::RuleState;

/// A checkpoint being written in the background.
pub(super) struct InFlight {
    task: tokio::task::JoinHandle<(RedisStore, Result<CommitSize, StoreError>)>,
    prepared: Arc<PreparedCommit>,
    /// The offsets it records, to commit to Kafka once it is written.
    written: Vec<(String, u64)>,
}

impl Pipeline<'_> {
    /// Writes one checkpoint, retrying until it is written.
    pub(super) async fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.checkpoint_within(None, false).await.map(|_| ())
    }

    /// Waits for the checkpoint in flight, if any, and settles it: a failed
    /// write is retried (input waits meanwhile), a fenced one rewinds the
    /// lanes. Returns false if `deadline` passed first.
    pub(super) async fn settle(&mut self, deadline: Option<Instant>) -> Result<bool, StoreError> {
        let Some(in_flight) = self.in_flight.take() else {
            return Ok(true);
        };
        let (writer, first) = in_flight
            .task
            .await
            .map_err(|error| StoreError::Corrupt(format!("checkpoint task failed: {error}")))?;
        self.writer = Some(writer);
        let result = match first {
            Ok(size) => {
                tracing::debug!(?size, "checkpoint written");
                Ok(true)
            }
            Err(error @ StoreError::Fenced(_)) => Err(error),
            Err(error) => {
                tracing::warn!(%error, "checkpoint failed; input paused, retrying");
                self.write(&in_flight.prepared, deadline).await
            }
        };
        let done = self
            .after_write(result, &in_flight.prepared, &in_flight.written)
            .await?;
        Ok(done.unwrap_or(true))
    }

    /// Writes a checkpoint on the writer connection, retrying while Redis
    /// is unavailable (see [`commit_with_retry`]).
    async fn write(
        &mut self,
        prepared: &PreparedCommit,
        deadline: Option<Instant>,
    ) -> Result<bool, StoreError> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(StoreError::Corrupt("no checkpoint connection".to_owned()));
        };
        let mut kafka = self.source.as_mut().and_then(Source::kafka);
        let result =
            commit_with_retry(writer, prepared, &self.stop, deadline, kafka.as_deref_mut()).await;
        if let Some(kafka) = kafka {
            kafka.resume();
        }
        result
    }

    /// Follows up a checkpoint write: `Some(written)`, or `None` if it was
    /// refused because partitions were taken over (they are dropped, the
    /// other lanes rewound to their checkpoints).
    async fn after_write(
        &mut self,
        result: Result<bool, StoreError>,
        prepared: &PreparedCommit,
        written: &[(String, u64)],
    ) -> Result<Option<bool>, StoreError> {
        match result {
            Ok(true) => {
                self.note_committed(prepared);
                if let Some(kafka) = self.source.as_mut().and_then(Source::kafka) {
                    kafka.commit_offsets(written);
                }
                self.catalog_written = true;
                self.summary.checkpoints += 1;
                Ok(Some(true))
            }
            Ok(false) => Ok(Some(false)),
            Err(StoreError::Fenced(lost)) => {
                for lane in &lost {
                    tracing::error!(%lane, "another instance took this partition; dropping it unwritten");
                    self.drop_lane(lane);
                }
                self.rewind_lanes().await?;
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Writes one checkpoint of every lane and rule, with the source
    /// positions (after applying the pending batch, so the checkpoint
    /// covers every record read and the dead letters gathered with them).
    /// Lanes another instance took over are dropped unwritten. With a
    /// `bound`, gives up after that long; returns whether it was written.
    ///
    /// With `overlap`, the checkpoint is handed to Redis and processing
    /// goes on while Redis writes it (the changes are already drained into
    /// it); the next checkpoint, or anything that needs it written, waits
    /// for it first. So Redis works on one checkpoint while weir works on
    /// the next, instead of taking turns.
    pub(super) async fn checkpoint_within(
        &mut self,
        bound: Option<Duration>,
        overlap: bool,
    ) -> Result<bool, StoreError> {
        let deadline = bound.map(|bound| Instant::now() + bound);
        if !self.settle(deadline).await? {
            return Ok(false);
        }
        self.finish_pending();
        self.release_idle_lanes();
        let mut dead_letters = Some(self.processor.take_dead_letters());
        loop {
            let processor = &mut self.processor;
            let quarantine: Vec<u64> = (0..processor.registry.rules().len())
                .map(|index| {
                    processor
                        .quarantine_remaining(index)
                        .map_or(0, |left| left.as_millis() as u64)
                })
                .collect();
            let layout = LaneLayout {
                base: self.store.keys(),
                positions: &self.positions,
                owned: &self.owned,
                partitioned: processor.lanes.is_partitioned(),
            };
            let rules = processor.registry.rules();
            let mut lane_names = Vec::new();
            let mut commits = Vec::new();
            for (lane, states) in processor.lanes.iter_mut() {
                let mut dead = dead_letters.take().unwrap_or_default().into_iter();
                let rule_commits: Vec<RuleCommit<'_>> = rules
                    .iter()
                    .zip(states.iter_mut())
                    .zip(&quarantine)
                    .map(|((rule, state), quarantined)| {
                        let error = self.load_errors.get(&rule.path).map(String::as_str);
                        rule_commit(
                            rule,
                            state,
                            dead.next().unwrap_or_default(),
                            !self.catalog_written,
                            error,
                            Some(*quarantined),
                        )
                    })
                    .collect();
                commits.push(layout.commit(lane, rule_commits, true));
                lane_names.push(lane.to_owned());
            }
            if commits.is_empty() {
                return Ok(true);
            }
            let prepared = self.store.prepare(&commits, layout.fences(&lane_names));
            let written: Vec<(String, u64)> = commits
                .iter()
                .flat_map(|c| c.positions.iter().map(|(l, p)| (l.clone(), p.offset)))
                .collect();
            drop(commits);
            if overlap && let Some(mut writer) = self.writer.take() {
                let prepared = Arc::new(prepared);
                let sent = prepared.clone();
                let task = tokio::spawn(async move {
                    let result = writer.send(&sent).await;
                    (writer, result)
                });
                self.in_flight = Some(InFlight {
                    task,
                    prepared,
                    written,
                });
                return Ok(true);
            }
            let result = self.write(&prepared, deadline).await;
            if let Some(done) = self.after_write(result, &prepared, &written).await? {
                return Ok(done);
            }
        }
    }

    /// Notes the lanes' new checkpoint sequence numbers after a write.
    pub(super) fn note_committed(&mut self, prepared: &PreparedCommit) {
        for fence in prepared.fences() {
            if let Some(owned) = self.owned.get_mut(&fence.lane) {
                owned.seq = fence.seq + 1;
            }
        }
    }
}

pub(super) fn rule_commit<'a>(
    rule: &'a ActiveRule,
    state: &'a mut RuleState,
    dead_letters: Vec<DeadLetter>,
    write_catalog: bool,
    last_load_error: Option<&'a str>,
    quarantined_for_ms: Option<u64>,
) -> RuleCommit<'a> {
    let changes = state.drain_changes();
    RuleCommit {
        spec: &rule.spec,
        version_hash: &rule.version_hash,
        loaded_at_ms: rule.loaded_at_ms,
        quarantined_for_ms: quarantined_for_ms.unwrap_or(0),
        last_load_error,
        state,
        changes,
        dead_letters,
        write_catalog,
    }
}

/// Writes one checkpoint, retrying with backoff while Redis is unavailable.
/// The pipeline reads nothing meanwhile (a Kafka consumer is not polled;
/// librdkafka heartbeats on its own), so memory stays bounded and nothing
/// is lost.
/// Returns `Ok(false)` if `deadline` passed first.
pub(super) async fn commit_with_retry(
    store: &mut RedisStore,
    prepared: &PreparedCommit,
    stop: &AtomicBool,
    deadline: Option<Instant>,
    mut kafka: Option<&mut crate::source::KafkaSource>,
) -> Result<bool, StoreError> {
    let mut backoff = Duration::from_millis(100);
    let mut attempts = 0;
    let first_failure = Instant::now();
    loop {
        let started = Instant::now();
        match store.send(prepared).await {
            Ok(size) => {
                if attempts > 0 {
                    tracing::warn!(attempts, down_for = ?first_failure.elapsed(), "Redis is back; checkpoint written, input resumes");
                }
                tracing::debug!(?size, took = ?started.elapsed(), "checkpoint written");
                return Ok(true);
            }
            Err(error @ StoreError::Fenced(_)) => return Err(error),
            Err(error) => {
                attempts += 1;
                if stop.load(Ordering::Relaxed) && attempts >= 3 {
                    return Err(error);
                }
                if deadline.is_some_and(|deadline| Instant::now() + backoff > deadline) {
                    tracing::warn!(%error, "checkpoint failed and time is up");
                    return Ok(false);
                }
                tracing::warn!(%error, attempts, retry_in = ?backoff, "checkpoint failed; input paused, retrying");
                if attempts == 1
                    && let Some(kafka) = kafka.as_deref_mut()
                {
                    kafka.pause();
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                if let Err(error) = store.reconnect().await {
                    tracing::debug!(%error, "Redis still unavailable");
                }
            }
        }
    }
}
