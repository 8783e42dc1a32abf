//! Unit tests: HKDF known answers, round trips through the server role, and one test per
//! fail-closed condition of the spec (§12) that this module owns.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::primitives::{Label, derive_key, gunzip_bounded, gzip, open, seal_with_nonce};
use super::sim::{ClientKey, InstanceServer, ServerStream};
use super::*;
use crate::io::Instant;
use crate::state::nonce_pool::{ChuteId, InstanceNonces, Material, NoncePool, RefillBatch, Take};

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

fn padded<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    out[..text.len()].copy_from_slice(text.as_bytes());
    out
}

const CHAT: &[u8] =
    br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"n":1.50}"#;

fn instance() -> (InstanceServer, InstanceKey) {
    let server = InstanceServer::from_seed(&[7u8; 64]);
    let key = InstanceKey::from_attested(server.public_b64()).expect("valid key");
    (server, key)
}

/// A full stream from the server role for `session`'s request: init, usage, chunks.
fn server_stream(server: &InstanceServer, request: &[u8], chunks: &[&[u8]], seed: u8) -> String {
    let req = server.decrypt_request(request).expect("server decrypts");
    let mut r = rng(seed);
    let (sealer, mut body) = req.client_key.begin_stream(&mut r).expect("init");
    for (i, c) in chunks.iter().enumerate() {
        body.push_str(&ServerStream::usage_event(5, i as u64 + 1));
        body.push_str(&sealer.chunk_event(c, &mut r).expect("chunk"));
    }
    body
}

fn run_stream(
    session: ResponseSession,
    body: &[u8],
) -> (Vec<Vec<u8>>, Result<StreamSummary, E2eeError>) {
    let mut dec = session.into_stream();
    let mut out = Vec::new();
    if let Err(e) = dec.push(body, &mut out) {
        return (out, Err(e));
    }
    let r = dec.finish();
    (out, r)
}

fn inner(e: &E2eeError) -> &E2eeError {
    match e {
        E2eeError::Chunk { source, .. } => source,
        other => other,
    }
}

#[test]
fn hkdf_known_answers_with_teep_test_inputs() {
    let ss = padded::<32>("test shared secret v3");
    let ct = padded::<1088>("test ciphertext salt");
    let want = [
        (
            Label::Request,
            "61383903c4253b90cb1e6c5a3b525f419f6ed168bba301c4344e815cc8b8bd3a",
        ),
        (
            Label::Response,
            "8d1195785d77a2175bf8d2551d63ac203854be218caaefb3649de80a72c40211",
        ),
        (
            Label::Stream,
            "94385c20ec4e3313804fe9487cab8cb1631abe882f1fea1d9af51b4529a7e398",
        ),
    ];
    for (label, hex_key) in want {
        let key = derive_key(&ss, &ct, label).expect("derive");
        assert_eq!(hex::encode(key.as_bytes()), hex_key, "{label:?}");
    }
    assert!(derive_key(&ss, &ct[..15], Label::Request).is_err());
}

#[test]
fn request_round_trip_keeps_body_and_adds_response_key() {
    let (server, key) = instance();
    let (enc, session) =
        encrypt_request(CHAT, &key, Endpoint::ChatCompletions, &mut rng(1)).expect("encrypt");
    assert!(enc.stream && session.expects_stream());
    let req = server.decrypt_request(&enc.body).expect("decrypt");
    assert_eq!(req.client_key.to_b64(), session.response_public_key());
    let v: serde_json::Value = serde_json::from_slice(&req.json).expect("json");
    assert_eq!(v["model"], "m");
    assert_eq!(v["messages"][0]["content"], "hi");
    assert!(
        String::from_utf8_lossy(&req.json).contains("\"n\":1.50"),
        "number token kept verbatim"
    );
    assert_eq!(v["e2e_response_pk"], session.response_public_key());
    // Layout: 1088-byte KEM ciphertext, then nonce ‖ ct ‖ tag of the gzip'd JSON.
    assert_eq!(enc.body.len(), MIN_BLOB_LEN + gzip(&req.json).len());
}

#[test]
fn client_response_key_overwrites_and_duplicates_collapse() {
    let (server, key) = instance();
    let body = br#"{"stream":false,"e2e_response_pk":"evil","model":"a","model":"b"}"#;
    let (enc, session) =
        encrypt_request(body, &key, Endpoint::ChatCompletions, &mut rng(2)).expect("encrypt");
    let req = server.decrypt_request(&enc.body).expect("decrypt");
    let v: serde_json::Value = serde_json::from_slice(&req.json).expect("json");
    assert_eq!(v["model"], "b");
    assert_eq!(v["e2e_response_pk"], session.response_public_key());
    assert!(!enc.stream);
}

#[test]
fn non_stream_round_trip_and_wrong_session_fails() {
    let (server, key) = instance();
    let body = br#"{"model":"m","messages":[]}"#;
    let (enc, session) =
        encrypt_request(body, &key, Endpoint::ChatCompletions, &mut rng(3)).expect("encrypt");
    let (_, other) =
        encrypt_request(body, &key, Endpoint::ChatCompletions, &mut rng(4)).expect("encrypt");
    let req = server.decrypt_request(&enc.body).expect("decrypt");
    let answer = br#"{"choices":[{"message":{"content":"Hi!"}}]}"#;
    let blob = req
        .client_key
        .encrypt_response(answer, &mut rng(5))
        .expect("encrypt answer");
    // A response encapsulated to another attempt's key fails (implicit rejection → tag).
    assert!(matches!(
        other.decrypt_body(&blob),
        Err(E2eeError::AuthFailed(_))
    ));
    assert_eq!(session.decrypt_body(&blob).expect("decrypt answer"), answer);
}

#[test]
fn request_to_another_instance_key_is_unreadable() {
    let (_, key) = instance();
    let other = InstanceServer::from_seed(&[8u8; 64]);
    let (enc, _) =
        encrypt_request(CHAT, &key, Endpoint::ChatCompletions, &mut rng(6)).expect("encrypt");
    assert!(matches!(
        other.decrypt_request(&enc.body),
        Err(E2eeError::AuthFailed(_))
    ));
}

#[test]
fn stream_round_trip_releases_chunks_verbatim() {
    let (server, key) = instance();
    let (enc, session) =
        encrypt_request(CHAT, &key, Endpoint::ChatCompletions, &mut rng(7)).expect("encrypt");
    let chunks: [&[u8]; 3] = [
        b"data: {\"a\":1}\n\n",
        b"data: {\"b\":2}\n\ndata: {\"c\":3}\n\n",
        b"data: [DONE]\n\n",
    ];
    let body = server_stream(&server, &enc.body, &chunks, 8) + "data: [DONE]\n\n";
    let (out, summary) = run_stream(session, body.as_bytes());
    let summary = summary.expect("stream ok");
    assert_eq!(out, chunks.iter().map(|c| c.to_vec()).collect::<Vec<_>>());
    assert_eq!(summary.chunks, 3);
    assert_eq!(summary.completion_tokens, 3, "usage recorded, not released");
    assert_eq!(summary.events, 1 + 3 * 2 + 1);
}

// ---- §12 fail-closed conditions, one test each ----

#[test]
fn key_not_base64_fails() {
    assert!(matches!(
        InstanceKey::from_attested("not base64!"),
        Err(E2eeError::InvalidKey(_))
    ));
}

#[test]
fn key_wrong_length_fails() {
    let short = B64.encode([0u8; EK_LEN - 1]);
    assert!(matches!(
        InstanceKey::from_attested(&short),
        Err(E2eeError::InvalidKey(_))
    ));
    assert!(InstanceKey::from_attested("").is_err());
}

#[test]
fn key_failing_modulus_check_fails() {
    let all_ff = B64.encode([0xFFu8; EK_LEN]);
    let err = InstanceKey::from_attested(&all_ff).expect_err("all-0xFF key must be rejected");
    assert!(
        err.to_string().contains("modulus") || err.to_string().contains("re-encode"),
        "{err}"
    );
    // One coefficient at exactly q = 3329 (0xD01) in an otherwise valid key.
    let (_, good) = instance();
    let mut bytes = B64.decode(good.as_str()).expect("b64");
    bytes[0] = 0x01;
    bytes[1] = (bytes[1] & 0xF0) | 0x0D;
    assert!(InstanceKey::from_attested(&B64.encode(&bytes)).is_err());
}

#[test]
fn body_not_a_json_object_fails() {
    let (_, key) = instance();
    for body in [
        &b"[1,2]"[..],
        b"\"x\"",
        b"{",
        b"",
        b"{\"stream\":\"yes\"}",
        b"{\"stream\":1}",
    ] {
        let r = encrypt_request(body, &key, Endpoint::ChatCompletions, &mut rng(9));
        assert!(
            matches!(r, Err(E2eeError::BadBody(_))),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    let r = encrypt_request(
        b"{\"stream\":true}",
        &key,
        Endpoint::Embeddings,
        &mut rng(9),
    );
    assert!(
        matches!(r, Err(E2eeError::BadBody(_))),
        "streamed embeddings"
    );
}

#[test]
fn empty_or_unsafe_material_fields_fail() {
    let (_, key) = instance();
    assert!(
        AttemptMaterial::new("", "i", "n", key.clone()).is_err(),
        "empty chute id"
    );
    assert!(
        AttemptMaterial::new("c", "", "n", key.clone()).is_err(),
        "empty instance id"
    );
    assert!(
        AttemptMaterial::new("c", "i", "", key.clone()).is_err(),
        "empty nonce"
    );
    assert!(
        AttemptMaterial::new("c", "i", "n\r\nX-Evil: 1", key.clone()).is_err(),
        "header injection"
    );
    assert!(AttemptMaterial::new("c", "i", "n", key).is_ok());
}

#[test]
fn bad_platform_base_fails() {
    for url in [
        "api.chutes.ai",
        "ftp://x",
        "https://",
        "https://:443",
        "https://h:99999",
        "https://h/?q",
        "https://u@h",
    ] {
        assert!(PlatformBase::parse(url).is_err(), "{url}");
    }
    let b = PlatformBase::parse("https://API.chutes.ai/").expect("valid");
    assert_eq!(
        (b.host.as_str(), b.port, b.path.as_str(), b.tls),
        ("api.chutes.ai", 443, "", true)
    );
    let b = PlatformBase::parse("http://127.0.0.1:8080/base/").expect("valid");
    assert_eq!((b.port, b.path.as_str(), b.tls), (8080, "/base", false));
}

#[test]
fn invoke_request_carries_the_protocol_headers() {
    let (server, key) = instance();
    let base = PlatformBase::parse("https://api.chutes.ai").expect("base");
    let m = AttemptMaterial::new("e51e818e", "9034c7a4", "xJVImAnD", key).expect("material");
    let inv = build_invoke(
        &base,
        "cpk_test",
        &m,
        Endpoint::ChatCompletions,
        CHAT,
        &mut rng(10),
    )
    .expect("invoke");
    let h = |n: &str| {
        inv.request
            .headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(inv.request.target, "/e2e/invoke");
    assert_eq!(h("X-Chute-Id"), Some("e51e818e"));
    assert_eq!(h("X-Instance-Id"), Some("9034c7a4"));
    assert_eq!(h("X-E2E-Nonce"), Some("xJVImAnD"));
    assert_eq!(h("X-E2E-Stream"), Some("true"));
    assert_eq!(h("X-E2E-Path"), Some("/v1/chat/completions"));
    assert_eq!(h("Content-Type"), Some("application/octet-stream"));
    assert_eq!(h("Authorization"), Some("Bearer cpk_test"));
    assert!(server.decrypt_request(&inv.request.body).is_ok());
    assert!(inv.session.expects_stream());
}

/// Material for `key` handed out by a real nonce pool.
fn pool_material(chute: &ChuteId, key: &str) -> Material {
    let now = Instant::from_elapsed(std::time::Duration::from_secs(1));
    let mut pool = NoncePool::default();
    let Take::Refill(ticket) = pool.take(chute, now) else {
        panic!("empty pool must ask for a refill")
    };
    let batch = RefillBatch {
        instances: vec![InstanceNonces {
            instance_id: "inst".into(),
            e2e_pubkey: key.into(),
            nonces: vec!["n1".into()],
        }],
        nonce_expires_in: Some(60),
    };
    pool.finish_refill(ticket, Ok(batch), now).expect("refill");
    match pool.take(chute, now) {
        Take::Material { material, .. } => material,
        other => panic!("expected material, got {other:?}"),
    }
}

#[test]
fn pool_material_with_another_key_is_never_used() {
    let (_, key) = instance();
    let attested =
        crate::state::signing_key_cache::SigningKey::new(key.as_str()).expect("signing key");
    let other = InstanceServer::from_seed(&[9u8; 64]);
    let chute = ChuteId::new("chute").expect("chute");
    let good = pool_material(&chute, key.as_str());
    let bad = pool_material(&chute, other.public_b64());
    assert!(AttemptMaterial::from_pool(&good, &attested).is_ok());
    assert!(matches!(
        AttemptMaterial::from_pool(&bad, &attested),
        Err(E2eeError::InvalidKey(_))
    ));
}

#[test]
fn short_blob_fails() {
    let (_, key) = instance();
    let (_, session) =
        encrypt_request(CHAT, &key, Endpoint::ChatCompletions, &mut rng(11)).expect("encrypt");
    assert!(matches!(
        session.decrypt_body(&[0u8; MIN_BLOB_LEN - 1]),
        Err(E2eeError::Malformed(_))
    ));
}

#[test]
fn tampered_blob_fails_authentication() {
    let (server, key) = instance();
    let (enc, session) =
        encrypt_request(CHAT, &key, Endpoint::ChatCompletions, &mut rng(12)).expect("encrypt");
    let req = server.decrypt_request(&enc.body).expect("decrypt");
    let mut blob = req
        .client_key
        .encrypt_response(b"{}", &mut rng(13))
        .expect("answer");
    let last = blob.len() - 1;
    blob[last] ^= 1;
    assert!(matches!(
        session.decrypt_body(&blob),
        Err(E2eeError::AuthFailed(_))
    ));
}

#[test]
fn bad_gzip_fails() {
    let (server, key) = instance();
    let (enc, session) =
        encrypt_request(CHAT, &key, Endpoint::ChatCompletions, &mut rng(14)).expect("encrypt");
    let req = server.decrypt_request(&enc.body).expect("decrypt");
    // Authentic ciphertext of bytes that are not gzip: the plaintext is never returned.
    let blob = req
        .client_key
        .encrypt_response_compressed(b"{\"not\":\"gzip\"}", &mut rng(15))
        .expect("answer");
    assert!(matches!(
        session.decrypt_body(&blob),
        Err(E2eeError::Malformed(_))
    ));
}

#[test]
fn oversized_decompression_fails_instead_of_truncating() {
    let bomb = gzip(&vec![b'a'; MAX_DECOMPRESSED + 1]);
    assert!(matches!(
        gunzip_bounded(&bomb, MAX_DECOMPRESSED),
        Err(E2eeError::Limit(_))
    ));
    let exact = gzip(&vec![b'a'; 1000]);
    assert_eq!(
        gunzip_bounded(&exact, 1000).expect("exact fits").len(),
        1000
    );
    assert!(gunzip_bounded(&exact, 999).is_err());
    let mut trailing = exact.clone();
    trailing.extend_from_slice(b"junk");
    assert!(gunzip_bounded(&trailing, 2000).is_err(), "trailing garbage");
    assert!(gunzip_bounded(b"", 10).is_err());
}

/// A session, the server's view of its request, and a stream sealer for it.
fn stream_fixture(seed: u8) -> (ResponseSession, ClientKey, ServerStream, String) {
    let (server, key) = instance();
    let (enc, session) =
        encrypt_request(CHAT, &key, Endpoint::ChatCompletions, &mut rng(seed)).expect("encrypt");
    let req = server.decrypt_request(&enc.body).expect("decrypt");
    let (sealer, init) = req
        .client_key
        .begin_stream(&mut rng(seed.wrapping_add(100)))
        .expect("init");
    (session, req.client_key, sealer, init)
}

fn expect_chunk_error(
    body: &str,
    session: ResponseSession,
    index: usize,
) -> (Vec<Vec<u8>>, E2eeError) {
    let (out, r) = run_stream(session, body.as_bytes());
    let err = r.expect_err("must fail");
    match &err {
        E2eeError::Chunk { index: i, .. } => assert_eq!(*i, index, "{err}"),
        other => panic!("expected a chunk error at {index}, got {other}"),
    }
    (out, err)
}

#[test]
fn chunk_before_init_fails() {
    let (session, _, sealer, _) = stream_fixture(20);
    let body = sealer
        .chunk_event(b"data: x\n\n", &mut rng(1))
        .expect("chunk");
    let (out, err) = expect_chunk_error(&body, session, 0);
    assert!(out.is_empty());
    assert!(matches!(inner(&err), E2eeError::Stream(_)));
}

#[test]
fn wrong_kem_ciphertext_size_fails() {
    let (session, _, _, _) = stream_fixture(21);
    let body = format!(
        "data: {{\"e2e_init\": \"{}\"}}\n\n",
        B64.encode([1u8; KEM_CT_LEN - 1])
    );
    let (_, err) = expect_chunk_error(&body, session, 0);
    assert!(matches!(inner(&err), E2eeError::Malformed(_)));
}

#[test]
fn bad_base64_fails() {
    let (session, _, _, init) = stream_fixture(22);
    let body = init + "data: {\"e2e\": \"@@@@\"}\n\n";
    let (_, err) = expect_chunk_error(&body, session, 1);
    assert!(matches!(inner(&err), E2eeError::Malformed(_)));
}

#[test]
fn unparsable_event_fails() {
    let (session, _, _, init) = stream_fixture(23);
    let (_, err) = expect_chunk_error(&(init + "data: {not json\n\n"), session, 1);
    assert!(matches!(inner(&err), E2eeError::Malformed(_)));
}

#[test]
fn e2e_error_event_fails() {
    let (session, _, sealer, init) = stream_fixture(24);
    let mut body = init;
    body.push_str(
        &sealer
            .chunk_event(b"data: {\"a\":1}\n\n", &mut rng(2))
            .expect("chunk"),
    );
    body.push_str("data: {\"e2e_error\": \"boom\"}\n\n");
    let (out, err) = expect_chunk_error(&body, session, 2);
    assert_eq!(
        out.len(),
        1,
        "the chunk before the error was released, nothing after"
    );
    assert!(matches!(inner(&err), E2eeError::Stream(_)));
}

#[test]
fn flipped_chunk_fails_at_that_chunk_and_stops() {
    let (session, _, sealer, init) = stream_fixture(25);
    let mut r = rng(3);
    let mut body = init;
    let mut events = Vec::new();
    for i in 0..4 {
        events.push(
            sealer
                .chunk_event(format!("data: {{\"i\":{i}}}\n\n").as_bytes(), &mut r)
                .expect("chunk"),
        );
    }
    events.push(
        sealer
            .chunk_event(b"data: [DONE]\n\n", &mut r)
            .expect("done"),
    );
    // Flip one base64 character of chunk 2 (event index 3).
    let e = &mut events[2];
    let pos = "data: {\"e2e\": \"".len() + 20;
    let flipped = if e.as_bytes()[pos] == b'A' { "B" } else { "A" };
    e.replace_range(pos..pos + 1, flipped);
    body.push_str(&events.concat());
    let (out, err) = expect_chunk_error(&body, session, 3);
    assert_eq!(out.len(), 2);
    assert!(matches!(inner(&err), E2eeError::AuthFailed(_)));
}

#[test]
fn replayed_chunk_fails() {
    let (session, _, sealer, init) = stream_fixture(26);
    let chunk = sealer
        .chunk_event(b"data: {\"a\":1}\n\n", &mut rng(4))
        .expect("chunk");
    let body = init + &chunk + &chunk;
    let (out, err) = expect_chunk_error(&body, session, 2);
    assert_eq!(out.len(), 1);
    assert!(matches!(inner(&err), E2eeError::Replay(_)));
}

#[test]
fn second_init_fails() {
    let (session, client_key, _, init) = stream_fixture(27);
    let (_, init2) = client_key.begin_stream(&mut rng(5)).expect("init");
    let (_, err) = expect_chunk_error(&(init + &init2), session, 1);
    assert!(matches!(inner(&err), E2eeError::Replay(_)));
}

#[test]
fn stream_for_another_session_fails() {
    let (_, client_key, _, _) = stream_fixture(28);
    let (session, _, _, _) = stream_fixture(29);
    let (sealer, init) = client_key.begin_stream(&mut rng(6)).expect("init");
    let body = init
        + &sealer
            .chunk_event(b"data: [DONE]\n\n", &mut rng(7))
            .expect("chunk");
    let (out, err) = expect_chunk_error(&body, session, 1);
    assert!(out.is_empty());
    assert!(matches!(inner(&err), E2eeError::AuthFailed(_)));
}

#[test]
fn stream_without_terminator_fails() {
    let (session, _, sealer, init) = stream_fixture(30);
    let body = init
        + &sealer
            .chunk_event(b"data: {\"a\":1}\n\n", &mut rng(8))
            .expect("chunk");
    let (out, r) = run_stream(session, body.as_bytes());
    assert_eq!(out.len(), 1);
    assert!(matches!(r, Err(E2eeError::Stream(_))));
}

#[test]
fn empty_or_init_only_stream_fails() {
    let (session, _, _, init) = stream_fixture(31);
    assert!(matches!(
        run_stream(session, init.as_bytes()).1,
        Err(E2eeError::Stream(_))
    ));
    let (session, _, _, _) = stream_fixture(32);
    assert!(matches!(
        run_stream(session, b"").1,
        Err(E2eeError::Stream(_))
    ));
}

#[test]
fn plaintext_done_before_encrypted_done_fails() {
    let (session, _, sealer, init) = stream_fixture(33);
    let body = init
        + &sealer
            .chunk_event(b"data: {\"a\":1}\n\n", &mut rng(9))
            .expect("chunk")
        + "data: [DONE]\n\n";
    let (_, err) = expect_chunk_error(&body, session, 2);
    assert!(matches!(inner(&err), E2eeError::Stream(_)));
}

#[test]
fn plaintext_content_event_fails_and_usage_is_never_content() {
    let (session, _, _, init) = stream_fixture(34);
    let body = init.clone()
        + &ServerStream::usage_event(1, 2)
        + "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n";
    let (out, err) = expect_chunk_error(&body, session, 2);
    assert!(out.is_empty(), "usage is not released as content");
    assert!(matches!(inner(&err), E2eeError::Plaintext(_)));
    let (session, _, _, _) = stream_fixture(34);
    let mixed = "data: {\"e2e\": \"x\", \"choices\": []}\n\n";
    let (_, err) = expect_chunk_error(&(init + mixed), session, 1);
    assert!(matches!(inner(&err), E2eeError::Malformed(_)));
}

#[test]
fn chunk_after_terminator_fails() {
    let (session, _, sealer, init) = stream_fixture(35);
    let mut r = rng(10);
    let body = init
        + &sealer
            .chunk_event(b"data: [DONE]\n\n", &mut r)
            .expect("done")
        + &sealer.chunk_event(b"data: late\n\n", &mut r).expect("late");
    let (out, err) = expect_chunk_error(&body, session, 2);
    assert_eq!(out.len(), 1);
    assert!(matches!(inner(&err), E2eeError::Stream(_)));
}

#[test]
fn oversized_event_is_a_relay_failure() {
    let (session, _, _, _) = stream_fixture(36);
    let body = format!("data: {}\n\n", "a".repeat(MAX_SSE_EVENT + 1));
    let (_, r) = run_stream(session, body.as_bytes());
    let err = r.expect_err("too large");
    assert_eq!(failure_kind(&err), FailureKind::Relay);
    assert_eq!(
        failure_kind(&E2eeError::AuthFailed(String::new())),
        FailureKind::Decryption
    );
}

#[test]
fn errors_are_sticky() {
    let (session, _, _, _) = stream_fixture(37);
    let mut dec = session.into_stream();
    let mut out = Vec::new();
    let first = dec.push(b"data: {bad\n\n", &mut out).expect_err("bad");
    assert_eq!(dec.push(b"", &mut out).expect_err("sticky"), first);
    assert_eq!(dec.finish().expect_err("sticky"), first);
}

#[test]
fn aead_rejects_short_and_wrong_key() {
    let k1 = derive_key(&[1; 32], &[2; 16], Label::Stream).expect("k1");
    let k2 = derive_key(&[1; 32], &[2; 16], Label::Response).expect("k2");
    let wire = seal_with_nonce(&k1, [0; 12], b"x").expect("seal");
    assert_eq!(open(&k1, &wire).expect("open"), b"x");
    assert!(matches!(open(&k2, &wire), Err(E2eeError::AuthFailed(_))));
    assert!(matches!(
        open(&k1, &wire[..27]),
        Err(E2eeError::Malformed(_))
    ));
}
