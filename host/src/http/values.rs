//! Published values as JSON, written from the text Redis holds.
//!
//! Values are stored as decimal strings (`33.8`, `611795.34`, a count).
//! They are served as JSON numbers whose text is exactly the stored text,
//! never parsed into a double and printed again, so a `decimal-sum` of
//! money keeps every digit (a client that parses JSON numbers as doubles
//! may still round; it can read the raw text). A stored value that is not
//! a JSON number (it should not happen) is served as a string.

use serde_json::value::RawValue;

/// The stored text as a JSON number, or a JSON string if it is not one.
pub fn number(text: &str) -> Box<RawValue> {
    if is_json_number(text)
        && let Ok(raw) = RawValue::from_string(text.to_owned())
    {
        return raw;
    }
    let quoted = serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned());
    RawValue::from_string(quoted).unwrap_or_else(|_| null())
}

fn null() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

/// Whether `text` is a number by JSON's grammar:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
pub fn is_json_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    if bytes.first() == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    let int_len = digits(&mut i);
    if int_len == 0 || (int_len > 1 && bytes[int_start] == b'0') {
        return false;
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_decimals_are_served_digit_for_digit() {
        for text in [
            "0",
            "42",
            "-0.5",
            "33.8",
            "611795.34",
            "0.10",
            "12345678901234567890.123456789",
        ] {
            assert!(is_json_number(text), "{text}");
            assert_eq!(number(text).get(), text);
        }
    }

    #[test]
    fn text_that_is_not_a_number_becomes_a_string() {
        for text in ["", "-", "01", "1.", ".5", "NaN", "inf", "1e", "1 ", "abc"] {
            assert!(!is_json_number(text), "{text}");
            let served: String = serde_json::from_str(number(text).get()).unwrap();
            assert_eq!(served, text);
        }
    }
}
