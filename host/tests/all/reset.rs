//! `weir reset`: a finished file run runs again from scratch, and
//! `--outputs` deletes exactly the rules' published keys.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::*;

/// Every key matching `pattern`.
fn keys(redis: &RedisServer, pattern: &str) -> BTreeSet<String> {
    redis.keys(pattern).into_iter().collect()
}

/// Runs `weir reset` and returns its output, successful or not.
fn reset(config: &Path, outputs: bool) -> Output {
    let mut command = weir();
    command.arg("reset").arg("--config").arg(config);
    if outputs {
        command.arg("--outputs");
    }
    command.output().unwrap()
}

/// Runs `weir reset`, which must succeed; returns its report.
fn reset_ok(config: &Path, outputs: bool) -> String {
    let output = reset(config, outputs);
    assert!(
        output.status.success(),
        "weir reset failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A golden case's input, its expected hashes and its number of lines.
fn golden(rule: &str) -> (PathBuf, Hashes, u64) {
    let case = repo_root().join("tests/golden").join(rule);
    let input = case.join("input.log");
    let expected: Hashes =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
            .unwrap();
    let lines = line_count(&input);
    (input, expected, lines)
}

/// A file pipeline of `rule` (crate file name `wasm`) in `dir`, with
/// checkpoint namespace `namespace`.
fn pipeline(dir: &Path, redis: &RedisServer, wasm: &str, input: &Path, namespace: &str) -> PathBuf {
    let plugins = plugins_dir(dir, &[wasm]);
    write_config(
        dir,
        &file_source(input, false),
        &plugins,
        redis,
        &format!(
            "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\nnamespace = \"{namespace}\"\n"
        ),
    )
}

#[test]
fn reset_lets_a_finished_file_run_run_again() {
    let (input, expected, lines) = golden("pvuv");
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let config = pipeline(dir.path(), &redis, "pvuv", &input, "default");

    run_to_end(&config);
    assert_same(&redis.outputs("pvuv"), &expected, "first run");
    assert_eq!(redis.records_in("pvuv"), lines);
    // A finished run is final: running it again reads nothing.
    run_to_end(&config);
    assert_eq!(redis.records_in("pvuv"), lines);

    let report = reset_ok(&config, false);
    assert!(
        report.starts_with("namespace \"default\": deleted "),
        "{report}"
    );
    assert!(report.contains("rules checkpointed: pvuv"), "{report}");
    assert!(report.contains("outputs kept"), "{report}");
    assert_eq!(keys(&redis, "weir:ckpt:*"), BTreeSet::new());
    assert_same(&redis.outputs("pvuv"), &expected, "outputs kept by reset");
    assert_eq!(redis.records_in("pvuv"), 0);

    // The next run reads the file again, counting each line once.
    run_to_end(&config);
    assert_same(&redis.outputs("pvuv"), &expected, "run after reset");
    assert_eq!(redis.records_in("pvuv"), lines);

    // Resetting twice is harmless.
    reset_ok(&config, false);
    let report = reset_ok(&config, false);
    assert!(report.contains("nothing to reset"), "{report}");
}

#[test]
fn reset_outputs_deletes_only_the_namespace_rules_keys() {
    let (pvuv_input, pvuv_expected, lines) = golden("pvuv");
    let (ip_input, ip_expected, _) = golden("ip-count");
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(dir.path(), &redis, "pvuv", &pvuv_input, "default");
    // Another pipeline whose namespace starts with this one's name.
    let other_dir = tempfile::tempdir().unwrap();
    let other = pipeline(other_dir.path(), &redis, "ip_count", &ip_input, "default-2");
    run_to_end(&config);
    run_to_end(&other);
    // A rule whose name starts with this pipeline's rule's name.
    redis::cmd("HSET")
        .arg("weir:pvuv-2:pv:60:0")
        .arg("total")
        .arg(1)
        .query::<()>(&mut redis.conn())
        .unwrap();
    let other_checkpoint = keys(&redis, "weir:ckpt:default-2:*");
    assert!(!other_checkpoint.is_empty());
    assert!(!keys(&redis, "weir:pvuv:*").is_empty());

    let report = reset_ok(&config, true);
    assert!(report.contains("rule pvuv: deleted "), "{report}");
    assert!(!report.contains("ip-count"), "{report}");
    assert_eq!(keys(&redis, "weir:pvuv:*"), BTreeSet::new());
    assert_eq!(keys(&redis, "weir:ckpt:default:*"), BTreeSet::new());
    assert_eq!(
        keys(&redis, "weir:pvuv-2:*"),
        BTreeSet::from(["weir:pvuv-2:pv:60:0".to_owned()])
    );
    assert_eq!(keys(&redis, "weir:ckpt:default-2:*"), other_checkpoint);
    assert_same(&redis.outputs("ip-count"), &ip_expected, "other pipeline");

    run_to_end(&config);
    assert_same(&redis.outputs("pvuv"), &pvuv_expected, "run after reset");
    assert_eq!(redis.records_in("pvuv"), lines);
}

#[test]
fn reset_refuses_without_redis() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &[]);
    // Port 1: nothing listens there.
    let config = check_config(dir.path(), &plugins, "");
    let output = reset(&config, true);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach Redis at redis://127.0.0.1:1/0")
            && stderr.contains("; nothing was deleted"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
