//! The start of the last window a record fell in, remembered.

use crate::model::Alignment;

/// Records arrive in near time order, so a record most likely falls in the
/// window (or step) the previous one did: two compares then find its start,
/// where [`Alignment::start`] costs a 64-bit division (tens of cycles, and
/// pvuv needs three per line).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecentStart {
    /// The alignment's offset the start was found under (a rule's new
    /// version may align its windows elsewhere).
    offset_ms: i64,
    start_ms: i64,
    /// Length of the window; 0 before the first call.
    len_ms: i64,
}

impl RecentStart {
    /// What `align.start(time_ms, len_ms)` returns.
    pub fn start(&mut self, align: Alignment, time_ms: i64, len_ms: i64) -> i64 {
        let same = self.len_ms == len_ms
            && self.offset_ms == align.offset_ms()
            && time_ms >= self.start_ms
            && time_ms
                .checked_sub(self.start_ms)
                .is_some_and(|into| into < len_ms);
        if !same {
            *self = Self {
                offset_ms: align.offset_ms(),
                start_ms: align.start(time_ms, len_ms),
                len_ms,
            };
        }
        self.start_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_division() {
        let mut recent = RecentStart::default();
        let times = [0, 59_999, 60_000, -1, 119_999, 30_000, i64::MIN / 2, 61_000];
        for offset_secs in [0, -28_800, 3_600] {
            let align = Alignment::new(offset_secs);
            for len_ms in [60_000, 86_400_000] {
                for time_ms in times {
                    assert_eq!(
                        recent.start(align, time_ms, len_ms),
                        align.start(time_ms, len_ms),
                        "{time_ms} in {len_ms} aligned by {offset_secs} s"
                    );
                }
            }
        }
    }
}
