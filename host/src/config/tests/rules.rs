//! `[rules]`: rule config as JSON, TTLs, topics.

use std::collections::BTreeMap;

use super::*;

#[test]
fn rule_config_becomes_json() {
    let text = minimal_with(
        r#"
[rules.pvuv]
ttl_secs = { pv = 86400, uv = 172800 }

[rules.pvuv.config]
name = "pv \"uv\""
sample = 10
ratio = 0.25
enabled = true
since = 1979-05-27T07:32:00Z
day = 1979-05-27
paths = ["/a", "/b"]
nested = { depth = { more = [1, { x = "y" }] } }

[rules.ip-count]
"#,
    );
    let config = Config::parse(&text).expect("rules are valid");
    let pvuv = &config.rules["pvuv"];
    let json: serde_json::Value =
        serde_json::from_str(&pvuv.config_json).expect("config_json is JSON");
    assert_eq!(
        json,
        serde_json::json!({
            "name": "pv \"uv\"",
            "sample": 10,
            "ratio": 0.25,
            "enabled": true,
            "since": "1979-05-27T07:32:00Z",
            "day": "1979-05-27",
            "paths": ["/a", "/b"],
            "nested": { "depth": { "more": [1, { "x": "y" }] } },
        })
    );
    assert_eq!(
        pvuv.ttl_secs,
        BTreeMap::from([("pv".to_owned(), 86_400), ("uv".to_owned(), 172_800)])
    );
    assert_eq!(pvuv.topics, None);
    assert_eq!(config.rules["ip-count"], RuleConfig::default());
    assert_eq!(config.rules["ip-count"].config_json, "{}");

    assert_problems(
        problems_of(&minimal_with(
            "[rules.x.config]\na = [1.0, nan]\nb = { c = inf }",
        )),
        &[
            "rules.x.config.a[1]: NaN cannot be passed to a rule as JSON",
            "rules.x.config.b.c: inf cannot be passed to a rule as JSON",
        ],
    );
    assert_problems(
        problems_of(&minimal_with("[rules.x]\ntopics = [\"access\"]")),
        &[r#"rules.x.topics: not allowed when source.kind = "stdin" (only with "kafka")"#],
    );
    assert_problems(
        problems_of(&format!("rules = 5\n{MINIMAL}")),
        &["rules: expected a table, found an integer"],
    );
    assert_problems(
        problems_of(&minimal_with("[rules]\nx = 5")),
        &["rules.x: expected a table, found an integer"],
    );
}
