//! Unit tests of the parent module.

use super::*;
use crate::contract::{self, BatchOutput, Measure, MetricUpdate};
use crate::state::slot::SlotKind;

fn pvuv() -> RuleSpec {
    let manifest = contract::Manifest {
        day_offset_secs: None,
        name: "pvuv".into(),
        version: "1".into(),
        metrics: vec![
            contract::Metric {
                name: "pv".into(),
                aggregation: contract::Aggregation::Count,
                top: None,
                alert: None,
                windows: vec![
                    contract::Window::Tumbling(60),
                    contract::Window::Cumulative(contract::CumulativeWindow {
                        size_secs: 86_400,
                        step_secs: 60,
                    }),
                ],
            },
            contract::Metric {
                name: "uv".into(),
                aggregation: contract::Aggregation::Distinct,
                top: None,
                alert: None,
                windows: vec![contract::Window::Cumulative(contract::CumulativeWindow {
                    size_secs: 86_400,
                    step_secs: 60,
                })],
            },
        ],
    };
    RuleSpec::from_manifest(&manifest).unwrap()
}

fn update(metric: u32, measure: Measure, time_ms: i64) -> MetricUpdate {
    MetricUpdate {
        record: 0,
        metric,
        key: "total".into(),
        measure,
        event_time_ms: Some(time_ms),
    }
}

fn apply(state: &mut RuleState, updates: Vec<MetricUpdate>) {
    let batch = contract::Batch {
        sources: vec!["test".to_owned()],
        data: Vec::new(),
        records: vec![contract::RecordMeta {
            payload: contract::Span { start: 0, len: 0 },
            key: None,
            source: 0,
            partition: 0,
            offset: 0,
            timestamp_ms: None,
        }],
    };
    state.apply(
        &batch,
        None,
        &BatchOutput {
            updates,
            rejects: Vec::new(),
        }
        .into(),
    );
}

fn member(i: u64) -> Measure {
    Measure::Member(format!("10.0.{}.{}", i / 256, i % 256).into())
}

/// A checkpoint carries what changed: after a day window gathers 50,000
/// members, one more member costs one 8-byte hash, not the set.
#[test]
fn checkpoint_cost_follows_changes() {
    let mut state = RuleState::new(&pvuv(), Alignment::new(0), 10_000);
    apply(
        &mut state,
        (0..50_000).map(|i| update(1, member(i), 1_000)).collect(),
    );
    let first: usize = state
        .drain_changes()
        .iter()
        .flat_map(|c| &c.slots)
        .flat_map(|s| &s.groups)
        .map(|g| g.new_members.len())
        .sum();
    assert_eq!(first, 50_000 * 8);
    apply(
        &mut state,
        vec![
            update(1, member(70_000), 2_000),
            update(1, member(3), 2_000),
        ],
    );
    let changes = state.drain_changes();
    let appended: usize = changes
        .iter()
        .flat_map(|c| &c.slots)
        .flat_map(|s| &s.groups)
        .map(|g| g.new_members.len())
        .sum();
    assert_eq!(appended, 8);
    assert!(
        state.drain_changes().is_empty(),
        "nothing changed, nothing to write"
    );
}

/// The day value (`pv`, cumulative) each drain publishes, if it changed:
/// (whether the day closed, value).
fn published_day(changes: &[MetricChanges]) -> Option<(bool, String)> {
    changes
        .iter()
        .filter(|c| c.metric == 0 && c.window == 1)
        .flat_map(|c| &c.slots)
        .filter(|s| s.kind == SlotKind::Total)
        .find_map(|s| Some((s.closed, s.groups.first()?.output.clone()?)))
}

/// A cumulative window publishes, at each step, the records before the
/// step's end that arrived while the step was open; a record late for
/// its own step but not for the day joins the next step published.
#[test]
fn cumulative_steps_and_lateness() {
    let mut state = RuleState::new(&pvuv(), Alignment::new(0), 10_000);
    let one = || Measure::One;
    // Minute 0: two records; then time moves to 65 s (watermark 55 s: minute 0 open).
    apply(
        &mut state,
        vec![
            update(0, one(), 1_000),
            update(0, one(), 59_000),
            update(0, one(), 65_000),
        ],
    );
    assert_eq!(
        published_day(&state.drain_changes()),
        None,
        "no step has closed yet"
    );
    // 70 s: watermark 60 s closes minute 0; its pane (2 records) merges into the day.
    apply(&mut state, vec![update(0, one(), 70_000)]);
    assert_eq!(
        published_day(&state.drain_changes()),
        Some((false, "2".into()))
    );
    // A record for minute 0 is now late for the minute, not for the day;
    // the published minute-0 value does not change.
    apply(&mut state, vec![update(0, one(), 30_000)]);
    assert_eq!(state.stats.late, 1);
    assert_eq!(published_day(&state.drain_changes()), None);
    state.close_all();
    assert_eq!(
        published_day(&state.drain_changes()),
        Some((true, "5".into()))
    );
}

/// A record 10 minutes late within an open day counts in the steps still
/// open and the day's final value, not in the steps already published.
#[test]
fn ten_minutes_late_in_an_open_day() {
    let mut state = RuleState::new(&pvuv(), Alignment::new(0), 10_000);
    let minute = |m: i64| m * 60_000 + 30_000;
    // One record in each of minutes 0..=10; watermark 10:20 closes 0..=9.
    apply(
        &mut state,
        (0..=10)
            .map(|m| update(0, Measure::One, minute(m)))
            .collect(),
    );
    assert_eq!(
        published_day(&state.drain_changes()),
        Some((false, "10".into()))
    );
    // 0:30 arrives 10 minutes late: the steps ending at 1:00..10:00 are
    // published and keep their values.
    apply(&mut state, vec![update(0, Measure::One, minute(0))]);
    assert_eq!(state.stats.late, 1, "late for its minute only");
    assert_eq!(published_day(&state.drain_changes()), None);
    // Minute 10 closes: its step counts 10:30 and the late 0:30.
    apply(&mut state, vec![update(0, Measure::One, minute(11))]);
    assert_eq!(
        published_day(&state.drain_changes()),
        Some((false, "12".into()))
    );
    state.close_all();
    assert_eq!(
        published_day(&state.drain_changes()),
        Some((true, "13".into()))
    );
    assert_eq!(state.stats.late, 1);
}

/// A record for a day the watermark has passed is late for the day (and
/// its minute) and changes nothing.
#[test]
fn closed_day_is_late() {
    let mut state = RuleState::new(&pvuv(), Alignment::new(0), 10_000);
    apply(&mut state, vec![update(0, Measure::One, 50_000)]);
    // 00:00:20 of the next day: watermark 00:00:10 closes day 0.
    apply(&mut state, vec![update(0, Measure::One, 86_420_000)]);
    let closed = published_day(&state.drain_changes());
    assert_eq!(closed, Some((true, "1".into())));
    apply(&mut state, vec![update(0, Measure::One, 86_399_000)]);
    assert_eq!(state.stats.late, 2, "late for its minute and its day");
    state.close_all();
    let days: Vec<_> = state
        .drain_changes()
        .iter()
        .filter(|c| c.metric == 0 && c.window == 1)
        .flat_map(|c| &c.slots)
        .filter(|s| s.kind == SlotKind::Total)
        .map(|s| (s.start_ms, s.groups[0].output.clone().unwrap()))
        .collect();
    assert_eq!(days, [(86_400_000, "1".to_owned())]);
}

/// The same input publishes the same step values whatever the batch
/// boundaries (a batch that closes several steps publishes only the
/// last), and they equal Flink's CUMULATE computed step by step: a step
/// counts the records before its end that arrived while it was open.
#[test]
fn step_values_do_not_depend_on_batches() {
    // 40 minutes around midnight, 1 s apart; some up to 14 s out of
    // order, some 2 to 10 minutes late, a few a day late.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let times: Vec<i64> = (0..2_400)
        .map(|i| {
            let t = 86_400_000 - 1_200_000 + i * 1_000;
            match next(100) {
                0..=9 => t - next(14_000) as i64,
                10..=12 => t - 120_000 - next(480_000) as i64,
                13 => t - 86_400_000,
                _ => t,
            }
        })
        .collect();
    // Brute force: the watermark each record arrived with.
    let arrivals: Vec<(i64, i64)> = times
        .iter()
        .scan(None::<i64>, |max, &t| {
            let wm = max.map_or(i64::MIN, |m| m - 10_000);
            *max = Some(max.map_or(t, |m| m.max(t)));
            Some((t, wm))
        })
        .collect();
    let expected = |day: i64, end: i64| {
        arrivals
            .iter()
            .filter(|&&(t, wm)| t >= day && t < end && wm < end)
            .count()
            .to_string()
    };
    let mut runs = Vec::new();
    for batch in [1, 7, 100, times.len()] {
        let mut state = RuleState::new(&pvuv(), Alignment::new(0), 10_000);
        let mut published = Vec::new();
        let mut publish = |state: &mut RuleState| {
            let first_open = state.alignment().start(state.watermark.current(), 60_000);
            for change in state.drain_changes() {
                for slot in change.slots.iter().filter(|s| s.kind == SlotKind::Total) {
                    if change.metric != 0 {
                        continue;
                    }
                    let end = if slot.closed {
                        slot.start_ms + 86_400_000
                    } else {
                        first_open
                    };
                    if let Some(group) = slot.groups.first() {
                        let value = group.output.clone().unwrap();
                        published.push((slot.start_ms, end, value));
                    }
                }
            }
        };
        for chunk in times.chunks(batch) {
            apply(
                &mut state,
                chunk.iter().map(|&t| update(0, Measure::One, t)).collect(),
            );
            publish(&mut state);
        }
        state.close_all();
        publish(&mut state);
        for (day, end, value) in &published {
            assert_eq!(
                *value,
                expected(*day, *end),
                "batch {batch}, step ending {end}"
            );
        }
        runs.push(published);
    }
    assert!(
        runs[0].len() >= 40,
        "every minute published: {}",
        runs[0].len()
    );
    assert!(
        runs[1..]
            .iter()
            .all(|run| run.iter().all(|p| runs[0].contains(p)))
    );
}

/// A new alignment (the rule's day offset changed) keeps the windows it
/// does not move and discards the others: the minute windows stay, the
/// day windows (of both metrics) are named and lose their open state,
/// which the next checkpoint deletes without writing any output.
#[test]
fn a_new_alignment_discards_only_the_windows_it_moves() {
    let mut state = RuleState::new(&pvuv(), Alignment::new(0), 10_000);
    apply(
        &mut state,
        vec![
            update(0, Measure::One, 1_000),
            update(0, Measure::One, 65_000),
            update(1, member(1), 65_000),
        ],
    );
    // Checkpointed: the open slots are persisted.
    let _ = state.drain_changes();
    let minutes = |state: &RuleState| -> Vec<i64> {
        state.metrics[0].windows[0]
            .open_slots()
            .map(|(_, start, _)| start)
            .collect()
    };
    assert_eq!(minutes(&state), [0, 60_000]);

    let (mut same, discarded) = state.clone().migrate(&pvuv(), Alignment::new(0));
    assert!(discarded.is_empty(), "{discarded:?}");
    assert!(same.drain_changes().is_empty());

    let (mut next, discarded) = state.migrate(&pvuv(), Alignment::new(-28_800));
    assert_eq!(discarded, ["pv", "uv"]);
    assert_eq!(next.alignment(), Alignment::new(-28_800));
    assert_eq!(minutes(&next), [0, 60_000], "minute windows kept");
    assert_eq!(next.metrics[0].windows[1].open_slots().count(), 0);
    assert_eq!(next.metrics[1].windows[0].open_slots().count(), 0);
    let changes = next.drain_changes();
    let deleted: Vec<(usize, SlotKind, i64, Vec<String>)> = changes
        .iter()
        .flat_map(|c| c.slots.iter().map(move |s| (c.metric, s)))
        .inspect(|(_, s)| {
            assert!(s.closed && s.persisted && s.groups.is_empty(), "{s:?}");
        })
        .map(|(metric, s)| (metric, s.kind, s.start_ms, s.distinct_groups.clone()))
        .collect();
    assert_eq!(
        deleted,
        [
            (0, SlotKind::Pane, 0, vec![]),
            (0, SlotKind::Pane, 60_000, vec![]),
            (1, SlotKind::Pane, 60_000, vec!["total".to_owned()]),
        ]
    );
}

/// A new version that changes a metric's aggregation but keeps its name and
/// windows deletes the old open windows' checkpoint state at the next
/// checkpoint (before the new ones write theirs): a restart would otherwise
/// read the count's state back as the sum's.
#[test]
fn a_changed_aggregation_deletes_the_old_checkpoint_state() {
    let mut state = RuleState::new(&pvuv(), Alignment::new(0), 10_000);
    apply(&mut state, vec![update(0, Measure::One, 65_000)]);
    let _ = state.drain_changes();

    let mut manifest_spec = pvuv();
    manifest_spec.metrics[0].aggregation = crate::model::Aggregation::Sum;
    let (mut next, discarded) = state.migrate(&manifest_spec, Alignment::new(0));
    assert_eq!(discarded, ["pv"]);
    apply(&mut next, vec![update(0, Measure::Number(2.5), 66_000)]);
    let changes = next.drain_changes();
    let pv_minute: Vec<(bool, bool, usize)> = changes
        .iter()
        .filter(|c| c.metric == 0 && c.window == 0)
        .flat_map(|c| &c.slots)
        .filter(|s| s.start_ms == 60_000)
        .map(|s| (s.closed, s.persisted, s.groups.len()))
        .collect();
    // The count's persisted slot is deleted, then the sum's new one written.
    assert_eq!(pv_minute, [(true, true, 0), (false, false, 1)]);
    // Nothing left to delete at the checkpoint after.
    assert!(next.drain_changes().is_empty());
}
