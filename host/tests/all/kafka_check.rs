//! `weir check` on Kafka configs: what it says about `[source.librdkafka]`
//! and about `[rules.<name>] topics` (it reads neither Kafka nor Redis).

use crate::support::*;

/// A Kafka config for `weir check` with `extra` after `[source]` (a
/// `[source.librdkafka]` table, say) and `rules` at the end.
fn kafka_config(dir: &std::path::Path, librdkafka: &str, rules: &str) -> std::path::PathBuf {
    let plugins = plugins_dir(dir, &["pvuv", "ip_count"]);
    let path = dir.join("weir.toml");
    let text = format!(
        "[source]\nkind = \"kafka\"\nbrokers = \"127.0.0.1:1\"\ntopics = [\"access\", \"audit\"]\ngroup = \"g\"\n\
         [source.librdkafka]\n{librdkafka}\n[plugins]\ndir = \"{}\"\n[redis]\nurl = \"redis://127.0.0.1:1/0\"\n{rules}\n",
        plugins.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn check(config: &std::path::Path) -> std::process::Output {
    weir()
        .arg("check")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

/// A librdkafka property weir sets itself is replaced, with a WARN naming
/// the key, both values and why; a property weir leaves alone is not
/// mentioned, and the config is still valid.
#[test]
fn check_warns_about_overridden_librdkafka_properties() {
    let dir = tempfile::tempdir().unwrap();
    let config = kafka_config(
        dir.path(),
        "\"auto.offset.reset\" = \"latest\"\n\"enable.auto.commit\" = \"false\"\n\"client.id\" = \"me\"",
        "",
    );
    let output = check(&config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("overridden by weir"))
        .collect();
    assert_eq!(warnings.len(), 1, "one property overridden:\n{stderr}");
    let warning = warnings[0];
    for part in [
        "key=\"auto.offset.reset\"",
        "yours=latest",
        "weir=\"earliest\"",
        "why=",
    ] {
        assert!(warning.contains(part), "{part} missing in {warning}");
    }
}

/// A rule's topic that is not one of the source's is refused, naming it.
#[test]
fn check_refuses_a_rule_topic_the_source_does_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = kafka_config(
        dir.path(),
        "",
        "[rules.pvuv]\ntopics = [\"access\", \"acess\"]",
    );
    let stderr = check_fails(&config);
    assert!(
        stderr.contains(r#"rules.pvuv.topics[1]: topic "acess" is not in source.topics"#),
        "{stderr}"
    );
}
