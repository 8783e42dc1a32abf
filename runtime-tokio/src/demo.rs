//! `teep demo`: the whole path, offline and keyless, against simulated providers.
//!
//! A simulated world (`proto_core::sim`, test roots only, never production ones) is served
//! in-process from a loopback HTTPS server whose test CA only this run trusts. For each
//! provider with end-to-end encryption, the demo attests (TDX quote, PCS collateral, GPU
//! evidence, NRAS, Rekor, Proof of Cloud: every fetch a real run makes), binds the prompt to
//! what the attestation bound (the enclave key, and for NEAR the pinned TLS key), sends one
//! encrypted streaming chat, and prints the reply as it authenticates.

use std::sync::{Arc, Mutex};

use proto_core::fetch::client::FetchClientConfig;
use proto_core::harness::{Reply, Responder, TestPki};
use proto_core::provider::ProviderKind;
use proto_core::provider::descriptor::{ConnectionMode, Endpoint};
use proto_core::session::{Prompt, PromptSession, SessionOutput};
use proto_core::sim::{SimWorld, chat};
use proto_core::verify::{Clearance, LiveVerification};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use runtime_blocking::loopback::LoopbackServer;

/// Which runtime drives the sessions.
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
    /// The clearance the attestation granted.
    pub clearance: Clearance,
    /// The decrypted reply text.
    pub reply: String,
}

/// Runs the demo, writing its narrative to `out`; returns each provider's run.
pub fn run(runtime: DemoRuntime, out: &mut dyn std::io::Write) -> Result<Vec<ProviderRun>, DemoError> {
    let pki = TestPki::generate_for(&SimWorld::all_hosts());
    let world = SimWorld::new([7; 32], pki.server_spki).map_err(|e| DemoError(e.to_string()))?;
    let world = Arc::new(Mutex::new(world));
    let server = LoopbackServer::start(&pki, responder(world.clone()));
    let mut client = FetchClientConfig { extra_roots: vec![pki.ca_cert.clone()], ..FetchClientConfig::default() };
    for host in SimWorld::all_hosts() {
        client.connect_overrides.insert(format!("{host}:443"), ("127.0.0.1".to_owned(), server.port));
    }
    let say = |out: &mut dyn std::io::Write, text: String| {
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    };
    say(
        out,
        format!(
            "teep demo: simulated providers on 127.0.0.1:{} (test roots, trusted by this run only; no network, no keys)\n",
            server.port
        ),
    );
    let mut runs = Vec::new();
    for (i, provider) in DEMO_PROVIDERS.into_iter().enumerate() {
        let (mut config, now) = {
            let w = world.lock().map_err(|_| DemoError("simulated world poisoned".into()))?;
            (w.verify_config(provider), w.now())
        };
        // The encrypted chat that follows is the live E2EE test; it fails closed on its own.
        config.e2ee = proto_core::attestation::factors::E2eeTest::PendingLiveTest;
        let model = SimWorld::model(provider);
        say(out, format!("\n== {provider} / {model} ==\n"));
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce).map_err(|e| DemoError(format!("no OS randomness: {e}")))?;
        let verification = LiveVerification::new(provider, model, nonce, config, now, client.clone());
        let prompt = Prompt {
            endpoint: Endpoint::Chat,
            body: format!(
                r#"{{"model":"{provider}:{model}","stream":true,"messages":[{{"role":"user","content":"Say hello from the enclave."}}]}}"#
            )
            .into_bytes(),
            api_key: Some("demo-key".into()),
        };
        let rng = ChaCha20Rng::from_seed([i as u8 + 1; 32]);
        let session = PromptSession::attest_then_send(verification, prompt, true, client.clone(), rng);
        let run = drive(runtime, session, provider, out)?;
        runs.push(run);
    }
    say(out, format!("\nAll {} providers verified; every prompt was sealed to an attested key.\n", runs.len()));
    Ok(runs)
}

/// Drives one session on the chosen runtime, narrating as outputs arrive.
fn drive(
    runtime: DemoRuntime,
    session: PromptSession<ChaCha20Rng>,
    provider: ProviderKind,
    out: &mut dyn std::io::Write,
) -> Result<ProviderRun, DemoError> {
    let mut narrator = Narrator { provider, out, clearance: None, reply: String::new(), failure: None };
    match runtime {
        DemoRuntime::Blocking => {
            let mut driver = runtime_blocking::Driver::new(session);
            driver.apply(|m, now| m.start(now));
            while let Some(output) = driver.next_output() {
                narrator.on(output);
            }
        }
        DemoRuntime::Smol => smol::block_on(async {
            let mut driver = runtime_smol::Driver::new(session);
            driver.apply(|m, now| m.start(now));
            while let Some(output) = driver.next_output().await {
                narrator.on(output);
            }
        }),
        DemoRuntime::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| DemoError(e.to_string()))?;
            rt.block_on(async {
                let mut driver = crate::Driver::new(session);
                driver.apply(|m, now| m.start(now));
                while let Some(output) = driver.next_output().await {
                    narrator.on(output);
                }
            });
        }
    }
    narrator.finish()
}

struct Narrator<'o> {
    provider: ProviderKind,
    out: &'o mut dyn std::io::Write,
    clearance: Option<Clearance>,
    reply: String,
    failure: Option<String>,
}

impl Narrator<'_> {
    fn on(&mut self, output: SessionOutput) {
        match output {
            SessionOutput::Progress { .. } | SessionOutput::Head(_) | SessionOutput::End => {}
            SessionOutput::Cleared(clearance) => {
                self.cleared(&clearance);
                self.clearance = Some(*clearance);
                let _ = write!(self.out, "  reply:       ");
            }
            SessionOutput::Body(bytes) => {
                for text in delta_texts(&bytes) {
                    self.reply.push_str(&text);
                    let _ = write!(self.out, "{text}");
                    let _ = self.out.flush();
                }
            }
            SessionOutput::Failed(e) => self.failure = Some(e.to_string()),
        }
    }

    fn cleared(&mut self, clearance: &Clearance) {
        let score = clearance.report().score();
        let _ = writeln!(
            self.out,
            "  attestation: {}/{} factors passed, {} allowed failures, not blocked",
            score.passed,
            score.total(),
            score.allowed_failed
        );
        if let Some(key) = clearance.enclave_key() {
            let short: String = key.encoded.chars().take(24).collect();
            let _ = writeln!(self.out, "  prompt key:  {} {short}… (bound in the TDX quote's REPORTDATA)", key.algo);
        }
        match (self.provider.descriptor().connection, clearance.tls_spki()) {
            (ConnectionMode::PinnedTls, Some(spki)) => {
                let _ = writeln!(self.out, "  TLS pinned:  SPKI {}… (bound in the quote; the prompt channel must present it)", &spki.to_hex()[..16]);
            }
            _ => {
                let _ = writeln!(self.out, "  TLS:         web PKI (confidentiality comes from the sealed body)");
            }
        }
    }

    fn finish(self) -> Result<ProviderRun, DemoError> {
        let _ = writeln!(self.out);
        if let Some(failure) = self.failure {
            return Err(DemoError(format!("{}: {failure}", self.provider)));
        }
        let clearance = self.clearance.ok_or_else(|| DemoError(format!("{}: no clearance", self.provider)))?;
        if self.reply.is_empty() {
            return Err(DemoError(format!("{}: empty reply", self.provider)));
        }
        Ok(ProviderRun { provider: self.provider, clearance, reply: self.reply })
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
