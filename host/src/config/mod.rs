//! The `weir` configuration file: reading, validating, and the runtime types.
//!
//! The file is TOML. Its format and the runtime types are kept apart: the file
//! is read field by field (see the private `reader` module) and validated into
//! [`Config`], whose types hold only what the pipeline needs (the source's
//! `kind` key and its kind-specific keys become one [`SourceKind`], say).
//!
//! Each section has its own file holding its types and its reader (`source`,
//! `plugins`, `redis`, `windows`, `checkpoint`, `limits`, `engine`, `rules`); this module
//! holds [`Config`], loading, the errors, and the checks several sections share.
//!
//! Unknown keys are rejected, and every problem in a file is reported at once,
//! each under its key path ([`ConfigError::Invalid`]):
//!
//! ```text
//! weir.toml: config has 2 problems:
//!   - source.follow: expected a boolean, found a string
//!   - redis.urll: unknown key (expected one of: url, default_ttl_secs, index_windows, username, password_env, password_file, tls_ca_file, tls_cert_file, tls_key_file, tls_insecure, wait_replicas, wait_timeout_ms)
//! ```
//!
//! Relative paths (`source.path`, `plugins.dir`) are kept as written; the
//! caller resolves them against the current directory, not the config file's.
//!
//! # Format
//!
//! Defaults are in parentheses. `[source]` (or `[sources.<name>]` tables),
//! `[plugins]` and `[redis]` are required; the other sections may be left
//! out.
//!
//! ```toml
//! [source]
//! kind = "file"                 # required: "file" | "stdin" | "kafka"
//! path = "access.log"           # required when kind = "file", rejected otherwise
//! follow = false                # (false) file only: keep reading like `tail -F`
//! max_record_bytes = 1048576    # (1 MiB) longer records are skipped and counted; >= 1
//! batch_records = 4096          # (4096) max records per batch handed to rules; 1..=1000000
//! poll_interval_ms = 200        # (200) file only: how often follow mode looks for new data; >= 1
//! # kind = "kafka" only:
//! brokers = "127.0.0.1:9092"    # required: bootstrap servers
//! topics = ["access"]           # required, non-empty
//! group = "weir"                # required: consumer group id
//! idle_partition_ms = 60000     # (60000) a partition quiet this long stops holding the watermark back; 0 = never
//! stop_at_end = false           # (false) read every partition to its end, close every window, exit; one topic only
//! [source.librdkafka]           # (empty) raw librdkafka properties; numbers and booleans become strings;
//!                               # a secret may be { env = "VAR" } or { file = "path" }
//! "fetch.min.bytes" = 1         # bootstrap.servers, metadata.broker.list, group.id refused; weir's own four
//!                               # (KafkaSourceConfig::weir_properties) replaced with a WARN;
//!                               # fetch.queue.backoff.ms defaults to 10 (weir_defaults)
//!
//! # Instead of [source]: several named sources, read side by side. Each table
//! # takes the keys of [source]; names are [a-z][a-z0-9_-]{0,63}; one stdin at most.
//! # [sources.web]
//! # kind = "file"
//! # path = "access.log"
//!
//! [plugins]
//! dir = "plugins"               # required: every *.wasm component here is a rule
//!
//! [redis]
//! url = "redis://127.0.0.1:6379/0"  # required: redis://, rediss:// (TLS) or unix://; may hold user:password@
//! default_ttl_secs = 0          # (0 = no expiry) TTL of output hashes
//! index_windows = 1440          # (1440) recent windows kept by each metric's index; >= 1
//! username = "weir"             # (the URL's) ACL user
//! password_env = "REDIS_PASSWORD"   # (the URL's) password from this environment variable...
//! password_file = "/run/secrets/redis"  # ...or from this file (one, not both)
//! tls_ca_file = "ca.pem"        # (system trust store) rediss:// only: CA of the server's certificate
//! tls_cert_file = "client.pem"  # (none) rediss:// only: client certificate, with tls_key_file
//! tls_key_file = "client.key"   # (none)
//! tls_insecure = false          # (false) accept any server certificate: tests only
//!
//! [windows]
//! allowed_lateness_secs = 10    # (10) how late (event time) a line may be for its window
//! day_offset_secs = -28800      # (0) day windows start at UTC midnight plus this; -86399..=86399
//!
//! [checkpoint]
//! interval_ms = 1000            # (1000) >= 10
//! namespace = "default"         # ("default") names the checkpoint keys; [A-Za-z0-9_-]{1,64}
//!
//! [limits]                      # what a rule may cost (see [`LimitsConfig`])
//! call_timeout_ms = 1000        # (1000) deadline of one call into a rule
//! memory_bytes = 268435456      # (256 MiB) largest linear memory of a rule
//! max_updates_per_batch = 1000000 # (1,000,000) more is treated like a trap
//! max_wasm_bytes = 67108864     # (64 MiB) largest .wasm file loaded
//! compile_timeout_ms = 30000    # (30 s) longest compilation of one .wasm
//! fuel_per_call = 1000000000    # (none) optional deterministic CPU budget per call
//! trap_threshold = 5            # (5) traps within trap_window_secs that quarantine a rule
//! trap_window_secs = 60         # (60)
//! quarantine_secs = 30          # (30) first quarantine; doubles, up to an hour
//!
//! [engine]
//! threads = 2                   # (the cores) threads calling the rules, each on its own run of a batch; 1..=256
//!
//! [http]
//! listen = "127.0.0.1:9464"     # ("127.0.0.1:9464") dashboard, API, /metrics; IP:port, "" = off
//!
//! [rules.pvuv]                  # one optional table per rule name, [a-z0-9_-]{1,64}
//! config = { sample = 10 }      # (empty) passed to the rule's init as JSON object text
//! ttl_secs = { pv = 86400 }     # (empty) per-metric TTL overrides, metric name -> seconds
//! topics = ["access"]           # (all topics) kafka only: which of source.topics the rule sees
//! sources = ["web"]             # (all sources) which sources the rule reads ("default" is [source])
//! day_offset_secs = -28800      # (windows.day_offset_secs) this rule's day alignment; -86399..=86399
//! ```

mod alerts;
mod checkpoint;
mod engine;
mod http;
mod librdkafka;
mod limits;
mod plugins;
mod reader;
mod redis;
mod rules;
pub mod secret;
mod source;
mod sources;
#[cfg(test)]
mod tests;
mod windows;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use alerts::AlertsConfig;
pub use checkpoint::CheckpointConfig;
pub use engine::EngineConfig;
pub use http::HttpConfig;
pub use limits::LimitsConfig;
pub use plugins::PluginsConfig;
use reader::{Problems, TableReader};
pub use redis::{RedisConfig, RedisTls};
pub use rules::RuleConfig;
pub use secret::Secret;
pub use source::{KafkaSourceConfig, Overridden, SourceConfig, SourceKind};
pub use sources::{DEFAULT_SOURCE, SourcesConfig};
use toml::Table;
pub use windows::WindowsConfig;

/// A validated `weir` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where records come from: `[source]`, or `[sources.<name>]` tables.
    pub sources: SourcesConfig,
    /// Where the rule components are (`[plugins]`).
    pub plugins: PluginsConfig,
    /// Where windows are written (`[redis]`).
    pub redis: RedisConfig,
    /// Event-time window settings (`[windows]`).
    pub windows: WindowsConfig,
    /// Checkpoint settings (`[checkpoint]`).
    pub checkpoint: CheckpointConfig,
    /// What a rule may cost (`[limits]`).
    pub limits: LimitsConfig,
    /// How many threads call the rules (`[engine]`).
    pub engine: EngineConfig,
    /// The read-only HTTP server (`[http]`).
    pub http: HttpConfig,
    /// Where alerts go besides Redis (`[alerts]`).
    pub alerts: AlertsConfig,
    /// Per-rule settings by rule name (`[rules.<name>]`); rules without a
    /// table here use [`RuleConfig::default`].
    pub rules: BTreeMap<String, RuleConfig>,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path of the offending key, such as `source.follow` or
    /// `rules.pvuv.topics[0]`; empty for a problem with the file as a whole
    /// (a TOML syntax error).
    pub key_path: String,
    /// What is wrong, such as `expected a boolean, found a string`.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key_path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key_path, self.message)
        }
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: io::Error,
    },
    /// The text is not valid TOML, or not a valid config. Displayed as one
    /// line per problem.
    #[error("{}", render_problems(path.as_deref(), problems))]
    Invalid {
        /// The file, when loaded from one.
        path: Option<PathBuf>,
        /// Every problem found, in the order found; never empty.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems of an [`ConfigError::Invalid`]; empty for a read error.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Read { .. } => &[],
            Self::Invalid { problems, .. } => problems,
        }
    }
}

/// `[path: ]config has N problem(s):` and one `  - problem` line each.
fn render_problems(path: Option<&Path>, problems: &[Problem]) -> String {
    let mut out = String::new();
    if let Some(path) = path {
        out.push_str(&format!("{}: ", path.display()));
    }
    let plural = if problems.len() == 1 { "" } else { "s" };
    out.push_str(&format!("config has {} problem{plural}:", problems.len()));
    for problem in problems {
        // Multi-line messages (TOML syntax errors) stay under their bullet.
        let text = problem.to_string().replace('\n', "\n    ");
        out.push_str(&format!("\n  - {text}"));
    }
    out
}

impl Config {
    /// Reads and validates the config file at `path`.
    ///
    /// Relative paths inside are kept as written, for the caller to resolve
    /// against the current directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config = Self::parse(&text).map_err(|error| match error {
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid {
                path: Some(path.to_owned()),
                problems,
            },
            read @ ConfigError::Read { .. } => read,
        })?;
        if config.has_inline_secret() {
            warn_if_readable_by_others(path);
        }
        Ok(config)
    }

    /// Whether a password or key is written in the file itself, rather
    /// than read from the environment or a file.
    pub fn has_inline_secret(&self) -> bool {
        let kafka = self.sources.iter().any(
            |(_, source)| matches!(&source.kind, SourceKind::Kafka(kafka) if kafka.inline_secret),
        );
        self.redis.has_inline_secret() || kafka
    }

    /// Validates config text; every problem is reported at once.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let table: Table = text
            .parse()
            .map_err(|error: toml::de::Error| ConfigError::Invalid {
                path: None,
                problems: vec![Problem {
                    key_path: String::new(),
                    message: error.to_string().trim_end().to_owned(),
                }],
            })?;
        let problems = Problems::default();
        let config = read_config(&table, &problems);
        let problems = problems.into_vec();
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => {
                debug_assert!(!problems.is_empty(), "config rejected without a problem");
                Err(ConfigError::Invalid {
                    path: None,
                    problems,
                })
            }
        }
    }
}

/// Warns when the config file at `path`, which holds a secret, can be read
/// by users other than its owner (its group or everyone).
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    let mode = metadata.permissions().mode();
    if mode & 0o044 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", mode & 0o777),
            "the config holds a password and other users can read it: `chmod 600` it, or move the secret to an environment variable or a file (password_env, password_file, {{ env = \"VAR\" }})"
        );
    }
}

/// Reads the whole document; `None` when a required part is missing or
/// invalid (the reason is in `problems`).
fn read_config(table: &Table, problems: &Problems) -> Option<Config> {
    let mut root = TableReader::root(table, problems);
    let sources = sources::read_sources(&mut root);
    let plugins = root
        .required_table("plugins")
        .and_then(plugins::read_plugins);
    let redis = root.required_table("redis").and_then(redis::read_redis);
    let windows = root
        .table("windows")
        .map(windows::read_windows)
        .unwrap_or_default();
    let checkpoint = root
        .table("checkpoint")
        .map(checkpoint::read_checkpoint)
        .unwrap_or_default();
    let limits = root
        .table("limits")
        .map(limits::read_limits)
        .unwrap_or_default();
    let engine = root
        .table("engine")
        .map(engine::read_engine)
        .unwrap_or_default();
    let http = root.table("http").map(http::read_http).unwrap_or_default();
    let alerts = root
        .table("alerts")
        .map(alerts::read_alerts)
        .unwrap_or_default();
    let rules = match root.table("rules") {
        Some(rules) => rules::read_rules(rules, sources.as_ref()),
        None => BTreeMap::new(),
    };
    drop(root);
    Some(Config {
        sources: sources?.config()?,
        plugins: plugins?,
        redis: redis?,
        windows,
        checkpoint,
        limits,
        engine,
        http,
        alerts,
        rules,
    })
}

/// Whether `name` is 1 to 64 characters, each allowed by `allowed`.
fn is_name(name: &str, allowed: impl Fn(char) -> bool) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(allowed)
}

/// Checks a topic list: non-empty, no empty names, no duplicates.
fn check_topics(t: &TableReader<'_>, key: &str, topics: Vec<String>) -> Option<Vec<String>> {
    if topics.is_empty() {
        t.problem(key, "must list at least one topic");
        return None;
    }
    let mut ok = true;
    for (index, topic) in topics.iter().enumerate() {
        let path = format!("{}[{index}]", t.path_of(key));
        if topic.is_empty() {
            t.problems().push(path, "must not be empty");
            ok = false;
        } else if topics[..index].contains(topic) {
            t.problems()
                .push(path, format!("duplicate topic {topic:?}"));
            ok = false;
        }
    }
    ok.then_some(topics)
}

/// Reports an empty string value of `key`.
fn non_empty(t: &TableReader<'_>, key: &str, value: Option<String>) -> Option<String> {
    let value = value?;
    if value.is_empty() {
        t.problem(key, "must not be empty");
        return None;
    }
    Some(value)
}

/// Reports a value of `key` below `min`.
fn at_least<T: PartialOrd + fmt::Display>(
    t: &TableReader<'_>,
    key: &str,
    value: Option<T>,
    min: T,
) -> Option<T> {
    let value = value?;
    if value < min {
        t.problem(key, format!("must be at least {min} (found {value})"));
        return None;
    }
    Some(value)
}

/// Reports a value of `key` outside `min..=max`.
fn within<T: PartialOrd + fmt::Display>(
    t: &TableReader<'_>,
    key: &str,
    value: Option<T>,
    min: T,
    max: T,
) -> Option<T> {
    let value = value?;
    if value < min || value > max {
        t.problem(key, format!("must be in {min}..={max} (found {value})"));
        return None;
    }
    Some(value)
}
