//! Venice and NEAR E2EE through the public API: the model keys recorded in real captures are
//! accepted and usable; a request encrypted to one only opens with that enclave's key; a full
//! request/answer round trip against the simulated servers for each key type.
//! (Known answers, fail-closed catalogue and property tests live next to the code in
//! proto-core/src/e2ee/{venice,near}/tests.rs.)

use proto_core::e2ee::near::server::{NearServer, seal_stream};
use proto_core::e2ee::near::{self, ModelKey};
use proto_core::e2ee::venice::relay::Endpoint;
use proto_core::e2ee::venice::server::VeniceServer;
use proto_core::e2ee::{E2eeError, StreamDecryptor, venice};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};
use teep_tests::captures::captures_dir;

/// Every `signing_public_key` recorded in attestation answers of captures whose name starts
/// with `prefix`.
fn recorded_keys(prefix: &str) -> Vec<String> {
    let Some(dir) = captures_dir() else {
        eprintln!("SKIPPED: no captures directory");
        return Vec::new();
    };
    let mut keys = Vec::new();
    for cap in std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
    {
        let Ok(responses) = std::fs::read_dir(cap.path().join("responses")) else {
            continue;
        };
        for f in responses
            .flatten()
            .filter(|f| f.file_name().to_string_lossy().contains("attestation"))
        {
            let text = String::from_utf8_lossy(&std::fs::read(f.path()).unwrap()).into_owned();
            for part in text.split("\"signing_public_key\":\"").skip(1) {
                if let Some(end) = part.find('"') {
                    keys.push(part[..end].to_owned());
                }
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

fn headers(h: &[(&'static str, String)]) -> Vec<(String, String)> {
    h.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

#[test]
fn recorded_venice_model_keys_validate_and_encrypt() {
    let keys = recorded_keys("venice");
    if keys.is_empty() {
        eprintln!("SKIPPED: no venice captures");
        return;
    }
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    for k in &keys {
        let model = venice::ModelKey::from_hex(k).unwrap();
        let req = venice::encrypt_chat_request(
            br#"{"messages":[{"role":"user","content":"Say hello"}]}"#,
            &model,
            &mut rng,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&req.body).unwrap();
        assert!(venice::ecies::is_encrypted_chunk(
            v["messages"][0]["content"].as_str().unwrap()
        ));
        assert_eq!(
            req.headers[1].1, *k,
            "the attested key goes upstream verbatim"
        );
        // One changed character of the attested key: refused, or a different key (never ours).
        let mut bad = k.clone().into_bytes();
        bad[40] = if bad[40] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        if let Ok(other) = venice::ModelKey::from_hex(&bad) {
            assert_ne!(other, model);
        }
    }
    eprintln!("{} recorded Venice model key(s) checked", keys.len());
}

#[test]
fn recorded_near_model_keys_validate_and_encrypt() {
    let keys = recorded_keys("near");
    if keys.is_empty() {
        eprintln!("SKIPPED: no NEAR captures");
        return;
    }
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    for k in &keys {
        let model = ModelKey::ed25519_from_hex(k).unwrap();
        let req = near::encrypt_request(
            "/v1/chat/completions",
            br#"{"messages":[{"role":"user","content":"Say hello"}]}"#,
            &model,
            &mut rng,
        )
        .unwrap();
        assert!(!String::from_utf8_lossy(&req.body).contains("Say hello"));
    }
    eprintln!("{} recorded NEAR model key(s) checked", keys.len());
}

#[test]
fn venice_round_trip_against_the_simulated_enclave() {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let enclave = VeniceServer::generate(&mut rng);
    let model = venice::ModelKey::from_hex(&enclave.model_key_hex()).unwrap();
    let req = venice::encrypt_chat_request(
        br#"{"model":"e2ee-x","messages":[{"role":"user","content":"Say hello"}]}"#,
        &model,
        &mut rng,
    )
    .unwrap();
    let (plain, client) = enclave
        .open_request(&headers(&req.headers), &req.body)
        .unwrap();
    assert_eq!(plain["messages"][0]["content"], json!("Say hello"));
    let chunks = [
        json!({"id":"1","created":1,"model":"e2ee-x","choices":[{"index":0,"delta":{"content":"Hello"}}]}),
    ];
    let body = enclave.seal_stream(&chunks, &client, &mut rng);
    let mut d = venice::stream_decryptor(req.session);
    let mut out = Vec::new();
    d.push(&body, &mut out).unwrap();
    assert_eq!(d.finish().unwrap().decrypted_fields, 1);
    assert!(out[0].contains("\"Hello\""));
}

#[test]
fn near_round_trip_and_a_foreign_enclave_cannot_open_it() {
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let enclave = NearServer::ed25519(&[9; 32]);
    let impostor = NearServer::ed25519(&[8; 32]);
    let model = ModelKey::ed25519_from_hex(&enclave.model_key_hex()).unwrap();
    let req = near::encrypt_request(
        "/v1/chat/completions",
        br#"{"messages":[{"role":"user","content":"Say hello"}]}"#,
        &model,
        &mut rng,
    )
    .unwrap();
    let h = headers(&req.headers);
    assert!(matches!(
        impostor.open(&h, &req.body, Endpoint::Chat),
        Err(E2eeError::AuthFailed(_))
    ));
    let (plain, e2ee) = enclave.open(&h, &req.body, Endpoint::Chat).unwrap();
    assert_eq!(plain["messages"][0]["content"], json!("Say hello"));
    let body = seal_stream(
        &[json!({"choices":[{"index":0,"delta":{"content":"Hello"}}]})],
        &e2ee,
        &mut rng,
    );
    let mut d = near::stream_decryptor(req.session);
    let mut out = Vec::new();
    d.push(&body, &mut out).unwrap();
    assert_eq!(d.finish().unwrap().decrypted_fields, 1);
}
