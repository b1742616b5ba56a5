//! Aligned windows of one size with weir's lateness rule, each holding a
//! count (pv) and an exact distinct set (uv).
//!
//! A line at event time `t` belongs to the window
//! `[floor((t - offset) / size) * size + offset, + size)`; it is late, and
//! not added, when that window's end is at or before the watermark (the
//! highest event time of the valid lines before it, minus the allowed
//! lateness). A window is finished, and its set reused, once the watermark
//! passes its end: no later line can be added to it.
//!
//! pvuv's day window is a cumulative window (Flink's CUMULATE, one step a
//! minute); weir's Redis output keeps its last step, whose value is every
//! line added to the day, and a line is late for it only when the whole day
//! has closed. So for the final values a day is this same window, of size
//! one day.

use crate::set::HashSet;

/// One window's final values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// Window start, Unix milliseconds.
    pub start_ms: i64,
    /// Lines added (pv).
    pub count: u64,
    /// Distinct members added (uv).
    pub distinct: u64,
}

/// A window still open.
#[derive(Debug)]
struct Pane {
    start_ms: i64,
    count: u64,
    members: HashSet,
}

/// The windows of one size.
#[derive(Debug)]
pub struct Windows {
    size_ms: i64,
    offset_ms: i64,
    open: Vec<Pane>,
    /// Index in `open` of the last window added to: consecutive lines
    /// mostly share a window.
    last: usize,
    /// Sets of finished windows, cleared, for new ones.
    spare: Vec<HashSet>,
    finished: Vec<Finished>,
    /// Lines late for their window.
    pub late: u64,
}

impl Windows {
    /// Windows of `size_ms` starting at multiples of it shifted by `offset_ms`.
    pub fn new(size_ms: i64, offset_ms: i64) -> Self {
        Self {
            size_ms,
            offset_ms,
            open: Vec::new(),
            last: 0,
            spare: Vec::new(),
            finished: Vec::new(),
            late: 0,
        }
    }

    /// Adds one line (event time `t`, member hash) under `watermark`.
    pub fn add(&mut self, t: i64, member: u64, watermark: i64) {
        let start_ms =
            (t - self.offset_ms).div_euclid(self.size_ms) * self.size_ms + self.offset_ms;
        if start_ms + self.size_ms <= watermark {
            self.late += 1;
            return;
        }
        let index = match self.open.get(self.last) {
            Some(pane) if pane.start_ms == start_ms => self.last,
            _ => self.find_or_open(start_ms, watermark),
        };
        self.last = index;
        let pane = &mut self.open[index];
        pane.count += 1;
        pane.members.insert(member);
    }

    /// The open window starting at `start_ms`, opened if need be; windows
    /// the watermark has passed are finished first.
    fn find_or_open(&mut self, start_ms: i64, watermark: i64) -> usize {
        self.finish_before(watermark);
        if let Some(index) = self.open.iter().position(|p| p.start_ms == start_ms) {
            return index;
        }
        self.open.push(Pane {
            start_ms,
            count: 0,
            members: self.spare.pop().unwrap_or_default(),
        });
        self.open.len() - 1
    }

    /// Finishes the windows whose end is at or before `watermark`.
    pub fn finish_before(&mut self, watermark: i64) {
        let size_ms = self.size_ms;
        let mut i = 0;
        while i < self.open.len() {
            if self.open[i].start_ms + size_ms <= watermark {
                let mut pane = self.open.swap_remove(i);
                self.finished.push(Finished {
                    start_ms: pane.start_ms,
                    count: pane.count,
                    distinct: pane.members.len() as u64,
                });
                pane.members.clear();
                self.spare.push(pane.members);
            } else {
                i += 1;
            }
        }
        self.last = 0;
    }

    /// Every window's values, oldest first (the end of input closes all).
    pub fn into_finished(mut self) -> Vec<Finished> {
        self.finish_before(i64::MAX);
        self.finished.sort_unstable_by_key(|f| f.start_ms);
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_lines_are_not_added_and_windows_finish() {
        let mut minutes = Windows::new(60_000, 0);
        minutes.add(59_000, 1, i64::MIN);
        minutes.add(61_000, 2, 59_000 - 10_000);
        // Watermark 61 s - 10 s = 51 s: the first minute is still open.
        minutes.add(30_000, 2, 51_000);
        // Watermark 70 s: the first minute has closed.
        minutes.add(30_000, 3, 70_000);
        assert_eq!(minutes.late, 1);
        let done = minutes.into_finished();
        assert_eq!(
            done,
            [
                Finished {
                    start_ms: 0,
                    count: 2,
                    distinct: 2
                },
                Finished {
                    start_ms: 60_000,
                    count: 1,
                    distinct: 1
                },
            ]
        );
    }

    #[test]
    fn offsets_shift_window_starts() {
        let mut days = Windows::new(86_400_000, -28_800_000);
        days.add(0, 1, i64::MIN);
        assert_eq!(days.into_finished()[0].start_ms, -28_800_000);
    }
}
