//! The example rules of `plugins/` end to end against the oracle
//! (`tests/tools/expected.py`), each on its own input format.

use crate::support::*;

/// `clicks`: JSON click events with local times, across local midnight (the
/// day windows start at midnight UTC+8), with out-of-order, late and
/// malformed lines.
#[test]
fn clicks_from_json_events_match_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("clicks.log");
    let status = std::process::Command::new("python3")
        .arg(repo_root().join("tests/tools/gen_clicks.py"))
        .args([
            "--seed",
            "81",
            "--lines",
            "24000",
            "--start",
            "2026-12-01 23:52:00",
        ])
        .arg("--out")
        .arg(&log)
        .status()
        .unwrap();
    assert!(status.success(), "gen_clicks.py failed");
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["clicks"]);
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\nday_offset_secs = -28800\n",
    );
    let output = run_to_end(&config);
    let expected = oracle("clicks", &log, 10, -28800);
    // Both local days have a day window.
    assert_eq!(
        expected
            .keys()
            .filter(|key| key.contains(":86400:"))
            .count(),
        4,
        "{:?}",
        expected.keys().collect::<Vec<_>>()
    );
    assert_same(&redis.outputs("clicks"), &expected, "clicks");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rule=\"clicks\" records=24000"), "{stderr}");
    let status = status_row(&config, "clicks").expect("a clicks row");
    assert_ne!(status["rejected"], "0", "{status:?}");
    assert_ne!(status["late"], "0", "{status:?}");
}
