//! The example rules of contract 0.2.0 (`spend`, `orders`, `cpu`,
//! `errors`) end to end against the oracle, and a component built for
//! 0.1.0 still running.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::*;

/// Generates `lines` lines for `job` from `seed` (see
/// `tests/tools/gen_jobs.py`), starting eight minutes before local midnight
/// so the day windows split.
pub fn job_log(dir: &Path, job: &str, seed: u32, lines: u32) -> PathBuf {
    let log = dir.join(format!("{job}.log"));
    let status = std::process::Command::new("python3")
        .arg(repo_root().join("tests/tools/gen_jobs.py"))
        .args([
            "--job",
            job,
            "--seed",
            &seed.to_string(),
            "--lines",
            &lines.to_string(),
        ])
        .args(["--start", "2026-12-01 23:52:00", "--out"])
        .arg(&log)
        .status()
        .unwrap();
    assert!(status.success(), "gen_jobs.py failed");
    log
}

/// Runs `rule` on its generated log (file source, 10 s lateness) with
/// `extra` config, and returns Redis, the config and the log.
fn run_job(dir: &Path, rule: &str, lines: u32, extra: &str) -> (RedisServer, PathBuf, PathBuf) {
    let log = job_log(dir, rule, 29, lines);
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir, &[rule]);
    let config = write_config(
        dir,
        &file_source(&log, false),
        &plugins,
        &redis,
        &format!("[windows]\nallowed_lateness_secs = 10\n{extra}"),
    );
    run_to_end(&config);
    (redis, config, log)
}

/// `spend`: exact money per appkey per minute and per local day (the day
/// offset comes from the rule's manifest), payers per day.
#[test]
fn spend_sums_money_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (redis, config, log) = run_job(dir.path(), "spend", 24_000, "");
    let expected = oracle("spend", &log, 10, -28_800);
    assert_eq!(
        expected
            .keys()
            .filter(|k| k.contains(":spend:86400:"))
            .count(),
        2,
        "both local days have a day window"
    );
    assert_same(&redis.outputs("spend"), &expected, "spend");
    // Money is written with its cents, never as a float.
    let day = expected
        .keys()
        .find(|k| k.contains(":spend:86400:"))
        .unwrap();
    assert!(
        expected[day]
            .values()
            .all(|v| v.split_once('.').is_some_and(|(_, c)| c.len() == 2))
    );
    let status = status_row(&config, "spend").expect("a spend row");
    assert_ne!(status["rejected"], "0", "{status:?}");
}

/// `orders`: GMV and per-product sums, and each minute's top 5 products in
/// `weir:orders:by_product:60:<start>:top` equal to the 5 largest sums.
#[test]
fn orders_keep_the_top_five_products() {
    let dir = tempfile::tempdir().unwrap();
    let (redis, _config, log) = run_job(dir.path(), "orders", 24_000, "");
    let expected = oracle("orders", &log, 10, 0);
    assert_same(&redis.outputs("orders"), &expected, "orders");
    let checked = assert_top_five(&redis, &expected);
    assert!(checked >= 15, "only {checked} minutes");
}

/// Checks each `by_product` window's `:top` set against the 5 largest
/// sums of `expected`; returns how many windows it checked.
pub fn assert_top_five(redis: &RedisServer, expected: &Hashes) -> usize {
    let mut checked = 0;
    for (key, groups) in expected
        .iter()
        .filter(|(k, _)| k.contains(":by_product:60:"))
    {
        let top: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(format!("{key}:top"))
            .arg(0)
            .arg(-1)
            .arg("REV")
            .arg("WITHSCORES")
            .query(&mut redis.conn())
            .unwrap();
        let mut values: Vec<f64> = groups.values().map(|v| v.parse().unwrap()).collect();
        values.sort_by(|a, b| b.total_cmp(a));
        values.truncate(5);
        let scores: Vec<f64> = top.iter().map(|(_, score)| *score).collect();
        assert_eq!(scores, values, "{key}");
        for (product, score) in &top {
            assert_eq!(
                groups[product].parse::<f64>().unwrap(),
                *score,
                "{key} {product}"
            );
        }
        checked += 1;
    }
    checked
}

/// `cpu`: the mean per host exactly (half-even at 2 digits), the quantiles
/// within 1% of the exact ones.
#[test]
fn cpu_average_and_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let (redis, _config, log) = run_job(dir.path(), "cpu", 24_000, "");
    let expected = oracle("cpu", &log, 10, 0);
    let got = redis.outputs("cpu");
    let (exact_expected, approx_expected): (Hashes, Hashes) = expected
        .into_iter()
        .partition(|(k, _)| k.contains(":cpu_avg:"));
    let (exact_got, approx_got): (Hashes, Hashes) =
        got.into_iter().partition(|(k, _)| k.contains(":cpu_avg:"));
    assert_same(&exact_got, &exact_expected, "cpu_avg");
    assert_eq!(
        approx_got.keys().collect::<Vec<_>>(),
        approx_expected.keys().collect::<Vec<_>>()
    );
    for suffix in ["_p50:", "_p75:", "_p99:"] {
        assert!(
            approx_got.keys().any(|k| k.contains(suffix)),
            "no cpu{suffix}"
        );
    }
    let mut compared = 0;
    for (key, groups) in &approx_expected {
        assert_eq!(
            approx_got[key].keys().collect::<Vec<_>>(),
            groups.keys().collect::<Vec<_>>()
        );
        for (host, exact) in groups {
            let exact: f64 = exact.parse().unwrap();
            let got: f64 = approx_got[key][host].parse().unwrap();
            assert!(
                (got - exact).abs() <= 0.01 * exact.abs() + 1e-9,
                "{key} {host}: {got} vs exact {exact}"
            );
            compared += 1;
        }
    }
    assert!(compared > 100, "{compared}");
}

/// The entries of `weir:<rule>:alerts`, oldest first.
pub fn alerts(redis: &RedisServer, rule: &str) -> Vec<BTreeMap<String, String>> {
    let entries: Vec<(String, BTreeMap<String, String>)> = redis::cmd("XRANGE")
        .arg(format!("weir:{rule}:alerts"))
        .arg("-")
        .arg("+")
        .query(&mut redis.conn())
        .unwrap();
    entries.into_iter().map(|(_, fields)| fields).collect()
}

/// The (group, throttle bucket) pairs that must alert: windows of
/// `expected` with a count above `threshold`.
pub fn expected_alerts(
    expected: &Hashes,
    threshold: u64,
    throttle: i64,
) -> BTreeSet<(String, i64)> {
    let mut want = BTreeSet::new();
    for (key, groups) in expected {
        let start: i64 = key.rsplit(':').next().unwrap().parse().unwrap();
        for (group, count) in groups {
            if count.parse::<u64>().unwrap() > threshold {
                want.insert((group.clone(), start.div_euclid(throttle)));
            }
        }
    }
    want
}

/// Checks that `rule`'s alert stream holds exactly one entry per pair of
/// `want`.
pub fn assert_alerts_once(
    redis: &RedisServer,
    rule: &str,
    want: &BTreeSet<(String, i64)>,
    throttle: i64,
) {
    let got = alerts(redis, rule);
    let buckets: BTreeSet<(String, i64)> = got
        .iter()
        .map(|a| {
            (
                a["group"].clone(),
                a["window_start"]
                    .parse::<i64>()
                    .unwrap()
                    .div_euclid(throttle),
            )
        })
        .collect();
    assert!(!want.is_empty(), "nothing crosses the threshold");
    assert_eq!(&buckets, want);
    assert_eq!(got.len(), want.len(), "an alert was written twice: {got:?}");
}

/// `errors`: ERROR lines per service per minute, and an alert for every
/// (service, 10-minute bucket) with a minute above the threshold, written
/// once even when the input is replayed from scratch.
#[test]
fn errors_alert_once_per_service_and_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[rules.errors]\nconfig = { threshold = 40, throttle_secs = 600 }\n";
    let (redis, config, log) = run_job(dir.path(), "errors", 24_000, extra);
    let expected = oracle("errors", &log, 10, 0);
    assert_same(&redis.outputs("errors"), &expected, "errors");
    let want = expected_alerts(&expected, 40, 600);
    let check = |what: &str| {
        assert_alerts_once(&redis, "errors", &want, 600);
        for alert in alerts(&redis, "errors") {
            assert_eq!(alert["rule"], "errors", "{what}");
            assert_eq!(alert["metric"], "errors");
            assert_eq!(alert["window_secs"], "60");
            assert_eq!(alert["threshold"], "40");
            assert!(alert["value"].parse::<u64>().unwrap() > 40);
        }
    };
    check("first run");
    // Replay everything from scratch: the same alerts, none twice.
    let reset = weir()
        .args(["reset", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    run_to_end(&config);
    check("replay");
}

/// `risk`: requests per client IP per minute, and one alert per (IP,
/// 10-minute bucket) with a minute above `max_per_minute`.
#[test]
fn risk_alerts_on_floods() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(&log, &["--seed", "12", "--lines", "30000"]);
    let expected = oracle("risk", &log, 10, 0);
    // A threshold some minutes cross: half the busiest IP-minute.
    let busiest = expected
        .values()
        .flat_map(|groups| groups.values())
        .map(|count| count.parse::<u64>().unwrap())
        .max()
        .unwrap();
    let threshold = busiest / 2;
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["risk"]);
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        &format!(
            "[windows]\nallowed_lateness_secs = 10\n[rules.risk]\nconfig = {{ max_per_minute = {threshold} }}\n"
        ),
    );
    run_to_end(&config);
    assert_same(&redis.outputs("risk"), &expected, "risk");
    assert_alerts_once(
        &redis,
        "risk",
        &expected_alerts(&expected, threshold, 600),
        600,
    );
}

/// A component built for `weir:rule@0.1.0` (from the commit before 0.2.0
/// was added) still loads and counts exactly.
#[test]
fn a_component_built_for_0_1_0_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(&log, &["--seed", "5", "--lines", "20000"]);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        repo_root().join("tests/fixtures/pvuv-0.1.0.wasm"),
        plugins.join("pvuv.wasm"),
    )
    .unwrap();
    let redis = RedisServer::start();
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        "[windows]\nallowed_lateness_secs = 10\n",
    );
    run_to_end(&config);
    assert_same(
        &redis.outputs("pvuv"),
        &oracle("pvuv", &log, 10, 0),
        "pvuv 0.1.0",
    );
}

/// On a Redis Cluster a rule using the 0.2.0 aggregations, top-N or alerts
/// is refused when it loads, naming the metric (their writes span slots);
/// a 0.1.0-style rule beside it is fine.
#[test]
fn rules_a_cluster_cannot_hold_yet_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins_dir(dir.path(), &["orders", "pvuv"]);
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        format!(
            "{}[plugins]\ndir = \"{}\"\n[redis]\nurl = \"redis://127.0.0.1:1\"\ncluster = true\n",
            file_source(&dir.path().join("unused.log"), false),
            plugins.display()
        ),
    )
    .unwrap();
    let stderr = check_fails(&config);
    assert!(
        stderr.contains(
            r#"metric "gmv": decimal-sum(2) is not supported with [redis] cluster = true yet"#
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(r#"metric "by_product": decimal-sum(2), top-N"#),
        "{stderr}"
    );
    assert!(!stderr.contains("pvuv.wasm"), "{stderr}");
}
