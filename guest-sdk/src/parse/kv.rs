//! `key=value` fields, as in `2026-11-21 10:15:03 host=web1 cpu=37.5`.
//!
//! A field is a whitespace-separated word containing `=`: the key is what
//! comes before the first `=`, the value everything after it up to the next
//! whitespace (so a value never holds a space, and quotes are not
//! understood: `msg="a b"` has the value `"a`). Whitespace is ASCII
//! whitespace (space, tab, line feed, form feed, carriage return), which
//! keeps the scan on bytes.

/// The value of the first field named `key`, or `None` when there is none.
///
/// The key must start the text or follow whitespace, so `xcpu=1` is not a
/// `cpu` field; a present but empty value (`cpu= ...`) is `Some("")`, which
/// lets a rule tell "empty" from "missing". An empty key, or one holding
/// `=` or whitespace, never matches.
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    if key.is_empty() || key.bytes().any(|b| b == b'=' || b.is_ascii_whitespace()) {
        return None;
    }
    let bytes = text.as_bytes();
    let finder = memchr::memmem::Finder::new(key.as_bytes());
    let mut from = 0;
    while let Some(found) = finder.find(&bytes[from..]) {
        let start = from + found;
        let after = start + key.len();
        let at_word_start = start == 0 || bytes[start - 1].is_ascii_whitespace();
        if at_word_start && bytes.get(after) == Some(&b'=') {
            return Some(value_at(text, after + 1));
        }
        from = start + 1;
    }
    None
}

/// Every `key=value` field of `text`, in order, skipping words without `=`
/// and words starting with `=` (no key).
pub fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split_ascii_whitespace()
        .filter_map(|word| word.split_once('='))
        .filter(|(key, _)| !key.is_empty())
}

/// The value starting at byte `start` of `text`, up to the next whitespace.
fn value_at(text: &str, start: usize) -> &str {
    let rest = &text[start..];
    let end = rest
        .bytes()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "2026-11-21 10:15:03 host=web1 xcpu=99 cpu=37.5\tmem= disk=a=b";

    #[test]
    fn finds_a_field_at_a_word_start() {
        assert_eq!(field(LINE, "host"), Some("web1"));
        assert_eq!(field(LINE, "cpu"), Some("37.5"));
        assert_eq!(field(LINE, "xcpu"), Some("99"));
        assert_eq!(field(LINE, "mem"), Some(""));
        assert_eq!(field(LINE, "disk"), Some("a=b"));
        assert_eq!(field("cpu=1", "cpu"), Some("1"));
    }

    #[test]
    fn first_occurrence_wins() {
        assert_eq!(field("a=1 a=2", "a"), Some("1"));
        assert_eq!(field("xa=0 a=1 a=2", "a"), Some("1"));
    }

    #[test]
    fn missing_or_unmatchable_keys() {
        assert_eq!(field(LINE, "pu"), None);
        assert_eq!(field(LINE, "web1"), None);
        assert_eq!(field(LINE, "hos"), None);
        assert_eq!(field(LINE, "a"), None);
        assert_eq!(field(LINE, ""), None);
        assert_eq!(field(LINE, "host=web1"), None);
        assert_eq!(field("host = web1", "host"), None);
        assert_eq!(field("", "host"), None);
        assert_eq!(field("cpu", "cpu"), None);
    }

    #[test]
    fn non_ascii_text_is_sliced_on_char_boundaries() {
        assert_eq!(field("user=żółw city=Łódź", "city"), Some("Łódź"));
        assert_eq!(field("ключ=значение", "ключ"), Some("значение"));
    }

    #[test]
    fn pairs_in_order() {
        let all: Vec<_> = pairs(LINE).collect();
        assert_eq!(
            all,
            [
                ("host", "web1"),
                ("xcpu", "99"),
                ("cpu", "37.5"),
                ("mem", ""),
                ("disk", "a=b"),
            ]
        );
        assert_eq!(pairs("=x y z").count(), 0);
    }
}
