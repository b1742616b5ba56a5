//! The `weir` configuration file: reading, validating, and the runtime types.
//!
//! The file is TOML. Its format and the runtime types are kept apart: the file
//! is read field by field (see the private `reader` module) and validated into
//! [`Config`], whose types hold only what the pipeline needs (the source's
//! `kind` key and its kind-specific keys become one [`SourceKind`], say).
//!
//! Unknown keys are rejected, and every problem in a file is reported at once,
//! each under its key path ([`ConfigError::Invalid`]):
//!
//! ```text
//! weir.toml: config has 2 problems:
//!   - source.follow: expected a boolean, found a string
//!   - redis.urll: unknown key (expected one of: url, default_ttl_secs, index_windows)
//! ```
//!
//! Relative paths (`source.path`, `plugins.dir`) are kept as written; the
//! caller resolves them against the current directory, not the config file's.
//!
//! # Format
//!
//! Defaults are in parentheses. `[source]`, `[plugins]` and `[redis]` are
//! required; the other sections may be left out.
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
//! [source.librdkafka]           # (empty) raw librdkafka properties; numbers and booleans become strings
//! "fetch.min.bytes" = 1
//!
//! [plugins]
//! dir = "plugins"               # required: every *.wasm component here is a rule
//!
//! [redis]
//! url = "redis://127.0.0.1:6379/0"  # required: redis://, rediss:// or unix://
//! default_ttl_secs = 0          # (0 = no expiry) TTL of output hashes
//! index_windows = 1440          # (1440) recent windows kept by each metric's index; >= 1
//!
//! [windows]
//! allowed_lateness_secs = 10    # (0)
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
//! [rules.pvuv]                  # one optional table per rule name, [a-z0-9_-]{1,64}
//! config = { sample = 10 }      # (empty) passed to the rule's init as JSON object text
//! ttl_secs = { pv = 86400 }     # (empty) per-metric TTL overrides, metric name -> seconds
//! topics = ["access"]           # (all topics) kafka only: which of source.topics the rule sees
//! ```

mod limits;
mod reader;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use limits::LimitsConfig;
use reader::{Problems, TableReader, join_key, mismatch};
use toml::{Table, Value};

/// A validated `weir` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where records come from (`[source]`).
    pub source: SourceConfig,
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
    /// Per-rule settings by rule name (`[rules.<name>]`); rules without a
    /// table here use [`RuleConfig::default`].
    pub rules: BTreeMap<String, RuleConfig>,
}

/// The `[source]` section: where records come from and how they are batched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// The kind of source and its kind-specific settings (`kind` and the keys
    /// that go with it).
    pub kind: SourceKind,
    /// Records longer than this many bytes are skipped and counted
    /// (`max_record_bytes`); at least 1.
    pub max_record_bytes: usize,
    /// The most records in one batch handed to the rules (`batch_records`);
    /// `1..=`[`SourceConfig::MAX_BATCH_RECORDS`].
    pub batch_records: usize,
}

impl SourceConfig {
    /// Default of `max_record_bytes`: 1 MiB.
    pub const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;
    /// Default of `batch_records`.
    pub const DEFAULT_BATCH_RECORDS: usize = 4096;
    /// Largest allowed `batch_records`.
    pub const MAX_BATCH_RECORDS: usize = 1_000_000;
    /// Default of `poll_interval_ms` for file sources.
    pub const DEFAULT_POLL_INTERVAL_MS: u64 = 200;
}

impl Default for SourceConfig {
    /// Standard input with the default limits.
    fn default() -> Self {
        Self {
            kind: SourceKind::Stdin,
            max_record_bytes: Self::DEFAULT_MAX_RECORD_BYTES,
            batch_records: Self::DEFAULT_BATCH_RECORDS,
        }
    }
}

/// The kind of source (`source.kind`) with its kind-specific settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// `kind = "file"`: one log file.
    File {
        /// The file (`path`), relative paths kept as written (resolved
        /// against the current directory by the caller).
        path: PathBuf,
        /// Keep reading as the file grows and follow rotation, like
        /// `tail -F` (`follow`); otherwise stop at the end of the file.
        follow: bool,
        /// In follow mode, how often to look for new data or rotation, in
        /// milliseconds (`poll_interval_ms`); at least 1.
        poll_interval_ms: u64,
    },
    /// `kind = "stdin"`: standard input, until it closes.
    Stdin,
    /// `kind = "kafka"`: one or more Kafka topics.
    Kafka(KafkaSourceConfig),
}

/// Settings of a Kafka source (`kind = "kafka"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSourceConfig {
    /// Bootstrap servers, comma-separated `host:port` (`brokers`).
    pub brokers: String,
    /// Topics to consume (`topics`); non-empty, no duplicates.
    pub topics: Vec<String>,
    /// Consumer group id (`group`).
    pub group: String,
    /// A partition without records for this many milliseconds stops holding
    /// the watermark back (`idle_partition_ms`; 0 = never).
    pub idle_partition_ms: u64,
    /// A bounded run (`stop_at_end`): once every partition owned has been
    /// read to its end, close every window, checkpoint and exit, as a file
    /// source does at its end (a backfill, a replay of a finished topic).
    /// Needs a single topic: librdkafka names only the partition number
    /// when it reports an end. Meant for one instance: with several, each
    /// stops when its own partitions are done.
    pub stop_at_end: bool,
    /// Raw librdkafka client properties (`[source.librdkafka]`); numbers and
    /// booleans in the file are turned into strings.
    pub librdkafka: BTreeMap<String, String>,
}

impl KafkaSourceConfig {
    /// Default of `idle_partition_ms`: one minute.
    pub const DEFAULT_IDLE_PARTITION_MS: u64 = 60_000;
}

/// The `[plugins]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginsConfig {
    /// Directory whose `*.wasm` components are the rules (`dir`); a relative
    /// path is kept as written (resolved against the current directory by
    /// the caller).
    pub dir: PathBuf,
}

/// The `[redis]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Connection URL (`url`): `redis://`, `rediss://` or `unix://`.
    pub url: String,
    /// TTL of output hashes in seconds, 0 for no expiry (`default_ttl_secs`).
    pub default_ttl_secs: u64,
    /// How many recent windows each metric's index keeps (`index_windows`);
    /// at least 1.
    pub index_windows: usize,
}

impl RedisConfig {
    /// Default of `index_windows`: one day of minute windows.
    pub const DEFAULT_INDEX_WINDOWS: usize = 1440;
}

impl Default for RedisConfig {
    /// A local Redis, database 0, no expiry.
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379/0".to_owned(),
            default_ttl_secs: 0,
            index_windows: Self::DEFAULT_INDEX_WINDOWS,
        }
    }
}

/// The `[windows]` section: event-time window settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowsConfig {
    /// How long after a window's end, in event-time seconds, records for it
    /// are still accepted (`allowed_lateness_secs`).
    pub allowed_lateness_secs: u64,
    /// Where day windows start, as seconds from UTC midnight
    /// (`day_offset_secs`); within ±[`WindowsConfig::MAX_DAY_OFFSET_SECS`].
    /// For example -28800 puts day boundaries at local midnight in UTC+8.
    pub day_offset_secs: i64,
}

impl WindowsConfig {
    /// Largest magnitude of `day_offset_secs`.
    pub const MAX_DAY_OFFSET_SECS: i64 = 86_399;

    /// `allowed_lateness_secs` in milliseconds, saturating at `i64::MAX`.
    pub fn allowed_lateness_ms(&self) -> i64 {
        i64::try_from(self.allowed_lateness_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// `day_offset_secs` in milliseconds.
    pub fn day_offset_ms(&self) -> i64 {
        self.day_offset_secs.saturating_mul(1000)
    }
}

/// The `[checkpoint]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// How often to checkpoint, in milliseconds (`interval_ms`); at least
    /// [`CheckpointConfig::MIN_INTERVAL_MS`].
    pub interval_ms: u64,
    /// Names this pipeline's checkpoint keys in Redis (`namespace`);
    /// 1 to 64 characters of `A-Z a-z 0-9 _ -`.
    pub namespace: String,
}

impl CheckpointConfig {
    /// Default of `interval_ms`.
    pub const DEFAULT_INTERVAL_MS: u64 = 1000;
    /// Smallest allowed `interval_ms`.
    pub const MIN_INTERVAL_MS: u64 = 10;
    /// Default of `namespace`.
    pub const DEFAULT_NAMESPACE: &str = "default";
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            interval_ms: Self::DEFAULT_INTERVAL_MS,
            namespace: Self::DEFAULT_NAMESPACE.to_owned(),
        }
    }
}

/// One `[rules.<name>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleConfig {
    /// The `config` table as JSON object text, passed to the rule's init;
    /// `"{}"` when absent. TOML datetimes become JSON strings.
    pub config_json: String,
    /// Per-metric TTL overrides in seconds, by metric name (`ttl_secs`).
    pub ttl_secs: BTreeMap<String, u64>,
    /// The Kafka topics this rule sees (`topics`), each one of
    /// `source.topics`; `None` for all of them.
    pub topics: Option<Vec<String>>,
}

impl Default for RuleConfig {
    /// Empty config, no TTL overrides, all topics.
    fn default() -> Self {
        Self {
            config_json: "{}".to_owned(),
            ttl_secs: BTreeMap::new(),
            topics: None,
        }
    }
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
        Self::parse(&text).map_err(|error| match error {
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid {
                path: Some(path.to_owned()),
                problems,
            },
            read @ ConfigError::Read { .. } => read,
        })
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

/// Reads the whole document; `None` when a required part is missing or
/// invalid (the reason is in `problems`).
fn read_config(table: &Table, problems: &Problems) -> Option<Config> {
    let mut root = TableReader::root(table, problems);
    let source = root.required_table("source").map(read_source);
    let plugins = root.required_table("plugins").and_then(read_plugins);
    let redis = root.required_table("redis").and_then(read_redis);
    let windows = root.table("windows").map(read_windows).unwrap_or_default();
    let checkpoint = root
        .table("checkpoint")
        .map(read_checkpoint)
        .unwrap_or_default();
    let limits = root
        .table("limits")
        .map(limits::read_limits)
        .unwrap_or_default();
    let rules = match root.table("rules") {
        Some(rules) => read_rules(rules, source.as_ref()),
        None => BTreeMap::new(),
    };
    drop(root);
    Some(Config {
        source: source?.config?,
        plugins: plugins?,
        redis: redis?,
        windows,
        checkpoint,
        limits,
        rules,
    })
}

/// `source.kind` as named in the file, before its settings are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KindName {
    /// `"file"`
    File,
    /// `"stdin"`
    Stdin,
    /// `"kafka"`
    Kafka,
}

impl KindName {
    /// The name as written in the file.
    fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Stdin => "stdin",
            Self::Kafka => "kafka",
        }
    }
}

/// What reading `[source]` found: the config if valid, and as much as the
/// `[rules]` checks need even when it is not.
struct SourceRead {
    /// The validated section.
    config: Option<SourceConfig>,
    /// `source.kind`, if valid.
    kind: Option<KindName>,
    /// `source.topics`, if valid.
    kafka_topics: Option<Vec<String>>,
}

/// Which source kinds a key belongs to.
#[derive(Clone, Copy)]
enum Need {
    /// Required for this kind.
    Required,
    /// Allowed for this kind.
    Optional,
    /// Not allowed: the source is of kind `.0`, and only kind `.1` takes
    /// the key.
    Forbidden(KindName, &'static str),
}

impl Need {
    /// How a key that only `owner` takes (required there if `required`)
    /// applies to a source of kind `kind` (unknown when `None`).
    fn of(kind: Option<KindName>, owner: KindName, required: bool) -> Need {
        match kind {
            Some(kind) if kind != owner => Need::Forbidden(kind, owner.as_str()),
            Some(_) if required => Need::Required,
            _ => Need::Optional,
        }
    }
}

/// Reads a kind-specific scalar key according to `need`.
fn kind_field<'a, T: serde::de::DeserializeOwned>(
    t: &mut TableReader<'a>,
    key: &'a str,
    need: Need,
) -> Option<T> {
    match need {
        Need::Required => t.required(key),
        Need::Optional => t.optional(key),
        Need::Forbidden(kind, owner) => {
            t.forbidden(key, not_for_kind(kind, owner));
            None
        }
    }
}

/// `not allowed when source.kind = "stdin" (only with "file")`.
fn not_for_kind(kind: KindName, owner: &str) -> String {
    format!(
        "not allowed when source.kind = {:?} (only with {owner:?})",
        kind.as_str()
    )
}

/// Reads `[source]`.
fn read_source(mut t: TableReader<'_>) -> SourceRead {
    let kind = t
        .required::<String>("kind")
        .and_then(|name| match name.as_str() {
            "file" => Some(KindName::File),
            "stdin" => Some(KindName::Stdin),
            "kafka" => Some(KindName::Kafka),
            _ => {
                t.problem(
                    "kind",
                    format!(r#"expected one of "file", "stdin", "kafka", found {name:?}"#),
                );
                None
            }
        });

    let file = |required| Need::of(kind, KindName::File, required);
    let path: Option<PathBuf> = kind_field(&mut t, "path", file(true));
    let path = path.filter(|path| {
        let ok = !path.as_os_str().is_empty();
        if !ok {
            t.problem("path", "must not be empty");
        }
        ok
    });
    let follow: Option<bool> = kind_field(&mut t, "follow", file(false));
    let max_record_bytes = t.optional::<usize>("max_record_bytes");
    let max_record_bytes = at_least(&t, "max_record_bytes", max_record_bytes, 1)
        .unwrap_or(SourceConfig::DEFAULT_MAX_RECORD_BYTES);
    let batch_records = t.optional::<usize>("batch_records");
    let batch_records = within(
        &t,
        "batch_records",
        batch_records,
        1,
        SourceConfig::MAX_BATCH_RECORDS,
    )
    .unwrap_or(SourceConfig::DEFAULT_BATCH_RECORDS);
    let poll_interval_ms: Option<u64> = kind_field(&mut t, "poll_interval_ms", file(false));
    let poll_interval_ms = at_least(&t, "poll_interval_ms", poll_interval_ms, 1)
        .unwrap_or(SourceConfig::DEFAULT_POLL_INTERVAL_MS);

    let kafka = |required| Need::of(kind, KindName::Kafka, required);
    let brokers: Option<String> = kind_field(&mut t, "brokers", kafka(true));
    let brokers = non_empty(&t, "brokers", brokers);
    let topics = match kafka(true) {
        Need::Forbidden(kind, owner) => {
            t.forbidden("topics", not_for_kind(kind, owner));
            None
        }
        Need::Required => t.required_list::<String>("topics"),
        Need::Optional => t.optional_list::<String>("topics"),
    };
    let topics = topics.and_then(|topics| check_topics(&t, "topics", topics));
    let group: Option<String> = kind_field(&mut t, "group", kafka(true));
    let group = non_empty(&t, "group", group);
    let idle_partition_ms: Option<u64> = kind_field(&mut t, "idle_partition_ms", kafka(false));
    let stop_at_end: Option<bool> = kind_field(&mut t, "stop_at_end", kafka(false));
    if stop_at_end == Some(true)
        && let Some(topics) = &topics
        && topics.len() > 1
    {
        t.problem(
            "stop_at_end",
            format!(
                "needs exactly one topic (librdkafka reports the end of a partition by number only), found {}",
                topics.len()
            ),
        );
    }
    let librdkafka = match kafka(false) {
        Need::Forbidden(kind, owner) => {
            t.forbidden("librdkafka", not_for_kind(kind, owner));
            BTreeMap::new()
        }
        _ => t
            .table("librdkafka")
            .map(read_librdkafka)
            .unwrap_or_default(),
    };

    let source_kind = match kind {
        Some(KindName::File) => path.map(|path| SourceKind::File {
            path,
            follow: follow.unwrap_or(false),
            poll_interval_ms,
        }),
        Some(KindName::Stdin) => Some(SourceKind::Stdin),
        Some(KindName::Kafka) => match (brokers, topics.clone(), group) {
            (Some(brokers), Some(topics), Some(group)) => {
                Some(SourceKind::Kafka(KafkaSourceConfig {
                    brokers,
                    topics,
                    group,
                    idle_partition_ms: idle_partition_ms
                        .unwrap_or(KafkaSourceConfig::DEFAULT_IDLE_PARTITION_MS),
                    stop_at_end: stop_at_end.unwrap_or(false),
                    librdkafka,
                }))
            }
            _ => None,
        },
        None => None,
    };
    SourceRead {
        config: source_kind.map(|kind| SourceConfig {
            kind,
            max_record_bytes,
            batch_records,
        }),
        kind,
        kafka_topics: topics,
    }
}

/// librdkafka properties that `weir` sets from other keys.
const LIBRDKAFKA_RESERVED: [(&str, &str); 3] = [
    ("bootstrap.servers", "brokers"),
    ("metadata.broker.list", "brokers"),
    ("group.id", "group"),
];

/// Reads `[source.librdkafka]`: string values, numbers and booleans as text.
fn read_librdkafka(mut t: TableReader<'_>) -> BTreeMap<String, String> {
    let mut properties = BTreeMap::new();
    for key in t.keys() {
        let Some(value) = t.raw(key) else { continue };
        if let Some((_, instead)) = LIBRDKAFKA_RESERVED.iter().find(|(name, _)| *name == key) {
            t.problem(key, format!("set source.{instead} instead"));
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Boolean(b) => b.to_string(),
            other => {
                t.problem(key, mismatch("a string, number or boolean", other));
                continue;
            }
        };
        properties.insert(key.to_owned(), text);
    }
    properties
}

/// Reads `[plugins]`.
fn read_plugins(mut t: TableReader<'_>) -> Option<PluginsConfig> {
    let dir: Option<PathBuf> = t.required("dir");
    let dir = dir.filter(|dir| {
        let ok = !dir.as_os_str().is_empty();
        if !ok {
            t.problem("dir", "must not be empty");
        }
        ok
    });
    Some(PluginsConfig { dir: dir? })
}

/// Reads `[redis]`.
fn read_redis(mut t: TableReader<'_>) -> Option<RedisConfig> {
    let url = t.required::<String>("url").filter(|url| {
        let ok = ["redis://", "rediss://", "unix://"]
            .iter()
            .any(|scheme| url.starts_with(scheme));
        if !ok {
            t.problem(
                "url",
                format!("must start with redis://, rediss:// or unix:// (found {url:?})"),
            );
        }
        ok
    });
    let default_ttl_secs = t.optional::<u64>("default_ttl_secs").unwrap_or(0);
    let index_windows = t.optional::<usize>("index_windows");
    let index_windows = at_least(&t, "index_windows", index_windows, 1)
        .unwrap_or(RedisConfig::DEFAULT_INDEX_WINDOWS);
    Some(RedisConfig {
        url: url?,
        default_ttl_secs,
        index_windows,
    })
}

/// Reads `[windows]`.
fn read_windows(mut t: TableReader<'_>) -> WindowsConfig {
    let allowed_lateness_secs = t.optional::<u64>("allowed_lateness_secs").unwrap_or(0);
    let day_offset_secs = t.optional::<i64>("day_offset_secs");
    let max = WindowsConfig::MAX_DAY_OFFSET_SECS;
    let day_offset_secs = within(&t, "day_offset_secs", day_offset_secs, -max, max).unwrap_or(0);
    WindowsConfig {
        allowed_lateness_secs,
        day_offset_secs,
    }
}

/// Reads `[checkpoint]`.
fn read_checkpoint(mut t: TableReader<'_>) -> CheckpointConfig {
    let interval_ms = t.optional::<u64>("interval_ms");
    let interval_ms = at_least(
        &t,
        "interval_ms",
        interval_ms,
        CheckpointConfig::MIN_INTERVAL_MS,
    )
    .unwrap_or(CheckpointConfig::DEFAULT_INTERVAL_MS);
    let namespace = t.optional::<String>("namespace").filter(|namespace| {
        let ok = is_name(namespace, |c| {
            c.is_ascii_alphanumeric() || c == '_' || c == '-'
        });
        if !ok {
            t.problem(
                "namespace",
                format!(
                    "must be 1 to 64 characters of A-Z, a-z, 0-9, _ and - (found {namespace:?})"
                ),
            );
        }
        ok
    });
    CheckpointConfig {
        interval_ms,
        namespace: namespace.unwrap_or_else(|| CheckpointConfig::DEFAULT_NAMESPACE.to_owned()),
    }
}

/// Reads `[rules]`: one table per rule name.
fn read_rules(mut t: TableReader<'_>, source: Option<&SourceRead>) -> BTreeMap<String, RuleConfig> {
    let mut rules = BTreeMap::new();
    for name in t.keys() {
        let name_ok = is_name(name, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
        });
        if !name_ok {
            t.problem(
                name,
                "invalid rule name (expected 1 to 64 characters of a-z, 0-9, _ and -)",
            );
        }
        let Some(rule) = t.table(name) else { continue };
        let rule = read_rule(rule, source);
        if name_ok {
            rules.insert(name.to_owned(), rule);
        }
    }
    rules
}

/// Reads one `[rules.<name>]` table.
fn read_rule(mut t: TableReader<'_>, source: Option<&SourceRead>) -> RuleConfig {
    let config_json = match t.raw("config") {
        None => "{}".to_owned(),
        Some(Value::Table(table)) => {
            let json = table_to_json(table, &t.path_of("config"), t.problems());
            serde_json::Value::Object(json).to_string()
        }
        Some(other) => {
            t.problem("config", mismatch("a table", other));
            "{}".to_owned()
        }
    };

    let mut ttl_secs = BTreeMap::new();
    if let Some(mut ttls) = t.table("ttl_secs") {
        for metric in ttls.keys() {
            if let Some(ttl) = ttls.optional::<u64>(metric) {
                ttl_secs.insert(metric.to_owned(), ttl);
            }
        }
    }

    let kind = source.and_then(|source| source.kind);
    let topics = match Need::of(kind, KindName::Kafka, false) {
        Need::Forbidden(kind, owner) => {
            t.forbidden("topics", not_for_kind(kind, owner));
            None
        }
        _ => t.optional_list::<String>("topics"),
    };
    let topics = topics.and_then(|topics| {
        let topics = check_topics(&t, "topics", topics)?;
        let known = source.and_then(|source| source.kafka_topics.as_ref());
        let mut ok = true;
        for (index, topic) in topics.iter().enumerate() {
            if known.is_some_and(|known| !known.contains(topic)) {
                let path = format!("{}[{index}]", t.path_of("topics"));
                t.problems()
                    .push(path, format!("topic {topic:?} is not in source.topics"));
                ok = false;
            }
        }
        ok.then_some(topics)
    });

    RuleConfig {
        config_json,
        ttl_secs,
        topics,
    }
}

/// A TOML table as a JSON object; datetimes become strings. Floats JSON
/// cannot hold (NaN, infinities) are reported under `path`.
fn table_to_json(
    table: &Table,
    path: &str,
    problems: &Problems,
) -> serde_json::Map<String, serde_json::Value> {
    table
        .iter()
        .map(|(key, value)| {
            let json = toml_to_json(value, &join_key(path, key), problems);
            (key.clone(), json)
        })
        .collect()
}

/// One TOML value as JSON; see [`table_to_json`].
fn toml_to_json(value: &Value, path: &str, problems: &Problems) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::String(s) => Json::String(s.clone()),
        Value::Integer(i) => Json::from(*i),
        Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Json::Number(n),
            None => {
                problems.push(
                    path.to_owned(),
                    format!("{f} cannot be passed to a rule as JSON"),
                );
                Json::Null
            }
        },
        Value::Boolean(b) => Json::Bool(*b),
        Value::Datetime(dt) => Json::String(dt.to_string()),
        Value::Array(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| toml_to_json(item, &format!("{path}[{index}]"), problems))
                .collect(),
        ),
        Value::Table(table) => Json::Object(table_to_json(table, path, problems)),
    }
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
