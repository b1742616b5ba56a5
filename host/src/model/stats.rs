//! Counters a pipeline keeps, per rule and per source.

use serde::{Deserialize, Serialize};

/// What happened to one rule's records. Checkpointed with the rule's state,
/// so the counts stay exact across restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleStats {
    /// Records handed to the rule.
    pub records_in: u64,
    /// Records the rule refused.
    pub rejected: u64,
    /// Updates applied to windows.
    pub updates: u64,
    /// Update × window pairs dropped because the window had closed.
    pub late: u64,
    /// Updates without an event time (neither from the rule nor the source).
    pub no_event_time: u64,
    /// Updates naming an unknown metric or carrying the wrong kind of value.
    pub invalid_updates: u64,
    /// Failed calls into the rule (traps, deadlines, memory, output caps),
    /// including those made while isolating the records at fault.
    pub traps: u64,
    /// Records that made the rule fail on their own, sent to `weir:R:dead`.
    pub dead_lettered: u64,
    /// Records skipped while the rule was quarantined.
    pub quarantined: u64,
}

impl RuleStats {
    /// Adds another lane's counters.
    pub fn add(&mut self, other: &Self) {
        self.records_in += other.records_in;
        self.rejected += other.rejected;
        self.updates += other.updates;
        self.late += other.late;
        self.no_event_time += other.no_event_time;
        self.invalid_updates += other.invalid_updates;
        self.traps += other.traps;
        self.dead_lettered += other.dead_lettered;
        self.quarantined += other.quarantined;
    }
}

/// What happened at the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStats {
    /// Records read.
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Records skipped for being longer than `source.max_record_bytes`.
    pub oversized: u64,
    /// Kafka messages delivered again at an offset already read; skipped.
    pub duplicates: u64,
}

impl SourceStats {
    /// Adds another source's counters.
    pub fn add(&mut self, other: &Self) {
        self.records += other.records;
        self.bytes += other.bytes;
        self.oversized += other.oversized;
        self.duplicates += other.duplicates;
    }
}
