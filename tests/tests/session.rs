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

/// The live E2EE test `teep verify` runs after attestation, against a simulated provider: the
/// deferred `e2ee_usable` becomes Pass, the recording carries the outcome, and a replay of the
/// recording gives the same report.
#[test]
fn the_live_e2ee_test_decides_e2ee_usable_and_replays() {
    use std::sync::{Arc, Mutex};

    use proto_core::attestation::factors::{E2eeTest, e2ee_usable};
    use proto_core::harness::{Reply, Responder, TestPki};
    use proto_core::report::{Factor, Status};
    use proto_core::session::{e2ee_test_outcome, e2ee_test_prompt};
    use proto_core::sim::{SimWorld, chat};
    use proto_core::verify::replay_capture_with;

    let pki = TestPki::generate_for(&SimWorld::all_hosts());
    let world = Arc::new(Mutex::new(SimWorld::new([4; 32], pki.server_spki).unwrap()));
    let responder: Responder = {
        let world = world.clone();
        let rng = Mutex::new(ChaCha20Rng::seed_from_u64(2));
        Arc::new(move |req| {
            let host = req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("host")).map(|(_, v)| v.clone()).unwrap();
            let mut world = world.lock().unwrap();
            let a = chat::answer_any(&mut world, &req.method, &host, &req.target, &req.headers, &req.body, &mut *rng.lock().unwrap());
            Reply::with_headers(a.status, &a.headers, &a.body)
        })
    };
    let server = teep_tests::LoopbackServer::start(&pki, responder);
    let mut client = proto_core::fetch::client::FetchClientConfig { extra_roots: vec![pki.ca_cert.clone()], ..Default::default() };
    for host in SimWorld::all_hosts() {
        client.connect_overrides.insert(format!("{host}:443"), ("127.0.0.1".to_owned(), server.port));
    }
    for provider in [proto_core::provider::ProviderKind::NearDirect, proto_core::provider::ProviderKind::Chutes] {
        let (mut config, now) = {
            let w = world.lock().unwrap();
            (w.verify_config(provider), w.now())
        };
        config.e2ee = E2eeTest::PendingLiveTest;
        let replay_trust = (config.trust.clone(), config.model_policy.clone(), config.gateway_policy.clone(), config.allow_fail.clone());
        let machine = LiveVerification::new(provider, SimWorld::model(provider), [9; 32], config, now, client.clone());
        let (outputs, mut machine) = teep_tests::run_live(teep_tests::Runtime::Blocking, machine);
        let report = match outputs.last() {
            Some(proto_core::verify::LiveOutput::Finished(Ok(r))) => r.clone(),
            other => panic!("{provider}: {other:?}"),
        };
        let pending = report.factor(Factor::E2eeUsable).unwrap();
        assert_eq!(pending.status, Status::Skip, "{provider}: deferred until the test ran");
        let clearance = machine.clearance().cloned().expect("unblocked");
        let session = PromptSession::with_clearance(clearance, e2ee_test_prompt(Some("k".into())), true, client.clone(), ChaCha20Rng::seed_from_u64(3));
        let test = e2ee_test_outcome(provider, &run(session));
        assert!(matches!(test, E2eeTest::Succeeded { .. }), "{provider}: {test:?}");
        let report = report.with_outcome(Factor::E2eeUsable, e2ee_usable(&test));
        assert_eq!(report.factor(Factor::E2eeUsable).unwrap().status, Status::Pass);
        assert!(!report.is_blocked());
        machine.record_e2ee_outcome(&test);
        let replayed = replay_capture_with(
            &machine.capture(),
            |c| {
                c.trust = replay_trust.0.clone();
                c.model_policy = replay_trust.1.clone();
                c.gateway_policy = replay_trust.2.clone();
                c.allow_fail = replay_trust.3.clone();
            },
            |_| 0,
        )
        .unwrap();
        assert_eq!(replayed.report.unwrap().to_json(), report.to_json(), "{provider}: the recording replays to the same report");
    }
}
