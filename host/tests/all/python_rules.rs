//! Rules in Python: `plugins/pvuv-py` built with componentize-py (from
//! `scripts/setup.sh`) is exact against the oracle under `weir test` and
//! `weir run` with Redis, and `weir new --lang python` makes projects that
//! build and replay to their golden files.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::support::*;

/// Components of Python rules are built here, kept between runs (`weir
/// build` reuses one while no `.py` file changed).
fn python_target() -> PathBuf {
    repo_root().join("target/kit-python")
}

/// `plugins/pvuv-py` as a component, built once per test run.
fn pvuv_py() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let output = weir()
                .arg("build")
                .arg(repo_root().join("plugins/pvuv-py"))
                .arg("--target-dir")
                .arg(python_target())
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "weir build plugins/pvuv-py failed (is componentize-py installed? scripts/setup.sh):\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let report = String::from_utf8_lossy(&output.stdout);
            assert!(report.starts_with("rule pvuv-py 0.1.0\n"), "{report}");
            python_target().join("wasm32-wasip2/release/pvuv_py.wasm")
        })
        .clone()
}

/// The oracle's pvuv hashes under the rule name `pvuv-py`.
fn oracle_as_pvuv_py(log: &std::path::Path, lateness: u64, day_offset: i64) -> Hashes {
    oracle("pvuv", log, lateness, day_offset)
        .into_iter()
        .map(|(key, fields)| (key.replacen("weir:pvuv:", "weir:pvuv-py:", 1), fields))
        .collect()
}

/// `weir test` replays of pvuv-py equal the oracle: the golden case (as
/// `--expect`) and a generated log across local midnight.
#[test]
fn pvuv_py_replays_match_the_oracle() {
    let wasm = pvuv_py();
    let case = repo_root().join("tests/golden/pvuv");
    let output = weir()
        .arg("test")
        .arg(&wasm)
        .arg("--input")
        .arg(case.join("input.log"))
        .arg("--expect")
        .arg(case.join("expected.json"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(
        &log,
        &[
            "--seed",
            "41",
            "--lines",
            "6000",
            "--start",
            "2026-11-21T23:55:00+08:00",
            "--jitter-frac",
            "0.1",
            "--very-late-frac",
            "0.01",
            "--malformed-frac",
            "0.03",
            "--invalid-utf8-frac",
            "0.01",
            "--ipv6-frac",
            "0.05",
        ],
    );
    let output = weir()
        .arg("test")
        .arg(&wasm)
        .arg("--input")
        .arg(&log)
        .args(["--json", "--day-offset-secs", "-28800"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let windows: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&output.stdout).unwrap();
    let mut got = Hashes::new();
    for (metric_size, starts) in windows {
        for (start, groups) in starts.as_object().unwrap() {
            let fields = groups
                .as_object()
                .unwrap()
                .iter()
                .map(|(group, value)| (group.clone(), value.to_string()))
                .collect();
            got.insert(format!("weir:pvuv-py:{metric_size}:{start}"), fields);
        }
    }
    assert_same(&got, &oracle_as_pvuv_py(&log, 10, -28800), "pvuv-py");
}

/// pvuv-py in `weir run` beside pvuv, into Redis: both equal the oracle.
#[test]
fn pvuv_py_runs_in_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    std::fs::copy(pvuv_py(), plugins.join("pvuv_py.wasm")).unwrap();
    let log = repo_root().join("tests/golden/pvuv/input.log");
    let redis = RedisServer::start();
    // A Python component is ~18 MB: compiling it takes seconds of CPU,
    // more on a busy machine than the default 30 s allows.
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        "[limits]\ncompile_timeout_ms = 300000\n",
    );
    run_to_end(&config);
    assert_same(
        &redis.outputs("pvuv-py"),
        &oracle_as_pvuv_py(&log, 10, 0),
        "pvuv-py",
    );
    assert_same(&redis.outputs("pvuv"), &oracle("pvuv", &log, 10, 0), "pvuv");
}

/// `weir new --lang python` for every template: native pytest-able
/// project, `weir build`, `weir test --expect` on its sample passes.
#[test]
fn every_python_template_builds_and_replays_its_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    for template in ["count", "json", "access"] {
        let name = format!("kit-py-{template}");
        let output = weir()
            .current_dir(dir.path())
            .args(["new", &name, "--template", template, "--lang", "python"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{template}");
        let project = dir.path().join(&name);
        let target = dir.path().join("target");
        let output = weir()
            .arg("build")
            .arg(&project)
            .arg("--target-dir")
            .arg(&target)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{template}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            report.starts_with(&format!("rule {name} 0.1.0\n")),
            "{report}"
        );
        let wasm = target.join(format!(
            "wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        ));
        let output = weir()
            .arg("test")
            .arg(&wasm)
            .arg("--input")
            .arg(project.join("sample/input.log"))
            .arg("--expect")
            .arg(project.join("sample/expected.json"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{template}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
