//! The circuit breaker: a rule that keeps trapping is quarantined for a
//! while, so it cannot slow the pipeline to a crawl with bisections.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::LimitsConfig;

/// Longest quarantine.
const MAX_QUARANTINE: Duration = Duration::from_secs(3600);

/// Trap history and quarantine state of one rule.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: usize,
    window: Duration,
    first_quarantine: Duration,
    traps: VecDeque<Instant>,
    until: Option<Instant>,
    next_quarantine: Duration,
}

impl Breaker {
    /// A closed breaker with the configured thresholds.
    pub fn new(limits: &LimitsConfig) -> Self {
        let first = Duration::from_secs(limits.quarantine_secs);
        Self {
            threshold: limits.trap_threshold as usize,
            window: Duration::from_secs(limits.trap_window_secs),
            first_quarantine: first,
            traps: VecDeque::new(),
            until: None,
            next_quarantine: first,
        }
    }

    /// Whether the rule is quarantined at `now`.
    pub fn is_open(&mut self, now: Instant) -> bool {
        match self.until {
            Some(until) if now < until => true,
            Some(_) => {
                self.until = None;
                false
            }
            None => false,
        }
    }

    /// Remaining quarantine, if any.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.until
            .and_then(|until| until.checked_duration_since(now))
    }

    /// Records `count` records that made the rule fail at `now` (failed
    /// calls made while bisecting are not counted: one bad record costs one);
    /// returns the quarantine length if they trip the breaker.
    pub fn record_traps(&mut self, count: u32, now: Instant) -> Option<Duration> {
        for _ in 0..(count as usize).min(self.threshold) {
            self.traps.push_back(now);
        }
        while self
            .traps
            .front()
            .is_some_and(|&t| now.duration_since(t) > self.window)
        {
            self.traps.pop_front();
        }
        if self.traps.len() < self.threshold {
            return None;
        }
        let length = self.next_quarantine;
        self.until = Some(now + length);
        self.next_quarantine = (length * 2).min(MAX_QUARANTINE);
        self.traps.clear();
        Some(length)
    }

    /// A batch went through without traps: the backoff starts over.
    pub fn record_success(&mut self) {
        if self.traps.is_empty() {
            self.next_quarantine = self.first_quarantine;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_and_backs_off() {
        let limits = LimitsConfig {
            trap_threshold: 3,
            trap_window_secs: 10,
            quarantine_secs: 5,
            ..LimitsConfig::default()
        };
        let mut breaker = Breaker::new(&limits);
        let t0 = Instant::now();
        assert_eq!(breaker.record_traps(2, t0), None);
        assert!(!breaker.is_open(t0));
        assert_eq!(breaker.record_traps(1, t0), Some(Duration::from_secs(5)));
        assert!(breaker.is_open(t0 + Duration::from_secs(4)));
        assert!(!breaker.is_open(t0 + Duration::from_secs(6)));
        let t1 = t0 + Duration::from_secs(6);
        assert_eq!(breaker.record_traps(3, t1), Some(Duration::from_secs(10)));
        // Old traps fall out of the window.
        let t2 = t1 + Duration::from_secs(100);
        assert!(!breaker.is_open(t2));
        assert_eq!(breaker.record_traps(2, t2), None);
        assert_eq!(breaker.record_traps(1, t2 + Duration::from_secs(11)), None);
    }
}
