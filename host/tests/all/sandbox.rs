//! A rule that traps costs the records it traps on, never the pipeline:
//! other rules stay exact, and the records go to the dead-letter stream.

use std::collections::BTreeMap;

use crate::support::*;

/// Marks `every`-th line (`GET /BOOM...`) of a generated log; returns the
/// offsets of the marked lines that are valid access lines.
fn marked_log(dir: &std::path::Path, every: usize) -> (std::path::PathBuf, Vec<u64>) {
    let log = dir.join("access.log");
    generate(
        &log,
        &["--seed", "8", "--lines", "3000", "--malformed-frac", "0.01"],
    );
    let text = std::fs::read(&log).unwrap();
    let mut out = Vec::new();
    let mut marked = Vec::new();
    for (i, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        let offset = out.len() as u64;
        let as_text = String::from_utf8_lossy(line);
        if i % every == every - 1 && as_text.contains("\"GET /") && !as_text.contains('\u{fffd}') {
            out.extend(as_text.replacen("\"GET /", "\"GET /BOOM", 1).into_bytes());
            marked.push(offset);
        } else {
            out.extend_from_slice(line);
        }
    }
    std::fs::write(&log, &out).unwrap();
    (log, marked)
}

fn run_misbehaving(mode: &str, limits: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (log, marked) = marked_log(dir.path(), 400);
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "weir_test_misbehave"]);
    let config = write_config(
        dir.path(),
        &format!("{}batch_records = 512\n", file_source(&log, false)),
        &plugins,
        &redis,
        &format!(
            "[windows]\nallowed_lateness_secs = 10\n[limits]\ntrap_threshold = 1000\n{limits}\n[rules.misbehave]\nconfig = {{ mode = \"{mode}\" }}\n"
        ),
    );
    let output = run_to_end(&config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked at host") && !stderr.contains("thread 'main' panicked"),
        "{stderr}"
    );

    // The other rule is exact.
    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &log, 10, 0),
        &format!("pvuv beside a rule that does {mode}"),
    );

    // Exactly the marked lines are dead-lettered, with their offsets.
    let mut conn = redis.conn();
    let entries: Vec<(String, BTreeMap<String, Vec<u8>>)> = redis::cmd("XRANGE")
        .arg("weir:misbehave:dead")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    let mut offsets: Vec<u64> = entries
        .iter()
        .map(|(_, fields)| String::from_utf8_lossy(&fields["offset"]).parse().unwrap())
        .collect();
    offsets.sort_unstable();
    assert_eq!(offsets, marked, "{mode}: dead-lettered offsets");
    for (_, fields) in &entries {
        assert!(String::from_utf8_lossy(&fields["payload"]).contains("BOOM"));
        assert!(!fields["reason"].is_empty());
        assert!(!fields["version"].is_empty());
    }
    // The misbehaving rule still counted the other lines.
    let counted = total(&redis.outputs("misbehave"), ":lines:60:");
    let pv = total(&oracle("pvuv", &log, 10, 0), "weir:pvuv:pv:60:");
    assert!(
        counted + marked.len() as u64 >= pv - 5 && counted < pv,
        "{mode}: counted {counted}, pv {pv}"
    );
    let stats: String = redis::cmd("HGET")
        .arg("weir:ckpt:default:rule:misbehave")
        .arg("stats")
        .query(&mut conn)
        .unwrap();
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(
        stats["dead_lettered"].as_u64(),
        Some(marked.len() as u64),
        "{stats}"
    );

    // `weir status` shows it.
    let status = weir()
        .arg("status")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(status.status.success());
    let report = String::from_utf8_lossy(&status.stdout);
    let row = report
        .lines()
        .find(|line| line.starts_with("misbehave "))
        .unwrap_or_default();
    assert!(row.contains(&format!(" {} ", marked.len())), "{report}");
    assert!(
        report.lines().any(|line| line.starts_with("pvuv ")),
        "{report}"
    );
    stderr.into_owned()
}

#[test]
fn a_panicking_rule_costs_only_its_records() {
    let stderr = run_misbehaving("panic", "");
    // The guest's panic message reaches the host log, tagged with the rule.
    let captured = stderr
        .lines()
        .find(|line| line.contains("marker found at offset"))
        .unwrap_or_else(|| panic!("guest stderr not captured:\n{stderr}"));
    assert!(captured.contains("rule=\"misbehave\""), "{captured}");
}

#[test]
fn an_endless_loop_is_stopped_by_the_deadline() {
    run_misbehaving("loop", "call_timeout_ms = 50");
}

#[test]
fn unbounded_memory_is_stopped_by_the_cap() {
    run_misbehaving("grow", "memory_bytes = 67108864");
}

#[test]
fn deep_recursion_is_a_trap_not_a_crash() {
    run_misbehaving("recurse", "");
}

#[test]
fn output_over_the_cap_is_a_trap() {
    run_misbehaving("flood", "max_updates_per_batch = 100000");
}

#[test]
fn fuel_bounds_cpu_deterministically() {
    run_misbehaving("loop", "call_timeout_ms = 0\nfuel_per_call = 200000000");
}

/// The number after ` {name}=` in a log line.
fn field(line: &str, name: &str) -> u64 {
    let pattern = format!(" {name}=");
    let at = line
        .find(&pattern)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + pattern.len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number in {line}"))
}

/// A rule quarantined in a finite run skips records, never silently: the
/// run fails naming the rule and what it skipped, the totals count the
/// dead letters, failed calls and skipped records, and the other rule is
/// exact. The breaker trips on the second marked line and the quarantine
/// outlasts the run, so it surely skips the rest of the file.
#[test]
fn a_quarantine_in_a_finite_run_fails_it_and_counts_the_skipped_records() {
    let dir = tempfile::tempdir().unwrap();
    let (log, marked) = marked_log(dir.path(), 400);
    let lines = line_count(&log);
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "weir_test_misbehave"]);
    let config = write_config(
        dir.path(),
        &format!("{}batch_records = 512\n", file_source(&log, false)),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n\
         [limits]\ntrap_threshold = 2\ntrap_window_secs = 3600\nquarantine_secs = 3600\n\
         [rules.misbehave]\nconfig = { mode = \"panic\" }\n",
    );
    let output = run_output(&config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the run succeeded:\n{stderr}");
    assert!(!stderr.contains("panicked at host"), "{stderr}");

    let totals = |rule: &str| {
        stderr
            .lines()
            .find(|line| line.contains("rule totals") && line.contains(&format!("rule=\"{rule}\"")))
            .unwrap_or_else(|| panic!("no totals for {rule}:\n{stderr}"))
    };
    let misbehave = totals("misbehave");
    let records = field(misbehave, "records");
    let dead = field(misbehave, "dead_lettered");
    let traps = field(misbehave, "traps");
    let quarantined = field(misbehave, "quarantined");
    assert!(dead >= 2, "the breaker trips at 2: {misbehave}");
    assert!(traps >= dead, "{misbehave}");
    assert!(quarantined > 0, "{misbehave}");
    assert_eq!(
        records + quarantined,
        lines,
        "each line either reached the rule or was skipped: {misbehave}"
    );
    let pvuv = totals("pvuv");
    assert_eq!(field(pvuv, "records"), lines, "{pvuv}");
    assert_eq!(field(pvuv, "quarantined"), 0, "{pvuv}");

    // The error names the rule and what it skipped, and only that rule.
    let error = stderr
        .lines()
        .find(|line| line.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error:\n{stderr}"));
    assert!(
        error.contains(&format!(
            "rule `misbehave` skipped {quarantined} of {lines} records while quarantined \
             ({dead} dead-lettered, {traps} failed calls)"
        )),
        "{error}"
    );
    assert!(!error.contains("`pvuv`"), "{error}");

    // The dead letters are the marked lines read before the quarantine.
    let mut conn = redis.conn();
    let entries: Vec<(String, BTreeMap<String, Vec<u8>>)> = redis::cmd("XRANGE")
        .arg("weir:misbehave:dead")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    let offsets: Vec<u64> = entries
        .iter()
        .map(|(_, fields)| String::from_utf8_lossy(&fields["offset"]).parse().unwrap())
        .collect();
    assert_eq!(offsets, marked[..dead as usize], "dead-lettered offsets");

    // `weir status` shows the quarantine and the same counts.
    let status = status_json(&config);
    let rule = status
        .iter()
        .find(|rule| rule["name"] == "misbehave")
        .unwrap();
    assert_eq!(rule["state"], "quarantined", "{rule}");
    assert_eq!(
        rule["stats"]["quarantined"].as_u64(),
        Some(quarantined),
        "{rule}"
    );
    assert_eq!(
        rule["stats"]["dead_lettered"].as_u64(),
        Some(dead),
        "{rule}"
    );

    // The other rule never noticed.
    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &log, 10, 0),
        "pvuv beside a quarantined rule",
    );
}
