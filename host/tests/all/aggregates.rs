//! Every aggregation end to end: the `aggregates` test guest (sum, min,
//! max, distinct, approx-distinct and count, on tumbling, hopping and
//! cumulative windows) over a generated log, read back from Redis and
//! compared with values computed here, independently of weir: through a
//! file, through a 3-partition Kafka topic (each lane's values merged in
//! Redis), and the TTLs and windows index of the README's Redis layout.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use weir::sink::CheckpointKeys;

use crate::kafka::Broker;
use crate::support::*;

const RULE: &str = "aggregates";
const GUEST: &str = "weir_test_aggregates";
const LATENESS_SECS: i64 = 30;
/// How far an out-of-order line goes back: less than the lateness, so it
/// is never late, whatever partition it lands in.
const JITTER_SECS: u64 = 25;
/// 2026-11-21 00:00:00 UTC.
const DAY_START: i64 = 1_795_219_200;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Agg {
    Count,
    Sum,
    Min,
    Max,
    Distinct,
    Approx,
}

/// A window shape; a cumulative window's step changes when its value is
/// published, not its final value, so only its size matters here.
#[derive(Clone, Copy)]
enum Win {
    Tumbling(i64),
    Hopping(i64, i64),
    Cumulative(i64),
}

/// The guest's manifest (tests/guests/aggregates), restated.
const METRICS: [(&str, Agg, &[Win]); 6] = [
    (
        "sum",
        Agg::Sum,
        &[
            Win::Tumbling(60),
            Win::Hopping(120, 60),
            Win::Cumulative(3600),
        ],
    ),
    ("min", Agg::Min, &[Win::Tumbling(60), Win::Hopping(120, 60)]),
    (
        "max",
        Agg::Max,
        &[Win::Hopping(120, 60), Win::Cumulative(3600)],
    ),
    (
        "users",
        Agg::Distinct,
        &[Win::Tumbling(60), Win::Hopping(120, 60)],
    ),
    (
        "users_approx",
        Agg::Approx,
        &[Win::Hopping(120, 60), Win::Cumulative(3600)],
    ),
    (
        "lines",
        Agg::Count,
        &[Win::Tumbling(60), Win::Cumulative(3600)],
    ),
];

/// A valid line of the generated log.
struct Event {
    secs: i64,
    key: String,
    value: f64,
    user: String,
}

/// SplitMix64: a fixed sequence per seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

/// The generated log.
struct Log {
    text: String,
    /// Its valid lines, in order.
    events: Vec<Event>,
    lines: u64,
    malformed: u64,
}

/// `lines` lines from 10:30 UTC, 0-4 s apart, values of two decimals
/// (some negative), five keys, 3000 users. One line in ten goes back up to
/// [`JITTER_SECS`]; one in a hundred is malformed (rejected). With `late`,
/// one in thirty goes back 1-11 minutes (late for its minute windows) and
/// one in a hundred 1-1.5 hours (late for its hour too, once it closed).
fn generate(seed: u64, lines: u64, late: bool) -> Log {
    let mut rng = Rng(seed);
    let mut clock = DAY_START + 10 * 3600 + 1800;
    let mut log = Log {
        text: String::new(),
        events: Vec::new(),
        lines,
        malformed: 0,
    };
    for _ in 0..lines {
        clock += rng.below(5) as i64;
        let roll = rng.below(1000);
        let secs = match roll {
            0..100 => clock - rng.below(JITTER_SECS + 1) as i64,
            100..133 if late => clock - 60 - rng.below(600) as i64,
            133..143 if late => clock - 3600 - rng.below(1800) as i64,
            _ => clock,
        };
        let of_day = secs - DAY_START;
        assert!((0..86_400).contains(&of_day), "the log stays in one day");
        let time = format!(
            "2026-11-21 {:02}:{:02}:{:02}",
            of_day / 3600,
            of_day / 60 % 60,
            of_day % 60
        );
        let key = format!("web{}", 1 + rng.below(5));
        let value = (rng.below(100_000) as i64 - 5_000) as f64 / 100.0;
        let user = format!("u{}", rng.below(3000));
        let line = match roll {
            990.. => {
                log.malformed += 1;
                match roll % 3 {
                    0 => format!("{time} key={key} value=oops user={user}"),
                    1 => format!("{time} key={key} value={value}"),
                    _ => format!("2026-11-2x {key} {value} {user}"),
                }
            }
            _ => {
                log.events.push(Event {
                    secs,
                    key: key.clone(),
                    value,
                    user: user.clone(),
                });
                format!("{time} key={key} value={value} user={user}")
            }
        };
        log.text.push_str(&line);
        log.text.push('\n');
    }
    log
}

/// One group's values in one window, kept for every aggregation.
#[derive(Debug, Default)]
struct Acc {
    count: u64,
    sum: f64,
    /// Sum of absolute values: the scale of a sum's rounding error.
    abs_sum: f64,
    min: f64,
    max: f64,
    users: BTreeSet<String>,
}

impl Acc {
    fn add(&mut self, event: &Event) {
        if self.count == 0 {
            (self.min, self.max) = (event.value, event.value);
        }
        self.count += 1;
        self.sum += event.value;
        self.abs_sum += event.value.abs();
        self.min = self.min.min(event.value);
        self.max = self.max.max(event.value);
        self.users.insert(event.user.clone());
    }
}

/// What Redis must hold: output key → group → values; and how many
/// update × window pairs were late.
struct Expected {
    hashes: BTreeMap<String, BTreeMap<String, Acc>>,
    late: u64,
}

/// The README's semantics, restated: one watermark (highest event time so
/// far minus the lateness); a window whose end is at or before it is closed
/// and takes no more lines; a cumulative window's final value takes every
/// line not late for the whole window; the end of input closes every window.
fn expected(events: &[Event]) -> Expected {
    let mut out = Expected {
        hashes: BTreeMap::new(),
        late: 0,
    };
    let mut max_secs: Option<i64> = None;
    for event in events {
        let watermark = max_secs.map(|max| max - LATENESS_SECS);
        let floor = |size: i64| event.secs.div_euclid(size) * size;
        for (metric, _, windows) in METRICS {
            for &window in windows {
                let (size, starts): (i64, Vec<i64>) = match window {
                    Win::Tumbling(size) | Win::Cumulative(size) => (size, vec![floor(size)]),
                    Win::Hopping(size, hop) => (
                        size,
                        (0..size / hop).map(|i| floor(hop) - i * hop).collect(),
                    ),
                };
                for start in starts {
                    if watermark.is_some_and(|w| start + size <= w) {
                        out.late += 1;
                        continue;
                    }
                    out.hashes
                        .entry(format!("weir:{RULE}:{metric}:{size}:{start}"))
                        .or_default()
                        .entry(event.key.clone())
                        .or_default()
                        .add(event);
                }
            }
        }
        max_secs = Some(max_secs.map_or(event.secs, |max| max.max(event.secs)));
    }
    out
}

fn keys<V>(map: &BTreeMap<String, V>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

fn aggregation(key: &str) -> Agg {
    let metric = key.split(':').nth(2).unwrap();
    METRICS.iter().find(|m| m.0 == metric).unwrap().1
}

/// Every published value against the expected one: counts, distinct
/// counts, min and max exactly (min and max as the shortest decimal, which
/// for these values is how the log wrote them); sums as the shortest
/// decimal of a double within 1e-9 of the sum of absolute values (addition
/// order may differ); approx-distinct within 3% + 2 of the exact count.
fn assert_values(got: &Hashes, expected: &Expected, what: &str) {
    assert!(
        expected.hashes.len() > 100,
        "{what}: too few windows to prove much"
    );
    assert_eq!(keys(got), keys(&expected.hashes), "{what}: output keys");
    for (key, groups) in &expected.hashes {
        let fields = &got[key];
        assert_eq!(keys(fields), keys(groups), "{what}: groups of {key}");
        let agg = aggregation(key);
        for (group, acc) in groups {
            let text = &fields[group];
            let ok = match agg {
                Agg::Count => *text == acc.count.to_string(),
                Agg::Distinct => *text == acc.users.len().to_string(),
                Agg::Min => *text == acc.min.to_string(),
                Agg::Max => *text == acc.max.to_string(),
                Agg::Sum => text.parse::<f64>().is_ok_and(|x| {
                    x.to_string() == *text && (x - acc.sum).abs() <= 1e-9 * acc.abs_sum
                }),
                Agg::Approx => text.parse::<f64>().is_ok_and(|estimate| {
                    let exact = acc.users.len() as f64;
                    (estimate - exact).abs() <= 0.03 * exact + 2.0
                }),
            };
            assert!(ok, "{what}: {key} {group} is {text}, expected {acc:?}");
        }
    }
}

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
    let log = generate(16, 4000, true);
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
    let log = generate(17, 2000, true);
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
            let size = match window {
                Win::Tumbling(size) | Win::Hopping(size, _) | Win::Cumulative(size) => size,
            };
            let prefix = format!("weir:{RULE}:{metric}:{size}:");
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
    let log = generate(18, 4000, false);
    let expected = expected(&log.events);
    assert_eq!(expected.late, 0, "no line may be late in any partition");
    let single = dir.path().join("file");
    std::fs::create_dir(&single).unwrap();
    let (file_redis, _) = file_run(&single, &log, "");
    let one_lane = file_redis.outputs(RULE);
    assert_values(&one_lane, &expected, "file");

    let broker = Broker::start();
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
    for (key, fields) in &one_lane {
        if aggregation(key) == Agg::Approx {
            assert_eq!(&merged[key], fields, "{key}: merged estimate = one lane's");
        }
    }
    let mut merge_state = Vec::new();
    for kind in ["union", "sketch"] {
        let found: Vec<String> = redis::cmd("KEYS")
            .arg(format!("weir:ckpt:default:{kind}:*"))
            .query(&mut conn)
            .unwrap();
        assert!(!found.is_empty(), "no {kind} keys");
        merge_state.extend(found);
    }
    for key in merged.keys().chain(&merge_state) {
        let ttl: i64 = redis::cmd("TTL").arg(key).query(&mut conn).unwrap();
        assert!((1..=3600).contains(&ttl), "TTL of {key} is {ttl}");
    }
}
