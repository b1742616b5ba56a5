//! The `host.log` import: a rule's messages in the host log, rate-limited.

use std::time::Instant;

use crate::contract::Level;
use crate::contract::weir::rule::host::Host;

/// Messages a rule may log per second on average.
const MESSAGES_PER_SEC: f64 = 20.0;
/// Messages a rule may log in a burst.
const BURST: f64 = 100.0;
/// Longest message kept; the rest is cut.
const MAX_MESSAGE_BYTES: usize = 4096;

/// A token bucket per rule instance, so a rule that logs per record cannot
/// flood the host log or slow the pipeline; dropped messages are counted,
/// reported with the next message that gets through, and in total when the
/// instance ends (so drops at the end of a run are not silent).
pub struct RuleLog {
    rule: String,
    tokens: f64,
    refilled: Instant,
    suppressed: u64,
}

impl RuleLog {
    /// A full bucket for `rule`.
    pub fn new(rule: &str) -> Self {
        Self {
            rule: rule.to_owned(),
            tokens: BURST,
            refilled: Instant::now(),
            suppressed: 0,
        }
    }

    /// Messages dropped so far (by this instance).
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    fn admit(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * MESSAGES_PER_SEC).min(BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }

    /// Logs one message from the rule, if the bucket allows.
    pub fn write(&mut self, level: Level, message: &str) {
        if !self.admit() {
            return;
        }
        let mut end = message.len().min(MAX_MESSAGE_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let message = &message[..end];
        let rule = self.rule.as_str();
        let suppressed = self.suppressed;
        match level {
            Level::Debug => tracing::debug!(rule, suppressed, "{message}"),
            Level::Info => tracing::info!(rule, suppressed, "{message}"),
            Level::Warn => tracing::warn!(rule, suppressed, "{message}"),
            Level::Error => tracing::error!(rule, suppressed, "{message}"),
        }
    }
}

impl Drop for RuleLog {
    fn drop(&mut self) {
        if self.suppressed > 0 {
            tracing::warn!(
                rule = self.rule.as_str(),
                suppressed = self.suppressed,
                "rule instance ended; its log rate limit ({MESSAGES_PER_SEC} a second, bursts of {BURST}) dropped {} messages",
                self.suppressed
            );
        }
    }
}

impl Host for super::sandbox::RuleHost {
    fn log(&mut self, level: Level, message: String) {
        if let Ok(mut log) = self.log.lock() {
            log.write(level, &message);
        }
    }
}

/// The `types` interface has no functions; linking it needs this marker.
impl crate::contract::weir::rule::types::Host for super::sandbox::RuleHost {}

/// The same logging for rules built for `weir:rule@0.1.0`.
impl crate::contract::v1::weir::rule::host::Host for super::sandbox::RuleHost {
    fn log(&mut self, level: crate::contract::v1::weir::rule::host::Level, message: String) {
        Host::log(self, crate::contract::v1::level(level), message);
    }
}

impl crate::contract::v1::weir::rule::types::Host for super::sandbox::RuleHost {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_are_cut_and_counted() {
        let mut log = RuleLog::new("r");
        for _ in 0..1000 {
            log.write(Level::Debug, "x");
        }
        assert!(log.suppressed() >= 890, "{}", log.suppressed());
    }
}
