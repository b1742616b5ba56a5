//! RFC 3339 timestamps, the zone-carrying form JSON logs use:
//! `2026-11-21T10:15:03Z`, `2026-11-21T18:15:03.412+08:00`.

use super::{civil_to_ms, digits, fraction_millis};
use crate::parse::ParseError;

const NOT_RFC3339: ParseError = ParseError::new("timestamp is not like 2026-11-21T10:15:03Z");

/// Parses an RFC 3339 timestamp to Unix milliseconds, honouring its zone.
///
/// Accepted: `T`, `t` or a space between date and time (RFC 3339 allows
/// the space); an optional fraction of any length (digits past the
/// millisecond are dropped); the zone as `Z`, `z`, `+08:00`, or `+0800` as
/// Java's `Z` pattern writes it. The zone is required, since without it the
/// instant is unknown (use
/// [`parse_datetime_with_offset`](super::parse_datetime_with_offset) for
/// zoneless logs), and the text must end after it. Leap seconds (`:60`)
/// are refused like any other impossible time.
pub fn parse_rfc3339(text: &str) -> Result<i64, ParseError> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(NOT_RFC3339);
    }
    let year = i64::from(digits(&b[0..4])?);
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let (millis, zone) = match &b[19..] {
        [b'.', rest @ ..] => match fraction_millis(rest) {
            (_, 0) => return Err(NOT_RFC3339),
            (millis, len) => (millis, &rest[len..]),
        },
        rest => (0, rest),
    };
    let local = civil_to_ms(year, month, day, hour, minute, second, millis)?;
    Ok(local - zone_offset_secs(zone)? * 1000)
}

/// The zone's offset east of UTC in seconds: `Z`, `±hh:mm` or `±hhmm`.
fn zone_offset_secs(zone: &[u8]) -> Result<i64, ParseError> {
    let (sign, hours, minutes) = match zone {
        [b'Z' | b'z'] => return Ok(0),
        [sign, h1, h2, b':', m1, m2] | [sign, h1, h2, m1, m2] => {
            (sign, digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
        }
        _ => {
            return Err(ParseError::new(
                "timestamp zone must be Z, +hh:mm or -hh:mm",
            ));
        }
    };
    if hours > 23 || minutes > 59 {
        return Err(ParseError::new("timestamp zone is out of range"));
    }
    let secs = i64::from(hours * 3600 + minutes * 60);
    match sign {
        b'+' => Ok(secs),
        b'-' => Ok(-secs),
        _ => Err(ParseError::new(
            "timestamp zone must be Z, +hh:mm or -hh:mm",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-21T10:15:03Z.
    const AT: i64 = 1_795_256_103_000;

    #[test]
    fn utc_and_offsets_name_the_same_instant() {
        assert_eq!(parse_rfc3339("2026-11-21T10:15:03Z"), Ok(AT));
        assert_eq!(parse_rfc3339("2026-11-21t10:15:03z"), Ok(AT));
        assert_eq!(parse_rfc3339("2026-11-21 10:15:03Z"), Ok(AT));
        assert_eq!(parse_rfc3339("2026-11-21T18:15:03+08:00"), Ok(AT));
        assert_eq!(parse_rfc3339("2026-11-21T18:15:03+0800"), Ok(AT));
        assert_eq!(parse_rfc3339("2026-11-21T04:45:03-05:30"), Ok(AT));
        assert_eq!(parse_rfc3339("2026-11-21T10:15:03+00:00"), Ok(AT));
        assert_eq!(parse_rfc3339("2026-11-22T00:15:03+14:00"), Ok(AT));
    }

    #[test]
    fn fractions_of_any_length() {
        assert_eq!(parse_rfc3339("2026-11-21T10:15:03.4Z"), Ok(AT + 400));
        assert_eq!(parse_rfc3339("2026-11-21T10:15:03.412Z"), Ok(AT + 412));
        assert_eq!(
            parse_rfc3339("2026-11-21T18:15:03.412999999+08:00"),
            Ok(AT + 412)
        );
    }

    #[test]
    fn offsets_cross_days_years_and_leap_days() {
        assert_eq!(
            parse_rfc3339("2027-01-01T07:00:00+08:00"),
            parse_rfc3339("2026-12-31T23:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2028-02-29T23:30:00-01:00"),
            parse_rfc3339("2028-03-01T00:30:00Z")
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Ok(-500));
    }

    #[test]
    fn refuses_impossible_or_zoneless_times() {
        for bad in [
            "2026-02-29T10:00:00Z",
            "2026-02-30T10:00:00Z",
            "1900-02-29T10:00:00Z",
            "2026-11-21T10:15:60Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T10:15:03",
            "2026-11-21T10:15:03.Z",
            "2026-11-21T10:15:03+8:00",
            "2026-11-21T10:15:03+24:00",
            "2026-11-21T10:15:03+08:60",
            "2026-11-21T10:15:03*08:00",
            "2026-11-21T10:15:03Z INFO",
            "2026-11-21_10:15:03Z",
            "2026-11-21",
            "",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?}");
        }
        assert!(parse_rfc3339("2000-02-29T10:00:00Z").is_ok());
    }
}
