//! The rule authoring kit end to end: `weir new` for every template,
//! `weir build`, `weir test --expect` against the golden file, a generated
//! project's own `cargo test`, and `weir deploy` into a running pipeline
//! whose Redis output is then checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::*;

/// The component builds of generated projects share one target folder,
/// kept between runs (the SDK and its dependencies build once).
fn kit_target() -> PathBuf {
    repo_root().join("target/kit-rules")
}

fn run_ok(command: &mut Command, what: &str) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `weir new NAME --template T` in `dir`, then `weir build`; returns the
/// component and what `weir build` printed.
fn new_and_build(dir: &Path, name: &str, template: &str) -> (PathBuf, String) {
    run_ok(
        weir()
            .current_dir(dir)
            .args(["new", name, "--template", template]),
        "weir new",
    );
    let project = dir.join(name);
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "sample/input.log",
        "sample/expected.json",
        "tests/golden.rs",
    ] {
        assert!(project.join(file).is_file(), "{template}: no {file}");
    }
    let built = run_ok(
        weir()
            .arg("build")
            .arg(&project)
            .arg("--target-dir")
            .arg(kit_target()),
        "weir build",
    );
    let report = String::from_utf8_lossy(&built.stdout).into_owned();
    let wasm = kit_target().join(format!(
        "wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    ));
    assert!(
        report.contains(&format!("path {}", wasm.display())),
        "{report}"
    );
    (wasm, report)
}

/// Every template: new → build (manifest, size, path; no debug info, well
/// under the 300 KB target) → test --expect passes on the sample, and fails
/// on a golden file that differs.
#[test]
fn every_template_builds_and_replays_its_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    for (template, metrics) in [
        ("count", &["metric lines: count over tumbling 60s"][..]),
        (
            "json",
            &[
                "metric spend_cents: sum over tumbling 60s, cumulative 86400s step 60s",
                "metric payers: distinct over",
            ][..],
        ),
        (
            "access",
            &["metric pv: count over", "metric uv: distinct over"][..],
        ),
        ("alert", &["metric errors: count over tumbling 60s"][..]),
        ("top", &["metric by_product: decimal-sum(2) over"][..]),
        (
            "quantiles",
            &[
                "metric cpu_avg: avg(2) over",
                "metric cpu: quantiles(0.5,0.9,0.99) over",
            ][..],
        ),
    ] {
        let name = format!("kit-{template}");
        let (wasm, report) = new_and_build(dir.path(), &name, template);
        assert!(
            report.starts_with(&format!("rule {name} 0.1.0\n")),
            "{report}"
        );
        for metric in metrics {
            assert!(report.contains(metric), "{template}: {report}");
        }
        assert!(!report.contains("debug info"), "{report}");
        let size = std::fs::metadata(&wasm).unwrap().len();
        assert!(size < 300 * 1024, "{template}: {size} bytes");

        let project = dir.path().join(&name);
        let expected = project.join("sample/expected.json");
        let output = run_ok(
            weir()
                .arg("test")
                .arg(&wasm)
                .arg("--input")
                .arg(project.join("sample/input.log"))
                .arg("--expect")
                .arg(&expected),
            "weir test --expect",
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("first rejects:\n  line "), "{stdout}");

        // The golden file is not trivially met: another one fails.
        let other = dir.path().join(format!("{template}-other.json"));
        std::fs::write(&other, "{\"lines:60\": {\"60\": {\"INFO\": 1}}}").unwrap();
        let output = weir()
            .arg("test")
            .arg(&wasm)
            .arg("--input")
            .arg(project.join("sample/input.log"))
            .arg("--expect")
            .arg(&other)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{template}");
    }
    // The access template is pvuv under another name: its golden file is
    // the oracle's.
    let access = dir.path().join("kit-access/sample");
    let oracle = oracle("pvuv", &access.join("input.log"), 10, 0);
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(access.join("expected.json")).unwrap())
            .unwrap();
    for (key, fields) in &oracle {
        let parts: Vec<&str> = key.split(':').collect();
        for (group, value) in fields {
            assert_eq!(
                golden[format!("{}:{}", parts[2], parts[3])][parts[4]][group].to_string(),
                *value,
                "{key} {group}"
            );
        }
    }
}

/// A generated project's own `cargo test`: its native tests and its golden
/// test (which runs `weir build` and `weir test --expect`) pass.
#[test]
fn generated_project_cargo_test_passes() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        weir()
            .current_dir(dir.path())
            .args(["new", "kit-native", "--template", "json"]),
        "weir new",
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = run_ok(
        Command::new(cargo)
            .current_dir(dir.path().join("kit-native"))
            .args(["test", "--release"])
            .env("CARGO_TARGET_DIR", repo_root().join("target/kit-native"))
            .env("WEIR_BUILD_TARGET_DIR", kit_target())
            .env("WEIR", env!("CARGO_BIN_EXE_weir")),
        "cargo test in the generated project",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("sums_cents_and_counts_the_player ... ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sample_replays_to_the_golden_file ... ok"),
        "{stdout}"
    );
}

/// `weir build` on crates that make no component says what to change.
#[test]
fn build_explains_a_crate_without_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let sdk = repo_root().join("guest-sdk");
    for (name, lib, main, hint) in [
        (
            "kit-rlib",
            Some("[lib]\ncrate-type = [\"rlib\"]\n"),
            false,
            "crate-type = [\"cdylib\", \"rlib\"]",
        ),
        ("kit-bin", None, true, "is a binary (src/main.rs)"),
    ] {
        let project = dir.path().join(name);
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::write(
            project.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n{}\n[dependencies]\nweir-sdk = {{ path = \"{}\" }}\n[workspace]\n",
                lib.unwrap_or_default(),
                sdk.display()
            ),
        )
        .unwrap();
        let file = if main { "src/main.rs" } else { "src/lib.rs" };
        let body = if main {
            "fn main() {}\n"
        } else {
            "pub fn f() {}\n"
        };
        std::fs::write(project.join(file), body).unwrap();
        let output = weir()
            .arg("build")
            .arg(&project)
            .arg("--target-dir")
            .arg(kit_target())
            .output()
            .unwrap();
        assert!(!output.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(hint), "{name}: {stderr}");
    }
    let output = weir().arg("build").arg(dir.path()).output().unwrap();
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no Cargo.toml"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `weir deploy` into a running `weir run` (followed file): the new rule is
/// swapped in and counts what arrives after it, exactly (its minutes equal
/// the sample's golden values); deploying again names the version
/// replaced; a file that does not load is not deployed.
#[test]
fn deploy_into_a_running_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let (wasm, _) = new_and_build(dir.path(), "kit-deploy", "access");
    let log = dir.path().join("live.log");
    std::fs::write(&log, "").unwrap();
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["ip_count"]);
    let config = write_config(
        dir.path(),
        &format!("{}poll_interval_ms = 20\n", file_source(&log, true)),
        &plugins,
        &redis,
        "[checkpoint]\ninterval_ms = 100\n",
    );
    let weir_log = dir.path().join("weir.log");
    let running = Running::spawn(&config, std::fs::File::create(&weir_log).unwrap());

    let bad = dir.path().join("bad.wasm");
    std::fs::write(&bad, b"\0asm not really").unwrap();
    let output = weir()
        .arg("deploy")
        .arg(&bad)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(!plugins.join("bad.wasm").exists());

    let output = run_ok(
        weir().arg("deploy").arg(&wasm).arg("--config").arg(&config),
        "weir deploy",
    );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("deployed kit-deploy 0.1.0"), "{report}");
    assert!(report.contains("nothing replaced"), "{report}");
    assert!(plugins.join("kit_deploy.wasm").is_file());
    assert_eq!(
        std::fs::read_dir(&plugins).unwrap().count(),
        2,
        "a temporary file is left"
    );

    // Wait for the swap (the log says so), then feed the sample and one
    // line an hour later, which closes every minute of the sample.
    wait_for_log(&weir_log, "kit-deploy", Duration::from_secs(30));
    let project = dir.path().join("kit-deploy/sample");
    let sample = std::fs::read(project.join("input.log")).unwrap();
    let later = "10.0.0.9 - - [21/Nov/2026:09:30:00 +0800] \"GET / HTTP/1.1\" 200 5\n";
    append(&log, &sample);
    append(&log, later.as_bytes());
    let lines = line_count(&project.join("input.log")) + 1;
    redis.wait_for_records(
        "kit-deploy",
        lines,
        Duration::from_secs(30),
        Some(&weir_log),
    );

    let expected = oracle("pvuv", &project.join("input.log"), 10, 0);
    let expected: Hashes = minutes(expected)
        .into_iter()
        .map(|(key, fields)| (key.replacen("weir:pvuv:", "weir:kit-deploy:", 1), fields))
        .collect();
    // The sample's minutes (the later line's own minute is still open).
    let sample_minutes = |hashes: Hashes| -> Hashes {
        minutes(hashes)
            .into_iter()
            .filter(|(key, _)| !key.ends_with(":1795224600"))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while sample_minutes(redis.outputs("kit-deploy")) != expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_same(
        &sample_minutes(redis.outputs("kit-deploy")),
        &expected,
        "kit-deploy",
    );

    let output = run_ok(
        weir().arg("deploy").arg(&wasm).arg("--to").arg(&plugins),
        "weir deploy again",
    );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains("replaced kit-deploy 0.1.0 (hash "),
        "{report}"
    );
    assert!(running.terminate().success());
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

/// Waits until weir's log says the rule `name` was added.
fn wait_for_log(log: &Path, name: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text
            .lines()
            .any(|line| line.contains("rule added") && line.contains(name))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the rule was not loaded:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
