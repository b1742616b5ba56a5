//! Exact decimal numbers, for money: `33.80` stays 33.80, never the binary
//! float nearest to it.
//!
//! A [`Decimal`] keeps its text as written and turns it into a fixed-point
//! integer only when asked, at the scale the caller names. Adding `0.1` and
//! `0.2` as floats gives `0.30000000000000004`; adding their scaled integers
//! gives exactly `30` hundredths.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};

/// A decimal number taken from its text: a JSON number (`33.8`, `-0.5`,
/// `1e3`) or a string holding one (`"33.80"`), so money fields keep every
/// digit whatever the producer chose to write.
///
/// Accepted text: an optional sign (`-`, or `+` inside a string), at least
/// one digit, optionally a `.` and at least one more digit, optionally an
/// exponent (`e3`, `E-2`). Leading zeros are allowed (`007.5` in a string);
/// whitespace, `.5`, `5.`, `NaN` and `Infinity` are refused.
///
/// From JSON it reads the value's raw text (serde_json's `RawValue`), so
/// it works with `record.json()` and `serde_json`, not with other formats,
/// nor inside `#[serde(flatten)]` or untagged enums, which buffer values
/// as floats first. serde_json's `arbitrary_precision` feature would also
/// keep the digits, but it changes `serde_json::Number` for every crate of
/// the build, the host included.
///
/// Equality is by value: `33.8 == 33.80 == 3.38e1`.
#[derive(Debug, Clone)]
pub struct Decimal {
    /// The number as written (a string's content, without quotes).
    text: String,
}

/// A checked decimal's text, split into its parts.
struct Parts<'a> {
    negative: bool,
    /// Digits before the point.
    integer: &'a [u8],
    /// Digits after the point (possibly none).
    fraction: &'a [u8],
    /// The power of ten written after `e`.
    exponent: i64,
}

impl Decimal {
    /// The text as written: `"33.80"` gives `33.80`, the number `1e3` gives
    /// `1e3`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The exact value times 10^`scale`, as an integer: `33.8` at scale 2 is
    /// `3380`, `1e3` at scale 2 is `100000`.
    ///
    /// Refuses, rather than rounds, a value with more decimals than `scale`
    /// (`33.805` at scale 2): rounding money silently would make totals
    /// differ from the books, so such a record is rejected with a reason
    /// and the rule's scale can be widened. Also refuses a value whose
    /// scaled integer does not fit `i128` (about 1.7e38).
    pub fn to_scaled(&self, scale: u32) -> Result<i128> {
        let parts = parse(&self.text)?;
        let digits = || parts.integer.iter().chain(parts.fraction);
        if digits().all(|&digit| digit == b'0') {
            return Ok(0);
        }
        let count = parts.integer.len() + parts.fraction.len();
        // The power of ten that turns the digits, read as one integer, into
        // the scaled value.
        let shift = i64::try_from(parts.fraction.len())
            .ok()
            .and_then(|fraction| parts.exponent.checked_sub(fraction))
            .and_then(|shift| shift.checked_add(i64::from(scale)))
            .ok_or_else(|| self.too_large(scale))?;
        let kept = if shift >= 0 {
            count
        } else {
            let dropped = usize::try_from(shift.unsigned_abs()).unwrap_or(usize::MAX);
            if dropped > count || digits().skip(count - dropped).any(|&d| d != b'0') {
                return Err(Error::msg(format!(
                    "decimal {} has more than {scale} decimals",
                    self.text
                )));
            }
            count - dropped
        };
        let mut value = 0i128;
        for &digit in digits().take(kept) {
            value = value
                .checked_mul(10)
                .and_then(|value| value.checked_add(i128::from(digit - b'0')))
                .ok_or_else(|| self.too_large(scale))?;
        }
        if shift > 0 {
            let power = u32::try_from(shift)
                .ok()
                .and_then(|shift| 10i128.checked_pow(shift))
                .ok_or_else(|| self.too_large(scale))?;
            value = value
                .checked_mul(power)
                .ok_or_else(|| self.too_large(scale))?;
        }
        Ok(if parts.negative { -value } else { value })
    }

    fn too_large(&self, scale: u32) -> Error {
        Error::msg(format!(
            "decimal {} is too large for 128 bits at {scale} decimals",
            self.text
        ))
    }

    /// The value as (negative, significant digits, power of ten of the last
    /// one), the same for every way of writing it; zero is `(false, [], 0)`.
    fn normalized(&self) -> (bool, Vec<u8>, i64) {
        let Ok(parts) = parse(&self.text) else {
            return (false, Vec::new(), 0);
        };
        let mut digits: Vec<u8> = parts
            .integer
            .iter()
            .chain(parts.fraction)
            .copied()
            .collect();
        let mut exponent = parts.exponent.saturating_sub(parts.fraction.len() as i64);
        while digits.last() == Some(&b'0') {
            digits.pop();
            exponent = exponent.saturating_add(1);
        }
        let leading = digits.iter().take_while(|&&d| d == b'0').count();
        digits.drain(..leading);
        if digits.is_empty() {
            return (false, digits, 0);
        }
        (parts.negative, digits, exponent)
    }
}

/// Checks `text` against the accepted grammar and splits it.
fn parse(text: &str) -> Result<Parts<'_>> {
    let invalid = || Error::msg(format!("decimal {text:?} is not a number like 33.80"));
    let bytes = text.as_bytes();
    let (negative, rest) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, bytes),
    };
    let run = |bytes: &[u8]| bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let integer_len = run(rest);
    let (integer, rest) = rest.split_at(integer_len);
    if integer.is_empty() {
        return Err(invalid());
    }
    let (fraction, rest) = match rest {
        [b'.', rest @ ..] => match rest.split_at(run(rest)) {
            ([], _) => return Err(invalid()),
            split => split,
        },
        _ => (&rest[..0], rest),
    };
    let exponent = match rest {
        [] => 0,
        [b'e' | b'E', exponent @ ..] => parse_exponent(exponent)
            .ok_or_else(|| Error::msg(format!("decimal {text:?} has an exponent out of range")))?,
        _ => return Err(invalid()),
    };
    Ok(Parts {
        negative,
        integer,
        fraction,
        exponent,
    })
}

/// The exponent after `e`: an optional sign and digits, within `i64`.
fn parse_exponent(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().try_fold(0i64, |value, &digit| {
        value.checked_mul(10)?.checked_add(i64::from(digit - b'0'))
    })?;
    Some(if negative { -magnitude } else { magnitude })
}

impl FromStr for Decimal {
    type Err = Error;

    /// Takes a decimal from text outside JSON, e.g. a `key=value` field.
    fn from_str(text: &str) -> Result<Self> {
        parse(text)?;
        Ok(Decimal {
            text: text.to_owned(),
        })
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = crate::json::scalar_text(deserializer, "a decimal number or string")?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Shows the number as written, so a reject reason or a log quotes the
/// producer's digits.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.normalized() == other.normalized()
    }
}

impl Eq for Decimal {}

#[cfg(test)]
mod tests;
