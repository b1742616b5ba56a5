//! Hot reload: rules swapped while records flow lose and double nothing,
//! keep their open windows, and a sidecar config change takes effect.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

/// Replaces `target` atomically (write beside it, then rename).
fn install(target: &Path, bytes: &[u8]) {
    let tmp = target.with_extension("part");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, target).unwrap();
}

/// A second version of a component: the same code with a custom section
/// appended, so its bytes (and version hash) differ but its metrics do not.
fn other_version(component: &[u8]) -> Vec<u8> {
    let mut bytes = component.to_vec();
    bytes.extend_from_slice(&[0, 8, 7]);
    bytes.extend_from_slice(b"version");
    bytes
}

/// Waits up to 30 s for `done`; on timeout, fails showing weir's log.
fn wait_until(config: &Path, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        if Instant::now() > deadline {
            let log =
                std::fs::read_to_string(config.with_file_name("weir.log")).unwrap_or_default();
            panic!("timed out waiting for {what}; weir's log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `weir run` with its log in `<dir>/weir.log` (read by [`stop`], and
/// shown when a wait times out).
/// A config following `log` with quick polls and checkpoints (lateness 10 s).
fn follow_config(dir: &Path, log: &Path, plugins: &Path, redis: &RedisServer) -> PathBuf {
    write_config(
        dir,
        &format!("{}poll_interval_ms = 10\n", file_source(log, true)),
        plugins,
        redis,
        "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 20\n",
    )
}

fn start(config: &Path) -> Running {
    let log = std::fs::File::create(config.with_file_name("weir.log")).unwrap();
    Running::spawn(config, log)
}

/// Stops weir with SIGTERM and returns its log.
fn stop(weir: Running, config: &Path) -> String {
    assert!(weir.terminate().success());
    std::fs::read_to_string(config.with_file_name("weir.log")).unwrap()
}

#[test]
fn swapping_pvuv_under_load_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.log");
    generate(
        &all,
        &[
            "--seed",
            "17",
            "--lines",
            "120000",
            "--jitter-frac",
            "0.1",
            "--malformed-frac",
            "0.01",
        ],
    );
    let text = std::fs::read(&all).unwrap();
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();

    let version_a = std::fs::read(rule_wasm("pvuv")).unwrap();
    let version_b = other_version(&version_a);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let target = plugins.join("pvuv.wasm");
    std::fs::write(&target, &version_a).unwrap();

    let log = dir.path().join("app.log");
    std::fs::write(&log, b"").unwrap();
    let redis = RedisServer::start();
    let config = write_config(
        dir.path(),
        &format!(
            "{}poll_interval_ms = 10\nbatch_records = 256\n",
            file_source(&log, true)
        ),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 50\n",
    );
    let child = start(&config);

    let writer = {
        let log = log.clone();
        let chunks: Vec<Vec<u8>> = lines.chunks(2000).map(|chunk| chunk.concat()).collect();
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            for chunk in chunks {
                file.write_all(&chunk).unwrap();
                std::thread::sleep(Duration::from_millis(40));
            }
        })
    };
    wait_until(&config, "the first records", || {
        redis.records_in("pvuv") > 0
    });
    for swap in 0..16 {
        std::thread::sleep(Duration::from_millis(150));
        if swap == 7 {
            install(&target, &version_a[..version_a.len() / 3]);
            // The running version stays, and `weir status` says why the new one did not load.
            wait_until(&config, "the load error in status", || {
                let out = weir()
                    .arg("status")
                    .arg("--config")
                    .arg(&config)
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .contains("last load error (previous version still running)")
            });
        } else {
            let bytes = if swap % 2 == 0 {
                &version_b
            } else {
                &version_a
            };
            install(&target, bytes);
            // Each swap lands before the next one is written.
            let expected = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes));
            wait_until(&config, "the new version", || {
                let mut conn = redis.conn();
                let hash: Option<String> = redis::cmd("HGET")
                    .arg("weir:ckpt:default:rule:pvuv")
                    .arg("version_hash")
                    .query(&mut conn)
                    .unwrap();
                hash.as_deref() == Some(expected.as_str())
            });
        }
    }
    writer.join().unwrap();
    let total = lines.len() as u64;
    wait_until(&config, "every line", || redis.records_in("pvuv") >= total);
    let stderr = stop(child, &config);

    let reloads = stderr.matches("rule reloaded").count();
    assert!(reloads >= 14, "only {reloads} reloads:\n{stderr}");
    assert!(
        stderr.contains("rule failed to load; the running version (if any) stays"),
        "{stderr}"
    );
    assert_eq!(
        redis.records_in("pvuv"),
        total,
        "every record processed by exactly one version"
    );
    // Minute windows: every one equals the oracle (open ones hold live values).
    let minutes = |hashes: Hashes| -> Hashes {
        hashes
            .into_iter()
            .filter(|(key, _)| key.contains(":60:"))
            .collect()
    };
    assert_same(
        &minutes(redis.outputs("pvuv")),
        &minutes(oracle("pvuv", &all, 10, 0)),
        "pvuv across swaps",
    );
}

#[test]
fn a_sidecar_config_change_takes_effect_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let part1 = dir.path().join("part1.log");
    let part2 = dir.path().join("part2.log");
    let common = [
        "--format",
        "audit",
        "--lines",
        "800",
        "--very-late-frac",
        "0",
        "--jitter-frac",
        "0",
    ];
    generate(
        &part1,
        &[
            &common[..],
            &["--seed", "31", "--start", "2026-11-21T10:00:00+00:00"],
        ]
        .concat(),
    );
    generate(
        &part2,
        &[
            &common[..],
            &["--seed", "32", "--start", "2026-11-21T13:00:00+00:00"],
        ]
        .concat(),
    );
    let count = |path: &Path| {
        std::fs::read(path)
            .unwrap()
            .split_inclusive(|&b| b == b'\n')
            .count() as u64
    };

    let plugins = plugins_dir(dir.path(), &["hive_audit"]);
    std::fs::write(plugins.join("hive_audit.toml"), "utc_offset_secs = 0\n").unwrap();
    let log = dir.path().join("audit.log");
    std::fs::copy(&part1, &log).unwrap();
    let redis = RedisServer::start();
    let config = follow_config(dir.path(), &log, &plugins, &redis);
    let child = start(&config);
    wait_until(&config, "part 1", || {
        redis.records_in("hive-audit") >= count(&part1)
    });
    let loaded_at = || -> String {
        let mut conn = redis.conn();
        redis::cmd("HGET")
            .arg("weir:ckpt:default:rule:hive-audit")
            .arg("loaded_at_ms")
            .query(&mut conn)
            .unwrap()
    };
    let first = loaded_at();
    // The log's clock is an hour ahead of UTC from now on.
    std::fs::write(plugins.join("hive_audit.toml"), "utc_offset_secs = 3600\n").unwrap();
    wait_until(&config, "the reload", || loaded_at() != first);
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(&std::fs::read(&part2).unwrap()).unwrap();
    wait_until(&config, "part 2", || {
        redis.records_in("hive-audit") >= count(&part1) + count(&part2)
    });
    let stderr = stop(child, &config);
    assert!(stderr.contains("rule reloaded"), "{stderr}");

    // Part 2 (13:00-13:59 local) lands at 12:00-12:59 UTC, not at 13:00.
    let outputs = redis.outputs("hive-audit");
    let start = |key: &str| key.rsplit(':').next().unwrap().parse::<i64>().unwrap();
    let thirteen = 1_795_219_200 + 13 * 3600;
    let shifted_hour: Hashes = outputs
        .clone()
        .into_iter()
        .filter(|(key, _)| (thirteen - 3600..thirteen).contains(&start(key)))
        .collect();
    let shifted = total(&shifted_hour, ":by_table:");
    let expected = total(&oracle("hive-audit", &part2, 10, 0), ":by_table:");
    assert!(expected > 0);
    assert_eq!(shifted, expected, "part 2 counted in the shifted hour");
    assert!(
        !outputs
            .keys()
            .any(|key| (thirteen..thirteen + 3600).contains(&start(key))),
        "nothing at unshifted times"
    );
}

/// Starts `weir run` in `cwd` (so a relative `[plugins] dir` is read from
/// there), its log in `<config dir>/weir.log`.
fn start_in(config: &Path, cwd: &Path) -> Running {
    let log = std::fs::File::create(config.with_file_name("weir.log")).unwrap();
    let child = weir()
        .current_dir(cwd)
        .arg("run")
        .arg("--config")
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Running(Some(child))
}

/// weir's log so far.
fn log_so_far(config: &Path) -> String {
    std::fs::read_to_string(config.with_file_name("weir.log")).unwrap_or_default()
}

/// `rule`'s object in `weir status --json`, if it has a checkpoint.
fn rule_status(config: &Path, rule: &str) -> Option<serde_json::Value> {
    status_json(config)
        .into_iter()
        .find(|status| status["name"] == rule)
}

/// The version hash `weir status` shows for a component.
fn version_hash(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// Lines of a file.
fn line_count(path: &Path) -> u64 {
    std::fs::read(path)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .count() as u64
}

/// How a test's config names the plugins folder.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PluginsPath {
    /// `dir = "plugins"`, relative to weir's working directory.
    Relative,
    /// An absolute path through a symlink to the real folder.
    Symlinked,
}

/// Replaces a loaded rule (a plain copy over it, then a write beside and a
/// rename), then deletes it, with the plugins folder written as `how`.
/// Start-up and the watcher must name the file the same way: a replace is
/// a reload (never "rule `X` is already loaded from ..."), and a delete
/// removes the rule.
fn replace_then_remove(how: PluginsPath) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(&log, &["--seed", "41", "--lines", "600"]);
    let real = plugins_dir(dir.path(), &["ip_count", "pvuv"]);
    let (written, plugins) = match how {
        PluginsPath::Relative => (Path::new("plugins").to_owned(), real.clone()),
        PluginsPath::Symlinked => {
            let link = dir.path().join("linked-plugins");
            std::os::unix::fs::symlink(&real, &link).unwrap();
            (link.clone(), link)
        }
    };
    let redis = RedisServer::start();
    let config = follow_config(dir.path(), &log, &written, &redis);
    let weir = start_in(&config, dir.path());
    let lines = line_count(&log);
    wait_until(&config, "the log read", || {
        redis.records_in("ip-count") >= lines
    });

    let target = plugins.join("ip_count.wasm");
    let version_a = std::fs::read(&target).unwrap();
    let version_b = other_version(&version_a);
    let version_c = other_version(&version_b);
    let reloaded_to = |bytes: &[u8], what: &str| {
        let hash = version_hash(bytes);
        wait_until(&config, what, || {
            log_so_far(&config)
                .lines()
                .any(|line| line.contains("rule reloaded") && line.contains(&hash))
                && rule_status(&config, "ip-count")
                    .is_some_and(|status| status["version_hash"] == hash.as_str())
        });
    };

    // A plain copy over the loaded file.
    let staged = dir.path().join("ip_count.next");
    std::fs::write(&staged, &version_b).unwrap();
    std::fs::copy(&staged, &target).unwrap();
    reloaded_to(&version_b, "the copied version");

    // Written beside, then renamed over it.
    install(&target, &version_c);
    reloaded_to(&version_c, "the renamed version");

    // Deleted: the rule is removed, its checkpoint with it.
    std::fs::remove_file(&target).unwrap();
    wait_until(&config, "the removal", || {
        log_so_far(&config).contains("rule removed") && rule_status(&config, "ip-count").is_none()
    });
    let pvuv = rule_status(&config, "pvuv").unwrap();
    assert!(pvuv["last_load_error"].is_null(), "{pvuv}");

    let stderr = stop(weir, &config);
    assert!(!stderr.contains("rule not loaded"), "{stderr}");
    assert!(!stderr.contains("rule failed to load"), "{stderr}");
    assert!(!stderr.contains("already loaded"), "{stderr}");
    assert_eq!(stderr.matches("rule removed").count(), 1, "{stderr}");
}

#[test]
fn a_relative_plugins_dir_reloads_and_removes_rules() {
    replace_then_remove(PluginsPath::Relative);
}

#[test]
fn a_symlinked_plugins_dir_reloads_and_removes_rules() {
    replace_then_remove(PluginsPath::Symlinked);
}

/// A replacement that fails to load (not a component; a component whose
/// rule name another file already holds) leaves the old version running,
/// and `weir status` shows why at the next checkpoint; a good replacement
/// clears the error.
#[test]
fn a_failed_replace_shows_its_error_while_the_old_version_runs() {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.log");
    generate(&all, &["--seed", "43", "--lines", "1500"]);
    let text = std::fs::read(&all).unwrap();
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let parts: Vec<Vec<u8>> = lines
        .chunks(lines.len().div_ceil(3))
        .map(|chunk| chunk.concat())
        .collect();
    let log = dir.path().join("access.log");
    std::fs::write(&log, &parts[0]).unwrap();
    let append = |part: &[u8]| {
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(part).unwrap();
    };

    let plugins = plugins_dir(dir.path(), &["ip_count", "pvuv"]);
    let redis = RedisServer::start();
    let config = follow_config(dir.path(), &log, &plugins, &redis);
    let weir = start(&config);
    let records = |rule: &str| {
        rule_status(&config, rule).map_or(0, |status| {
            status["stats"]["records_in"].as_u64().unwrap_or(0)
        })
    };
    let mut read = line_count(&log);
    wait_until(&config, "part 1", || records("ip-count") >= read);

    let target = plugins.join("ip_count.wasm");
    let version_a = std::fs::read(&target).unwrap();
    let pvuv_hash = version_hash(&std::fs::read(plugins.join("pvuv.wasm")).unwrap());
    // The error is shown, the old version keeps running (and counting), and
    // the other rule is untouched.
    let broken = |running: &[u8], error_says: &str, part: &[u8], read: &mut u64| {
        wait_until(&config, error_says, || {
            rule_status(&config, "ip-count").is_some_and(|status| {
                status["last_load_error"]
                    .as_str()
                    .is_some_and(|error| error.contains(error_says))
            })
        });
        let status = rule_status(&config, "ip-count").unwrap();
        assert_eq!(status["version_hash"], version_hash(running), "{status}");
        let pvuv = rule_status(&config, "pvuv").unwrap();
        assert!(pvuv["last_load_error"].is_null(), "{pvuv}");
        assert_eq!(pvuv["version_hash"], pvuv_hash.as_str(), "{pvuv}");
        append(part);
        *read += part.split_inclusive(|&b| b == b'\n').count() as u64;
        wait_until(&config, "the next part", || {
            records("ip-count") >= *read && records("pvuv") >= *read
        });
    };

    // Not a component.
    install(&target, b"not a component");
    broken(&version_a, "not a weir rule", &parts[1], &mut read);

    // A good version loads and clears the error.
    let version_b = other_version(&version_a);
    install(&target, &version_b);
    wait_until(&config, "the good version", || {
        rule_status(&config, "ip-count").is_some_and(|status| {
            status["version_hash"] == version_hash(&version_b).as_str()
                && status["last_load_error"].is_null()
        })
    });

    // A component whose rule, `pvuv`, is already loaded from pvuv.wasm.
    let pvuv = std::fs::read(plugins.join("pvuv.wasm")).unwrap();
    install(&target, &pvuv);
    broken(
        &version_b,
        "rule `pvuv` is already loaded from",
        &parts[2],
        &mut read,
    );
    assert_eq!(read, lines.len() as u64);

    let stderr = stop(weir, &config);
    assert!(stderr.contains("rule failed to load"), "{stderr}");
    assert!(stderr.contains("rule not loaded"), "{stderr}");
}

/// A new version that changes a metric's windows: one WARN names the
/// metrics whose open windows were discarded (`uv`; never `pv`, which is
/// unchanged and keeps counting into its open windows), nothing says they
/// "start empty", and `weir status` shows what the reload discarded.
#[test]
fn a_reload_that_changes_a_metrics_windows_warns_once_and_says_so_in_status() {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.log");
    generate(
        &all,
        &["--seed", "47", "--lines", "4000", "--very-late-frac", "0"],
    );
    let text = std::fs::read(&all).unwrap();
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    let log = dir.path().join("access.log");
    std::fs::write(&log, first.concat()).unwrap();

    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let redis = RedisServer::start();
    let config = follow_config(dir.path(), &log, &plugins, &redis);
    let weir = start(&config);
    wait_until(&config, "the first half", || {
        redis.records_in("pvuv") >= first.len() as u64
    });

    let rewindowed = std::fs::read(rule_wasm("weir_test_pvuv_rewindowed")).unwrap();
    install(&plugins.join("pvuv.wasm"), &rewindowed);
    let hash = version_hash(&rewindowed);
    wait_until(&config, "the reload in status", || {
        rule_status(&config, "pvuv").is_some_and(|status| status["version_hash"] == hash.as_str())
    });
    let status = rule_status(&config, "pvuv").unwrap();
    let note = status["last_reload"].as_str().unwrap_or_default();
    assert!(note.contains(&hash), "{status}");
    assert!(note.ends_with("open windows discarded: uv"), "{status}");

    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(&second.concat()).unwrap();
    wait_until(&config, "every line", || {
        redis.records_in("pvuv") >= lines.len() as u64
    });
    let stderr = stop(weir, &config);

    let about_windows: Vec<&str> = stderr
        .lines()
        .filter(|line| {
            line.contains("discarded")
                || line.contains("start empty")
                || line.contains("metric dropped")
        })
        .collect();
    assert_eq!(about_windows.len(), 1, "{stderr}");
    let warning = about_windows[0];
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains(
            "rule reloaded with changed or dropped metrics; their open windows were discarded"
        ),
        "{warning}"
    );
    assert!(warning.contains("metrics=uv"), "{warning}");

    // `pv` kept its open windows across the reload: its minutes are exact.
    let pv_minutes = |hashes: Hashes| -> Hashes {
        hashes
            .into_iter()
            .filter(|(key, _)| key.starts_with("weir:pvuv:pv:60:"))
            .collect()
    };
    assert_same(
        &pv_minutes(redis.outputs("pvuv")),
        &pv_minutes(oracle("pvuv", &all, 10, 0)),
        "pv across a reload that changed uv",
    );
}
