//! Redis output equals an independent computation.

use crate::support::*;

/// Every golden case (`tests/golden/<rule>/`): the rule's hashes equal the
/// committed `expected.json`.
#[test]
fn golden_cases() {
    for (rule, wasm) in [
        ("pvuv", "pvuv"),
        ("ip-count", "ip_count"),
        ("hive-audit", "hive_audit"),
    ] {
        let case = repo_root().join("tests/golden").join(rule);
        let dir = tempfile::tempdir().unwrap();
        let redis = RedisServer::start();
        let plugins = plugins_dir(dir.path(), &[wasm]);
        let config = write_config(
            dir.path(),
            &file_source(&case.join("input.log"), false),
            &plugins,
            &redis,
            "[windows]\nallowed_lateness_secs = 10\n",
        );
        run_to_end(&config);
        let expected: Hashes =
            serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
                .unwrap();
        assert_same(&redis.outputs(rule), &expected, rule);
    }
}

/// A generated access log with out-of-order, very late, malformed and
/// invalid UTF-8 lines, day windows at local midnight in UTC+8: pvuv and
/// ip-count equal the oracle exactly.
#[test]
fn generated_access_log_matches_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(
        &log,
        &[
            "--seed",
            "21",
            "--lines",
            "60000",
            "--start",
            "2026-11-21T23:50:00+08:00",
            "--jitter-frac",
            "0.1",
            "--very-late-frac",
            "0.01",
            "--malformed-frac",
            "0.02",
            "--invalid-utf8-frac",
            "0.005",
        ],
    );
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "ip_count"]);
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\nday_offset_secs = -28800\n[checkpoint]\ninterval_ms = 50\n",
    );
    run_to_end(&config);
    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &log, 10, -28800),
        "pvuv",
    );
    assert_same(
        &redis.outputs("ip-count"),
        &oracle("ip-count", &log, 10, -28800),
        "ip-count",
    );

    // Dashboards list windows from the index, newest last.
    let mut conn = redis.conn();
    let starts: Vec<i64> = redis::cmd("ZRANGE")
        .arg("weir:pvuv:pv:60:windows")
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    assert!(!starts.is_empty());
    for start in starts.iter().rev().take(5) {
        let exists: bool = redis::cmd("EXISTS")
            .arg(format!("weir:pvuv:pv:60:{start}"))
            .query(&mut conn)
            .unwrap();
        assert!(exists, "index names window {start} that has no hash");
    }
    // Closed windows leave no checkpoint state behind.
    let leftovers = redis.keys("weir:ckpt:*:slot:*");
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Hive metastore audit lines, with non-audit lines and lines without a table.
#[test]
fn generated_audit_log_matches_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    generate(
        &log,
        &[
            "--format",
            "audit",
            "--seed",
            "5",
            "--lines",
            "20000",
            "--jitter-frac",
            "0.1",
        ],
    );
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["hive_audit"]);
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n",
    );
    run_to_end(&config);
    assert_same(
        &redis.outputs("hive-audit"),
        &oracle("hive-audit", &log, 10, 0),
        "hive-audit",
    );
}

/// `[engine] threads` changes how a batch's rule calls are spread, never
/// the result: one thread (calls and window updates in turn) and three
/// (more threads than this machine's cores, each on its own run of every
/// batch) both equal the oracle, with the same counters.
#[test]
fn any_number_of_engine_threads_matches_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(
        &log,
        &[
            "--seed",
            "23",
            "--lines",
            "40000",
            "--jitter-frac",
            "0.1",
            "--very-late-frac",
            "0.01",
            "--malformed-frac",
            "0.02",
        ],
    );
    let plugins = plugins_dir(dir.path(), &["pvuv", "ip_count"]);
    let mut records = Vec::new();
    for threads in [1, 3] {
        let redis = RedisServer::start();
        let run_dir = dir.path().join(format!("threads-{threads}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        let config = write_config(
            &run_dir,
            &file_source(&log, false),
            &plugins,
            &redis,
            &format!("[engine]\nthreads = {threads}\n[checkpoint]\ninterval_ms = 50\n"),
        );
        run_to_end(&config);
        for rule in ["pvuv", "ip-count"] {
            assert_same(
                &redis.outputs(rule),
                &oracle(rule, &log, 10, 0),
                &format!("{rule} on {threads} threads"),
            );
        }
        records.push((redis.records_in("pvuv"), redis.records_in("ip-count")));
    }
    assert_eq!(records[0], records[1]);
    assert_eq!(records[0].0, line_count(&log));
}
