//! `[sources.<name>]` and `[rules.R] sources`: several named sources, and
//! which of them each rule reads.

use super::*;

/// The required sections other than the sources.
const REST: &str = r#"
[plugins]
dir = "plugins"
[redis]
url = "redis://localhost"
"#;

/// `sources` (TOML) followed by the other required sections.
fn with_sources(sources: &str) -> String {
    format!("{sources}\n{REST}")
}

const TWO: &str = r#"
[sources.web]
kind = "file"
path = "access.log"
follow = true
[sources.events]
kind = "kafka"
brokers = "127.0.0.1:9092"
topics = ["clicks", "orders"]
group = "weir"
[sources.events.librdkafka]
"fetch.min.bytes" = 1
"#;

#[test]
fn named_sources_are_read_by_name() {
    let text = with_sources(&format!(
        "{TWO}\n[rules.pvuv]\nsources = [\"web\"]\n[rules.orders]\nsources = [\"events\"]\ntopics = [\"orders\"]\n[rules.all]\n"
    ));
    let config = Config::parse(&text).expect("named sources are valid");
    assert!(config.sources.is_named() && config.sources.single().is_none());
    let names: Vec<&str> = config.sources.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["events", "web"]);
    let SourcesConfig::Named(sources) = &config.sources else {
        panic!("expected named sources");
    };
    assert_eq!(
        sources["web"].kind,
        SourceKind::File {
            path: PathBuf::from("access.log"),
            follow: true,
            poll_interval_ms: 200,
        }
    );
    let SourceKind::Kafka(kafka) = &sources["events"].kind else {
        panic!("expected a kafka source");
    };
    assert_eq!(kafka.topics, ["clicks", "orders"]);
    assert_eq!(kafka.librdkafka["fetch.min.bytes"], "1");
    assert!(config.sources.has_kafka());
    assert_eq!(config.rules["pvuv"].sources, Some(vec!["web".to_owned()]));
    assert_eq!(
        config.rules["orders"].topics,
        Some(vec!["orders".to_owned()])
    );
    assert_eq!(config.rules["all"].sources, None);
}

#[test]
fn the_single_source_is_named_default() {
    let config = Config::parse(&minimal_with("[rules.pvuv]\nsources = [\"default\"]"))
        .expect("`default` names [source]");
    assert!(!config.sources.is_named());
    let names: Vec<&str> = config.sources.iter().map(|(name, _)| name).collect();
    assert_eq!(names, [DEFAULT_SOURCE]);
    assert_eq!(
        config.rules["pvuv"].sources,
        Some(vec!["default".to_owned()])
    );
    assert_problems(
        problems_of(&minimal_with("[rules.pvuv]\nsources = [\"web\"]")),
        &[r#"rules.pvuv.sources[0]: unknown source "web" (expected one of: default)"#],
    );
}

/// Every problem of the sources and of the rules' routes is reported at
/// once, each under its key path.
#[test]
fn source_problems_are_reported_together() {
    let text = with_sources(
        r#"
[sources.web]
kind = "file"
[sources.in]
kind = "stdin"
[sources.again]
kind = "stdin"
[sources.Bad]
kind = "stdin"
[sources.0abc]
kind = "file"
path = "x.log"
[sources.bus]
kind = "kafka"
brokers = "b:9092"
topics = ["access"]
group = "g"
path = "x.log"

[rules.pvuv]
sources = ["web", "nope", "web"]
[rules.audit]
sources = []
[rules.files]
sources = ["web"]
topics = ["access"]
[rules.wrong]
sources = ["bus"]
topics = ["audit"]
"#,
    );
    assert_problems(
        problems_of(&text),
        &[
            "sources.web.path: missing required key",
            "sources.in.kind: only one source can read stdin (sources.again already does)",
            "sources.Bad: invalid source name (expected 1 to 64 characters of a-z, 0-9, _ and -, starting with a letter)",
            "sources.0abc: invalid source name (expected 1 to 64 characters of a-z, 0-9, _ and -, starting with a letter)",
            r#"sources.bus.path: not allowed when source.kind = "kafka" (only with "file")"#,
            r#"rules.pvuv.sources[1]: unknown source "nope" (expected one of: again, bus, in, web)"#,
            r#"rules.pvuv.sources[2]: duplicate source "web""#,
            "rules.audit.sources: must list at least one source",
            r#"rules.files.topics: not allowed: none of the sources this rule reads is of kind "kafka""#,
            r#"rules.wrong.topics[0]: topic "audit" is not in the topics of the kafka sources this rule reads"#,
        ],
    );
}

#[test]
fn source_and_sources_do_not_mix_and_one_is_needed() {
    assert_problems(
        problems_of(&format!("{MINIMAL}\n[sources.web]\nkind = \"stdin\"")),
        &[
            "sources: not allowed together with [source]: name every source ([sources.<name>]) or keep the one [source]",
        ],
    );
    assert_problems(
        problems_of(&with_sources("[sources]")),
        &["sources: must name at least one source ([sources.<name>])"],
    );
    assert_problems(problems_of(REST), &["source: missing required table"]);
    assert_problems(
        problems_of(&with_sources("sources = 3")),
        &["sources: expected a table, found an integer"],
    );
}
