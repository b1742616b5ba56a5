//! Several sources in one pipeline (`[sources.<name>]`): each rule reads
//! the sources its `[rules.R] sources` names, lanes carry their source's
//! name, and each source resumes from its own checkpoint.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::kafka_support::Broker;
use crate::support::*;

/// Lateness that makes no generated line late, so a rule's values do not
/// depend on how its sources' lanes interleave.
const LATENESS: &str =
    "[windows]\nallowed_lateness_secs = 864000\n[checkpoint]\ninterval_ms = 20\n";

/// `[sources.<name>]` of a file.
fn file_named(name: &str, path: &Path, follow: bool) -> String {
    format!(
        "[sources.{name}]\nkind = \"file\"\npath = \"{}\"\nfollow = {follow}\nbatch_records = 512\n",
        path.display()
    )
}

/// `[sources.<name>]` of Kafka topic `events`, with `extra` source keys.
fn kafka_named(name: &str, broker: &Broker, extra: &str) -> String {
    format!(
        "[sources.{name}]\nkind = \"kafka\"\nbrokers = \"{}\"\ntopics = [\"events\"]\ngroup = \"weir-test\"\n\
         batch_records = 512\n{extra}\
         [sources.{name}.librdkafka]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n",
        broker.brokers()
    )
}

/// Sends `log`'s lines to topic `events`.
fn produce(broker: &Broker, log: &Path) {
    let status = weir()
        .args([
            "produce",
            "--brokers",
            &broker.brokers(),
            "--topic",
            "events",
        ])
        .arg("--file")
        .arg(log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "cannot produce to events");
}

/// Generates a log of `lines` lines from `seed`, a few malformed.
fn log(path: &Path, seed: &str, lines: &str) {
    generate(
        path,
        &[
            "--seed",
            seed,
            "--lines",
            lines,
            "--very-late-frac",
            "0",
            "--malformed-frac",
            "0.01",
        ],
    );
}

/// A log's lines in two halves (bytes: malformed lines may not be UTF-8),
/// each ending with a newline.
fn halves(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    let cut = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(lines / 2 - 1)
        .map(|(i, _)| i + 1)
        .unwrap();
    (bytes[..cut].to_vec(), bytes[cut..].to_vec())
}

/// Lines in `bytes`.
fn lines_in(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// One rule's counters and per-source split from `weir status --json`.
fn rule_status(config: &Path, rule: &str) -> serde_json::Value {
    status_json(config)
        .into_iter()
        .find(|r| r["name"] == rule)
        .unwrap_or_else(|| panic!("no status of {rule}"))
}

/// The names and lanes of a rule's sources in its status.
fn status_sources(status: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    status["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|source| {
            let lanes = source["lanes"].as_array().unwrap();
            (
                source["name"].as_str().unwrap().to_owned(),
                lanes
                    .iter()
                    .map(|l| l.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// A file source and a Kafka source in one run; `pvuv` reads the file,
/// `ip-count` the topic. Each rule's values equal the oracle's over exactly
/// its source's lines, each counts only those records, and the lanes,
/// checkpoints, status and log name the source they belong to. The run
/// ends by itself once both have ended (the file at its end, Kafka with
/// `stop_at_end`), with every window closed.
#[test]
fn a_file_and_a_kafka_source_feed_their_own_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (access, events) = (dir.path().join("access.log"), dir.path().join("events.log"));
    log(&access, "81", "20000");
    log(&events, "82", "15000");
    let broker = Broker::with_topics(&[("events", 2)]);
    produce(&broker, &events);
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "ip_count"]);
    let sources = format!(
        "{}{}",
        file_named("web", &access, false),
        kafka_named("bus", &broker, "stop_at_end = true\n")
    );
    let config = write_config(
        dir.path(),
        &sources,
        &plugins,
        &redis,
        &format!(
            "{LATENESS}[rules.pvuv]\nsources = [\"web\"]\n[rules.ip-count]\nsources = [\"bus\"]\n"
        ),
    );
    let check = output_within(
        weir().arg("check").arg("--config").arg(&config),
        Duration::from_secs(60),
    );
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("source web: file ") && report.contains("source bus: kafka events"),
        "weir check lists the sources:\n{report}"
    );
    assert!(report.contains("reads sources web") && report.contains("reads sources bus"));

    let output = output_within(
        weir().arg("run").arg("--config").arg(&config),
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "weir run failed:\n{stderr}");
    assert!(
        stderr.contains("bus/events/0") && stderr.contains("bus/events/1"),
        "the log names the Kafka source's lanes with the source:\n{stderr}"
    );
    assert!(stderr.contains("source totals"), "{stderr}");

    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &access, 864_000, 0),
        "pvuv over the file source",
    );
    assert_same(
        &redis.outputs("ip-count"),
        &oracle("ip-count", &events, 864_000, 0),
        "ip-count over the Kafka source",
    );
    let pvuv = rule_status(&config, "pvuv");
    let ip_count = rule_status(&config, "ip-count");
    assert_eq!(pvuv["stats"]["records_in"], line_count(&access));
    assert_eq!(ip_count["stats"]["records_in"], line_count(&events));
    assert_eq!(pvuv["state"], "finished");
    // Each rule has state in every lane, but only its own source's lanes
    // gave it records, and status lists only the sources it reads.
    let by_name = |status: &serde_json::Value, name: &str| -> u64 {
        status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map_or(0, |s| s["stats"]["records_in"].as_u64().unwrap())
    };
    assert_eq!(by_name(&pvuv, "web"), line_count(&access));
    assert_eq!(by_name(&pvuv, "bus"), 0);
    assert_eq!(by_name(&ip_count, "bus"), line_count(&events));
    assert_eq!(by_name(&ip_count, "web"), 0);
    assert_eq!(
        status_sources(&ip_count),
        [(
            "bus".to_owned(),
            vec!["bus/events/0".to_owned(), "bus/events/1".to_owned()]
        )]
    );
    let lanes = redis.keys("weir:ckpt:default:lane:*:source");
    let mut lanes: Vec<&str> = lanes
        .iter()
        .map(|key| {
            key.trim_start_matches("weir:ckpt:default:lane:")
                .trim_end_matches(":source")
        })
        .collect();
    lanes.sort();
    assert_eq!(lanes, ["bus/events/0", "bus/events/1", "web"]);
    // Each lane lists its rules, which is where status finds them; a
    // namespace written before the lists is found by scanning.
    let mut conn = redis.conn();
    for lane in ["bus/events/0", "bus/events/1", "web"] {
        let key = format!("weir:ckpt:default:lane:{lane}:rules");
        let mut listed: Vec<String> = redis::cmd("SMEMBERS").arg(&key).query(&mut conn).unwrap();
        listed.sort();
        assert_eq!(listed, ["ip-count", "pvuv"], "{key}");
    }
    let listed = redis.keys("weir:ckpt:default:*rules");
    let _: () = redis::cmd("DEL").arg(&listed).query(&mut conn).unwrap();
    assert_eq!(rule_status(&config, "ip-count"), ip_count);
    assert_eq!(rule_status(&config, "pvuv"), pvuv);

    let table = weir()
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains(&format!("source web: {} records", line_count(&access)))
            && table.contains("(lanes bus/events/0, bus/events/1)"),
        "weir status shows each source:\n{table}"
    );
}

/// Two file sources feeding one rule: its values are those of one run over
/// both files, merged across the two lanes (distinct visitors seen in both
/// files count once).
#[test]
fn two_file_sources_feed_one_rule() {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.log");
    log(&all, "83", "30000");
    let (first, second) = halves(&all);
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    std::fs::write(&a, first).unwrap();
    std::fs::write(&b, second).unwrap();
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let sources = format!(
        "{}{}",
        file_named("east", &a, false),
        file_named("west", &b, false)
    );
    let config = write_config(dir.path(), &sources, &plugins, &redis, LATENESS);
    run_to_end(&config);
    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &all, 864_000, 0),
        "pvuv over both files",
    );
    let status = rule_status(&config, "pvuv");
    assert_eq!(status["stats"]["records_in"], line_count(&all));
    assert_eq!(
        status_sources(&status),
        [
            ("east".to_owned(), vec!["east".to_owned()]),
            ("west".to_owned(), vec!["west".to_owned()]),
        ]
    );
    // Run again: both files resume at their ends; nothing is counted twice.
    run_to_end(&config);
    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &all, 864_000, 0),
        "pvuv after a second run over the same files",
    );
    assert_eq!(
        rule_status(&config, "pvuv")["stats"]["records_in"],
        line_count(&all)
    );
}

/// A run over a followed file and a Kafka topic is killed (`kill -9`)
/// after part of each was read and checkpointed; more lines arrive in
/// both; the next run resumes each source from its own checkpoint. Every
/// rule's values are exact, nothing lost and nothing counted twice.
#[test]
fn a_restart_resumes_each_source_from_its_own_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (access, events) = (dir.path().join("access.log"), dir.path().join("events.log"));
    log(&access, "84", "20000");
    log(&events, "85", "16000");
    let (access_head, access_tail) = halves(&access);
    let (events_head, events_tail) = halves(&events);
    let (followed, events_part) = (dir.path().join("followed.log"), dir.path().join("part.log"));
    std::fs::write(&followed, &access_head).unwrap();
    std::fs::write(&events_part, &events_head).unwrap();

    let broker = Broker::with_topics(&[("events", 2)]);
    produce(&broker, &events_part);
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "ip_count"]);
    let rules = format!(
        "{LATENESS}[rules.pvuv]\nsources = [\"web\"]\n[rules.ip-count]\nsources = [\"bus\"]\n"
    );
    let sources = format!(
        "{}{}",
        file_named("web", &followed, true),
        kafka_named("bus", &broker, "idle_partition_ms = 0\n")
    );
    let config = write_config(dir.path(), &sources, &plugins, &redis, &rules);
    let log_path = dir.path().join("first.log");
    let mut first = Running::spawn(&config, std::fs::File::create(&log_path).unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    while redis.records_in("pvuv") < lines_in(&access_head)
        || redis.records_in("ip-count") < lines_in(&events_head)
    {
        assert!(
            Instant::now() < deadline,
            "the first run checkpointed {} and {} records; log:\n{}",
            redis.records_in("pvuv"),
            redis.records_in("ip-count"),
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Killed with no chance to write a last checkpoint.
    let mut child = first.0.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    let mut appended = std::fs::OpenOptions::new()
        .append(true)
        .open(&followed)
        .unwrap();
    std::io::Write::write_all(&mut appended, &access_tail).unwrap();
    std::fs::write(&events_part, &events_tail).unwrap();
    produce(&broker, &events_part);

    // The second run ends by itself: the file is no longer followed and
    // the topic is read to its end.
    let sources = format!(
        "{}{}",
        file_named("web", &followed, false),
        kafka_named(
            "bus",
            &broker,
            "idle_partition_ms = 0\nstop_at_end = true\n"
        )
    );
    let config = write_config(dir.path(), &sources, &plugins, &redis, &rules);
    let output = output_within(
        weir().arg("run").arg("--config").arg(&config),
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "second run failed:\n{stderr}");
    assert!(
        stderr.contains("resuming file from checkpoint"),
        "the file resumed from its lane's checkpoint:\n{stderr}"
    );

    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &access, 864_000, 0),
        "pvuv over the file, across the restart",
    );
    assert_same(
        &redis.outputs("ip-count"),
        &oracle("ip-count", &events, 864_000, 0),
        "ip-count over the topic, across the restart",
    );
    assert_eq!(
        rule_status(&config, "pvuv")["stats"]["records_in"],
        line_count(&access)
    );
    assert_eq!(
        rule_status(&config, "ip-count")["stats"]["records_in"],
        line_count(&events)
    );
}
