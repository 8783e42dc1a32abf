//! Serving a simulated world over loopback HTTPS: one test server whose certificate names
//! every host of every simulated provider and service, answering each request with
//! [`SimWorld::answer`], and inference paths with the enclave's sealed chat answer
//! ([`chat::answer_any`]). A second identity (another key, same names) lets a test switch the
//! TLS key a provider presents after attestation.

use std::sync::{Arc, Mutex};

use proto_core::fetch::client::FetchClientConfig;
use proto_core::harness::{ReceivedRequest, Reply, Responder, TestPki};
use proto_core::attestation::factors::E2eeTest;
use proto_core::provider::ProviderKind;
use proto_core::report::{AllowFail, Factor};
use proto_core::sim::{SimResponse, SimWorld, chat};
use proto_core::verify::VerifyConfig;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::LoopbackServer;

/// A test PKI whose server certificate names every simulated host.
pub fn sim_pki() -> TestPki {
    TestPki::generate_for(&SimWorld::all_hosts())
}

/// A loopback server answering from a shared world, and the client configuration that
/// reaches it.
pub struct SimServer {
    /// The server (its connection log counts what it received).
    pub server: LoopbackServer,
    /// Trusts the server's test CA and routes every simulated host to it.
    pub client: FetchClientConfig,
    /// The world behind the server (shared: tests read its counters).
    pub world: Arc<Mutex<SimWorld>>,
}

/// A world of `seed` whose attestations bind `pki`'s server key.
pub fn sim_world(seed: [u8; 32], pki: &TestPki) -> SimWorld {
    SimWorld::new(seed, pki.server_spki).expect("simulated world builds")
}

/// Starts a server presenting `pki`'s certificate and answering from `world`.
pub fn serve_sim(world: Arc<Mutex<SimWorld>>, pki: &TestPki) -> SimServer {
    let server = LoopbackServer::start(pki, responder(world.clone()));
    let mut client = FetchClientConfig { extra_roots: vec![pki.ca_cert.clone()], ..FetchClientConfig::default() };
    for host in SimWorld::all_hosts() {
        client.connect_overrides.insert(format!("{host}:443"), ("127.0.0.1".to_owned(), server.port));
    }
    SimServer { server, client, world }
}

/// Answers from the world; inference paths get the enclave's sealed chat answer.
fn responder(world: Arc<Mutex<SimWorld>>) -> Responder {
    let rng = Mutex::new(ChaCha20Rng::seed_from_u64(7));
    Arc::new(move |req| {
        let (_, answer) = sim_answer(&world, &rng, req);
        Reply::with_headers(answer.status, &answer.headers, &answer.body)
    })
}

/// The simulated world's answer to one request a test server received, and the host it was
/// for: inference paths get the enclave's sealed chat answer ([`chat::answer_any`]), everything
/// else the world's.
pub fn sim_answer(world: &Mutex<SimWorld>, rng: &Mutex<ChaCha20Rng>, req: &ReceivedRequest) -> (String, SimResponse) {
    let host =
        req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("host")).map(|(_, v)| v.clone()).unwrap_or_default();
    let mut world = world.lock().expect("world");
    let mut rng = rng.lock().expect("rng");
    let answer = chat::answer_any(&mut world, &req.method, &host, &req.target, &req.headers, &req.body, &mut *rng);
    (host, answer)
}

/// The provider's default enforcement with `e2ee_usable` allowed: that factor reports the E2EE
/// test run after attestation, which attestation-only simulation runs do not perform.
pub fn attestation_only_config(world: &SimWorld, provider: ProviderKind) -> VerifyConfig {
    let mut config = world.verify_config(provider);
    let defaults = AllowFail::provider_default(provider);
    let mut names: Vec<&str> = Factor::ALL.iter().filter(|f| defaults.contains(**f)).map(|f| f.name()).collect();
    names.push(Factor::E2eeUsable.name());
    config.allow_fail = AllowFail::from_names(&names).expect("known factors");
    config.e2ee = E2eeTest::NotAttempted { detail: "attestation-only simulation run".to_owned() };
    config
}
