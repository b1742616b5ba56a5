use serde::Deserialize;

use crate::Measure;
use crate::prelude::*;
use crate::testing::TestRule;

fn record(text: &str) -> Record<'_> {
    Record {
        payload: text.as_bytes(),
        key: None,
        source: "test",
        partition: 0,
        offset: 0,
        timestamp_ms: None,
    }
}

#[derive(Debug, Deserialize)]
struct Spend<'a> {
    appkey: &'a str,
    servertime: String,
    consumenum: Decimal,
    roleid: String,
}

const SPEND: &str =
    r#"{"appkey":"g1","servertime":"2026-11-21 18:15:03","consumenum":33.8,"roleid":"r7"}"#;

#[test]
fn parses_a_record_borrowing_its_text() {
    let spend: Spend<'_> = record(SPEND).json().unwrap();
    assert_eq!(spend.appkey, "g1");
    assert_eq!(spend.roleid, "r7");
    assert_eq!(spend.consumenum.to_scaled(2), Ok(3380));
    assert_eq!(
        parse_datetime_with_offset(&spend.servertime, 8 * 3600),
        Ok(1_795_256_103_000)
    );
}

fn reason(text: &str) -> String {
    record(text).json::<Spend<'_>>().unwrap_err().to_string()
}

#[test]
fn invalid_json_says_where() {
    assert_eq!(
        reason(r#"{"appkey": }"#),
        "invalid JSON at line 1 column 12: expected value"
    );
    assert_eq!(
        reason("not json"),
        "invalid JSON at line 1 column 2: expected ident"
    );
    assert_eq!(
        reason(""),
        "invalid JSON at line 1 column 0: EOF while parsing a value"
    );
    assert_eq!(
        reason(&format!("{SPEND} x")),
        "invalid JSON at line 1 column 84: trailing characters"
    );
    assert_eq!(
        record("\"\u{ff}\"")
            .json::<String>()
            .map_err(|e| e.to_string()),
        Ok("\u{ff}".to_owned())
    );
    let bad_utf8 = Record {
        payload: b"\"\xff\"",
        ..record("")
    };
    assert_eq!(
        bad_utf8.json::<String>().unwrap_err().to_string(),
        "invalid JSON at line 1 column 2: invalid unicode code point"
    );
}

#[test]
fn json_of_the_wrong_shape_names_the_field() {
    assert_eq!(
        reason(r#"{"appkey":"g1","servertime":"t","consumenum":1}"#),
        "JSON does not fit Spend at line 1 column 47: missing field `roleid`"
    );
    assert_eq!(
        reason(r#"{"appkey":5}"#),
        "JSON does not fit Spend at line 1 column 11: invalid type: integer `5`, expected a borrowed string"
    );
    assert_eq!(
        reason("[]"),
        "JSON does not fit Spend at line 1 column 2: invalid length 0, expected struct Spend with 4 elements"
    );
    assert_eq!(
        record("{}").json::<Vec<u32>>().unwrap_err().to_string(),
        "JSON does not fit Vec at line 1 column 0: invalid type: map, expected a sequence"
    );
}

#[derive(Debug, Deserialize)]
struct Times {
    #[serde(deserialize_with = "crate::json::epoch_secs")]
    secs: i64,
    #[serde(deserialize_with = "crate::json::epoch_millis")]
    millis: i64,
    #[serde(deserialize_with = "crate::json::rfc3339")]
    at: i64,
}

fn times(json: &str) -> Result<(i64, i64, i64)> {
    let times: Times = record(json).json()?;
    Ok((times.secs, times.millis, times.at))
}

#[test]
fn times_from_numbers_or_strings() {
    let expected = (1_795_256_103_000, 1_795_256_103_412, 1_795_256_103_000);
    assert_eq!(
        times(r#"{"secs":1795256103,"millis":1795256103412,"at":"2026-11-21T18:15:03+08:00"}"#),
        Ok(expected)
    );
    assert_eq!(
        times(r#"{"secs":"1795256103","millis":"1795256103412","at":"2026-11-21T10:15:03Z"}"#),
        Ok(expected)
    );
    assert_eq!(
        times(r#"{"secs":1795256103.412,"millis":0,"at":"1970-01-01T00:00:00Z"}"#),
        Ok((1_795_256_103_412, 0, 0))
    );
}

#[test]
fn malformed_times_are_rejected_with_the_reason() {
    let at = r#""at":"2026-11-21T10:15:03Z""#;
    for (json, expected) in [
        (
            format!(r#"{{"secs":1.795e9,"millis":0,{at}}}"#),
            "at line 1 column 15: epoch time is not like 1795256103.412",
        ),
        (
            format!(r#"{{"secs":true,"millis":0,{at}}}"#),
            "at line 1 column 12: invalid type: a boolean, expected epoch seconds",
        ),
        (
            format!(r#"{{"secs":0,"millis":1.5,{at}}}"#),
            "at line 1 column 22: epoch milliseconds are not an integer",
        ),
        (
            r#"{"secs":0,"millis":0,"at":"2026-02-30T10:15:03Z"}"#.to_owned(),
            "at line 1 column 49: the timestamp is not a calendar date",
        ),
        (
            r#"{"secs":0,"millis":0,"at":1795256103}"#.to_owned(),
            "at line 1 column 36: invalid type: integer `1795256103`, expected a string",
        ),
    ] {
        let error = times(&json).unwrap_err().to_string();
        assert_eq!(
            error,
            format!("JSON does not fit Times {expected}"),
            "{json}"
        );
    }
}

/// A JSON rule end to end: sums spend in cents per app; bad records are
/// rejected with the reason, good ones counted.
struct SpendRule;

impl Rule for SpendRule {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("spend", "1").metric(Metric::sum("cents").tumbling(60))
    }

    fn new(_config: NoConfig) -> Result<Self> {
        Ok(SpendRule)
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let spend: Spend<'_> = record.json()?;
        let time_ms = parse_datetime_with_offset(&spend.servertime, 8 * 3600)?;
        let cents = spend.consumenum.to_scaled(2)?;
        out.number("cents", spend.appkey, cents as f64, time_ms);
        Ok(())
    }
}

#[test]
fn a_json_rule_counts_good_records_and_rejects_bad_ones() {
    let mut rule = TestRule::<SpendRule>::new("{}").unwrap();
    let as_string = SPEND.replace("33.8", "\"33.80\"");
    let too_precise = SPEND.replace("33.8", "33.805");
    let bad_date = SPEND.replace("2026-11-21", "2026-02-30");
    let out = rule.process_lines(&[SPEND, &as_string, "{", &too_precise, &bad_date]);
    let cents: Vec<_> = out.of("cents").iter().map(|e| e.measure.clone()).collect();
    assert_eq!(cents, [Measure::Number(3380.0), Measure::Number(3380.0)]);
    let reasons: Vec<_> = out
        .rejects
        .iter()
        .map(|r| (r.record, r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                2,
                "invalid JSON at line 1 column 1: EOF while parsing an object"
            ),
            (3, "decimal 33.805 has more than 2 decimals"),
            (4, "the timestamp is not a calendar date"),
        ]
    );
}
