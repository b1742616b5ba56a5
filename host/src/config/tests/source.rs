//! `[source]`: the Kafka source and its keys.

use std::collections::BTreeMap;

use super::*;

/// A kafka source with librdkafka properties and per-rule topics.
const KAFKA: &str = r#"
[source]
kind = "kafka"
brokers = "127.0.0.1:9092,127.0.0.1:9093"
topics = ["access", "audit"]
group = "weir"
batch_records = 100

[source.librdkafka]
"fetch.min.bytes" = 1
"enable.partition.eof" = false
"client.id" = "weir-1"
"fetch.wait.max.ms" = 0.5

[plugins]
dir = "plugins"

[redis]
url = "unix:///run/redis.sock"

[rules.pvuv]
topics = ["access"]

[rules.hive-audit]
"#;

#[test]
fn kafka_source_parses() {
    let config = Config::parse(KAFKA).expect("kafka config is valid");
    assert_eq!(
        the_source(&config).kind,
        SourceKind::Kafka(KafkaSourceConfig {
            brokers: "127.0.0.1:9092,127.0.0.1:9093".to_owned(),
            topics: vec!["access".to_owned(), "audit".to_owned()],
            group: "weir".to_owned(),
            idle_partition_ms: KafkaSourceConfig::DEFAULT_IDLE_PARTITION_MS,
            stop_at_end: false,
            librdkafka: BTreeMap::from([
                ("client.id".to_owned(), "weir-1".to_owned()),
                ("enable.partition.eof".to_owned(), "false".to_owned()),
                ("fetch.min.bytes".to_owned(), "1".to_owned()),
                ("fetch.wait.max.ms".to_owned(), "0.5".to_owned()),
            ]),
            librdkafka_secrets: BTreeMap::new(),
            inline_secret: false,
        })
    );
    assert_eq!(the_source(&config).batch_records, 100);
    assert_eq!(config.rules["pvuv"].topics, Some(vec!["access".to_owned()]));
    assert_eq!(config.rules["hive-audit"].topics, None);

    let bare = "[source]\nkind = \"kafka\"\nbrokers = \"b:9092\"\ntopics = [\"t\"]\ngroup = \"g\"\n\
                [plugins]\ndir = \"p\"\n[redis]\nurl = \"rediss://r\"\n";
    let config = Config::parse(bare).expect("librdkafka is optional");
    let SourceKind::Kafka(kafka) = the_source(&config).kind else {
        panic!("expected a kafka source");
    };
    assert!(kafka.librdkafka.is_empty());
}

#[test]
fn kafka_problems() {
    let text = r#"
[source]
kind = "kafka"
topics = ["access", 7, "", "access"]
group = ""
path = "a.log"
poll_interval_ms = 5

[source.librdkafka]
"group.id" = "other"
"sasl.mechanisms" = ["PLAIN"]

[plugins]
dir = "plugins"
[redis]
url = "redis://x"
[rules.pvuv]
topics = []
[rules.ipcount]
topics = ["nope"]
"#;
    assert_problems(
        problems_of(text),
        &[
            "source.brokers: missing required key",
            "source.topics[1]: expected a string, found an integer",
            "source.group: must not be empty",
            r#"source.path: not allowed when source.kind = "kafka" (only with "file")"#,
            r#"source.poll_interval_ms: not allowed when source.kind = "kafka" (only with "file")"#,
            "source.librdkafka.\"group.id\": set source.group instead",
            "source.librdkafka.\"sasl.mechanisms\": expected a string, number or boolean, or { env = \"VAR\" } / { file = \"path\" }, found an array",
            "rules.pvuv.topics: must list at least one topic",
        ],
    );

    let text = KAFKA.replace(r#"["access", "audit"]"#, r#"["access", "", "access"]"#);
    assert_problems(
        problems_of(&text),
        &[
            "source.topics[1]: must not be empty",
            r#"source.topics[2]: duplicate topic "access""#,
        ],
    );
    let text = KAFKA.replace(r#"topics = ["access"]"#, r#"topics = ["access", "nope"]"#);
    assert_problems(
        problems_of(&text),
        &[r#"rules.pvuv.topics[1]: topic "nope" is not in source.topics"#],
    );
    let text = KAFKA.replace(r#"topics = ["access", "audit"]"#, "topics = []");
    assert_problems(
        problems_of(&text),
        &["source.topics: must list at least one topic"],
    );
    let text = KAFKA.replace(
        r#"topics = ["access", "audit"]"#,
        "topics = [\"access\", \"audit\"]\nstop_at_end = true",
    );
    assert_problems(
        problems_of(&text),
        &[
            "source.stop_at_end: needs exactly one topic (librdkafka reports the end \
           of a partition by number only), found 2",
        ],
    );
    let text = KAFKA.replace(
        r#"topics = ["access", "audit"]"#,
        "topics = [\"access\"]\nstop_at_end = true",
    );
    match Config::parse(&text).map(|config| the_source(&config).kind) {
        Ok(SourceKind::Kafka(kafka)) => assert!(kafka.stop_at_end),
        other => panic!("a single-topic stop_at_end parses: {other:?}"),
    }

    let text = r#"
[source]
kind = "file"
path = "a.log"
brokers = "b:9092"
topics = ["t"]
group = "g"
stop_at_end = true
[source.librdkafka]
[plugins]
dir = "plugins"
[redis]
url = "redis://x"
"#;
    let not_file = |key: &str| {
        format!(r#"source.{key}: not allowed when source.kind = "file" (only with "kafka")"#)
    };
    let expected: Vec<String> = ["brokers", "topics", "group", "stop_at_end", "librdkafka"]
        .into_iter()
        .map(not_file)
        .collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_problems(problems_of(text), &expected);
}

/// Four librdkafka properties are weir's: a different value in
/// `[source.librdkafka]` is replaced, and reported with both values and why
/// (the same value, in any case, is not).
#[test]
fn weir_overrides_four_librdkafka_properties() {
    let text = KAFKA.replace(
        "\"fetch.min.bytes\" = 1",
        "\"fetch.min.bytes\" = 1\n\"enable.auto.commit\" = true\n\"auto.offset.reset\" = \"latest\"\n\
         \"enable.auto.offset.store\" = \"FALSE\"",
    );
    let SourceKind::Kafka(kafka) = the_source(&Config::parse(&text).unwrap()).kind else {
        panic!("expected a kafka source");
    };
    let overridden = kafka.overridden();
    let overridden: Vec<(&str, &str, &str)> = overridden
        .iter()
        .map(|o| (o.key, o.yours.as_str(), o.weir))
        .collect();
    assert_eq!(
        overridden,
        [
            ("enable.auto.commit", "true", "false"),
            ("auto.offset.reset", "latest", "earliest"),
        ]
    );
    assert!(kafka.overridden().iter().all(|o| !o.why.is_empty()));
    // `enable.partition.eof = false` is weir's value unless stop_at_end.
    let text = KAFKA.replace(
        r#"topics = ["access", "audit"]"#,
        "topics = [\"access\"]\nstop_at_end = true",
    );
    let SourceKind::Kafka(kafka) = the_source(&Config::parse(&text).unwrap()).kind else {
        panic!("expected a kafka source");
    };
    let overridden = kafka.overridden();
    assert_eq!(overridden.len(), 1);
    assert_eq!(
        (
            overridden[0].key,
            overridden[0].yours.as_str(),
            overridden[0].weir
        ),
        ("enable.partition.eof", "false", "true")
    );
    assert!(overridden[0].why.contains("stop_at_end"));
    let weir: Vec<&str> = kafka.weir_properties().iter().map(|p| p.0).collect();
    assert_eq!(
        weir,
        [
            "enable.auto.commit",
            "enable.auto.offset.store",
            "enable.partition.eof",
            "auto.offset.reset"
        ]
    );
}

/// weir changes a librdkafka default (`fetch.queue.backoff.ms`, see
/// `KafkaSourceConfig::weir_defaults`); a value in `[source.librdkafka]`
/// wins, and weir's own four win over both.
#[test]
fn weir_defaults_give_way_to_the_users_values() {
    let value_of = |kafka: &KafkaSourceConfig, key: &str| {
        kafka
            .client_properties()
            .into_iter()
            .rfind(|(k, _)| *k == key)
            .map(|(_, value)| value.to_owned())
    };
    let SourceKind::Kafka(kafka) = the_source(&Config::parse(KAFKA).unwrap()).kind else {
        panic!("expected a kafka source");
    };
    assert_eq!(
        value_of(&kafka, "fetch.queue.backoff.ms").as_deref(),
        Some("10")
    );
    assert_eq!(value_of(&kafka, "fetch.min.bytes").as_deref(), Some("1"));
    let text = KAFKA.replace(
        "\"fetch.min.bytes\" = 1",
        "\"fetch.queue.backoff.ms\" = 500\n\"enable.auto.commit\" = true",
    );
    let SourceKind::Kafka(kafka) = the_source(&Config::parse(&text).unwrap()).kind else {
        panic!("expected a kafka source");
    };
    assert_eq!(
        value_of(&kafka, "fetch.queue.backoff.ms").as_deref(),
        Some("500")
    );
    assert_eq!(
        value_of(&kafka, "enable.auto.commit").as_deref(),
        Some("false")
    );
}

/// Secrets in `[source.librdkafka]`: from the environment, a file or the
/// file itself; kept apart from the other properties and never printed.
#[test]
fn librdkafka_secrets_come_from_the_environment_or_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("key-password");
    std::fs::write(&file, "from-a-file\n").expect("write");
    // PATH is set wherever the tests run (tests cannot set variables safely).
    let text = format!(
        "[source]\nkind = \"kafka\"\nbrokers = \"b:9092\"\ntopics = [\"t\"]\ngroup = \"g\"\n\
         [source.librdkafka]\n\"sasl.password\" = {{ env = \"PATH\" }}\n\
         \"ssl.key.password\" = {{ file = \"{}\" }}\n\"client.id\" = \"weir-1\"\n\
         [plugins]\ndir = \"p\"\n[redis]\nurl = \"redis://r\"\n",
        file.display()
    );
    let config = Config::parse(&text).expect("valid");
    let SourceKind::Kafka(kafka) = the_source(&config).kind else {
        panic!("kafka expected");
    };
    let path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(kafka.librdkafka_secrets["sasl.password"].expose(), path);
    assert_eq!(
        kafka.librdkafka_secrets["ssl.key.password"].expose(),
        "from-a-file"
    );
    assert_eq!(kafka.librdkafka.keys().collect::<Vec<_>>(), ["client.id"]);
    assert!(!config.has_inline_secret());
    assert!(!format!("{config:?}").contains("from-a-file"));

    // Written inline, a sensitive property is still a secret, and says so.
    let inline = text.replace(
        &format!("{{ file = \"{}\" }}", file.display()),
        "\"inline-pass\"",
    );
    let config = Config::parse(&inline).expect("valid");
    assert!(config.has_inline_secret());
    assert!(!format!("{config:?}").contains("inline-pass"));

    let problems = problems_of(&text.replace(
        "{ env = \"PATH\" }",
        "{ env = \"WEIR_SURELY_UNSET_VARIABLE\" }",
    ));
    assert_eq!(
        problems,
        [
            r#"source.librdkafka."sasl.password": environment variable WEIR_SURELY_UNSET_VARIABLE is not set"#
        ]
    );
    let problems = problems_of(&text.replace("{ env = \"PATH\" }", "{ vault = \"x\" }"));
    assert_eq!(
        problems,
        [
            r#"source.librdkafka."sasl.password": expected { env = "VAR" } or { file = "path" } (one key, a string)"#
        ]
    );
}
