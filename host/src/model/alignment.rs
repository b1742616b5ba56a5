//! Where windows start, for the pipeline and for each rule.

use std::collections::BTreeMap;

use super::spec::RuleSpec;
use super::window::WindowSpec;

/// Where windows start: the Unix epoch shifted by a day offset, so that day
/// windows begin at local midnight. Every window size is aligned the same
/// way, which also keeps hour windows on local hours in zones with
/// half-hour offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Alignment {
    offset_ms: i64,
}

impl Alignment {
    /// Aligns windows to UTC midnight shifted by `day_offset_secs`.
    pub fn new(day_offset_secs: i64) -> Self {
        Self {
            offset_ms: day_offset_secs * 1000,
        }
    }

    /// Start of the window of `size_ms` containing `time_ms`.
    pub fn start(&self, time_ms: i64, size_ms: i64) -> i64 {
        (time_ms - self.offset_ms).div_euclid(size_ms) * size_ms + self.offset_ms
    }

    /// The shift from the Unix epoch, in milliseconds (what a checkpoint
    /// records, to notice a restart under another alignment).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// The alignment a checkpoint recorded with [`Alignment::offset_ms`].
    pub fn from_offset_ms(offset_ms: i64) -> Self {
        Self { offset_ms }
    }

    /// Whether windows of shape `spec` start at the same instants under
    /// both alignments. Only then can open windows of one be kept under the
    /// other: UTC and UTC+8 share their minute and hour windows, not their
    /// days.
    pub fn same_windows(&self, other: Alignment, spec: WindowSpec) -> bool {
        (self.offset_ms - other.offset_ms).rem_euclid(spec.period_ms()) == 0
    }
}

/// How each rule's windows are aligned: the pipeline's alignment
/// (`[windows] day_offset_secs`) unless the rule has its own
/// (`[rules.<name>] day_offset_secs`), so one pipeline can count one rule's
/// days in UTC and another's in UTC+8.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleAlignments {
    pipeline: Alignment,
    by_rule: BTreeMap<String, Alignment>,
}

impl RuleAlignments {
    /// `pipeline` for every rule but those named in `by_rule`.
    pub fn new(pipeline: Alignment, by_rule: BTreeMap<String, Alignment>) -> Self {
        Self { pipeline, by_rule }
    }

    /// The alignment of the rule whose manifest is `spec`: the one place it
    /// is decided, when the rule is added and again for each new version.
    /// The operator's `[rules.<name>] day_offset_secs` first (it knows
    /// where the data is viewed), then the manifest's (the rule author's
    /// default, contract 0.2.0), then the pipeline's. A new version whose
    /// alignment differs is handled like a changed window (see
    /// `RuleState::migrate`).
    pub fn of(&self, spec: &RuleSpec) -> Alignment {
        self.by_rule
            .get(&spec.name)
            .copied()
            .or(spec.day_offset_secs.map(Alignment::new))
            .unwrap_or(self.pipeline)
    }
}

/// Every rule aligned the same way.
impl From<Alignment> for RuleAlignments {
    fn from(pipeline: Alignment) -> Self {
        Self::new(pipeline, BTreeMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_with_offsets() {
        let utc = Alignment::new(0);
        assert_eq!(utc.start(61_000, 60_000), 60_000);
        assert_eq!(utc.start(-1, 60_000), -60_000);
        let utc8 = Alignment::new(-8 * 3600);
        let day = 86_400_000;
        // 2026-11-21 16:00 UTC is local midnight of the 22nd in UTC+8.
        let local_midnight = 1_795_219_200_000 + 16 * 3_600_000;
        assert_eq!(utc8.start(local_midnight, day), local_midnight);
        assert_eq!(utc8.start(local_midnight - 1, day), local_midnight - day);
    }

    #[test]
    fn windows_an_offset_change_moves() {
        let (utc, utc8, india) = (
            Alignment::new(0),
            Alignment::new(-8 * 3600),
            Alignment::new(-19_800),
        );
        let minute = WindowSpec::Tumbling { size_ms: 60_000 };
        let hour = WindowSpec::Cumulative {
            size_ms: 3_600_000,
            step_ms: 600_000,
        };
        let day = WindowSpec::Cumulative {
            size_ms: 86_400_000,
            step_ms: 60_000,
        };
        let hopping_day = WindowSpec::Hopping {
            size_ms: 86_400_000,
            hop_ms: 3_600_000,
        };
        assert!(utc.same_windows(utc8, minute));
        assert!(utc.same_windows(utc8, hour));
        assert!(!utc.same_windows(utc8, day));
        assert!(utc.same_windows(utc8, hopping_day), "only hours matter");
        assert!(!utc.same_windows(india, hour), "half hours");
        // -28800 and +57600 are the same local midnight.
        assert!(utc8.same_windows(Alignment::new(57_600), day));
        assert_eq!(
            Alignment::from_offset_ms(utc8.offset_ms()),
            utc8,
            "what a checkpoint records reads back"
        );
    }

    #[test]
    fn a_rule_of_its_own_overrides_the_pipeline() {
        let spec = |name: &str| RuleSpec {
            day_offset_secs: None,
            name: name.to_owned(),
            version: "1".to_owned(),
            metrics: Vec::new(),
        };
        let alignments = RuleAlignments::new(
            Alignment::new(0),
            BTreeMap::from([("pvuv".to_owned(), Alignment::new(-28_800))]),
        );
        assert_eq!(alignments.of(&spec("pvuv")), Alignment::new(-28_800));
        assert_eq!(alignments.of(&spec("ip-count")), Alignment::new(0));
        let uniform = RuleAlignments::from(Alignment::new(3600));
        assert_eq!(uniform.of(&spec("pvuv")), Alignment::new(3600));
    }
}
