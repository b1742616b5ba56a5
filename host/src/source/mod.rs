//! Where records come from: files, stdin and Kafka (partitions and
//! offsets), one or several per pipeline ([`SourceSet`]).
//!
//! A source hands out batches of records, each record tagged with its
//! partition and offset, and can say where a restart should resume.

mod file;
pub mod kafka;
mod lines;
mod read_ahead;
pub mod scripted;
mod set;
mod stdin;

use std::time::Duration;

use std::sync::Arc;

pub use file::FileSource;
pub use kafka::{KafkaSource, Rebalance};
pub use lines::{LineSplitter, Packed, empty_batch};
pub use read_ahead::ReadAhead;
pub use scripted::{ScriptStep, ScriptedSource};
pub use set::{SourceEvent, SourceSet, source_claims};
pub use stdin::StdinSource;

use crate::config::{SourceConfig, SourceKind};
use crate::contract::Batch;
use crate::model::{LaneClaims, Position, SINGLE_LANE, SourceStats};

/// What a source hands out at a time.
pub struct Step {
    /// Records read.
    pub batch: Batch,
    /// Changes of the partitions owned, after the batch's records.
    pub rebalances: Vec<Rebalance>,
    /// Files and stdin: each record's line number (from 1), so a reject
    /// can name it; empty for Kafka.
    pub lines: Vec<u64>,
}

/// A source failed; the pipeline stops (after checkpointing what it has).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The Kafka client could not be set up.
    #[error("kafka: {0}")]
    Kafka(String),
    /// The Kafka brokers refused the client's credentials or certificates.
    #[error(
        "Kafka refused the connection: {0} (check [source.librdkafka] security.protocol, ssl.* and sasl.*)"
    )]
    Refused(String),
}

/// Any source.
pub enum Source {
    /// A file, read one batch ahead on a thread of its own.
    File(ReadAhead),
    /// Standard input.
    Stdin(StdinSource),
    /// Kafka topics.
    Kafka(Box<KafkaSource>),
    /// Records and partition moves given in memory (tests of the loop).
    Scripted(Box<ScriptedSource>),
}

impl Source {
    /// Opens the configured source, resuming at `resume` where possible (a
    /// Kafka source takes its partitions through `claims` as they are
    /// assigned, which also says where each resumes).
    pub fn open(
        config: &SourceConfig,
        resume: Option<&Position>,
        claims: Arc<dyn LaneClaims>,
    ) -> Result<Self, SourceError> {
        match &config.kind {
            SourceKind::File {
                path,
                follow,
                poll_interval_ms,
            } => Ok(Self::File(ReadAhead::start(FileSource::open(
                path,
                *follow,
                Duration::from_millis(*poll_interval_ms),
                config.max_record_bytes,
                config.batch_records,
                resume,
            )?)?)),
            SourceKind::Stdin => Ok(Self::Stdin(StdinSource::new(
                config.max_record_bytes,
                config.batch_records,
                Duration::from_millis(200),
            )?)),
            SourceKind::Kafka(kafka) => Ok(Self::Kafka(Box::new(KafkaSource::open(
                kafka,
                claims,
                config.max_record_bytes,
                config.batch_records,
            )?))),
        }
    }

    /// The next batch, `None` at the end of a finite input.
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        Ok(self.next_step().await?.map(|step| step.batch))
    }

    /// The next batch and the rebalances after it; `None` at the end of a
    /// finite input.
    pub async fn next_step(&mut self) -> Result<Option<Step>, SourceError> {
        let batch = match self {
            Self::File(file) => file.next_batch().await?,
            Self::Stdin(stdin) => stdin.next_batch().await?,
            Self::Kafka(kafka) => {
                let step = tokio::task::block_in_place(|| kafka.next_batch());
                if let Some(reason) = kafka.refused() {
                    return Err(SourceError::Refused(reason));
                }
                if step.batch.records.is_empty() && step.rebalances.is_empty() && kafka.finished() {
                    tracing::info!("every partition read to its end (source.stop_at_end)");
                    return Ok(None);
                }
                return Ok(Some(Step {
                    batch: step.batch,
                    rebalances: step.rebalances,
                    lines: Vec::new(),
                }));
            }
            Self::Scripted(scripted) => return Ok(scripted.next_step()),
        };
        let lines = match self {
            Self::File(file) => file.take_lines(),
            Self::Stdin(stdin) => stdin.take_lines(),
            Self::Kafka(_) | Self::Scripted(_) => Vec::new(),
        };
        Ok(batch.map(|batch| Step {
            batch,
            rebalances: Vec::new(),
            lines,
        }))
    }

    /// Remembers that a revoked partition was flushed under `token` and
    /// its state kept, in case it comes straight back (Kafka only).
    pub fn park(&self, lane: &str, token: u64) {
        match self {
            Self::Kafka(kafka) => kafka.park(lane, token),
            Self::Scripted(scripted) => scripted.park(lane, token),
            _ => {}
        }
    }

    /// Reads a partition again from `offset` (its beginning if `None`):
    /// its lane was reloaded from an older checkpoint (Kafka only; a file's
    /// one lane is never fenced).
    pub fn rewind(&mut self, lane: &str, offset: Option<u64>) {
        match self {
            Self::Kafka(kafka) => kafka.rewind(lane, offset),
            Self::Scripted(scripted) => scripted.rewind(lane, offset),
            _ => {}
        }
    }

    /// Tells the broker which offsets are checkpointed, for lag monitoring
    /// (Kafka only).
    pub fn commit_offsets(&self, offsets: &[(String, u64)]) {
        if let Self::Kafka(kafka) = self {
            kafka.commit_offsets(offsets);
        }
    }

    /// Whether records are split into partitions that may move between
    /// instances (Kafka).
    pub fn is_partitioned(config: &SourceConfig) -> bool {
        matches!(config.kind, SourceKind::Kafka(_))
    }

    /// Whether a run can resume where a previous one stopped: stdin has
    /// no identity and no offset to resume at, so a new stdin run is new
    /// input, not the rest of the old one.
    pub fn resumes(config: &SourceConfig) -> bool {
        !matches!(config.kind, SourceKind::Stdin)
    }

    /// Where a restart resumes, as checkpoint fields: `0` for a file, one
    /// `topic/partition` per Kafka partition read, none for stdin.
    pub fn positions(&self) -> Vec<(String, Position)> {
        match self {
            Self::File(file) => vec![(SINGLE_LANE.to_owned(), file.position())],
            Self::Stdin(_) => Vec::new(),
            Self::Kafka(kafka) => kafka.positions(),
            Self::Scripted(scripted) => scripted.positions(),
        }
    }

    /// Source counters.
    pub fn stats(&self) -> SourceStats {
        match self {
            Self::File(file) => file.stats(),
            Self::Stdin(stdin) => stdin.stats(),
            Self::Kafka(kafka) => kafka.stats(),
            Self::Scripted(scripted) => scripted.stats(),
        }
    }
}
