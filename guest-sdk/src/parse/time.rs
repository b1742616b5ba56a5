//! Timestamps of common log formats, to Unix milliseconds.
//!
//! Every parser returns epoch milliseconds as `i64`, the unit the emitter's
//! event times use, and refuses impossible dates (`2026-02-30`) instead of
//! rolling them over, so a bad line is rejected rather than counted in the
//! wrong window.

mod epoch;
mod rfc3339;

pub use epoch::{epoch_millis, epoch_secs};
pub use rfc3339::parse_rfc3339;

use std::cell::Cell;

use super::ParseError;

/// The number (1-12) of an English month abbreviation. A `match` compiles
/// to a few byte compares, where a search of a table of names calls a
/// comparison per month tried.
fn month_number(name: &[u8]) -> Option<u32> {
    Some(match name {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), valid for every year a log can carry.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn digits(bytes: &[u8]) -> Result<u32, ParseError> {
    let mut value = 0u32;
    for &byte in bytes {
        if !byte.is_ascii_digit() {
            return Err(ParseError::new("expected a digit in the timestamp"));
        }
        value = value * 10 + u32::from(byte - b'0');
    }
    Ok(value)
}

/// Milliseconds of the fraction of a second at the start of `bytes` (its
/// leading digits: `5` is 500, `123456` is 123; digits past the millisecond
/// are dropped, never rounded up into the next second), and how many digits
/// it had.
fn fraction_millis(bytes: &[u8]) -> (u32, usize) {
    let len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let millis = bytes[..len]
        .iter()
        .chain(b"000")
        .take(3)
        .fold(0, |millis, &digit| millis * 10 + u32::from(digit - b'0'));
    (millis, len)
}

/// A calendar date and time of day, checked for range, as Unix milliseconds.
fn civil_to_ms(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
) -> Result<i64, ParseError> {
    day_time_ms(
        checked_days(year, month, day)?,
        hour,
        minute,
        second,
        millis,
    )
}

/// Days since 1970-01-01 of a date checked to be on the calendar.
fn checked_days(year: i64, month: u32, day: u32) -> Result<i64, ParseError> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(ParseError::new("the timestamp is not a calendar date"));
    }
    Ok(days_from_civil(year, month, day))
}

/// Unix milliseconds of a time of day, checked for range, on day `days`
/// since 1970-01-01.
fn day_time_ms(
    days: i64,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
) -> Result<i64, ParseError> {
    if hour > 23 || minute > 59 || second > 59 {
        return Err(ParseError::new("the timestamp is not a time of day"));
    }
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Ok(secs * 1000 + i64::from(millis))
}

thread_local! {
    /// The date part (`21/Nov/2026`) of the last access-log timestamp
    /// parsed on this thread, and its day number. Log lines come in time
    /// order, so most repeat the last line's date: reading and checking the
    /// date and counting its days (divisions, each a library call on
    /// wasm32 for 64 bits) were a tenth of pvuv's rule call. Only dates
    /// found valid are kept, so a line gets the same result, and the same
    /// error, as without it.
    static LAST_CLF_DATE: Cell<Option<([u8; 11], i64)>> = const { Cell::new(None) };
}

/// The date of an access-log timestamp: its day number, known from the
/// last line, or its fields, still to check.
enum ClfDate {
    Known(i64),
    Fields { year: i64, month: u32, day: u32 },
}

/// Parses the access-log timestamp `21/Nov/2026:10:00:00 +0800` (without the
/// brackets) to Unix milliseconds, honouring its zone offset.
pub fn parse_clf_time(text: &str) -> Result<i64, ParseError> {
    let b = text.as_bytes();
    if b.len() != 26
        || b[2] != b'/'
        || b[6] != b'/'
        || b[11] != b':'
        || b[14] != b':'
        || b[17] != b':'
        || b[20] != b' '
    {
        return Err(ParseError::new(
            "timestamp is not like 21/Nov/2026:10:00:00 +0800",
        ));
    }
    let mut date_text = [0u8; 11];
    date_text.copy_from_slice(&b[..11]);
    let date = match LAST_CLF_DATE.with(Cell::get) {
        Some((last, days)) if last == date_text => ClfDate::Known(days),
        _ => ClfDate::Fields {
            day: digits(&b[0..2])?,
            month: month_number(&b[3..6])
                .ok_or(ParseError::new("unknown month in the timestamp"))?,
            year: i64::from(digits(&b[7..11])?),
        },
    };
    let hour = digits(&b[12..14])?;
    let minute = digits(&b[15..17])?;
    let second = digits(&b[18..20])?;
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return Err(ParseError::new("timestamp zone must be +hhmm or -hhmm")),
    };
    let zone_hours = digits(&b[22..24])?;
    let zone_minutes = digits(&b[24..26])?;
    if zone_hours > 23 || zone_minutes > 59 {
        return Err(ParseError::new("timestamp zone is out of range"));
    }
    let days = match date {
        ClfDate::Known(days) => days,
        ClfDate::Fields { year, month, day } => {
            let days = checked_days(year, month, day)?;
            LAST_CLF_DATE.with(|last| last.set(Some((date_text, days))));
            days
        }
    };
    let local = day_time_ms(days, hour, minute, second, 0)?;
    let offset_ms = sign * i64::from(zone_hours * 3600 + zone_minutes * 60) * 1000;
    Ok(local - offset_ms)
}

/// Parses `2026-11-21 10:00:00,123`, `2026-11-21 10:00:00.123`,
/// `2026-11-21 10:00:00` or `2026-11-21T10:00:00` as UTC to Unix milliseconds.
/// The fraction after `,` or `.` may have any number of digits (`.5` is 500
/// ms; digits past the millisecond are dropped). Anything after the seconds
/// (or their fraction) is ignored, so a log line's timestamp can be parsed
/// from the line's start; a zone written there is ignored too, so use
/// [`parse_rfc3339`] for text that carries one.
pub fn parse_datetime(text: &str) -> Result<i64, ParseError> {
    parse_datetime_with_offset(text, 0)
}

/// Like [`parse_datetime`] for local times `offset_secs` east of UTC
/// (28800 for UTC+8): for logs whose timestamps carry no zone, the offset
/// comes from the rule's config.
pub fn parse_datetime_with_offset(text: &str, offset_secs: i64) -> Result<i64, ParseError> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(ParseError::new("timestamp is not like 2026-11-21 10:00:00"));
    }
    let year = i64::from(digits(&b[0..4])?);
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let millis = match b.get(19) {
        Some(b',' | b'.') => fraction_millis(&b[20..]).0,
        _ => 0,
    };
    Ok(civil_to_ms(year, month, day, hour, minute, second, millis)? - offset_secs * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_21_2026_UTC_MS: i64 = 1_795_219_200_000;

    #[test]
    fn epoch_day_arithmetic() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            days_from_civil(2026, 11, 21) * 86_400_000,
            NOV_21_2026_UTC_MS
        );
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn clf_time_honours_the_zone() {
        let utc = parse_clf_time("21/Nov/2026:10:00:00 +0000").unwrap();
        assert_eq!(utc, NOV_21_2026_UTC_MS + 10 * 3_600_000);
        let east = parse_clf_time("21/Nov/2026:10:00:00 +0800").unwrap();
        assert_eq!(east, NOV_21_2026_UTC_MS + 2 * 3_600_000);
        let west = parse_clf_time("21/Nov/2026:10:00:00 -0130").unwrap();
        assert_eq!(west, NOV_21_2026_UTC_MS + 11 * 3_600_000 + 30 * 60_000);
    }

    /// The date kept from the last line changes no result and no error:
    /// every timestamp of a sequence that repeats dates, with good and bad
    /// times after them and bad dates between, parses as it does with
    /// nothing kept.
    #[test]
    fn clf_time_from_the_last_date_equals_clf_time_from_scratch() {
        let texts = [
            "21/Nov/2026:10:00:00 +0800",
            "21/Nov/2026:23:59:59 -0130",
            "21/Nov/2026:24:00:00 +0800",
            "21/Nov/2026:1x:00:00 +0800",
            "21/Nov/2026:10:00:00 *0800",
            "21/Nov/2026:10:00:00 +2400",
            "31/Nov/2026:10:00:00 +0800",
            "31/Nov/2026:1x:00:00 +0800",
            "21/Nov/2026:10:61:00 +0000",
            "22/Nov/2026:00:00:00 +0000",
            "21/Nov/2026:10:00:00 +0800",
            "29/Feb/2027:10:00:00 +0000",
            "29/Feb/2028:10:00:00 +0000",
            "29/Feb/2028:10:00:00 +0000",
            "2x/Feb/2028:10:00:00 +0000",
        ];
        let from_scratch: Vec<_> = texts
            .iter()
            .map(|text| {
                LAST_CLF_DATE.with(|last| last.set(None));
                parse_clf_time(text)
            })
            .collect();
        LAST_CLF_DATE.with(|last| last.set(None));
        for (text, expected) in texts.iter().zip(&from_scratch) {
            assert_eq!(&parse_clf_time(text), expected, "{text}");
        }
        assert_eq!(
            from_scratch[7],
            Err(ParseError::new("expected a digit in the timestamp")),
            "a bad time is found before a bad date, as ever"
        );
    }

    #[test]
    fn clf_time_refuses_impossible_dates() {
        for bad in [
            "32/Nov/2026:10:00:00 +0000",
            "29/Feb/2026:10:00:00 +0000",
            "21/Foo/2026:10:00:00 +0000",
            "21/Nov/2026:24:00:00 +0000",
            "21/Nov/2026:10:00:00 0800",
            "21/Nov/2026:10:00:00",
            "",
        ] {
            assert!(parse_clf_time(bad).is_err(), "{bad}");
        }
        assert!(parse_clf_time("29/Feb/2028:10:00:00 +0000").is_ok());
    }

    #[test]
    fn clf_time_knows_every_month_by_its_exact_name() {
        let names = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        for (month, name) in (1..).zip(names) {
            let text = format!("01/{name}/2026:00:00:00 +0000");
            let expected = days_from_civil(2026, month, 1) * 86_400_000;
            assert_eq!(parse_clf_time(&text), Ok(expected), "{text}");
        }
        for name in ["nov", "NOV", "Nob", "Mai", "Dez", "Ja1"] {
            let text = format!("01/{name}/2026:00:00:00 +0000");
            let refused = parse_clf_time(&text).unwrap_err();
            assert_eq!(refused.what(), "unknown month in the timestamp", "{text}");
        }
    }

    #[test]
    fn datetime_formats() {
        let base = NOV_21_2026_UTC_MS + 10 * 3_600_000;
        assert_eq!(
            parse_datetime("2026-11-21 10:00:00,123").unwrap(),
            base + 123
        );
        assert_eq!(parse_datetime("2026-11-21 10:00:00.5").unwrap(), base + 500);
        assert_eq!(
            parse_datetime("2026-11-21 10:00:00.123456 INFO").unwrap(),
            base + 123
        );
        assert_eq!(parse_datetime("2026-11-21 10:00:00.x").unwrap(), base);
        assert_eq!(parse_datetime("2026-11-21 10:00:00").unwrap(), base);
        assert_eq!(parse_datetime("2026-11-21T10:00:00 INFO").unwrap(), base);
        assert_eq!(
            parse_datetime_with_offset("2026-11-21 10:00:00", 8 * 3600).unwrap(),
            base - 8 * 3_600_000
        );
        assert_eq!(
            parse_datetime_with_offset("2026-11-21 10:00:00,250", -5 * 3600).unwrap(),
            base + 5 * 3_600_000 + 250
        );
        assert!(parse_datetime("2026-13-21 10:00:00").is_err());
        assert!(parse_datetime("2026-11-21").is_err());
    }

    #[test]
    fn datetime_refuses_impossible_dates_and_knows_leap_years() {
        for bad in [
            "2026-02-29 10:00:00",
            "2026-02-30 10:00:00",
            "2100-02-29 10:00:00",
            "2026-04-31 10:00:00",
            "2026-11-00 10:00:00",
            "2026-11-21 24:00:00",
            "2026-11-21 10:60:00",
            "2026-11-21 10:00:60",
            "2026-1x-21 10:00:00",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
        for good in ["2028-02-29 10:00:00", "2000-02-29 00:00:00"] {
            assert!(parse_datetime(good).is_ok(), "{good}");
        }
        assert_eq!(
            parse_datetime("2028-03-01 00:00:00").unwrap()
                - parse_datetime("2028-02-28 00:00:00").unwrap(),
            2 * 86_400_000
        );
    }
}
