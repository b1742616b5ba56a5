//! Unit tests of the engine: routing records to the rules that see them.

use std::collections::BTreeMap;

use weir_sdk::prelude::*;

use super::*;
use crate::contract::{RecordMeta, Span};
use crate::model::{RuleAlignments, SINGLE_LANE};
use crate::state::slot::SlotKind;

/// Counts every record under its own text, at the source's timestamp (no
/// event time of its own); rejects records saying `bad`.
macro_rules! line_counter {
    ($rule:ident, $name:literal) => {
        struct $rule;

        impl Rule for $rule {
            type Config = NoConfig;

            fn manifest() -> Manifest {
                Manifest::new($name, "1").metric(Metric::count("lines").tumbling(60))
            }

            fn new(_config: NoConfig) -> Result<Self> {
                Ok($rule)
            }

            fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
                let text = record.text()?;
                if text.contains("bad") {
                    return Err(Error::msg("bad line"));
                }
                out.count("lines", text, None);
                Ok(())
            }
        }
    };
}

line_counter!(Everything, "everything");
line_counter!(AccessOnly, "access-only");

/// Counts every record under `total` by the day, at the source's timestamp.
macro_rules! day_counter {
    ($rule:ident, $name:literal) => {
        struct $rule;

        impl Rule for $rule {
            type Config = NoConfig;

            fn manifest() -> Manifest {
                Manifest::new($name, "1").metric(Metric::count("lines").tumbling(DAY_SECS))
            }

            fn new(_config: NoConfig) -> Result<Self> {
                Ok($rule)
            }

            fn process(&mut self, _record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
                out.count("lines", "total", None);
                Ok(())
            }
        }
    };
}

day_counter!(UtcDays, "utc-days");
day_counter!(LocalDays, "local-days");

/// A batch of records (topic, partition, text, Kafka timestamp), the topics
/// being `access` (source 0) and `audit` (source 1).
fn batch(records: &[(u32, u32, &str, i64)]) -> Batch {
    let mut batch = Batch {
        sources: vec!["access".to_owned(), "audit".to_owned()],
        data: Vec::new(),
        records: Vec::new(),
    };
    for (offset, &(source, partition, text, timestamp_ms)) in records.iter().enumerate() {
        batch.records.push(RecordMeta {
            payload: Span {
                start: batch.data.len() as u32,
                len: text.len() as u32,
            },
            key: None,
            source,
            partition,
            offset: offset as u64,
            timestamp_ms: Some(timestamp_ms),
        });
        batch.data.extend_from_slice(text.as_bytes());
    }
    batch
}

/// `everything` sees every topic, `access-only` is routed to `access`.
fn engine() -> Engine {
    routed_pair(ActiveRule::native::<Everything>("{}").unwrap())
}

/// `first`, which sees every topic, and `access-only`, routed to `access`.
fn routed_pair(first: ActiveRule) -> Engine {
    let rules = vec![first, ActiveRule::native::<AccessOnly>("{}").unwrap()];
    let routes = BTreeMap::from([(
        "access-only".to_owned(),
        Route::topics(vec!["access".to_owned()]),
    )]);
    Engine::new(
        RuleRegistry::from_rules(rules),
        Alignment::new(0),
        0,
        &LimitsConfig::default(),
        true,
    )
    .with_routes(routes)
}

/// Closes every window; returns rule `name`'s counts per lane, window start
/// and group (the record's text).
fn counts(engine: &mut Engine, name: &str) -> BTreeMap<(String, i64, String), String> {
    let id = engine.find_by_name(name).unwrap();
    engine.close_all();
    let mut counts = BTreeMap::new();
    for (lane, states) in engine.lanes.iter_mut() {
        let state = states.get_mut(id).unwrap();
        for change in state.drain_changes() {
            for slot in change.slots.iter().filter(|s| s.kind != SlotKind::Pane) {
                for group in &slot.groups {
                    counts.insert(
                        (lane.to_owned(), slot.start_ms, group.key.clone()),
                        group.output.clone().unwrap_or_default(),
                    );
                }
            }
        }
    }
    counts
}

/// A rule with `topics` gets only those topics' records, whether a batch
/// mixes topics or holds only records it does not see; the records it does
/// not see are not its input (not counted, not rejected), and what it makes
/// of the records it sees lands in their own lanes, at their own
/// timestamps. A rule without `topics` sees everything.
#[test]
fn a_rule_sees_only_its_topics() {
    let mut engine = engine();
    let minute = 60_000;
    engine.process(&batch(&[
        (1, 0, "a1", 5 * minute),
        (0, 0, "x1", minute),
        (1, 0, "bad audit", 5 * minute),
        (0, 1, "x2", 2 * minute),
        (0, 1, "bad access", 2 * minute),
        (1, 0, "a2", 6 * minute),
    ]));
    // A batch of one audit partition: no record for `access-only`.
    engine.process(&batch(&[(1, 1, "a3", 7 * minute)]));
    // One access partition.
    engine.process(&batch(&[(0, 1, "x3", 3 * minute)]));

    let everything = engine.totals(engine.find_by_name("everything").unwrap());
    assert_eq!(
        (
            everything.records_in,
            everything.rejected,
            everything.updates
        ),
        (8, 2, 6)
    );
    let access = engine.totals(engine.find_by_name("access-only").unwrap());
    assert_eq!(
        (access.records_in, access.rejected, access.updates),
        (4, 1, 3),
        "only the access records are the routed rule's input"
    );
    assert_eq!(
        (access.late, access.no_event_time, access.quarantined),
        (0, 0, 0)
    );

    let lane = |name: &str, id: RuleId| -> RuleStats {
        engine
            .lanes
            .iter()
            .find(|(lane, _)| *lane == name)
            .and_then(|(_, states)| states.get(id))
            .map(|state| state.stats)
            .unwrap_or_default()
    };
    let access_id = engine.find_by_name("access-only").unwrap();
    assert_eq!(lane("access/0", access_id).records_in, 1);
    assert_eq!(
        (
            lane("access/1", access_id).records_in,
            lane("access/1", access_id).rejected
        ),
        (3, 1),
        "the reject counts in the lane of the record rejected"
    );
    assert_eq!(lane("audit/0", access_id), RuleStats::default());
    assert_eq!(lane("audit/1", access_id), RuleStats::default());

    let expected: BTreeMap<(String, i64, String), String> = [
        ("access/0", minute, "x1"),
        ("access/1", 2 * minute, "x2"),
        ("access/1", 3 * minute, "x3"),
    ]
    .into_iter()
    .map(|(lane, start, key)| ((lane.to_owned(), start, key.to_owned()), "1".to_owned()))
    .collect();
    assert_eq!(counts(&mut engine, "access-only"), expected);
    let everything = counts(&mut engine, "everything");
    assert_eq!(everything.len(), 6);
    assert_eq!(
        everything.get(&("audit/0".to_owned(), 6 * minute, "a2".to_owned())),
        Some(&"1".to_owned())
    );
}

/// Two rules over the same records: `utc-days` counts UTC days (the
/// pipeline's alignment), `local-days` days from local midnight in UTC+8
/// (its own). Each rule's day windows start where its own alignment says,
/// also for a rule added while running (as a hot reload adds one).
#[test]
fn each_rule_counts_days_in_its_own_time_zone() {
    let hour = 3_600_000;
    // 2026-11-21 00:00 UTC.
    let day = 1_795_219_200_000;
    let alignments = RuleAlignments::new(
        Alignment::new(0),
        BTreeMap::from([("local-days".to_owned(), Alignment::new(-8 * 3600))]),
    );
    let mut engine = Engine::new(
        RuleRegistry::from_rules(vec![ActiveRule::native::<UtcDays>("{}").unwrap()]),
        alignments,
        0,
        &LimitsConfig::default(),
        false,
    );
    let local = engine.add_rule(ActiveRule::native::<LocalDays>("{}").unwrap());
    let utc = engine.find_by_name("utc-days").unwrap();
    assert_eq!(engine.alignment(utc), Some(Alignment::new(0)));
    assert_eq!(engine.alignment(local), Some(Alignment::new(-28_800)));

    // 10:00 and 15:59 UTC are the 21st in UTC+8; 16:00 and 23:00 UTC the 22nd.
    engine.process(&batch(&[
        (0, 0, "a", day + 10 * hour),
        (0, 0, "b", day + 16 * hour - 60_000),
        (0, 0, "c", day + 16 * hour),
        (0, 0, "d", day + 23 * hour),
    ]));
    let expect = |days: &[(i64, &str)]| -> BTreeMap<(String, i64, String), String> {
        days.iter()
            .map(|&(start, n)| {
                let key = (SINGLE_LANE.to_owned(), start, "total".to_owned());
                (key, n.to_owned())
            })
            .collect()
    };
    assert_eq!(counts(&mut engine, "utc-days"), expect(&[(day, "4")]));
    assert_eq!(
        counts(&mut engine, "local-days"),
        expect(&[(day - 8 * hour, "2"), (day + 16 * hour, "2")])
    );
}

/// Counts records by text; rejects `bad` ones and fails (a trap, which
/// dead-letters the record) on `boom` ones.
struct Fussy;

impl Rule for Fussy {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("fussy", "1").metric(Metric::count("lines").tumbling(60))
    }

    fn new(_config: NoConfig) -> Result<Self> {
        Ok(Fussy)
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let text = record.text()?;
        if text.contains("bad") {
            return Err(Error::msg("bad line"));
        }
        assert!(!text.contains("boom"), "the rule fails on {text}");
        out.count("lines", text, None);
        Ok(())
    }
}

/// Cutting batches over any number of threads gives what one thread
/// gives: the same windows, counters, rejects and dead letters (with the
/// records' own offsets), whether the batch splits evenly or not.
#[test]
fn any_number_of_threads_gives_the_results_of_one() {
    let texts: Vec<String> = (0..2_500)
        .map(|i| match i {
            _ if i % 97 == 13 => format!("bad {i}"),
            _ if i % 900 == 7 => format!("boom {i}"),
            _ => format!("k{}", i % 37),
        })
        .collect();
    let records: Vec<(u32, u32, &str, i64)> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            (
                (i % 2) as u32,
                (i % 3) as u32,
                text.as_str(),
                i as i64 * 700,
            )
        })
        .collect();
    let batches: Vec<Batch> = records.chunks(1_001).map(batch).collect();
    let run = |threads: usize| {
        let mut engine =
            routed_pair(ActiveRule::native::<Fussy>("{}").unwrap()).with_threads(threads);
        for batch in &batches {
            let (mut calls, lanes) = engine.parts();
            let outcomes = calls.run_parallel(batch);
            lanes.apply(batch, outcomes);
        }
        let fussy = engine.find_by_name("fussy").unwrap();
        let access = engine.find_by_name("access-only").unwrap();
        // How many calls trapped depends on how the batch was cut (each
        // run is bisected on its own); the records that failed do not.
        let without_traps = |id| RuleStats {
            traps: 0,
            ..engine.totals(id)
        };
        let totals = (without_traps(fussy), without_traps(access));
        let dead: Vec<(u64, String)> = engine.rules()[0]
            .dead_letters
            .iter()
            .map(|dead| {
                (
                    dead.offset,
                    String::from_utf8_lossy(&dead.payload).into_owned(),
                )
            })
            .collect();
        let counts = (
            counts(&mut engine, "fussy"),
            counts(&mut engine, "access-only"),
        );
        (totals, dead, counts)
    };
    let one = run(1);
    let (fussy, _) = one.0;
    assert_eq!((fussy.records_in, fussy.rejected), (2_500, 26));
    assert_eq!(
        one.1.len(),
        3,
        "every boom record is dead-lettered: {:?}",
        one.1
    );
    for threads in [2, 3, 7] {
        let many = run(threads);
        assert_eq!((&many.0, &many.1), (&one.0, &one.1), "{threads} threads");
        assert!(many.2 == one.2, "{threads} threads: other windows");
    }
}
