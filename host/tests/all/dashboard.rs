//! The HTTP server (issue 11): the query API against Redis, `/metrics`
//! parsed with a Prometheus parser against `weir status`, Server-Sent
//! Events after a checkpoint, the start-up error of a port in use, and the
//! dashboard in headless Chromium against Redis.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::Commands;
use serde_json::Value;

use crate::http_support::{Events, get, get_json, wait_for_http};
use crate::support::*;

/// `weir serve` on `port`, stopped when the test ends.
fn serve(config: &Path, port: u16) -> Running {
    let child: Child = weir()
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("WEIR_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(Some(child));
    wait_for_http(port, Duration::from_secs(20));
    running
}

/// A finished run of `pvuv` and `ip-count` over a generated access log.
struct Finished {
    _dir: tempfile::TempDir,
    redis: RedisServer,
    config: PathBuf,
}

fn finished_run(lines: &str) -> Finished {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(&log, &["--seed", "11", "--lines", lines]);
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv", "ip_count"]);
    let config = write_config(dir.path(), &file_source(&log, false), &plugins, &redis, "");
    run_to_end(&config);
    Finished {
        _dir: dir,
        redis,
        config,
    }
}

/// A sample's value, whatever type the parser gave it.
fn sample_value(value: &prometheus_parse::Value) -> f64 {
    match value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("unexpected sample {other:?}"),
    }
}

#[test]
fn metrics_and_rules_api_equal_weir_status() {
    let run = finished_run("3000");
    let port = free_port();
    let _server = serve(&run.config, port);
    let status = status_json(&run.config);
    assert_eq!(status.len(), 2);
    assert_eq!(
        get_json(port, "/api/v1/rules"),
        Value::Array(status.clone()),
        "/api/v1/rules is `weir status --json`"
    );

    let (code, body) = get(port, "/metrics");
    assert_eq!(code, 200, "{body}");
    let scrape =
        prometheus_parse::Scrape::parse(body.lines().map(|line| Ok(line.to_owned()))).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let found: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| sample_value(&s.value))
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?} in:\n{body}");
        found[0]
    };
    let counters = [
        ("weir_records_in_total", "records_in"),
        ("weir_updates_total", "updates"),
        ("weir_rejected_total", "rejected"),
        ("weir_late_total", "late"),
        ("weir_dead_letters_total", "dead_lettered"),
        ("weir_traps_total", "traps"),
        ("weir_quarantined_total", "quarantined"),
        ("weir_no_event_time_total", "no_event_time"),
    ];
    for rule in &status {
        let name = rule["name"].as_str().unwrap();
        for (metric, field) in counters {
            let expected = rule["stats"][field].as_u64().unwrap();
            assert_eq!(
                value(metric, &[("rule", name)]),
                expected as f64,
                "{metric} of {name}"
            );
        }
        // The generated log has malformed lines: a counter that is not 0.
        assert!(rule["stats"]["rejected"].as_u64().unwrap() > 0);
        for metric in ["weir_reloads_total", "weir_load_errors_total"] {
            let field = metric
                .trim_start_matches("weir_")
                .trim_end_matches("_total");
            assert_eq!(
                value(metric, &[("rule", name)]),
                rule[field].as_u64().unwrap() as f64
            );
        }
        let watermark_ms = rule["watermarks"]["0"]["watermark_ms"].as_i64().unwrap();
        assert_eq!(
            value("weir_watermark_seconds", &[("rule", name), ("lane", "0")]),
            watermark_ms as f64 / 1000.0
        );
        assert!(
            value(
                "weir_watermark_lag_seconds",
                &[("rule", name), ("lane", "0")]
            ) > 0.0
        );
    }
    // `weir serve` runs no pipeline: no process measurements.
    assert!(!body.contains("weir_checkpoint_duration_seconds"), "{body}");
}

#[test]
fn query_api_serves_what_redis_holds() {
    let run = finished_run("3000");
    let port = free_port();
    let _server = serve(&run.config, port);
    let mut conn = run.redis.conn();

    // The newest five minutes, oldest first, every value as stored.
    let starts: Vec<i64> = conn.zrange("weir:pvuv:pv:60:windows", -5, -1).unwrap();
    assert_eq!(starts.len(), 5);
    let answer = get_json(port, "/api/v1/rules/pvuv/metrics/pv/60?last=5");
    let windows = answer["windows"].as_array().unwrap();
    let served: Vec<i64> = windows
        .iter()
        .map(|w| w["start"].as_i64().unwrap())
        .collect();
    assert_eq!(served, starts);
    for window in windows {
        let start = window["start"].as_i64().unwrap();
        let hash: BTreeMap<String, String> =
            conn.hgetall(format!("weir:pvuv:pv:60:{start}")).unwrap();
        let values: BTreeMap<String, String> = window["values"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(group, value)| (group.clone(), value.to_string()))
            .collect();
        assert_eq!(values, hash, "window {start}");
        assert_eq!(
            window["final"],
            Value::Bool(true),
            "a finished run is final"
        );
    }
    // The day so far: one window.
    let day = get_json(port, "/api/v1/rules/pvuv/metrics/uv/86400?last=3");
    let day = day["windows"].as_array().unwrap();
    assert_eq!(day.len(), 1);
    let start = day[0]["start"].as_i64().unwrap();
    let uv: String = conn
        .hget(format!("weir:pvuv:uv:86400:{start}"), "total")
        .unwrap();
    assert_eq!(day[0]["values"]["total"].to_string(), uv);

    // Unknown names and bad ranges.
    let (code, body) = get(port, "/api/v1/rules/pvuv/metrics/nope/60");
    assert_eq!(code, 404, "{body}");
    assert_eq!(get(port, "/api/v1/rules/pvuv/metrics/pv/61").0, 404);
    assert_eq!(get(port, "/api/v1/rules/p*/metrics/pv/60").0, 400);
    assert_eq!(get(port, "/api/v1/rules/pvuv/metrics/pv/60?last=0").0, 400);
    assert_eq!(get(port, "/api/v1/rules/nope/metrics").0, 404);
    let catalog = get_json(port, "/api/v1/rules/pvuv/metrics");
    assert_eq!(catalog["pv"]["aggregation"], "count");

    // Top-N from the hash (ip-count publishes no `:top` set): the largest
    // client IPs of the newest minute, largest first.
    let newest: Vec<i64> = conn
        .zrange("weir:ip-count:requests:60:windows", -1, -1)
        .unwrap();
    let hash: BTreeMap<String, u64> = conn
        .hgetall(format!("weir:ip-count:requests:60:{}", newest[0]))
        .unwrap();
    let top = get_json(
        port,
        "/api/v1/rules/ip-count/metrics/requests/60/top?last=1&limit=3",
    );
    let ranked = top["windows"][0]["top"].as_array().unwrap();
    assert_eq!(ranked.len(), 3.min(hash.len()));
    let mut largest: Vec<u64> = hash.values().copied().collect();
    largest.sort_unstable_by(|a, b| b.cmp(a));
    for (i, entry) in ranked.iter().enumerate() {
        let group = entry["group"].as_str().unwrap();
        assert_eq!(entry["value"].as_u64(), Some(hash[group]));
        assert_eq!(entry["value"].as_u64(), Some(largest[i]));
    }

    // Top-N from a `:top` sorted set (issue 10's layout, score = value),
    // which wins over the hash; a decimal keeps its digits.
    let key = format!("weir:ip-count:requests:60:{}:top", newest[0]);
    let _: () = redis::cmd("ZADD")
        .arg(&key)
        .arg("5")
        .arg("a")
        .arg("7.25")
        .arg("b")
        .arg("6")
        .arg("c")
        .query(&mut conn)
        .unwrap();
    let (code, body) = get(
        port,
        "/api/v1/rules/ip-count/metrics/requests/60/top?last=1&limit=2",
    );
    assert_eq!(code, 200);
    assert!(
        body.contains(r#""top":[{"group":"b","value":7.25},{"group":"c","value":6}]"#),
        "{body}"
    );

    // Alerts (issue 10's stream), newest first over every rule; money stays
    // exact (no double in between).
    let alert = |conn: &mut redis::Connection, rule: &str, value: &str| {
        let _: String = redis::cmd("XADD")
            .arg(format!("weir:{rule}:alerts"))
            .arg("*")
            .arg("rule")
            .arg(rule)
            .arg("metric")
            .arg("spend")
            .arg("group")
            .arg("appkey1")
            .arg("window_start")
            .arg("1795190400")
            .arg("window_secs")
            .arg("60")
            .arg("value")
            .arg(value)
            .arg("threshold")
            .arg("500000.00")
            .query(conn)
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
    };
    alert(&mut conn, "pvuv", "611795.34");
    alert(&mut conn, "ip-count", "12345678901234567890.12");
    let (code, body) = get(port, "/api/v1/alerts?last=10");
    assert_eq!(code, 200);
    let alerts: Value = serde_json::from_str(&body).unwrap();
    let rules: Vec<&str> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["ip-count", "pvuv"]);
    assert!(
        body.contains(r#""value":12345678901234567890.12"#),
        "{body}"
    );
    assert!(body.contains(r#""value":611795.34"#), "{body}");
    assert!(body.contains(r#""threshold":500000.00"#), "{body}");
    let newest = get_json(port, "/api/v1/alerts?last=1");
    assert_eq!(newest["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(newest["alerts"][0]["rule"], "ip-count");
}

#[test]
fn events_deliver_the_windows_a_checkpoint_changed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(&log, &["--seed", "12", "--lines", "300"]);
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let config = write_config(
        dir.path(),
        &file_source(&log, true),
        &plugins,
        &redis,
        "[checkpoint]\ninterval_ms = 200\n",
    );
    let port = free_port();
    let child = weir()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env("WEIR_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("weir.log")).unwrap())
        .spawn()
        .unwrap();
    let running = Running(Some(child));
    let weir_log = dir.path().join("weir.log");
    redis.wait_for_records("pvuv", 300, Duration::from_secs(60), Some(&weir_log));
    wait_for_http(port, Duration::from_secs(20));
    let mut events = Events::subscribe(port);

    // Lines of a later hour, appended while weir follows the file.
    let more = dir.path().join("more.log");
    generate(
        &more,
        &[
            "--seed",
            "13",
            "--lines",
            "200",
            "--start",
            "2026-11-21T12:00:00+08:00",
        ],
    );
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(&std::fs::read(&more).unwrap()).unwrap();
    }
    redis.wait_for_records("pvuv", 500, Duration::from_secs(60), Some(&weir_log));
    // Every appended line is checkpointed: the value Redis holds for the
    // first appended minute must arrive as an event.
    let first_minute = 1_795_233_600; // 2026-11-21T12:00:00+08:00
    let mut conn = redis.conn();
    let expected: String = conn
        .hget(format!("weir:pvuv:pv:60:{first_minute}"), "total")
        .unwrap();
    let event = events.next_matching("windows", Duration::from_secs(20), |event| {
        event["rule"] == "pvuv"
            && event["metric"] == "pv"
            && event["window_secs"] == 60
            && event["windows"].as_array().unwrap().iter().any(|w| {
                w["start"] == first_minute && w["values"]["total"].as_u64() == expected.parse().ok()
            })
    });
    assert!(
        event.is_some(),
        "no event carried pv {expected} for the minute {first_minute}"
    );
    assert!(running.terminate().success());
}

#[test]
fn a_port_in_use_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    generate(&log, &["--seed", "14", "--lines", "100"]);
    let redis = RedisServer::start();
    let plugins = plugins_dir(dir.path(), &["pvuv"]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        &format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let output = weir()
        .env_remove("WEIR_HTTP_LISTEN")
        .arg("run")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port} ([http] listen)"
        )) && stderr.contains("in use"),
        "{stderr}"
    );
    // Nothing was read: no output in Redis.
    assert!(redis.keys("weir:pvuv:*").is_empty());
    // `listen = ""` turns the server off: the same run succeeds.
    let config = write_config(
        dir.path(),
        &file_source(&log, false),
        &plugins,
        &redis,
        "[http]\nlisten = \"\"\n",
    );
    let output = weir()
        .env_remove("WEIR_HTTP_LISTEN")
        .arg("run")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    drop(taken);
}

/// The Chromium binary; the test fails (not skips) without it: CI runs
/// `scripts/setup.sh`, which installs it.
fn chromium() -> String {
    for name in ["chromium", "chromium-browser"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
            .unwrap();
        if found.status.success() {
            return String::from_utf8_lossy(&found.stdout).trim().to_owned();
        }
    }
    panic!("chromium is not installed: run scripts/setup.sh (it installs Debian's chromium)");
}

/// Chromium in headless mode on `url`, with its own profile in `profile`.
fn headless(chromium: &str, profile: &Path, args: &[&str], url: &str) -> String {
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--virtual-time-budget=15000",
            "--window-size=1280,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url);
    let output = output_within(&mut command, Duration::from_secs(120));
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `<span class="value" data-...>text</span>` elements of the page:
/// (attributes, text).
fn shown_values(dom: &str) -> Vec<(BTreeMap<String, String>, String)> {
    let mut found = Vec::new();
    for piece in dom.split("<span class=\"value\"").skip(1) {
        let Some((attrs, rest)) = piece.split_once('>') else {
            continue;
        };
        let text = rest.split('<').next().unwrap_or_default().to_owned();
        let mut map = BTreeMap::new();
        for attr in attrs.split("\" ") {
            if let Some((name, value)) = attr.trim().split_once("=\"") {
                map.insert(name.to_owned(), value.trim_end_matches('"').to_owned());
            }
        }
        found.push((map, text));
    }
    found
}

#[test]
fn dashboard_in_headless_chromium_shows_what_redis_holds() {
    let chromium = chromium();
    let run = finished_run("4000");
    let port = free_port();
    let _server = serve(&run.config, port);
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/?live=0");
    let dom = headless(&chromium, profile.path(), &["--dump-dom"], &url);
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page did not finish loading:\n{dom}"
    );
    assert!(dom.contains("class=\"uplot"), "no chart drawn:\n{dom}");

    // Every number on the page equals Redis.
    let values = shown_values(&dom);
    let mut conn = run.redis.conn();
    let mut seen = BTreeMap::<String, usize>::new();
    for (attrs, text) in &values {
        let key = format!(
            "weir:{}:{}:{}:{}",
            attrs["data-rule"], attrs["data-metric"], attrs["data-window"], attrs["data-start"]
        );
        let stored: String = conn.hget(&key, &attrs["data-group"]).unwrap();
        assert_eq!(text, &stored, "{key} {}", attrs["data-group"]);
        *seen
            .entry(format!(
                "{}:{}:{}",
                attrs["data-rule"], attrs["data-metric"], attrs["data-window"]
            ))
            .or_default() += 1;
    }
    // Per-minute PV/UV and the day so far, and the top client IPs.
    for shown in [
        "pvuv:pv:60",
        "pvuv:uv:60",
        "pvuv:pv:86400",
        "pvuv:uv:86400",
        "ip-count:requests:60",
    ] {
        assert!(seen.contains_key(shown), "{shown} not shown: {seen:?}");
    }
    assert_eq!(seen["ip-count:requests:60"], 10, "a top-10 table");
    // The rules table: records as `weir status` counts them.
    for rule in status_json(&run.config) {
        let name = rule["name"].as_str().unwrap();
        let cell = format!(
            "<td data-rule=\"{name}\" data-field=\"records_in\">{}</td>",
            rule["stats"]["records_in"]
        );
        assert!(dom.contains(&cell), "{cell} not in:\n{dom}");
    }

    // The screenshot shown in the README.
    let shot = repo_root().join("docs/dashboard.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &chromium,
        profile.path(),
        &[&format!("--screenshot={}", shot.display())],
        &url,
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot {} has {size} bytes",
        shot.display()
    );
}
