//! Lateness over Kafka with late lines: each partition judges its own
//! records (a record is late iff its window closed in its partition), and a
//! partition quiet for `idle_partition_ms` stops holding windows open.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use weir::sink::CheckpointKeys;

use crate::kafka_support::{Broker, DAY_START_SECS, TestProducer, access_line, kafka_source};
use crate::support::*;

/// Lines of one partition: (client, event time in seconds of the day).
type Lines = Vec<(String, i64)>;

/// `partitions` partitions of `per_partition` lines each, 20 minutes apart
/// (partition p starts at 10:00 + 20p min), mostly 3 s apart, every 9th
/// line going back by up to 199 s (a fixed pseudo-random sequence).
fn late_lines(partitions: usize, per_partition: i64) -> Vec<Lines> {
    let mut seed: u64 = 0x5eed;
    (0..partitions)
        .map(|p| {
            let base = 36_000 + 1_200 * p as i64;
            (0..per_partition)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let back = if i % 9 == 8 {
                        (seed >> 33) as i64 % 200
                    } else {
                        0
                    };
                    let client = format!("10.0.{p}.{}", i % 7);
                    (client, (base + 3 * i - back).max(0))
                })
                .collect()
        })
        .collect()
}

/// What ip-count (count per client, 60 s windows) publishes and how many
/// updates are late, with one watermark per list of `lanes` (highest event
/// time seen in it minus `lateness`): an update is late iff its minute
/// ended at or before its lane's watermark when it arrived. Written from
/// the README, independently of weir's code.
fn ip_count_oracle(lanes: &[&[(String, i64)]], lateness: i64) -> (Hashes, u64) {
    let mut counts: BTreeMap<(i64, String), u64> = BTreeMap::new();
    let mut late = 0;
    for lane in lanes {
        let mut highest: Option<i64> = None;
        for (client, secs) in *lane {
            let start = secs - secs.rem_euclid(60);
            if highest.is_some_and(|highest| start + 60 <= highest - lateness) {
                late += 1;
            } else {
                *counts.entry((start, client.clone())).or_default() += 1;
            }
            highest = Some(highest.map_or(*secs, |h| h.max(*secs)));
        }
    }
    let mut hashes = Hashes::new();
    for ((start, client), count) in counts {
        let key = format!("weir:ip-count:requests:60:{}", DAY_START_SECS + start);
        hashes
            .entry(key)
            .or_default()
            .insert(client, count.to_string());
    }
    (hashes, late)
}

/// Rule `rule`'s counters in `lane`, as of its last checkpoint.
fn lane_stats(redis: &RedisServer, lane: &str, rule: &str) -> serde_json::Value {
    let stats: Option<String> = redis::cmd("HGET")
        .arg(CheckpointKeys::new("default").lane(lane).rule(rule))
        .arg("stats")
        .query(&mut redis.conn())
        .unwrap();
    stats.map_or(serde_json::Value::Null, |s| {
        serde_json::from_str(&s).unwrap()
    })
}

/// A rule's counter added up over lanes, from `weir status --json`.
fn status_count(config: &std::path::Path, rule: &str, counter: &str) -> u64 {
    status_json(config)
        .iter()
        .find(|r| r["name"] == rule)
        .and_then(|r| r["stats"][counter].as_u64())
        .unwrap()
}

/// Three partitions 20 minutes apart in event time, each with lines going
/// back by up to 199 s and a lateness of 30 s, produced interleaved: the
/// `late` total and every value equal a per-partition oracle's. A single
/// watermark over the interleaving would judge most of the earlier
/// partitions late (checked, so the case tells the two apart).
#[test]
fn kafka_lateness_is_judged_per_partition() {
    let lines = late_lines(3, 400);
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start();
    let producer = TestProducer::new(&broker);
    let mut interleaved = Vec::new();
    for i in 0..400 {
        for (p, partition) in lines.iter().enumerate() {
            let (client, secs) = &partition[i];
            producer.send("access", p as i32, &access_line(client, *secs), None);
            interleaved.push((client.clone(), *secs));
        }
    }
    producer.flush();
    let lanes: Vec<&[(String, i64)]> = lines.iter().map(Vec::as_slice).collect();
    let (expected, late) = ip_count_oracle(&lanes, 30);
    let (_, late_if_global) = ip_count_oracle(&[&interleaved], 30);
    assert!(
        late > 20 && late_if_global > 3 * late,
        "the case has late lines ({late}) and tells per-partition lateness apart ({late_if_global})"
    );

    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["ip_count"]);
    let config = write_config(
        dir.path(),
        &kafka_source(
            &broker,
            r#"["access"]"#,
            "stop_at_end = true\nidle_partition_ms = 0\n",
        ),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 30\n[checkpoint]\ninterval_ms = 20\n",
    );
    let log = std::fs::File::create(dir.path().join("weir.log")).unwrap();
    let mut weir = Running::spawn(&config, log);
    let status = weir.wait_exit(Duration::from_secs(120));
    let log = std::fs::read_to_string(dir.path().join("weir.log")).unwrap_or_default();
    assert!(status.is_some_and(|s| s.success()), "{status:?}:\n{log}");
    assert_eq!(status_count(&config, "ip-count", "records_in"), 1200);
    assert_eq!(
        status_count(&config, "ip-count", "late"),
        late,
        "late updates, judged per partition"
    );
    assert_same(
        &redis.outputs("ip-count"),
        &expected,
        "ip-count with late lines",
    );
}

/// Two partitions; partition 1 has lines in 10:00 only and then goes quiet,
/// partition 0 is at 10:04 and keeps sending. pvuv's "today so far" (`pv`,
/// day window, 60 s steps) publishes a step when the lane's watermark
/// passes it: partition 1's lines are held back while it is merely quiet,
/// and published once it has been quiet for `idle_partition_ms` (its
/// watermark raised to partition 0's). A line it sends afterwards for
/// 10:00 is then late (pv and uv's minute: 2 updates), as the README says.
#[test]
fn kafka_idle_partition_stops_holding_windows_open() {
    let idle_ms = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::with_topics(&[("access", 2)]);
    let producer = TestProducer::new(&broker);
    // Partition 1: 10:00:00 to 10:00:38. Partition 0: 10:01:00 to 10:04:54,
    // of which 30 lines before 10:04 (steps its watermark closes).
    for i in 0..20 {
        producer.send("access", 1, &access_line("10.0.1.1", 36_000 + 2 * i), None);
    }
    for i in 0..40 {
        producer.send("access", 0, &access_line("10.0.0.1", 36_060 + 6 * i), None);
    }
    producer.flush();
    let (quiet, closed_by_active) = (20, 30);

    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let config = write_config(
        dir.path(),
        &kafka_source(
            &broker,
            r#"["access"]"#,
            &format!("idle_partition_ms = {idle_ms}\n"),
        ),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 0\n[checkpoint]\ninterval_ms = 20\n",
    );
    let log_path = dir.path().join("weir.log");
    let weir = Running::spawn(&config, std::fs::File::create(&log_path).unwrap());
    // Partition 0 stays active: a line at 10:04:55 every 200 ms (in its
    // open step, so what it publishes does not change).
    let stop = Arc::new(AtomicBool::new(false));
    let keep_alive = {
        let (stop, producer) = (stop.clone(), TestProducer::new(&broker));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                producer.send("access", 0, &access_line("10.0.0.2", 36_295), None);
                producer.flush();
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let records_in = |lane: &str| lane_stats(&redis, lane, "pvuv")["records_in"].as_u64();
    let today = || -> Option<u64> {
        redis::cmd("HGET")
            .arg(format!("weir:pvuv:pv:86400:{DAY_START_SECS}"))
            .arg("total")
            .query(&mut redis.conn())
            .unwrap()
    };
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while records_in("access/1") != Some(quiet) || records_in("access/0") < Some(40) {
        assert!(Instant::now() < deadline, "not every line read:\n{}", log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let read_at = Instant::now();
    assert_eq!(
        today(),
        Some(closed_by_active),
        "while partition 1 is merely quiet, its 10:00 step stays open"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while today() != Some(closed_by_active + quiet) {
        assert!(
            Instant::now() < deadline,
            "the quiet partition never stopped holding its windows (today = {:?}):\n{}",
            today(),
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let released = read_at.elapsed();
    eprintln!("quiet partition released {released:?} after its lines were checkpointed");
    assert!(
        released >= Duration::from_millis(idle_ms / 2),
        "released after {released:?}, before idle_partition_ms ({idle_ms} ms)"
    );
    assert_eq!(status_count(&config, "pvuv", "late"), 0);

    // Partition 1's watermark is now partition 0's: 10:00 has closed there.
    producer.send("access", 1, &access_line("10.0.1.1", 36_040), None);
    producer.flush();
    let deadline = Instant::now() + Duration::from_secs(30);
    while records_in("access/1") != Some(quiet + 1) {
        assert!(Instant::now() < deadline, "the late line was not read");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    keep_alive.join().unwrap();
    assert!(weir.terminate().success());
    assert_eq!(
        lane_stats(&redis, "access/1", "pvuv")["late"],
        2,
        "pv and uv's minute 10:00 had closed in partition 1"
    );
    assert_eq!(status_count(&config, "pvuv", "late"), 2);
}
