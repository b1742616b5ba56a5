//! The checkpointer: owns the store and the checkpoint being written. A
//! periodic checkpoint is written on its own handle while the next batches
//! are processed; anything that needs it written waits for it first. A
//! failed write is retried with backoff while input waits (nothing is
//! read meanwhile, so memory stays bounded and nothing is lost).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::checkpoint::{CheckpointStore, Fence, LaneCommit, Prepared, StoreError};
use crate::telemetry;

/// Longest wait between attempts to reach the store.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How a checkpoint write ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Written; these lanes' fences moved on and these offsets are safe.
    Yes {
        /// The fences it was written under.
        fences: Vec<Fence>,
        /// The offsets it recorded (lane, offset).
        offsets: Vec<(String, u64)>,
    },
    /// The deadline passed first; nothing is known to be written.
    TimedOut,
}

/// A checkpoint being written in the background.
struct InFlight<S: CheckpointStore> {
    started: Instant,
    task: tokio::task::JoinHandle<Outcome<S>>,
    /// The fences it is written under.
    fences: Vec<Fence>,
    offsets: Vec<(String, u64)>,
}

/// A background write that failed, with the checkpoint to retry (or
/// `None` if it could not even be built).
type Failed<B> = (StoreError, Option<Prepared<B>>);

/// What a background write gives back: the writer handle (unless building
/// the checkpoint panicked) and how the write went.
type Outcome<S> = (Option<S>, Result<(), Failed<<S as CheckpointStore>::Body>>);

/// The store and the write in flight.
pub struct Checkpointer<S: CheckpointStore> {
    /// Restores, fences and rule bookkeeping.
    pub store: S,
    /// Its own handle for checkpoints, lent to the write in flight.
    writer: Option<S>,
    in_flight: Option<InFlight<S>>,
    stop: Arc<AtomicBool>,
    /// Checkpoints written.
    pub written: u64,
}

impl<S: CheckpointStore> Checkpointer<S> {
    /// Checkpoints through `store` (and a second handle on it).
    pub async fn new(store: S, stop: Arc<AtomicBool>) -> Result<Self, StoreError> {
        let writer = store.open_another().await?;
        Ok(Self {
            store,
            writer: Some(writer),
            in_flight: None,
            stop,
            written: 0,
        })
    }

    /// Builds a checkpoint of `lanes`, fenced by `fences`.
    pub fn prepare(&self, lanes: &[LaneCommit], fences: Vec<Fence>) -> Prepared<S::Body> {
        self.store.prepare(lanes, fences)
    }

    /// Hands a checkpoint of `lanes` to the store and returns at once; the
    /// next [`Checkpointer::settle`] waits for it. Builds and writes it
    /// here if no second handle is free.
    ///
    /// The store's commands are built on a thread of tokio's blocking pool,
    /// not the pipeline's: for a replay, building them and freeing the
    /// last checkpoint's were a tenth of the pipeline thread's time, while
    /// the threads that call rules waited for it.
    pub async fn send_in_background(
        &mut self,
        lanes: Vec<LaneCommit>,
        fences: Vec<Fence>,
        offsets: Vec<(String, u64)>,
    ) -> Result<Option<Written>, StoreError> {
        let Some(writer) = self.writer.take() else {
            let prepared = self.store.prepare(&lanes, fences);
            drop(lanes);
            return self.write(&prepared, offsets, None).await.map(Some);
        };
        let sent_fences = fences.clone();
        let task = tokio::spawn(async move {
            let built = tokio::task::spawn_blocking(move || {
                let prepared = writer.prepare(&lanes, fences);
                drop(lanes);
                (writer, prepared)
            })
            .await;
            let (mut writer, prepared) = match built {
                Ok(built) => built,
                Err(error) => {
                    // Building panicked (a bug): this checkpoint fails, as
                    // when it was built on the pipeline's thread, and the
                    // writer handle is gone (later ones use the store's).
                    let error =
                        StoreError::Corrupt(format!("building a checkpoint failed: {error}"));
                    return (None, Err((error, None)));
                }
            };
            let started = Instant::now();
            let result = writer.send(&prepared).await;
            match &result {
                Ok(size) => {
                    // The same line as a waited-for write (benchmarks read `took`).
                    tracing::debug!(?size, took = ?started.elapsed(), "checkpoint written");
                    telemetry::live().checkpoint_written(started.elapsed(), *size);
                }
                Err(StoreError::Fenced(_)) => {}
                Err(_) => telemetry::live().checkpoint_failed(),
            }
            // A written checkpoint is freed here, off the pipeline's thread.
            let result = result.map(|_| ()).map_err(|error| (error, Some(prepared)));
            (Some(writer), result)
        });
        self.in_flight = Some(InFlight {
            started: Instant::now(),
            task,
            fences: sent_fences,
            offsets,
        });
        Ok(None)
    }

    /// How long the checkpoint in flight has been written for, if it is
    /// still being written (a finished or failed one is not: the next
    /// [`Checkpointer::settle`] takes its outcome at once).
    pub fn writing_for(&self) -> Option<Duration> {
        self.in_flight
            .as_ref()
            .filter(|in_flight| !in_flight.task.is_finished())
            .map(|in_flight| in_flight.started.elapsed())
    }

    /// Writes a checkpoint and waits for it, retrying while the store is
    /// unavailable, until `deadline` if there is one. `offsets`: what it
    /// records, to commit to the broker once written.
    pub async fn send(
        &mut self,
        prepared: &Prepared<S::Body>,
        offsets: Vec<(String, u64)>,
        deadline: Option<Instant>,
    ) -> Result<Written, StoreError> {
        self.write(prepared, offsets, deadline).await
    }

    /// Waits for the checkpoint in flight, if any: `None` if there was
    /// none. A failed write is retried (input waits meanwhile); a fenced
    /// one is returned as [`StoreError::Fenced`].
    pub async fn settle(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<Written>, StoreError> {
        let Some(in_flight) = self.in_flight.take() else {
            return Ok(None);
        };
        let (writer, first) = in_flight
            .task
            .await
            .map_err(|error| StoreError::Corrupt(format!("checkpoint task failed: {error}")))?;
        self.writer = writer;
        match first {
            Ok(()) => {
                self.written += 1;
                Ok(Some(Written::Yes {
                    fences: in_flight.fences,
                    offsets: in_flight.offsets,
                }))
            }
            Err((error @ StoreError::Fenced(_), _)) => Err(error),
            Err((error, None)) => Err(error),
            Err((error, Some(prepared))) => {
                tracing::warn!(%error, "checkpoint failed; input paused, retrying");
                self.write(&prepared, in_flight.offsets, deadline)
                    .await
                    .map(Some)
            }
        }
    }

    /// Writes on the writer handle with retries (see [`Checkpointer::send`]).
    async fn write(
        &mut self,
        prepared: &Prepared<S::Body>,
        offsets: Vec<(String, u64)>,
        deadline: Option<Instant>,
    ) -> Result<Written, StoreError> {
        let store = match self.writer.as_mut() {
            Some(writer) => writer,
            None => &mut self.store,
        };
        let mut backoff = Duration::from_millis(100);
        let mut attempts = 0;
        let first_failure = Instant::now();
        loop {
            let started = Instant::now();
            match store.send(prepared).await {
                Ok(size) => {
                    if attempts > 0 {
                        tracing::warn!(store = S::NAME, attempts, down_for = ?first_failure.elapsed(), "checkpoint store is back; checkpoint written, input resumed");
                    }
                    tracing::debug!(?size, took = ?started.elapsed(), "checkpoint written");
                    telemetry::live().checkpoint_written(started.elapsed(), size);
                    self.written += 1;
                    return Ok(Written::Yes {
                        fences: prepared.fences.clone(),
                        offsets,
                    });
                }
                Err(error @ StoreError::Fenced(_)) => return Err(error),
                Err(error) => {
                    attempts += 1;
                    telemetry::live().checkpoint_failed();
                    if self.stop.load(Ordering::Relaxed) && attempts >= 3 {
                        return Err(error);
                    }
                    if deadline.is_some_and(|deadline| Instant::now() + backoff > deadline) {
                        tracing::warn!(%error, "checkpoint failed and time is up");
                        return Ok(Written::TimedOut);
                    }
                    if attempts == 1 {
                        // Nothing is read meanwhile: a Kafka consumer is not
                        // polled (librdkafka heartbeats on its own thread, so
                        // the instance stays in the group for up to
                        // `max.poll.interval.ms`), so memory stays bounded.
                        tracing::warn!(
                            store = S::NAME,
                            "input paused until the checkpoint store is back"
                        );
                    }
                    tracing::warn!(%error, attempts, retry_in = ?backoff, "checkpoint failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if let Err(error) = store.reconnect().await {
                        telemetry::live()
                            .redis_errors
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%error, "store still unavailable");
                    }
                }
            }
        }
    }
}
