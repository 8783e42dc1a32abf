//! NEAR known answers (§11.1), validators and predicates (§11.2), latest field coverage of
//! requests (§12), the all-fields response policy, both key types against the simulated
//! server, and property tests of the streaming decryptor.

use curve25519_dalek::montgomery::MontgomeryPoint;
use k256::SecretKey;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::server::{NearServer, seal_json, seal_stream};
use super::*;
use crate::e2ee::venice::relay::{Endpoint, decrypt_stream};
use crate::e2ee::{E2eeError, StreamDecryptor};

fn label(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

const P: &[u8] = b"cross-language test vector";
const REQ_WIRE: &str = "7eff43d94e57406bcc8f4ae7d195815a1c585d77712dcf4514f5ed6eed517818cac8bcade9fbbabfed85fe69a1249a5255fabe053c25caf51210a438b57d391a422000e0c5dbdb65fe1bdf98402e597d47ed502cbd06ca67a2a01e1c030c78399441";
const RESP_WIRE: &str = "e3111ab6d76a9a9c83b14b0628f02aef3cd1dbfb2f3e4c507c940b782b59de41e0d4d698b2c1ce7bce22f2011a384a8e127b5d9f61f2e764539fe6e7b2072c1b78073d0e43de4018c363db7557";

#[test]
fn near_v2_request_direction_known_answer() {
    let client_seed = label("teep test ed25519 client seed");
    assert_eq!(
        hex::encode(client_seed),
        "eae30a2fddd6df9b5ec5dbf563a0a3d6debd23d503ab0905a7a971fb39f542a6"
    );
    assert_eq!(
        hex::encode(xchacha::ed25519_public_from_seed(&client_seed)),
        "beccbb043c628f9c3e59077f215cf4578d59f9707157886180d07aa8356914ec"
    );
    let cx = xchacha::x25519_secret_from_seed(&client_seed);
    assert_eq!(
        hex::encode(*cx),
        "9875068a04f28f279592f011f1c567737b13a383523cab5717ab7c24711e1d7f"
    );
    assert_eq!(
        hex::encode(xchacha::x25519_public(&cx).0),
        "ce8beebbc8324de28c33a51955843368aefc17e5e19bbf0b6a060e0b691e8737"
    );
    // The Montgomery form of the Ed25519 public key equals the X25519 public key.
    let client = xchacha::ModelKey::from_hex(
        "beccbb043c628f9c3e59077f215cf4578d59f9707157886180d07aa8356914ec",
    )
    .unwrap();
    assert_eq!(
        hex::encode(client.x25519().0),
        "ce8beebbc8324de28c33a51955843368aefc17e5e19bbf0b6a060e0b691e8737"
    );

    let model_seed = label("teep test ed25519 model seed");
    assert_eq!(
        hex::encode(model_seed),
        "f398622878a3a997f422b4c2be00bcacc19cb0f2f04b55186848d13eeb7802c4"
    );
    let model_pub = hex::encode(xchacha::ed25519_public_from_seed(&model_seed));
    assert_eq!(
        model_pub,
        "37f78d7ab1934158ef2daa8444b115314fda7b396dccb3720b95fc98b07c14db"
    );
    let model = xchacha::ModelKey::from_hex(&model_pub).unwrap();
    assert_eq!(
        hex::encode(model.x25519().0),
        "e42e8c3ba1f6ec86b9ec5c2fa6b2836392aa33e4ad948688cd84c71d1ab8055f"
    );

    let eph = label("teep test x25519 ephemeral");
    assert_eq!(
        hex::encode(eph),
        "c862a672d9ada7d34daf11bd4c74c498e36da366e84571dd299b7f8433ef6cb7"
    );
    assert_eq!(
        hex::encode(xchacha::x25519_public(&eph).0),
        "7eff43d94e57406bcc8f4ae7d195815a1c585d77712dcf4514f5ed6eed517818"
    );
    assert_eq!(
        hex::encode(model.x25519().mul_clamped(eph).0),
        "6bc96dac8e4cba784d09cc9fc1ad76923eff0d3102feb1371054c7a6094d6570"
    );
    assert_eq!(
        hex::encode(*xchacha::derive_key(&eph, model.x25519()).unwrap()),
        "cf5322540a5b2085b484395e92a4c8a1aba0d827fc2c82232741d6629f44cded"
    );
    let nonce: [u8; 24] = label("teep test xnonce24 part1")[..24].try_into().unwrap();
    assert_eq!(
        hex::encode(nonce),
        "cac8bcade9fbbabfed85fe69a1249a5255fabe053c25caf5"
    );
    let wire = xchacha::seal_with(P, model.x25519(), &eph, &nonce).unwrap();
    assert_eq!(wire, REQ_WIRE);
    assert_eq!(wire.len() / 2, 98);
    assert_eq!(
        xchacha::open(&wire, &xchacha::x25519_secret_from_seed(&model_seed)).unwrap(),
        P
    );
}

#[test]
fn near_v2_response_direction_known_answer_and_every_bit_flip_fails() {
    let client_seed = label("teep test ed25519 client seed");
    let cx = xchacha::x25519_secret_from_seed(&client_seed);
    let eph = label("teep test x25519 ephemeral 2");
    let nonce: [u8; 24] = label("teep test xnonce24 part2")[..24].try_into().unwrap();
    let client_pub = xchacha::x25519_public(&cx);
    assert_eq!(
        hex::encode(client_pub.mul_clamped(eph).0),
        "7586a0f9dac08a6a5d2f1e7b9d9c1c0752fdf850b196c55693a2082b9cf3af28"
    );
    assert_eq!(
        xchacha::seal_with(b"Hello", &client_pub, &eph, &nonce).unwrap(),
        RESP_WIRE
    );
    let mut key = xchacha::ClientKey::from_seed(&client_seed);
    assert_eq!(key.open(RESP_WIRE).unwrap(), b"Hello");
    assert!(
        matches!(key.open(RESP_WIRE), Err(E2eeError::Replay(_))),
        "a replayed field is refused"
    );
    let bytes = hex::decode(RESP_WIRE).unwrap();
    for bit in 0..bytes.len() * 8 {
        let mut t = bytes.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        assert!(
            xchacha::open(&hex::encode(&t), &cx).is_err(),
            "bit {bit} flip accepted"
        );
    }
}

#[test]
fn predicate_and_validator_vectors() {
    assert!(xchacha::is_encrypted_chunk(&"ab".repeat(72)));
    assert!(xchacha::is_encrypted_chunk(&"0f".repeat(100)));
    assert!(!xchacha::is_encrypted_chunk(&format!(
        "{}a",
        "ab".repeat(71)
    )));
    assert!(!xchacha::is_encrypted_chunk(&"zz".repeat(72)));
    assert!(!xchacha::is_encrypted_chunk(""));
    assert!(xchacha::is_encrypted_chunk(&"AB".repeat(72)));
    assert!(xchacha::is_encrypted_chunk(&"aB".repeat(72)));
    let good = "37f78d7ab1934158ef2daa8444b115314fda7b396dccb3720b95fc98b07c14db";
    assert!(ModelKey::ed25519_from_hex(good).is_ok());
    for bad in [&good[..63], &format!("{good}0"), &"zz".repeat(32)] {
        assert!(
            matches!(
                ModelKey::ed25519_from_hex(bad),
                Err(E2eeError::InvalidKey(_))
            ),
            "{bad}"
        );
    }
    // The identity point (small order) is refused up front.
    let identity = format!("01{}", "00".repeat(31));
    assert!(ModelKey::ed25519_from_hex(&identity).is_err());
    let x = [7u8; 32];
    assert!(
        matches!(xchacha::open(&"ab".repeat(71), &x), Err(E2eeError::Malformed(m)) if m.contains("too short"))
    );
    assert!(xchacha::open("not-valid-hex!", &x).is_err());
    // A low-order ephemeral key gives an all-zero shared secret: refused, not decrypted.
    let low = format!("{}{}", "00".repeat(32), "ab".repeat(40));
    assert!(
        matches!(xchacha::open(&low, &x), Err(E2eeError::InvalidKey(m)) if m.contains("x25519"))
    );
    assert!(xchacha::seal_with(b"x", &MontgomeryPoint([0; 32]), &x, &[0; 24]).is_err());
}

fn servers() -> Vec<NearServer> {
    vec![
        NearServer::ed25519(&label("teep test ed25519 model seed")),
        NearServer::ecdsa(SecretKey::from_slice(&label("teep test key A")).unwrap()),
    ]
}

fn model_of(server: &NearServer) -> ModelKey {
    let hex = server.model_key_hex();
    if hex.len() == 64 {
        ModelKey::ed25519_from_hex(&hex).unwrap()
    } else {
        ModelKey::ecdsa_from_hex(&hex).unwrap()
    }
}

fn header_pairs(h: &[(&'static str, String)]) -> Vec<(String, String)> {
    h.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

const CHAT: &str = r#"{"model":"m","messages":[
  {"role":"system","content":"sys"},
  {"role":"user","content":[{"type":"text","text":"Hi"}],"name":"bob"},
  {"role":"assistant","content":null,"reasoning_content":"because","refusal":"r","audio":{"data":"AAA="},
   "tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}],
   "function_call":{"name":"g","arguments":"{}"}}],
 "tools":[{"type":"function","function":{"name":"f","description":"does f","parameters":{"type":"object"}}}],
 "tool_choice":{"type":"function","function":{"name":"f"}},
 "function_call":{"name":"g"}}"#;

#[test]
fn chat_request_latest_coverage_round_trips_through_the_server() {
    for server in servers() {
        let mut r = rng(5);
        let model = model_of(&server);
        let req = encrypt_request("/v1/chat/completions", CHAT.as_bytes(), &model, &mut r).unwrap();
        let v: Value = serde_json::from_slice(&req.body).unwrap();
        let looks = |p: &str| {
            let s = v
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{p} missing"));
            assert!(xchacha::is_encrypted_chunk(s), "{p} not encrypted: {s}");
        };
        for p in [
            "/messages/0/content",
            "/messages/1/content",
            "/messages/1/name",
            "/messages/2/reasoning_content",
            "/messages/2/refusal",
            "/messages/2/audio/data",
            "/messages/2/tool_calls/0/function/name",
            "/messages/2/tool_calls/0/function/arguments",
            "/messages/2/function_call/name",
            "/messages/2/function_call/arguments",
            "/tools/0/function/name",
            "/tools/0/function/description",
            "/tools/0/function/parameters",
            "/tool_choice/function/name",
            "/function_call/name",
        ] {
            looks(p);
        }
        assert_eq!(v["messages"][2]["tool_calls"][0]["id"], json!("c1"));
        assert_eq!(v["stream"], json!(true));
        let (plain, e2ee) = server
            .open(&header_pairs(&req.headers), &req.body, Endpoint::Chat)
            .unwrap();
        assert!(e2ee.all_fields);
        let mut expected: Value = serde_json::from_str(CHAT).unwrap();
        expected["stream"] = json!(true);
        assert_eq!(plain, expected);
    }
}

#[test]
fn other_endpoints_and_refusals() {
    let server = &servers()[0];
    let model = model_of(server);
    let mut r = rng(6);
    for (path, body, ep) in [
        (
            "/v1/images/generations",
            r#"{"prompt":"a cat"}"#,
            Endpoint::Images,
        ),
        (
            "/v1/embeddings",
            r#"{"input":["a","b"]}"#,
            Endpoint::Embeddings,
        ),
        ("/v1/embeddings", r#"{"input":"a"}"#, Endpoint::Embeddings),
        (
            "/v1/rerank",
            r#"{"query":"q","documents":["doc-one",{"text":"doc-two"}]}"#,
            Endpoint::Rerank,
        ),
        (
            "/v1/score",
            r#"{"text_1":"x","text_2":"y"}"#,
            Endpoint::Score,
        ),
    ] {
        let req = encrypt_request(path, body.as_bytes(), &model, &mut r).unwrap();
        let text = String::from_utf8(req.body.clone()).unwrap();
        for word in ["a cat", "\"a\"", "\"q\"", "doc-one", "doc-two", "\"x\""] {
            assert!(
                !text.contains(word),
                "{path}: plaintext {word} leaked in {text}"
            );
        }
        let (plain, _) = server
            .open(&header_pairs(&req.headers), &req.body, ep)
            .unwrap();
        assert_eq!(
            plain,
            serde_json::from_str::<Value>(body).unwrap(),
            "{path}"
        );
    }
    for (path, body, needle) in [
        ("/v1/audio/speech", "{}", "not supported for endpoint"),
        ("/v1/images/generations", "{}", "missing 'prompt'"),
        ("/v1/embeddings", r#"{"input":[1]}"#, "input[0]"),
        (
            "/v1/rerank",
            r#"{"query":"q","documents":[1]}"#,
            "documents[0]",
        ),
        (
            "/v1/chat/completions",
            r#"{"messages":[{"content":true}]}"#,
            "unsupported content type",
        ),
        ("/v1/chat/completions", r#"{"model":"m"}"#, "missing"),
    ] {
        let e = encrypt_request(path, body.as_bytes(), &model, &mut r).unwrap_err();
        assert!(e.to_string().contains(needle), "{path} {body}: {e}");
    }
}

fn chunks() -> Vec<Value> {
    vec![
        json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}),
        json!({"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}),
        json!({"id":"c","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":{"content":[{"token":"Hel","bytes":[72,101,108],"logprob":-0.1,"top_logprobs":[{"token":"He","bytes":[72,101],"logprob":-2.0}]}]}}]}),
        json!({"id":"c","choices":[{"index":0,"delta":{"content":"lo","tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}),
        json!({"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"completion_tokens":2}}),
    ]
}

#[test]
fn all_fields_stream_and_json_round_trip_for_both_key_types() {
    for server in servers() {
        let mut r = rng(7);
        let model = model_of(&server);
        let req = encrypt_request(
            "/v1/chat/completions",
            br#"{"messages":[]}"#,
            &model,
            &mut r,
        )
        .unwrap();
        let (_, e2ee) = server
            .open(&header_pairs(&req.headers), &req.body, Endpoint::Chat)
            .unwrap();
        let body = seal_stream(&chunks(), &e2ee, &mut r);
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(!text.contains("hmm") && !text.contains("Hel\""), "{text}");
        let (events, summary) = decrypt_stream(&body, req.session, Policy::NearAllFields).unwrap();
        assert_eq!(events, chunks());
        assert_eq!(summary.decrypted_fields, 9);

        let mut session = ClientSession::generate_for(&model, &mut r);
        let e2ee = server
            .parse_headers(&header_pairs(&session.headers()))
            .unwrap()
            .unwrap();
        let plain = json!({"choices":[{"index":0,"message":{"role":"assistant","content":"Hi","refusal":"","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]}}],"usage":{"total_tokens":3}});
        let mut sealed = plain.clone();
        seal_json(&mut sealed, &e2ee, Endpoint::Chat, &mut r);
        assert_ne!(sealed, plain);
        assert_eq!(
            decrypt_json(sealed.to_string().as_bytes(), &mut session, Endpoint::Chat).unwrap(),
            plain
        );
        for (ep, body) in [
            (
                Endpoint::Images,
                json!({"data":[{"b64_json":"AAAA","revised_prompt":"a cat"}]}),
            ),
            (
                Endpoint::Embeddings,
                json!({"data":[{"index":0,"embedding":[0.5,1.5]}]}),
            ),
            (
                Endpoint::Rerank,
                json!({"results":[{"index":0,"relevance_score":0.9,"document":{"text":"d"}}]}),
            ),
        ] {
            let mut sealed = body.clone();
            seal_json(&mut sealed, &e2ee, ep, &mut r);
            assert_ne!(sealed, body);
            assert_eq!(
                decrypt_json(sealed.to_string().as_bytes(), &mut session, ep).unwrap(),
                body,
                "{ep:?}"
            );
            // The same body in plaintext is refused: no plaintext fallback.
            assert!(
                matches!(
                    decrypt_json(body.to_string().as_bytes(), &mut session, ep),
                    Err(E2eeError::Plaintext(_))
                ),
                "{ep:?}"
            );
        }
        let score = json!({"data":[{"index":0,"score":0.7}]});
        assert_eq!(
            decrypt_json(score.to_string().as_bytes(), &mut session, Endpoint::Score).unwrap(),
            score
        );
    }
}

#[test]
fn all_fields_policy_refuses_plaintext_leaves() {
    let mut r = rng(8);
    for delta in [
        json!({"content":"plain"}),
        json!({"refusal":"plain"}),
        json!({"name":"plain"}),
        json!({"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}),
        json!({"function_call":{"name":"plain"}}),
        json!({"audio":{"data":"AAAA"}}),
        json!({"content":[{"type":"text","text":"plain"}]}),
        json!({"unknown_field":"plain"}),
        json!({"content":5}),
    ] {
        let body = format!(
            "data: {}\n\ndata: [DONE]\n\n",
            json!({"choices":[{"index":0,"delta":delta}]})
        );
        let session = ClientSession::Ed25519(xchacha::ClientKey::generate(&mut r));
        let mut d = stream_decryptor(session);
        let mut out = Vec::new();
        let e = d.push(body.as_bytes(), &mut out).unwrap_err();
        assert!(out.is_empty(), "{delta}");
        assert!(
            matches!(e, E2eeError::Chunk { index: 0, .. }),
            "{delta}: {e}"
        );
    }
    // Structural metadata and usage stay plaintext.
    let body = "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},\"finish_reason\":\"stop\"}],\"usage\":{\"total_tokens\":1}}\n\ndata: [DONE]\n\n";
    let mut d = stream_decryptor(ClientSession::Ed25519(xchacha::ClientKey::generate(&mut r)));
    let mut out = Vec::new();
    d.push(body.as_bytes(), &mut out).unwrap();
    assert_eq!(d.finish().unwrap().events, 1);
}

#[test]
fn server_side_header_rules() {
    let server = &servers()[0];
    let h = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let key = "beccbb043c628f9c3e59077f215cf4578d59f9707157886180d07aa8356914ec";
    assert!(server.parse_headers(&h(&[])).unwrap().is_none());
    assert!(
        server
            .parse_headers(&h(&[("x-signing-algo", "ed25519")]))
            .is_err()
    );
    assert!(
        server
            .parse_headers(&h(&[
                ("x-signing-algo", "ecdsa"),
                ("x-client-pub-key", key)
            ]))
            .is_err()
    );
    assert!(
        server
            .parse_headers(&h(&[
                ("x-signing-algo", "ED25519"),
                ("x-client-pub-key", key),
                ("x-encryption-version", "3")
            ]))
            .is_err()
    );
    assert!(
        server
            .parse_headers(&h(&[
                ("x-signing-algo", "ed25519"),
                ("x-client-pub-key", key)
            ]))
            .is_err(),
        "v1 not simulated"
    );
    let ok = server
        .parse_headers(&h(&[
            ("x-signing-algo", "ED25519"),
            ("x-client-pub-key", key),
            ("x-encryption-version", "2"),
            ("x-encrypt-all-fields", "TRUE"),
        ]))
        .unwrap()
        .unwrap();
    assert!(ok.all_fields);
    // A request body the server cannot open (tampered) is refused with the generic error.
    let model = model_of(server);
    let mut r = rng(9);
    let req = encrypt_request(
        "/v1/chat/completions",
        br#"{"messages":[{"content":"hi"}]}"#,
        &model,
        &mut r,
    )
    .unwrap();
    let mut body = String::from_utf8(req.body).unwrap();
    let at = body.find("\"content\":\"").unwrap() + 20;
    let flipped = if &body[at..at + 1] == "0" { "1" } else { "0" };
    body.replace_range(at..at + 1, flipped);
    let e = server
        .open(&header_pairs(&req.headers), body.as_bytes(), Endpoint::Chat)
        .unwrap_err();
    assert_eq!(e.to_string(), "authentication failed: Decryption failed");
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "../proptest-regressions/e2ee_near.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn sealed_stream(seed: u8) -> (Vec<u8>, [u8; 32]) {
    let mut r = rng(seed);
    let server = &servers()[0];
    let client_seed = [seed ^ 0x5a; 32];
    let headers = ClientSession::Ed25519(xchacha::ClientKey::from_seed(&client_seed)).headers();
    let e2ee = server
        .parse_headers(&header_pairs(&headers))
        .unwrap()
        .unwrap();
    (seal_stream(&chunks(), &e2ee, &mut r), client_seed)
}

fn run(body: &[u8], seed: &[u8; 32], cuts: &[usize]) -> Result<Vec<String>, (usize, E2eeError)> {
    let mut d = stream_decryptor(ClientSession::Ed25519(xchacha::ClientKey::from_seed(seed)));
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&body.len())) {
        let c = c.clamp(last, body.len());
        d.push(&body[last..c], &mut out)
            .map_err(|e| (out.len(), e))?;
        last = c;
    }
    d.finish().map_err(|e| (out.len(), e))?;
    Ok(out)
}

proptest! {
    #![proptest_config(config())]

    /// Any chunking of the encrypted stream yields the same plaintext events.
    #[test]
    fn chunk_boundaries_do_not_matter(seed in any::<u8>(), mut cuts in proptest::collection::vec(0usize..3000, 0..16)) {
        let (body, client) = sealed_stream(seed);
        cuts.sort_unstable();
        prop_assert_eq!(run(&body, &client, &[]).unwrap(), run(&body, &client, &cuts).unwrap());
    }

    /// Any byte change anywhere either fails, or (outside every ciphertext) leaves every
    /// decrypted field exactly as the server sent it: tampering never yields other plaintext.
    #[test]
    fn tampering_never_yields_plaintext(seed in any::<u8>(), pick in any::<prop::sample::Index>(), x in 1u8..=255) {
        let (body, client) = sealed_stream(seed);
        let good = run(&body, &client, &[]).unwrap();
        let mut t = body.clone();
        let at = pick.index(t.len());
        t[at] ^= x;
        // A hex digit changing case encodes the same byte: not a change of the ciphertext.
        prop_assume!(!(body[at].is_ascii_hexdigit() && t[at].eq_ignore_ascii_case(&body[at])));
        if let Ok(out) = run(&t, &client, &[]) {
            // Per-field AEAD (empty AAD, as the protocol defines it) binds neither the
            // event order nor the JSON key a ciphertext sits under: a changed `data:` prefix
            // drops an event, a changed key renames a field. What must hold is that every
            // ciphertext byte change fails, and that no decrypted value is new.
            let leaves = |o: &[String]| -> Vec<String> {
                let mut v: Vec<String> = o.iter().flat_map(|e| ["hmm", "Hel", "\"lo\""].into_iter().filter(move |w| e.contains(*w)).map(str::to_owned)).collect();
                v.sort();
                v
            };
            let (got, want) = (leaves(&out), leaves(&good));
            prop_assert!(got.iter().all(|w| want.contains(w)), "{:?} not within {:?}", got, want);
            let text = String::from_utf8_lossy(&body);
            let inside_ciphertext = body[at].is_ascii_hexdigit()
                && text[..at].rfind('"').is_some_and(|q| text[q + 1..].find('"').is_some_and(|e| q + 1 + e > at && e >= 144));
            prop_assert!(!inside_ciphertext, "a ciphertext byte change was accepted");
        }
    }
}
