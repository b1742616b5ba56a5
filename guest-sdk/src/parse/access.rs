//! nginx / Apache access log lines (combined and common formats).

use std::net::IpAddr;

use super::ParseError;
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
    fn word(&mut self, what: &'static str) -> Result<&'a str, ParseError> {
        let end = memchr::memchr(b' ', self.rest.as_bytes()).ok_or(ParseError::new(what))?;
        let word = &self.rest[..end];
        // Printable ASCII has no whitespace; only other bytes need the
        // Unicode check.
        let plain = word.bytes().all(|b| (0x21..0x80).contains(&b));
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
        let end = memchr::memchr(b'"', self.rest.as_bytes()).ok_or(ParseError::new(what))?;
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
        if client.parse::<IpAddr>().is_err() {
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
        let (bytes_text, tail) = match memchr::memchr(b' ', cur.rest.as_bytes()) {
            Some(end) => (&cur.rest[..end], Some(&cur.rest[end..])),
            None => (cur.rest, None),
        };
        let bytes = match bytes_text {
            "-" => None,
            digits if !digits.is_empty() && digits.bytes().all(|d| d.is_ascii_digit()) => Some(
                digits
                    .parse()
                    .map_err(|_| ParseError::new("byte count is too large"))?,
            ),
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
}
