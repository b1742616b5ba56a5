//! A rule that traps costs the records it traps on, never the pipeline:
//! other rules stay exact, and the records go to the dead-letter stream.
//! The same test guest (`misbehave`) checks the rest of the sandbox: a
//! quarantine end to end, randomness that is the same on every run, a
//! rule's stdout and stderr in the host log, and a rule error withdrawing
//! what its record emitted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

/// Records per batch in every run here (the quarantine test counts batches).
const BATCH_RECORDS: u64 = 512;

/// A generated log in its own folder, with the offsets of its marked lines.
struct MarkedLog {
    dir: tempfile::TempDir,
    path: PathBuf,
    marked: Vec<u64>,
}

/// Marks every `every`-th line (`GET /BOOM...`) of a generated log; keeps
/// the offsets of the marked lines that are valid access lines.
fn marked_log(every: usize) -> MarkedLog {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    generate(
        &path,
        &["--seed", "8", "--lines", "3000", "--malformed-frac", "0.01"],
    );
    let text = std::fs::read(&path).unwrap();
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
    std::fs::write(&path, &out).unwrap();
    MarkedLog { dir, path, marked }
}

/// The index (from 0) of the line starting at byte `offset` of `path`.
fn line_index(path: &Path, offset: u64) -> u64 {
    let text = std::fs::read(path).unwrap();
    text[..offset as usize]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
}

/// What a run of `misbehave` beside `pvuv` left.
struct Run {
    log: MarkedLog,
    /// Kept running while the test reads the status.
    _redis: RedisServer,
    config: PathBuf,
    succeeded: bool,
    /// weir's log.
    stderr: String,
    elapsed: Duration,
    /// `misbehave`'s output hashes.
    outputs: Hashes,
    /// `misbehave`'s dead letters, in stream order.
    dead: Vec<BTreeMap<String, String>>,
}

impl Run {
    /// `weir status --json` of `rule`.
    fn status(&self, rule: &str) -> serde_json::Value {
        status_json(&self.config)
            .into_iter()
            .find(|status| status["name"] == rule)
            .unwrap_or_else(|| panic!("no status for {rule}"))
    }

    /// A counter of `rule` in `weir status --json`.
    fn stat(&self, rule: &str, counter: &str) -> u64 {
        let status = self.status(rule);
        status["stats"][counter]
            .as_u64()
            .unwrap_or_else(|| panic!("no {counter} in {status}"))
    }

    fn dead_offsets(&self) -> Vec<u64> {
        self.dead
            .iter()
            .map(|fields| fields["offset"].parse().unwrap())
            .collect()
    }

    /// Each dead letter's reason must contain `cause` (which limit stopped
    /// the call) and none of `not`.
    fn assert_reasons(&self, cause: &str, not: &[&str]) {
        assert!(!self.dead.is_empty(), "nothing was dead-lettered");
        for fields in &self.dead {
            let reason = &fields["reason"];
            assert!(reason.contains(cause), "not {cause}: {reason}");
            for other in not {
                assert!(!reason.contains(other), "{other}: {reason}");
            }
        }
    }
}

/// Runs `pvuv` and `misbehave` (`rule_config`: the inside of its config
/// table; `limits`: the body of `[limits]`) over `log` to its end, in a
/// fresh Redis. `pvuv` must come out exact whatever `misbehave` does, and
/// the host must not panic.
fn run_beside_pvuv(log: MarkedLog, rule_config: &str, limits: &str) -> Run {
    let redis = RedisServer::start();
    let plugins = plugins_dir(log.dir.path(), &["pvuv", "weir_test_misbehave"]);
    let config = write_config(
        log.dir.path(),
        &format!(
            "{}batch_records = {BATCH_RECORDS}\n",
            file_source(&log.path, false)
        ),
        &plugins,
        &redis,
        &format!(
            "[windows]\nallowed_lateness_secs = 10\n[limits]\n{limits}\n\
             [rules.misbehave]\nconfig = {{ {rule_config} }}\n"
        ),
    );
    let started = Instant::now();
    let output = run_output(&config);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !stderr.contains("panicked at host") && !stderr.contains("thread 'main' panicked"),
        "{stderr}"
    );
    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &log.path, 10, 0),
        &format!("pvuv beside misbehave with {{ {rule_config} }}"),
    );
    Run {
        outputs: redis.outputs("misbehave"),
        dead: dead_letters(&redis, "misbehave"),
        log,
        _redis: redis,
        config,
        succeeded: output.status.success(),
        stderr,
        elapsed,
    }
}

/// Runs `misbehave` in `mode` on every 400th line, with a breaker that
/// never trips: exactly the marked lines are dead-lettered, the rule
/// counts the rest, and `weir status` shows it.
fn run_misbehaving(mode: &str, limits: &str) -> Run {
    let run = run_beside_pvuv(
        marked_log(400),
        &format!("mode = \"{mode}\""),
        &format!("trap_threshold = 1000\n{limits}"),
    );
    assert!(run.succeeded, "weir run failed: {}", run.stderr);
    let marked = &run.log.marked;

    // Exactly the marked lines are dead-lettered, with their offsets.
    let mut offsets = run.dead_offsets();
    offsets.sort_unstable();
    assert_eq!(&offsets, marked, "{mode}: dead-lettered offsets");
    for fields in &run.dead {
        assert!(fields["payload"].contains("BOOM"), "{fields:?}");
        assert!(!fields["reason"].is_empty());
        assert!(!fields["version"].is_empty());
    }
    // The misbehaving rule still counted the other lines.
    let counted = total(&run.outputs, ":lines:60:");
    let pv = total(&oracle("pvuv", &run.log.path, 10, 0), "weir:pvuv:pv:60:");
    assert!(
        counted + marked.len() as u64 >= pv - 5 && counted < pv,
        "{mode}: counted {counted}, pv {pv}"
    );
    assert_eq!(
        run.stat("misbehave", "dead_lettered"),
        marked.len() as u64,
        "{mode}"
    );

    // `weir status` shows it, in the `dead` column.
    let row = status_row(&run.config, "misbehave").expect("a misbehave row");
    assert_eq!(row["dead"], marked.len().to_string(), "{row:?}");
    assert!(status_row(&run.config, "pvuv").is_some());
    run
}

#[test]
fn a_panicking_rule_costs_only_its_records() {
    let run = run_misbehaving("panic", "");
    // The guest's panic message reaches the host log, tagged with the rule.
    let captured = run
        .stderr
        .lines()
        .find(|line| line.contains("marker found at offset"))
        .unwrap_or_else(|| panic!("guest stderr not captured:\n{}", run.stderr));
    assert!(captured.contains("rule=\"misbehave\""), "{captured}");
}

#[test]
fn an_endless_loop_is_stopped_by_the_deadline() {
    let run = run_misbehaving("loop", "call_timeout_ms = 50");
    run.assert_reasons(
        "deadline: the call ran past limits.call_timeout_ms = 50",
        &["fuel", "memory"],
    );
}

/// The deadline is ten minutes, so only the memory cap can stop the call.
#[test]
fn unbounded_memory_is_stopped_by_the_cap() {
    let run = run_misbehaving("grow", "memory_bytes = 67108864\ncall_timeout_ms = 600000");
    run.assert_reasons(
        "memory cap: growing the rule's memory to",
        &["interrupt", "deadline", "fuel"],
    );
}

#[test]
fn deep_recursion_is_a_trap_not_a_crash() {
    let run = run_misbehaving("recurse", "");
    run.assert_reasons(
        "call stack exhausted",
        &["interrupt", "deadline", "memory cap"],
    );
}

/// Lifting 200,000 updates, in each failed call of a bisection, takes a
/// while on a loaded machine: the deadline is ten minutes, so only the
/// output cap can fail the call.
#[test]
fn output_over_the_cap_is_a_trap() {
    let run = run_misbehaving(
        "flood",
        "max_updates_per_batch = 100000\ncall_timeout_ms = 600000",
    );
    run.assert_reasons("max_updates_per_batch = 100000", &["interrupt", "deadline"]);
}

/// Fuel, unlike a deadline, does not depend on the machine's speed or
/// load: two runs fail the same calls on the same records, for the same
/// reason, and count the same.
#[test]
fn fuel_bounds_cpu_deterministically() {
    let limits = "call_timeout_ms = 0\nfuel_per_call = 200000000";
    let first = run_misbehaving("loop", limits);
    let second = run_misbehaving("loop", limits);
    first.assert_reasons(
        "fuel: the call used up limits.fuel_per_call = 200000000",
        &["interrupt", "deadline"],
    );
    let letters = |run: &Run| -> Vec<(String, String, String)> {
        run.dead
            .iter()
            .map(|f| {
                (
                    f["offset"].clone(),
                    f["reason"].clone(),
                    f["payload"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(letters(&first), letters(&second), "dead letters");
    for counter in [
        "traps",
        "dead_lettered",
        "records_in",
        "rejected",
        "updates",
    ] {
        assert_eq!(
            first.stat("misbehave", counter),
            second.stat("misbehave", counter),
            "{counter}"
        );
    }
    assert_same(
        &second.outputs,
        &first.outputs,
        "misbehave's outputs, run twice",
    );
}

/// A rule quarantined in a finite run skips records, never silently: the
/// run fails naming the rule and what it skipped, the totals and
/// `weir status` count the dead letters, failed calls and skipped records,
/// and the other rule is exact. Default breaker settings (5 failing records
/// within 60 s, a 30 s first quarantine): it trips at the end of the batch
/// holding the fifth marked line and stays open for the rest of the run, so
/// every count is known in advance.
#[test]
fn a_quarantine_in_a_finite_run_fails_it_and_counts_the_skipped_records() {
    const THRESHOLD: usize = 5;
    let run = run_beside_pvuv(marked_log(200), "mode = \"panic\"", "");
    let log = &run.log;
    let lines = line_count(&log.path);
    let marked_lines: Vec<u64> = log
        .marked
        .iter()
        .map(|&offset| line_index(&log.path, offset))
        .collect();
    assert!(marked_lines.len() > THRESHOLD, "{marked_lines:?}");
    let read = ((marked_lines[THRESHOLD - 1] / BATCH_RECORDS + 1) * BATCH_RECORDS).min(lines);
    let dead = marked_lines.iter().filter(|&&line| line < read).count() as u64;
    let skipped = lines - read;
    assert!(skipped > 0, "the test needs records after the quarantine");
    assert!(!run.succeeded, "the run succeeded:\n{}", run.stderr);

    let misbehave = totals_line(&run.stderr, "misbehave");
    assert_eq!(log_number(misbehave, "records"), read, "{misbehave}");
    assert_eq!(log_number(misbehave, "dead_lettered"), dead, "{misbehave}");
    assert_eq!(log_number(misbehave, "quarantined"), skipped, "{misbehave}");
    let traps = log_number(misbehave, "traps");
    assert!(traps > dead, "bisecting costs failed calls: {misbehave}");
    let pvuv = totals_line(&run.stderr, "pvuv");
    assert_eq!(log_number(pvuv, "records"), lines, "{pvuv}");
    for counter in ["quarantined", "dead_lettered", "traps"] {
        assert_eq!(log_number(pvuv, counter), 0, "{pvuv}");
    }

    // The error names the rule and what it skipped, and only that rule.
    let error = run
        .stderr
        .lines()
        .find(|line| line.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error:\n{}", run.stderr));
    assert!(
        error.contains(&format!(
            "rule `misbehave` skipped {skipped} of {lines} records while quarantined \
             ({dead} dead-lettered, {traps} failed calls)"
        )),
        "{error}"
    );
    assert!(!error.contains("`pvuv`"), "{error}");

    // The dead letters are the marked lines read before the quarantine.
    assert_eq!(run.dead_offsets(), log.marked[..dead as usize]);

    // `weir status --json` shows the quarantine and the same counts.
    let status = run.status("misbehave");
    assert_eq!(status["state"], "quarantined", "{status}");
    let left = status["quarantined_for_ms"].as_u64().unwrap_or(0);
    assert!(left > 0 && left <= 30_000, "{status}");
    let stats = &status["stats"];
    assert_eq!(stats["quarantined"].as_u64(), Some(skipped), "{status}");
    assert_eq!(stats["dead_lettered"].as_u64(), Some(dead), "{status}");
    assert_eq!(stats["traps"].as_u64(), Some(traps), "{status}");
    assert_eq!(stats["records_in"].as_u64(), Some(read), "{status}");
    let status = run.status("pvuv");
    assert_eq!(status["state"], "finished", "{status}");
    assert_eq!(status["quarantined_for_ms"].as_u64(), Some(0), "{status}");
    assert_eq!(status["stats"]["quarantined"].as_u64(), Some(0), "{status}");
    assert_eq!(
        status["stats"]["records_in"].as_u64(),
        Some(lines),
        "{status}"
    );
}

/// A rule that draws random numbers (directly, or through std's `HashMap`)
/// gives the same output on two runs over the same input: the sandbox's
/// random sources have fixed seeds.
#[test]
fn a_rules_randomness_is_the_same_on_every_run() {
    let config = "mode = \"random\", marker = \"\"";
    let first = run_beside_pvuv(marked_log(400), config, "");
    let second = run_beside_pvuv(marked_log(400), config, "");
    assert!(first.succeeded && second.succeeded, "{}", first.stderr);
    // Each source gave varying numbers (one value would prove nothing)...
    for source in ["secure-", "insecure-", "hash-"] {
        let keys: BTreeSet<&String> = first
            .outputs
            .values()
            .flat_map(BTreeMap::keys)
            .filter(|key| key.starts_with(source))
            .collect();
        assert!(keys.len() >= 2, "{source}: {keys:?}");
    }
    // ...and the same ones on both runs.
    assert_same(
        &second.outputs,
        &first.outputs,
        "a random rule's outputs, run twice",
    );
}

/// A rule's stdout lines reach weir's log at info and its stderr lines at
/// warn, tagged with the rule; a rule printing on every line is cut by its
/// rate limit, and what was dropped is counted in the log.
#[test]
fn a_rules_stdout_and_stderr_reach_the_log_under_a_rate_limit() {
    let run = run_beside_pvuv(marked_log(400), "mode = \"print\"", "");
    assert!(run.succeeded, "{}", run.stderr);
    assert!(!run.log.marked.is_empty());
    for offset in &run.log.marked {
        for (stream, level) in [("stdout", " INFO "), ("stderr", " WARN ")] {
            let text = format!("misbehave {stream} at offset {offset} ");
            let line = run
                .stderr
                .lines()
                .find(|line| line.contains(&text))
                .unwrap_or_else(|| panic!("no {text:?} in the log:\n{}", run.stderr));
            assert!(line.contains(level), "{line}");
            assert!(line.contains("rule=\"misbehave\""), "{line}");
        }
    }

    // Two lines per record: the rate limit (20 a second, bursts of 100, per
    // instance; a large batch runs on two) keeps a few and counts the rest.
    let run = run_beside_pvuv(marked_log(400), "mode = \"print\", marker = \"\"", "");
    assert!(run.succeeded, "{}", run.stderr);
    let logged = run
        .stderr
        .lines()
        .filter(|line| {
            line.contains("misbehave stdout at ") || line.contains("misbehave stderr at ")
        })
        .count() as u64;
    let dropped: u64 = run
        .stderr
        .lines()
        .filter(|line| line.contains("log rate limit"))
        .map(|line| log_number(line, "suppressed"))
        .sum();
    let parsed = run.stat("misbehave", "records_in") - run.stat("misbehave", "rejected");
    assert_eq!(
        logged + dropped,
        2 * parsed,
        "logged {logged}, dropped {dropped}"
    );
    let allowed = 2.0 * (100.0 + 20.0 * run.elapsed.as_secs_f64()) + 2.0;
    assert!(
        dropped > 0 && (logged as f64) <= allowed,
        "logged {logged} (at most {allowed}), dropped {dropped}"
    );
}

/// A record whose rule returns an error after emitting counts not at all:
/// the output is exactly that of the good records alone (the same log
/// without the marked lines), and the record is counted as rejected.
#[test]
fn a_rule_error_withdraws_everything_the_record_emitted() {
    let config = "mode = \"emit-then-fail\"";
    let failing = run_beside_pvuv(marked_log(400), config, "");
    let good_log = marked_log(400);
    let text = std::fs::read(&good_log.path).unwrap();
    let mut kept = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let offset = (line.as_ptr() as usize - text.as_ptr() as usize) as u64;
        if !good_log.marked.contains(&offset) {
            kept.extend_from_slice(line);
        }
    }
    std::fs::write(&good_log.path, kept).unwrap();
    let good = run_beside_pvuv(good_log, config, "");
    assert!(failing.succeeded && good.succeeded, "{}", failing.stderr);

    let marked = failing.log.marked.len() as u64;
    assert!(marked > 0);
    let withdrawn: Vec<&String> = failing
        .outputs
        .values()
        .flat_map(BTreeMap::keys)
        .filter(|key| *key == "withdrawn")
        .collect();
    assert!(withdrawn.is_empty(), "{withdrawn:?}");
    assert_same(
        &failing.outputs,
        &good.outputs,
        "outputs with failing records vs the good records alone",
    );
    assert_eq!(
        failing.stat("misbehave", "rejected"),
        good.stat("misbehave", "rejected") + marked
    );
    assert_eq!(
        failing.stat("misbehave", "records_in"),
        good.stat("misbehave", "records_in") + marked
    );
    for counter in ["updates", "late", "dead_lettered", "traps"] {
        assert_eq!(
            failing.stat("misbehave", counter),
            good.stat("misbehave", counter),
            "{counter}"
        );
    }
    let first = failing.log.marked[0];
    assert!(
        failing
            .stderr
            .contains(&format!("failed after emitting, at offset {first}")),
        "the first reject is logged with its reason:\n{}",
        failing.stderr
    );
}
