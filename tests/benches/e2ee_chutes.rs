//! Chutes E2EE streaming throughput: the full client path (SSE split, JSON, base64, nonce
//! check, ChaCha20-Poly1305) next to raw ChaCha20-Poly1305 decryption of the same chunks with
//! the same crate, and the non-streaming blob path (KEM + AEAD + gunzip).
//!
//! Run: `cargo bench -p teep-tests --bench e2ee_chutes`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::Aead;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use proto_core::e2ee::chutes::sim::InstanceServer;
use proto_core::e2ee::chutes::{Endpoint, InstanceKey, ResponseSession, encrypt_request};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// Runs `f` repeatedly for about `budget` and returns the mean time per call.
fn time<F: FnMut()>(budget: Duration, mut f: F) -> Duration {
    f(); // warm up
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget || n < 3 {
        f();
        n += 1;
    }
    start.elapsed() / n
}

fn mib_per_s(bytes: usize, per_iter: Duration) -> f64 {
    bytes as f64 / per_iter.as_secs_f64() / (1024.0 * 1024.0)
}

fn session(
    server: &InstanceServer,
    rng: &mut ChaCha20Rng,
) -> (ResponseSession, proto_core::e2ee::chutes::sim::ClientKey) {
    let key = InstanceKey::from_attested(server.public_b64()).expect("key");
    let (enc, session) = encrypt_request(br#"{"stream":true}"#, &key, Endpoint::ChatCompletions, rng).expect("encrypt");
    (session, server.decrypt_request(&enc.body).expect("decrypt").client_key)
}

fn bench_stream(chunk_size: usize, chunks: usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let server = InstanceServer::generate(&mut rng);
    // Build the body once per fresh session (the stream key depends on the session).
    let mut plaintexts: Vec<Vec<u8>> = (0..chunks)
        .map(|i| {
            let mut p = format!("data: {{\"i\":{i},\"c\":\"").into_bytes();
            p.resize(chunk_size.saturating_sub(6).max(p.len()), b'x');
            p.extend_from_slice(b"\"}\n\n");
            p
        })
        .collect();
    plaintexts.push(b"data: [DONE]\n\n".to_vec());
    let total: usize = plaintexts.iter().map(Vec::len).sum();

    // Raw AEAD: same crate, same sizes, already-decoded ciphertexts.
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    let cipher = ChaCha20Poly1305::new(&key.into());
    let sealed: Vec<(Nonce, Vec<u8>)> = plaintexts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut n = [0u8; 12];
            n[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let n = Nonce::from(n);
            (n, cipher.encrypt(&n, p.as_slice()).expect("seal"))
        })
        .collect();
    let raw = time(Duration::from_millis(400), || {
        for (n, c) in &sealed {
            black_box(cipher.decrypt(n, c.as_slice()).expect("open"));
        }
    });

    // Full streaming path: each run needs a fresh session (and so a fresh body), built
    // outside the timed region.
    let build = |rng: &mut ChaCha20Rng| {
        let (session, ck) = session(&server, rng);
        let (sealer, init) = ck.begin_stream(rng).expect("init");
        let mut body = init.into_bytes();
        for p in &plaintexts {
            body.extend_from_slice(sealer.chunk_event(p, rng).expect("chunk").as_bytes());
        }
        (session, body)
    };
    let body_len = build(&mut rng).1.len();
    let mut runs = 0;
    let mut elapsed = Duration::ZERO;
    let mut decap = Duration::ZERO;
    while runs < 8 || elapsed < Duration::from_millis(400) {
        let (session, b) = build(&mut rng);
        let start = Instant::now();
        let mut dec = session.into_stream();
        let mut out = Vec::with_capacity(plaintexts.len());
        let init_end = b.iter().position(|&c| c == b'\n').map_or(0, |i| i + 2);
        dec.push(&b[..init_end], &mut out).expect("init");
        let after_init = Instant::now();
        for piece in b[init_end..].chunks(4096) {
            dec.push(piece, &mut out).expect("push");
        }
        dec.finish().expect("finish");
        let end = Instant::now();
        black_box(out);
        decap += after_init - start;
        elapsed += end - after_init;
        runs += 1;
    }
    let per = elapsed / runs;
    println!(
        "stream {chunks:>5} chunks x {chunk_size:>5} B: decryptor {:>8.1} MiB/s of plaintext ({:>7.1} MiB/s of SSE body), \
         raw ChaCha20-Poly1305 {:>8.1} MiB/s; e2e_init (ML-KEM decaps + HKDF) {:>6.1} µs",
        mib_per_s(total, per),
        mib_per_s(body_len, per),
        mib_per_s(total, raw),
        (decap / runs).as_secs_f64() * 1e6,
    );
}

fn bench_blob(size: usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let server = InstanceServer::generate(&mut rng);
    let json = {
        let mut j = b"{\"data\":\"".to_vec();
        j.resize(size, b'y');
        j.extend_from_slice(b"\"}");
        j
    };
    let mut runs = 0u32;
    let mut elapsed = Duration::ZERO;
    while runs < 5 || elapsed < Duration::from_millis(400) {
        let (session, ck) = session(&server, &mut rng);
        let blob = ck.encrypt_response(&json, &mut rng).expect("encrypt");
        let start = Instant::now();
        black_box(session.decrypt_body(&blob).expect("decrypt"));
        elapsed += start.elapsed();
        runs += 1;
    }
    println!(
        "blob   {size:>8} B: decrypt_body (decaps + HKDF + AEAD + gunzip) {:>8.1} MiB/s, {:>8.1} µs per body",
        mib_per_s(json.len(), elapsed / runs),
        (elapsed / runs).as_secs_f64() * 1e6
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    bench_stream(64, 2000);
    bench_stream(512, 1000);
    bench_stream(4096, 256);
    bench_blob(1024);
    bench_blob(1 << 20);
}
