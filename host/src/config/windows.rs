//! The `[windows]` section: event-time window settings.

use super::reader::TableReader;
use super::within;

/// The `[windows]` section: event-time window settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowsConfig {
    /// How long after a window's end, in event-time seconds, records for it
    /// are still accepted (`allowed_lateness_secs`).
    pub allowed_lateness_secs: u64,
    /// Where day windows start, as seconds from UTC midnight
    /// (`day_offset_secs`); within ±[`WindowsConfig::MAX_DAY_OFFSET_SECS`].
    /// For example -28800 puts day boundaries at local midnight in UTC+8.
    /// A rule's own `[rules.<name>] day_offset_secs` overrides it.
    pub day_offset_secs: i64,
}

impl Default for WindowsConfig {
    fn default() -> Self {
        Self {
            allowed_lateness_secs: Self::DEFAULT_ALLOWED_LATENESS_SECS,
            day_offset_secs: 0,
        }
    }
}

impl WindowsConfig {
    /// Default of `allowed_lateness_secs`: 10 s. Log lines reach weir a
    /// little out of order (several web workers or servers writing one
    /// stream, a shipper batching per host), typically by a few seconds; with
    /// no lateness every such line would be dropped as late. Ten seconds
    /// keeps those lines and delays a window's final value by only 10 s
    /// (Flink leaves this to the user's watermark strategy, whose examples
    /// use a few seconds of bounded out-of-orderness).
    pub const DEFAULT_ALLOWED_LATENESS_SECS: u64 = 10;

    /// Largest magnitude of `day_offset_secs`.
    pub const MAX_DAY_OFFSET_SECS: i64 = 86_399;

    /// `allowed_lateness_secs` in milliseconds, saturating at `i64::MAX`.
    pub fn allowed_lateness_ms(&self) -> i64 {
        i64::try_from(self.allowed_lateness_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// `day_offset_secs` in milliseconds.
    pub fn day_offset_ms(&self) -> i64 {
        self.day_offset_secs.saturating_mul(1000)
    }
}

/// Reads `[windows]`.
pub(super) fn read_windows(mut t: TableReader<'_>) -> WindowsConfig {
    let allowed_lateness_secs = t
        .optional::<u64>("allowed_lateness_secs")
        .unwrap_or(WindowsConfig::DEFAULT_ALLOWED_LATENESS_SECS);
    let day_offset_secs = t.optional::<i64>("day_offset_secs");
    let max = WindowsConfig::MAX_DAY_OFFSET_SECS;
    let day_offset_secs = within(&t, "day_offset_secs", day_offset_secs, -max, max).unwrap_or(0);
    WindowsConfig {
        allowed_lateness_secs,
        day_offset_secs,
    }
}
