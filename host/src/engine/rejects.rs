//! Why a rule rejected records: the first reasons are logged at warn level
//! (then at most one line every [`LOG_EVERY`]), and the reasons are tallied
//! so the run's summary can name the most common one. A rule that rejects
//! every record (say it emits a metric its manifest does not declare) is
//! visible without `RUST_LOG=debug`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::contract::{Batch, Reject};

/// Reject lines logged at warn level before rate limiting starts.
const FIRST_LOGGED: u64 = 5;
/// After the first ones, at most one reject line per this long.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Distinct reasons tallied; more are counted under [`OTHER_REASONS`].
const MAX_REASONS: usize = 64;
/// Reasons are tallied by their first line, cut to this many bytes.
const REASON_BYTES: usize = 160;
/// Tally key of reasons beyond [`MAX_REASONS`].
const OTHER_REASONS: &str = "(other reasons)";
/// The first rejects kept whole, with their line numbers, for `weir test`.
pub const FIRST_KEPT: usize = 10;

/// One of a rule's first rejects: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstReject {
    /// Line number in the input file (from 1), where the source knows it.
    pub line: Option<u64>,
    /// The rule's reason, first line only.
    pub reason: String,
}

/// The rejects of one rule.
#[derive(Debug, Default)]
pub struct RejectLog {
    logged: u64,
    suppressed: u64,
    last_logged: Option<Instant>,
    reasons: HashMap<String, u64>,
    first: Vec<FirstReject>,
}

impl RejectLog {
    /// Notes one reject of `batch`'s record (at `line` of its file, if
    /// known).
    pub fn note(&mut self, rule: &str, batch: &Batch, reject: &Reject, line: Option<u64>) {
        let reason = short(&reject.reason);
        if self.first.len() < FIRST_KEPT {
            self.first.push(FirstReject {
                line,
                reason: reason.to_owned(),
            });
        }
        let key = if self.reasons.contains_key(reason) || self.reasons.len() < MAX_REASONS {
            reason
        } else {
            OTHER_REASONS
        };
        match self.reasons.get_mut(key) {
            Some(count) => *count += 1,
            None => {
                self.reasons.insert(key.to_owned(), 1);
            }
        }
        let now = Instant::now();
        let due = self.logged < FIRST_LOGGED
            || self
                .last_logged
                .is_none_or(|last| now.duration_since(last) >= LOG_EVERY);
        if !due {
            self.suppressed += 1;
            return;
        }
        let record = batch.records.get(reject.record as usize);
        let source = record
            .and_then(|r| batch.sources.get(r.source as usize))
            .map_or("", String::as_str);
        tracing::warn!(
            rule,
            source,
            partition = record.map(|r| r.partition),
            offset = record.map(|r| r.offset),
            line,
            reason,
            not_logged_since = self.suppressed,
            "record rejected"
        );
        self.logged += 1;
        self.suppressed = 0;
        self.last_logged = Some(now);
    }

    /// The first [`FIRST_KEPT`] rejects, in input order.
    pub fn first(&self) -> &[FirstReject] {
        &self.first
    }

    /// The most common reason and how many records it rejected.
    pub fn most_common(&self) -> Option<(&str, u64)> {
        self.reasons
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(reason, count)| (reason.as_str(), *count))
    }
}

fn short(reason: &str) -> &str {
    let line = reason.lines().next().unwrap_or_default();
    let mut end = line.len().min(REASON_BYTES);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{RecordMeta, Span};

    #[test]
    fn tallies_the_most_common_reason() {
        let batch = Batch {
            sources: vec!["file".into()],
            data: Vec::new(),
            records: vec![RecordMeta {
                payload: Span { start: 0, len: 0 },
                key: None,
                source: 0,
                partition: 0,
                offset: 0,
                timestamp_ms: None,
            }],
        };
        let mut log = RejectLog::default();
        for reason in [
            "bad time",
            "unknown metric `spnd`\nmore",
            "unknown metric `spnd`",
        ] {
            log.note(
                "spend",
                &batch,
                &Reject {
                    record: 0,
                    reason: reason.into(),
                },
                Some(1),
            );
        }
        assert_eq!(log.most_common(), Some(("unknown metric `spnd`", 2)));
    }
}
