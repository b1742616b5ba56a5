use serde::Deserialize;

use super::*;

fn dec(text: &str) -> Decimal {
    text.parse()
        .unwrap_or_else(|error| panic!("{text:?} refused: {error}"))
}

fn scaled(text: &str, scale: u32) -> Result<i128> {
    dec(text).to_scaled(scale)
}

#[test]
fn scales_exactly() {
    assert_eq!(scaled("33.8", 2), Ok(3380));
    assert_eq!(scaled("33.80", 2), Ok(3380));
    assert_eq!(scaled("33", 2), Ok(3300));
    assert_eq!(scaled("-0.5", 2), Ok(-50));
    assert_eq!(scaled("+7", 0), Ok(7));
    assert_eq!(scaled("007.50", 1), Ok(75));
    assert_eq!(scaled("0.000", 2), Ok(0));
    assert_eq!(scaled("-0", 2), Ok(0));
    assert_eq!(
        scaled("33.8", 0).map_err(|e| e.to_string()),
        Err("decimal 33.8 has more than 0 decimals".into())
    );
}

#[test]
fn exponents_move_the_point() {
    assert_eq!(scaled("1e3", 2), Ok(100_000));
    assert_eq!(scaled("1E+3", 0), Ok(1000));
    assert_eq!(scaled("3.38e1", 2), Ok(3380));
    assert_eq!(scaled("1.5e-2", 3), Ok(15));
    assert_eq!(scaled("1500e-3", 1), Ok(15));
    assert_eq!(scaled("0e999999", 2), Ok(0));
    assert!(scaled("1.5e-2", 2).is_err());
}

#[test]
fn tenths_add_up_where_floats_do_not() {
    assert_ne!(0.1_f64 + 0.2, 0.3);
    let sum = scaled("0.1", 2).unwrap() + scaled("0.2", 2).unwrap();
    assert_eq!(sum, scaled("0.3", 2).unwrap());
    assert_eq!(sum, 30);
}

#[test]
fn more_decimals_than_the_scale_are_refused_not_rounded() {
    let error = scaled("33.805", 2).unwrap_err();
    assert_eq!(error.message(), "decimal 33.805 has more than 2 decimals");
    assert!(scaled("0.001", 2).is_err());
    assert!(scaled("1e-99", 2).is_err());
    // Trailing zeros are not extra precision.
    assert_eq!(scaled("33.8000000", 2), Ok(3380));
}

#[test]
fn huge_values_are_refused_not_wrapped() {
    let max = i128::MAX.to_string();
    assert_eq!(scaled(&max, 0), Ok(i128::MAX));
    assert_eq!(scaled(&format!("-{max}"), 0), Ok(-i128::MAX));
    assert!(scaled(&max, 1).is_err());
    assert!(scaled("170141183460469231731687303715884105728", 0).is_err());
    assert!(scaled("1e38", 1).is_err());
    assert!(scaled("1e9223372036854775807", 2).is_err());
    let error = scaled("1e40", 2).unwrap_err();
    assert_eq!(
        error.message(),
        "decimal 1e40 is too large for 128 bits at 2 decimals"
    );
    // Many digits that scale to a small number are fine.
    assert_eq!(scaled(&format!("0.{}1", "0".repeat(60)), 61), Ok(1));
}

#[test]
fn malformed_text_is_refused() {
    for bad in [
        "",
        "-",
        "+",
        ".5",
        "5.",
        "5..0",
        "1,5",
        " 5",
        "5 ",
        "1e",
        "1e+",
        "1e3.5",
        "0x10",
        "NaN",
        "Infinity",
        "--5",
        "5-",
        "1e99999999999999999999",
    ] {
        assert!(bad.parse::<Decimal>().is_err(), "{bad:?}");
    }
    let error = "3.3.8".parse::<Decimal>().unwrap_err();
    assert_eq!(
        error.message(),
        r#"decimal "3.3.8" is not a number like 33.80"#
    );
}

#[test]
fn shows_and_compares_the_text_as_written() {
    assert_eq!(dec("33.80").to_string(), "33.80");
    assert_eq!(dec("1e3").as_str(), "1e3");
    assert_eq!(dec("33.8"), dec("33.80"));
    assert_eq!(dec("33.8"), dec("3.38e1"));
    assert_eq!(dec("0"), dec("-0.00"));
    assert_eq!(dec("1000"), dec("1e3"));
    assert_ne!(dec("33.8"), dec("-33.8"));
    assert_ne!(dec("33.8"), dec("3.38"));
}

#[derive(Debug, Deserialize)]
struct Spend {
    consumenum: Decimal,
}

fn from_json(json: &str) -> std::result::Result<Decimal, String> {
    serde_json::from_str::<Spend>(json)
        .map(|spend| spend.consumenum)
        .map_err(|error| error.to_string())
}

#[test]
fn json_number_and_string_give_the_same_value() {
    let number = from_json(r#"{"consumenum": 33.8}"#).unwrap();
    let string = from_json(r#"{"consumenum": "33.80"}"#).unwrap();
    assert_eq!(number.as_str(), "33.8");
    assert_eq!(string.as_str(), "33.80");
    assert_eq!(number.to_scaled(2), Ok(3380));
    assert_eq!(string.to_scaled(2), Ok(3380));
    let spaced = from_json("{\"consumenum\" :\t-0.5 }").unwrap();
    assert_eq!(spaced.as_str(), "-0.5");
    let escaped = from_json(r#"{"consumenum": "\u0033\u0033.8"}"#).unwrap();
    assert_eq!(escaped.to_scaled(1), Ok(338));
}

#[test]
fn json_keeps_digits_a_float_would_lose() {
    let long = "12345678901234567890.123456789";
    let decimal = from_json(&format!(r#"{{"consumenum": {long}}}"#)).unwrap();
    assert_eq!(decimal.as_str(), long);
    assert_eq!(
        decimal.to_scaled(9),
        Ok(12_345_678_901_234_567_890_123_456_789)
    );
}

#[test]
fn json_values_that_are_not_decimals_are_refused() {
    for (json, expected) in [
        (
            r#"{"consumenum": null}"#,
            "invalid type: null, expected a decimal number or string at line 1 column 20",
        ),
        (
            r#"{"consumenum": true}"#,
            "invalid type: a boolean, expected a decimal number or string at line 1 column 20",
        ),
        (
            r#"{"consumenum": [1]}"#,
            "invalid type: an array, expected a decimal number or string at line 1 column 19",
        ),
        (
            r#"{"consumenum": "33,80"}"#,
            r#"decimal "33,80" is not a number like 33.80 at line 1 column 23"#,
        ),
        (
            r#"{"consumenum": ""}"#,
            r#"decimal "" is not a number like 33.80 at line 1 column 18"#,
        ),
    ] {
        assert_eq!(from_json(json).unwrap_err(), expected, "{json}");
    }
}

#[test]
fn optional_decimals() {
    #[derive(Deserialize)]
    struct Maybe {
        #[serde(default)]
        tip: Option<Decimal>,
    }
    let some: Maybe = serde_json::from_str(r#"{"tip": "0.50"}"#).unwrap();
    assert_eq!(some.tip.map(|tip| tip.to_scaled(2)), Some(Ok(50)));
    let null: Maybe = serde_json::from_str(r#"{"tip": null}"#).unwrap();
    assert!(null.tip.is_none());
    let absent: Maybe = serde_json::from_str("{}").unwrap();
    assert!(absent.tip.is_none());
}
