//! Reading lines from standard input.

use std::io::Read;
use std::time::Duration;

use tokio::sync::mpsc;

use super::SourceError;
use super::lines::{LineSplitter, Packed};
use crate::contract::Batch;

/// Bytes the reader thread reads at a time.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks read ahead of the pipeline: enough to keep it busy, few enough
/// that memory stays bounded when the rules are slower than the pipe.
const CHUNKS_AHEAD: usize = 4;

/// What the reader thread hands over: bytes read, or the error that ended
/// reading. The channel closing is the end of input.
type Chunk = std::io::Result<Vec<u8>>;

/// Standard input, line by line. It cannot be rewound, so a restart does not
/// resume where a previous run stopped (the pipeline starts such a run
/// from an empty checkpoint).
///
/// Reading happens on a plain thread of its own, not tokio's blocking pool:
/// a read of stdin cannot be cancelled, and the runtime waits for its
/// blocking pool on shutdown, so a run told to stop (SIGTERM) while stdin
/// stayed open would hang after its last checkpoint until stdin closed. A
/// plain thread ends with the process.
pub struct StdinSource {
    chunks: mpsc::Receiver<Chunk>,
    /// The chunk being moved into the splitter, and how much of it was.
    pending: Option<(Vec<u8>, usize)>,
    splitter: LineSplitter,
    batch_records: usize,
    idle: Duration,
    finished: bool,
}

impl StdinSource {
    /// Reads the process's standard input (on a thread started here).
    pub fn new(
        max_record_bytes: usize,
        batch_records: usize,
        idle: Duration,
    ) -> Result<Self, SourceError> {
        let (sender, chunks) = mpsc::channel(CHUNKS_AHEAD);
        std::thread::Builder::new()
            .name("weir-stdin".to_owned())
            .spawn(move || read_stdin(&sender))
            .map_err(|source| SourceError::Io {
                what: "cannot start the thread reading stdin".to_owned(),
                source,
            })?;
        Ok(Self {
            chunks,
            pending: None,
            splitter: LineSplitter::new(0, 0, max_record_bytes),
            batch_records,
            idle,
            finished: false,
        })
    }

    /// The next batch; `None` at end of input. A batch is handed out when it
    /// is full or when input pauses for the idle interval, so the pipeline
    /// sees a stop request within that interval even while stdin is open.
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.finished {
            return Ok(None);
        }
        let mut batch = self.splitter.empty_batch("stdin", self.batch_records);
        loop {
            if self.splitter.pack(&mut batch, self.batch_records, 0) == Packed::Full {
                return Ok(Some(batch));
            }
            if self.feed() {
                continue;
            }
            match tokio::time::timeout(self.idle, self.chunks.recv()).await {
                Err(_elapsed) => return Ok(Some(batch)),
                Ok(None) => {
                    self.splitter.finish(&mut batch, 0);
                    self.finished = true;
                    return Ok(Some(batch));
                }
                Ok(Some(Ok(chunk))) => self.pending = Some((chunk, 0)),
                Ok(Some(Err(source))) => {
                    return Err(SourceError::Io {
                        what: "cannot read stdin".to_owned(),
                        source,
                    });
                }
            }
        }
    }

    /// Moves what it can of the pending chunk into the splitter; returns
    /// whether it moved anything.
    fn feed(&mut self) -> bool {
        let Some((chunk, used)) = self.pending.as_mut() else {
            return false;
        };
        let space = self.splitter.space();
        let n = space.len().min(chunk.len() - *used);
        space[..n].copy_from_slice(&chunk[*used..*used + n]);
        *used += n;
        if *used == chunk.len() {
            self.pending = None;
        }
        self.splitter.filled(n);
        n > 0
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

/// The reader thread: stdin in chunks until its end, an error, or the
/// source being dropped.
fn read_stdin(sender: &mpsc::Sender<Chunk>) {
    let mut stdin = std::io::stdin().lock();
    loop {
        let mut chunk = vec![0; CHUNK_BYTES];
        let sent = match stdin.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                chunk.truncate(n);
                sender.blocking_send(Ok(chunk))
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                let _ = sender.blocking_send(Err(error));
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}
