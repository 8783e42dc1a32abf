//! A deliberately small splitter for absolute URLs (`scheme://[userinfo@]host[:port]/path?query#fragment`).
//!
//! Replay matching (spec §4.2) and file naming (spec §2.3) need exactly four things from a URL:
//! the scheme, the host with its port, the percent-decoded path and the raw query. This module
//! extracts those and nothing else. It follows the reference parser where it matters for those
//! four parts: the fragment is cut first, then the query at the first `?`; the scheme is
//! case-insensitive; control characters, malformed percent escapes in the path and non-numeric
//! ports are errors; the host is kept as written (no case folding), userinfo is dropped.

use std::fmt;

/// The parts of an absolute URL that replay and file naming use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SplitUrl<'a> {
    /// The scheme as written (compare case-insensitively).
    pub(crate) scheme: &'a str,
    /// `host[:port]` as written, without userinfo.
    pub(crate) host: &'a str,
    /// The path, percent-decoded (may be empty).
    pub(crate) path: Vec<u8>,
    /// The raw query string after `?`, before any `#` (empty when absent).
    pub(crate) raw_query: &'a str,
}

/// Why a URL could not be split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UrlError {
    /// A byte below 0x20 or DEL.
    ControlCharacter,
    /// No `scheme://` prefix, or a scheme with characters outside `A-Za-z0-9+-.`.
    NotAbsolute,
    /// The port is not a decimal number.
    BadPort,
    /// A `[` without its `]` in the host.
    BadIpv6Literal,
    /// `%` not followed by two hex digits in the path.
    BadEscape,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::ControlCharacter => "control character in URL",
            UrlError::NotAbsolute => "not an absolute URL (expected scheme://host/path)",
            UrlError::BadPort => "invalid port",
            UrlError::BadIpv6Literal => "unterminated IPv6 literal in host",
            UrlError::BadEscape => "invalid percent-escape in path",
        })
    }
}

impl<'a> SplitUrl<'a> {
    /// Splits `url`.
    pub(crate) fn parse(url: &'a str) -> Result<Self, UrlError> {
        if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(UrlError::ControlCharacter);
        }
        let without_fragment = url.split_once('#').map_or(url, |(before, _)| before);
        let (before_query, raw_query) = without_fragment.split_once('?').unwrap_or((without_fragment, ""));
        let (scheme, rest) = before_query.split_once("://").ok_or(UrlError::NotAbsolute)?;
        let mut scheme_chars = scheme.bytes();
        let valid_scheme = scheme_chars.next().is_some_and(|b| b.is_ascii_alphabetic())
            && scheme_chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme {
            return Err(UrlError::NotAbsolute);
        }
        let (authority, raw_path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        check_port(host)?;
        Ok(SplitUrl { scheme, host, path: percent_decode(raw_path)?, raw_query })
    }

    /// The host without port and without IPv6 brackets.
    pub(crate) fn hostname(&self) -> &'a str {
        let host = self.host;
        if let Some(inner) = host.strip_prefix('[') {
            return inner.split_once(']').map_or(inner, |(literal, _)| literal);
        }
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    }
}

/// Accepts `name`, `name:`, `name:digits`, `[v6]`, `[v6]:digits`.
fn check_port(host: &str) -> Result<(), UrlError> {
    let port = if let Some(inner) = host.strip_prefix('[') {
        let (_, after) = inner.split_once(']').ok_or(UrlError::BadIpv6Literal)?;
        if after.is_empty() {
            return Ok(());
        }
        after.strip_prefix(':').ok_or(UrlError::BadPort)?
    } else {
        match host.rsplit_once(':') {
            Some((_, port)) => port,
            None => return Ok(()),
        }
    };
    if port.bytes().all(|b| b.is_ascii_digit()) { Ok(()) } else { Err(UrlError::BadPort) }
}

/// Decodes `%XX` escapes; `+` stays `+` (path semantics).
pub(crate) fn percent_decode(raw: &str) -> Result<Vec<u8>, UrlError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| hex_value(*b));
            let lo = bytes.get(i + 2).and_then(|b| hex_value(*b));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(UrlError::BadEscape),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_usual_shapes() {
        let u = SplitUrl::parse("https://api.venice.ai/api/v1/tee/attestation?model=m&nonce=ab#frag").unwrap();
        assert_eq!((u.scheme, u.host, u.raw_query), ("https", "api.venice.ai", "model=m&nonce=ab"));
        assert_eq!(u.path, b"/api/v1/tee/attestation");
        assert_eq!(u.hostname(), "api.venice.ai");

        let u = SplitUrl::parse("HTTPS://user:pw@host.test:8443").unwrap();
        assert_eq!((u.scheme, u.host, u.hostname(), u.raw_query), ("HTTPS", "host.test:8443", "host.test", ""));
        assert!(u.path.is_empty());

        let u = SplitUrl::parse("https://[::1]:9/a%2Fb%20c+d?").unwrap();
        assert_eq!((u.host, u.hostname()), ("[::1]:9", "::1"));
        assert_eq!(u.path, b"/a/b c+d");

        let u = SplitUrl::parse("https://h/p#frag?not-a-query").unwrap();
        assert_eq!(u.raw_query, "");
        let u = SplitUrl::parse("https://h?q=1").unwrap();
        assert_eq!((u.host, u.raw_query), ("h", "q=1"));
        assert!(u.path.is_empty());
    }

    #[test]
    fn rejects_malformed_urls() {
        assert_eq!(SplitUrl::parse("api.venice.ai/x"), Err(UrlError::NotAbsolute));
        assert_eq!(SplitUrl::parse("1https://h/x"), Err(UrlError::NotAbsolute));
        assert_eq!(SplitUrl::parse("https://h/x\ny"), Err(UrlError::ControlCharacter));
        assert_eq!(SplitUrl::parse("https://h:port/x"), Err(UrlError::BadPort));
        assert_eq!(SplitUrl::parse("https://[::1/x"), Err(UrlError::BadIpv6Literal));
        assert_eq!(SplitUrl::parse("https://h/%zz"), Err(UrlError::BadEscape));
        assert_eq!(SplitUrl::parse("https://h/%4"), Err(UrlError::BadEscape));
    }
}
