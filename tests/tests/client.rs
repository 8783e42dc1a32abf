//! The multi-request client (`proto_core::client::Client`) against the simulated providers on
//! the in-memory network, with simulated time: one attestation shared by concurrent first
//! requests, the one-hour report cache, pins checked on every connection, the Chutes nonce
//! pool with failover across instances, and the caches dropped after a failed decryption.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use proto_core::client::{Client, ClientConfig, ClientError, ClientEvent, ClientOutput, RequestId};
use proto_core::exchange::ExchangeError;
use proto_core::fetch::client::FetchClientConfig;
use proto_core::harness::{After, Net, Reply, Responder, Route, Router, Schedule, TestPki};
use proto_core::io::{ConnectError, Instant, Machine, Now};
use proto_core::provider::ProviderKind;
use proto_core::provider::descriptor::Endpoint;
use proto_core::session::{Prompt, SessionError};
use proto_core::sim::{CHUTES_BAD_INSTANCE, CHUTES_UNATTESTABLE_INSTANCE, Misbehaviour, SimWorld, chat, chutes_instance_id};
use proto_core::state::CacheKey;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const SEED: [u8; 32] = [0x3c; 32];
const MAX_STEPS: usize = 50_000_000;
const E2EE_PROVIDERS: [ProviderKind; 4] =
    [ProviderKind::Venice, ProviderKind::NearDirect, ProviderKind::NearCloud, ProviderKind::Chutes];

/// Two PKIs naming every simulated host: the servers normally present the first; a test can
/// switch them to the second (trusted by the client too, but not the attested key).
fn pkis() -> &'static (TestPki, TestPki) {
    static PKIS: OnceLock<(TestPki, TestPki)> = OnceLock::new();
    PKIS.get_or_init(|| (TestPki::generate_for(&SimWorld::all_hosts()), TestPki::generate_for(&SimWorld::all_hosts())))
}

/// The knobs a test turns while the network runs.
#[derive(Default)]
struct Switches {
    /// Serve with the second PKI (another TLS key than the attested one).
    other_key: AtomicBool,
    /// Flip a byte in the middle of every inference answer body.
    tamper_answers: AtomicBool,
}

struct World {
    world: Arc<Mutex<SimWorld>>,
    switches: Arc<Switches>,
}

impl World {
    fn new(configure: impl FnOnce(SimWorld) -> SimWorld) -> Self {
        let world = configure(SimWorld::new(SEED, pkis().0.server_spki).expect("world builds"));
        Self { world: Arc::new(Mutex::new(world)), switches: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimWorld> {
        self.world.lock().expect("world")
    }

    fn responder(&self) -> Responder {
        let (world, switches) = (self.world.clone(), self.switches.clone());
        let rng = Mutex::new(ChaCha20Rng::seed_from_u64(5));
        Arc::new(move |req| {
            let (host, mut answer) = teep_tests::sim_server::sim_answer(&world, &rng, req);
            if chat::inference_target(&host, &req.target).is_some()
                && switches.tamper_answers.load(Ordering::SeqCst)
                && answer.status == 200
            {
                tamper(&mut answer.body);
            }
            Reply::with_headers(answer.status, &answer.headers, &answer.body).then(After::KeepOpen)
        })
    }

    fn router(&self) -> Router {
        let responder = self.responder();
        let switches = self.switches.clone();
        let (first, second) = (pkis().0.server_config(), pkis().1.server_config());
        let hosts = SimWorld::all_hosts();
        Box::new(move |host: &str, _port: u16| {
            if !hosts.contains(&host) {
                return Route::Fail(ConnectError::Resolve(host.to_owned()));
            }
            let config = if switches.other_key.load(Ordering::SeqCst) { second.clone() } else { first.clone() };
            Route::Serve { config, responder: responder.clone() }
        })
    }

    fn client(&self) -> Client<ChaCha20Rng> {
        let world = self.lock();
        let verify = ProviderKind::ALL.iter().map(|p| (*p, world.verify_config(*p))).collect();
        let fetch = FetchClientConfig {
            extra_roots: vec![pkis().0.ca_cert.clone(), pkis().1.ca_cert.clone()],
            ..FetchClientConfig::default()
        };
        Client::new(ClientConfig { fetch, verify, pinned_wall_time: None }, ChaCha20Rng::seed_from_u64(99))
    }

    fn net(&self) -> Net<Client<ChaCha20Rng>> {
        self.net_with(Schedule::reference())
    }

    fn net_with(&self, schedule: Schedule) -> Net<Client<ChaCha20Rng>> {
        let now = Now::new(Instant::ZERO, self.lock().now());
        Net::new(self.client(), now, self.router(), schedule)
    }
}

/// Flips one character in the middle of the first long base64/hex run of an answer (the
/// first sealed field), keeping it valid text so only authentication can catch it.
fn tamper(body: &mut [u8]) {
    let sealed = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let mut start = 0;
    for i in 0..=body.len() {
        if i < body.len() && sealed(body[i]) {
            continue;
        }
        if i - start >= 48 {
            let mid = start + (i - start) / 2;
            body[mid] = match body[mid] {
                c @ b'0'..=b'8' => c + 1,
                b'9' => b'0',
                c @ (b'a'..=b'e' | b'A'..=b'E') => c + 1,
                b'f' | b'g'..=b'z' => b'a',
                _ => b'A',
            };
            return;
        }
        start = i + 1;
    }
}

fn prompt() -> Prompt {
    Prompt {
        endpoint: Endpoint::Chat,
        body: br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"a secret prompt"}]}"#.to_vec(),
        api_key: Some("test-key".into()),
    }
}

/// Advances the client's clocks and the world's.
fn advance(net: &mut Net<Client<ChaCha20Rng>>, world: &World, by: Duration) {
    world.lock().advance_clock(by);
    let wall = rustls_pki_types::UnixTime::since_unix_epoch(Duration::from_secs(net.now.wall.as_secs()) + by);
    net.now = Now::new(net.now.mono + by, wall);
}

/// Submits `n` requests at once and runs the network until it settles.
fn submit(net: &mut Net<Client<ChaCha20Rng>>, provider: ProviderKind, n: usize) -> Vec<RequestId> {
    let mut ids = Vec::new();
    net.apply(|c, now| {
        for _ in 0..n {
            ids.push(c.submit(provider, SimWorld::model(provider), prompt(), now));
        }
    });
    net.run(MAX_STEPS).expect("the network settles");
    ids
}

/// The events of each request, in order.
fn by_request(outputs: &[ClientOutput]) -> BTreeMap<RequestId, Vec<ClientEvent>> {
    let mut map: BTreeMap<RequestId, Vec<ClientEvent>> = BTreeMap::new();
    for o in outputs {
        map.entry(o.request).or_default().push(o.event.clone());
    }
    map
}

/// The assistant text in a request's decrypted answer.
fn reply_text(events: &[ClientEvent]) -> String {
    let body: Vec<u8> = events
        .iter()
        .filter_map(|e| if let ClientEvent::Body(b) = e { Some(b.as_slice()) } else { None })
        .flatten()
        .copied()
        .collect();
    String::from_utf8_lossy(&body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| v.pointer("/choices/0/delta/content").and_then(|c| c.as_str()).map(str::to_owned))
        .collect()
}

fn assert_answered(provider: ProviderKind, id: RequestId, events: &[ClientEvent]) {
    assert!(matches!(events.last(), Some(ClientEvent::End)), "{provider} {id:?}: {:?}", events.last());
    assert!(events.iter().any(|e| matches!(e, ClientEvent::Head(h) if h.status == 200)), "{provider} {id:?}");
    assert_eq!(reply_text(events), chat::SCRIPTED_REPLY, "{provider} {id:?}: reply");
}

fn failure(events: &[ClientEvent]) -> &ClientError {
    match events.last() {
        Some(ClientEvent::Failed(e)) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Requests the servers received for an attestation endpoint of `provider`.
fn attestation_requests(net: &Net<Client<ChaCha20Rng>>, provider: ProviderKind) -> usize {
    let marker = match provider {
        ProviderKind::Chutes => "/evidence",
        ProviderKind::Venice | ProviderKind::NanoGpt => "/tee/attestation",
        _ => "/attestation/report",
    };
    net.request_paths().iter().filter(|(_, path)| path.contains(marker)).count()
}

#[test]
fn a_hundred_concurrent_first_requests_cause_one_attestation() {
    for provider in ProviderKind::ALL {
        let world = World::new(|w| w.with_chutes_fleet(1, 25));
        let mut net = world.net();
        let ids = submit(&mut net, provider, 100);
        let events = by_request(&net.outputs);
        for id in &ids {
            assert_answered(provider, *id, &events[id]);
        }
        assert_eq!(net.machine.stats().attestations, 1, "{provider}");
        assert_eq!(attestation_requests(&net, provider), 1, "{provider}: attestation fetches");
        let fresh = ids.iter().filter(|id| events[id].iter().any(|e| matches!(e, ClientEvent::Attested(_)))).count();
        assert_eq!(fresh, 1, "{provider}: one request carried the attestation");
        assert_eq!(world.lock().chutes_nonce_reuses(), 0);
        assert!(net.machine.is_done());
        if !provider.descriptor().e2ee_default {
            continue; // the gateway providers: TLS to the attested gateway, no E2EE to prove
        }
        // The first answer proved E2EE usable: the cached report says so.
        let key = CacheKey::new(provider.name(), SimWorld::model(provider)).unwrap();
        let report = net.machine.state().reports.get(&key, net.now.mono).expect("report cached");
        let line = report.factor(proto_core::report::Factor::E2eeUsable).unwrap();
        assert_eq!(line.status, proto_core::report::Status::Pass, "{provider}: {}", line.detail);
    }
}

#[test]
fn the_report_is_reused_for_an_hour_then_renewed() {
    for provider in [ProviderKind::Venice, ProviderKind::NearCloud] {
        let world = World::new(|w| w);
        let mut net = world.net();
        submit(&mut net, provider, 1);
        advance(&mut net, &world, Duration::from_secs(59 * 60));
        let later = submit(&mut net, provider, 3);
        assert_eq!(attestation_requests(&net, provider), 1, "{provider}: within the hour, the cache answers");
        advance(&mut net, &world, Duration::from_secs(2 * 60));
        let renewed = submit(&mut net, provider, 1);
        assert_eq!(attestation_requests(&net, provider), 2, "{provider}: after the hour, one new attestation");
        let events = by_request(&net.outputs);
        for id in later.iter().chain(&renewed) {
            assert_answered(provider, *id, &events[id]);
        }
        assert!(events[&later[0]].iter().any(|e| matches!(e, ClientEvent::Cleared { fresh: false, .. })));
        assert!(events[&renewed[0]].iter().any(|e| matches!(e, ClientEvent::Cleared { fresh: true, .. })));
    }
}

#[test]
fn a_pinned_host_that_changes_key_gets_no_byte_and_is_never_trusted_from_cache() {
    for provider in [ProviderKind::NearDirect, ProviderKind::NearCloud] {
        let world = World::new(|w| w);
        let mut net = world.net();
        let first = submit(&mut net, provider, 1);
        assert_answered(provider, first[0], &by_request(&net.outputs)[&first[0]]);
        let inference_before = world.lock().inference_requests();

        // The host now presents another (web-PKI valid) key: the cached pin refuses it before
        // any request byte, and the pair's caches are dropped.
        world.switches.other_key.store(true, Ordering::SeqCst);
        let second = submit(&mut net, provider, 1);
        let events = by_request(&net.outputs);
        match failure(&events[&second[0]]) {
            ClientError::Session(SessionError::Channel(ExchangeError::PinMismatch(_))) => {}
            other => panic!("{provider}: expected a pin mismatch, got {other}"),
        }
        assert_eq!(world.lock().inference_requests(), inference_before, "{provider}: no request reached inference");
        let key = CacheKey::new(provider.name(), SimWorld::model(provider)).unwrap();
        assert!(net.machine.state().reports.get(&key, net.now.mono).is_none(), "{provider}: report dropped");

        // The next request attests afresh, and the attestation itself refuses the new key.
        let third = submit(&mut net, provider, 1);
        assert_eq!(net.machine.stats().attestations, 2, "{provider}: re-attested, not trusted from cache");
        let events = by_request(&net.outputs);
        assert!(
            matches!(failure(&events[&third[0]]), ClientError::Session(SessionError::Blocked(_))),
            "{provider}: {}",
            failure(&events[&third[0]])
        );
        assert_eq!(world.lock().inference_requests(), inference_before, "{provider}");
    }
}

#[test]
fn the_requests_api_key_authenticates_attestation_and_refills() {
    let world = World::new(|w| w.with_chutes_fleet(1, 2));
    let mut net = world.net();
    submit(&mut net, ProviderKind::Chutes, 3);
    let authorized = |path: &str| {
        let matching: Vec<_> = net.request_log().iter().filter(|r| r.path().contains(path)).collect();
        assert!(!matching.is_empty(), "no {path} request");
        matching.iter().all(|r| {
            r.request.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("authorization") && v == "Bearer test-key")
        })
    };
    assert!(authorized("/evidence"), "the attestation carries the request's key");
    assert!(authorized("/e2e/instances/"), "discovery and refills carry it");
    assert!(authorized("/e2e/invoke"), "the prompts carry it");
}

#[test]
fn a_failed_attestation_fails_its_waiters_and_backs_off() {
    let world = World::new(|w| w.with(Misbehaviour::WrongNonce));
    let mut net = world.net();
    let provider = ProviderKind::Venice;
    let ids = submit(&mut net, provider, 10);
    let events = by_request(&net.outputs);
    for id in &ids {
        assert!(matches!(failure(&events[id]), ClientError::Session(SessionError::Blocked(_))), "{id:?}");
    }
    assert_eq!(net.machine.stats().attestations, 1);
    let again = submit(&mut net, provider, 1);
    let events = by_request(&net.outputs);
    assert!(matches!(failure(&events[&again[0]]), ClientError::RecentlyFailed { .. }));
    assert_eq!(net.machine.stats().attestations, 1, "the back-off holds");
    advance(&mut net, &world, Duration::from_secs(31));
    submit(&mut net, provider, 1);
    assert_eq!(net.machine.stats().attestations, 2, "after the back-off, a new attempt");
    assert_eq!(world.lock().inference_requests(), 0);
}

#[test]
fn a_failed_decryption_drops_the_caches_and_the_next_request_reattests() {
    for provider in [ProviderKind::Venice, ProviderKind::NearDirect] {
        let world = World::new(|w| w);
        let mut net = world.net();
        submit(&mut net, provider, 1);
        world.switches.tamper_answers.store(true, Ordering::SeqCst);
        let bad = submit(&mut net, provider, 1);
        let events = by_request(&net.outputs);
        assert!(
            matches!(failure(&events[&bad[0]]), ClientError::Session(SessionError::E2ee(_))),
            "{provider}: {}",
            failure(&events[&bad[0]])
        );
        assert!(reply_text(&events[&bad[0]]).len() < chat::SCRIPTED_REPLY.len(), "{provider}: nothing after the failure");
        let key = CacheKey::new(provider.name(), SimWorld::model(provider)).unwrap();
        assert!(net.machine.state().reports.get(&key, net.now.mono).is_none(), "{provider}: report dropped");
        assert!(net.machine.state().signing_keys.get(&key, net.now.mono).is_none(), "{provider}: key dropped");
        world.switches.tamper_answers.store(false, Ordering::SeqCst);
        let next = submit(&mut net, provider, 1);
        assert_eq!(net.machine.stats().attestations, 2, "{provider}: re-attested");
        assert_answered(provider, next[0], &by_request(&net.outputs)[&next[0]]);
    }
}

/// The acceptance test of the Chutes pool: 1,000 requests over 4 instances, one of which
/// answers 503. Sequential, so "after MarkFailed" is exact.
#[test]
fn chutes_thousand_requests_over_four_instances_one_failing() {
    let world = World::new(|w| w.with_chutes_fleet(3, 10).with(Misbehaviour::ChutesInstance503));
    let mut net = world.net();
    let provider = ProviderKind::Chutes;
    let mut ids = Vec::new();
    for _ in 0..1000 {
        ids.extend(submit(&mut net, provider, 1));
    }
    let events = by_request(&net.outputs);
    for id in &ids {
        assert_answered(provider, *id, &events[id]);
    }
    let w = world.lock();
    assert_eq!(w.chutes_nonce_reuses(), 0, "a nonce was used twice");
    let invocations = w.chutes_invocations();
    assert_eq!(invocations.get(CHUTES_BAD_INSTANCE), Some(&1), "the failing instance got exactly one attempt");
    let healthy: usize = (1..=3).map(|n| invocations.get(&chutes_instance_id(n)).copied().unwrap_or(0)).sum();
    assert_eq!(healthy, 1000, "every request answered by a healthy instance: {invocations:?}");
    for n in 1..=3 {
        assert!(invocations.get(&chutes_instance_id(n)).copied().unwrap_or(0) > 0, "instance {n} unused: {invocations:?}");
    }
    let stats = net.machine.stats();
    assert_eq!(stats.failovers, 1);
    // One full attestation, then one per further instance the pool offered (the failing one
    // included): each instance is attested before it gets a prompt.
    assert_eq!(stats.attestations, 4, "{stats:?}");
    // 30 healthy nonces per listing, one spent by the first attestation's own.
    assert!(w.chutes_listings() >= 1000 / 30, "refilled as it ran dry: {} listings", w.chutes_listings());
    assert!(w.chutes_listings() <= 1000 / 30 + 8, "no needless refills: {} listings", w.chutes_listings());
}

#[test]
fn an_instance_without_evidence_never_gets_a_prompt_and_holds_nothing_up() {
    let world = World::new(|w| w.with_chutes_fleet(2, 4).with(Misbehaviour::ChutesInstanceWithoutEvidence));
    let mut net = world.net();
    let provider = ProviderKind::Chutes;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.extend(submit(&mut net, provider, 1));
    }
    let events = by_request(&net.outputs);
    for id in &ids {
        assert_answered(provider, *id, &events[id]);
    }
    let w = world.lock();
    assert_eq!(w.chutes_invocations().get(CHUTES_UNATTESTABLE_INSTANCE), None, "{:?}", w.chutes_invocations());
    // The first attestation, one that asked for the booting instance (and got another, which
    // marks the booting one failed), and the second healthy instance's.
    assert!(net.machine.stats().attestations <= 3, "{:?}", net.machine.stats());
}

#[test]
fn cancelling_the_leader_hands_the_attestation_to_a_waiter() {
    let world = World::new(|w| w);
    let mut net = world.net();
    let provider = ProviderKind::Venice;
    let mut ids = Vec::new();
    net.apply(|c, now| {
        for _ in 0..3 {
            ids.push(c.submit(provider, SimWorld::model(provider), prompt(), now));
        }
        c.cancel(ids[0], now);
    });
    net.run(MAX_STEPS).expect("the network settles");
    let events = by_request(&net.outputs);
    assert!(matches!(failure(&events[&ids[0]]), ClientError::Cancelled));
    for id in &ids[1..] {
        assert_answered(provider, *id, &events[id]);
    }
    assert!(net.machine.is_done());
}

#[test]
fn a_leader_whose_prompt_cannot_be_sent_still_shares_its_attestation() {
    let world = World::new(|w| w);
    let mut net = world.net();
    let provider = ProviderKind::NearDirect;
    let mut ids = Vec::new();
    net.apply(|c, now| {
        // Content the NEAR scheme cannot protect: refused, never sent in plaintext.
        let bad = Prompt { body: br#"{"model":"m","messages":[{"role":"user","content":42}]}"#.to_vec(), ..prompt() };
        ids.push(c.submit(provider, SimWorld::model(provider), bad, now));
        for _ in 0..3 {
            ids.push(c.submit(provider, SimWorld::model(provider), prompt(), now));
        }
    });
    net.run(MAX_STEPS).expect("the network settles");
    let events = by_request(&net.outputs);
    assert!(matches!(failure(&events[&ids[0]]), ClientError::Session(SessionError::E2ee(_))), "{}", failure(&events[&ids[0]]));
    for id in &ids[1..] {
        assert_answered(provider, *id, &events[id]);
    }
    assert_eq!(net.machine.stats().attestations, 1);
    let key = CacheKey::new(provider.name(), SimWorld::model(provider)).unwrap();
    assert!(net.machine.state().negative.check(&key, net.now.mono).is_none(), "no back-off: the attestation passed");
}

#[test]
fn chutes_concurrent_requests_never_share_a_nonce() {
    let world = World::new(|w| w.with_chutes_fleet(3, 5).with(Misbehaviour::ChutesInstance503));
    let mut net = world.net();
    let provider = ProviderKind::Chutes;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.extend(submit(&mut net, provider, 50));
    }
    let events = by_request(&net.outputs);
    for id in &ids {
        assert_answered(provider, *id, &events[id]);
    }
    let w = world.lock();
    assert_eq!(w.chutes_nonce_reuses(), 0);
    let healthy: usize = (1..=3).map(|n| w.chutes_invocations().get(&chutes_instance_id(n)).copied().unwrap_or(0)).sum();
    assert_eq!(healthy, 200);
}

#[test]
fn chutes_decryption_failures_fail_over_then_invalidate_the_three_caches() {
    let world = World::new(|w| w.with_chutes_fleet(3, 10));
    let mut net = world.net();
    let provider = ProviderKind::Chutes;
    submit(&mut net, provider, 1);
    world.switches.tamper_answers.store(true, Ordering::SeqCst);
    let bad = submit(&mut net, provider, 1);
    let events = by_request(&net.outputs);
    assert!(matches!(failure(&events[&bad[0]]), ClientError::Session(SessionError::E2ee(_))), "{}", failure(&events[&bad[0]]));
    let attempts: usize = world.lock().chutes_invocations().values().sum::<usize>() - 1;
    assert_eq!(attempts, 3, "three attempts, each on another instance");
    let key = CacheKey::new(provider.name(), SimWorld::model(provider)).unwrap();
    assert!(net.machine.state().reports.get(&key, net.now.mono).is_none());
    assert!(net.machine.state().signing_keys.get(&key, net.now.mono).is_none());
    let chute = proto_core::state::ChuteId::new(proto_core::sim::CHUTES_CHUTE_ID).unwrap();
    assert_eq!(net.machine.state().nonce_pool.available(&chute, net.now.mono), 0, "pool invalidated");
    world.switches.tamper_answers.store(false, Ordering::SeqCst);
    let attestations = net.machine.stats().attestations;
    let next = submit(&mut net, provider, 1);
    assert_answered(provider, next[0], &by_request(&net.outputs)[&next[0]]);
    assert_eq!(net.machine.stats().attestations, attestations + 1, "a full re-attestation");
}

// ---------------------------------------------------------------------------------------------
// Properties: any schedule

/// Where this file's failing seeds are kept (cargo runs integration tests from `tests/`).
const REGRESSIONS: &str = "../proptest-regressions/client.txt";

/// Any order, any delivery sizes, spurious timers, small delays.
fn schedule() -> impl Strategy<Value = Schedule> {
    let sizes = prop_oneof![3 => vec(any::<u8>(), 0..16), 1 => vec(1u8..24, 1..4)];
    let delays = vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 0..8);
    (vec(any::<u8>(), 0..24), sizes, vec(any::<u8>(), 0..16), delays)
        .prop_map(|(order, sizes, timers, delays)| Schedule { order, sizes, timers, delays })
}

/// Every inference request reached its server only after a clearance was output for it: the
/// k-th inference request (in arrival order) arrived after at least k `Cleared` events.
fn assert_cleared_before_sent(net: &Net<Client<ChaCha20Rng>>) -> Result<(), TestCaseError> {
    let cleared_before = |n: usize| {
        net.outputs[..n.min(net.outputs.len())].iter().filter(|o| matches!(o.event, ClientEvent::Cleared { .. })).count()
    };
    let inference = net.request_log().iter().filter(|r| chat::inference_target(&r.host, r.path()).is_some());
    for (rank, logged) in inference.enumerate() {
        prop_assert!(cleared_before(logged.outputs_before) > rank, "inference request {} before its clearance", rank);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    })]

    /// Whatever the schedule: concurrent requests share one attestation, each gets the whole
    /// scripted reply, no prompt precedes its clearance, and no Chutes nonce is used twice.
    #[test]
    fn any_schedule_gives_every_request_its_answer(schedule in schedule(), provider in proptest::sample::select(ProviderKind::ALL.to_vec())) {
        let world = World::new(|w| w.with_chutes_fleet(1, 8));
        let mut net = world.net_with(schedule);
        let ids = submit(&mut net, provider, 4);
        let events = by_request(&net.outputs);
        for id in &ids {
            prop_assert!(matches!(events[id].last(), Some(ClientEvent::End)), "{} {:?}: {:?}", provider, id, events[id].last());
            prop_assert_eq!(reply_text(&events[id]), chat::SCRIPTED_REPLY);
        }
        prop_assert_eq!(net.machine.stats().attestations, 1);
        prop_assert_eq!(world.lock().chutes_nonce_reuses(), 0);
        prop_assert_eq!(world.lock().inference_requests(), 4, "one inference request per prompt");
        assert_cleared_before_sent(&net)?;
    }

    /// Whatever the schedule: a blocked attestation lets no request reach an inference path.
    #[test]
    fn any_schedule_sends_nothing_when_attestation_fails(schedule in schedule(), provider in proptest::sample::select(E2EE_PROVIDERS.to_vec())) {
        let world = World::new(|w| w.with(Misbehaviour::SwappedSigningKey));
        let mut net = world.net_with(schedule);
        let ids = submit(&mut net, provider, 3);
        let events = by_request(&net.outputs);
        for id in &ids {
            prop_assert!(matches!(events[id].last(), Some(ClientEvent::Failed(_))), "{:?}", events[id].last());
        }
        prop_assert_eq!(world.lock().inference_requests(), 0);
    }
}
