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
