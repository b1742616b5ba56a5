//! Unit tests of the parent module.

use std::collections::BTreeSet;

use super::*;
use crate::state::distinct::{DistinctSet, hash_member};

const STEP_MS: i64 = 60_000;
const DAY_MS: i64 = 600_000;

fn day_windows() -> MetricWindows {
    MetricWindows::new(
        WindowSpec::Cumulative {
            size_ms: DAY_MS,
            step_ms: STEP_MS,
        },
        Aggregation::Distinct,
    )
}

fn member(i: u64) -> Contribution {
    Contribution::member(&format!("10.0.{}.{}", i / 256, i % 256))
}

/// Step `step`'s members: a window of ids that slides by 40 a step, so
/// most of a step's members were already seen in earlier steps.
fn step_members(step: u64) -> std::ops::Range<u64> {
    step * 40..step * 40 + 100
}

/// What each drain of the day (`Total`) slot and of the panes says, step
/// after step: (day value, hashes the panes added for the checkpoint).
fn run(windows: &mut MetricWindows) -> Vec<(String, usize)> {
    let align = Alignment::new(0);
    let mut watermark = Watermark::new(0);
    let mut published = Vec::new();
    for step in 0..5 {
        let time_ms = step as i64 * STEP_MS + 1_000;
        for i in step_members(step) {
            let late = windows
                .add(align, &watermark, "total", member(i), time_ms)
                .unwrap();
            assert_eq!(late, 0);
        }
        // A checkpoint while the step is open writes its pane's members.
        let mut changes = Vec::new();
        windows.drain_changes(&mut changes);
        let pane_hashes = changes
            .iter()
            .filter(|c| c.kind == SlotKind::Pane)
            .flat_map(|c| &c.groups)
            .map(|g| g.new_members.len() / 8)
            .sum();
        watermark.observe(time_ms + STEP_MS);
        windows.advance(align, &watermark);
        changes.clear();
        windows.drain_changes(&mut changes);
        let day = changes
            .iter()
            .filter(|c| c.kind == SlotKind::Total)
            .flat_map(|c| &c.groups)
            .find_map(|g| g.output.clone())
            .unwrap_or_default();
        published.push((day, pane_hashes));
    }
    published
}

/// A member the day already holds does not go into a step pane again, and
/// the published day values are the distinct counts of everything before
/// each step's end.
#[test]
fn cumulative_distinct_panes_hold_only_members_new_to_the_day() {
    let published = run(&mut day_windows());
    let mut seen = BTreeSet::new();
    let mut expected = Vec::new();
    for step in 0..5 {
        let before = seen.len();
        seen.extend(step_members(step));
        // A step's pane is checkpointed while open with every member the
        // day did not hold when it came.
        expected.push((seen.len().to_string(), seen.len() - before));
    }
    assert_eq!(published, expected);
}

/// Panes restored from a checkpoint written before members were filtered
/// (a pane holding members its day already has) merge to the same values.
#[test]
fn restored_full_panes_merge_to_the_same_day() {
    let mut windows = day_windows();
    let mut day = DistinctSet::new();
    let mut pane = DistinctSet::new();
    for i in 0..100 {
        day.insert_hash(hash_member(format!("10.0.0.{i}").as_bytes()));
    }
    for i in 50..150 {
        pane.insert_hash(hash_member(format!("10.0.0.{i}").as_bytes()));
    }
    windows.restore(SlotKind::Total, 0, "total", Aggregate::Distinct(day));
    windows.restore(SlotKind::Pane, STEP_MS, "total", Aggregate::Distinct(pane));
    let mut watermark = Watermark::new(0);
    watermark.observe(2 * STEP_MS);
    windows.advance(Alignment::new(0), &watermark);
    let (_, _, total) = windows
        .open_slots()
        .find(|(kind, _, _)| *kind == SlotKind::Total)
        .unwrap();
    let values: Vec<String> = total.groups().map(|(_, agg)| agg.render()).collect();
    assert_eq!(values, ["150"]);
}

/// A closed step pane keeps its keys, for the checkpoint that deletes its
/// stored members, but not its members: those are in the day now.
#[test]
fn a_closed_pane_frees_its_members_and_still_names_its_keys() {
    let mut windows = day_windows();
    let align = Alignment::new(0);
    let mut watermark = Watermark::new(0);
    for i in 0..500 {
        windows
            .add(align, &watermark, "total", member(i), 1_000)
            .unwrap();
    }
    let mut changes = Vec::new();
    windows.drain_changes(&mut changes);
    watermark.observe(1_000 + STEP_MS);
    windows.advance(align, &watermark);
    let [(SlotKind::Pane, 0, pane)] = &windows.closed[..] else {
        panic!("one closed pane expected");
    };
    let held: usize = pane
        .groups()
        .map(|(_, agg)| match agg {
            Aggregate::Distinct(set) => set.heap_bytes(),
            _ => 0,
        })
        .sum();
    assert_eq!(held, 0);
    changes.clear();
    windows.drain_changes(&mut changes);
    let closed = changes
        .iter()
        .find(|c| c.kind == SlotKind::Pane && c.closed)
        .unwrap();
    assert_eq!(closed.distinct_groups, ["total"]);
    let day = changes
        .iter()
        .filter(|c| c.kind == SlotKind::Total)
        .flat_map(|c| &c.groups)
        .find_map(|g| g.output.clone());
    assert_eq!(day.as_deref(), Some("500"));
}
