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

/// `[rules.<name>] day_offset_secs` is that rule's own day alignment, with
/// the range of `[windows] day_offset_secs`; a rule without it has none
/// (the pipeline's applies), and a bad value is reported under the rule's
/// key path, with every other problem.
#[test]
fn a_rule_has_its_own_day_offset() {
    let config = Config::parse(&minimal_with(
        "[windows]\nday_offset_secs = 3600\n\
         [rules.pvuv]\nday_offset_secs = -28800\n\
         [rules.east]\nday_offset_secs = -86399\n\
         [rules.west]\nday_offset_secs = 86399\n\
         [rules.ip-count]\nttl_secs = { requests = 60 }",
    ))
    .expect("day offsets are valid");
    assert_eq!(config.windows.day_offset_secs, 3600);
    assert_eq!(config.rules["pvuv"].day_offset_secs, Some(-28_800));
    assert_eq!(config.rules["east"].day_offset_secs, Some(-86_399));
    assert_eq!(config.rules["west"].day_offset_secs, Some(86_399));
    assert_eq!(config.rules["ip-count"].day_offset_secs, None);
    assert_eq!(RuleConfig::default().day_offset_secs, None);

    assert_problems(
        problems_of(&minimal_with(
            "[windows]\nday_offset_secs = 90000\n\
             [rules.pvuv]\nday_offset_secs = 86400\n\
             [rules.east]\nday_offset_secs = -86400\n\
             [rules.west]\nday_offset_secs = \"+8h\"\n\
             [rules.BAD]\nday_offset_secs = 99999",
        )),
        &[
            "windows.day_offset_secs: must be in -86399..=86399 (found 90000)",
            "rules.pvuv.day_offset_secs: must be in -86399..=86399 (found 86400)",
            "rules.east.day_offset_secs: must be in -86399..=86399 (found -86400)",
            "rules.west.day_offset_secs: expected an integer, found a string",
            "rules.BAD: invalid rule name (expected 1 to 64 characters of a-z, 0-9, _ and -)",
            "rules.BAD.day_offset_secs: must be in -86399..=86399 (found 99999)",
        ],
    );
}
