//! Window shapes and how an event time maps onto them.

use std::fmt;

use super::alignment::Alignment;

/// The shape of a metric's windows. Sizes are kept in milliseconds, as event
/// time is; the manifest gives them in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowSpec {
    /// Back-to-back windows.
    Tumbling {
        /// Window length.
        size_ms: i64,
    },
    /// Overlapping windows of `size_ms`, one starting every `hop_ms`.
    Hopping {
        /// Window length.
        size_ms: i64,
        /// Distance between starts.
        hop_ms: i64,
    },
    /// A window of `size_ms` whose value so far is published every `step_ms`.
    ///
    /// Kept as step panes that merge into the whole window when the
    /// watermark passes them, so each published value covers exactly the
    /// records before a step boundary, whatever the batch timing.
    Cumulative {
        /// Whole window length.
        size_ms: i64,
        /// Publication step.
        step_ms: i64,
    },
}

impl WindowSpec {
    /// Length of the whole window in seconds: the `S` of output keys.
    pub fn size_secs(&self) -> i64 {
        self.size_ms() / 1000
    }

    /// Length of the whole window.
    pub fn size_ms(&self) -> i64 {
        match *self {
            Self::Tumbling { size_ms }
            | Self::Hopping { size_ms, .. }
            | Self::Cumulative { size_ms, .. } => size_ms,
        }
    }

    /// Calls `each(start)` for every window (for cumulative: every step
    /// pane) `time_ms` falls in.
    pub fn for_each_slot(&self, align: Alignment, time_ms: i64, mut each: impl FnMut(i64)) {
        match *self {
            Self::Tumbling { size_ms } => each(align.start(time_ms, size_ms)),
            Self::Hopping { size_ms, hop_ms } => {
                let last = align.start(time_ms, hop_ms);
                let mut start = last - size_ms + hop_ms;
                while start <= last {
                    each(start);
                    start += hop_ms;
                }
            }
            Self::Cumulative { step_ms, .. } => each(align.start(time_ms, step_ms)),
        }
    }

    /// The distance between two window starts that every start of this
    /// shape is a multiple of (from the alignment's origin): the size of
    /// tumbling and cumulative windows (a step divides its window), the hop
    /// of hopping ones. Two alignments whose offsets differ by a multiple
    /// of it give this shape the same windows.
    pub fn period_ms(&self) -> i64 {
        match *self {
            Self::Tumbling { size_ms } | Self::Cumulative { size_ms, .. } => size_ms,
            Self::Hopping { hop_ms, .. } => hop_ms,
        }
    }

    /// Length of the slots records are added to (the step for cumulative).
    pub fn slot_ms(&self) -> i64 {
        match *self {
            Self::Tumbling { size_ms } | Self::Hopping { size_ms, .. } => size_ms,
            Self::Cumulative { step_ms, .. } => step_ms,
        }
    }
}

/// A stable text form, used to name checkpoint keys: `t60`, `h300-60`, `c86400-60`.
impl fmt::Display for WindowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Tumbling { size_ms } => write!(f, "t{}", size_ms / 1000),
            Self::Hopping { size_ms, hop_ms } => write!(f, "h{}-{}", size_ms / 1000, hop_ms / 1000),
            Self::Cumulative { size_ms, step_ms } => {
                write!(f, "c{}-{}", size_ms / 1000, step_ms / 1000)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hopping_slots() {
        let spec = WindowSpec::Hopping {
            size_ms: 300_000,
            hop_ms: 60_000,
        };
        let mut starts = Vec::new();
        spec.for_each_slot(Alignment::new(0), 600_500, |s| starts.push(s));
        assert_eq!(starts, [360_000, 420_000, 480_000, 540_000, 600_000]);
    }

    #[test]
    fn display_names() {
        assert_eq!(
            WindowSpec::Cumulative {
                size_ms: 86_400_000,
                step_ms: 60_000
            }
            .to_string(),
            "c86400-60"
        );
    }
}
