//! A run of a batch's records, given to a rule with its own bytes only.
//!
//! A large batch is cut into runs, each a call (see `share`). Every call
//! lowers the data it is given into the rule's memory, so handing each run
//! the whole batch's bytes copied them once per run: up to eight times per
//! rule and batch on two threads, 4% of `weir run`'s CPU. A run gets the
//! span of bytes its records use, and its records count from there; the
//! spans of its output are moved back to the batch's numbering after the
//! call ([`RuleOutput::move_batch_spans`]).

use std::ops::Range;

use crate::contract::raw::BatchView;
use crate::contract::{Batch, RecordMeta, Span};
use crate::model::RuleOutput;

/// The records of a run, numbered from the first byte of its data.
pub(super) struct RunData {
    /// Where the run's bytes start in the batch's data.
    base: u32,
    /// The run's bytes, in the batch's data.
    bytes: Range<usize>,
    /// The run's records, their spans moved down by `base`.
    records: Vec<RecordMeta>,
}

impl RunData {
    /// `records` (consecutive records of `batch`) with the bytes their
    /// payloads and keys use; `None` when a span is outside the batch's
    /// data (the run then gets the batch as it is).
    pub fn of(batch: &Batch, records: &[RecordMeta]) -> Option<Self> {
        let spans = || {
            records
                .iter()
                .flat_map(|record| std::iter::once(record.payload).chain(record.key))
        };
        let base = spans().map(|span| span.start).min()?;
        let end = spans()
            .map(|span| span.start.checked_add(span.len))
            .try_fold(base, |end, span_end| Some(end.max(span_end?)))?;
        let bytes = base as usize..end as usize;
        batch.data.get(bytes.clone())?;
        let moved = |span: Span| Span {
            start: span.start - base,
            len: span.len,
        };
        let records = records
            .iter()
            .map(|record| RecordMeta {
                payload: moved(record.payload),
                key: record.key.map(moved),
                ..*record
            })
            .collect();
        Some(Self {
            base,
            bytes,
            records,
        })
    }

    /// The run as a batch: its records and bytes, with the batch's sources.
    pub fn view<'b>(&'b self, batch: &'b Batch) -> BatchView<'b> {
        let data = batch.data.get(self.bytes.clone()).unwrap_or_default();
        BatchView {
            data,
            ..BatchView::from(batch).with_records(&self.records)
        }
    }

    /// Moves the spans of the run's output back to the batch's numbering.
    pub fn restore_spans(&self, output: &mut RuleOutput) {
        output.move_batch_spans(self.base, self.bytes.len() as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Measure, Text, Update};

    fn record(start: u32, len: u32, key: Option<Span>) -> RecordMeta {
        RecordMeta {
            payload: Span { start, len },
            key,
            source: 0,
            partition: 1,
            offset: u64::from(start),
            timestamp_ms: None,
        }
    }

    /// A run gets the bytes from its first record's to its last's, keys
    /// included; its spans count from there, and its output's spans go
    /// back to the batch's numbering, those past its bytes made
    /// unresolvable.
    #[test]
    fn a_run_gets_its_own_bytes_and_its_output_spans_move_back() {
        let batch = Batch {
            sources: vec!["s".into()],
            data: b"k0aaaa k1bbbb k2cccc".to_vec(),
            records: vec![
                record(2, 4, Some(Span { start: 0, len: 2 })),
                record(9, 4, Some(Span { start: 7, len: 2 })),
                record(16, 4, Some(Span { start: 14, len: 2 })),
            ],
        };
        let run = RunData::of(&batch, &batch.records[1..]).unwrap();
        let view = run.view(&batch);
        assert_eq!(view.data, b"k1bbbb k2cccc");
        assert_eq!(view.records[0].payload, Span { start: 2, len: 4 });
        assert_eq!(view.records[1].key, Some(Span { start: 7, len: 2 }));
        assert_eq!(view.records[1].offset, 16);

        let update = |key: Span, member: Span| Update {
            record: 0,
            metric: 0,
            key: Text::Batch(key),
            measure: Measure::Member(Text::Batch(member)),
            event_time_ms: None,
        };
        let mut output = RuleOutput::default();
        output
            .updates
            .push(update(Span { start: 2, len: 4 }, Span { start: 9, len: 4 }));
        output.updates.push(update(
            Span { start: 10, len: 4 },
            Span { start: 13, len: 0 },
        ));
        run.restore_spans(&mut output);
        let texts = output.texts(&batch.data);
        let resolved = |update: &Update| {
            let Measure::Member(member) = update.measure else {
                unreachable!()
            };
            (update.key.resolve(texts), member.resolve(texts))
        };
        assert_eq!(resolved(&output.updates[0]), (Some("bbbb"), Some("cccc")));
        assert_eq!(
            resolved(&output.updates[1]),
            (None, Some("")),
            "a span past the run's bytes names no bytes of other records"
        );
    }
}
