//! A batch of records as the rule sees it.

use serde::Deserialize;

use crate::error::{Error, Result};

/// A byte range within a batch's data buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Number of bytes.
    pub len: u32,
}

impl Span {
    fn slice(self, data: &[u8]) -> &[u8] {
        let start = self.start as usize;
        data.get(start..start.saturating_add(self.len as usize))
            .unwrap_or_default()
    }
}

/// Where a record came from and where its bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordMeta {
    /// The payload's bytes.
    pub payload: Span,
    /// The key's bytes, for sources with keys.
    pub key: Option<Span>,
    /// Index into the batch's sources.
    pub source: u32,
    /// Partition within the source.
    pub partition: u32,
    /// Offset within the partition.
    pub offset: u64,
    /// The source's timestamp for the record, Unix milliseconds.
    pub timestamp_ms: Option<i64>,
}

/// A borrowed batch: one shared data buffer and per-record metadata.
#[derive(Debug, Clone, Copy)]
pub struct BatchView<'a> {
    /// Source names.
    pub sources: &'a [String],
    /// Payload and key bytes of every record.
    pub data: &'a [u8],
    /// The records, in source order.
    pub records: &'a [RecordMeta],
}

impl<'a> BatchView<'a> {
    /// The record at `index`.
    pub fn record(&self, index: usize) -> Option<Record<'a>> {
        let meta = self.records.get(index)?;
        Some(Record {
            payload: meta.payload.slice(self.data),
            key: meta.key.map(|span| span.slice(self.data)),
            source: self
                .sources
                .get(meta.source as usize)
                .map_or("", String::as_str),
            partition: meta.partition,
            offset: meta.offset,
            timestamp_ms: meta.timestamp_ms,
        })
    }
}

/// One log record.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The raw bytes (one log line, without its line ending).
    pub payload: &'a [u8],
    /// The key, for sources with keys (Kafka).
    pub key: Option<&'a [u8]>,
    /// Source name: file path, topic or `stdin`.
    pub source: &'a str,
    /// Partition within the source.
    pub partition: u32,
    /// Offset within the partition.
    pub offset: u64,
    /// The source's timestamp, Unix milliseconds.
    pub timestamp_ms: Option<i64>,
}

impl<'a> Record<'a> {
    /// The payload as text, or an error naming the first invalid byte.
    ///
    /// Log lines are nearly always ASCII, which a faster scan than UTF-8
    /// validation confirms; anything else is validated in full.
    pub fn text(&self) -> Result<&'a str> {
        if crate::parse::scan::is_ascii(self.payload) {
            #[expect(
                unsafe_code,
                reason = "skips validating again what `is_ascii` just checked"
            )]
            // SAFETY: every byte is below 0x80, and ASCII is valid UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(self.payload) });
        }
        std::str::from_utf8(self.payload)
            .map_err(|error| Error::msg(format!("invalid UTF-8 at byte {}", error.valid_up_to())))
    }

    /// The payload parsed as one JSON value into `T`, for rules over JSON
    /// logs. `T` may borrow `&str` fields from the record (escaped strings
    /// then need `String` or `Cow<str>`).
    ///
    /// An error rejects the record with a reason that says where and what:
    /// `invalid JSON at line 1 column 5: expected value`, or, for valid JSON
    /// of the wrong shape, `JSON does not fit Spend at line 1 column 40:
    /// missing field `roleid``. Take money as [`crate::Decimal`] to keep
    /// its exact digits.
    pub fn json<T: Deserialize<'a>>(&self) -> Result<T> {
        crate::json::from_slice(self.payload)
    }
}
