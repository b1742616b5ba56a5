//! What a rule made of a batch, as the host keeps it.
//!
//! The contract's own output type (`contract::BatchOutput`) holds every
//! text the rule owns (a group key such as `total`) as its own `String`:
//! lifted that way, a batch of 4,096 pvuv lines cost 8,192 allocations, as
//! many frees and a third of the host's share of a rule call. Here every
//! text is a [`Text`] span, either of the batch's bytes or of one text
//! buffer per output, so an output is three vectors whatever its size.

use crate::contract::{self, BatchOutput, Reject, Span};

/// What a rule made of (part of) a batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RuleOutput {
    /// The updates, in the order the rule made them.
    pub updates: Vec<Update>,
    /// Records the rule rejected.
    pub rejects: Vec<Reject>,
    /// The texts the rule owned ([`Text::Own`] spans point here).
    pub texts: String,
}

/// One metric update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Update {
    /// The record it came from (index in the batch).
    pub record: u32,
    /// The metric (index in the rule's manifest).
    pub metric: u32,
    /// The group key.
    pub key: Text,
    /// What it adds.
    pub measure: Measure,
    /// The event time, when the rule gave one (else the record's).
    pub event_time_ms: Option<i64>,
}

/// A text of an update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Text {
    /// Bytes of the batch's data (not yet checked to be UTF-8).
    Batch(Span),
    /// Bytes of the output's [`RuleOutput::texts`] (UTF-8 by construction).
    Own(Span),
}

/// What an update adds, as in the contract.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// One (a count).
    One,
    /// A number.
    Number(f64),
    /// A member of a distinct count.
    Member(Text),
    /// A decimal number, as text.
    Decimal(Text),
}

/// Where an output's texts live: the batch's bytes and the output's own
/// text buffer.
#[derive(Debug, Clone, Copy)]
pub struct Texts<'a> {
    /// The batch's data.
    pub data: &'a [u8],
    /// The batch's data as text, when all of it is UTF-8 (see
    /// [`Texts::with_batch_text`]).
    pub batch_text: Option<&'a str>,
    /// The output's [`RuleOutput::texts`].
    pub own: &'a str,
}

impl<'a> Texts<'a> {
    /// The same texts, the batch's bytes being `text` when all of them are
    /// UTF-8 (`str::from_utf8(data).ok()`, checked once per batch). A span
    /// of the batch is then a slice of it, not a UTF-8 check of its own:
    /// one check per key and member was 3% of `weir run`'s CPU. A span that
    /// cuts a character is refused either way.
    pub fn with_batch_text(self, batch_text: Option<&'a str>) -> Self {
        Self { batch_text, ..self }
    }
}

impl Text {
    /// The text; `None` when a span is out of bounds, or batch bytes are
    /// not UTF-8.
    pub fn resolve<'a>(self, texts: Texts<'a>) -> Option<&'a str> {
        match self {
            Self::Batch(span) => match texts.batch_text {
                // An empty span inside a character is "", as its bytes are.
                Some(text) if span.len > 0 => text.get(range(span)?),
                _ => std::str::from_utf8(texts.data.get(range(span)?)?).ok(),
            },
            Self::Own(span) => texts.own.get(range(span)?),
        }
    }
}

fn range(span: Span) -> Option<std::ops::Range<usize>> {
    let start = span.start as usize;
    Some(start..start.checked_add(span.len as usize)?)
}

impl RuleOutput {
    /// Keeps `text` in the output's text buffer.
    pub fn own(&mut self, text: &str) -> Text {
        let start = self.texts.len();
        self.texts.push_str(text);
        Text::Own(Span {
            start: start as u32,
            len: text.len() as u32,
        })
    }

    /// Where this output's texts live, for a batch with bytes `data`.
    pub fn texts<'a>(&'a self, data: &'a [u8]) -> Texts<'a> {
        Texts {
            data,
            batch_text: None,
            own: &self.texts,
        }
    }

    /// Moves the spans of the batch by `base`: this is the output of a call
    /// given the `len` bytes of the batch's data from `base` on. A span
    /// past those bytes is made one that resolves to nothing, so a rule
    /// names only bytes of the records it was given.
    pub fn move_batch_spans(&mut self, base: u32, len: u32) {
        let moved = |text: Text| match text {
            Text::Batch(span) => Text::Batch(match span.start.checked_add(span.len) {
                Some(end) if end <= len => Span {
                    start: span.start + base,
                    len: span.len,
                },
                _ => Span {
                    start: u32::MAX,
                    len: u32::MAX,
                },
            }),
            own => own,
        };
        for update in &mut self.updates {
            update.key = moved(update.key);
            if let Measure::Member(text) | Measure::Decimal(text) = &mut update.measure {
                *text = moved(*text);
            }
        }
    }

    /// Appends `other`, the output of records numbered from `shift` on in
    /// this output's numbering.
    pub fn append(&mut self, other: &RuleOutput, shift: u32) {
        let base = self.texts.len() as u32;
        self.texts.push_str(&other.texts);
        let moved = |text: Text| match text {
            Text::Own(span) => Text::Own(Span {
                start: span.start.saturating_add(base),
                len: span.len,
            }),
            batch => batch,
        };
        self.updates
            .extend(other.updates.iter().map(|update| Update {
                record: update.record.saturating_add(shift),
                key: moved(update.key),
                measure: match update.measure {
                    Measure::Member(text) => Measure::Member(moved(text)),
                    Measure::Decimal(text) => Measure::Decimal(moved(text)),
                    measure => measure,
                },
                ..*update
            }));
        self.rejects
            .extend(other.rejects.iter().map(|reject| Reject {
                record: reject.record.saturating_add(shift),
                reason: reject.reason.clone(),
            }));
    }
}

impl From<BatchOutput> for RuleOutput {
    /// The generated bindings' output (a 0.1.0 rule's, converted) in the
    /// host's types.
    fn from(output: BatchOutput) -> Self {
        let mut converted = RuleOutput {
            updates: Vec::with_capacity(output.updates.len()),
            rejects: output.rejects,
            texts: String::new(),
        };
        for update in output.updates {
            converted.push(update);
        }
        converted
    }
}

impl RuleOutput {
    /// Appends an update in the contract's types, its owned texts copied
    /// into this output's own texts.
    pub fn push(&mut self, update: contract::MetricUpdate) {
        let key = self.keep(update.key);
        let measure = match update.measure {
            contract::Measure::One => Measure::One,
            contract::Measure::Number(x) => Measure::Number(x),
            contract::Measure::Member(text) => Measure::Member(self.keep(text)),
            contract::Measure::Decimal(text) => Measure::Decimal(self.keep(text)),
        };
        self.updates.push(Update {
            record: update.record,
            metric: update.metric,
            key,
            measure,
            event_time_ms: update.event_time_ms,
        });
    }

    fn keep(&mut self, text: contract::Text) -> Text {
        match text {
            contract::Text::Span(span) => Text::Batch(span),
            contract::Text::Owned(text) => self.own(&text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u32, len: u32) -> Span {
        Span { start, len }
    }

    #[test]
    fn texts_resolve_from_the_batch_or_the_output() {
        let mut output = RuleOutput::default();
        let own = output.own("total");
        let data = b"1.2.3.4 \xff";
        let texts = output.texts(data);
        assert_eq!(own.resolve(texts), Some("total"));
        assert_eq!(Text::Batch(span(0, 7)).resolve(texts), Some("1.2.3.4"));
        assert_eq!(Text::Batch(span(8, 1)).resolve(texts), None, "not UTF-8");
        assert_eq!(
            Text::Batch(span(8, 9)).resolve(texts),
            None,
            "out of bounds"
        );
        assert_eq!(Text::Own(span(3, 9)).resolve(texts), None, "out of bounds");
        assert_eq!(Text::Batch(span(u32::MAX, 9)).resolve(texts), None);
    }

    /// With the batch checked as a whole, every span resolves as it does
    /// checked on its own: the same texts, and `None` for spans that cut
    /// a character or leave the batch.
    #[test]
    fn a_batch_checked_once_resolves_spans_as_checking_each_does() {
        let output = RuleOutput::default();
        let data = "añb€c 1.2.3.4".as_bytes();
        let each = output.texts(data);
        let once = each.with_batch_text(std::str::from_utf8(data).ok());
        assert!(once.batch_text.is_some());
        for start in 0..=data.len() as u32 + 1 {
            for len in 0..=data.len() as u32 + 1 {
                let text = Text::Batch(span(start, len));
                assert_eq!(text.resolve(once), text.resolve(each), "{start}+{len}");
            }
        }
        assert_eq!(Text::Batch(span(1, 2)).resolve(once), Some("ñ"));
        assert_eq!(Text::Batch(span(1, 1)).resolve(once), None, "cuts ñ");
    }

    #[test]
    fn an_appended_output_keeps_its_texts_and_shifts_its_records() {
        let mut first = RuleOutput::default();
        let key = first.own("a");
        first.updates.push(Update {
            record: 0,
            metric: 0,
            key,
            measure: Measure::One,
            event_time_ms: None,
        });
        let mut second = RuleOutput::default();
        let key = second.own("bb");
        let member = second.own("m");
        second.updates.push(Update {
            record: 1,
            metric: 1,
            key,
            measure: Measure::Member(member),
            event_time_ms: Some(5),
        });
        second.updates.push(Update {
            record: 2,
            metric: 0,
            key: Text::Batch(span(4, 2)),
            measure: Measure::Decimal(Text::Batch(span(0, 1))),
            event_time_ms: None,
        });
        second.rejects.push(Reject {
            record: 0,
            reason: "bad".to_owned(),
        });
        first.append(&second, 10);
        let texts = first.texts(b"9   xy");
        let resolved: Vec<(u32, Option<&str>)> = first
            .updates
            .iter()
            .map(|u| (u.record, u.key.resolve(texts)))
            .collect();
        assert_eq!(
            resolved,
            [(0, Some("a")), (11, Some("bb")), (12, Some("xy"))]
        );
        assert_eq!(
            first.updates[1].measure,
            Measure::Member(Text::Own(span(3, 1)))
        );
        assert_eq!(
            first.updates[2].measure,
            Measure::Decimal(Text::Batch(span(0, 1)))
        );
        assert_eq!(first.rejects[0].record, 10);
    }
}
