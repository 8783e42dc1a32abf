//! A 10,000-chunk end-to-end encrypted stream from a simulated enclave, through a prompt
//! session on each runtime: it arrives decrypted, in order, identical on all three; a byte
//! flipped in chunk k fails at chunk k with a typed error and nothing after it is released.

use std::sync::{Arc, Mutex};

use proto_core::attestation::factors::E2eeTest;
use proto_core::e2ee::E2eeError;
use proto_core::harness::{Reply, Responder, TestPki};
use proto_core::provider::ProviderKind;
use proto_core::provider::descriptor::Endpoint;
use proto_core::session::{Prompt, PromptSession, SessionError, SessionOutput};
use proto_core::sim::{SimWorld, chat};
use proto_core::verify::LiveVerification;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use teep_tests::{LoopbackServer, RUNTIMES, Runtime};

const WORDS: usize = 10_000;

fn long_reply() -> String {
    (0..WORDS).map(|i| format!("w{i} ")).collect()
}

/// Flips one character in the middle of the ciphertext of SSE event `k` (0-based).
fn tamper_event(body: &[u8], k: usize) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).expect("SSE is text");
    let mut events: Vec<String> = text.split("\n\n").map(str::to_owned).collect();
    let event = &mut events[k];
    // The longest run of ciphertext characters (hex or base64) in the event.
    let bytes = event.as_bytes();
    let (mut best, mut run_start, mut best_start) = (0, 0, 0);
    for i in 0..=bytes.len() {
        let cipher = i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'+' || bytes[i] == b'/');
        if !cipher {
            if i - run_start > best {
                best = i - run_start;
                best_start = run_start;
            }
            run_start = i + 1;
        }
    }
    assert!(best > 40, "event {k} has no ciphertext: {event}");
    let at = best_start + best / 2;
    let mut chars = event.clone().into_bytes();
    chars[at] = if chars[at] == b'0' { b'1' } else { b'0' };
    *event = String::from_utf8(chars).unwrap();
    events.join("\n\n").into_bytes()
}

struct Outcome {
    text: String,
    events: usize,
    failure: Option<SessionError>,
}

fn run(provider: ProviderKind, runtime: Runtime, tamper_at: Option<usize>) -> Outcome {
    let pki = TestPki::generate_for(&SimWorld::all_hosts());
    let world = Arc::new(Mutex::new(SimWorld::new([3; 32], pki.server_spki).unwrap()));
    let reply = long_reply();
    let responder: Responder = {
        let world = world.clone();
        let rng = Mutex::new(ChaCha20Rng::seed_from_u64(5));
        Arc::new(move |req| {
            let host = req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("host")).map(|(_, v)| v.clone()).unwrap();
            let mut world = world.lock().unwrap();
            let answer = match chat::inference_target(&host, &req.target) {
                Some(p) => {
                    let mut answer = chat::answer_chat_with(&world, p, &req.headers, &req.body, &reply, &mut *rng.lock().unwrap());
                    if let Some(k) = tamper_at {
                        answer.body = tamper_event(&answer.body, k);
                    }
                    answer
                }
                None => world.answer(&req.method, &format!("https://{host}{}", req.target), &req.headers, &req.body),
            };
            Reply::with_headers(answer.status, &answer.headers, &answer.body)
        })
    };
    let server = LoopbackServer::start(&pki, responder);
    let mut client = proto_core::fetch::client::FetchClientConfig { extra_roots: vec![pki.ca_cert.clone()], ..Default::default() };
    for host in SimWorld::all_hosts() {
        client.connect_overrides.insert(format!("{host}:443"), ("127.0.0.1".to_owned(), server.port));
    }
    let (mut config, now) = {
        let w = world.lock().unwrap();
        (w.verify_config(provider), w.now())
    };
    config.e2ee = E2eeTest::PendingLiveTest;
    let model = SimWorld::model(provider);
    let verification = LiveVerification::new(provider, model, [0x42; 32], config, now, client.clone());
    let prompt = Prompt {
        endpoint: Endpoint::Chat,
        body: br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"count"}]}"#.to_vec(),
        api_key: Some("k".into()),
    };
    let session = PromptSession::attest_then_send(verification, prompt, true, client, ChaCha20Rng::seed_from_u64(11));
    let outputs = drive(runtime, session);
    let mut outcome = Outcome { text: String::new(), events: 0, failure: None };
    for o in outputs {
        match o {
            SessionOutput::Body(bytes) => {
                outcome.events += 1;
                let text = String::from_utf8(bytes).unwrap();
                for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
                        outcome.text.push_str(v.pointer("/choices/0/delta/content").and_then(|c| c.as_str()).unwrap_or(""));
                    }
                }
            }
            SessionOutput::Failed(e) => outcome.failure = Some(e),
            _ => {}
        }
    }
    outcome
}

fn drive(runtime: Runtime, session: PromptSession<ChaCha20Rng>) -> Vec<SessionOutput> {
    match runtime {
        Runtime::Blocking => {
            let mut d = runtime_blocking::Driver::new(session);
            d.apply(|m, now| m.start(now));
            d.run_to_completion()
        }
        Runtime::Smol => smol::block_on(async {
            let mut d = runtime_smol::Driver::new(session);
            d.apply(|m, now| m.start(now));
            d.run_to_completion().await
        }),
        Runtime::Tokio => tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            let mut d = runtime_tokio::Driver::new(session);
            d.apply(|m, now| m.start(now));
            d.run_to_completion().await
        }),
    }
}

#[test]
fn ten_thousand_encrypted_chunks_arrive_in_order_on_every_runtime() {
    let expected = long_reply();
    // Every scheme on one runtime, and one scheme on all three (the runtimes only carry bytes).
    for (provider, runtimes) in [
        (ProviderKind::Venice, &RUNTIMES[..]),
        (ProviderKind::NearDirect, &RUNTIMES[..1]),
        (ProviderKind::Chutes, &RUNTIMES[..1]),
    ] {
        let texts: Vec<String> = runtimes
            .iter()
            .map(|&r| {
                let o = run(provider, r, None);
                assert!(o.failure.is_none(), "{provider} on {r:?}: {:?}", o.failure);
                assert!(o.events > WORDS, "{provider}: {} events", o.events);
                o.text
            })
            .collect();
        assert_eq!(texts[0], expected, "{provider}: the reply arrives whole and in order");
        assert!(texts.iter().all(|t| *t == texts[0]), "{provider}: runtimes differ");
    }
}

#[test]
fn a_flipped_byte_in_chunk_k_fails_at_k_and_releases_nothing_after() {
    // Event 0 of a Chutes stream is `e2e_init`; content chunks follow. For venice and NEAR
    // every event is a content chunk.
    for (provider, k, words_before) in [(ProviderKind::Venice, 700, 700), (ProviderKind::NearDirect, 4321, 4321), (ProviderKind::Chutes, 5001, 5000)] {
        let o = run(provider, Runtime::Blocking, Some(k));
        let failure = o.failure.unwrap_or_else(|| panic!("{provider}: a tampered stream must fail"));
        match &failure {
            SessionError::E2ee(E2eeError::Chunk { .. }) | SessionError::E2ee(E2eeError::AuthFailed(_)) => {}
            other => panic!("{provider}: expected a chunk authentication failure, got {other:?}"),
        }
        let expected: String = (0..words_before).map(|i| format!("w{i} ")).collect();
        assert_eq!(o.text, expected, "{provider}: exactly the chunks before k are released");
    }
}
