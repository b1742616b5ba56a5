//! Hot reload: rules swapped while records flow lose and double nothing,
//! keep their open windows, and a sidecar config change takes effect.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

/// Replaces `target` atomically (write beside it, then rename).
pub fn install(target: &Path, bytes: &[u8]) {
    let tmp = target.with_extension("part");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, target).unwrap();
}

/// A second version of a component: the same code with a custom section
/// appended, so its bytes (and version hash) differ but its metrics do not.
pub fn other_version(component: &[u8]) -> Vec<u8> {
    let mut bytes = component.to_vec();
    bytes.extend_from_slice(&[0, 8, 7]);
    bytes.extend_from_slice(b"version");
    bytes
}

/// Waits up to 30 s for `done`; on timeout, fails showing weir's log.
pub fn wait_until(config: &Path, what: &str, mut done: impl FnMut() -> bool) {
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

/// A config following `log` with quick polls and checkpoints (lateness 10 s).
pub fn follow_config(dir: &Path, log: &Path, plugins: &Path, redis: &RedisServer) -> PathBuf {
    write_config(
        dir,
        &format!("{}poll_interval_ms = 10\n", file_source(log, true)),
        plugins,
        redis,
        "[windows]\nallowed_lateness_secs = 10\n[checkpoint]\ninterval_ms = 20\n",
    )
}

/// Starts `weir run` with its log in `<dir>/weir.log` (read by [`stop`], and
/// shown when a wait times out).
pub fn start(config: &Path) -> Running {
    let log = std::fs::File::create(config.with_file_name("weir.log")).unwrap();
    Running::spawn(config, log)
}

/// Stops weir with SIGTERM and returns its log.
pub fn stop(weir: Running, config: &Path) -> String {
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

    let plugins = plugins_dir(dir.path(), &["hive_audit"]);
    std::fs::write(plugins.join("hive_audit.toml"), "utc_offset_secs = 0\n").unwrap();
    let log = dir.path().join("audit.log");
    std::fs::copy(&part1, &log).unwrap();
    let redis = RedisServer::start();
    let config = follow_config(dir.path(), &log, &plugins, &redis);
    let child = start(&config);
    wait_until(&config, "part 1", || {
        redis.records_in("hive-audit") >= line_count(&part1)
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
        redis.records_in("hive-audit") >= line_count(&part1) + line_count(&part2)
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
