//! Sigstore Rekor lookups (`attestation-core.md` §10.1–10.2, `capture-replay.md` §4.2).
//!
//! Sequence (seed): one [`index_request`] per image digest, in digest order (the
//! "presence" check); then, for each digest whose index answer was non-empty, the same
//! [`index_request`] again followed by one [`entry_request`] per returned UUID, in the order of
//! *that second* answer, until an entry carrying a Fulcio certificate is found. Identical
//! bodies recur; replay answers them with the first recorded match. (The 2026-05/06 captures
//! come from builds that ran these lookups in parallel, so their recorded order is the
//! completion order.)

use super::{MIB, PlannedRequest, gojson};

/// Rekor base URL (fixed in teep).
pub const REKOR_BASE_URL: &str = "https://rekor.sigstore.dev";
/// Index search by artifact hash.
pub const REKOR_INDEX_URL: &str = "https://rekor.sigstore.dev/api/v1/index/retrieve";
/// Log-entry retrieval by UUID.
pub const REKOR_ENTRIES_URL: &str = "https://rekor.sigstore.dev/api/v1/log/entries/retrieve";
/// Largest Rekor response body teep reads (1 MiB).
pub const REKOR_MAX_BODY: u64 = MIB;

/// `{"hash":"sha256:<digest>"}` — 82 bytes for a 64-hex digest. The digest goes in as
/// extracted from the compose file (lower-case hex).
pub fn index_body(digest_hex: &str) -> Vec<u8> {
    let mut out = String::with_capacity(digest_hex.len() + 20);
    out.push_str("{\"hash\":");
    gojson::write_string(&mut out, &format!("sha256:{digest_hex}"));
    out.push('}');
    out.into_bytes()
}

/// `{"entryUUIDs":["<uuid>",…]}` with each UUID as the index returned it. teep always sends
/// exactly one.
pub fn entries_body<S: AsRef<str>>(uuids: &[S]) -> Vec<u8> {
    let mut out = String::from("{\"entryUUIDs\":[");
    for (i, u) in uuids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        gojson::write_string(&mut out, u.as_ref());
    }
    out.push_str("]}");
    out.into_bytes()
}

/// `POST /api/v1/index/retrieve` for one digest.
pub fn index_request(digest_hex: &str) -> PlannedRequest {
    PlannedRequest::post_json(REKOR_INDEX_URL.to_owned(), index_body(digest_hex), REKOR_MAX_BODY)
}

/// `POST /api/v1/log/entries/retrieve` for one UUID.
pub fn entry_request(uuid: &str) -> PlannedRequest {
    PlannedRequest::post_json(REKOR_ENTRIES_URL.to_owned(), entries_body(&[uuid]), REKOR_MAX_BODY)
}

/// Why an index answer cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("decode UUIDs: {0}")]
pub struct IndexDecodeError(pub String);

/// The UUIDs of a 200 index answer, read as Go's `[]string` (`null` → none, `null` items →
/// empty strings, anything else not a string → error).
pub fn parse_index(body: &[u8]) -> Result<Vec<String>, IndexDecodeError> {
    gojson::decode_string_list(body).map_err(|e| IndexDecodeError(e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "5556fb80b952832719a76b016f905616c76ee0989a239c4680c6220148e865d6";

    #[test]
    fn bodies() {
        let b = index_body(D);
        assert_eq!(b, format!("{{\"hash\":\"sha256:{D}\"}}").as_bytes());
        assert_eq!(b.len(), 82);
        assert_eq!(entries_body(&["108e"]), br#"{"entryUUIDs":["108e"]}"#);
        assert_eq!(entries_body(&["a".to_owned(), "b".to_owned()]), br#"{"entryUUIDs":["a","b"]}"#);
        assert_eq!(entries_body::<&str>(&[]), br#"{"entryUUIDs":[]}"#);
        assert_eq!(index_request(D).url, REKOR_INDEX_URL);
        assert_eq!(entry_request("u").body, br#"{"entryUUIDs":["u"]}"#);
    }

    #[test]
    fn index_answers() {
        assert_eq!(parse_index(br#"["a","b"]"#).unwrap(), ["a", "b"]);
        assert!(parse_index(b"[]\n").unwrap().is_empty());
        assert!(parse_index(b"null").unwrap().is_empty());
        assert!(parse_index(br#"{"code":404}"#).is_err());
        assert!(parse_index(br#"[1]"#).is_err());
    }
}
