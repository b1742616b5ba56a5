//! The `[source]` section: where records come from (a file, stdin, Kafka
//! topics) and how they are batched.
//!
//! `kind` decides which other keys the section takes; a key of another kind
//! is reported as not allowed, naming the kind that takes it. The kind and
//! the Kafka topics are also what the `[rules]` checks need (`SourceRead`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::librdkafka::{Properties, read_librdkafka};
use super::reader::TableReader;
use super::secret::Secret;
use super::{at_least, check_topics, non_empty, within};

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
    /// booleans in the file are turned into strings. Secrets are apart.
    pub librdkafka: BTreeMap<String, String>,
    /// librdkafka properties that are secrets: the sensitive ones
    /// (`sasl.password`, `ssl.key.password`...) and any given as
    /// `{ env = "VAR" }` or `{ file = "path" }`.
    pub librdkafka_secrets: BTreeMap<String, Secret>,
    /// Whether a sensitive property is written in the config file itself.
    pub inline_secret: bool,
}

impl KafkaSourceConfig {
    /// Default of `idle_partition_ms`: one minute.
    pub const DEFAULT_IDLE_PARTITION_MS: u64 = 60_000;

    /// librdkafka properties whose default weir changes; a value in
    /// `[source.librdkafka]` still wins: (key, weir's default). Why, for
    /// each:
    ///
    /// `fetch.queue.backoff.ms` (librdkafka: 1000): when a fetch leaves more
    /// than `queued.min.messages` queued, librdkafka waits this long before
    /// fetching that partition again. weir takes a batch, then works on it
    /// without polling, and drains the 100,000 queued records in well under
    /// a second, so with the default it then sat idle for the rest of the
    /// second: on a local broker answering fetches at once
    /// (`fetch.wait.max.ms = 10`) that wait was 5.6 s of an 8.2 s run.
    pub fn weir_defaults() -> [(&'static str, &'static str); 1] {
        [("fetch.queue.backoff.ms", "10")]
    }

    /// The client properties besides secrets, in the order they are set:
    /// weir's defaults, then `[source.librdkafka]`, then weir's own
    /// (a later value of a key replaces an earlier one).
    pub fn client_properties(&self) -> Vec<(&str, &str)> {
        let defaults = Self::weir_defaults().into_iter();
        let yours = self
            .librdkafka
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()));
        let weir = self
            .weir_properties()
            .into_iter()
            .map(|(key, value, _)| (key, value));
        defaults.chain(yours).chain(weir).collect()
    }

    /// The librdkafka properties weir sets itself, over any value in
    /// `[source.librdkafka]`, because its exactness rests on them: (key,
    /// weir's value, why).
    pub fn weir_properties(&self) -> [(&'static str, &'static str, &'static str); 4] {
        [
            (
                "enable.auto.commit",
                "false",
                "positions are checkpointed in Redis; weir commits offsets to Kafka after each checkpoint, for lag monitoring only",
            ),
            (
                "enable.auto.offset.store",
                "false",
                "offsets are stored only once a checkpoint holds them",
            ),
            (
                "enable.partition.eof",
                if self.stop_at_end { "true" } else { "false" },
                "set by source.stop_at_end",
            ),
            (
                "auto.offset.reset",
                "earliest",
                "a partition without a checkpoint is read from its beginning",
            ),
        ]
    }

    /// The `[source.librdkafka]` values weir replaces with its own (see
    /// [`KafkaSourceConfig::weir_properties`]).
    pub fn overridden(&self) -> Vec<Overridden> {
        self.weir_properties()
            .into_iter()
            .filter_map(|(key, weir, why)| {
                let yours = self.librdkafka.get(key)?;
                (!yours.eq_ignore_ascii_case(weir)).then(|| Overridden {
                    key,
                    yours: yours.clone(),
                    weir,
                    why,
                })
            })
            .collect()
    }
}

/// A `[source.librdkafka]` property weir sets to another value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overridden {
    /// The property.
    pub key: &'static str,
    /// The value in the config file.
    pub yours: String,
    /// The value weir uses.
    pub weir: &'static str,
    /// Why weir sets it.
    pub why: &'static str,
}

/// `source.kind` as named in the file, before its settings are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KindName {
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
pub(super) struct SourceRead {
    /// The validated section.
    pub(super) config: Option<SourceConfig>,
    /// `source.kind`, if valid.
    pub(super) kind: Option<KindName>,
    /// `source.topics`, if valid.
    pub(super) kafka_topics: Option<Vec<String>>,
}

/// Which source kinds a key belongs to.
#[derive(Clone, Copy)]
pub(super) enum Need {
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
    pub(super) fn of(kind: Option<KindName>, owner: KindName, required: bool) -> Need {
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
pub(super) fn not_for_kind(kind: KindName, owner: &str) -> String {
    format!(
        "not allowed when source.kind = {:?} (only with {owner:?})",
        kind.as_str()
    )
}

/// Reads `[source]`.
pub(super) fn read_source(mut t: TableReader<'_>) -> SourceRead {
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
            Properties::default()
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
                let kafka = KafkaSourceConfig {
                    brokers,
                    topics,
                    group,
                    idle_partition_ms: idle_partition_ms
                        .unwrap_or(KafkaSourceConfig::DEFAULT_IDLE_PARTITION_MS),
                    stop_at_end: stop_at_end.unwrap_or(false),
                    librdkafka: librdkafka.plain,
                    librdkafka_secrets: librdkafka.secrets,
                    inline_secret: librdkafka.inline_secret,
                };
                // Every command reading the config (`weir run`, `weir
                // check`) says so, before anything runs.
                for o in kafka.overridden() {
                    tracing::warn!(key = o.key, yours = %o.yours, weir = o.weir, why = o.why, "source.librdkafka property overridden by weir");
                }
                Some(SourceKind::Kafka(kafka))
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
