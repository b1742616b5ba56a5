//! `spend`, `orders` and `errors` over Kafka, each topic in 3 partitions
//! (3 lanes merged in Redis), with a `kill -9` mid-run: merged decimal
//! sums, distinct payers, the top 5 and the alerts equal the oracle's over
//! the whole input, each alert written once.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::jobs::{
    ERRORS_CONFIG, assert_alerts_once, check_cpu, check_orders, expected_alerts, job_log,
};
use crate::kafka_support::{Broker, kafka_source};
use crate::result_store::ResultStore;
use crate::support::*;

/// Each job on its own topic of 3 partitions (a bounded Kafka run reads
/// one topic) and its own Redis.
#[test]
fn json_jobs_over_three_partitions_merge_exactly_through_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    run_jobs_over_kafka(
        dir.path(),
        &["spend", "orders", "errors"],
        RedisServer::start,
    );
}

/// Runs each of `jobs` on its own topic of 3 partitions into its own store
/// from `store`, killed once mid-run, and checks it against the oracle.
pub fn run_jobs_over_kafka<S: ResultStore>(dir: &Path, jobs: &[&str], store: impl Fn() -> S) {
    let topics: Vec<(&str, u32)> = jobs.iter().map(|job| (*job, 3)).collect();
    let broker = Broker::with_topics(&topics);
    for (seed, job) in jobs.iter().enumerate() {
        let dir = dir.join(job);
        std::fs::create_dir_all(&dir).unwrap();
        let log = job_log(&dir, job, 40 + seed as u32, 12_000);
        let produced = weir()
            .args(["produce", "--brokers", &broker.brokers(), "--topic", job])
            .arg("--file")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(produced.success(), "cannot produce {job}");
        let redis = store();
        let plugins = plugins_dir(&dir, &[job]);
        // Each partition has its own watermark; a lateness longer than the
        // input makes every line on time whatever the interleaving, as in
        // the oracle's single watermark.
        let source = kafka_source(&broker, &format!("[\"{job}\"]"), "stop_at_end = true\n")
            .replace("group = \"weir-test\"", &format!("group = \"weir-{job}\""));
        let config = redis.config(
            &dir,
            &source,
            &plugins,
            &format!(
                "[windows]\nallowed_lateness_secs = 864000\n[checkpoint]\ninterval_ms = 20\n{}",
                if *job == "errors" { ERRORS_CONFIG } else { "" }
            ),
        );
        kill_once_then_finish(&config, &redis, job, line_count(&log), &dir);
        check_job(&redis, job, &log);
    }
}

/// Kills weir with SIGKILL once a third of the input is checkpointed, then
/// runs it again to the end.
fn kill_once_then_finish(
    config: &Path,
    redis: &impl ResultStore,
    job: &str,
    lines: u64,
    dir: &Path,
) {
    let log = std::fs::File::create(dir.join("weir.log")).unwrap();
    let mut first = Running::spawn(config, log);
    let deadline = Instant::now() + Duration::from_secs(120);
    while redis.records_in(job) < lines / 3 {
        assert!(
            Instant::now() < deadline && first.wait_exit(Duration::ZERO).is_none(),
            "weir checkpointed {} of {lines}: {}",
            redis.records_in(job),
            std::fs::read_to_string(dir.join("weir.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(child) = first.0.as_mut() {
        child.kill().unwrap();
    }
    drop(first);
    run_to_end(config);
}

fn check_job(redis: &impl ResultStore, job: &str, log: &Path) {
    const LATENESS: u64 = 864_000;
    match job {
        "orders" => assert!(check_orders(redis, log, LATENESS) > 0),
        "cpu" => check_cpu(redis, log, LATENESS),
        _ => {
            let offset = if job == "spend" { -28_800 } else { 0 };
            let expected = oracle(job, log, LATENESS, offset);
            assert_same(&redis.outputs(job), &expected, job);
            if job == "errors" {
                assert_alerts_once(redis, "errors", &expected_alerts(&expected, 40, 600), 600);
            }
        }
    }
}
