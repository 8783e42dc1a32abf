//! Matching rules of spec §4.2 on hand-built captures.

use sha2::{Digest, Sha256};

use super::*;
use crate::capture::{Capture, ExchangeMeta, Manifest, OffsetDateTime};
use crate::fetch::{FetchId, FetchResponse};
use crate::tls::SpkiHash;

fn manifest() -> Manifest {
    Manifest {
        provider: "venice".into(),
        model: "m".into(),
        nonce: [7; 32],
        captured_at: OffsetDateTime::UNIX_EPOCH,
        duration_ms: None,
        e2ee: None,
        error: None,
    }
}

fn meta(method: &str, url: &str, req_body: Option<&[u8]>) -> ExchangeMeta {
    ExchangeMeta {
        method: method.into(),
        url: url.into(),
        status: 200,
        proto: Some("HTTP/1.1".into()),
        tls_version: None,
        tls_cipher: None,
        peer_spki_der: None,
        headers: vec![("X-Entry".into(), vec![url.into()])],
        req_body: req_body.map(<[u8]>::to_vec),
        duration_ms: None,
    }
}

/// A source whose exchange `i` has body `b"<i>"`.
fn source(entries: Vec<ExchangeMeta>) -> ReplaySource {
    let exchanges = entries.into_iter().enumerate().map(|(i, m)| (m, i.to_string().into_bytes())).collect();
    ReplaySource::new(Capture::new(manifest(), exchanges))
}

fn get(url: &str) -> FetchRequest {
    FetchRequest {
        id: FetchId(1),
        method: FetchMethod::Get,
        url: url.into(),
        headers: vec![],
        body: vec![],
        max_body: 1 << 20,
    }
}

fn post(url: &str, body: &[u8]) -> FetchRequest {
    FetchRequest { method: FetchMethod::Post, body: body.to_vec(), ..get(url) }
}

/// Index of the answering exchange, read back from the body.
fn hit(src: &ReplaySource, req: &FetchRequest) -> Option<usize> {
    let by_index = src.match_index(req).unwrap();
    let by_answer = src.answer(req).ok().map(|r| String::from_utf8(r.body).unwrap().parse().unwrap());
    assert_eq!(by_index, by_answer);
    by_answer
}

#[test]
fn get_query_must_be_byte_identical() {
    let src = source(vec![meta("GET", "https://h.test/a?x=1&y=2", None)]);
    assert_eq!(hit(&src, &get("https://h.test/a?x=1&y=2")), Some(0));
    assert_eq!(hit(&src, &get("https://h.test/a?y=2&x=1")), None, "parameter order matters");
    assert_eq!(hit(&src, &get("https://h.test/a?x=%31&y=2")), None, "escaping matters");
    assert_eq!(hit(&src, &get("https://h.test/a?x=1&y=2&")), None);
    assert_eq!(hit(&src, &get("https://h.test/a")), None);
    assert_eq!(hit(&src, &get("https://h.test/a?x=1&y=2#fragment")), Some(0), "fragments are not part of the query");
    let plain = source(vec![meta("GET", "https://h.test/a", None)]);
    assert_eq!(hit(&plain, &get("https://h.test/a?")), Some(0), "an empty query equals no query");
    assert_eq!(hit(&plain, &get("https://h.test/a?x")), None);
}

#[test]
fn method_must_match() {
    let src = source(vec![meta("GET", "https://h.test/a", None)]);
    assert_eq!(hit(&src, &post("https://h.test/a", b"")), None);
    let lower = source(vec![meta("get", "https://h.test/a", None)]);
    assert_eq!(hit(&lower, &get("https://h.test/a")), None, "methods compare exactly");
}

#[test]
fn post_ignores_the_query_and_matches_on_the_body() {
    let src = source(vec![
        meta("POST", "https://h.test/jwt?ignored=1", Some(b"{\"quote\":\"aa\"}")),
        meta("POST", "https://h.test/jwt", Some(b"{\"quote\":\"bb\"}")),
    ]);
    assert_eq!(hit(&src, &post("https://h.test/jwt", b"{\"quote\":\"aa\"}")), Some(0));
    assert_eq!(hit(&src, &post("https://h.test/jwt?other=2", b"{\"quote\":\"aa\"}")), Some(0));
    assert_eq!(hit(&src, &post("https://h.test/jwt?ignored=1", b"{\"quote\":\"bb\"}")), Some(1));
    assert_eq!(hit(&src, &post("https://h.test/jwt", b"{\"quote\": \"aa\"}")), None, "bytes, not JSON meaning");
    assert_eq!(hit(&src, &post("https://h.test/jwt", b"")), None, "recorded body, empty request");
}

#[test]
fn post_empty_body_rules() {
    let src = source(vec![
        meta("POST", "https://h.test/none", None),
        meta("POST", "https://h.test/empty", Some(b"")),
        meta("POST", "https://h.test/full", Some(b"x")),
    ]);
    assert_eq!(hit(&src, &post("https://h.test/none", b"")), Some(0), "both empty");
    assert_eq!(hit(&src, &post("https://h.test/empty", b"")), Some(1), "an empty recorded body counts as none");
    assert_eq!(hit(&src, &post("https://h.test/none", b"x")), None, "request body, none recorded");
    assert_eq!(hit(&src, &post("https://h.test/full", b"")), None, "recorded body, none sent");
    assert_eq!(hit(&src, &post("https://h.test/full", b"x")), Some(2));
    let get_with_body = FetchRequest { body: b"ignored".to_vec(), ..get("https://h.test/g") };
    let gets = source(vec![meta("GET", "https://h.test/g", Some(b"other"))]);
    assert_eq!(hit(&gets, &get_with_body), Some(0), "GET bodies are not compared");
}

#[test]
fn first_match_wins_and_entries_are_reused() {
    let src = source(vec![
        meta("GET", "https://h.test/a", None),
        meta("GET", "https://h.test/b", None),
        meta("GET", "https://h.test/a", None),
        meta("POST", "https://h.test/p", Some(b"1")),
        meta("POST", "https://h.test/p", Some(b"1")),
    ]);
    for _ in 0..3 {
        assert_eq!(hit(&src, &get("https://h.test/a")), Some(0));
        assert_eq!(hit(&src, &post("https://h.test/p", b"1")), Some(3));
    }
    assert_eq!(hit(&src, &get("https://h.test/b")), Some(1));
}

#[test]
fn host_includes_the_port() {
    let src = source(vec![meta("GET", "https://h.test:8443/a", None), meta("GET", "https://h.test/a", None)]);
    assert_eq!(hit(&src, &get("https://h.test:8443/a")), Some(0));
    assert_eq!(hit(&src, &get("https://h.test/a")), Some(1));
    assert_eq!(hit(&src, &get("https://h.test:443/a")), None, "an explicit default port is a different host text");
    assert_eq!(hit(&src, &get("https://other.test/a")), None);
    assert_eq!(hit(&src, &get("https://user@h.test:8443/a")), Some(0), "userinfo is not part of the host");
}

#[test]
fn paths_compare_decoded_and_scheme_is_ignored() {
    let src = source(vec![meta("GET", "http://h.test/a%2Fb/c%20d", None), meta("GET", "https://h.test/x+y", None)]);
    assert_eq!(hit(&src, &get("https://h.test/a/b/c d")), Some(0));
    assert_eq!(hit(&src, &get("https://h.test/a%2fb/c%20d")), Some(0));
    assert_eq!(hit(&src, &get("https://h.test/x%2By")), Some(1));
    assert_eq!(hit(&src, &get("https://h.test/x%20y")), None, "'+' in a path is not a space");
    assert_eq!(hit(&src, &get("https://h.test/a/b/c%20d/")), None);
}

#[test]
fn no_match_and_bad_urls_are_typed_errors() {
    let src = source(vec![meta("GET", "not a url", None), meta("GET", "https://h.test/a", None)]);
    assert_eq!(
        src.answer(&get("https://h.test/zz")),
        Err(FetchError::NoReplayMatch { method: "GET", url: "https://h.test/zz".into() })
    );
    assert_eq!(
        src.answer(&get("https://h.test/zz")).unwrap_err().to_string(),
        "replay: no matching entry for GET https://h.test/zz"
    );
    for bad in ["http://h.test/a", "h.test/a", "https://h.test/%zz", "https://h.test:x/a"] {
        let err = src.answer(&get(bad)).unwrap_err();
        assert!(matches!(err, FetchError::Transport(_)), "{bad}: {err:?}");
        let text = err.to_string();
        assert!(text.starts_with("replay: cannot replay ") && text.contains(bad) && !text.contains('\n'), "{text}");
    }
    assert_eq!(hit(&src, &get("https://h.test/a")), Some(1), "an unsplittable recorded URL is skipped");
}

#[test]
fn response_carries_status_headers_body_and_spki() {
    let spki = b"\x30\x03\x02\x01\x01".to_vec();
    let mut m = meta("GET", "https://h.test/a", None);
    m.status = 403;
    m.headers = vec![("A".into(), vec!["1".into(), "2".into()]), ("B".into(), vec![]), ("C".into(), vec!["3".into()])];
    m.peer_spki_der = Some(spki.clone());
    let mut empty_spki = meta("GET", "https://h.test/b", None);
    empty_spki.peer_spki_der = Some(vec![]);
    let src = source(vec![m, empty_spki]);
    let response = src.answer(&get("https://h.test/a")).unwrap();
    assert_eq!(
        response,
        FetchResponse {
            status: 403,
            headers: vec![("A".into(), "1".into()), ("A".into(), "2".into()), ("C".into(), "3".into())],
            body: b"0".to_vec(),
            peer_spki: Some(SpkiHash(Sha256::digest(&spki).into())),
        }
    );
    assert_eq!(response.header("a"), Some("1"));
    assert_eq!(src.answer(&get("https://h.test/b")).unwrap().peer_spki, None);
}

#[test]
fn recovers_first_host_and_chute_uuid() {
    let uuid = "e51e818e-fa63-570d-9f68-49d7d1b4d12f";
    let src = source(vec![
        meta("GET", "HTTPS://qwen.completions.near.ai:8443/v1/attestation/report?nonce=1", None),
        meta("GET", "https://api.chutes.ai/e2e/instances/not-a-uuid", None),
        meta("GET", &format!("https://api.chutes.ai/e2e/instances/{uuid}/extra"), None),
        meta("GET", "https://api.chutes.ai/e2e/instances/00000000-0000-0000-0000-000000000000", None),
    ]);
    assert_eq!(src.first_host().as_deref(), Some("https://qwen.completions.near.ai:8443"));
    assert_eq!(src.chute_uuid().as_deref(), Some(uuid));
    let empty = source(vec![]);
    assert_eq!((empty.first_host(), empty.chute_uuid()), (None, None));
    assert_eq!(src.entries().len(), 4);
    assert_eq!(src.manifest().nonce(), [7; 32]);
}
