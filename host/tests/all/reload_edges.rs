//! Hot reload's sharp edges: a relative or symlinked plugins folder, a
//! replacement that fails to load, a new version that changes a metric's
//! windows.

use std::io::Write;
use std::path::Path;

use crate::reload::{follow_config, install, other_version, start, stop, wait_until};
use crate::support::*;

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

/// A `.wasm` copied into the plugins folder while weir runs is loaded and
/// sees the records from then on (none before), while the rules already
/// running go on exactly.
#[test]
fn a_rule_added_while_running_counts_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    let part1 = dir.path().join("part1.log");
    let part2 = dir.path().join("part2.log");
    let common = ["--lines", "800", "--very-late-frac", "0"];
    let hours = [
        ("51", "2026-11-21T10:00:00+00:00"),
        ("52", "2026-11-21T12:00:00+00:00"),
    ];
    for (part, (seed, start)) in [&part1, &part2].into_iter().zip(hours) {
        generate(
            part,
            &[&common[..], &["--seed", seed, "--start", start]].concat(),
        );
    }
    let all = dir.path().join("all.log");
    let mut both = std::fs::read(&part1).unwrap();
    both.extend(std::fs::read(&part2).unwrap());
    std::fs::write(&all, &both).unwrap();

    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let log = dir.path().join("access.log");
    std::fs::copy(&part1, &log).unwrap();
    let redis = RedisServer::start();
    let config = follow_config(dir.path(), &log, &plugins, &redis);
    let weir = start(&config);
    wait_until(&config, "part 1", || {
        redis.records_in("pvuv") >= line_count(&part1)
    });
    install(
        &plugins.join("ip_count.wasm"),
        &std::fs::read(rule_wasm("ip_count")).unwrap(),
    );
    wait_until(&config, "the new rule", || {
        std::fs::read_to_string(config.with_file_name("weir.log"))
            .unwrap_or_default()
            .contains("rule added")
    });
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(&std::fs::read(&part2).unwrap()).unwrap();
    wait_until(&config, "part 2", || {
        redis.records_in("ip-count") >= line_count(&part2)
            && redis.records_in("pvuv") >= line_count(&all)
    });
    let stderr = stop(weir, &config);
    assert!(stderr.contains("rule added"), "{stderr}");

    assert_eq!(redis.records_in("ip-count"), line_count(&part2), "{stderr}");
    assert_same(
        &redis.outputs("ip-count"),
        &oracle("ip-count", &part2, 10, 0),
        "ip-count, added before part 2",
    );
    // A followed file never ends: compare the minutes (see `minutes`).
    assert_same(
        &minutes(redis.outputs("pvuv")),
        &minutes(oracle("pvuv", &all, 10, 0)),
        "pvuv minutes, running throughout",
    );
}

/// A new version written slowly over the running one (a `cp` or `scp`
/// straight into the folder, pausing between writes for less than the
/// watcher's quiet period) is loaded once, whole: never a half-written
/// file, so no load error while it is being written.
#[test]
fn a_rule_written_slowly_in_place_is_loaded_once_whole() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(&log, &["--lines", "500"]);
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let target = plugins.join("pvuv.wasm");
    let redis = RedisServer::start();
    let config = follow_config(dir.path(), &log, &plugins, &redis);
    let weir = start(&config);
    wait_until(&config, "the first records", || {
        redis.records_in("pvuv") > 0
    });
    let new_version = other_version(&std::fs::read(&target).unwrap());
    let pause = weir::plugin::watcher::SETTLE / 3;
    let mut file = std::fs::File::create(&target).unwrap();
    for chunk in new_version.chunks(new_version.len() / 8 + 1) {
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
        std::thread::sleep(pause);
    }
    drop(file);
    let hash = version_hash(&new_version);
    wait_until(&config, "the new version", || {
        rule_status(&config, "pvuv").is_some_and(|status| status["version_hash"] == hash.as_str())
    });
    let stderr = stop(weir, &config);
    assert!(!stderr.contains("rule failed to load"), "{stderr}");
    assert_eq!(stderr.matches("rule reloaded").count(), 1, "{stderr}");
}
