//! A prompt reaches an enclave only after attestation, and only over the channel the
//! attestation binds: checked against recorded captures served from a loopback HTTPS server
//! that presents its own test key (never the attested one).

use proto_core::e2ee::E2eeError;
use proto_core::exchange::ExchangeError;
use proto_core::provider::descriptor::Endpoint;
use proto_core::session::{Prompt, PromptSession, SessionError, SessionOutput};
use proto_core::verify::{LiveVerification, replay_capture, replay_config};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use teep_tests::capture_server::{capture_pki, serve_capture_with};

fn neardirect() -> Option<proto_core::capture::Capture> {
    let dir = teep_tests::captures::replayable_captures().into_iter().find(|d| d.to_string_lossy().contains("neardirect_qwen_qwen3.5-122b-a10b_20260424"))?;
    Some(runtime_blocking::capture_fs::load_capture(&dir).unwrap())
}

fn prompt() -> Prompt {
    Prompt {
        endpoint: Endpoint::Chat,
        body: br#"{"model":"neardirect:x","messages":[{"role":"user","content":"secret prompt"}],"stream":true}"#.to_vec(),
        api_key: Some("test-key".into()),
    }
}

fn run(session: PromptSession<ChaCha20Rng>) -> Vec<SessionOutput> {
    let mut driver = runtime_blocking::Driver::new(session);
    driver.apply(|m, now| m.start(now));
    driver.run_to_completion()
}

fn chat_requests(server: &teep_tests::LoopbackServer) -> usize {
    server.settled_connections().iter().flat_map(|c| c.requests.iter()).filter(|r| r.target.contains("chat/completions")).count()
}

#[test]
fn a_blocked_attestation_sends_nothing() {
    let Some(capture) = neardirect() else { return };
    let pki = capture_pki(&capture);
    let served = serve_capture_with(&capture, &pki);
    let verification = LiveVerification::new(
        proto_core::provider::ProviderKind::NearDirect,
        &capture.manifest.model,
        capture.manifest.nonce,
        replay_config(&capture).unwrap(),
        capture.manifest.verification_time(),
        served.client.clone(),
    );
    let session = PromptSession::attest_then_send(verification, prompt(), true, served.client.clone(), ChaCha20Rng::seed_from_u64(7));
    let outputs = run(session);
    match outputs.last() {
        Some(SessionOutput::Failed(SessionError::Blocked(report))) => {
            // The loopback server's key is not the attested one: the enforced TLS key binding
            // fails, and the session stops there.
            assert!(report.is_blocked());
            assert!(SessionError::Blocked(report.clone()).to_string().contains("tls_key_binding"));
        }
        other => panic!("expected a blocked session, got {other:?}"),
    }
    assert!(!outputs.iter().any(|o| matches!(o, SessionOutput::Cleared(_) | SessionOutput::Head(_))));
    assert_eq!(chat_requests(&served.server), 0, "no prompt may reach the provider");
}

#[test]
fn a_server_with_another_key_than_the_attested_one_never_sees_the_prompt() {
    let Some(capture) = neardirect() else { return };
    // The recorded session verifies: its clearance pins the real node's TLS key.
    let clearance = replay_capture(&capture).unwrap().clearance.expect("the capture verifies");
    let pki = capture_pki(&capture);
    let served = serve_capture_with(&capture, &pki);
    let session = PromptSession::with_clearance(clearance, prompt(), true, served.client.clone(), ChaCha20Rng::seed_from_u64(7));
    let outputs = run(session);
    match outputs.last() {
        Some(SessionOutput::Failed(SessionError::Channel(ExchangeError::PinMismatch(m)))) => {
            assert_eq!(m.got, pki.server_spki, "{m:?}");
        }
        other => panic!("expected a pin mismatch, got {other:?}"),
    }
    let logs = served.server.settled_connections();
    assert!(!logs.is_empty(), "the session did try to connect");
    assert!(logs.iter().all(|c| c.plaintext_received == 0), "no plaintext byte may reach the impostor: {logs:?}");
}

#[test]
fn an_e2ee_provider_without_a_usable_key_is_refused_before_connecting() {
    let Some(capture) = neardirect() else { return };
    let clearance = replay_capture(&capture).unwrap().clearance.expect("the capture verifies");
    let pki = capture_pki(&capture);
    let served = serve_capture_with(&capture, &pki);
    // A body the NEAR scheme cannot protect (content of an unsupported type) is refused, not
    // sent in plaintext.
    let mut bad = prompt();
    bad.body = br#"{"model":"m","messages":[{"role":"user","content":42}]}"#.to_vec();
    let outputs = run(PromptSession::with_clearance(clearance, bad, true, served.client.clone(), ChaCha20Rng::seed_from_u64(1)));
    assert!(matches!(outputs.last(), Some(SessionOutput::Failed(SessionError::E2ee(E2eeError::BadBody(_))))), "{outputs:?}");
    assert!(served.server.connections().is_empty(), "nothing was even connected");
}
