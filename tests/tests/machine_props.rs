//! Property tests of the live machines on the in-memory network (`proto_core::harness::Net`):
//! whatever the byte splits, the order connections are serviced in, spurious timer firings and
//! small latencies, a verification gives the byte-identical report of the reference schedule
//! (whole messages, first ready first), a prompt session gives the same decrypted reply, and a
//! session whose attestation is blocked never lets one request reach an inference path.
//!
//! The HttpsExchange-level properties live in proto-core (`exchange/props.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

use proto_core::attestation::factors::E2eeTest;
use proto_core::fetch::client::FetchClientConfig;
use proto_core::harness::{After, Net, Reply, Responder, Route, Router, Schedule, TestPki};
use proto_core::io::{ConnId, ConnectError, Instant, Machine, Now};
use proto_core::provider::ProviderKind;
use proto_core::provider::descriptor::Endpoint;
use proto_core::session::{Prompt, PromptSession, SessionError, SessionOutput};
use proto_core::sim::{Misbehaviour, SimWorld, chat};
use proto_core::verify::{LiveOutput, LiveVerification, VerifyConfig};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Where this file's failing seeds are kept (cargo runs integration tests from `tests/`).
const REGRESSIONS: &str = "../proptest-regressions/machine_props.txt";

const SEED: [u8; 32] = [0x6d; 32];
const NONCE: [u8; 32] = [0xa7; 32];
/// Far more steps than any run here needs; a run that needs more is a livelock.
const MAX_STEPS: usize = 2_000_000;

/// The providers each property runs against.
const PROVIDERS: [ProviderKind; 4] =
    [ProviderKind::Venice, ProviderKind::NearDirect, ProviderKind::NearCloud, ProviderKind::Chutes];

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// Key generation is slow: one PKI naming every simulated host, for every case.
fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate_for(&SimWorld::all_hosts()))
}

fn server_config() -> Arc<rustls::ServerConfig> {
    static CONFIG: OnceLock<Arc<rustls::ServerConfig>> = OnceLock::new();
    CONFIG.get_or_init(|| pki().server_config()).clone()
}

fn world(misbehaviour: Option<Misbehaviour>) -> Arc<Mutex<SimWorld>> {
    let mut world = SimWorld::new(SEED, pki().server_spki).expect("simulated world builds");
    if let Some(m) = misbehaviour {
        world = world.with(m);
    }
    Arc::new(Mutex::new(world))
}

/// How the servers treat a connection after answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// Keep it open for the next request.
    KeepAlive,
    /// Announce `Connection: close` and close it (close_notify) after every answer.
    CloseEach,
    /// Close after every answer without announcing it (a keep-alive timeout racing the next
    /// request).
    CloseSilently,
}

/// Answers from the world; inference paths get the enclave's sealed chat answer.
fn responder(world: Arc<Mutex<SimWorld>>, style: Style) -> Responder {
    let rng = Mutex::new(ChaCha20Rng::seed_from_u64(5));
    Arc::new(move |req| {
        let (_, answer) = teep_tests::sim_server::sim_answer(&world, &rng, req);
        let mut headers = answer.headers;
        if style == Style::CloseEach {
            headers.push(("Connection".to_owned(), "close".to_owned()));
        }
        let then = if style == Style::KeepAlive { After::KeepOpen } else { After::Close };
        Reply::with_headers(answer.status, &headers, &answer.body).then(then)
    })
}

/// A host the network fails: connections to it are refused, or never answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Refuse(&'static str),
    Hang(&'static str),
}

/// Every simulated host is served from the world; any other name does not resolve.
fn router(world: Arc<Mutex<SimWorld>>, style: Style) -> Router {
    faulty_router(world, style, None)
}

/// As [`router`], with one host failed as `fault` says.
fn faulty_router(world: Arc<Mutex<SimWorld>>, style: Style, fault: Option<Fault>) -> Router {
    let responder = responder(world, style);
    let config = server_config();
    let hosts = SimWorld::all_hosts();
    Box::new(move |host: &str, _port: u16| {
        match fault {
            Some(Fault::Refuse(h)) if h == host => return Route::Fail(ConnectError::Refused),
            Some(Fault::Hang(h)) if h == host => return Route::Hang,
            _ => {}
        }
        if hosts.contains(&host) {
            Route::Serve { config: config.clone(), responder: responder.clone() }
        } else {
            Route::Fail(ConnectError::Resolve(host.to_owned()))
        }
    })
}

fn client() -> FetchClientConfig {
    FetchClientConfig { extra_roots: vec![pki().ca_cert.clone()], ..FetchClientConfig::default() }
}

fn start(world: &SimWorld) -> Now {
    Now::new(Instant::ZERO, world.now())
}

fn attestation_only_config(world: &SimWorld, provider: ProviderKind) -> VerifyConfig {
    teep_tests::sim_server::attestation_only_config(world, provider)
}

/// Schedules: any order, any delivery sizes (sometimes only tiny ones), spurious timers,
/// mostly-zero delays.
fn schedule() -> impl Strategy<Value = Schedule> {
    let sizes = prop_oneof![
        3 => vec(any::<u8>(), 0..16),
        1 => vec(1u8..24, 1..4),
    ];
    let delays = vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 0..8);
    (vec(any::<u8>(), 0..24), sizes, vec(any::<u8>(), 0..16), delays)
        .prop_map(|(order, sizes, timers, delays)| Schedule { order, sizes, timers, delays })
}

// ---------------------------------------------------------------------------------------------
// LiveVerification

/// What a verification run produced, in comparable form.
#[derive(Debug)]
struct VerifyRun {
    /// The report's JSON, or the error's text.
    result: Result<String, String>,
    /// (host, path) of every request the servers received, sorted.
    requests: Vec<(String, String)>,
    inference_requests: usize,
    /// Events the machine handled (spurious timers included).
    events: usize,
    /// The connection serviced at each step.
    service_log: Vec<ConnId>,
}

fn run_verification(provider: ProviderKind, style: Style, schedule: Schedule) -> VerifyRun {
    run_faulty_verification(provider, style, None, schedule)
}

fn run_faulty_verification(
    provider: ProviderKind,
    style: Style,
    fault: Option<Fault>,
    schedule: Schedule,
) -> VerifyRun {
    let world = world(None);
    let (config, now) = {
        let w = world.lock().expect("world");
        (attestation_only_config(&w, provider), start(&w))
    };
    let machine = LiveVerification::new(provider, SimWorld::model(provider), NONCE, config, now.wall, client());
    let mut net = Net::new(machine, now, faulty_router(world.clone(), style, fault), schedule);
    net.apply(|m, now| m.start(now));
    net.run(MAX_STEPS).expect("the network settles");
    assert!(net.machine.is_done(), "{provider}: the machine is not done after the network settled");
    let finished: Vec<_> = net.outputs.iter().filter(|o| matches!(o, LiveOutput::Finished(_))).collect();
    assert_eq!(finished.len(), 1, "{provider}: exactly one Finished output");
    let Some(LiveOutput::Finished(result)) = net.outputs.last() else {
        panic!("{provider}: Finished is not the last output: {:?}", net.outputs.last())
    };
    let mut requests = net.request_paths();
    requests.sort();
    let inference_requests = world.lock().expect("world").inference_requests();
    VerifyRun {
        result: result.as_ref().map(|r| r.to_json()).map_err(|e| e.to_string()),
        requests,
        inference_requests,
        events: net.events(),
        service_log: net.service_log().to_vec(),
    }
}

fn verification_reference(provider: ProviderKind) -> &'static VerifyRun {
    static REFERENCES: OnceLock<Mutex<BTreeMap<&'static str, &'static VerifyRun>>> = OnceLock::new();
    let map = REFERENCES.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(provider.name()).or_insert_with(|| {
        let run = run_verification(provider, Style::KeepAlive, Schedule::reference());
        Box::leak(Box::new(run))
    })
}

#[test]
fn the_reference_verification_passes_unblocked() {
    for provider in PROVIDERS {
        let reference = verification_reference(provider);
        let json = reference.result.as_ref().unwrap_or_else(|e| panic!("{provider}: {e}"));
        let report: serde_json::Value = serde_json::from_str(json).expect("report JSON");
        assert!(!reference.requests.is_empty(), "{provider}: nothing was fetched");
        assert_eq!(reference.inference_requests, 0, "{provider}: attestation touched an inference path");
        let failing: Vec<&serde_json::Value> = report["factors"]
            .as_array()
            .expect("factors")
            .iter()
            .filter(|f| f["enforced"] == true && f["status"] == "fail")
            .collect();
        assert!(failing.is_empty(), "{provider}: enforced failures in the reference: {failing:#?}");
    }
}

/// Guards against a vacuous harness: a byte-by-byte schedule really multiplies the events, a
/// shuffled order really services connections in another order, and both still agree.
#[test]
fn schedules_really_change_the_run_but_not_the_report() {
    let provider = ProviderKind::NearCloud;
    let reference = verification_reference(provider);
    let bytewise = run_verification(provider, Style::KeepAlive, Schedule { sizes: vec![1], ..Schedule::reference() });
    assert!(
        bytewise.events > 20 * reference.events,
        "byte-by-byte delivery: {} events vs {} for whole messages",
        bytewise.events,
        reference.events
    );
    let shuffled = run_verification(
        provider,
        Style::KeepAlive,
        Schedule {
            order: vec![3, 1, 4, 1, 5, 9, 2, 6],
            timers: vec![0, 255],
            delays: vec![0, 40],
            ..Schedule::reference()
        },
    );
    assert_ne!(shuffled.service_log, reference.service_log, "the order schedule changed nothing");
    assert!(shuffled.events > reference.events, "spurious timers were not injected");
    for run in [&bytewise, &shuffled] {
        assert_eq!(run.result, reference.result);
        assert_eq!(run.requests, reference.requests);
    }
}

/// A server may close a kept-alive connection at any time (its idle timeout) without having
/// announced it. When the close reaches the client only after the client wrote its next request
/// on that connection, the request was never answered and may be retried on a fresh one
/// (RFC 9112 §9.3.1). `HttpsExchange` resends such a request once on a fresh connection;
/// before it did, the fetch failed with "connection ended before the response head" and the
/// report showed spurious fetch failures (found by this file's properties).
#[test]
fn a_request_lost_to_a_silent_close_is_retried() {
    let provider = ProviderKind::NearDirect;
    let reference = verification_reference(provider);
    // Byte-by-byte delivery separates each answer from the close_notify that follows it.
    let run = run_verification(provider, Style::CloseSilently, Schedule { sizes: vec![1], ..Schedule::reference() });
    assert_eq!(run.result, reference.result);
}

proptest! {
    #![proptest_config(config(48))]

    /// Any schedule gives the reference's report, byte for byte, after the same requests, also
    /// when the servers close every connection after one answer.
    #[test]
    fn every_schedule_gives_the_reference_report(
        provider in select(&PROVIDERS[..]),
        style in select(&[Style::KeepAlive, Style::CloseEach, Style::CloseSilently][..]),
        schedule in schedule(),
    ) {
        let reference = verification_reference(provider);
        let run = run_verification(provider, style, schedule);
        prop_assert_eq!(&run.result, &reference.result, "{}: report differs", provider);
        prop_assert_eq!(&run.requests, &reference.requests, "{}: requests differ", provider);
        prop_assert_eq!(run.inference_requests, 0);
    }
}

/// Failed services: each case's reference is the same fault under the reference schedule.
const FAULTS: [(ProviderKind, Fault); 4] = [
    (ProviderKind::Venice, Fault::Hang("nras.attestation.nvidia.com")),
    (ProviderKind::NearDirect, Fault::Refuse("rekor.sigstore.dev")),
    (ProviderKind::NearCloud, Fault::Hang("api.trustedservices.intel.com")),
    (ProviderKind::Chutes, Fault::Refuse("nras.attestation.nvidia.com")),
];

fn fault_reference(case: usize) -> &'static VerifyRun {
    static REFERENCES: OnceLock<Mutex<BTreeMap<usize, &'static VerifyRun>>> = OnceLock::new();
    let map = REFERENCES.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(case).or_insert_with(|| {
        let (provider, fault) = FAULTS[case];
        Box::leak(Box::new(run_faulty_verification(provider, Style::KeepAlive, Some(fault), Schedule::reference())))
    })
}

#[test]
fn a_failed_service_fails_the_factors_that_need_it() {
    for (case, (provider, fault)) in FAULTS.iter().enumerate() {
        let reference = fault_reference(case);
        let clean = verification_reference(*provider);
        assert_ne!(reference.result, clean.result, "{provider} {fault:?}: the fault changed nothing");
        if let Ok(json) = &reference.result {
            let report: serde_json::Value = serde_json::from_str(json).expect("report JSON");
            let failing =
                report["factors"].as_array().expect("factors").iter().filter(|f| f["status"] != "pass").count();
            assert!(failing > 0, "{provider} {fault:?}: no factor noticed");
        }
    }
}

proptest! {
    #![proptest_config(config(24))]

    /// With a service refused or black-holed (its connect timeout fires on the simulated clock),
    /// every schedule still gives one and the same outcome.
    #[test]
    fn a_failed_service_gives_the_same_outcome_on_every_schedule(case in 0..FAULTS.len(), schedule in schedule()) {
        let (provider, fault) = FAULTS[case];
        let reference = fault_reference(case);
        let run = run_faulty_verification(provider, Style::KeepAlive, Some(fault), schedule);
        prop_assert_eq!(&run.result, &reference.result, "{} {:?}: outcome differs", provider, fault);
        prop_assert_eq!(&run.requests, &reference.requests, "{} {:?}: requests differ", provider, fault);
        prop_assert_eq!(run.inference_requests, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// PromptSession

fn prompt() -> Prompt {
    Prompt {
        endpoint: Endpoint::Chat,
        body: br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"a secret prompt"}]}"#.to_vec(),
        api_key: Some("test-key".into()),
    }
}

/// What a session run produced.
#[derive(Debug)]
struct SessionRun {
    outputs: Vec<SessionOutput>,
    /// (host, path) of every request the servers received, in arrival order.
    requests: Vec<(String, String)>,
    /// For each request that reached an inference path: the outputs the session had produced
    /// when the server parsed it.
    inference_outputs_before: Vec<usize>,
    inference_requests: usize,
}

impl SessionRun {
    /// Every decrypted body piece, joined.
    fn body(&self) -> Vec<u8> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                SessionOutput::Body(b) => Some(b.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    /// The assistant text carried by the decrypted event stream.
    fn text(&self) -> String {
        let body = String::from_utf8_lossy(&self.body()).into_owned();
        body.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .filter_map(|v| v.pointer("/choices/0/delta/content").and_then(|c| c.as_str()).map(str::to_owned))
            .collect()
    }

    fn failure(&self) -> Option<&SessionError> {
        self.outputs.iter().find_map(|o| match o {
            SessionOutput::Failed(e) => Some(e),
            _ => None,
        })
    }

    fn inference_paths(&self) -> Vec<&(String, String)> {
        self.requests.iter().filter(|(host, path)| chat::inference_target(host, path).is_some()).collect()
    }
}

fn run_session(provider: ProviderKind, misbehaviour: Option<Misbehaviour>, schedule: Schedule) -> SessionRun {
    let world = world(misbehaviour);
    let (config, now) = {
        let w = world.lock().expect("world");
        let mut config = w.verify_config(provider);
        config.e2ee = E2eeTest::PendingLiveTest;
        (config, start(&w))
    };
    let verification = LiveVerification::new(provider, SimWorld::model(provider), NONCE, config, now.wall, client());
    let session =
        PromptSession::attest_then_send(verification, prompt(), true, client(), ChaCha20Rng::seed_from_u64(11));
    let mut net = Net::new(session, now, router(world.clone(), Style::KeepAlive), schedule);
    net.apply(|m, now| m.start(now));
    net.run(MAX_STEPS).expect("the network settles");
    assert!(net.machine.is_done(), "{provider}: the session is not done");
    let inference_requests = world.lock().expect("world").inference_requests();
    let inference_outputs_before = net
        .request_log()
        .iter()
        .filter(|r| chat::inference_target(&r.host, r.path()).is_some())
        .map(|r| r.outputs_before)
        .collect();
    SessionRun {
        outputs: std::mem::take(&mut net.outputs),
        requests: net.request_paths(),
        inference_outputs_before,
        inference_requests,
    }
}

fn session_reference(provider: ProviderKind) -> &'static Vec<u8> {
    static REFERENCES: OnceLock<Mutex<BTreeMap<&'static str, &'static Vec<u8>>>> = OnceLock::new();
    let map = REFERENCES.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(provider.name()).or_insert_with(|| {
        let run = run_session(provider, None, Schedule::reference());
        Box::leak(Box::new(run.body()))
    })
}

/// Checks the shape of a successful session: one inference request, which the server received
/// only after the session had output its clearance; then one 200 head, the scripted reply, End
/// last.
fn assert_delivered(provider: ProviderKind, run: &SessionRun) -> Result<(), TestCaseError> {
    prop_assert!(run.failure().is_none(), "{}: {:?}", provider, run.failure());
    prop_assert!(matches!(run.outputs.last(), Some(SessionOutput::End)), "{}: {:?}", provider, run.outputs.last());
    let cleared = run.outputs.iter().position(|o| matches!(o, SessionOutput::Cleared(_)));
    let head = run.outputs.iter().position(|o| matches!(o, SessionOutput::Head(h) if h.status == 200));
    prop_assert!(
        cleared.is_some() && head.is_some() && cleared < head,
        "{}: clearance must precede the answer",
        provider
    );
    prop_assert_eq!(run.text(), chat::SCRIPTED_REPLY, "{}: reply text", provider);
    prop_assert_eq!(run.inference_requests, 1, "{}: one prompt reached the enclave", provider);
    prop_assert_eq!(run.inference_paths().len(), 1, "{}: {:?}", provider, run.requests);
    for &before in &run.inference_outputs_before {
        let cleared_before =
            run.outputs[..before.min(run.outputs.len())].iter().any(|o| matches!(o, SessionOutput::Cleared(_)));
        prop_assert!(cleared_before, "{}: the prompt reached the server before the attestation passed", provider);
    }
    Ok(())
}

#[test]
fn the_reference_session_delivers_the_scripted_reply() {
    for provider in PROVIDERS {
        let run = run_session(provider, None, Schedule::reference());
        assert_delivered(provider, &run).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&run.body(), session_reference(provider), "{provider}: the reference is not reproducible");
    }
}

/// Worlds whose attestation must block: the nonce is not ours, or REPORTDATA binds another key.
const BLOCKED: [(ProviderKind, Misbehaviour); 4] = [
    (ProviderKind::Venice, Misbehaviour::WrongNonce),
    (ProviderKind::NearDirect, Misbehaviour::SwappedSigningKey),
    (ProviderKind::NearCloud, Misbehaviour::WrongNonce),
    (ProviderKind::Chutes, Misbehaviour::SwappedSigningKey),
];

/// Checks a blocked session: it ends with `Blocked`, released nothing and sent no request to an
/// inference path.
fn assert_blocked(provider: ProviderKind, m: Misbehaviour, run: &SessionRun) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(run.outputs.last(), Some(SessionOutput::Failed(SessionError::Blocked(_)))),
        "{} {:?}: {:?}",
        provider,
        m,
        run.outputs.last()
    );
    let released = run
        .outputs
        .iter()
        .filter(|o| matches!(o, SessionOutput::Cleared(_) | SessionOutput::Head(_) | SessionOutput::Body(_)))
        .count();
    prop_assert_eq!(released, 0, "{} {:?}: a blocked session released output", provider, m);
    prop_assert_eq!(run.inference_requests, 0, "{} {:?}: a request reached the enclave", provider, m);
    prop_assert!(run.inference_paths().is_empty(), "{} {:?}: {:?}", provider, m, run.requests);
    Ok(())
}

#[test]
fn the_reference_sessions_of_misbehaving_worlds_are_blocked() {
    for (provider, m) in BLOCKED {
        let run = run_session(provider, Some(m), Schedule::reference());
        assert_blocked(provider, m, &run).unwrap_or_else(|e| panic!("{e}"));
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// Any schedule gives the same decrypted reply as the reference.
    #[test]
    fn every_schedule_gives_the_same_reply(provider in select(&PROVIDERS[..]), schedule in schedule()) {
        let run = run_session(provider, None, schedule);
        assert_delivered(provider, &run)?;
        prop_assert_eq!(&run.body(), session_reference(provider), "{}: decrypted reply differs", provider);
    }

    /// No schedule lets a request reach an inference path before its attestation passed.
    #[test]
    fn no_schedule_sends_a_prompt_for_a_blocked_attestation(case in select(&BLOCKED[..]), schedule in schedule()) {
        let (provider, m) = case;
        let run = run_session(provider, Some(m), schedule);
        assert_blocked(provider, m, &run)?;
    }
}
