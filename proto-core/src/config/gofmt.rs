//! Go-compatible text for configuration errors.
//!
//! The reference loader's messages embed Go formatting: `%q` quoting of names and entries,
//! `encoding/hex` decode errors, and BurntSushi/toml's rendering of dotted key paths. These
//! helpers reproduce that text so load errors read the same as the reference's.

/// Go's `strconv.Quote` (`%q`): double quotes, `\"` and `\\`, Go escapes for non-printable
/// characters (`\n`, `\x01`, `\u00ad`, …), printable characters as they are.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
///
/// Exact for Latin-1. Above it, control, white-space, format (Cf), private-use and
/// non-character code points are non-printable; unassigned code points (which Go also treats
/// as non-printable) cannot be told apart without a Unicode table and count as printable.
fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x100 {
        return (0x20..=0x7e).contains(&u) || ((0xa1..=0xff).contains(&u) && u != 0xad);
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    const FORMAT: &[(u32, u32)] = &[
        (0x0600, 0x0605),
        (0x061c, 0x061c),
        (0x06dd, 0x06dd),
        (0x070f, 0x070f),
        (0x0890, 0x0891),
        (0x08e2, 0x08e2),
        (0x180e, 0x180e),
        (0x200b, 0x200f),
        (0x202a, 0x202e),
        (0x2060, 0x2064),
        (0x2066, 0x206f),
        (0xfeff, 0xfeff),
        (0xfff9, 0xfffb),
        (0x110bd, 0x110bd),
        (0x110cd, 0x110cd),
        (0x13430, 0x1343f),
        (0x1bca0, 0x1bca3),
        (0x1d173, 0x1d17a),
        (0xe0001, 0xe0001),
        (0xe0020, 0xe007f),
    ];
    let private_use = (0xe000..=0xf8ff).contains(&u) || u >= 0xf0000;
    let non_character = (0xfdd0..=0xfdef).contains(&u) || (u & 0xfffe) == 0xfffe;
    !(private_use || non_character || FORMAT.iter().any(|&(lo, hi)| (lo..=hi).contains(&u)))
}

/// Go's `hex.DecodeString`, with its error text (`encoding/hex: invalid byte: U+0067 'g'`,
/// `encoding/hex: odd length hex string`). Both cases accepted, no prefix handling.
pub(super) fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    let bytes = s.as_bytes();
    // Go reports the first invalid byte scanning left to right, and the odd length only when
    // every byte is a hex digit.
    if let Some(&bad) = bytes.iter().find(|b| !b.is_ascii_hexdigit()) {
        return Err(invalid_byte(bad));
    }
    if bytes.len() % 2 == 1 {
        return Err("encoding/hex: odd length hex string".to_owned());
    }
    Ok(bytes.chunks_exact(2).map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1])).collect())
}

fn nibble(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// `hex.InvalidByteError`: the byte as a rune in Go's `%#U` form (`U+0067 'g'`; the quoted
/// character only when printable).
fn invalid_byte(b: u8) -> String {
    let c = char::from(b);
    if is_print(c) {
        format!("encoding/hex: invalid byte: U+{:04X} '{c}'", b)
    } else {
        format!("encoding/hex: invalid byte: U+{:04X}", b)
    }
}

/// BurntSushi/toml's `Key.String()`: parts joined by `.`, a part quoted (with TOML basic-string
/// escapes) unless it is a non-empty bare key (`A-Za-z0-9_-`).
pub(super) fn key_path<S: AsRef<str>>(parts: &[S]) -> String {
    parts.iter().map(|p| key_part(p.as_ref())).collect::<Vec<_>>().join(".")
}

fn key_part(part: &str) -> String {
    if !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return part.to_owned();
    }
    let mut out = String::with_capacity(part.len() + 2);
    out.push('"');
    for c in part.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_go() {
        assert_eq!(quote("x"), r#""x""#);
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("\t\n\r\u{7}\u{8}\u{b}\u{c}"), r#""\t\n\r\a\b\v\f""#);
        assert_eq!(quote("\u{1}\u{7f}"), r#""\x01\x7f""#);
        assert_eq!(quote("é\u{a0}\u{ad}"), "\"é\\u00a0\\u00ad\"");
        assert_eq!(quote("\u{200b}\u{e000}\u{10ffff}"), r#""\u200b\ue000\U0010ffff""#);
        assert_eq!(quote("日本"), "\"日本\"");
    }

    #[test]
    fn hex_errors_match_go() {
        assert_eq!(hex_decode("0aFf"), Ok(vec![0x0a, 0xff]));
        assert_eq!(hex_decode(""), Ok(vec![]));
        assert_eq!(hex_decode("abc"), Err("encoding/hex: odd length hex string".into()));
        assert_eq!(hex_decode("abg"), Err("encoding/hex: invalid byte: U+0067 'g'".into()));
        assert_eq!(hex_decode("zz0"), Err("encoding/hex: invalid byte: U+007A 'z'".into()));
        assert_eq!(hex_decode("a\u{1}"), Err("encoding/hex: invalid byte: U+0001".into()));
        // A multi-byte character is reported by its first UTF-8 byte, read as Latin-1.
        assert_eq!(hex_decode("é"), Err("encoding/hex: invalid byte: U+00C3 'Ã'".into()));
        assert_eq!(hex_decode("a "), Err("encoding/hex: invalid byte: U+0020 ' '".into()));
    }

    #[test]
    fn key_paths_match_burntsushi() {
        assert_eq!(key_path(&["providers", "venice", "foo"]), "providers.venice.foo");
        assert_eq!(key_path(&["providers", "my provider", ""]), "providers.\"my provider\".\"\"");
        assert_eq!(key_path(&["a.b", "q\"\n\u{1}"]), r#""a.b"."q\"\n\u0001""#);
        assert_eq!(key_path(&["é"]), "\"é\"");
    }
}
