//! Where records come from: files and stdin (Kafka fits the same shape:
//! partitions and offsets).
//!
//! A source hands out batches of records, each record tagged with its
//! partition and offset, and can say where a restart should resume.

mod file;
mod lines;
mod stdin;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use file::FileSource;
pub use lines::{LineSplitter, Packed, empty_batch};
pub use stdin::StdinSource;

use crate::config::{SourceConfig, SourceKind};
use crate::contract::Batch;
use crate::stats::SourceStats;

/// A resumable position in one partition of a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Which file (or partition) the offset is in.
    pub identity: String,
    /// Bytes of the file's head covered by `head_hash`.
    pub head_len: u64,
    /// Fingerprint of the file's first `head_len` bytes.
    pub head_hash: u64,
    /// Where to resume: just past the last record processed.
    pub offset: u64,
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
    /// The source kind is not available in this build.
    #[error("source kind {0} is not supported by `weir run` yet")]
    Unsupported(&'static str),
}

/// Any source.
pub enum Source {
    /// A file.
    File(FileSource),
    /// Standard input.
    Stdin(StdinSource),
}

impl Source {
    /// Opens the configured source, resuming at `resume` where possible.
    pub fn open(config: &SourceConfig, resume: Option<&Position>) -> Result<Self, SourceError> {
        match &config.kind {
            SourceKind::File {
                path,
                follow,
                poll_interval_ms,
            } => Ok(Self::File(FileSource::open(
                path,
                *follow,
                Duration::from_millis(*poll_interval_ms),
                config.max_record_bytes,
                config.batch_records,
                resume,
            )?)),
            SourceKind::Stdin => Ok(Self::Stdin(StdinSource::new(
                config.max_record_bytes,
                config.batch_records,
                Duration::from_millis(200),
            ))),
            SourceKind::Kafka(_) => Err(SourceError::Unsupported("kafka")),
        }
    }

    /// The next batch, `None` at the end of a finite input.
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        match self {
            Self::File(file) => file.next_batch().await,
            Self::Stdin(stdin) => stdin.next_batch().await,
        }
    }

    /// Where a restart resumes, for sources that can resume.
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::File(file) => Some(file.position()),
            Self::Stdin(_) => None,
        }
    }

    /// Source counters.
    pub fn stats(&self) -> SourceStats {
        match self {
            Self::File(file) => file.stats(),
            Self::Stdin(stdin) => stdin.stats(),
        }
    }
}
