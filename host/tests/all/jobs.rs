//! The example rules of contract 0.2.0 (`spend`, `orders`, `cpu`,
//! `errors`) end to end against the oracle, and a component built for
//! 0.1.0 still running.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::result_store::ResultStore;
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
/// `extra` config into `store`, and returns the config and the log.
pub fn run_job(
    store: &impl ResultStore,
    dir: &Path,
    rule: &str,
    lines: u32,
    extra: &str,
) -> (PathBuf, PathBuf) {
    let log = job_log(dir, rule, 29, lines);
    let plugins = plugins_dir(dir, &[rule]);
    let config = store.config(
        dir,
        &file_source(&log, false),
        &plugins,
        &format!("[windows]\nallowed_lateness_secs = 10\n{extra}"),
    );
    run_to_end(&config);
    (config, log)
}

/// `errors`' config in the tests: an alert above 40 a minute, at most one
/// per service per 10 minutes.
pub const ERRORS_CONFIG: &str =
    "[rules.errors]\nconfig = { threshold = 40, throttle_secs = 600 }\n";

/// `spend`: exact money per appkey per minute and per local day (the day
/// offset comes from the rule's manifest), payers per day.
#[test]
fn spend_sums_money_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let (config, log) = run_job(&redis, dir.path(), "spend", 24_000, "");
    check_spend(&redis, &config, &log);
}

/// Checks a file run of `spend` (10 s lateness) against the oracle.
pub fn check_spend(store: &impl ResultStore, config: &Path, log: &Path) {
    let expected = oracle("spend", log, 10, -28_800);
    assert_eq!(
        expected
            .keys()
            .filter(|k| k.contains(":spend:86400:"))
            .count(),
        2,
        "both local days have a day window"
    );
    assert_same(&store.outputs("spend"), &expected, "spend");
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
    let status = status_row(config, "spend").expect("a spend row");
    assert_ne!(status["rejected"], "0", "{status:?}");
}

/// `orders`: GMV and per-product sums, and each minute's top 5 products in
/// `weir:orders:by_product:60:<start>:top` equal to the 5 largest sums.
#[test]
fn orders_keep_the_top_five_products() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let (_config, log) = run_job(&redis, dir.path(), "orders", 24_000, "");
    let checked = check_orders(&redis, &log, 10);
    assert!(checked >= 15, "only {checked} minutes");
}

/// Checks a run of `orders` with `lateness` against the oracle, its top 5
/// included; returns how many minutes' top 5 it checked.
pub fn check_orders(store: &impl ResultStore, log: &Path, lateness: u64) -> usize {
    let expected = oracle("orders", log, lateness, 0);
    assert_same(&store.outputs("orders"), &expected, "orders");
    assert_top_five(store, &expected)
}

/// Checks each `by_product` window's `:top` set against the 5 largest
/// sums of `expected`; returns how many windows it checked.
pub fn assert_top_five(store: &impl ResultStore, expected: &Hashes) -> usize {
    let mut checked = 0;
    for (key, groups) in expected
        .iter()
        .filter(|(k, _)| k.contains(":by_product:60:"))
    {
        let top: Vec<(String, f64)> = store.query(
            redis::cmd("ZRANGE")
                .arg(store.top_key(key))
                .arg(0)
                .arg(-1)
                .arg("REV")
                .arg("WITHSCORES"),
        );
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
    let redis = RedisServer::start();
    let (_config, log) = run_job(&redis, dir.path(), "cpu", 24_000, "");
    check_cpu(&redis, &log, 10);
}

/// Checks a run of `cpu` with `lateness` against the oracle: means
/// exactly, quantiles within 1%.
pub fn check_cpu(store: &impl ResultStore, log: &Path, lateness: u64) {
    let expected = oracle("cpu", log, lateness, 0);
    let got = store.outputs("cpu");
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
pub fn alerts(store: &impl ResultStore, rule: &str) -> Vec<BTreeMap<String, String>> {
    let entries: Vec<(String, BTreeMap<String, String>)> = store.query(
        redis::cmd("XRANGE")
            .arg(format!("weir:{rule}:alerts"))
            .arg("-")
            .arg("+"),
    );
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
    store: &impl ResultStore,
    rule: &str,
    want: &BTreeSet<(String, i64)>,
    throttle: i64,
) {
    let got = alerts(store, rule);
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
    let redis = RedisServer::start();
    let (config, log) = run_job(&redis, dir.path(), "errors", 24_000, ERRORS_CONFIG);
    check_errors_replayed(&redis, &config, &log);
}

/// Checks a file run of `errors` (10 s lateness, [`ERRORS_CONFIG`]), then
/// replays it from scratch and checks that no alert was written twice.
pub fn check_errors_replayed(store: &impl ResultStore, config: &Path, log: &Path) {
    let expected = oracle("errors", log, 10, 0);
    assert_same(&store.outputs("errors"), &expected, "errors");
    let want = expected_alerts(&expected, 40, 600);
    let check = |what: &str| {
        assert_alerts_once(store, "errors", &want, 600);
        for alert in alerts(store, "errors") {
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
        .arg(config)
        .output()
        .unwrap();
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    run_to_end(config);
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
