//! The `[windows]` section: event-time window settings.

use super::reader::TableReader;
use super::within;

/// The `[windows]` section: event-time window settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowsConfig {
    /// How long after a window's end, in event-time seconds, records for it
    /// are still accepted (`allowed_lateness_secs`).
    pub allowed_lateness_secs: u64,
    /// Where day windows start, as seconds from UTC midnight
    /// (`day_offset_secs`); within ±[`WindowsConfig::MAX_DAY_OFFSET_SECS`].
    /// For example -28800 puts day boundaries at local midnight in UTC+8.
    pub day_offset_secs: i64,
}

impl WindowsConfig {
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
    let allowed_lateness_secs = t.optional::<u64>("allowed_lateness_secs").unwrap_or(0);
    let day_offset_secs = t.optional::<i64>("day_offset_secs");
    let max = WindowsConfig::MAX_DAY_OFFSET_SECS;
    let day_offset_secs = within(&t, "day_offset_secs", day_offset_secs, -max, max).unwrap_or(0);
    WindowsConfig {
        allowed_lateness_secs,
        day_offset_secs,
    }
}
