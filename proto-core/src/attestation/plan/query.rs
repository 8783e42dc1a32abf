//! Go-compatible URL escaping, written by hand because replay compares query strings byte for
//! byte and the common Rust encoders differ from Go (`form_urlencoded` keeps `*` and escapes
//! `~`; Go does the opposite).

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_escaped(out: &mut String, b: u8) {
    out.push('%');
    out.push(UPPER_HEX[usize::from(b >> 4)] as char);
    out.push(UPPER_HEX[usize::from(b & 0xf)] as char);
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Go's `url.QueryEscape`: `A–Z a–z 0–9 - _ . ~` kept, space → `+`, every other byte (UTF-8
/// bytes included) → `%XX` with upper-case hex.
pub fn go_query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            push_escaped(&mut out, b);
        }
    }
    out
}

/// Go's `url.PathEscape` (one path segment): unreserved characters and `$ & + : = @` kept,
/// every other byte (space, `/`, `;`, `,`, `?` included) → `%XX` with upper-case hex.
pub fn go_path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_unreserved(b) || matches!(b, b'$' | b'&' | b'+' | b':' | b'=' | b'@') {
            out.push(b as char);
        } else {
            push_escaped(&mut out, b);
        }
    }
    out
}

/// Go's `url.Values.Encode`: pairs sorted by key (bytewise; values of one key keep their
/// order), each written `QueryEscape(key)=QueryEscape(value)`, joined with `&`.
pub fn go_form_encode(pairs: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes())); // stable: equal keys keep order
    let mut out = String::new();
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&go_query_escape(k));
        out.push('=');
        out.push_str(&go_query_escape(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escape_follows_go() {
        assert_eq!(go_query_escape("Qwen/Qwen3.5-122B-A10B"), "Qwen%2FQwen3.5-122B-A10B");
        assert_eq!(go_query_escape("a b"), "a+b");
        assert_eq!(go_query_escape("~"), "~");
        assert_eq!(go_query_escape("*"), "%2A");
        assert_eq!(go_query_escape("é"), "%C3%A9");
        assert_eq!(go_query_escape("a+b&c=d?e#f%g"), "a%2Bb%26c%3Dd%3Fe%23f%25g");
        assert_eq!(go_query_escape("AZaz09-_."), "AZaz09-_.");
        assert_eq!(go_query_escape(""), "");
        assert_eq!(go_query_escape("\n\u{7f}"), "%0A%7F");
    }

    #[test]
    fn path_escape_follows_go() {
        assert_eq!(go_path_escape("e51e818e-fa63-570d-9f68-49d7d1b4d12f"), "e51e818e-fa63-570d-9f68-49d7d1b4d12f");
        assert_eq!(go_path_escape("a/b c"), "a%2Fb%20c");
        assert_eq!(go_path_escape("$&+:=@~"), "$&+:=@~");
        assert_eq!(go_path_escape(";,?*é"), "%3B%2C%3F%2A%C3%A9");
    }

    #[test]
    fn form_encode_sorts_keys() {
        let q = go_form_encode(&[("nonce", "ab"), ("include_tls_fingerprint", "true"), ("signing_algo", "ed25519")]);
        assert_eq!(q, "include_tls_fingerprint=true&nonce=ab&signing_algo=ed25519");
        assert_eq!(go_form_encode(&[("b", "1"), ("a b", "x/y"), ("b", "0")]), "a+b=x%2Fy&b=1&b=0");
        assert_eq!(
            go_form_encode(&[("model", "TEE/gemma-3-27b-it"), ("nonce", "00")]),
            "model=TEE%2Fgemma-3-27b-it&nonce=00"
        );
        assert_eq!(go_form_encode(&[]), "");
        // Bytewise key order: upper case sorts before lower case.
        assert_eq!(go_form_encode(&[("a", "1"), ("B", "2")]), "B=2&a=1");
    }
}
