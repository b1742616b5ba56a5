//! The loop against the in-memory store: checkpoints, end of input, a
//! restart that resumes, retries while the store is down, and a reload at a
//! batch boundary. The rules are small Rust [`RuleRunner`]s, so these run
//! without WebAssembly; the integration tests run the real thing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::{Pipeline, RunSummary, Settings};
use crate::checkpoint::MemoryStore;
use crate::config::{LimitsConfig, SourceConfig, SourceKind};
use crate::contract::raw::BatchView;
use crate::contract::{BatchOutput, Measure, MetricUpdate, Reject};
use crate::engine::Engine;
use crate::model::RuleOutput;
use crate::model::{Aggregation, Alignment, MetricSpec, RuleSpec, WindowSpec};
use crate::plugin::reload::ReloadEvent;
use crate::plugin::{ActiveRule, CallError, RuleRegistry, RuleRunner};
use crate::source::{ScriptStep, ScriptedSource, Source};

mod named;

/// Counts lines `SECONDS KEY` per key in `metric` (tumbling 60 s); any
/// other line is rejected. With `members`, counts the distinct KEYs
/// instead, in group `all`.
struct Counter {
    metric: u32,
    members: bool,
}

impl RuleRunner for Counter {
    fn process(&mut self, batch: BatchView<'_>) -> Result<RuleOutput, CallError> {
        let mut output = BatchOutput {
            updates: Vec::new(),
            rejects: Vec::new(),
        };
        for (index, record) in batch.records.iter().enumerate() {
            let start = record.payload.start as usize;
            let line = batch
                .data
                .get(start..start + record.payload.len as usize)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .unwrap_or_default();
            let parsed = line
                .split_once(' ')
                .and_then(|(secs, key)| Some((secs.parse::<i64>().ok()?, key)));
            match parsed {
                Some((secs, key)) => output.updates.push(MetricUpdate {
                    record: index as u32,
                    metric: self.metric,
                    key: if self.members { "all" } else { key }.into(),
                    measure: if self.members {
                        Measure::Member(key.into())
                    } else {
                        Measure::One
                    },
                    event_time_ms: Some(secs * 1000),
                }),
                None => output.rejects.push(Reject {
                    record: index as u32,
                    reason: format!("not `SECONDS KEY`: {line:?}"),
                }),
            }
        }
        Ok(output.into())
    }
}

fn counter_rule(name: &str, metric: &str, version: &str) -> ActiveRule {
    counting_rule(name, metric, version, false)
}

/// [`counter_rule`], or with `members` a rule counting distinct keys.
fn counting_rule(name: &str, metric: &str, version: &str, members: bool) -> ActiveRule {
    ActiveRule {
        spec: RuleSpec {
            day_offset_secs: None,
            name: name.into(),
            version: version.into(),
            metrics: vec![MetricSpec {
                name: metric.into(),
                top: None,
                alert: None,
                aggregation: if members {
                    Aggregation::Distinct
                } else {
                    Aggregation::Count
                },
                windows: vec![WindowSpec::Tumbling { size_ms: 60_000 }],
            }],
        },
        path: PathBuf::from(format!("/plugins/{name}.wasm")),
        version_hash: format!("hash-{version}"),
        loaded_at_ms: 0,
        runner: Box::new(Counter { metric: 0, members }),
        spares: Vec::new(),
    }
}

fn write_log(path: &Path, lines: &[String]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

fn file_source(path: &Path, batch_records: usize) -> SourceConfig {
    SourceConfig {
        kind: SourceKind::File {
            path: path.to_owned(),
            follow: false,
            poll_interval_ms: 10,
        },
        max_record_bytes: 1024,
        batch_records,
    }
}

fn settings(interval_ms: u64) -> Settings {
    Settings {
        checkpoint_interval: Duration::from_millis(interval_ms),
        lateness_ms: 0,
        idle_after: None,
    }
}

/// An engine running `rules`, no lateness, UTC days.
fn engine(rules: Vec<ActiveRule>, partitioned: bool) -> Engine {
    Engine::new(
        RuleRegistry::from_rules(rules),
        Alignment::new(0),
        0,
        &LimitsConfig::default(),
        partitioned,
    )
}

async fn run(
    store: &MemoryStore,
    rules: Vec<ActiveRule>,
    source: &SourceConfig,
    interval_ms: u64,
    reloads: Option<&mpsc::Receiver<ReloadEvent>>,
) -> RunSummary {
    let stop = Arc::new(AtomicBool::new(false));
    let engine = engine(rules, false);
    let mut pipeline = Pipeline::start(settings(interval_ms), engine, store.clone(), source, stop)
        .await
        .unwrap();
    pipeline.run(reloads).await.unwrap()
}

/// Runs rule `hits` over `log` in batches of 4 with `events` queued
/// before the first batch.
async fn run_reloading(store: &MemoryStore, log: &Path, events: Vec<ReloadEvent>) -> RunSummary {
    let (tx, rx) = mpsc::channel();
    for event in events {
        tx.send(event).unwrap();
    }
    let rules = vec![counter_rule("hits", "n", "1")];
    run(store, rules, &file_source(log, 4), 0, Some(&rx)).await
}

/// `count` lines per minute for `minutes` minutes from 0, keys a and b.
fn lines(minutes: i64, count: i64) -> Vec<String> {
    (0..minutes)
        .flat_map(|m| {
            (0..count)
                .map(move |i| format!("{} {}", m * 60 + i, if i % 2 == 0 { "a" } else { "b" }))
        })
        .collect()
}

fn value(store: &MemoryStore, key: &str, group: &str) -> Option<String> {
    store.output(key)?.get(group).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finite_input_is_counted_once_and_a_rerun_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hits.log");
    let mut input = lines(3, 10);
    input.insert(5, "garbage".into());
    write_log(&log, &input);
    let store = MemoryStore::new();
    let source = file_source(&log, 7);
    let summary = run(
        &store,
        vec![counter_rule("hits", "n", "1")],
        &source,
        0,
        None,
    )
    .await;
    assert_eq!(summary.rules[0].stats.records_in, 31);
    assert_eq!(summary.rules[0].stats.rejected, 1);
    assert!(
        summary.rules[0]
            .top_reject
            .as_ref()
            .is_some_and(|(reason, n)| reason.contains("garbage") && *n == 1)
    );
    assert!(
        summary.checkpoints >= 2,
        "a checkpoint per batch, then the last"
    );
    for minute in 0..3 {
        let key = format!("weir:hits:n:60:{}", minute * 60);
        assert_eq!(value(&store, &key, "a").as_deref(), Some("5"), "{key}");
        assert_eq!(value(&store, &key, "b").as_deref(), Some("5"), "{key}");
    }
    // A finished run is final: the same namespace reads nothing new.
    let again = run(
        &store,
        vec![counter_rule("hits", "n", "1")],
        &source,
        0,
        None,
    )
    .await;
    assert_eq!(
        again.rules[0].stats.records_in, 31,
        "counters restored, nothing added"
    );
    assert_eq!(value(&store, "weir:hits:n:60:0", "a").as_deref(), Some("5"));
}

/// Enough new distinct members make a checkpoint due long before its
/// interval (an hour here), so a replay does not hold them all; fewer wait
/// for the interval, or the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_new_members_make_a_checkpoint_due_before_its_interval() {
    for (members, checkpoints) in [(super::CHECKPOINT_MEMBERS + 1_000, 2..=3), (5_000, 1..=1)] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("members.log");
        let input: Vec<String> = (0..members).map(|i| format!("{} m{i}", i % 60)).collect();
        write_log(&log, &input);
        let store = MemoryStore::new();
        let rules = vec![counting_rule("uv", "uv", "1", true)];
        let summary = run(&store, rules, &file_source(&log, 1_000), 3_600_000, None).await;
        assert!(
            checkpoints.contains(&summary.checkpoints),
            "{members} members: {} checkpoints, expected {checkpoints:?}",
            summary.checkpoints
        );
        assert_eq!(
            value(&store, "weir:uv:uv:60:0", "all"),
            Some(members.to_string()),
            "every member counted once across the checkpoints"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_retried_until_the_store_is_back() {
    let store = MemoryStore::new();
    store.fail_next_sends(3);
    count_two_minutes(&store, 20, 8).await;
}

/// A store that takes 600 ms per write: due checkpoints do not wait for
/// the one in flight, so batches go on and the next checkpoint holds them
/// all, and every count is still exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_go_on_while_a_slow_store_writes_and_the_next_checkpoint_takes_them_all() {
    let store = MemoryStore::new();
    store.slow_sends(Duration::from_millis(600));
    // 25 batches of 4, a checkpoint due after each (interval 0): waiting
    // for every write would take 25 of them and 15 s.
    count_two_minutes(&store, 50, 4).await;
    assert!(
        store.checkpoints() <= 6,
        "{} checkpoints: due ones waited for the store",
        store.checkpoints()
    );
}

/// Rule `hits` over two minutes of `per_minute` lines (keys a and b in
/// turn) read in batches of `batch`, a checkpoint due after each; checks
/// that every line was read and counted once.
async fn count_two_minutes(store: &MemoryStore, per_minute: i64, batch: usize) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hits.log");
    write_log(&log, &lines(2, per_minute));
    let summary = run(
        store,
        vec![counter_rule("hits", "n", "1")],
        &file_source(&log, batch),
        0,
        None,
    )
    .await;
    assert_eq!(summary.rules[0].stats.records_in, 2 * per_minute as u64);
    let each = (per_minute / 2).to_string();
    assert_eq!(
        value(store, "weir:hits:n:60:0", "a").as_deref(),
        Some(each.as_str())
    );
    assert_eq!(
        value(store, "weir:hits:n:60:60", "b").as_deref(),
        Some(each.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_is_swapped_in_at_a_batch_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hits.log");
    write_log(&log, &lines(2, 10));
    let store = MemoryStore::new();
    // Queued before the first batch: every record goes through version 2,
    // which keeps the metric (its windows) and names its version.
    let new_version = counter_rule("hits", "n", "2");
    let summary = run_reloading(
        &store,
        &log,
        vec![ReloadEvent::Loaded(Box::new(new_version))],
    )
    .await;
    assert_eq!(summary.reloads, 1);
    assert_eq!(summary.rules.len(), 1);
    assert_eq!(summary.rules[0].stats.records_in, 20);
    assert_eq!(
        store.rule_meta("0", "hits", "version").as_deref(),
        Some("2")
    );
    assert!(
        store
            .rule_meta("0", "hits", "last_reload")
            .is_some_and(|note| note.contains("every open window kept")),
    );
    assert_eq!(value(&store, "weir:hits:n:60:0", "a").as_deref(), Some("5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_rule_is_flushed_and_an_added_one_sees_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hits.log");
    write_log(&log, &lines(1, 10));
    let store = MemoryStore::new();
    let events = vec![
        ReloadEvent::Removed(PathBuf::from("/plugins/hits.wasm")),
        ReloadEvent::Loaded(Box::new(counter_rule("other", "m", "1"))),
    ];
    let summary = run_reloading(&store, &log, events).await;
    assert_eq!(summary.reloads, 2);
    let names: Vec<&str> = summary.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["other"]);
    assert_eq!(summary.rules[0].stats.records_in, 10);
    assert_eq!(
        value(&store, "weir:other:m:60:0", "a").as_deref(),
        Some("5")
    );
    assert_eq!(
        store.rule_meta("0", "hits", "version"),
        None,
        "its checkpoint is dropped"
    );
}

/// `SECONDS KEY` on partition `partition`.
fn record(partition: u32, secs: i64, key: &str) -> (u32, Vec<u8>) {
    (partition, format!("{secs} {key}").into_bytes())
}

/// Two instances' worth of fencing with one store: partition 1 is taken
/// by "another instance" right before the checkpoint holding the second
/// batch is written. That checkpoint is refused, the lost lane is dropped
/// unwritten, the kept lane is reloaded from its last checkpoint and read
/// again from its offset, so every count stays exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_checkpoint_drops_the_lost_partition_and_rewinds_the_rest() {
    let store = MemoryStore::new();
    // A pause lets each checkpoint's write end before the next batch, so
    // one is written per step (a due checkpoint skips while one is written).
    let pause = || ScriptStep::Wait(Duration::from_millis(100));
    let steps = vec![
        // Checkpoint 1: both lanes taken.
        ScriptStep::Assign(vec![0, 1]),
        pause(),
        // Checkpoint 2: a is 10, b is 10.
        ScriptStep::Records(
            (0..10)
                .map(|i| record(0, i, "a"))
                .chain((0..10).map(|i| record(1, i, "b")))
                .collect(),
        ),
        pause(),
        // Checkpoint 3, refused: 11 more of each.
        ScriptStep::Records(
            (10..21)
                .map(|i| record(0, i, "a"))
                .chain((10..21).map(|i| record(1, i, "b")))
                .collect(),
        ),
        pause(),
        ScriptStep::Records(Vec::new()),
    ];
    store.steal_at_send("t/1", 3);
    let engine = engine(vec![counter_rule("hits", "n", "1")], true);
    let stop = Arc::new(AtomicBool::new(false));
    let mut pipeline =
        Pipeline::start_with(settings(0), engine, store.clone(), stop, |_, claims| {
            Ok(Source::Scripted(Box::new(ScriptedSource::new(
                "t", steps, claims,
            ))))
        })
        .await
        .unwrap();
    let summary = pipeline.run(None).await.unwrap();
    assert_eq!(
        value(&store, "weir:hits:n:60:0", "a").as_deref(),
        Some("21"),
        "partition 0's second batch is read again and counted once"
    );
    assert_eq!(
        value(&store, "weir:hits:n:60:0", "b").as_deref(),
        Some("10"),
        "only what partition 1 checkpointed before it was taken"
    );
    assert_eq!(
        summary.rules[0].stats.records_in, 21,
        "the kept lane's counters are restored, not doubled"
    );
}

/// Rule `days`: `SECONDS KEY` lines counted in `n` by the minute and,
/// cumulatively, by the day (published every minute).
fn day_rule() -> ActiveRule {
    let mut rule = counter_rule("days", "n", "1");
    rule.spec.metrics[0].windows.push(WindowSpec::Cumulative {
        size_ms: 86_400_000,
        step_ms: 60_000,
    });
    rule
}

/// Runs [`day_rule`], its windows aligned by `align`, over records at
/// `secs` on partition 0 of topic `t`; then, unless `finish`, stops with
/// its windows open (as SIGTERM does) instead of closing them.
async fn run_days(store: &MemoryStore, align: Alignment, secs: &[i64], finish: bool) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut steps = vec![
        ScriptStep::Assign(vec![0]),
        ScriptStep::Records(secs.iter().map(|&s| record(0, s, "a")).collect()),
    ];
    if !finish {
        let stop = stop.clone();
        steps.push(ScriptStep::Run(Box::new(move || {
            stop.store(true, Ordering::Relaxed)
        })));
    }
    let engine = Engine::new(
        RuleRegistry::from_rules(vec![day_rule()]),
        align,
        0,
        &LimitsConfig::default(),
        true,
    );
    let mut pipeline =
        Pipeline::start_with(settings(0), engine, store.clone(), stop, |_, claims| {
            Ok(Source::Scripted(Box::new(ScriptedSource::new(
                "t", steps, claims,
            ))))
        })
        .await
        .unwrap();
    pipeline.run(None).await.unwrap();
}

/// A restart with another day offset (UTC days, then UTC+8 days, whose
/// local midnight is 16:00 UTC): the minute window open across the restart
/// keeps what it held (minutes are the same in both), the open day is
/// discarded, and its checkpoint state deleted, so a later restart cannot
/// read it back as a day of the new alignment. The new alignment is
/// recorded for the next restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_another_day_offset_discards_only_the_moved_windows() {
    let store = MemoryStore::new();
    let utc8 = Alignment::new(-8 * 3600);
    // 15:50 and 15:59:50 UTC: minute 15:59 and the UTC day stay open.
    run_days(&store, Alignment::new(0), &[57_000, 57_590], false).await;
    assert_eq!(
        store.rule_meta("t/0", "days", "day_offset_ms").as_deref(),
        Some("0")
    );
    assert!(
        store
            .slot_ids("t/0", "days")
            .contains(&"n:c86400-60:c:0".to_owned()),
        "the UTC day is open in the checkpoint"
    );

    // 15:59:55 UTC: the same minute, the last of the 21st in UTC+8.
    run_days(&store, utc8, &[57_595], false).await;
    assert_eq!(
        store.rule_meta("t/0", "days", "day_offset_ms").as_deref(),
        Some("-28800000")
    );
    let slots = store.slot_ids("t/0", "days");
    assert!(
        !slots.iter().any(|id| id == "n:c86400-60:c:0"),
        "the discarded UTC day left no state: {slots:?}"
    );

    // 16:01:40 UTC, the 22nd in UTC+8; then the end closes every window.
    run_days(&store, utc8, &[57_700], true).await;
    let n = |secs: i64, start: i64| value(&store, &format!("weir:days:n:{secs}:{start}"), "a");
    assert_eq!(n(60, 57_000).as_deref(), Some("1"));
    assert_eq!(
        n(60, 57_540).as_deref(),
        Some("2"),
        "the minute open across the restart kept its record"
    );
    assert_eq!(n(60, 57_660).as_deref(), Some("1"));
    assert_eq!(
        n(86_400, 0).as_deref(),
        Some("1"),
        "the UTC day as last published: its closed minute, nothing after"
    );
    assert_eq!(
        n(86_400, -28_800).as_deref(),
        Some("1"),
        "the UTC+8 day of the 21st counts from the restart only"
    );
    assert_eq!(n(86_400, 57_600).as_deref(), Some("1"));
}
