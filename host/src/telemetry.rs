//! What a running `weir run` measures about itself that is not in Redis:
//! checkpoint timings, sizes and retries, Redis errors, and how far the
//! source has read. `/metrics` serves it and the progress reporter reads it.
//!
//! One process-wide instance ([`live`]): the loop, the checkpoint writer
//! task, the HTTP server and the progress reporter are separate tasks of
//! one process, and every update is an atomic add or store (no lock on the
//! hot path). Everything per rule comes from the checkpoint in Redis
//! instead, so `weir serve` and every instance report the same numbers.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;

use crate::checkpoint::CommitSize;
use crate::model::SourceStats;

/// Process-wide measurements of the running pipeline.
#[derive(Debug)]
pub struct Live {
    /// How long each checkpoint write took (seconds), retries excluded.
    pub checkpoint_seconds: Histogram,
    /// Checkpoints written.
    pub checkpoints: AtomicU64,
    /// Attempts to write a checkpoint that failed and were retried.
    pub checkpoint_retries: AtomicU64,
    /// Errors talking to Redis (failed checkpoint writes, reconnects).
    pub redis_errors: AtomicU64,
    /// The last checkpoint's output fields written.
    pub checkpoint_output_fields: AtomicU64,
    /// The last checkpoint's state groups written.
    pub checkpoint_state_groups: AtomicU64,
    /// The last checkpoint's member hash bytes appended.
    pub checkpoint_member_bytes: AtomicU64,
    /// Whether a pipeline runs in this process (`weir run`, not `weir serve`).
    pub running: AtomicBool,
    /// Source records read in this run.
    pub source_records: AtomicU64,
    /// Source bytes read in this run.
    pub source_bytes: AtomicU64,
    /// Source records skipped as too long.
    pub source_oversized: AtomicU64,
    /// Kafka records delivered again and skipped.
    pub source_duplicates: AtomicU64,
    /// A file source's byte offset (where the next line starts).
    pub file_offset: AtomicU64,
}

static LIVE: LazyLock<Live> = LazyLock::new(|| Live {
    // 1 ms to about 16 s: a checkpoint is a few ms; seconds mean a large
    // state change or a struggling Redis.
    checkpoint_seconds: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 2.0, 15,
    )),
    checkpoints: AtomicU64::new(0),
    checkpoint_retries: AtomicU64::new(0),
    redis_errors: AtomicU64::new(0),
    checkpoint_output_fields: AtomicU64::new(0),
    checkpoint_state_groups: AtomicU64::new(0),
    checkpoint_member_bytes: AtomicU64::new(0),
    running: AtomicBool::new(false),
    source_records: AtomicU64::new(0),
    source_bytes: AtomicU64::new(0),
    source_oversized: AtomicU64::new(0),
    source_duplicates: AtomicU64::new(0),
    file_offset: AtomicU64::new(0),
});

/// The process's measurements.
pub fn live() -> &'static Live {
    &LIVE
}

impl Live {
    /// A checkpoint was written in `took`.
    pub fn checkpoint_written(&self, took: Duration, size: CommitSize) {
        self.checkpoint_seconds.observe(took.as_secs_f64());
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        let set = |gauge: &AtomicU64, value: usize| {
            gauge.store(u64::try_from(value).unwrap_or(u64::MAX), Ordering::Relaxed);
        };
        set(&self.checkpoint_output_fields, size.output_fields);
        set(&self.checkpoint_state_groups, size.state_groups);
        set(&self.checkpoint_member_bytes, size.member_bytes);
    }

    /// A checkpoint write failed and will be retried.
    pub fn checkpoint_failed(&self) {
        self.checkpoint_retries.fetch_add(1, Ordering::Relaxed);
        self.redis_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The source has read this much (`file_offset`: a file's position).
    pub fn source_read(&self, stats: &SourceStats, file_offset: Option<u64>) {
        self.source_records.store(stats.records, Ordering::Relaxed);
        self.source_bytes.store(stats.bytes, Ordering::Relaxed);
        self.source_oversized
            .store(stats.oversized, Ordering::Relaxed);
        self.source_duplicates
            .store(stats.duplicates, Ordering::Relaxed);
        if let Some(offset) = file_offset {
            self.file_offset.store(offset, Ordering::Relaxed);
        }
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
