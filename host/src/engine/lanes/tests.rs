//! Unit tests of the parent module.

use super::*;
use crate::contract::{BatchOutput, Measure, MetricUpdate, Span};
use crate::model::SINGLE_LANE;

const HITS: RuleId = RuleId(7);

fn counter() -> RuleSpec {
    RuleSpec {
        day_offset_secs: None,
        name: "hits".into(),
        version: "1".into(),
        metrics: vec![crate::model::MetricSpec {
            name: "hits".into(),
            top: None,
            alert: None,
            aggregation: crate::model::Aggregation::Count,
            windows: vec![crate::model::WindowSpec::Tumbling { size_ms: 60_000 }],
        }],
    }
}

/// Lanes of rule `hits` (10 s lateness, UTC).
fn lanes(partitioned: bool) -> Lanes {
    let mut lanes = Lanes::new(10_000, partitioned);
    lanes.add_rule(HITS, counter(), Alignment::new(0));
    lanes
}

/// A batch of one record per (partition, event time), all counted.
fn run(lanes: &mut Lanes, records: &[(u32, i64)]) {
    let batch = Batch {
        sources: vec!["access".into()],
        data: Vec::new(),
        records: records
            .iter()
            .enumerate()
            .map(|(i, &(partition, _))| RecordMeta {
                payload: Span { start: 0, len: 0 },
                key: None,
                source: 0,
                partition,
                offset: i as u64,
                timestamp_ms: None,
            })
            .collect(),
    };
    let updates = records
        .iter()
        .enumerate()
        .map(|(i, &(_, time_ms))| MetricUpdate {
            record: i as u32,
            metric: 0,
            key: "all".into(),
            measure: Measure::One,
            event_time_ms: Some(time_ms),
        })
        .collect();
    let outcome = RuleOutcome {
        output: Some(
            BatchOutput {
                updates,
                rejects: Vec::new(),
            }
            .into(),
        ),
        ..RuleOutcome::new(HITS)
    };
    lanes.apply(&batch, vec![outcome]);
}

fn stats(lanes: &Lanes, lane: &str) -> RuleStats {
    lanes
        .iter()
        .find(|(name, _)| *name == lane)
        .and_then(|(_, states)| states.get(HITS))
        .map(|state| state.stats)
        .unwrap()
}

/// Lateness is judged per partition: a record that is old for its own
/// partition is late, the same event time on a partition that is behind
/// is not, however the partitions interleave in a batch.
#[test]
fn each_partition_has_its_own_watermark() {
    let mut lanes = lanes(true);
    run(
        &mut lanes,
        &[(0, 600_000), (1, 5_000), (0, 5_000), (1, 6_000)],
    );
    let p0 = stats(&lanes, "access/0");
    let p1 = stats(&lanes, "access/1");
    assert_eq!((p0.records_in, p0.late), (2, 1));
    assert_eq!((p1.records_in, p1.late), (2, 0));
}

/// Unpartitioned sources keep one lane whatever the partition field.
#[test]
fn a_file_is_one_lane() {
    let mut lanes = lanes(false);
    run(&mut lanes, &[(0, 600_000), (1, 5_000)]);
    let one = stats(&lanes, SINGLE_LANE);
    assert_eq!((one.records_in, one.late), (2, 1));
}

/// A reload reports a metric whose open windows it discarded in any
/// lane, once, whichever lane comes last.
#[test]
fn a_reload_reports_windows_discarded_in_any_lane_once() {
    let mut lanes = lanes(true);
    let minutes = counter();
    let mut five_minutes = minutes.clone();
    five_minutes.metrics[0].windows = vec![crate::model::WindowSpec::Tumbling { size_ms: 300_000 }];
    // Partition 1 has no records (so no open windows) and sorts last.
    run(&mut lanes, &[(0, 600_000)]);
    lanes.get_or_insert("access/1");
    assert_eq!(
        lanes.replace_rule(HITS, five_minutes, Alignment::new(0)),
        ["hits"]
    );
    // Both partitions hold open windows.
    run(&mut lanes, &[(0, 700_000), (1, 700_000)]);
    assert_eq!(
        lanes.replace_rule(HITS, minutes, Alignment::new(0)),
        ["hits"]
    );
}
