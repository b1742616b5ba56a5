//! The watermark: how far event time has certainly progressed.

/// Highest event time seen minus the allowed lateness. A window whose end is
/// at or before the watermark is closed: its value is final and records for
/// it are late.
///
/// Updated one event at a time in input order, so whether a record is late
/// depends only on the records before it, never on batch boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    lateness_ms: i64,
    max_event_ms: Option<i64>,
    closed_all: bool,
}

impl Watermark {
    /// A watermark that has seen nothing.
    pub fn new(lateness_ms: i64) -> Self {
        Self {
            lateness_ms,
            max_event_ms: None,
            closed_all: false,
        }
    }

    /// Restores a watermark from a checkpoint.
    pub fn restored(lateness_ms: i64, max_event_ms: Option<i64>, closed_all: bool) -> Self {
        Self {
            lateness_ms,
            max_event_ms,
            closed_all,
        }
    }

    /// The current watermark (`i64::MIN` before any event, `i64::MAX` after
    /// the end of a finite input).
    pub fn current(&self) -> i64 {
        if self.closed_all {
            return i64::MAX;
        }
        self.max_event_ms
            .map_or(i64::MIN, |max| max.saturating_sub(self.lateness_ms))
    }

    /// Whether a window ending at `end_ms` is closed.
    pub fn is_closed(&self, end_ms: i64) -> bool {
        end_ms <= self.current()
    }

    /// Records an event.
    pub fn observe(&mut self, event_ms: i64) {
        self.max_event_ms = Some(self.max_event_ms.map_or(event_ms, |max| max.max(event_ms)));
    }

    /// Moves the watermark up to at least `watermark_ms` (a quiet
    /// partition catching up with the others); never moves it back.
    pub fn raise_to(&mut self, watermark_ms: i64) {
        if watermark_ms > self.current() {
            self.max_event_ms = Some(watermark_ms.saturating_add(self.lateness_ms));
        }
    }

    /// Closes every window: the input has ended.
    pub fn close_all(&mut self) {
        self.closed_all = true;
    }

    /// The allowed lateness.
    pub fn lateness_ms(&self) -> i64 {
        self.lateness_ms
    }

    /// Highest event time seen.
    pub fn max_event_ms(&self) -> Option<i64> {
        self.max_event_ms
    }

    /// Whether the input has ended.
    pub fn is_closed_all(&self) -> bool {
        self.closed_all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_windows_behind_the_lateness() {
        let mut wm = Watermark::new(10_000);
        assert!(!wm.is_closed(0));
        wm.observe(70_000);
        assert!(wm.is_closed(60_000));
        assert!(!wm.is_closed(61_000));
        wm.observe(5_000);
        assert_eq!(wm.current(), 60_000);
        wm.close_all();
        assert!(wm.is_closed(i64::MAX - 1));
    }
}
