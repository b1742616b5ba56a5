//! The emitter: how a rule says what a record contributes.

use crate::batch::Span;
use crate::check::{Misuse, UpdateChecks};
use crate::error::Error;
use crate::manifest::Manifest;

/// A piece of text an update carries: a span of the batch's data when the
/// text is part of a record (no copy), or a string of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// Bytes of the batch's data.
    Span(Span),
    /// A string made by the rule.
    Owned(String),
}

impl Text {
    /// The text, reading a span from the batch's `data`.
    pub fn resolve<'a>(&'a self, data: &'a [u8]) -> Option<&'a str> {
        match self {
            Self::Owned(text) => Some(text),
            Self::Span(span) => {
                let start = span.start as usize;
                std::str::from_utf8(data.get(start..start + span.len as usize)?).ok()
            }
        }
    }

    /// The same text as a string of its own.
    pub fn owned(&self, data: &[u8]) -> Text {
        Text::Owned(self.resolve(data).unwrap_or_default().to_owned())
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self::Owned(text.to_owned())
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self::Owned(text)
    }
}

/// The value an update contributes.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// One occurrence.
    One,
    /// A number, for sum, min, max, decimal-sum, avg and quantiles.
    Number(f64),
    /// A member, for distinct counts.
    Member(Text),
    /// A decimal as text, for decimal-sum, avg and quantiles.
    Decimal(Text),
}

/// One contribution of one record to one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// Index of the record within the batch.
    pub record: u32,
    /// Index of the metric within the manifest.
    pub metric: u32,
    /// Group key.
    pub key: Text,
    /// Value contributed.
    pub measure: Measure,
    /// Event time, Unix milliseconds; `None` lets the host use the source timestamp.
    pub event_time_ms: Option<i64>,
}

/// A refused record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Index of the record within the batch.
    pub record: u32,
    /// Why it was refused.
    pub reason: String,
}

/// Everything a batch produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Metric updates in record order.
    pub updates: Vec<Update>,
    /// Refused records in record order.
    pub rejects: Vec<Reject>,
}

/// Collects the updates of the record being processed.
///
/// Metrics are named as in the manifest. Naming an unknown metric does not
/// panic (a panic would trap the whole batch): the record is rejected instead.
pub struct Emitter<'m> {
    metric_names: &'m [String],
    /// Where the batch's data is in memory: text inside it is sent as a span.
    data: std::ops::Range<usize>,
    record: u32,
    record_start: usize,
    error: Option<Error>,
    /// Native tests only: every update checked against the manifest.
    checks: Option<UpdateChecks<'m>>,
    output: Output,
}

impl<'m> Emitter<'m> {
    pub(crate) fn new(metric_names: &'m [String], data: &[u8], capacity: usize) -> Self {
        Self {
            metric_names,
            data: data.as_ptr_range().start as usize..data.as_ptr_range().end as usize,
            record: 0,
            record_start: 0,
            error: None,
            checks: None,
            output: Output {
                updates: Vec::with_capacity(capacity),
                rejects: Vec::new(),
            },
        }
    }

    /// An emitter that also checks every update against `manifest` (whose
    /// metric names `metric_names` are), for [`crate::testing::TestRule`].
    pub(crate) fn checked(
        metric_names: &'m [String],
        manifest: &'m Manifest,
        data: &[u8],
        capacity: usize,
    ) -> Self {
        Self {
            checks: Some(UpdateChecks::new(manifest)),
            ..Self::new(metric_names, data, capacity)
        }
    }

    /// `text` as the contract carries it: a span when it lies in the
    /// batch's data (a field of the record), else a copy.
    fn text(&self, text: &str) -> Text {
        let start = text.as_ptr() as usize;
        if start >= self.data.start && start + text.len() <= self.data.end {
            Text::Span(Span {
                start: (start - self.data.start) as u32,
                len: text.len() as u32,
            })
        } else {
            Text::Owned(text.to_owned())
        }
    }

    /// Counts one occurrence for `metric` in group `key` at `event_time_ms`.
    pub fn count(&mut self, metric: &str, key: &str, event_time_ms: impl Into<Option<i64>>) {
        self.push(metric, key, Measure::One, event_time_ms.into());
    }

    /// Adds the decimal `value` (text such as `33.80`, as written in the
    /// record) to a decimal-sum, avg or quantiles `metric` in group `key`;
    /// it is never taken through a binary float.
    pub fn decimal(
        &mut self,
        metric: &str,
        key: &str,
        value: &str,
        event_time_ms: impl Into<Option<i64>>,
    ) {
        let value = self.text(value);
        self.push(metric, key, Measure::Decimal(value), event_time_ms.into());
    }

    /// Adds `value` to a sum, min, max, decimal-sum (through its shortest
    /// decimal text), avg or quantiles `metric` in group `key`.
    pub fn number(
        &mut self,
        metric: &str,
        key: &str,
        value: f64,
        event_time_ms: impl Into<Option<i64>>,
    ) {
        self.push(metric, key, Measure::Number(value), event_time_ms.into());
    }

    /// Adds `member` to a distinct `metric` in group `key`.
    pub fn distinct(
        &mut self,
        metric: &str,
        key: &str,
        member: &str,
        event_time_ms: impl Into<Option<i64>>,
    ) {
        let member = self.text(member);
        self.push(metric, key, Measure::Member(member), event_time_ms.into());
    }

    fn push(&mut self, metric: &str, key: &str, measure: Measure, event_time_ms: Option<i64>) {
        if let Some(checks) = &mut self.checks {
            checks.check(self.record, metric, &measure);
        }
        let Some(index) = self.metric_index(metric) else {
            if self.error.is_none() {
                self.error = Some(Error::msg(format!(
                    "rule emitted unknown metric `{metric}`"
                )));
            }
            return;
        };
        let key = self.text(key);
        self.output.updates.push(Update {
            record: self.record,
            metric: index as u32,
            key,
            measure,
            event_time_ms,
        });
    }

    /// Where `metric` is in the manifest. Called for every update: names
    /// are few and short, so a length check and an inline byte compare cost
    /// less than a call to `memcmp` per name tried.
    fn metric_index(&self, metric: &str) -> Option<usize> {
        self.metric_names
            .iter()
            .position(|name| name.len() == metric.len() && name.bytes().eq(metric.bytes()))
    }

    pub(crate) fn begin_record(&mut self, record: u32) {
        self.record = record;
        self.record_start = self.output.updates.len();
        self.error = None;
    }

    /// Ends the current record: an error (returned or recorded) rejects the
    /// record and withdraws whatever it emitted, so a record counts fully or
    /// not at all.
    pub(crate) fn end_record(&mut self, result: Result<(), Error>) {
        if let Some(error) = result.err().or_else(|| self.error.take()) {
            self.output.updates.truncate(self.record_start);
            self.output.rejects.push(Reject {
                record: self.record,
                reason: error.message().to_owned(),
            });
        }
    }

    pub(crate) fn finish(self) -> Output {
        self.output
    }

    /// The output and, for a checked emitter, every update the host would
    /// not apply (including those of records that were then rejected).
    pub(crate) fn finish_checked(self) -> (Output, Vec<Misuse>) {
        let misuses = self.checks.map(UpdateChecks::finish).unwrap_or_default();
        (self.output, misuses)
    }
}

/// The metric names of a manifest, in index order.
pub(crate) fn metric_names(manifest: &Manifest) -> Vec<String> {
    manifest.metrics.iter().map(|m| m.name.clone()).collect()
}
