//! `cargo bench -p teep-tests --bench e2ee_venice_near`: streaming decrypt throughput of the
//! Venice (ECIES/AES-256-GCM) and NEAR (X25519/XChaCha20-Poly1305) SSE decryptors, next to
//! the per-field open cost alone and the raw AEAD throughput of the same crates (aes-gcm,
//! chacha20poly1305). A measurement, not a test.

use std::time::{Duration, Instant};

use aes_gcm::Aes256Gcm;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit};
use proto_core::e2ee::near::server::NearServer;
use proto_core::e2ee::near::{self, ClientSession, xchacha};
use proto_core::e2ee::venice::{self, ecies, server::VeniceServer};
use proto_core::e2ee::{FieldOpener, StreamDecryptor};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

const CHUNKS: usize = 2000;

fn chunks() -> Vec<Value> {
    (0..CHUNKS)
        .map(|i| json!({"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"content": format!("token text {i}")}}]}))
        .collect()
}

fn text(c: &Value) -> &str {
    c["choices"][0]["delta"]["content"]
        .as_str()
        .unwrap_or_default()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(n: usize, mut f: impl FnMut()) -> Duration {
    f();
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn report(name: &str, bytes: usize, fields: usize, d: Duration) {
    let s = d.as_secs_f64();
    println!(
        "{name:<52} {:>9.3} MB/s plaintext  {:>9.0} fields/s  ({:.1} ms)",
        bytes as f64 / s / 1e6,
        fields as f64 / s,
        s * 1e3
    );
}

fn main() {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let all = chunks();
    let plain: usize = all.iter().map(|c| text(c).len()).sum();
    println!("{CHUNKS} SSE chunks, {plain} plaintext bytes, one encrypted field each");

    // Venice.
    let enclave = VeniceServer::generate(&mut rng);
    let client = venice::ClientSession::generate(&mut rng);
    let secret = client.export_secret_for_harness();
    let body = enclave.seal_stream(&all, &client.public_key(), &mut rng);
    let d = time(5, || {
        let mut dec =
            venice::stream_decryptor(venice::ClientSession::from_secret_bytes(&secret).unwrap());
        let mut out = Vec::new();
        dec.push(&body, &mut out).unwrap();
        dec.finish().unwrap();
    });
    report("venice: SSE stream decrypt", plain, CHUNKS, d);
    let fields: Vec<String> = all
        .iter()
        .map(|c| ecies::seal(text(c).as_bytes(), &client.public_key(), &mut rng).unwrap())
        .collect();
    let d = time(5, || {
        let mut s = venice::ClientSession::from_secret_bytes(&secret).unwrap();
        for f in &fields {
            s.open(f).unwrap();
        }
    });
    report(
        "venice: field opens only (k256 ECDH+HKDF+AES-GCM)",
        plain,
        CHUNKS,
        d,
    );

    // NEAR ed25519 v2.
    let enclave = NearServer::ed25519(&[3; 32]);
    let seed = [5u8; 32];
    let hdrs: Vec<(String, String)> = ClientSession::Ed25519(xchacha::ClientKey::from_seed(&seed))
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let req = enclave.parse_headers(&hdrs).unwrap().unwrap();
    let body = near::server::seal_stream(&all, &req, &mut rng);
    let d = time(5, || {
        let mut dec =
            near::stream_decryptor(ClientSession::Ed25519(xchacha::ClientKey::from_seed(&seed)));
        let mut out = Vec::new();
        dec.push(&body, &mut out).unwrap();
        dec.finish().unwrap();
    });
    report("near: SSE stream decrypt", plain, CHUNKS, d);
    let key = xchacha::ClientKey::from_seed(&seed);
    let fields: Vec<String> = all
        .iter()
        .map(|c| xchacha::seal(text(c).as_bytes(), &key.x25519_public(), &mut rng).unwrap())
        .collect();
    let d = time(5, || {
        let mut s = xchacha::ClientKey::from_seed(&seed);
        for f in &fields {
            s.open(f).unwrap();
        }
    });
    report(
        "near: field opens only (X25519+HKDF+XChaCha20-Poly1305)",
        plain,
        CHUNKS,
        d,
    );

    // The symmetric AEADs alone on a 1 MiB buffer: the ceiling once keys are agreed.
    let data = vec![0x61u8; 1 << 20];
    let aes = Aes256Gcm::new_from_slice(&[1; 32]).unwrap();
    let n = aes_gcm::Nonce::from([2; 12]);
    let ct = aes.encrypt(&n, data.as_slice()).unwrap();
    let d = time(9, || {
        aes.decrypt(&n, ct.as_slice()).unwrap();
    });
    report("raw AES-256-GCM open (aes-gcm), 1 MiB", data.len(), 1, d);
    let x = XChaCha20Poly1305::new_from_slice(&[1; 32]).unwrap();
    let n = chacha20poly1305::XNonce::from([2; 24]);
    let ct = x.encrypt(&n, data.as_slice()).unwrap();
    let d = time(9, || {
        x.decrypt(&n, ct.as_slice()).unwrap();
    });
    report(
        "raw XChaCha20-Poly1305 open (chacha20poly1305), 1 MiB",
        data.len(),
        1,
        d,
    );
}
