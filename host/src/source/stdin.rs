//! Reading lines from standard input.

use std::time::Duration;

use tokio::io::{AsyncReadExt, Stdin};

use super::SourceError;
use super::lines::{LineSplitter, Packed, empty_batch};
use crate::contract::Batch;

/// Standard input, line by line. It cannot be rewound, so a restart does not
/// resume where a previous run stopped; checkpoints still hold window state.
pub struct StdinSource {
    stdin: Stdin,
    splitter: LineSplitter,
    batch_records: usize,
    idle: Duration,
    finished: bool,
}

impl StdinSource {
    /// Reads the process's standard input.
    pub fn new(max_record_bytes: usize, batch_records: usize, idle: Duration) -> Self {
        Self {
            stdin: tokio::io::stdin(),
            splitter: LineSplitter::new(0, 0, max_record_bytes),
            batch_records,
            idle,
            finished: false,
        }
    }

    /// The next batch; `None` at end of input. A batch is handed out when it
    /// is full or when input pauses for the idle interval.
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.finished {
            return Ok(None);
        }
        let mut batch = empty_batch("stdin", self.batch_records);
        loop {
            if self.splitter.pack(&mut batch, self.batch_records, 0) == Packed::Full {
                return Ok(Some(batch));
            }
            let read =
                tokio::time::timeout(self.idle, self.stdin.read(self.splitter.space())).await;
            match read {
                Err(_elapsed) => return Ok(Some(batch)),
                Ok(Ok(0)) => {
                    self.splitter.finish(&mut batch, 0);
                    self.finished = true;
                    return Ok(Some(batch));
                }
                Ok(Ok(n)) => self.splitter.filled(n),
                Ok(Err(source)) => {
                    return Err(SourceError::Io {
                        what: "cannot read stdin".to_owned(),
                        source,
                    });
                }
            }
        }
    }

    /// The line numbers of the records handed out since the last call.
    pub fn take_lines(&mut self) -> Vec<u64> {
        self.splitter.take_lines()
    }

    /// Source counters.
    pub fn stats(&self) -> crate::model::SourceStats {
        self.splitter.stats
    }
}
