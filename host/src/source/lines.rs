//! Splitting a byte stream into line records, batch by batch.

use crate::contract::{Batch, RecordMeta, Span};
use crate::model::SourceStats;

/// Bytes read from the underlying stream at a time.
const READ_CHUNK: usize = 256 * 1024;
/// A batch stops growing past this many payload bytes, so a batch of huge
/// records stays bounded in memory.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Splits a stream into lines and packs them into batches.
///
/// A line ends at `\n`; a trailing `\r` is dropped. A line longer than
/// `max_record_bytes` is skipped (counted, and logged with its offset)
/// without ever being held whole in memory. Offsets count bytes from the
/// start of the stream; `committed` is the offset just past the last line
/// handed out or skipped, which is where a restart resumes.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    committed: u64,
    discarding: bool,
    max_record_bytes: usize,
    /// Lines consumed so far (handed out or skipped), counting from the
    /// start of the stream: the line number of the last one.
    lines: u64,
    /// The line number of each record packed since the last
    /// [`LineSplitter::take_lines`].
    record_lines: Vec<u64>,
    /// Bytes of the largest batch packed so far (see
    /// [`LineSplitter::empty_batch`]).
    largest_batch: usize,
    /// Counters.
    pub stats: SourceStats,
}

/// What packing stopped on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packed {
    /// The batch is full.
    Full,
    /// Every complete line is in the batch; more input is needed.
    NeedInput,
}

impl LineSplitter {
    /// A splitter for a stream starting at `offset`, after `lines` lines.
    pub fn new(offset: u64, lines: u64, max_record_bytes: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            end: 0,
            base: offset,
            committed: offset,
            discarding: false,
            max_record_bytes,
            lines,
            record_lines: Vec::new(),
            largest_batch: 0,
            stats: SourceStats::default(),
        }
    }

    /// An empty batch of `source` for up to `records` records, with room
    /// for as many bytes as the largest batch so far: a batch of long
    /// lines outgrew the first guess (128 bytes a line) every time, and
    /// growing it copied what it held.
    pub fn empty_batch(&self, source: &str, records: usize) -> Batch {
        let mut batch = empty_batch(source, records);
        if self.largest_batch > batch.data.capacity() {
            batch.data = Vec::with_capacity(self.largest_batch);
        }
        batch
    }

    /// Lines consumed so far (see [`LineSplitter::new`]).
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The line numbers (from 1) of the records packed since the last call,
    /// in record order, so a reject can name its line.
    pub fn take_lines(&mut self) -> Vec<u64> {
        // The next batch is about as long: allocate once, not as it grows.
        let capacity = self.record_lines.len();
        std::mem::replace(&mut self.record_lines, Vec::with_capacity(capacity))
    }

    /// Offset just past the last complete line handed out or skipped.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Space to read into; call [`LineSplitter::filled`] with the count read.
    pub fn space(&mut self) -> &mut [u8] {
        if self.start > 0 && self.start == self.end {
            self.base += self.start as u64;
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < READ_CHUNK {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.base += self.start as u64;
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < READ_CHUNK {
                self.buf.resize(self.end + READ_CHUNK, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into [`LineSplitter::space`].
    pub fn filled(&mut self, n: usize) {
        self.end += n;
        self.stats.bytes += n as u64;
    }

    /// Moves complete lines into `batch` until it is full or input runs out.
    pub fn pack(&mut self, batch: &mut Batch, max_records: usize, partition: u32) -> Packed {
        while batch.records.len() < max_records && batch.data.len() < MAX_BATCH_BYTES {
            let pending = &self.buf[self.start..self.end];
            let Some(newline) = memchr::memchr(b'\n', pending) else {
                if pending.len() > self.max_record_bytes && !self.discarding {
                    self.discarding = true;
                    self.count_oversized(self.committed);
                }
                if self.discarding {
                    // Keep nothing of an oversized line but its position.
                    self.start = self.end;
                }
                return Packed::NeedInput;
            };
            let line_start = self.start;
            self.start += newline + 1;
            let line_offset = self.committed;
            self.committed = self.base + self.start as u64;
            self.lines += 1;
            if self.discarding {
                self.discarding = false;
                continue;
            }
            if newline > self.max_record_bytes {
                self.count_oversized(line_offset);
                continue;
            }
            self.push(
                batch,
                line_start,
                line_start + newline,
                line_offset,
                partition,
            );
        }
        self.largest_batch = self.largest_batch.max(batch.data.len());
        Packed::Full
    }

    /// The stream ended: a last line without a line ending is a record too.
    pub fn finish(&mut self, batch: &mut Batch, partition: u32) {
        if self.start < self.end && !self.discarding {
            let line_offset = self.committed;
            let (start, end) = (self.start, self.end);
            self.start = self.end;
            self.committed = self.base + self.end as u64;
            self.lines += 1;
            if end - start > self.max_record_bytes {
                self.count_oversized(line_offset);
            } else {
                self.push(batch, start, end, line_offset, partition);
            }
        } else if self.discarding {
            self.committed = self.base + self.end as u64;
            self.start = self.end;
            self.lines += 1;
        }
        self.discarding = false;
    }

    /// Forgets buffered input and restarts at `offset` (after truncation or
    /// rotation).
    pub fn reset(&mut self, offset: u64) {
        self.lines = 0;
        self.start = 0;
        self.end = 0;
        self.base = offset;
        self.committed = offset;
        self.discarding = false;
    }

    fn count_oversized(&mut self, offset: u64) {
        self.stats.oversized += 1;
        tracing::warn!(
            offset,
            max_record_bytes = self.max_record_bytes,
            "record is longer than source.max_record_bytes; skipped"
        );
    }

    fn push(
        &mut self,
        batch: &mut Batch,
        start: usize,
        mut end: usize,
        offset: u64,
        partition: u32,
    ) {
        if end > start && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        let payload = Span {
            start: batch.data.len() as u32,
            len: (end - start) as u32,
        };
        batch.data.extend_from_slice(&self.buf[start..end]);
        batch.records.push(RecordMeta {
            payload,
            key: None,
            source: 0,
            partition,
            offset,
            timestamp_ms: None,
        });
        self.record_lines.push(self.lines);
        self.stats.records += 1;
    }
}

/// An empty batch from one named source.
pub fn empty_batch(source: &str, capacity: usize) -> Batch {
    Batch {
        sources: vec![source.to_owned()],
        data: Vec::with_capacity(capacity * 128),
        records: Vec::with_capacity(capacity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], max_record: usize, chunk: usize) -> (Vec<(u64, Vec<u8>)>, LineSplitter) {
        let mut splitter = LineSplitter::new(0, 0, max_record);
        let mut lines = Vec::new();
        let mut batch = empty_batch("t", 4);
        for piece in input.chunks(chunk) {
            let space = splitter.space();
            space[..piece.len()].copy_from_slice(piece);
            splitter.filled(piece.len());
            while splitter.pack(&mut batch, 2, 0) == Packed::Full {
                drain(&mut batch, &mut lines);
            }
        }
        splitter.finish(&mut batch, 0);
        drain(&mut batch, &mut lines);
        (lines, splitter)
    }

    fn drain(batch: &mut Batch, lines: &mut Vec<(u64, Vec<u8>)>) {
        for record in batch.records.drain(..) {
            let start = record.payload.start as usize;
            lines.push((
                record.offset,
                batch.data[start..start + record.payload.len as usize].to_vec(),
            ));
        }
        batch.data.clear();
    }

    /// Records carry their line number, counting the lines skipped as too
    /// long, and a splitter resumed after `n` lines goes on from `n`.
    #[test]
    fn records_know_their_line_numbers() {
        let mut input = b"a\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 50));
        input.extend(b"\nb\n\nc");
        let mut splitter = LineSplitter::new(0, 0, 10);
        splitter.space()[..input.len()].copy_from_slice(&input);
        splitter.filled(input.len());
        let mut batch = empty_batch("t", 8);
        splitter.pack(&mut batch, 8, 0);
        splitter.finish(&mut batch, 0);
        assert_eq!(splitter.take_lines(), vec![1, 3, 4, 5]);
        assert!(splitter.take_lines().is_empty());
        let mut resumed = LineSplitter::new(100, 41, 10);
        resumed.space()[..4].copy_from_slice(b"z\ny\n");
        resumed.filled(4);
        resumed.pack(&mut batch, 8, 0);
        assert_eq!(resumed.take_lines(), vec![42, 43]);
    }

    /// A batch of lines longer than the first guess makes the next empty
    /// batch as roomy, so packing the same again never grows it.
    #[test]
    fn the_next_batch_has_room_for_the_largest_so_far() {
        let line = [b'x'; 300];
        let mut splitter = LineSplitter::new(0, 0, 1000);
        for _ in 0..4 {
            splitter.space()[..301].copy_from_slice(&[&line[..], b"\n"].concat());
            splitter.filled(301);
        }
        assert!(splitter.empty_batch("t", 4).data.capacity() < 4 * 300);
        let mut batch = splitter.empty_batch("t", 4);
        assert_eq!(splitter.pack(&mut batch, 4, 0), Packed::Full);
        assert_eq!(batch.data.len(), 4 * 300);
        let next = splitter.empty_batch("t", 4);
        assert!(next.data.capacity() >= 4 * 300, "{}", next.data.capacity());
    }

    #[test]
    fn lines_offsets_and_crlf() {
        for chunk in [1, 3, 100] {
            let (lines, splitter) = split(b"ab\r\n\ncd\nlast", 100, chunk);
            let expected: Vec<(u64, Vec<u8>)> = vec![
                (0, b"ab".to_vec()),
                (4, b"".to_vec()),
                (5, b"cd".to_vec()),
                (8, b"last".to_vec()),
            ];
            assert_eq!(lines, expected, "chunk {chunk}");
            assert_eq!(splitter.committed(), 12);
        }
    }

    #[test]
    fn oversized_lines_are_skipped_whole() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 50));
        input.extend(b"\nfine\n");
        input.extend(std::iter::repeat_n(b'y', 50));
        for chunk in [1, 7, 1000] {
            let (lines, splitter) = split(&input, 10, chunk);
            let texts: Vec<&[u8]> = lines.iter().map(|(_, line)| line.as_slice()).collect();
            assert_eq!(splitter.lines(), 4, "every line counts, skipped or not");
            assert_eq!(
                texts,
                [b"ok".as_slice(), b"fine".as_slice()],
                "chunk {chunk}"
            );
            assert_eq!(lines[1].0, 54);
            assert_eq!(splitter.stats.oversized, 2);
            assert_eq!(splitter.committed(), input.len() as u64);
        }
    }
}
