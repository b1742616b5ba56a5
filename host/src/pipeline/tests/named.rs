//! Several named sources in one loop: routing by source, lanes named after
//! their source, each source claimed and checkpointed under its own lanes.

use std::collections::BTreeMap;

use super::*;
use crate::checkpoint::CheckpointStore;
use crate::model::{Route, SourceLanes};
use crate::pipeline::LaneTable;
use crate::source::{SourceSet, source_claims};

/// Sources `a` and `b`, each a partitioned source of topic `t` whose
/// partition 0 plays `steps`.
fn two_sources(store: &MemoryStore, a: Vec<ScriptStep>, b: Vec<ScriptStep>) -> SourceSet {
    let members = [("a", a), ("b", b)]
        .into_iter()
        .map(|(name, steps)| {
            let lanes = SourceLanes::named(name, true);
            let claims = source_claims(store.claims(), lanes.clone());
            let source = ScriptedSource::new("t", steps, claims);
            (lanes, Source::Scripted(Box::new(source)))
        })
        .collect();
    SourceSet::new(members)
}

/// `hits` reads both sources, `only-a` is routed to source `a`: each
/// counts exactly its sources' records, the lanes are `a/t/0` and `b/t/0`
/// (claimed, fenced and checkpointed under those names), and the run ends
/// when both sources have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_reads_its_sources_and_each_source_its_own_lanes() {
    let store = MemoryStore::new();
    let a = vec![
        ScriptStep::Assign(vec![0]),
        ScriptStep::Records((0..10).map(|i| record(0, i, "a")).collect()),
        ScriptStep::Records((10..12).map(|i| record(0, i, "a")).collect()),
    ];
    let b = vec![
        ScriptStep::Assign(vec![0]),
        ScriptStep::Records((0..5).map(|i| record(0, i, "b")).collect()),
    ];
    let origins = vec![SourceLanes::named("a", true), SourceLanes::named("b", true)];
    let routes = BTreeMap::from([(
        "only-a".to_owned(),
        Route::new(Some(vec!["a".to_owned()]), None),
    )]);
    let engine = engine(
        vec![
            counter_rule("hits", "n", "1"),
            counter_rule("only-a", "n", "1"),
        ],
        true,
    )
    .with_routes(routes)
    .with_sources(origins);
    let stop = Arc::new(AtomicBool::new(false));
    let sources = two_sources(&store, a, b);
    let mut pipeline = Pipeline::with_sources(
        settings(0),
        engine,
        store.clone(),
        LaneTable::new(true),
        sources,
        stop,
    )
    .await
    .unwrap();
    let summary = pipeline.run(None).await.unwrap();

    assert_eq!(
        value(&store, "weir:hits:n:60:0", "a").as_deref(),
        Some("12")
    );
    assert_eq!(value(&store, "weir:hits:n:60:0", "b").as_deref(), Some("5"));
    assert_eq!(
        value(&store, "weir:only-a:n:60:0", "a").as_deref(),
        Some("12")
    );
    assert_eq!(
        value(&store, "weir:only-a:n:60:0", "b"),
        None,
        "source b is not only-a's input"
    );
    let totals: BTreeMap<&str, u64> = summary
        .rules
        .iter()
        .map(|rule| (rule.name.as_str(), rule.stats.records_in))
        .collect();
    assert_eq!(totals, BTreeMap::from([("hits", 17), ("only-a", 12)]));
    let per_source: Vec<(&str, u64)> = summary
        .sources
        .iter()
        .map(|(name, stats)| (name.as_str(), stats.records))
        .collect();
    assert_eq!(per_source, [("a", 12), ("b", 5)]);
    for lane in ["a/t/0", "b/t/0"] {
        assert_eq!(
            store.rule_meta(lane, "hits", "version").as_deref(),
            Some("1"),
            "{lane} is checkpointed under its source's name"
        );
        // The lane was claimed under that name: the next claim is the 2nd.
        assert_eq!(store.steal(lane), 2, "{lane}'s fence");
    }
    assert_eq!(store.rule_meta("t/0", "hits", "version"), None);
}

/// A named source's partition is taken by another instance before a
/// checkpoint: the checkpoint is refused, that lane (`b/t/0`) is dropped,
/// and the other source's lane is reloaded and read again through its own
/// source (the rewind finds the source by the lane's name), so its counts
/// stay exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_lane_of_one_source_rewinds_the_other_sources_lanes() {
    let store = MemoryStore::new();
    // Each pause lets the last checkpoint's write end before the next
    // batch, so one is written per step (a due checkpoint skips while one
    // is written) and the 5th is the one refused.
    let pause = || ScriptStep::Wait(Duration::from_millis(100));
    let script = |key: &'static str| {
        vec![
            ScriptStep::Assign(vec![0]),
            pause(),
            ScriptStep::Records((0..10).map(|i| record(0, i, key)).collect()),
            pause(),
            ScriptStep::Records((10..21).map(|i| record(0, i, key)).collect()),
            pause(),
            ScriptStep::Records(Vec::new()),
        ]
    };
    store.steal_at_send("b/t/0", 5);
    let origins = vec![SourceLanes::named("a", true), SourceLanes::named("b", true)];
    let engine = engine(vec![counter_rule("hits", "n", "1")], true).with_sources(origins);
    let stop = Arc::new(AtomicBool::new(false));
    let sources = two_sources(&store, script("a"), script("b"));
    let mut pipeline = Pipeline::with_sources(
        settings(0),
        engine,
        store.clone(),
        LaneTable::new(true),
        sources,
        stop,
    )
    .await
    .unwrap();
    let summary = pipeline.run(None).await.unwrap();
    assert_eq!(
        value(&store, "weir:hits:n:60:0", "a").as_deref(),
        Some("21"),
        "source a's lane is read again and counted once"
    );
    let b: u64 = value(&store, "weir:hits:n:60:0", "b").map_or(0, |v| v.parse().unwrap());
    assert!(b < 21, "b/t/0 was taken before all of it was written ({b})");
    assert_eq!(
        summary.rules[0].stats.records_in, 21,
        "only the kept lane's counters remain, restored, not doubled"
    );
}
