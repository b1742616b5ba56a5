//! nginx / Apache access log lines (combined and common formats).

use std::net::IpAddr;

use super::ParseError;
use super::scan::{find_byte, find_unplain};
use super::time::parse_clf_time;

/// One access log line, borrowed from the record.
///
/// Accepted shape (the combined format; the common format is the same without
/// the two last quoted fields):
/// `client ident user [21/Nov/2026:10:00:00 +0800] "request" status bytes "referer" "user-agent"`.
/// The client must be an IPv4 or IPv6 address and the timestamp a real
/// calendar time; fields are separated by single spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessLog<'a> {
    /// Client address, as written.
    pub client: &'a str,
    /// `ident` field (usually `-`).
    pub ident: &'a str,
    /// Authenticated user (usually `-`).
    pub user: &'a str,
    /// Request time, Unix milliseconds.
    pub time_ms: i64,
    /// The request line, e.g. `GET /index.html HTTP/1.1`.
    pub request: &'a str,
    /// HTTP status.
    pub status: u16,
    /// Response body size; `None` for `-`.
    pub bytes: Option<u64>,
    /// Referer, in the combined format.
    pub referer: Option<&'a str>,
    /// User agent, in the combined format.
    pub user_agent: Option<&'a str>,
}

/// A cursor over a line that takes fields off its front.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    /// Takes a non-empty run of non-whitespace up to the next single space.
    ///
    /// A word of printable ASCII, which holds no whitespace, ends at the
    /// first byte that is not printable ASCII, found 8 bytes a step: the
    /// space. Any other byte there (a control or non-ASCII byte) takes the
    /// byte loop with the Unicode check. (Inside wasm a byte loop paid a
    /// call deadline's check per byte of a client address.)
    fn word(&mut self, what: &'static str) -> Result<&'a str, ParseError> {
        let bytes = self.rest.as_bytes();
        let end = find_unplain(bytes).ok_or(ParseError::new(what))?;
        if bytes.get(end) != Some(&b' ') {
            return self.unusual_word(what);
        }
        if end == 0 {
            return Err(ParseError::new(what));
        }
        let word = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        Ok(word)
    }

    /// [`Cursor::word`] for a word with bytes other than printable ASCII:
    /// one pass finds the space and notes whether the bytes before it are
    /// all printable ASCII; only other bytes need the Unicode check.
    fn unusual_word(&mut self, what: &'static str) -> Result<&'a str, ParseError> {
        let bytes = self.rest.as_bytes();
        let mut end = 0;
        let mut plain = true;
        loop {
            match bytes.get(end) {
                Some(b' ') => break,
                Some(&byte) => plain &= (0x21..0x80).contains(&byte),
                None => return Err(ParseError::new(what)),
            }
            end += 1;
        }
        let word = &self.rest[..end];
        if word.is_empty() || (!plain && word.contains(char::is_whitespace)) {
            return Err(ParseError::new(what));
        }
        self.rest = &self.rest[end + 1..];
        Ok(word)
    }

    fn expect(&mut self, prefix: &str, what: &'static str) -> Result<(), ParseError> {
        self.rest = self
            .rest
            .strip_prefix(prefix)
            .ok_or(ParseError::new(what))?;
        Ok(())
    }

    /// Takes everything up to the next `"` (quoted fields hold no quotes).
    fn quoted(&mut self, what: &'static str) -> Result<&'a str, ParseError> {
        self.expect("\"", what)?;
        let end = find_byte(b'"', self.rest.as_bytes()).ok_or(ParseError::new(what))?;
        let field = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        Ok(field)
    }
}

impl<'a> AccessLog<'a> {
    /// Parses one line (without its line ending).
    pub fn parse(line: &'a str) -> Result<Self, ParseError> {
        let mut cur = Cursor { rest: line };
        let client = cur.word("missing client address")?;
        if !is_ip_address(client) {
            return Err(ParseError::new("client is not an IP address"));
        }
        let ident = cur.word("missing ident field")?;
        let user = cur.word("missing user field")?;
        cur.expect("[", "missing [timestamp]")?;
        let time_text = cur
            .rest
            .get(..26)
            .ok_or(ParseError::new("truncated timestamp"))?;
        let time_ms = parse_clf_time(time_text)?;
        cur.rest = &cur.rest[26..];
        cur.expect("] ", "missing ] after the timestamp")?;
        let request = cur.quoted("missing quoted request")?;
        cur.expect(" ", "missing status")?;
        let status_text = cur.word("missing status")?;
        let status = match status_text.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
            }
            _ => return Err(ParseError::new("status is not three digits")),
        };
        let (bytes_text, tail) = match find_byte(b' ', cur.rest.as_bytes()) {
            Some(end) => (&cur.rest[..end], Some(&cur.rest[end..])),
            None => (cur.rest, None),
        };
        let bytes = match bytes_text {
            "-" => None,
            digits if !digits.is_empty() && digits.bytes().all(|d| d.is_ascii_digit()) => {
                Some(decimal_u64(digits).ok_or(ParseError::new("byte count is too large"))?)
            }
            _ => return Err(ParseError::new("byte count is not a number or -")),
        };
        let (referer, user_agent) = match tail {
            None => (None, None),
            Some(tail) => {
                let mut cur = Cursor { rest: tail };
                cur.expect(" ", "bad referer")?;
                let referer = cur.quoted("missing quoted referer")?;
                cur.expect(" ", "missing user agent")?;
                let user_agent = cur.quoted("missing quoted user agent")?;
                if !cur.rest.is_empty() {
                    return Err(ParseError::new("unexpected text after the user agent"));
                }
                (Some(referer), Some(user_agent))
            }
        };
        Ok(Self {
            client,
            ident,
            user,
            time_ms,
            request,
            status,
            bytes,
            referer,
            user_agent,
        })
    }

    /// The request path, if the request line is `METHOD path PROTOCOL`.
    pub fn path(&self) -> Option<&'a str> {
        let mut parts = self.request.split(' ');
        let _method = parts.next()?;
        parts.next()
    }
}

/// The value of a run of ASCII digits, `None` past `u64::MAX`. Up to 19
/// digits cannot overflow and are summed unchecked: a checked 64-bit
/// multiply is a 128-bit one, a library call, on wasm32.
fn decimal_u64(digits: &str) -> Option<u64> {
    if digits.len() <= 19 {
        Some(
            digits
                .bytes()
                .fold(0, |value, digit| value * 10 + u64::from(digit - b'0')),
        )
    } else {
        digits.parse().ok()
    }
}

/// Whether `text` is an address as `IpAddr::from_str` reads one. Most
/// clients are dotted-quad IPv4, checked here by hand; anything else is left
/// to `std`, which also knows IPv6.
fn is_ip_address(text: &str) -> bool {
    is_dotted_quad(text.as_bytes()) || text.parse::<IpAddr>().is_ok()
}

/// Four decimal octets of at most 255, without leading zeros, joined by
/// dots. Every such text is an IPv4 address to `Ipv4Addr::from_str`, so a
/// `true` here is `std`'s answer too, and a `false` goes to `std`.
///
/// Straight-line code, octet by octet, rather than a loop over the bytes:
/// inside wasm every loop step is a call deadline's check, and this runs
/// on every line of an access log.
fn is_dotted_quad(bytes: &[u8]) -> bool {
    let Some(mut at) = octet_end(bytes, 0) else {
        return false;
    };
    for _ in 0..3 {
        if bytes.get(at) != Some(&b'.') {
            return false;
        }
        let Some(end) = octet_end(bytes, at + 1) else {
            return false;
        };
        at = end;
    }
    at == bytes.len()
}

/// Where the octet starting at `at` ends: one to three digits, no leading
/// zero, at most 255; `None` if no octet starts there.
fn octet_end(bytes: &[u8], at: usize) -> Option<usize> {
    let digit = |i: usize| {
        bytes
            .get(at + i)
            .filter(|byte| byte.is_ascii_digit())
            .map(|byte| u32::from(byte - b'0'))
    };
    let first = digit(0)?;
    let Some(second) = digit(1) else {
        return Some(at + 1);
    };
    if first == 0 {
        return None;
    }
    let Some(third) = digit(2) else {
        return Some(at + 2);
    };
    if digit(3).is_some() || first * 100 + second * 10 + third > 255 {
        return None;
    }
    Some(at + 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"10.0.0.1 - frank [21/Nov/2026:10:00:00 +0800] "GET /a.html HTTP/1.1" 200 2326 "http://x/" "Mozilla/5.0 (X11)""#;

    #[test]
    fn combined_line() {
        let log = AccessLog::parse(LINE).unwrap();
        assert_eq!(log.client, "10.0.0.1");
        assert_eq!(log.user, "frank");
        assert_eq!(log.time_ms, 1_795_219_200_000 + 2 * 3_600_000);
        assert_eq!(log.status, 200);
        assert_eq!(log.bytes, Some(2326));
        assert_eq!(log.path(), Some("/a.html"));
        assert_eq!(log.user_agent, Some("Mozilla/5.0 (X11)"));
    }

    /// Words with bytes other than printable ASCII take the byte loop: a
    /// non-ASCII user is a word, a tab or a non-breaking space ends none.
    #[test]
    fn unusual_words_are_checked_byte_by_byte() {
        let line = |user: &str| {
            format!(r#"10.0.0.1 - {user} [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 1"#)
        };
        assert_eq!(AccessLog::parse(&line("frañk")).unwrap().user, "frañk");
        assert_eq!(AccessLog::parse(&line("a\x01b")).unwrap().user, "a\x01b");
        for bad in ["fr\tank", "fr\u{a0}ank", "\u{2003}"] {
            assert!(AccessLog::parse(&line(bad)).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn common_line_and_ipv6() {
        let log =
            AccessLog::parse(r#"::1 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.0" 304 -"#)
                .unwrap();
        assert_eq!(log.client, "::1");
        assert_eq!(log.bytes, None);
        assert_eq!(log.referer, None);
    }

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
        ] {
            assert!(AccessLog::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    /// The client check with its dotted-quad fast path accepts exactly what
    /// `IpAddr::from_str` accepts, and the fast path alone never accepts
    /// more: over every join of three to five tricky octets, and on texts
    /// that only the slow path knows.
    #[test]
    fn dotted_quad_fast_path_agrees_with_std() {
        const OCTETS: [&str; 22] = [
            "", "0", "00", "000", "01", "010", "1", "9", "10", "99", "100", "199", "249", "250",
            "255", "256", "260", "300", "999", "1000", "+1", "1a",
        ];
        let agrees = |text: &str| {
            let std = text.parse::<IpAddr>().is_ok();
            assert_eq!(is_ip_address(text), std, "{text:?}");
            assert!(!is_dotted_quad(text.as_bytes()) || std, "{text:?}");
        };
        for a in OCTETS {
            for b in OCTETS {
                for c in OCTETS {
                    agrees(&format!("{a}.{b}.{c}"));
                    for d in OCTETS {
                        let quad = format!("{a}.{b}.{c}.{d}");
                        agrees(&quad);
                        // Without a tail, the fast path alone knows every
                        // dotted quad `std` knows.
                        assert_eq!(
                            is_dotted_quad(quad.as_bytes()),
                            quad.parse::<IpAddr>().is_ok(),
                            "{quad:?}"
                        );
                        for tail in ["", ".", ".1", " ", ":80", "/24", "%eth0"] {
                            agrees(&format!("{quad}{tail}"));
                        }
                    }
                }
            }
        }
        for text in [
            "",
            ".",
            "...",
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4.5",
            "::",
            "::1",
            "::ffff:1.2.3.4",
            "2001:db8::1",
            "fe80::1%eth0",
            "[::1]",
            "1.2.3.4\u{0}",
            "\u{661}.2.3.4",
            "1.2.3.\u{663}",
        ] {
            agrees(text);
        }
    }

    #[test]
    fn clients_take_the_slow_path_where_needed() {
        for (client, ok) in [
            ("192.168.0.1", true),
            ("2001:db8::1", true),
            ("::ffff:10.0.0.1", true),
            ("010.0.0.1", false),
            ("256.0.0.1", false),
            ("1.2.3", false),
        ] {
            let line =
                format!(r#"{client} - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 1"#);
            let parsed = AccessLog::parse(&line);
            assert_eq!(parsed.is_ok(), ok, "{line}");
            match parsed {
                Ok(log) => assert_eq!(log.client, client),
                Err(error) => assert_eq!(error.what(), "client is not an IP address"),
            }
        }
    }

    #[test]
    fn byte_counts_up_to_u64() {
        let line = |bytes: &str| {
            format!(r#"10.0.0.1 - - [21/Nov/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 {bytes}"#)
        };
        let max = u64::MAX.to_string();
        assert_eq!(AccessLog::parse(&line(&max)).unwrap().bytes, Some(u64::MAX));
        assert_eq!(AccessLog::parse(&line("0")).unwrap().bytes, Some(0));
        assert_eq!(AccessLog::parse(&line("007")).unwrap().bytes, Some(7));
        let over = AccessLog::parse(&line("18446744073709551616")).unwrap_err();
        assert_eq!(over.what(), "byte count is too large");
        let sign = AccessLog::parse(&line("+5")).unwrap_err();
        assert_eq!(sign.what(), "byte count is not a number or -");
    }
}
