//! Every aggregation end to end: the `aggregates` test guest (sum, min,
//! max, distinct, approx-distinct and count, on tumbling, hopping and
//! cumulative windows) over a generated log, read back from Redis and
//! compared with values computed here, independently of weir: through a
//! file, through a 3-partition Kafka topic (each lane's values merged in
//! Redis), and the TTLs and windows index of the README's Redis layout.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use weir::sink::CheckpointKeys;

use self::expected::{
    Agg, Expected, LATENESS_SECS, Log, METRICS, RULE, aggregation, assert_values, expected,
    generate_log, size_secs,
};
use crate::kafka_support::Broker;
use crate::support::*;

mod expected;

const GUEST: &str = "weir_test_aggregates";

/// `extra` config lines after `[redis] url`; lateness and a checkpoint
/// every 20 ms (so open windows are written many times) are added.
fn config(dir: &Path, source: &str, redis: &RedisServer, extra: &str) -> std::path::PathBuf {
    let plugins = plugins_dir(dir, &[GUEST]);
    let extra = format!(
        "{extra}\n[windows]\nallowed_lateness_secs = {LATENESS_SECS}\n[checkpoint]\ninterval_ms = 20\n"
    );
    write_config(dir, source, &plugins, redis, &extra)
}

/// Runs the guest over `log` from a file to its end; returns the Redis
/// and the config.
fn file_run(dir: &Path, log: &Log, extra: &str) -> (RedisServer, std::path::PathBuf) {
    let path = dir.join("input.log");
    std::fs::write(&path, &log.text).unwrap();
    let redis = RedisServer::start();
    let source = format!("{}batch_records = 64\n", file_source(&path, false));
    let config = config(dir, &source, &redis, extra);
    run_to_end(&config);
    (redis, config)
}

/// `weir status` counts every record, reject, update and late pair.
fn assert_stats(config: &Path, log: &Log, expected: &Expected) {
    let status = status_json(config);
    let stats = &status.iter().find(|rule| rule["name"] == RULE).unwrap()["stats"];
    let count = |name: &str| stats[name].as_u64().unwrap();
    assert_eq!(count("records_in"), log.lines, "{stats}");
    assert_eq!(count("rejected"), log.malformed, "{stats}");
    assert_eq!(count("updates"), 6 * log.events.len() as u64, "{stats}");
    assert_eq!(count("late"), expected.late, "{stats}");
}

/// A file with out-of-order and late lines: every output hash holds the
/// expected values, and `weir status` the expected counts.
#[test]
fn aggregations_from_a_file_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let log = generate_log(16, 4000, true);
    let expected = expected(&log.events);
    assert!(expected.late > 100, "late lines: {}", expected.late);
    let (redis, config) = file_run(dir.path(), &log, "");
    assert_values(&redis.outputs(RULE), &expected, "file");
    assert_stats(&config, &log, &expected);
}

/// TTLs and the windows index, read back: `default_ttl_secs` on every
/// output hash, the rule's `ttl_secs.max` on `max`'s only; each metric's
/// index holds exactly its newest `index_windows` window starts, and no
/// output hash is lost to the trimming.
#[test]
fn ttls_and_windows_index_read_back_from_redis() {
    let dir = tempfile::tempdir().unwrap();
    let log = generate_log(17, 2000, true);
    let expected = expected(&log.events);
    let (redis, _) = file_run(
        dir.path(),
        &log,
        "default_ttl_secs = 7200\nindex_windows = 3\n[rules.aggregates]\nttl_secs = { max = 300 }\n",
    );
    let outputs = redis.outputs(RULE);
    assert_values(&outputs, &expected, "with TTLs and a short index");
    let mut conn = redis.conn();
    for key in outputs.keys() {
        let ttl: i64 = redis::cmd("TTL").arg(key).query(&mut conn).unwrap();
        let range = if key.contains(":max:") {
            1..=300
        } else {
            301..=7200
        };
        assert!(
            range.contains(&ttl),
            "TTL of {key} is {ttl}, not in {range:?}"
        );
    }
    for (metric, _, windows) in METRICS {
        for &window in windows {
            let prefix = format!("weir:{RULE}:{metric}:{}:", size_secs(window));
            let starts: BTreeSet<i64> = expected
                .hashes
                .keys()
                .filter_map(|key| key.strip_prefix(&prefix)?.parse().ok())
                .collect();
            let newest: Vec<(String, f64)> = starts
                .iter()
                .skip(starts.len().saturating_sub(3))
                .map(|&start| (start.to_string(), start as f64))
                .collect();
            let index: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(format!("{prefix}windows"))
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query(&mut conn)
                .unwrap();
            assert_eq!(index, newest, "index of {prefix}");
        }
    }
}

/// The same log (out of order, none late) through a file and through a
/// 3-partition topic read by one instance (three lanes merged in Redis by
/// the checkpoints' scripts): the merged values are the expected ones, and
/// approx-distinct estimates equal the single-lane run's exactly (the
/// README's promise). Merge state expires with the metric's TTL.
#[test]
fn aggregations_merged_across_kafka_partitions_equal_one_lane() {
    let dir = tempfile::tempdir().unwrap();
    let log = generate_log(18, 4000, false);
    let expected = expected(&log.events);
    assert_eq!(expected.late, 0, "no line may be late in any partition");
    let single = dir.path().join("file");
    std::fs::create_dir(&single).unwrap();
    let (file_redis, _) = file_run(&single, &log, "");
    let one_lane = file_redis.outputs(RULE);
    assert_values(&one_lane, &expected, "file");

    let broker = Broker::start();
    // Sent at a rate, the producer's small batches spread over the
    // partitions (every lane must read some, checked below).
    let produced = weir()
        .args([
            "produce",
            "--brokers",
            &broker.brokers(),
            "--topic",
            "access",
        ])
        .args(["--rate", "2000", "--file"])
        .arg(single.join("input.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(produced.success(), "weir produce failed");
    let redis = RedisServer::start();
    let source = format!(
        "[source]\nkind = \"kafka\"\nbrokers = \"{}\"\ntopics = [\"access\"]\ngroup = \"weir-aggregates\"\n\
         batch_records = 64\nstop_at_end = true\n[source.librdkafka]\n\"session.timeout.ms\" = \"6000\"\n",
        broker.brokers()
    );
    let config = config(dir.path(), &source, &redis, "default_ttl_secs = 3600\n");
    let log_file = std::fs::File::create(dir.path().join("weir.log")).unwrap();
    let mut weir = Running::spawn(&config, log_file);
    let status = weir.wait_exit(Duration::from_secs(120));
    assert!(
        status.is_some_and(|s| s.success()),
        "weir did not finish by itself ({status:?}): {}",
        std::fs::read_to_string(dir.path().join("weir.log")).unwrap_or_default()
    );

    let mut conn = redis.conn();
    let keys = CheckpointKeys::new("default");
    let lanes: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.lanes())
        .query(&mut conn)
        .unwrap();
    assert_eq!(lanes.len(), 3, "one lane per partition: {lanes:?}");
    for lane in &lanes {
        let stats: String = redis::cmd("HGET")
            .arg(keys.lane(lane).rule(RULE))
            .arg("stats")
            .query(&mut conn)
            .unwrap();
        let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
        assert!(
            stats["records_in"].as_u64() > Some(0),
            "{lane} read nothing"
        );
    }
    assert_eq!(redis.records_in(RULE), log.lines, "every record once");

    let merged = redis.outputs(RULE);
    assert_values(&merged, &expected, "kafka");
    // Beyond the expected values: everything but sums exactly as one lane
    // wrote it, approx-distinct estimates included.
    for (key, fields) in &one_lane {
        if aggregation(key) != Agg::Sum {
            assert_eq!(&merged[key], fields, "{key}: merged = one lane's");
        }
    }
    let mut merge_state = Vec::new();
    for kind in ["union", "sketch"] {
        let found = redis.keys(&format!("weir:ckpt:default:{kind}:*"));
        assert!(!found.is_empty(), "no {kind} keys");
        merge_state.extend(found);
    }
    for key in merged.keys().chain(&merge_state) {
        let ttl: i64 = redis::cmd("TTL").arg(key).query(&mut conn).unwrap();
        assert!((1..=3600).contains(&ttl), "TTL of {key} is {ttl}");
    }
}
