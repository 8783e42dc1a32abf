//! Known answers (spec §11.1), validators and predicates (§11.2), request transform, relay
//! and reassembly rules (§6.3–§6.6), fail-closed catalogue items (§13) for Venice, plus
//! property tests of the streaming decryptor.

use k256::SecretKey;
use k256::elliptic_curve::sec1::ToSec1Point;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::relay::{self, Endpoint, Policy};
use super::server::VeniceServer;
use super::*;
use crate::e2ee::{E2eeError, StreamDecryptor};

fn label(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn secret(s: &str) -> SecretKey {
    SecretKey::from_slice(&label(s)).unwrap()
}

fn nonce12(s: &str) -> [u8; 12] {
    label(s)[..12].try_into().unwrap()
}

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

const P: &[u8] = b"cross-language test vector";
const V1_WIRE: &str = "04b37119eee5e7b4421341f726139692505f71d26bbf5d9fc8c162fff8cd54d84bd99ff2584148f54eb3467b8a6cbf65fe333477bf9607dc6b496abb98942d468e653f6fa00018e38cd6ec3a6324e6714f77ab0afc90ad2c972e99c105b684c1aadb73d0fa6711a9c525c3eedd04682a7a16836870f85e";
const V2_WIRE: &str = "04b611ee52f19548a1e96822251b689ba6c4cadc476fdcad3c6ae1b348b7a8ee07f20fcebbc4dc824c270cfb2156f9ebaefcfe33616a0c6fe561f4a7edb66fe492e4958ed2a020873068077f869aab01b0fa4a9073d7a68030f2d57c542847a31bcf";
const MODEL_PUB: &str = "04c3658f45ee03e703a6829ca3b729cb641290b04479549d41296e0a6e52fc2cd37a6b10608f1fb0aff0325aec7d2d59bcd1ca68e71d6d513d5e33df0d29281c3e";

#[test]
fn hkdf_known_answers() {
    let ikm = label("teep hkdf test input");
    assert_eq!(
        hex::encode(ikm),
        "8e787711f3bf2d7ee90e90aea4c099b2a112e2aaeaac5b1cf850ad3fa1e82bfa"
    );
    let okm = |info: &[u8]| {
        let mut o = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, &ikm)
            .expand(info, &mut o)
            .unwrap();
        hex::encode(o)
    };
    assert_eq!(
        okm(ecies::HKDF_INFO),
        "2ecbde53e06020a6e91ede39fa19470851b3ae12afc88fbf792a21ce151dde6d"
    );
    assert_eq!(
        okm(crate::e2ee::near::xchacha::HKDF_INFO),
        "76e2cb8031f89809563968d22da035a022a21ff6b51123db1ab43c892044a1d3"
    );
}

#[test]
fn venice_v1_request_direction_known_answer() {
    let ka = secret("teep test key A");
    assert_eq!(
        hex::encode(ka.to_bytes()),
        "4b75acc8a59595fde7146d78f2cad46603e79b192e5ceb3e4e5a445abf2feb31"
    );
    let pk = ka.public_key();
    assert_eq!(ecies::uncompressed_hex(&pk), MODEL_PUB);
    assert_eq!(
        hex::encode(pk.to_sec1_point(true).as_bytes()),
        "02c3658f45ee03e703a6829ca3b729cb641290b04479549d41296e0a6e52fc2cd3"
    );
    let addr = sha3::Keccak256::digest(&pk.to_sec1_point(false).as_bytes()[1..]);
    assert_eq!(
        hex::encode(&addr[12..]),
        "73e28e068e0a3902547a8db5bfb7624cd7ce22b2"
    );
    let e = secret("teep test ephemeral");
    assert_eq!(
        hex::encode(e.to_bytes()),
        "84957d1eeebd956c4a59c28d9aa8c9ceb48c487fbf40f786f8075e4c279ae40e"
    );
    assert_eq!(
        ecies::uncompressed_hex(&e.public_key()),
        "04b37119eee5e7b4421341f726139692505f71d26bbf5d9fc8c162fff8cd54d84bd99ff2584148f54eb3467b8a6cbf65fe333477bf9607dc6b496abb98942d468e"
    );
    let shared = e.diffie_hellman(&pk);
    assert_eq!(
        hex::encode(shared.raw_secret_bytes()),
        "17265904e4a41ea8be2cd3e39f151697ba9b1805c9223b11388b0b5f2b6e21d4"
    );
    assert_eq!(
        hex::encode(*ecies::derive_key(&e, &pk)),
        "5f53c62cf3c3ddef60e4a98f72af058976b52f2bfd36443ae80470c6982c9026"
    );
    let n = nonce12("teep test nonce");
    assert_eq!(hex::encode(n), "653f6fa00018e38cd6ec3a63");
    let wire = ecies::seal_with(P, &pk, &e, &n).unwrap();
    assert_eq!(wire, V1_WIRE);
    assert_eq!(wire.len() / 2, 119);
    assert_eq!(ecies::open(&wire, &ka).unwrap(), P);
    assert_eq!(
        ecies::seal_with(b"", &pk, &e, &n).unwrap(),
        "04b37119eee5e7b4421341f726139692505f71d26bbf5d9fc8c162fff8cd54d84bd99ff2584148f54eb3467b8a6cbf65fe333477bf9607dc6b496abb98942d468e653f6fa00018e38cd6ec3a633816e944df3f67fcf5deeac60b26832d"
    );
}

#[test]
fn venice_v2_response_direction_known_answer_and_every_bit_flip_fails() {
    let kb = secret("teep test key B");
    assert_eq!(
        hex::encode(kb.to_bytes()),
        "4cd16bcca9b27ba143e4da8c19fabed50c4c4ae4310d8c372f9cefc2adfba81c"
    );
    assert_eq!(
        ecies::uncompressed_hex(&kb.public_key()),
        "0456ba645b8c32b3d3a6bef787c9d2617830bf8623987f424c2aa3dcc8af09a3cd78562df2112d8226ead6bdb1544efe2406a2b1c325b44b0f79fb93fe0024e74e"
    );
    let wire = ecies::seal_with(
        b"Hello",
        &kb.public_key(),
        &secret("teep test ephemeral 2"),
        &nonce12("teep test nonce 2"),
    )
    .unwrap();
    assert_eq!(wire, V2_WIRE);
    assert_eq!(ecies::open(V2_WIRE, &kb).unwrap(), b"Hello");
    let bytes = hex::decode(V2_WIRE).unwrap();
    for bit in 0..bytes.len() * 8 {
        let mut t = bytes.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        assert!(
            ecies::open(&hex::encode(&t), &kb).is_err(),
            "bit {bit} flip accepted"
        );
    }
}

#[test]
fn predicate_and_validator_vectors() {
    let ab92 = format!("04{}", "ab".repeat(92));
    assert!(ecies::is_encrypted_chunk(&ab92));
    assert!(ecies::is_encrypted_chunk(&format!("{ab92}ff")));
    assert!(!ecies::is_encrypted_chunk(&ab92[..185]));
    assert!(!ecies::is_encrypted_chunk(""));
    assert!(!ecies::is_encrypted_chunk(&format!(
        "02{}",
        "ab".repeat(92)
    )));
    assert!(!ecies::is_encrypted_chunk(&format!(
        "00{}",
        "ab".repeat(92)
    )));
    assert!(!ecies::is_encrypted_chunk(&format!(
        "04{}zz",
        "ab".repeat(91)
    )));
    assert!(ecies::is_encrypted_chunk(&format!("04{}", "AB".repeat(92))));
    assert!(ecies::is_encrypted_chunk(&format!("04{}", "aB".repeat(92))));

    assert!(ModelKey::from_hex(MODEL_PUB).is_ok());
    for bad in [
        MODEL_PUB[..128].to_owned(),
        format!("{MODEL_PUB}00"),
        format!("02{}", &MODEL_PUB[2..]),
        "z".repeat(130),
        "0".repeat(130),
    ] {
        assert!(
            matches!(ModelKey::from_hex(&bad), Err(E2eeError::InvalidKey(_))),
            "{bad}"
        );
    }
    let ka = secret("teep test key A");
    assert!(
        matches!(ecies::open(&"04".repeat(46), &ka), Err(E2eeError::Malformed(m)) if m.contains("too short"))
    );
    assert!(matches!(
        ecies::open("not-hex-data", &ka),
        Err(E2eeError::Malformed(_))
    ));
    assert!(matches!(
        ecies::open(V1_WIRE, &secret("teep test key B")),
        Err(E2eeError::AuthFailed(_))
    ));
}

const CLIENT_BODY: &str = r#"{"model":"e2ee-qwen3-5-122b-a10b","stream":false,"temperature":0.2,
 "messages":[{"role":"system","content":"Be brief."},
             {"role":"user","content":[{"type":"text","text":"Hi"}]},
             {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},
             {"role":"tool","tool_call_id":"call_1","name":"f","content":"42"}],
 "tools":[{"type":"function","function":{"name":"f"}}]}"#;

#[test]
fn request_transform_encrypts_content_only_and_server_recovers_it() {
    let mut r = rng(1);
    let server = VeniceServer::generate(&mut r);
    let model = ModelKey::from_hex(&server.model_key_hex()).unwrap();
    let req = encrypt_chat_request(CLIENT_BODY.as_bytes(), &model, &mut r).unwrap();
    let v: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(v["stream"], json!(true));
    assert_eq!(v["model"], json!("e2ee-qwen3-5-122b-a10b"));
    let msgs = v["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["content"].as_str().unwrap().len(), 186 + 2 * 9);
    assert!(ecies::is_encrypted_chunk(
        msgs[1]["content"].as_str().unwrap()
    ));
    assert_eq!(msgs[2]["content"], Value::Null);
    assert_eq!(msgs[2]["tool_calls"][0]["function"]["name"], json!("f"));
    assert_eq!(msgs[3]["tool_call_id"], json!("call_1"));
    assert_eq!(v["tools"][0]["function"]["name"], json!("f"));
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert_eq!(headers[1].1, server.model_key_hex());
    let (plain, client) = server.open_request(&headers, &req.body).unwrap();
    assert_eq!(plain["messages"][0]["content"], json!("Be brief."));
    assert_eq!(
        plain["messages"][1]["content"],
        json!([{"type":"text","text":"Hi"}])
    );
    assert_eq!(plain["messages"][3]["content"], json!("42"));
    assert_eq!(client, req.session.public_key());
    // The server refuses a request addressed to another model key.
    let other = VeniceServer::generate(&mut r);
    assert!(other.open_request(&headers, &req.body).is_err());
}

#[test]
fn request_transform_refusals() {
    let mut r = rng(2);
    let model = ModelKey::from_hex(MODEL_PUB).unwrap();
    for (body, needle) in [
        (r#"not json"#, "parse body"),
        (r#"[1]"#, "not a JSON object"),
        (r#"{"model":"m"}"#, "missing"),
        (r#"{"messages":"not-an-array"}"#, "not an array"),
        (r#"{"messages":[42]}"#, "not an object"),
        (
            r#"{"messages":[{"role":"user","content":{"key":"value"}}]}"#,
            "unsupported content type (starts with '{')",
        ),
        (
            r#"{"messages":[{"role":"user","content":42}]}"#,
            "unsupported content type (starts with '4')",
        ),
    ] {
        let e = encrypt_chat_request(body.as_bytes(), &model, &mut r).unwrap_err();
        assert!(e.to_string().contains(needle), "{body}: {e}");
    }
    let ok = encrypt_chat_request(br#"{"messages":null}"#, &model, &mut r).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&ok.body).unwrap()["stream"],
        json!(true)
    );
    let e = encrypt_request("/api/v1/embeddings", b"{}", &model, &mut r).unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad body: venice E2EE unsupported endpoint \"/api/v1/embeddings\""
    );
}

fn chunk(delta: Value) -> Value {
    json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",
           "choices":[{"index":0,"delta":delta,"finish_reason":null}]})
}

/// A server stream of `parts` (role chunk, content chunks, finish chunk) sealed to `session`.
fn stream_for(session: &ClientSession, parts: &[&str], r: &mut ChaCha20Rng) -> Vec<u8> {
    let server = VeniceServer::generate(r);
    let mut chunks = vec![chunk(json!({"role":"assistant","content":""}))];
    chunks.extend(parts.iter().map(|p| chunk(json!({"content": p}))));
    chunks.push(
        json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":2,"model":"m",
        "choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}),
    );
    chunks.push(json!({"id":"chatcmpl-1","choices":[],"usage":{"completion_tokens":3}}));
    server.seal_stream(&chunks, &session.public_key(), r)
}

fn run(
    d: &mut impl StreamDecryptor,
    body: &[u8],
    cuts: &[usize],
) -> Result<Vec<String>, (Vec<String>, E2eeError)> {
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&body.len())) {
        let c = c.clamp(last, body.len());
        if let Err(e) = d.push(&body[last..c], &mut out) {
            return Err((out, e));
        }
        last = c;
    }
    d.finish().map(|_| out.clone()).map_err(|e| (out, e))
}

#[test]
fn stream_decrypts_and_reassembles() {
    let mut r = rng(3);
    let session = ClientSession::generate(&mut r);
    let session2 = ClientSession::from_secret(
        SecretKey::from_slice(&session.secret_bytes_for_tests()).unwrap(),
    );
    let body = stream_for(&session, &["Hello", " world", "!"], &mut r);
    let mut d = stream_decryptor(session);
    let out = run(&mut d, &body, &[]).unwrap();
    assert_eq!(out.len(), 7);
    assert!(out[1].contains(r#""content":"Hello""#), "{}", out[1]);
    assert_eq!(out[6], "data: [DONE]\n\n");
    let done = decrypt_to_completion(&body, session2).unwrap();
    assert_eq!(
        done["choices"][0]["message"]["content"],
        json!("Hello world!")
    );
    assert_eq!(done["choices"][0]["message"]["role"], json!("assistant"));
    assert_eq!(done["choices"][0]["finish_reason"], json!("stop"));
    assert_eq!(done["object"], json!("chat.completion"));
    assert_eq!(done["created"], json!(2));
    assert_eq!(done["usage"]["completion_tokens"], json!(3));
}

#[test]
fn worked_example_of_the_spec() {
    let kb = secret("teep test key B");
    let line = format!(
        "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"e2ee-qwen3-5-122b-a10b\",\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"{V2_WIRE}\"}},\"finish_reason\":null}}]}}\n\ndata: [DONE]\n\n"
    );
    let mut d = stream_decryptor(ClientSession::from_secret(kb.clone()));
    let out = run(&mut d, line.as_bytes(), &[]).unwrap();
    let v: Value = serde_json::from_str(out[0].strip_prefix("data: ").unwrap().trim()).unwrap();
    assert_eq!(
        v["choices"][0]["delta"],
        json!({"role":"assistant","content":"Hello"})
    );
    let plain = "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n";
    let mut d = stream_decryptor(ClientSession::from_secret(kb));
    let (out, e) = run(&mut d, plain.as_bytes(), &[]).unwrap_err();
    assert!(out.is_empty());
    assert!(
        matches!(e, E2eeError::Chunk { index: 0, ref source } if matches!(**source, E2eeError::Plaintext(_))),
        "{e}"
    );
}

/// §13 and §6.6: every fail-closed condition of the response side, one case each.
#[test]
fn fail_closed_catalogue_response_side() {
    let kb = secret("teep test key B");
    let enc = V2_WIRE;
    let cases: Vec<(String, &str)> = vec![
        ("data: not json\n\ndata: [DONE]\n\n".into(), "not JSON"),
        ("data: {\"choices\":{}}\n\ndata: [DONE]\n\n".into(), "choices: expected array"),
        ("data: {\"choices\":[{\"delta\":[]}]}\n\ndata: [DONE]\n\n".into(), "expected object"),
        ("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n".into(), "not recognised"),
        ("data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"think\"}}]}\n\ndata: [DONE]\n\n".into(), "not recognised"),
        ("data: {\"choices\":[{\"delta\":{\"content\":[1]}}]}\n\ndata: [DONE]\n\n".into(), "expected encrypted string, got array"),
        ("data: {\"choices\":[{\"index\":0,\"delta\":{}},{\"index\":1,\"delta\":{\"content\":\"plain\"}}]}\n\ndata: [DONE]\n\n".into(), "choices[1]"),
        (format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}00\"}}}}]}}\n\ndata: [DONE]\n\n", &enc[..enc.len() - 2]), "authentication failed"),
        (format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{enc}\"}}}}]}}\n\n"), "[DONE]"),
        (format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{enc}\"}}}}]}}\n\ndata: {{\"choices\":[{{\"delta\":{{\"content\":\"{enc}\"}}}}]}}\n\ndata: [DONE]\n\n"), "reused"),
        ("data: [DONE]\n\ndata: {}\n\n".into(), "after the [DONE]"),
        ("data: {\"choices\":[]}".into(), "truncated"),
    ];
    for (body, needle) in cases {
        let mut d = stream_decryptor(ClientSession::from_secret(kb.clone()));
        let (_, e) = run(&mut d, body.as_bytes(), &[]).unwrap_err();
        assert!(e.to_string().contains(needle), "{body:?}: {e}");
        // Sticky: nothing is released afterwards.
        let mut out = Vec::new();
        assert!(d.push(b"data: [DONE]\n\n", &mut out).is_err());
        assert!(out.is_empty());
    }
    // Reassembly-only failures.
    assert!(
        relay::reassemble(&[])
            .unwrap_err()
            .to_string()
            .contains("no SSE chunks")
    );
    let no_index = json!({"choices":[{"delta":{"tool_calls":[{"function":{"name":"f"}}]}}]});
    assert!(
        relay::reassemble(&[no_index])
            .unwrap_err()
            .to_string()
            .contains("index")
    );
    let bad_finish = json!({"choices":[{"delta":{},"finish_reason":7}]});
    assert!(relay::reassemble(&[bad_finish]).is_err());
    // An empty body is not a completion.
    assert!(decrypt_to_completion(b"", ClientSession::from_secret(kb)).is_err());
}

#[test]
fn plaintext_metadata_and_empty_content_pass() {
    let kb = secret("teep test key B");
    let body = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"refusal\":\"no\",\"name\":\"x\",\"content\":\"\"}}]}\n\ndata: [DONE]\n\n";
    let mut d = stream_decryptor(ClientSession::from_secret(kb.clone()));
    let out = run(&mut d, body.as_bytes(), &[]).unwrap();
    assert_eq!(
        out[0],
        body.split("\n\n").next().unwrap().to_owned() + "\n\n"
    );
    let mut s = ClientSession::from_secret(kb);
    let mut v = json!({"choices":[{"message":{"content": V2_WIRE}}]});
    assert_eq!(
        relay::decrypt_body(&mut v, &mut s, Policy::Venice, Endpoint::Chat, false).unwrap(),
        1
    );
    assert_eq!(v["choices"][0]["message"]["content"], json!("Hello"));
}

#[test]
fn a_response_sealed_to_another_key_fails() {
    let mut r = rng(4);
    let ours = ClientSession::generate(&mut r);
    let theirs = ClientSession::generate(&mut r);
    let body = stream_for(&theirs, &["secret"], &mut r);
    let mut d = stream_decryptor(ours);
    let (out, e) = run(&mut d, &body, &[]).unwrap_err();
    assert_eq!(
        out.len(),
        1,
        "only the role chunk (nothing encrypted) is released"
    );
    assert!(
        matches!(e, E2eeError::Chunk { index: 1, ref source } if matches!(**source, E2eeError::AuthFailed(_))),
        "{e}"
    );
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "../proptest-regressions/e2ee_venice.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any chunking of the encrypted stream yields the same plaintext events.
    #[test]
    fn chunk_boundaries_do_not_matter(seed in any::<u8>(), mut cuts in proptest::collection::vec(0usize..4000, 0..12)) {
        let mut r = rng(seed);
        let session = ClientSession::generate(&mut r);
        let key = session.secret_bytes_for_tests();
        let body = stream_for(&session, &["a", "bc", "d\u{e9}f"], &mut r);
        let whole = run(&mut stream_decryptor(session), &body, &[]).unwrap();
        cuts.sort_unstable();
        let again = ClientSession::from_secret(SecretKey::from_slice(&key).unwrap());
        let pieces = run(&mut stream_decryptor(again), &body, &cuts).unwrap();
        prop_assert_eq!(whole, pieces);
    }

    /// Any single-byte change inside an encrypted field fails at that chunk and releases
    /// nothing from it onwards.
    #[test]
    fn tampering_never_yields_plaintext(seed in any::<u8>(), pick in any::<prop::sample::Index>(), x in 1u8..=255) {
        let mut r = rng(seed);
        let session = ClientSession::generate(&mut r);
        let body = stream_for(&session, &["alpha", "beta", "gamma"], &mut r);
        let text = String::from_utf8(body.clone()).unwrap();
        // Positions inside ciphertext strings (long hex runs).
        let hex_positions: Vec<usize> = text.match_indices("\"04").flat_map(|(i, _)| {
            let end = text[i + 1..].find('"').map_or(i, |e| i + 1 + e);
            i + 1..end
        }).collect();
        let at = hex_positions[pick.index(hex_positions.len())];
        let mut t = body.clone();
        t[at] ^= x;
        // A hex digit changing case encodes the same byte: not a change of the ciphertext.
        prop_assume!(!t[at].eq_ignore_ascii_case(&body[at]));
        let chunk_of = text[..at].matches("data: ").count() - 1;
        match run(&mut stream_decryptor(session), &t, &[]) {
            Ok(out) => prop_assert!(false, "tampered stream accepted: {out:?}"),
            Err((out, e)) => {
                prop_assert_eq!(out.len(), chunk_of);
                let is_chunk_error = matches!(e, E2eeError::Chunk { index, .. } if index == chunk_of);
                prop_assert!(is_chunk_error, "{}", e);
            }
        }
    }
}
