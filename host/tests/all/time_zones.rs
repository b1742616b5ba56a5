//! Time zones per rule: `[rules.<name>] day_offset_secs` aligns that rule's
//! windows, the others keep `[windows] day_offset_secs`, in one pipeline;
//! and a restart under another offset.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::support::*;

/// One access log through `pvuv` with its own day offset (local midnight in
/// UTC+8) and `ip-count` with the pipeline's. The pipeline's offset is
/// 30 s, an offset that moves minute windows, so `ip-count`'s only window
/// (a minute) shows which alignment it got; both equal the oracle run with
/// each rule's own offset.
#[test]
fn two_rules_count_in_their_own_time_zones() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(
        &log,
        &[
            "--seed",
            "8",
            "--lines",
            "20000",
            "--start",
            "2026-11-21T23:30:00+08:00",
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
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\nday_offset_secs = 30\n\
         [rules.pvuv]\nday_offset_secs = -28800\n\
         [checkpoint]\ninterval_ms = 50\n",
    );
    run_to_end(&config);

    let pvuv = redis.outputs("pvuv");
    assert_same(&pvuv, &oracle("pvuv", &log, 10, -28800), "pvuv");
    // The log crosses local midnight: two UTC+8 days, each from 16:00 UTC.
    let days: Vec<i64> = pvuv
        .keys()
        .filter_map(|key| key.strip_prefix("weir:pvuv:pv:86400:"))
        .map(|start| start.parse().unwrap())
        .collect();
    assert_eq!(days.len(), 2, "{days:?}");
    assert!(
        days.iter().all(|start| start.rem_euclid(86_400) == 57_600),
        "{days:?}"
    );

    let ip_count = redis.outputs("ip-count");
    assert_same(&ip_count, &oracle("ip-count", &log, 10, 30), "ip-count");
    let minutes: Vec<i64> = ip_count
        .keys()
        .filter_map(|key| key.strip_prefix("weir:ip-count:requests:60:"))
        .map(|start| start.parse().unwrap())
        .collect();
    assert_eq!(minutes.len(), ip_count.len());
    assert!(
        minutes.iter().all(|start| start.rem_euclid(60) == 30),
        "minutes from :30: {minutes:?}"
    );
}

/// A `[rules.<name>]` table for a rule that is not loaded is refused as
/// before, whatever it holds; a bad `day_offset_secs` is named by its key
/// path.
#[test]
fn a_day_offset_for_an_unknown_rule_or_out_of_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let config = check_config(
        dir.path(),
        &plugins,
        "[rules.pvuv]\nday_offset_secs = -28800\n[rules.nope]\nday_offset_secs = 3600\n",
    );
    let stderr = check_fails(&config);
    assert!(
        stderr.contains("rules.nope: no loaded rule is called `nope`"),
        "{stderr}"
    );

    let config = check_config(
        dir.path(),
        &plugins,
        "[rules.pvuv]\nday_offset_secs = 86400\n",
    );
    let stderr = check_fails(&config);
    assert!(
        stderr.contains("rules.pvuv.day_offset_secs: must be in -86399..=86399 (found 86400)"),
        "{stderr}"
    );
}

/// A followed run of `pvuv` until it has checkpointed `count` records,
/// stopped with SIGTERM (its open windows checkpointed); returns its log.
fn run_until(config: &Path, redis: &RedisServer, count: u64, log: &Path) -> String {
    let weir = Running::spawn(config, File::create(log).unwrap());
    redis.wait_for_records("pvuv", count, Duration::from_secs(60), Some(log));
    let status = weir.terminate();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(status.success(), "weir failed:\n{text}");
    text
}

/// `pvuv` stops with a UTC day open (15:30 to 15:45 UTC read) and starts
/// again with its own offset, local midnight in UTC+8 (16:00 UTC). The
/// restart names the metrics whose open windows it discarded (the days),
/// deletes the UTC day's checkpoint state, and keeps the minute windows
/// open across it: once the rest is read and every window closed, each
/// minute equals the oracle, and each day key is a UTC+8 day.
#[test]
fn a_restart_under_another_day_offset_keeps_minutes_and_drops_the_old_day() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.log");
    generate(
        &whole,
        &[
            "--seed",
            "12",
            "--lines",
            "3000",
            "--start",
            "2026-11-21T23:30:00+08:00",
            "--very-late-frac",
            "0",
            "--malformed-frac",
            "0",
            "--invalid-utf8-frac",
            "0",
            "--empty-frac",
            "0",
            "--crlf-frac",
            "0",
        ],
    );
    let bytes = std::fs::read(&whole).unwrap();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    let half = lines.len() / 2;
    let log = dir.path().join("access.log");
    std::fs::write(&log, lines[..half].concat()).unwrap();

    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let config = |follow: bool, rules: &str| {
        let source = format!("{}poll_interval_ms = 20\n", file_source(&log, follow));
        let extra = format!(
            "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 50\n{rules}"
        );
        write_config(dir.path(), &source, &plugins, &redis, &extra)
    };
    // 2026-11-21 00:00 UTC, in milliseconds as checkpoint slots name it.
    let utc_day_state = "weir:ckpt:*c86400-60:c:1795219200000*";

    let first = run_until(
        &config(true, ""),
        &redis,
        half as u64,
        &dir.path().join("run1.log"),
    );
    assert!(
        !redis.keys(utc_day_state).is_empty(),
        "the UTC day is open in the checkpoint:\n{first}"
    );

    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(&lines[half..].concat()).unwrap();
    drop(file);
    let utc8 = "[rules.pvuv]\nday_offset_secs = -28800\n";
    let second = run_until(
        &config(true, utc8),
        &redis,
        lines.len() as u64,
        &dir.path().join("run2.log"),
    );
    let warning = second
        .lines()
        .find(|line| line.contains("day offset changed since the checkpoint"))
        .unwrap_or_else(|| panic!("no warning:\n{second}"));
    assert!(
        warning.contains("WARN") && warning.contains("pv, uv"),
        "{warning}"
    );
    assert_eq!(
        redis.keys(utc_day_state),
        Vec::<String>::new(),
        "the discarded UTC day left checkpoint state"
    );

    // Nothing more to read: the end closes every window.
    run_to_end(&config(false, utc8));
    let got = redis.outputs("pvuv");
    assert_same(
        &minutes(got.clone()),
        &minutes(oracle("pvuv", &log, 10, -28800)),
        "pvuv minutes",
    );
    let days: Vec<i64> = got
        .keys()
        .filter_map(|key| key.strip_prefix("weir:pvuv:pv:86400:"))
        .map(|start| start.parse().unwrap())
        .collect();
    assert!(
        days.iter()
            .all(|&start| start == 1_795_219_200 || start.rem_euclid(86_400) == 57_600),
        "only the UTC day as published before the restart, then UTC+8 days: {days:?}"
    );
    assert!(days.len() >= 2, "{days:?}");
}
