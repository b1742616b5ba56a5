//! What one rule made of one batch, and the records it failed on.

use super::RuleId;
use super::RuleOutput;

/// Payload bytes kept in a dead letter.
pub const DEAD_LETTER_PAYLOAD_BYTES: usize = 4096;

/// A record a rule failed on, for the `weir:R:dead` stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Why the call failed.
    pub reason: String,
    /// Source name.
    pub source: String,
    /// Partition.
    pub partition: u32,
    /// Offset within the partition.
    pub offset: u64,
    /// Hash naming the rule version.
    pub version: String,
    /// The payload, cut at [`DEAD_LETTER_PAYLOAD_BYTES`].
    pub payload: Vec<u8>,
}

/// What one rule made of one batch.
#[derive(Debug)]
pub struct RuleOutcome {
    /// The rule.
    pub rule: RuleId,
    /// The output to apply (`None`: the rule was skipped).
    pub output: Option<RuleOutput>,
    /// Failed calls.
    pub traps: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// Records skipped by quarantine.
    pub quarantined: u64,
    /// Which of the batch's sources (by index) the rule was given records
    /// of, when its route left some out (see [`super::Route::mask`]);
    /// `None`: all of them. Records of the others are not the rule's input
    /// and count nowhere for it.
    pub sees: Option<Vec<bool>>,
}

impl RuleOutcome {
    /// Nothing happened yet.
    pub fn new(rule: RuleId) -> Self {
        Self {
            rule,
            output: None,
            traps: 0,
            dead_lettered: 0,
            quarantined: 0,
            sees: None,
        }
    }

    /// Whether the rule was given records of source `source` (an index
    /// into the batch's sources).
    pub fn sees(&self, source: u32) -> bool {
        self.sees
            .as_ref()
            .is_none_or(|mask| mask.get(source as usize).copied().unwrap_or(false))
    }
}
