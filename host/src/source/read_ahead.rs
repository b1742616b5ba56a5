//! Reading a file one batch ahead of the pipeline, on a thread of its own.
//!
//! The pipeline's loop applies one batch's outcomes while the rules run on
//! the next; reading and splitting lines on that same loop was a tenth of
//! its time (copying out of the page cache, finding line ends, packing
//! records). A reader thread does that work beside it instead: while the
//! loop handles batch N, the thread reads batch N+1.
//!
//! What the pipeline sees is unchanged: [`ReadAhead::position`],
//! [`ReadAhead::stats`] and [`ReadAhead::take_lines`] describe the batches
//! handed out, not the one read ahead, so a checkpoint resumes just past
//! the last line the pipeline was given, as with a file read in place.

use tokio::sync::mpsc;

use super::SourceError;
use super::file::FileSource;
use crate::contract::Batch;
use crate::model::{Position, SourceStats};

/// Batches waiting beside the one being read: one is enough to hide the
/// read behind the pipeline's work, and bounds memory to two batches.
const BATCHES_AHEAD: usize = 1;

/// A batch with what the pipeline asks about it once it is handed out.
struct Read {
    batch: Batch,
    lines: Vec<u64>,
    position: Position,
    stats: SourceStats,
}

/// What the reader thread hands over: a batch, the end of the file
/// (`None`), or the error that ended reading.
type Ahead = Result<Option<Read>, SourceError>;

/// A [`FileSource`] read on its own thread, one batch ahead.
pub struct ReadAhead {
    batches: mpsc::Receiver<Ahead>,
    /// Where the file resumes after the batches handed out.
    position: Position,
    stats: SourceStats,
    lines: Vec<u64>,
    finished: bool,
}

impl ReadAhead {
    /// Starts reading `file` on a thread started here.
    ///
    /// A plain thread rather than tokio's blocking pool, as for stdin: it
    /// ends on its own once the pipeline drops its end of the channel (at
    /// its next send, after at most one poll interval of a followed file),
    /// and never holds up the runtime's shutdown.
    pub fn start(file: FileSource) -> Result<Self, SourceError> {
        let position = file.position();
        let stats = file.stats();
        let (sender, batches) = mpsc::channel(BATCHES_AHEAD);
        std::thread::Builder::new()
            .name("weir-file".to_owned())
            .spawn(move || read_file(file, &sender))
            .map_err(|source| SourceError::Io {
                what: "cannot start the thread reading the file".to_owned(),
                source,
            })?;
        Ok(Self {
            batches,
            position,
            stats,
            lines: Vec::new(),
            finished: false,
        })
    }

    /// See [`FileSource::next_batch`].
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.finished {
            return Ok(None);
        }
        match self.batches.recv().await {
            Some(Ok(Some(read))) => {
                self.position = read.position;
                self.stats = read.stats;
                self.lines = read.lines;
                Ok(Some(read.batch))
            }
            Some(Ok(None)) | None => {
                self.finished = true;
                Ok(None)
            }
            Some(Err(error)) => {
                self.finished = true;
                Err(error)
            }
        }
    }

    /// See [`FileSource::position`]: just past the last batch handed out.
    pub fn position(&self) -> Position {
        self.position.clone()
    }

    /// See [`FileSource::take_lines`].
    pub fn take_lines(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.lines)
    }

    /// Source counters, as of the last batch handed out.
    pub fn stats(&self) -> SourceStats {
        self.stats
    }
}

/// The reader thread: batches until the end of the file, an error, or the
/// pipeline no longer listening.
fn read_file(mut file: FileSource, sender: &mpsc::Sender<Ahead>) {
    // A followed file waits between polls with tokio's timer; a runtime of
    // its own keeps this thread off the pipeline's.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(source) => {
            let _ = sender.blocking_send(Err(SourceError::Io {
                what: "cannot start the file reader's timer".to_owned(),
                source,
            }));
            return;
        }
    };
    loop {
        let ahead = match runtime.block_on(file.next_batch()) {
            Ok(Some(batch)) => Ok(Some(Read {
                batch,
                lines: file.take_lines(),
                position: file.position(),
                stats: file.stats(),
            })),
            Ok(None) => Ok(None),
            Err(error) => Err(error),
        };
        let last = !matches!(ahead, Ok(Some(_)));
        if sender.blocking_send(ahead).is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;
    use std::time::Duration;

    use super::{FileSource, ReadAhead};

    fn open(path: &Path) -> ReadAhead {
        let file = FileSource::open(path, false, Duration::from_millis(10), 1024, 3, None).unwrap();
        ReadAhead::start(file).unwrap()
    }

    #[tokio::test]
    async fn positions_and_lines_are_those_of_the_batches_handed_out() {
        let mut log = tempfile::NamedTempFile::new().unwrap();
        for n in 1..=7 {
            writeln!(log, "line {n}").unwrap();
        }
        log.flush().unwrap();
        let mut source = open(log.path());
        assert_eq!(source.position().offset, 0);

        let first = source.next_batch().await.unwrap().unwrap();
        assert_eq!(first.records.len(), 3);
        // Let the thread read the next batch ahead: what the pipeline is
        // told must not move with it.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(source.position().offset, 21, "3 lines of 7 bytes");
        assert_eq!(source.position().line, 3);
        assert_eq!(source.stats().records, 3);
        assert_eq!(source.take_lines(), vec![1, 2, 3]);
        assert!(source.take_lines().is_empty());

        let second = source.next_batch().await.unwrap().unwrap();
        assert_eq!(second.records.len(), 3);
        assert_eq!(source.take_lines(), vec![4, 5, 6]);
        let last = source.next_batch().await.unwrap().unwrap();
        assert_eq!(last.records.len(), 1);
        assert_eq!(source.position().offset, 49);
        assert_eq!(source.position().line, 7);
        assert!(source.next_batch().await.unwrap().is_none());
        assert!(source.next_batch().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn resumes_at_a_position_it_gave() {
        let mut log = tempfile::NamedTempFile::new().unwrap();
        for n in 1..=5 {
            writeln!(log, "line {n}").unwrap();
        }
        log.flush().unwrap();
        let mut source = open(log.path());
        source.next_batch().await.unwrap().unwrap();
        let position = source.position();
        drop(source);
        let file = FileSource::open(
            log.path(),
            false,
            Duration::from_millis(10),
            1024,
            3,
            Some(&position),
        )
        .unwrap();
        let mut resumed = ReadAhead::start(file).unwrap();
        let batch = resumed.next_batch().await.unwrap().unwrap();
        assert_eq!(batch.records.len(), 2);
        assert_eq!(resumed.take_lines(), vec![4, 5]);
    }
}
