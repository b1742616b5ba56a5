//! `kill -9` mid-run, then restart: the same values as an uninterrupted run.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn kill_9_and_restart_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(
        &log,
        &[
            "--seed",
            "9",
            "--lines",
            "800000",
            "--jitter-frac",
            "0.1",
            "--very-late-frac",
            "0.01",
            "--malformed-frac",
            "0.01",
        ],
    );
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "ip_count"]);
    // Small batches and frequent checkpoints: many points a kill can land between.
    let config = write_config(
        dir.path(),
        &format!("{}batch_records = 64\n", file_source(&log, false)),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 20\n",
    );

    let mut kills = 0;
    let mut delay = Duration::from_millis(250);
    for _ in 0..8 {
        let mut child = weir()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < delay {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "weir run failed");
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        delay += Duration::from_millis(100);
    }
    assert!(
        kills >= 2,
        "the run finished before it could be killed twice; the test proves nothing"
    );
    // Whatever happened, one more run finishes the input.
    run_to_end(&config);

    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &log, 10, 0),
        "pvuv after kills",
    );
    assert_same(
        &redis.outputs("ip-count"),
        &oracle("ip-count", &log, 10, 0),
        "ip-count after kills",
    );

    // The rule counters are checkpointed too: every line counted once.
    let bytes = std::fs::read(&log).unwrap();
    let lines = bytes.split_inclusive(|&b| b == b'\n').count() as u64;
    assert_eq!(redis.records_in("pvuv"), lines);
}
