//! Byte search for the parsers, eight bytes at a time.
//!
//! Rules run as wasm32 without SIMD, where `memchr` falls back to 4-byte
//! words (the target's `usize`); WebAssembly has native 64-bit integers, so
//! comparing a `u64` at a time halves the steps over a log line's fields.

/// One in every byte.
const LOW_BITS: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The index of the first `needle` in `haystack`.
pub(crate) fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    let pattern = LOW_BITS * u64::from(needle);
    find_first(
        haystack,
        |word| {
            // Bytes equal to `needle` become zero; the lowest zero byte is
            // the lowest byte flagged (a borrow only flags bytes above a zero).
            let x = word ^ pattern;
            x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS
        },
        |byte| byte == needle,
    )
}

/// The index of the first byte that is not printable ASCII (0x21 to 0x7f):
/// a space, a control byte or a non-ASCII one, where a word of a log line
/// ends (or needs a closer look).
pub(crate) fn find_unplain(haystack: &[u8]) -> Option<usize> {
    find_first(
        haystack,
        |x| {
            // A byte below 0x21 borrows and keeps its high bit clear in `x`;
            // a byte from 0x80 has its high bit set. Bytes from 0x21 to 0x7f
            // flag nothing and borrow nothing, so the lowest flag is exact.
            (x.wrapping_sub(LOW_BITS * 0x21) & !x | x) & HIGH_BITS
        },
        |byte| !(0x21..0x80).contains(&byte),
    )
}

/// The index of the first byte `wanted` takes, 8 bytes a step: `flags`
/// turns a little-endian word into one whose lowest set high bit marks the
/// first such byte of the word (0 for none), and `wanted` decides the bytes
/// of the tail.
fn find_first(
    haystack: &[u8],
    flags: impl Fn(u64) -> u64,
    wanted: impl Fn(u8) -> bool,
) -> Option<usize> {
    let (words, tail) = haystack.as_chunks::<8>();
    for (index, word) in words.iter().enumerate() {
        let flagged = flags(u64::from_le_bytes(*word));
        if flagged != 0 {
            return Some(index * 8 + (flagged.trailing_zeros() / 8) as usize);
        }
    }
    let found = tail.iter().position(|&byte| wanted(byte))?;
    Some(words.len() * 8 + found)
}

/// Whether every byte is ASCII (below 0x80), 32 bytes a step: four words
/// OR-ed together and one test of their high bits. `str::from_utf8` steps
/// by two `usize`s, 8 bytes on wasm32, so a log line took it four times as
/// many steps (each with a loop back-edge, where a call's deadline is
/// checked) as this.
pub(crate) fn is_ascii(bytes: &[u8]) -> bool {
    let (blocks, tail) = bytes.as_chunks::<32>();
    for block in blocks {
        let (words, _) = block.as_chunks::<8>();
        let any = words
            .iter()
            .fold(0, |any, word| any | u64::from_le_bytes(*word));
        if any & HIGH_BITS != 0 {
            return false;
        }
    }
    tail.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value at every position of lines up to three words, from
    /// every offset, among printable fillers.
    #[test]
    fn find_unplain_agrees_with_a_byte_loop() {
        for byte in 0..=255u8 {
            for len in 0..=24 {
                for at in (0..len).map(Some).chain([None]) {
                    let mut buffer = vec![b'a'; len + 8];
                    for offset in 0..8 {
                        buffer.fill(b'~');
                        let haystack = &mut buffer[offset..offset + len];
                        if let Some(at) = at {
                            haystack[at] = byte;
                        }
                        let expected = haystack.iter().position(|b| !(0x21..0x80).contains(b));
                        assert_eq!(find_unplain(haystack), expected, "{haystack:?}");
                    }
                }
            }
        }
    }

    /// A non-ASCII byte is found at every position of lines up to three
    /// blocks long, and only then.
    #[test]
    fn is_ascii_agrees_with_std() {
        for len in 0..=100 {
            let mut line = vec![b'a'; len];
            assert!(is_ascii(&line));
            for at in 0..len {
                for byte in [0x80, 0xc3, 0xff] {
                    line[at] = byte;
                    assert!(!is_ascii(&line), "{len} bytes, {byte:#x} at {at}");
                    line[at] = b'~';
                }
            }
        }
    }

    /// Every position of the needle in haystacks of every length up to
    /// three words, among bytes chosen to fool a word-at-a-time search
    /// (the needle with its high bit flipped, one more and one less, 0x00,
    /// 0xff), and from every offset (alignment) of a buffer.
    #[test]
    fn agrees_with_a_byte_loop() {
        for needle in [b'"', b' ', 0x00, 0x01, 0x7f, 0x80, 0xff] {
            let fillers = [
                needle ^ 0x80,
                needle.wrapping_add(1),
                needle.wrapping_sub(1),
                0x00,
                0xff,
                b'a',
            ];
            for filler in fillers.into_iter().filter(|&f| f != needle) {
                for len in 0..=24 {
                    for at in (0..len).map(Some).chain([None]) {
                        let mut buffer = vec![filler; len + 8];
                        for offset in 0..8 {
                            buffer.fill(filler);
                            let haystack = &mut buffer[offset..offset + len];
                            if let Some(at) = at {
                                haystack[at] = needle;
                                // A second match after the first must not win.
                                if at + 3 < len {
                                    haystack[at + 3] = needle;
                                }
                            }
                            let expected = haystack.iter().position(|&b| b == needle);
                            assert_eq!(find_byte(needle, haystack), expected, "{haystack:?}");
                        }
                    }
                }
            }
        }
    }
}
