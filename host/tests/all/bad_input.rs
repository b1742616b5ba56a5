//! Bad input gets a clear message and loses nothing; the host never panics.

use std::io::Write;

use crate::support::*;

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn broken_config_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        r#"
[source]
kind = "file"
follow = "yes"
[plugins]
[redis]
url = "redis://127.0.0.1:1/0"
urll = "oops"
[windows]
day_offset_secs = 90000
[checkpoint]
interval_ms = 1
"#,
    )
    .unwrap();
    let stderr = check_fails(&config);
    for key in [
        "source.path",
        "source.follow",
        "plugins.dir",
        "redis.urll",
        "windows.day_offset_secs",
        "checkpoint.interval_ms",
    ] {
        assert!(stderr.contains(key), "no mention of {key} in:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn files_that_are_not_rules_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    std::fs::write(plugins.join("notes.wasm"), b"this is not wasm at all").unwrap();
    // The smallest core module: magic and version 1.
    std::fs::write(plugins.join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    // A truncated component.
    let pvuv = std::fs::read(plugins.join("pvuv.wasm")).unwrap();
    std::fs::write(plugins.join("truncated.wasm"), &pvuv[..pvuv.len() / 2]).unwrap();
    let config = check_config(dir.path(), &plugins, "");
    let stderr = check_fails(&config);
    assert!(
        stderr.contains("notes.wasm: not a weir rule: the file is not WebAssembly"),
        "{stderr}"
    );
    assert!(
        stderr.contains("core.wasm: not a weir rule: the file is a core WebAssembly module"),
        "{stderr}"
    );
    assert!(
        stderr.contains("truncated.wasm: cannot compile"),
        "{stderr}"
    );
    assert!(stderr.contains("3 plugin problem(s)"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // `weir run` refuses to start with the same report.
    let output = weir()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(stderr_of(&output).contains("core.wasm"));
}

#[test]
fn unknown_rule_config_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &["hive_audit"]);
    let config = check_config(
        dir.path(),
        &plugins,
        "[rules.hive-audit]\nconfig = { utc_ofset_secs = 1 }\n",
    );
    let stderr = check_fails(&config);
    assert!(
        stderr.contains("rule `hive-audit` refused its config"),
        "{stderr}"
    );
    assert!(stderr.contains("utc_ofset_secs"), "{stderr}");
}

/// A rule that rejects every line, invalid UTF-8, and a 10 MB line: the run
/// completes, counts what it refused, and the good lines are exact.
#[test]
fn rejected_invalid_and_huge_lines_cost_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(
        &log,
        &[
            "--seed",
            "4",
            "--lines",
            "5000",
            "--invalid-utf8-frac",
            "0.01",
        ],
    );
    {
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(&vec![b'x'; 10 * 1024 * 1024]).unwrap();
        file.write_all(b"\n\xff\xfe\xfd invalid utf-8\n").unwrap();
    }
    let mut tail = Vec::new();
    generate(
        &dir.path().join("tail.log"),
        &[
            "--seed",
            "5",
            "--lines",
            "500",
            "--start",
            "2026-11-21T11:30:00+08:00",
        ],
    );
    tail.extend(std::fs::read(dir.path().join("tail.log")).unwrap());
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&tail)
        .unwrap();

    let redis = RedisServer::start();
    // hive-audit rejects nothing here but skips everything; pvuv rejects the bad lines.
    let plugins = plugins_dir(dir.path(), &["pvuv", "hive_audit"]);
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n",
    );
    let output = run_to_end(&config);
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("longer than source.max_record_bytes"),
        "{stderr}"
    );
    assert!(stderr.contains("oversized=1"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &log, 10, 0),
        "pvuv with bad lines",
    );
    assert!(redis.outputs("hive-audit").is_empty());

    // A file where every line is garbage: everything rejected, nothing written, exit 0.
    let garbage = dir.path().join("garbage.log");
    std::fs::write(&garbage, "not a log line\n".repeat(1000)).unwrap();
    let redis = RedisServer::start();
    let config = write_config(
        dir.path(),
        &file_source(&garbage, false),
        &plugins,
        &redis,
        "",
    );
    let output = run_to_end(&config);
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("rule=\"pvuv\" records=1000 rejected=1000 updates=0"),
        "{stderr}"
    );
    // Why is visible without RUST_LOG=debug: the first rejects at warn
    // level (then rate-limited), and the most common reason in the totals.
    let warned = stderr
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("record rejected"))
        .count();
    assert!(
        (1..=10).contains(&warned),
        "{warned} reject lines\n{stderr}"
    );
    assert!(
        stderr.contains("top_reject=") && stderr.contains("(1000 records)"),
        "{stderr}"
    );
    assert!(redis.outputs("pvuv").is_empty());
}

/// Replaces every occurrence of `from` by `to` (same length) in `bytes`.
fn patch(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut found = 0;
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            found += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(found > 0, "{} not found", String::from_utf8_lossy(from));
    out
}

/// A component for another contract version, and one importing an
/// interface the host does not grant: both refused by name, and the good
/// rule beside them keeps working.
#[test]
fn other_contract_versions_and_ungranted_imports_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &["ip_count"]);
    let good = std::fs::read(plugins.join("ip_count.wasm")).unwrap();
    std::fs::write(
        plugins.join("v9.wasm"),
        patch(&good, b"weir:rule/rule@0.2.0", b"weir:rule/rule@0.9.0"),
    )
    .unwrap();
    std::fs::write(
        plugins.join("greedy.wasm"),
        patch(&good, b"wasi:cli/environment@", b"wasi:cli/environmenx@"),
    )
    .unwrap();
    let config = check_config(dir.path(), &plugins, "");
    let stderr = check_fails(&config);
    assert!(
        stderr.contains(
            "v9.wasm: exports weir:rule/rule@0.9.0, but this host supports weir:rule@0.2.0 and @0.1.0 only"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("greedy.wasm: cannot link (it imports something the host does not grant)"),
        "{stderr}"
    );
    assert!(stderr.contains("environmenx"), "{stderr}");
    assert!(stderr.contains("2 plugin problem(s)"), "{stderr}");
}
