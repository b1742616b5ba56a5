//! The access-log line reading of the `pvuv` rule, reduced to what pvuv uses
//! (client and event time) and written for speed: `memchr` for the field
//! ends, a hand-written IPv4 check, no allocation.
//!
//! It accepts exactly the lines `weir_sdk::parse::AccessLog::parse` accepts
//! (`guest-sdk/src/parse/access.rs`): a line it accepted and the SDK did
//! not would make the baseline count lines weir rejects, and the comparison
//! in `scripts/bench.sh` would say so.

use std::net::IpAddr;

use memchr::memchr;

/// What pvuv takes from a valid line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access<'a> {
    /// The client address as written (pvuv's distinct member).
    pub client: &'a [u8],
    /// Event time, Unix milliseconds.
    pub time_ms: i64,
}

/// Reads one line (UTF-8, without its line ending); `None` when pvuv would
/// reject it.
pub fn parse(line: &str) -> Option<Access<'_>> {
    let mut rest = line.as_bytes();
    let client = word(&mut rest)?;
    if !is_ip(client) {
        return None;
    }
    word(&mut rest)?; // ident
    word(&mut rest)?; // user
    rest = rest.strip_prefix(b"[")?;
    let time_ms = clf_time_ms(rest.get(..26)?)?;
    rest = rest[26..].strip_prefix(b"] ")?;
    quoted(&mut rest)?; // request
    rest = rest.strip_prefix(b" ")?;
    let status = word(&mut rest)?;
    if status.len() != 3 || !status.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (bytes, tail) = match memchr(b' ', rest) {
        Some(end) => (&rest[..end], Some(&rest[end..])),
        None => (rest, None),
    };
    if bytes != b"-" && !is_u64(bytes) {
        return None;
    }
    if let Some(mut tail) = tail {
        tail = tail.strip_prefix(b" ")?;
        quoted(&mut tail)?; // referer
        tail = tail.strip_prefix(b" ")?;
        quoted(&mut tail)?; // user agent
        if !tail.is_empty() {
            return None;
        }
    }
    Some(Access { client, time_ms })
}

/// A non-empty run without white space up to the next single space, which
/// is consumed. Printable ASCII needs no Unicode white-space check.
fn word<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let end = memchr(b' ', rest)?;
    let word = &rest[..end];
    if word.is_empty() {
        return None;
    }
    if !word.iter().all(|b| (0x21..0x80).contains(b)) {
        // The line is valid UTF-8 and `end` is at a space, so this is too.
        let text = std::str::from_utf8(word).ok()?;
        if text.contains(char::is_whitespace) {
            return None;
        }
    }
    *rest = &rest[end + 1..];
    Some(word)
}

/// `"..."`, up to the next quote, consumed with both quotes.
fn quoted<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let inner = rest.strip_prefix(b"\"")?;
    let end = memchr(b'"', inner)?;
    *rest = &inner[end + 1..];
    Some(&inner[..end])
}

/// Non-empty ASCII digits whose value fits a `u64` (the SDK parses the byte
/// count and rejects an overflow).
fn is_u64(digits: &[u8]) -> bool {
    !digits.is_empty()
        && digits
            .iter()
            .try_fold(0u64, |value, &d| {
                d.is_ascii_digit()
                    .then_some(())
                    .and_then(|()| value.checked_mul(10))
                    .and_then(|v| v.checked_add(u64::from(d - b'0')))
            })
            .is_some()
}

/// An IPv4 or IPv6 address as `std` reads one (what the SDK calls). Dotted
/// decimal takes a fast path; anything else goes to `std`.
fn is_ip(text: &[u8]) -> bool {
    if text.iter().all(|&b| b == b'.' || b.is_ascii_digit()) {
        return is_ipv4(text);
    }
    std::str::from_utf8(text).is_ok_and(|text| text.parse::<IpAddr>().is_ok())
}

/// Four decimal octets 0-255 without leading zeros, as `Ipv4Addr::from_str`.
fn is_ipv4(text: &[u8]) -> bool {
    let mut octets = 0;
    for part in text.split(|&b| b == b'.') {
        octets += 1;
        let ok = match part {
            [_] => true,
            [b'0', ..] => false,
            [_, _] => true,
            [a, b, c] => {
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0') <= 255
            }
            _ => false,
        };
        if !ok || octets > 4 {
            return false;
        }
    }
    octets == 4
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `21/Nov/2026:10:00:00 +0800` to Unix milliseconds; `None` for anything
/// but a real calendar time with a zone of at most 23:59.
fn clf_time_ms(b: &[u8]) -> Option<i64> {
    if b.len() != 26
        || b[2] != b'/'
        || b[6] != b'/'
        || b[11] != b':'
        || b[14] != b':'
        || b[17] != b':'
        || b[20] != b' '
    {
        return None;
    }
    let day = digits(&b[0..2])?;
    let month = MONTHS.iter().position(|name| name[..] == b[3..6])? as u32 + 1;
    let year = i64::from(digits(&b[7..11])?);
    let (hour, minute, second) = (
        digits(&b[12..14])?,
        digits(&b[15..17])?,
        digits(&b[18..20])?,
    );
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (zone_hours, zone_minutes) = (digits(&b[22..24])?, digits(&b[24..26])?);
    if zone_hours > 23 || zone_minutes > 59 {
        return None;
    }
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - sign * i64::from(zone_hours * 3600 + zone_minutes * 60);
    Some(secs * 1000)
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |value, &b| {
        b.is_ascii_digit().then(|| value * 10 + u32::from(b - b'0'))
    })
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"10.0.0.1 - frank [21/Nov/2026:10:00:00 +0800] "GET /a.html HTTP/1.1" 200 2326 "http://x/" "Mozilla/5.0 (X11)""#;

    #[test]
    fn combined_and_common_lines() {
        let got = parse(LINE).unwrap();
        assert_eq!(got.client, b"10.0.0.1");
        assert_eq!(got.time_ms, 1_795_219_200_000 + 2 * 3_600_000);
        let common =
            parse(r#"::1 - - [21/Nov/2026:10:00:30 +0000] "GET / HTTP/1.0" 304 -"#).unwrap();
        assert_eq!(common.client, b"::1");
    }

    /// The SDK's own refusals (guest-sdk/src/parse/access.rs), plus the
    /// edges of this file's fast paths.
    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            "",
            "garbage",
            r#"10.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200"#,
            r#"host.example - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 1"#,
            r#"10.0.0.1 - - [32/Foo/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 1"#,
            r#"10.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1 200 1"#,
            r#"10.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 20 1"#,
            r#"10.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 1 "r" "ua" x"#,
            r#"10.0.0.1  - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 1"#,
            r#"10.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 1 "r""#,
            r#"10.0.0.1 - - [29/Feb/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 1"#,
            r#"10.0.0.1 - - [21/Nov/2026:10:00:00 +2400] "GET / HTTP/1.1" 200 1"#,
            r#"10.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 99999999999999999999"#,
            "10.0.0.1 -\u{a0}x - [21/Nov/2026:10:00:00 +0800] \"GET / HTTP/1.1\" 200 1",
        ] {
            assert!(parse(bad).is_none(), "accepted {bad:?}");
        }
        assert!(
            parse(r#"10.0.0.1 - - [29/Feb/2028:10:00:00 +0800] "GET / HTTP/1.1" 200 18446744073709551615"#)
                .is_some()
        );
    }

    #[test]
    fn ipv4_fast_path_agrees_with_std() {
        let mut cases: Vec<String> = [
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.",
            ".1.2.3",
            "300.1.1.1",
            "299.1.1.1",
            "1.2.3.04",
            "",
            "1234.1.1.1",
            "9.9.9.9",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for a in 0..=300 {
            cases.push(format!("{a}.1.{a}.0"));
            cases.push(format!("1.0{a}.2.3"));
        }
        for case in cases {
            let std_says = case.parse::<std::net::Ipv4Addr>().is_ok();
            assert_eq!(is_ip(case.as_bytes()), std_says, "{case:?}");
        }
    }

    #[test]
    fn days_match_a_known_date() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 11, 21), 20_778);
    }
}
