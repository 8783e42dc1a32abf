//! Chutes E2EE known answers: every vector of `chutes-e2ee-vectors.json` (a copy of the spec's
//! file lives in `tests/interop/chutes/vectors.json`) reproduced byte for byte, in both roles,
//! plus the real instance keys of the recorded Chutes captures.

use std::collections::VecDeque;
use std::convert::Infallible;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use proto_core::attestation::reportdata::chutes_binding_hash;
use proto_core::e2ee::E2eeError;
use proto_core::e2ee::chutes::primitives::{Label, derive_key, gunzip_bounded, seal_with_nonce};
use proto_core::e2ee::chutes::sim::{ClientKey, InstanceServer, ServerStream};
use proto_core::e2ee::chutes::{
    AttemptMaterial, Endpoint, InstanceKey, KEM_CT_LEN, MAX_DECOMPRESSED, ResponseKeyPair, encrypt_request,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

const VECTORS: &str = include_str!("../interop/chutes/vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vectors parse")
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().fold(v, |v, k| &v[*k]).as_str().unwrap_or_else(|| panic!("missing {path:?}"))
}

fn hex_of(v: &Value, path: &[&str]) -> Vec<u8> {
    hex::decode(s(v, path)).expect("hex")
}

fn b64_of(v: &Value, path: &[&str]) -> Vec<u8> {
    B64.decode(s(v, path)).expect("b64")
}

fn seed(v: &Value, which: &str) -> [u8; 64] {
    hex_of(v, &[which, "seed_hex"]).try_into().expect("64-byte seed")
}

/// An RNG that hands out a fixed script of bytes and panics when it runs dry, so a test also
/// proves how many random bytes each step draws.
struct ScriptedRng(VecDeque<u8>);

impl ScriptedRng {
    fn new(parts: &[&[u8]]) -> Self {
        Self(parts.concat().into())
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl rand_core::TryRng for ScriptedRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.0.pop_front().expect("scripted randomness exhausted");
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for ScriptedRng {}

#[test]
fn key_pairs_from_seeds() {
    let v = vectors();
    for (which, keys) in [
        (
            "client_response_keypair",
            ResponseKeyPair::from_seed(&seed(&v, "client_response_keypair")).public_b64().to_owned(),
        ),
        ("instance_keypair", InstanceServer::from_seed(&seed(&v, "instance_keypair")).public_b64().to_owned()),
    ] {
        assert_eq!(keys, s(&v, &[which, "ek_b64"]), "{which}");
        // The vectors hash the decoded 1184 key bytes.
        let digest = Sha256::digest(B64.decode(&keys).expect("b64"));
        assert_eq!(hex::encode(digest), s(&v, &[which, "ek_sha256_hex"]), "{which}");
        assert!(InstanceKey::from_attested(&keys).is_ok());
    }
}

#[test]
fn hkdf_vectors() {
    let v = vectors();
    let mut ss = [0u8; 32];
    ss[..21].copy_from_slice(b"test shared secret v3");
    let mut ct = vec![0u8; KEM_CT_LEN];
    ct[..20].copy_from_slice(b"test ciphertext salt");
    for (label, name) in
        [(Label::Request, "e2e-req-v1"), (Label::Response, "e2e-resp-v1"), (Label::Stream, "e2e-stream-v1")]
    {
        assert_eq!(label.info(), name);
        let key = derive_key(&ss, &ct, label).expect("derive");
        assert_eq!(hex::encode(key.as_bytes()), s(&v, &["hkdf_teep_test_inputs", name]));
    }
}

/// The section's KEM step and key: shared secret from the recipient's seed, key from HKDF.
fn check_kem_section(v: &Value, section: &str, recipient_seed: &str, label: Label) {
    let kem_ct = b64_of(v, &[section, "kem_ct_b64"]);
    let recipient = InstanceServer::from_seed(&seed(v, recipient_seed));
    let ss = recipient.shared_secret(&kem_ct).expect("decapsulate");
    assert_eq!(hex::encode(*ss), s(v, &[section, "shared_secret_hex"]), "{section} shared secret");
    assert_eq!(s(v, &[section, "info"]), label.info());
    let key = derive_key(&*ss, &kem_ct, label).expect("derive");
    assert_eq!(hex::encode(key.as_bytes()), s(v, &[section, "key_hex"]), "{section} key");
}

#[test]
fn request_vector_both_roles() {
    let v = vectors();
    check_kem_section(&v, "request", "instance_keypair", Label::Request);
    let blob = b64_of(&v, &["request", "blob_b64"]);
    assert_eq!(blob.len() as u64, v["request"]["blob_len"].as_u64().expect("len"));

    // Instance role: the vector's blob decrypts to the vector's JSON, whose response key is
    // the client's.
    let instance = InstanceServer::from_seed(&seed(&v, "instance_keypair"));
    let req = instance.decrypt_request(&blob).expect("instance decrypts the vector");
    assert_eq!(req.json, s(&v, &["request", "json_plaintext"]).as_bytes());
    assert_eq!(req.client_key.to_b64(), s(&v, &["client_response_keypair", "ek_b64"]));
    assert!(req.stream);

    // Client role, byte for byte: with the vector's randomness (client seed, encapsulation m,
    // AEAD nonce) our encryptor emits the vector's KEM ciphertext and nonce; sealing the
    // vector's gzip bytes under the derived key reproduces the rest of the blob.
    let mut rng = ScriptedRng::new(&[
        &seed(&v, "client_response_keypair"),
        &hex_of(&v, &["request", "encaps_m_hex"]),
        &hex_of(&v, &["request", "aead_nonce_hex"]),
    ]);
    let body = br#"{"messages":[{"content":"hi","role":"user"}],"model":"m","stream":true}"#;
    let key = InstanceKey::from_attested(s(&v, &["instance_keypair", "ek_b64"])).expect("key");
    let (enc, session) = encrypt_request(body, &key, Endpoint::ChatCompletions, &mut rng).expect("encrypt");
    assert!(rng.is_empty(), "encrypt_request draws exactly 64 + 32 + 12 bytes");
    assert_eq!(&enc.body[..KEM_CT_LEN + 12], &blob[..KEM_CT_LEN + 12]);
    assert_eq!(session.response_public_key(), s(&v, &["client_response_keypair", "ek_b64"]));
    let kem_ct = &blob[..KEM_CT_LEN];
    let ss = instance.shared_secret(kem_ct).expect("ss");
    let k = derive_key(&*ss, kem_ct, Label::Request).expect("key");
    let nonce: [u8; 12] = hex_of(&v, &["request", "aead_nonce_hex"]).try_into().expect("nonce");
    let sealed = seal_with_nonce(&k, nonce, &hex_of(&v, &["request", "gzip_plaintext_hex"])).expect("seal");
    assert_eq!(sealed, &blob[KEM_CT_LEN..]);
    // And the instance reads our own (differently compressed) request to the same JSON.
    let ours = instance.decrypt_request(&enc.body).expect("ours decrypts");
    let parsed: Value = serde_json::from_slice(&ours.json).expect("json");
    let want: Value = serde_json::from_str(s(&v, &["request", "json_plaintext"])).expect("json");
    assert_eq!(parsed, want);
}

/// A client session made with the vector's client seed (the request part is irrelevant here).
fn vector_session(v: &Value) -> proto_core::e2ee::chutes::ResponseSession {
    let mut rng = ScriptedRng::new(&[&seed(v, "client_response_keypair"), &[0x55; 32], &[0x66; 12]]);
    let key = InstanceKey::from_attested(s(v, &["instance_keypair", "ek_b64"])).expect("key");
    let (_, session) =
        encrypt_request(br#"{"stream":true}"#, &key, Endpoint::ChatCompletions, &mut rng).expect("encrypt");
    session
}

#[test]
fn non_stream_response_vector_both_roles() {
    let v = vectors();
    check_kem_section(&v, "response_nonstream", "client_response_keypair", Label::Response);
    let blob = b64_of(&v, &["response_nonstream", "blob_b64"]);
    assert_eq!(blob.len() as u64, v["response_nonstream"]["blob_len"].as_u64().expect("len"));
    let json = s(&v, &["response_nonstream", "json_plaintext"]).as_bytes();

    // Client role.
    assert_eq!(vector_session(&v).decrypt_body(&blob).expect("decrypt"), json);
    // Instance role, byte for byte from the KEM step on.
    let client = ClientKey::from_b64(s(&v, &["client_response_keypair", "ek_b64"])).expect("client key");
    let gz = hex_of(&v, &["response_nonstream", "gzip_plaintext_hex"]);
    assert_eq!(gunzip_bounded(&gz, MAX_DECOMPRESSED).expect("gunzip"), json);
    let mut rng = ScriptedRng::new(&[
        &hex_of(&v, &["response_nonstream", "encaps_m_hex"]),
        &hex_of(&v, &["response_nonstream", "aead_nonce_hex"]),
    ]);
    assert_eq!(client.encrypt_response_compressed(&gz, &mut rng).expect("encrypt"), blob);
    assert!(rng.is_empty());
}

#[test]
fn stream_vector_both_roles() {
    let v = vectors();
    check_kem_section(&v, "response_stream", "client_response_keypair", Label::Stream);
    let body = s(&v, &["response_stream", "sse_body"]);
    let want: Vec<Vec<u8>> = v["response_stream"]["chunk_plaintexts"]
        .as_array()
        .expect("chunks")
        .iter()
        .map(|c| c.as_str().expect("str").as_bytes().to_vec())
        .collect();

    // Client role: whole body, then byte by byte.
    let mut dec = vector_session(&v).into_stream();
    let mut out = Vec::new();
    dec.push(body.as_bytes(), &mut out).expect("push");
    let summary = dec.finish().expect("finish");
    assert_eq!(out, want);
    assert_eq!((summary.chunks, summary.completion_tokens), (2, 1));
    let mut dec = vector_session(&v).into_stream();
    let mut out = Vec::new();
    for b in body.as_bytes() {
        dec.push(std::slice::from_ref(b), &mut out).expect("push");
    }
    dec.finish().expect("finish");
    assert_eq!(out, want);

    // Instance role: the whole SSE body, byte for byte.
    let client = ClientKey::from_b64(s(&v, &["client_response_keypair", "ek_b64"])).expect("client key");
    let values: Vec<Vec<u8>> = v["response_stream"]["e2e_values_b64"]
        .as_array()
        .expect("values")
        .iter()
        .map(|x| B64.decode(x.as_str().expect("str")).expect("b64"))
        .collect();
    let mut rng =
        ScriptedRng::new(&[&hex_of(&v, &["response_stream", "encaps_m_hex"]), &values[0][..12], &values[1][..12]]);
    let (sealer, mut ours) = client.begin_stream(&mut rng).expect("init");
    ours.push_str(&ServerStream::usage_event(5, 1));
    for chunk in &want {
        ours.push_str(&sealer.chunk_event(chunk, &mut rng).expect("chunk"));
    }
    assert_eq!(ours, body);
    assert!(rng.is_empty());
}

#[test]
fn reportdata_synthetic_vector() {
    let v = vectors();
    let nonce: [u8; 32] = hex_of(&v, &["reportdata_synthetic", "nonce_hex"]).try_into().expect("nonce");
    let got = chutes_binding_hash(&nonce, s(&v, &["reportdata_synthetic", "e2e_pubkey_string"]));
    assert_eq!(hex::encode(got), s(&v, &["reportdata_synthetic", "expected_reportdata_0_32_hex"]));
}

/// The instances answer of a recorded Chutes capture, if the captures are present.
fn capture_instances(name: &str) -> Option<Value> {
    let dir = teep_tests::captures::captures_dir()?.join(name).join("responses");
    let file = std::fs::read_dir(&dir)
        .expect("capture responses")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.contains("_e2e_instances_") && n.ends_with(".body")
        })
        .expect("instances answer in capture");
    Some(serde_json::from_slice(&std::fs::read(file).expect("read")).expect("instances JSON"))
}

#[test]
fn capture_keys_are_valid_and_bound_as_recorded() {
    let v = vectors();
    for section in ["reportdata_capture", "reportdata_capture_2026_06_10"] {
        let capture = s(&v, &[section, "capture"]).trim_start_matches("shared/captures/");
        let Some(instances) = capture_instances(capture) else { return };
        let list = instances["instances"].as_array().expect("instances");
        // Every real instance key passes validation (length and FIPS 203 modulus check).
        for inst in list {
            InstanceKey::from_attested(inst["e2e_pubkey"].as_str().expect("key")).expect("captured key is valid");
        }
        let id = s(&v, &[section, "selected_instance_id"]);
        let inst = list.iter().find(|i| i["instance_id"] == id).expect("selected instance in capture");
        let key_text = inst["e2e_pubkey"].as_str().expect("key");
        assert_eq!(
            hex::encode(Sha256::digest(key_text.as_bytes())),
            s(&v, &[section, "sha256_of_e2e_pubkey_string_hex"])
        );
        let nonce: [u8; 32] = hex_of(&v, &[section, "nonce_hex"]).try_into().expect("nonce");
        assert_eq!(
            hex::encode(chutes_binding_hash(&nonce, key_text)),
            s(&v, &[section, "expected_reportdata_0_32_hex"])
        );
        let first = inst["nonces"][0].as_str().expect("first nonce");
        assert_eq!(first, s(&v, &[section, "first_nonce_of_selected_instance"]));
        // The attempt material for that first request builds, and encrypts to the real key.
        let key = InstanceKey::from_attested(key_text).expect("key");
        let m = AttemptMaterial::new("e51e818e-fa63-570d-9f68-49d7d1b4d12f", id, first, key).expect("material");
        let mut rng = ScriptedRng::new(&[&[1u8; 64], &[2u8; 32], &[3u8; 12]]);
        let (enc, _) = encrypt_request(b"{}", m.key(), Endpoint::Embeddings, &mut rng).expect("encrypt");
        assert!(!enc.stream);
    }
}

#[test]
fn vector_blobs_refuse_the_wrong_party() {
    let v = vectors();
    // The request vector is unreadable by the client's key pair; the response vector by the
    // instance's.
    let client_as_server = InstanceServer::from_seed(&seed(&v, "client_response_keypair"));
    let r = client_as_server.decrypt_request(&b64_of(&v, &["request", "blob_b64"]));
    assert!(matches!(r, Err(E2eeError::AuthFailed(_))));
    let mut rng = ScriptedRng::new(&[&seed(&v, "instance_keypair"), &[0x55; 32], &[0x66; 12]]);
    let key = InstanceKey::from_attested(s(&v, &["instance_keypair", "ek_b64"])).expect("key");
    let (_, wrong) = encrypt_request(b"{}", &key, Endpoint::Embeddings, &mut rng).expect("encrypt");
    let r = wrong.decrypt_body(&b64_of(&v, &["response_nonstream", "blob_b64"]));
    assert!(matches!(r, Err(E2eeError::AuthFailed(_))));
}
