//! `weir test`: a replay under event time without Redis equals the
//! independent oracle, compares with golden files and rewrites them, and
//! names rejected lines by number.

use std::path::Path;
use std::process::Output;

use crate::support::*;

/// Runs `weir test RULE --input LOG ARGS`.
fn weir_test(rule: &Path, log: &Path, args: &[&str]) -> Output {
    weir()
        .arg("test")
        .arg(rule)
        .arg("--input")
        .arg(log)
        .args(args)
        .output()
        .unwrap()
}

/// `weir test --json` (which must succeed) in the oracle's Redis form:
/// `{"<metric>:<size>": {"<start>": {"<group>": n}}}` →
/// `{"weir:<rule>:<metric>:<size>:<start>": {"<group>": "n"}}`.
fn replayed(rule: &str, wasm: &Path, log: &Path, args: &[&str]) -> Hashes {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = weir_test(wasm, log, &all);
    assert!(
        output.status.success(),
        "weir test failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let windows: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&output.stdout).unwrap();
    let mut hashes = Hashes::new();
    for (metric_size, starts) in windows {
        for (start, groups) in starts.as_object().unwrap() {
            let fields = groups
                .as_object()
                .unwrap()
                .iter()
                .map(|(group, value)| (group.clone(), value.to_string()))
                .collect();
            hashes.insert(format!("weir:{rule}:{metric_size}:{start}"), fields);
        }
    }
    hashes
}

/// Every golden case: `weir test --expect expected.json` passes, and its
/// `--json` output is the committed oracle output, value for value.
#[test]
fn golden_cases_replay_without_redis() {
    for (rule, wasm) in [
        ("pvuv", "pvuv"),
        ("ip-count", "ip_count"),
        ("hive-audit", "hive_audit"),
    ] {
        let case = repo_root().join("tests/golden").join(rule);
        let log = case.join("input.log");
        let expected_file = case.join("expected.json");
        let output = weir_test(
            &rule_wasm(wasm),
            &log,
            &["--expect", expected_file.to_str().unwrap()],
        );
        assert!(
            output.status.success(),
            "{rule}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let expected: Hashes =
            serde_json::from_str(&std::fs::read_to_string(&expected_file).unwrap()).unwrap();
        assert_same(
            &replayed(rule, &rule_wasm(wasm), &log, &[]),
            &expected,
            rule,
        );
    }
}

/// A generated access log with out-of-order, very late, malformed and
/// invalid UTF-8 lines, across local midnight in UTC+8: the replay equals
/// the oracle for the same lateness and day offset.
#[test]
fn generated_log_replay_matches_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(
        &log,
        &[
            "--seed",
            "31",
            "--lines",
            "30000",
            "--start",
            "2026-11-21T23:50:00+08:00",
            "--jitter-frac",
            "0.1",
            "--jitter-secs",
            "20",
            "--very-late-frac",
            "0.01",
            "--malformed-frac",
            "0.02",
            "--invalid-utf8-frac",
            "0.005",
        ],
    );
    let got = replayed(
        "pvuv",
        &rule_wasm("pvuv"),
        &log,
        &["--lateness-secs", "15", "--day-offset-secs", "-28800"],
    );
    assert_same(&got, &oracle("pvuv", &log, 15, -28800), "pvuv");
}

/// `--expect` fails on one changed value and prints it; `--update`
/// rewrites the golden file, which then passes and holds the `--json`
/// output.
#[test]
fn expect_fails_on_a_difference_and_update_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let log = repo_root().join("tests/golden/pvuv/input.log");
    let wasm = rule_wasm("pvuv");
    let golden = dir.path().join("expected.json");
    let mut hashes: Hashes = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/golden/pvuv/expected.json")).unwrap(),
    )
    .unwrap();
    let total = hashes
        .get_mut("weir:pvuv:pv:60:1795219080")
        .and_then(|fields| fields.get_mut("total"))
        .unwrap();
    assert_eq!(total, "40", "the golden file changed");
    *total = "41".to_owned();
    let text = serde_json::to_string(&hashes).unwrap();
    std::fs::write(&golden, text).unwrap();

    let output = weir_test(&wasm, &log, &["--expect", golden.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 difference(s)")
            && stdout.contains("pv:60 @1795219080 [total]: expected 41, got 40"),
        "{stdout}"
    );

    let output = weir_test(
        &wasm,
        &log,
        &["--expect", golden.to_str().unwrap(), "--update"],
    );
    assert!(output.status.success());
    let json = weir_test(&wasm, &log, &["--json"]);
    assert_eq!(std::fs::read(&golden).unwrap(), json.stdout);
    let output = weir_test(&wasm, &log, &["--expect", golden.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Rejected lines are named by line number with the rule's reason, and
/// the counters add up.
#[test]
fn rejects_are_reported_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let good = "10.0.0.1 - - [21/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5";
    std::fs::write(&log, format!("{good}\n{good}\nnot a log line\n{good}\n\n")).unwrap();
    let output = weir_test(&rule_wasm("pvuv"), &log, &[]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("5 lines of"), "{stdout}");
    assert!(stdout.contains("2 rejected"), "{stdout}");
    let line_3 = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("line 3: "));
    assert!(line_3.is_some(), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|line| line.trim_start().starts_with("line 5: ")),
        "{stdout}"
    );
    assert!(stdout.contains("total=3"), "{stdout}");

    let missing = weir_test(&rule_wasm("pvuv"), &dir.path().join("nope.log"), &[]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("nope.log"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
