//! Sources: stdin, and following a file through rotation and truncation.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

#[test]
fn stdin_source_reads_to_the_end() {
    let case = repo_root().join("tests/golden/pvuv");
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let config = write_config(
        dir.path(),
        "[source]\nkind = \"stdin\"\n",
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n",
    );
    let mut child = weir()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let input = std::fs::read(case.join("input.log")).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Two writes with a pause: a batch is handed out when input pauses.
    let (first, second) = input.split_at(input.len() / 2);
    stdin.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(second).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let expected: Hashes =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
            .unwrap();
    assert_same(&redis.outputs("pvuv"), &expected, "pvuv from stdin");

    // `weir status --json`: the rule read every line and finished.
    let status = weir()
        .args(["status", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(status.status.success());
    let rules: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    // Every line is a record, blank ones too (the rule rejects those).
    let lines = input.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(rules[0]["name"], "pvuv", "{rules}");
    assert_eq!(rules[0]["state"], "finished", "{rules}");
    assert_eq!(rules[0]["lanes"], 1, "{rules}");
    assert_eq!(
        rules[0]["stats"]["records_in"].as_u64(),
        Some(lines as u64),
        "{rules}"
    );
}

/// Appends, a rotation (rename + new file) and a truncation while weir
/// follows the file: every line is counted once. ip-count's windows are
/// tumbling, so the live values written when weir stops are complete.
#[test]
fn follow_survives_rotation_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.log");
    generate(
        &all,
        &[
            "--seed",
            "3",
            "--lines",
            "3000",
            "--malformed-frac",
            "0",
            "--invalid-utf8-frac",
            "0",
            "--very-late-frac",
            "0",
        ],
    );
    let text = std::fs::read(&all).unwrap();
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let (part1, rest) = lines.split_at(1000);
    let (part2, part3) = rest.split_at(1000);

    let log = dir.path().join("app.log");
    std::fs::write(&log, part1.concat()).unwrap();
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["ip_count"]);
    let config = write_config(
        dir.path(),
        &format!("{}poll_interval_ms = 20\n", file_source(&log, true)),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 20\n",
    );
    let follower = Running::spawn(&config, Stdio::null());
    let wait_for = |count: u64| {
        redis.wait_for_records("ip-count", count, Duration::from_secs(20), None);
    };
    wait_for(1000);
    // Append half of part 2 without its last newline, then the rest.
    let part2 = part2.concat();
    let (a, b) = part2.split_at(part2.len() / 2);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(a)
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b)
        .unwrap();
    wait_for(2000);
    // Rotate: the old file moves away, a new one takes its name.
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    let (p3a, p3b) = part3.split_at(500);
    std::fs::write(&log, p3a.concat()).unwrap();
    wait_for(2500);
    // Truncate (copytruncate style) and write the rest.
    std::fs::write(&log, p3b.concat()).unwrap();
    wait_for(3000);
    std::thread::sleep(Duration::from_millis(100));
    assert!(follower.terminate().success());
    assert_same(
        &redis.outputs("ip-count"),
        &oracle("ip-count", &all, 10, 0),
        "ip-count while following",
    );
}
