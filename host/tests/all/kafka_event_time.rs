//! Updates without an event time of their own (test guest `misbehave` in
//! mode `no-event-time`): over Kafka they fall back to the record's Kafka
//! timestamp; from a file, which has none, they are dropped and counted
//! (`no_event_time`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::kafka_support::{Broker, DAY_START_SECS, TestProducer, access_line, kafka_source};
use crate::support::*;

/// `weir:misbehave:lines:60:T` → `total` for each minute, from the event
/// times (Unix ms) of the lines counted.
fn per_minute(times_ms: impl IntoIterator<Item = i64>) -> Hashes {
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for ms in times_ms {
        let secs = ms.div_euclid(1000);
        *counts.entry(secs - secs.rem_euclid(60)).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(start, count)| {
            let key = format!("weir:misbehave:lines:60:{start}");
            (
                key,
                BTreeMap::from([("total".to_owned(), count.to_string())]),
            )
        })
        .collect()
}

fn stats(config: &std::path::Path) -> serde_json::Value {
    status_json(config)
        .into_iter()
        .find(|r| r["name"] == "misbehave")
        .map(|r| r["stats"].clone())
        .unwrap()
}

/// Lines whose text says 10:00, with Kafka timestamps from 12:00 on (out
/// of order within and across partitions): the windows follow the Kafka
/// timestamps, and no update lacks an event time.
#[test]
fn kafka_updates_without_event_time_use_the_kafka_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::with_topics(&[("access", 2)]);
    let producer = TestProducer::new(&broker);
    let noon_ms = (DAY_START_SECS + 12 * 3600) * 1000;
    let mut stamps = Vec::new();
    for i in 0..300i64 {
        let partition = (i % 2) as i32;
        let stamp = noon_ms + i * 1_700 - (i % 5) * 4_000 + i64::from(partition) * 90_000;
        producer.send(
            "access",
            partition,
            &access_line("10.0.0.1", 36_000),
            Some(stamp),
        );
        stamps.push(stamp);
    }
    producer.flush();

    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["weir_test_misbehave"]);
    let config = write_config(
        dir.path(),
        &kafka_source(&broker, r#"["access"]"#, "stop_at_end = true\n"),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 864000\n[checkpoint]\ninterval_ms = 20\n\
         [rules.misbehave]\nconfig = { mode = \"no-event-time\", marker = \"GET\" }\n",
    );
    let log = std::fs::File::create(dir.path().join("weir.log")).unwrap();
    let mut weir = Running::spawn(&config, log);
    let status = weir.wait_exit(Duration::from_secs(120));
    let log = std::fs::read_to_string(dir.path().join("weir.log")).unwrap_or_default();
    assert!(status.is_some_and(|s| s.success()), "{status:?}:\n{log}");
    let stats = stats(&config);
    assert_eq!(stats["records_in"], 300);
    assert_eq!(stats["updates"], 300);
    assert_eq!(stats["no_event_time"], 0);
    assert_eq!(stats["late"], 0);
    assert_same(
        &redis.outputs("misbehave"),
        &per_minute(stamps),
        "minutes of the Kafka timestamps",
    );
}

/// A file has no timestamps: updates without an event time are dropped and
/// counted as `no_event_time`, and the other lines count at their own time.
#[test]
fn file_updates_without_event_time_are_counted_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut text = String::new();
    let mut counted = Vec::new();
    for i in 0..200i64 {
        let line = access_line("10.0.0.1", 36_000 + 13 * i);
        if i % 5 == 2 {
            text.push_str(&line.replacen("GET /", "GET /BOOM", 1));
        } else {
            text.push_str(&line);
            counted.push((DAY_START_SECS + 36_000 + 13 * i) * 1000);
        }
        text.push('\n');
    }
    std::fs::write(&log, text).unwrap();
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["weir_test_misbehave"]);
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n\
         [rules.misbehave]\nconfig = { mode = \"no-event-time\" }\n",
    );
    run_to_end(&config);
    let stats = stats(&config);
    assert_eq!(stats["records_in"], 200);
    assert_eq!(stats["no_event_time"], 40, "every marked line");
    assert_eq!(stats["updates"], 160);
    assert_same(
        &redis.outputs("misbehave"),
        &per_minute(counted),
        "minutes of the unmarked lines",
    );
}
