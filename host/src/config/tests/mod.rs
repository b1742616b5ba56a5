//! Tests of config reading and validation: whole documents here, one
//! section's details in its own file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

mod http;
mod redis;
mod rules;
mod source;
mod sources;
mod windows;

/// The documented example, minus the kafka keys.
const EXAMPLE: &str = r#"
[source]
kind = "file"
path = "examples/data/access.log"
follow = false
max_record_bytes = 1048576
batch_records = 4096
poll_interval_ms = 200

[plugins]
dir = "plugins-dir"

[redis]
url = "redis://127.0.0.1:6379/0"
default_ttl_secs = 0
index_windows = 1440

[windows]
allowed_lateness_secs = 10
day_offset_secs = 0

[checkpoint]
interval_ms = 1000
namespace = "default"

[rules.pvuv]
config = { sample = 10 }
ttl_secs = { pv = 86400 }
"#;

/// The smallest valid config: only the required keys.
const MINIMAL: &str = r#"
[source]
kind = "stdin"
[plugins]
dir = "plugins"
[redis]
url = "redis://localhost"
"#;

/// Parses `text`, expecting it to be rejected; returns its problems as
/// `key_path: message` lines.
fn problems_of(text: &str) -> Vec<String> {
    match Config::parse(text) {
        Ok(config) => panic!("expected problems, got {config:#?}"),
        Err(error) => error.problems().iter().map(ToString::to_string).collect(),
    }
}

/// Asserts that `problems` contains exactly `expected`, in any order.
#[track_caller]
fn assert_problems(mut problems: Vec<String>, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    problems.sort();
    expected.sort();
    assert_eq!(problems, expected);
}

/// The `[source]` section of a config that has one.
fn the_source(config: &Config) -> SourceConfig {
    config
        .sources
        .single()
        .expect("the config has a [source] section")
        .clone()
}

/// `MINIMAL` with `extra` appended.
fn minimal_with(extra: &str) -> String {
    format!("{MINIMAL}\n{extra}")
}

#[test]
fn example_parses() {
    let config = Config::parse(EXAMPLE).expect("example is valid");
    let expected = Config {
        sources: SourcesConfig::Single(SourceConfig {
            kind: SourceKind::File {
                path: PathBuf::from("examples/data/access.log"),
                follow: false,
                poll_interval_ms: 200,
            },
            max_record_bytes: 1 << 20,
            batch_records: 4096,
        }),
        plugins: PluginsConfig {
            dir: PathBuf::from("plugins-dir"),
        },
        redis: RedisConfig {
            url: "redis://127.0.0.1:6379/0".to_owned(),
            cluster: false,
            seeds: Vec::new(),
            default_ttl_secs: 0,
            index_windows: 1440,
            username: None,
            password: None,
            tls: RedisTls::default(),
            wait_replicas: 0,
            wait_timeout_ms: 1000,
        },
        windows: WindowsConfig {
            allowed_lateness_secs: 10,
            day_offset_secs: 0,
        },
        checkpoint: CheckpointConfig {
            interval_ms: 1000,
            namespace: "default".to_owned(),
        },
        limits: LimitsConfig::default(),
        engine: EngineConfig::default(),
        http: HttpConfig::default(),
        alerts: crate::config::AlertsConfig::default(),
        rules: BTreeMap::from([(
            "pvuv".to_owned(),
            RuleConfig {
                config_json: r#"{"sample":10}"#.to_owned(),
                ttl_secs: BTreeMap::from([("pv".to_owned(), 86_400)]),
                topics: None,
                sources: None,
                day_offset_secs: None,
            },
        )]),
    };
    assert_eq!(config, expected);
}

#[test]
fn defaults_fill_optional_keys_and_sections() {
    let config = Config::parse(MINIMAL).expect("minimal config is valid");
    assert_eq!(the_source(&config), SourceConfig::default());
    assert_eq!(config.plugins.dir, Path::new("plugins"));
    assert_eq!(config.redis.url, "redis://localhost");
    assert_eq!(config.redis.default_ttl_secs, 0);
    assert_eq!(config.redis.index_windows, 1440);
    assert_eq!(config.windows, WindowsConfig::default());
    assert_eq!(config.checkpoint, CheckpointConfig::default());
    assert_eq!(config.checkpoint.interval_ms, 1000);
    assert_eq!(config.checkpoint.namespace, "default");
    assert!(config.rules.is_empty());

    let file = Config::parse(&MINIMAL.replace(r#""stdin""#, "\"file\"\npath = \"a.log\""))
        .expect("file source with defaults is valid");
    assert_eq!(
        the_source(&file).kind,
        SourceKind::File {
            path: PathBuf::from("a.log"),
            follow: false,
            poll_interval_ms: 200,
        }
    );
    assert_eq!(the_source(&file).max_record_bytes, 1024 * 1024);
    assert_eq!(the_source(&file).batch_records, 4096);
}

/// Every default the README and the module doc state, as literals: a
/// changed constant fails here, so the documentation is changed with it.
#[test]
fn documented_defaults_are_pinned() {
    let config = Config::parse(MINIMAL).expect("minimal config is valid");
    assert_eq!(the_source(&config).max_record_bytes, 1_048_576);
    assert_eq!(the_source(&config).batch_records, 4096);
    assert_eq!(config.redis.default_ttl_secs, 0);
    assert_eq!(config.redis.index_windows, 1440);
    assert_eq!(config.windows.allowed_lateness_secs, 10);
    assert_eq!(config.windows.day_offset_secs, 0);
    assert_eq!(config.checkpoint.interval_ms, 1000);
    assert_eq!(config.checkpoint.namespace, "default");
    let limits = &config.limits;
    assert_eq!(limits.call_timeout_ms, 1000);
    assert_eq!(limits.memory_bytes, 268_435_456);
    assert_eq!(limits.max_updates_per_batch, 1_000_000);
    assert_eq!(limits.max_wasm_bytes, 67_108_864);
    assert_eq!(limits.compile_timeout_ms, 30_000);
    assert_eq!(limits.fuel_per_call, None);
    assert_eq!(limits.trap_threshold, 5);
    assert_eq!(limits.trap_window_secs, 60);
    assert_eq!(limits.quarantine_secs, 30);

    let kafka = MINIMAL.replace(
        r#""stdin""#,
        "\"kafka\"\nbrokers = \"b:9092\"\ntopics = [\"t\"]\ngroup = \"g\"",
    );
    let kafka = Config::parse(&kafka).expect("kafka source with defaults is valid");
    let SourceKind::Kafka(kafka) = the_source(&kafka).kind else {
        panic!("expected a kafka source, got {:?}", the_source(&kafka).kind);
    };
    assert_eq!(kafka.idle_partition_ms, 60_000);
    assert!(!kafka.stop_at_end);
    assert!(kafka.librdkafka.is_empty());
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
[source]
kind = "stdin"
path = "access.log"
follow = "yes"
batch_records = 0
colour = "blue"

[plugins]

[redis]
urll = "redis://localhost"

[windows]
day_offset_secs = 90000

[checkpoint]
interval_ms = "often"
"#;
    assert_problems(
        problems_of(text),
        &[
            r#"source.path: not allowed when source.kind = "stdin" (only with "file")"#,
            r#"source.follow: not allowed when source.kind = "stdin" (only with "file")"#,
            "source.batch_records: must be in 1..=1000000 (found 0)",
            "source.colour: unknown key (expected one of: kind, path, follow, \
             max_record_bytes, batch_records, poll_interval_ms, brokers, topics, group, idle_partition_ms, \
             stop_at_end, librdkafka)",
            "plugins.dir: missing required key",
            "redis.url: missing required key",
            "redis.urll: unknown key (expected one of: url, cluster, urls, default_ttl_secs, index_windows, username, password_env, password_file, tls_ca_file, tls_cert_file, tls_key_file, tls_insecure, wait_replicas, wait_timeout_ms)",
            "windows.day_offset_secs: must be in -86399..=86399 (found 90000)",
            "checkpoint.interval_ms: expected a non-negative integer, found a string",
        ],
    );

    let text = r#"
[source]
kind = "sttdin"
follow = "yes"
max_record_bytes = -1

[plugins]
dir = 5
"#;
    assert_problems(
        problems_of(text),
        &[
            r#"source.kind: expected one of "file", "stdin", "kafka", found "sttdin""#,
            "source.follow: expected a boolean, found a string",
            "source.max_record_bytes: expected a non-negative integer, found -1",
            "plugins.dir: expected a string, found an integer",
            "redis: missing required table",
        ],
    );
}

#[test]
fn invalid_display_lists_every_problem() {
    let error = Config::parse(
        "extra = 1\n[source]\nkind = 1\n[plugins]\ndir = \"p\"\n[redis]\nurl = \"redis://x\"\n",
    )
    .expect_err("two problems");
    assert_eq!(
        error.to_string(),
        "config has 2 problems:\n  \
         - source.kind: expected a string, found an integer\n  \
         - extra: unknown key (expected one of: source, sources, plugins, redis, windows, checkpoint, limits, engine, http, alerts, rules)"
    );
    let error = Config::parse("").expect_err("empty file");
    assert_eq!(
        error.to_string(),
        "config has 3 problems:\n  \
         - source: missing required table\n  \
         - plugins: missing required table\n  \
         - redis: missing required table"
    );
}

#[test]
fn toml_syntax_error_has_line_and_column() {
    let error = Config::parse("[source]\nfollow = yes\n").expect_err("syntax error");
    let problems = error.problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].key_path, "");
    assert!(
        problems[0]
            .message
            .starts_with("TOML parse error at line 2, column 10"),
        "{}",
        problems[0].message
    );
    let shown = error.to_string();
    assert!(
        shown.starts_with("config has 1 problem:\n  - TOML parse error at line 2, column 10\n")
    );
    assert!(shown.contains("    2 | follow = yes"), "{shown}");

    let duplicate = Config::parse("[redis]\nurl = \"redis://a\"\nurl = \"redis://b\"\n")
        .expect_err("duplicate key");
    assert!(
        duplicate.to_string().contains("line 3, column 1"),
        "{duplicate}"
    );
}

#[test]
fn wrong_types_are_described_in_config_terms() {
    let text = minimal_with(
        r#"
[windows]
allowed_lateness_secs = 1.5
day_offset_secs = "8h"
[checkpoint]
namespace = ["a"]
[rules.x]
config = "{}"
ttl_secs = { pv = -1, uv = "1d", ok = 5 }
"#,
    );
    assert_problems(
        problems_of(&text),
        &[
            "windows.allowed_lateness_secs: expected a non-negative integer, found a float",
            "windows.day_offset_secs: expected an integer, found a string",
            "checkpoint.namespace: expected a string, found an array",
            "rules.x.config: expected a table, found a string",
            "rules.x.ttl_secs.pv: expected a non-negative integer, found -1",
            "rules.x.ttl_secs.uv: expected a non-negative integer, found a string",
        ],
    );
    assert_problems(
        problems_of("source = 1\nplugins = []\n[redis]\nurl = \"redis://x\""),
        &[
            "source: expected a table, found an integer",
            "plugins: expected a table, found an array",
        ],
    );
}

#[test]
fn value_checks() {
    let text = r#"
[source]
kind = "file"
path = ""
poll_interval_ms = 0
max_record_bytes = 0
[plugins]
dir = ""
[redis]
url = "http://localhost"
index_windows = 0
[checkpoint]
interval_ms = 9
namespace = "a b"
[rules."Bad Name"]
[rules.ok]
colour = 1
"#;
    assert_problems(
        problems_of(text),
        &[
            "source.path: must not be empty",
            "source.poll_interval_ms: must be at least 1 (found 0)",
            "source.max_record_bytes: must be at least 1 (found 0)",
            "plugins.dir: must not be empty",
            r#"redis.url: must start with redis://, rediss:// or unix:// (found "http://localhost")"#,
            "redis.index_windows: must be at least 1 (found 0)",
            "checkpoint.interval_ms: must be at least 10 (found 9)",
            r#"checkpoint.namespace: must be 1 to 64 characters of A-Z, a-z, 0-9, _ and - (found "a b")"#,
            r#"rules."Bad Name": invalid rule name (expected 1 to 64 characters of a-z, 0-9, _ and -)"#,
            "rules.ok.colour: unknown key (expected one of: config, ttl_secs, sources, topics, day_offset_secs)",
        ],
    );
    assert_problems(
        problems_of(&MINIMAL.replace("stdin", "file")),
        &["source.path: missing required key"],
    );
    let limits = minimal_with(&format!(
        "[windows]\nday_offset_secs = {}\n[checkpoint]\nnamespace = \"{}\"",
        -86_399,
        "N".repeat(64)
    ));
    let config = Config::parse(&limits).expect("limits are inclusive");
    assert_eq!(config.windows.day_offset_secs, -86_399);
    assert_problems(
        problems_of(&minimal_with("[windows]\nday_offset_secs = -86400")),
        &["windows.day_offset_secs: must be in -86399..=86399 (found -86400)"],
    );
}

#[test]
fn engine_threads_default_to_the_cores_and_are_checked() {
    let config = Config::parse(MINIMAL).expect("minimal is valid");
    assert_eq!(config.engine.threads, EngineConfig::default_threads());
    assert!(config.engine.threads >= 1);
    let config = Config::parse(&minimal_with("[engine]\nthreads = 3")).expect("valid");
    assert_eq!(config.engine.threads, 3);
    assert_problems(
        problems_of(&minimal_with("[engine]\nthreads = 0\nthreadz = 1")),
        &[
            "engine.threads: must be in 1..=256 (found 0)",
            "engine.threadz: unknown key (expected one of: threads)",
        ],
    );
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir().join(format!("weir-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");

    let good = dir.join("good.toml");
    std::fs::write(&good, EXAMPLE).expect("write config");
    let config = Config::load(&good).expect("example loads");
    assert_eq!(config.plugins.dir, Path::new("plugins-dir"));

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, minimal_with("[windows]\nday_offset_secs = true")).expect("write config");
    let error = Config::load(&bad).expect_err("bad config");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: config has 1 problem:\n  - windows.day_offset_secs: expected an integer, found a boolean",
            bad.display()
        )
    );

    let missing = dir.join("missing.toml");
    let error = Config::load(&missing).expect_err("missing file");
    assert!(matches!(&error, ConfigError::Read { path, .. } if *path == missing));
    assert_eq!(
        error.to_string(),
        format!("cannot read config file {}", missing.display())
    );
    assert!(std::error::Error::source(&error).is_some());
    assert!(error.problems().is_empty());

    std::fs::remove_dir_all(&dir).expect("remove temp dir");
}

#[test]
fn alerts_section_is_checked() {
    let config = Config::parse(&minimal_with(
        "[alerts]\nwebhook_url = \"http://127.0.0.1:8080/hook\"\ntimeout_ms = 2000\n",
    ))
    .unwrap();
    assert_eq!(
        config.alerts.webhook_url.as_deref(),
        Some("http://127.0.0.1:8080/hook")
    );
    assert_eq!(config.alerts.timeout_ms, 2000);
    let error = Config::parse(&minimal_with(
        "[alerts]\nwebhook_url = \"ftp://x\"\nmax_backoff_ms = 5\n",
    ))
    .unwrap_err();
    let paths: Vec<&str> = error
        .problems()
        .iter()
        .map(|p| p.key_path.as_str())
        .collect();
    assert_eq!(
        paths,
        ["alerts.webhook_url", "alerts.max_backoff_ms"],
        "{error}"
    );
}
