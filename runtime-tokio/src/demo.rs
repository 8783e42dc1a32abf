//! `teep demo`: the whole path, offline and keyless, against simulated providers.
//!
//! A simulated world (`proto_core::sim`, test roots only, never production ones) is served
//! in-process from a loopback HTTPS server whose test CA only this run trusts. One
//! multi-request client ([`proto_core::client::Client`]) talks to every provider with
//! end-to-end encryption: the first prompt attests (TDX quote, PCS collateral, GPU evidence,
//! NRAS, Rekor, Proof of Cloud: every fetch a real run makes), binds the prompt to what the
//! attestation bound (the enclave key, and for NEAR the pinned TLS key), sends one encrypted
//! streaming chat and prints the reply as it authenticates; the second prompt reuses the cached
//! attestation, with a fresh ephemeral key (and, for Chutes, a fresh nonce from the pool).

use std::sync::{Arc, Mutex};

use proto_core::client::{Client, ClientConfig, ClientEvent, ClientOutput};
use proto_core::fetch::client::FetchClientConfig;
use proto_core::harness::{Reply, Responder, TestPki};
use proto_core::io::Now;
use proto_core::provider::ProviderKind;
use proto_core::provider::descriptor::{ConnectionMode, Endpoint};
use proto_core::session::Prompt;
use proto_core::sim::{SimWorld, chat};
use proto_core::verify::Clearance;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use runtime_blocking::loopback::LoopbackServer;

/// Which runtime drives the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoRuntime {
    /// `runtime-blocking` (threads, no async runtime).
    Blocking,
    /// `runtime-smol`.
    Smol,
    /// `runtime-tokio`.
    Tokio,
}

/// The providers the demo talks to: those whose prompts are end-to-end encrypted.
pub const DEMO_PROVIDERS: [ProviderKind; 4] =
    [ProviderKind::Venice, ProviderKind::NearDirect, ProviderKind::NearCloud, ProviderKind::Chutes];

/// The prompts sent to each provider, in order.
const PROMPTS: [&str; 2] = ["Say hello from the enclave.", "And once more, please."];

/// Why the demo stopped.
#[derive(Debug)]
pub struct DemoError(pub String);

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DemoError {}

/// What one provider's run produced.
#[derive(Clone, Debug)]
pub struct ProviderRun {
    /// The provider.
    pub provider: ProviderKind,
    /// The clearance the first prompt was sent under.
    pub clearance: Clearance,
    /// The decrypted reply text of each prompt.
    pub replies: Vec<String>,
    /// Whether each prompt's own attestation cleared it (the first) or the cached one did.
    pub fresh: Vec<bool>,
    /// Attestations the client ran for this provider.
    pub attestations: u64,
}

/// Runs the demo, writing its narrative to `out`; returns each provider's run.
pub fn run(runtime: DemoRuntime, out: &mut dyn std::io::Write) -> Result<Vec<ProviderRun>, DemoError> {
    let pki = TestPki::generate_for(&SimWorld::all_hosts());
    let world = SimWorld::new([7; 32], pki.server_spki).map_err(|e| DemoError(e.to_string()))?;
    let (wall, verify) = (world.now(), DEMO_PROVIDERS.iter().map(|p| (*p, world.verify_config(*p))).collect());
    let world = Arc::new(Mutex::new(world));
    let server = LoopbackServer::start(&pki, responder(world));
    let mut fetch = FetchClientConfig { extra_roots: vec![pki.ca_cert.clone()], ..FetchClientConfig::default() };
    for host in SimWorld::all_hosts() {
        fetch.connect_overrides.insert(format!("{host}:443"), ("127.0.0.1".to_owned(), server.port));
    }
    say(
        out,
        &format!(
            "teep demo: simulated providers on 127.0.0.1:{} (test roots, trusted by this run only; no network, no keys)\n",
            server.port
        ),
    );
    let rng = crate::os_rng().map_err(|e| DemoError(e.to_string()))?;
    // The simulated world's tokens are stamped at its own fixed time: verify at that time.
    let config = ClientConfig { fetch, verify, pinned_wall_time: Some(wall) };
    let client = Client::new(config, rng);
    let runs = drive(runtime, client, out)?;
    say(
        out,
        &format!(
            "\nAll {} providers verified; every prompt was sealed to an attested key, and each second prompt reused the cached attestation.\n",
            runs.len()
        ),
    );
    Ok(runs)
}

fn say(out: &mut dyn std::io::Write, text: &str) {
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn prompt(provider: ProviderKind, text: &str) -> Prompt {
    let model = SimWorld::model(provider);
    Prompt {
        endpoint: Endpoint::Chat,
        body: format!(r#"{{"model":"{provider}:{model}","stream":true,"messages":[{{"role":"user","content":"{text}"}}]}}"#)
            .into_bytes(),
        api_key: Some("demo-key".into()),
    }
}

/// Sends every prompt, one after the other, through one client on the chosen runtime,
/// narrating as events arrive.
fn drive(runtime: DemoRuntime, client: Client<ChaCha20Rng>, out: &mut dyn std::io::Write) -> Result<Vec<ProviderRun>, DemoError> {
    let mut narrator = Narrator { out, runs: Vec::new(), current: None };
    macro_rules! each_prompt {
        ($driver:ident, $next:expr) => {
            for provider in DEMO_PROVIDERS {
                narrator.begin_provider(provider);
                for (i, text) in PROMPTS.iter().enumerate() {
                    narrator.begin_prompt(i);
                    let model = SimWorld::model(provider);
                    $driver.apply(|c: &mut Client<ChaCha20Rng>, now: Now| c.submit(provider, model, prompt(provider, text), now));
                    while let Some(output) = $next {
                        narrator.on(output);
                    }
                    narrator.end_prompt()?;
                }
                let attestations = $driver.machine().stats().attestations;
                narrator.end_provider(attestations)?;
            }
        };
    }
    match runtime {
        DemoRuntime::Blocking => {
            let mut driver = runtime_blocking::Driver::new(client);
            each_prompt!(driver, driver.next_output());
        }
        DemoRuntime::Smol => smol::block_on(async {
            let mut driver = runtime_smol::Driver::new(client);
            each_prompt!(driver, driver.next_output().await);
            Ok::<(), DemoError>(())
        })?,
        DemoRuntime::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| DemoError(e.to_string()))?;
            rt.block_on(async {
                let mut driver = crate::Driver::new(client);
                each_prompt!(driver, driver.next_output().await);
                Ok::<(), DemoError>(())
            })?;
        }
    }
    Ok(narrator.runs)
}

struct Narrator<'o> {
    out: &'o mut dyn std::io::Write,
    runs: Vec<ProviderRun>,
    current: Option<Current>,
}

struct Current {
    provider: ProviderKind,
    clearance: Option<Clearance>,
    replies: Vec<String>,
    fresh: Vec<bool>,
    failure: Option<String>,
    attestations_before: u64,
}

impl Narrator<'_> {
    fn begin_provider(&mut self, provider: ProviderKind) {
        let model = SimWorld::model(provider);
        let _ = writeln!(self.out, "\n== {provider} / {model} ==");
        let attestations_before = self.runs.iter().map(|r| r.attestations).sum();
        self.current = Some(Current {
            provider,
            clearance: None,
            replies: Vec::new(),
            fresh: Vec::new(),
            failure: None,
            attestations_before,
        });
    }

    fn begin_prompt(&mut self, i: usize) {
        if let Some(c) = self.current.as_mut() {
            c.replies.push(String::new());
        }
        let _ = writeln!(self.out, "  prompt {}:    {:?}", i + 1, PROMPTS[i]);
    }

    fn on(&mut self, output: ClientOutput) {
        let Some(current) = self.current.as_mut() else { return };
        match output.event {
            ClientEvent::Attested(_) | ClientEvent::Head(_) | ClientEvent::End => {}
            ClientEvent::Cleared { fresh, clearance } => {
                current.fresh.push(fresh);
                if fresh {
                    cleared(self.out, current.provider, &clearance);
                } else {
                    let _ = writeln!(self.out, "  attestation: cached (same report and keys; new ephemeral key for this prompt)");
                }
                current.clearance.get_or_insert(*clearance);
                let _ = write!(self.out, "  reply:       ");
            }
            ClientEvent::Body(bytes) => {
                for text in delta_texts(&bytes) {
                    if let Some(reply) = current.replies.last_mut() {
                        reply.push_str(&text);
                    }
                    let _ = write!(self.out, "{text}");
                    let _ = self.out.flush();
                }
            }
            ClientEvent::Failed(e) => current.failure = Some(e.to_string()),
        }
    }

    fn end_prompt(&mut self) -> Result<(), DemoError> {
        let _ = writeln!(self.out);
        let Some(current) = self.current.as_ref() else { return Ok(()) };
        if let Some(failure) = &current.failure {
            return Err(DemoError(format!("{}: {failure}", current.provider)));
        }
        if current.replies.last().is_none_or(String::is_empty) {
            return Err(DemoError(format!("{}: empty reply", current.provider)));
        }
        Ok(())
    }

    fn end_provider(&mut self, attestations_total: u64) -> Result<(), DemoError> {
        let Some(current) = self.current.take() else { return Ok(()) };
        let provider = current.provider;
        let clearance = current.clearance.ok_or_else(|| DemoError(format!("{provider}: no clearance")))?;
        let attestations = attestations_total - current.attestations_before;
        let _ = writeln!(self.out, "  attestations for {} prompts: {attestations}", PROMPTS.len());
        self.runs.push(ProviderRun { provider, clearance, replies: current.replies, fresh: current.fresh, attestations });
        Ok(())
    }
}

/// What a fresh attestation verified and bound.
fn cleared(out: &mut dyn std::io::Write, provider: ProviderKind, clearance: &Clearance) {
    let score = clearance.report().score();
    let _ = writeln!(
        out,
        "  attestation: {}/{} factors passed, {} allowed failures, not blocked",
        score.passed,
        score.total(),
        score.allowed_failed
    );
    if let Some(key) = clearance.enclave_key() {
        let short: String = key.encoded.chars().take(24).collect();
        let _ = writeln!(out, "  prompt key:  {} {short}… (bound in the TDX quote's REPORTDATA)", key.algo);
    }
    match (provider.descriptor().connection, clearance.tls_spki()) {
        (ConnectionMode::PinnedTls, Some(spki)) => {
            let _ = writeln!(out, "  TLS pinned:  SPKI {}… (bound in the quote; every prompt channel must present it)", &spki.to_hex()[..16]);
        }
        _ => {
            let _ = writeln!(out, "  TLS:         web PKI (confidentiality comes from the sealed body)");
        }
    }
    if let Some(instance) = clearance.instance() {
        let _ = writeln!(out, "  instance:    {instance} (its quote verified; nonces from the pool, each used once)");
    }
}

/// The `delta.content` texts of the SSE events in `bytes`.
fn delta_texts(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| *data != "[DONE]")
        .filter_map(|data| serde_json::from_str::<serde_json::Value>(data).ok())
        .filter_map(|v| v.pointer("/choices/0/delta/content").and_then(|c| c.as_str()).map(str::to_owned))
        .collect()
}

/// Answers every request from the simulated world and its enclaves.
pub fn responder(world: Arc<Mutex<SimWorld>>) -> Responder {
    let rng = Mutex::new(ChaCha20Rng::from_seed([9; 32]));
    Arc::new(move |req| {
        let host = req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("host")).map(|(_, v)| v.clone()).unwrap_or_default();
        let Ok(mut world) = world.lock() else { return Reply::fixed(500, "text/plain", b"world poisoned") };
        let Ok(mut rng) = rng.lock() else { return Reply::fixed(500, "text/plain", b"rng poisoned") };
        let answer = chat::answer_any(&mut world, &req.method, &host, &req.target, &req.headers, &req.body, &mut *rng);
        Reply::with_headers(answer.status, &answer.headers, &answer.body)
    })
}
