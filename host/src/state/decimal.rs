//! Exact fixed-point numbers for `decimal-sum` and `avg`: decimal text in,
//! `i128` units of 10^-scale inside, decimal text out. No binary float is
//! ever on the path, so money adds up to the cent.

/// Why a measure could not be taken as a decimal at a metric's scale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not `-`? digits [`.` digits].
    #[error("{0:?} is not a decimal number")]
    NotDecimal(String),
    /// More (non-zero) digits after the point than the metric keeps.
    #[error("{text:?} has more than {scale} digits after the point")]
    TooPrecise {
        /// The input.
        text: String,
        /// The metric's scale.
        scale: u8,
    },
    /// Outside the range of 128-bit units.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// 10^scale for scales up to 38.
fn pow10(scale: u8) -> i128 {
    10_i128.pow(u32::from(scale))
}

/// Whether `text` is a decimal number: `-`? digits [`.` digits], no
/// exponent (what `decimal` measures and alert thresholds are written as).
pub fn is_decimal(text: &str) -> bool {
    !matches!(parse_units(text, 0), Err(DecimalError::NotDecimal(_)))
}

/// Parses decimal text (`-`? digits [`.` digits], no exponent) into units of
/// 10^-`scale`. Digits past the scale are allowed only when they are zeros
/// (`33.80` at scale 1): nothing is ever rounded.
pub fn parse_units(text: &str, scale: u8) -> Result<i128, DecimalError> {
    let not_decimal = || DecimalError::NotDecimal(text.to_owned());
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(not_decimal());
    }
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|b| b.is_ascii_digit())
        || (digits.contains('.') && (whole.is_empty() || fraction.is_empty()))
    {
        return Err(not_decimal());
    }
    let kept = fraction.len().min(usize::from(scale));
    if fraction[kept..].bytes().any(|b| b != b'0') {
        return Err(DecimalError::TooPrecise {
            text: text.to_owned(),
            scale,
        });
    }
    let too_large = || DecimalError::TooLarge(text.to_owned());
    let mut units: i128 = 0;
    for b in whole.bytes().chain(fraction[..kept].bytes()) {
        units = units
            .checked_mul(10)
            .and_then(|u| u.checked_add(i128::from(b - b'0')))
            .ok_or_else(too_large)?;
    }
    units = units
        .checked_mul(pow10(scale - kept as u8))
        .ok_or_else(too_large)?;
    Ok(if negative { -units } else { units })
}

/// Takes a number through its shortest decimal text (Rust's `{}` of an
/// `f64`: the digits that read back as the same double, no exponent), so
/// `33.8` is 3380 cents, never 3379.
pub fn number_units(x: f64, scale: u8) -> Result<i128, DecimalError> {
    if !x.is_finite() {
        return Err(DecimalError::NotDecimal(x.to_string()));
    }
    parse_units(&format!("{x}"), scale)
}

/// Writes units of 10^-`scale` as decimal text with exactly `scale` digits
/// after the point (`61179534` at scale 2 is `611795.34`).
pub fn format_units(units: i128, scale: u8) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.unsigned_abs();
    if scale == 0 {
        return format!("{sign}{abs}");
    }
    let unit = pow10(scale).unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = usize::from(scale)
    )
}

/// `units / count`, rounded half to even (banker's rounding, as SQL's
/// exact numerics and Java's `BigDecimal` HALF_EVEN): the mean at the same
/// scale as the sum.
pub fn mean_units(units: i128, count: u64) -> Option<i128> {
    if count == 0 {
        return None;
    }
    let count = i128::from(count);
    let quotient = units / count;
    let remainder = (units % count).abs();
    let step = if units < 0 { -1 } else { 1 };
    Some(match (2 * remainder).cmp(&count) {
        std::cmp::Ordering::Less => quotient,
        std::cmp::Ordering::Greater => quotient + step,
        std::cmp::Ordering::Equal if quotient % 2 == 0 => quotient,
        std::cmp::Ordering::Equal => quotient + step,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_is_exact() {
        assert_eq!(parse_units("33.8", 2), Ok(3380));
        assert_eq!(parse_units("-0.05", 2), Ok(-5));
        assert_eq!(parse_units("7", 2), Ok(700));
        assert_eq!(parse_units("33.80", 1), Ok(338));
        assert!(matches!(
            parse_units("33.81", 1),
            Err(DecimalError::TooPrecise { .. })
        ));
        for bad in ["", "-", "1e5", "1.", ".5", "1.2.3", "12a", "NaN"] {
            assert!(parse_units(bad, 2).is_err(), "{bad:?}");
        }
        assert_eq!(number_units(33.8, 2), Ok(3380));
        assert!(number_units(0.1 + 0.2, 2).is_err());
        assert_eq!(format_units(61_179_534, 2), "611795.34");
        assert_eq!(format_units(-5, 2), "-0.05");
        assert_eq!(format_units(42, 0), "42");
    }

    #[test]
    fn means_round_half_to_even() {
        assert_eq!(mean_units(5, 2), Some(2));
        assert_eq!(mean_units(7, 2), Some(4));
        assert_eq!(mean_units(-5, 2), Some(-2));
        assert_eq!(mean_units(-7, 2), Some(-4));
        assert_eq!(mean_units(10, 3), Some(3));
        assert_eq!(mean_units(11, 3), Some(4));
        assert_eq!(mean_units(1, 0), None);
    }
}
