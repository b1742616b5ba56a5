//! Unix timestamps written as numbers: `1795256103`, `1795256103.412`,
//! `1795256103412`.

use super::fraction_millis;
use crate::parse::ParseError;

/// Splits an optional leading `-` off `text` and parses the run of digits
/// after it, refusing an empty run and anything that does not fit an `i64`.
fn signed_digits(text: &[u8]) -> Result<(bool, i64, &[u8]), ParseError> {
    let (negative, rest) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if len == 0 {
        return Err(ParseError::new("epoch time is not a number"));
    }
    let mut value = 0i64;
    for &digit in &rest[..len] {
        value = value
            .checked_mul(10)
            .and_then(|value| value.checked_add(i64::from(digit - b'0')))
            .ok_or(ParseError::new("epoch time is out of range"))?;
    }
    Ok((negative, value, &rest[len..]))
}

/// Parses Unix seconds (`1795256103`, or `1795256103.412` as nginx's `$msec`
/// writes it) to Unix milliseconds. Digits past the millisecond are dropped;
/// a sign other than a leading `-`, an exponent or anything after the number
/// is refused, so a field that is not a timestamp is not taken for one.
pub fn epoch_secs(text: &str) -> Result<i64, ParseError> {
    let (negative, secs, rest) = signed_digits(text.as_bytes())?;
    let millis = match rest {
        [] => 0,
        [b'.', fraction @ ..] => match fraction_millis(fraction) {
            (millis, len) if len > 0 && len == fraction.len() => millis,
            _ => return Err(ParseError::new("epoch time is not like 1795256103.412")),
        },
        _ => return Err(ParseError::new("epoch time is not like 1795256103.412")),
    };
    let magnitude = secs
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(i64::from(millis)))
        .ok_or(ParseError::new("epoch time is out of range"))?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Parses Unix milliseconds (`1795256103412`), the unit Java and JavaScript
/// log. Only an integer is accepted: a fraction of a millisecond means the
/// field is not in milliseconds.
pub fn epoch_millis(text: &str) -> Result<i64, ParseError> {
    match signed_digits(text.as_bytes())? {
        (negative, millis, []) => Ok(if negative { -millis } else { millis }),
        _ => Err(ParseError::new("epoch milliseconds are not an integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_with_and_without_fraction() {
        assert_eq!(epoch_secs("1795256103"), Ok(1_795_256_103_000));
        assert_eq!(epoch_secs("1795256103.412"), Ok(1_795_256_103_412));
        assert_eq!(epoch_secs("1795256103.4"), Ok(1_795_256_103_400));
        assert_eq!(epoch_secs("1795256103.4129"), Ok(1_795_256_103_412));
        assert_eq!(epoch_secs("0"), Ok(0));
        assert_eq!(epoch_secs("-1.5"), Ok(-1500));
    }

    #[test]
    fn seconds_refuse_what_is_not_a_timestamp() {
        for bad in [
            "",
            "-",
            "+5",
            "1e9",
            "1795256103.",
            "1795256103.4x",
            "1795256103 ",
            " 1795256103",
            "17952561O3",
            "9223372036854775807",
            "99999999999999999999",
        ] {
            assert!(epoch_secs(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn milliseconds_are_integers() {
        assert_eq!(epoch_millis("1795256103412"), Ok(1_795_256_103_412));
        assert_eq!(epoch_millis("-5"), Ok(-5));
        assert_eq!(epoch_millis("9223372036854775807"), Ok(i64::MAX));
        for bad in ["", "1.5", "1e3", "9223372036854775808", "12ms"] {
            assert!(epoch_millis(bad).is_err(), "{bad:?}");
        }
    }
}
