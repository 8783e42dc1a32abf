//! One prompt to an attested enclave, as a machine: attest (or reuse a [`Clearance`]), open the
//! channel the clearance allows, and only then write the request; stream the answer back.
//!
//! ```text
//!   new ──► [no clearance: LiveVerification] ──► blocked / error ──► Failed (nothing sent)
//!                       │
//!                       └── Clearance ──► channel ──► request ──► Head, Body…, End
//! ```
//!
//! The channel follows the provider's connection mode:
//! * **pinned TLS** (neardirect, nearcloud): an SPKI-pin channel to the attested host whose pin
//!   is the TLS key the quote bound. The TLS handshake itself proves the peer holds that key; a
//!   server presenting any other key fails the handshake ([`SessionError::Channel`] with a pin
//!   mismatch) before one request byte is written, on this and every later connection.
//! * **web PKI** (the others): the inference base over ordinary TLS.
//!
//! Where the provider's prompts are end-to-end encrypted, the body is encrypted to the enclave
//! key in the clearance (venice: secp256k1 ECIES; NEAR: Ed25519→X25519 XChaCha20-Poly1305 or
//! the ECDSA variant) and the streamed answer is released event by event only as it
//! authenticates; a failure stops the stream for good. Chutes prompts are sealed whole to the
//! attested instance's ML-KEM-768 key and sent to `/e2e/invoke` with that instance's single-use
//! nonce. An E2EE provider without an attested key is refused: there is no plaintext fallback.

use std::collections::VecDeque;

use rand_core::CryptoRng;
use serde_json::Value;

use crate::e2ee::{self, StreamDecryptor as _};

use crate::exchange::{ChannelConfig, ExchangeError, ExchangeOutput, HttpsExchange};
use crate::fetch::client::FetchClientConfig;
use crate::http::{Request, ResponseHead, ResponseLimits};
use crate::io::{Event, Io, Machine, Now};
use crate::provider::ProviderKind;
use crate::provider::descriptor::{ConnectionMode, Endpoint};
use crate::report::Report;
use crate::tls::ChannelTrust;
use crate::verify::{Clearance, LiveOutput, LiveVerification, VerifyError};

/// The channel number prompt exchanges use (verification fetches number theirs from 0 up).
const PROMPT_CHANNEL: u32 = u32::MAX;

/// Largest request body accepted.
pub const MAX_PROMPT_BODY: usize = 32 * 1024 * 1024;

/// The request to send once attestation allows it.
#[derive(Clone)]
pub struct Prompt {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// The JSON body; its `model` field is replaced by the attested model.
    pub body: Vec<u8>,
    /// Bearer token for the provider (never logged).
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt").field("endpoint", &self.endpoint).field("body_len", &self.body.len()).finish_non_exhaustive()
    }
}

/// Why a prompt was not (fully) delivered. Every variant says which check stopped it.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The attestation could not be completed.
    #[error("attestation failed: {0}")]
    Verify(VerifyError),
    /// The attestation report is blocked: nothing was sent.
    #[error("attestation blocked by enforced factors: {}", failing(.0))]
    Blocked(Box<Report>),
    /// The provider pins its TLS key but the clearance binds none (or names no host).
    #[error("{0}: no attested TLS key to pin; refusing to send")]
    NoPinnedKey(ProviderKind),
    /// The provider's prompts must be end-to-end encrypted and no codec protects them here.
    #[error("{0}: prompts must be end-to-end encrypted to the attested key; refusing to send them in plaintext")]
    E2eeRequired(ProviderKind),
    /// The provider does not offer this endpoint.
    #[error("{provider} does not offer {path}")]
    UnsupportedEndpoint {
        /// The provider.
        provider: ProviderKind,
        /// The local path asked for.
        path: &'static str,
    },
    /// The request body is not a JSON object (or too large).
    #[error("request body: {0}")]
    BadBody(String),
    /// End-to-end encryption failed (the attested key is unusable, the body cannot be
    /// protected, or the answer does not authenticate); nothing after the failure is released.
    #[error("end-to-end encryption: {0}")]
    E2ee(e2ee::E2eeError),
    /// The channel failed (connect, TLS, pin mismatch, HTTP framing, timeout).
    #[error(transparent)]
    Channel(ExchangeError),
}

fn failing(report: &Report) -> String {
    let names: Vec<&str> = report
        .factors
        .iter()
        .filter(|f| f.enforced && f.status != crate::report::Status::Pass)
        .map(|f| f.factor.name())
        .collect();
    names.join(", ")
}

/// What a prompt session hands to the application.
#[derive(Clone, Debug)]
pub enum SessionOutput {
    /// Attestation progress (answers received / asked).
    Progress {
        /// Answers in.
        answered: usize,
        /// Fetches asked.
        asked: usize,
    },
    /// Attestation passed; the prompt may go to this enclave (nothing has been written yet;
    /// a prompt that cannot be protected still fails after this).
    Cleared(Box<Clearance>),
    /// The answer's status and headers.
    Head(ResponseHead),
    /// A piece of the answer body, in order.
    Body(Vec<u8>),
    /// The answer is complete.
    End,
    /// The session ended without (a complete) answer; the last output.
    Failed(SessionError),
}

enum Phase {
    Attesting(Box<LiveVerification>),
    Sending(Box<HttpsExchange>),
    Done,
}

/// One prompt to one attested enclave. See the module documentation.
pub struct PromptSession<R> {
    prompt: Prompt,
    client: FetchClientConfig,
    provider_e2ee: bool,
    phase: Phase,
    pending_clearance: Option<Clearance>,
    rng: R,
    codec: Option<Codec>,
    io: VecDeque<Io>,
    out: VecDeque<SessionOutput>,
}

/// The body protection of one exchange: the client session that alone opens the answer.
enum Codec {
    Venice(e2ee::venice::relay::SseDecryptor<e2ee::venice::ClientSession>),
    Near(e2ee::venice::relay::SseDecryptor<e2ee::near::ClientSession>),
    ChutesStream(Box<e2ee::chutes::StreamDecryptor>),
    /// A non-streaming Chutes answer: one sealed blob, opened when complete.
    ChutesBlob(Option<e2ee::chutes::ResponseSession>, Vec<u8>),
}

/// A request body ready to send and the E2EE headers that go with it.
type Protected = (Vec<u8>, Vec<(&'static str, String)>);

/// Largest sealed non-streaming answer buffered before opening it.
const MAX_SEALED_ANSWER: usize = 10 * 1024 * 1024;

impl Codec {
    /// Feeds answer bytes; appends what authenticated, in order.
    fn push(&mut self, bytes: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), e2ee::E2eeError> {
        let mut text = Vec::new();
        let result = match self {
            Codec::Venice(d) => d.push(bytes, &mut text),
            Codec::Near(d) => d.push(bytes, &mut text),
            Codec::ChutesStream(d) => d.push(bytes, out),
            Codec::ChutesBlob(_, buffer) => {
                if buffer.len() + bytes.len() > MAX_SEALED_ANSWER {
                    return Err(e2ee::E2eeError::Limit("sealed answer over 10 MiB".into()));
                }
                buffer.extend_from_slice(bytes);
                Ok(())
            }
        };
        out.extend(text.into_iter().map(String::into_bytes));
        result
    }

    /// Declares the end of the answer: succeeds only if it ended authenticated and complete;
    /// a sealed blob's plaintext is appended to `out`.
    fn finish(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), e2ee::E2eeError> {
        match self {
            Codec::Venice(d) => d.finish().map(drop),
            Codec::Near(d) => d.finish().map(drop),
            Codec::ChutesStream(d) => d.finish().map(drop),
            Codec::ChutesBlob(session, buffer) => {
                let session = session.take().ok_or_else(|| e2ee::E2eeError::Stream("answer already opened".into()))?;
                out.push(session.decrypt_body(buffer)?);
                Ok(())
            }
        }
    }
}

impl<R> std::fmt::Debug for PromptSession<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptSession").field("prompt", &self.prompt).finish_non_exhaustive()
    }
}

impl<R: CryptoRng> PromptSession<R> {
    /// A session that first runs `verification` (not yet started) and sends `prompt` only if
    /// it ends with a [`Clearance`]. `e2ee` says whether the provider's prompts must be end-to-
    /// end encrypted. `client` trusts and routes both the verification's fetches and the
    /// prompt channel.
    pub fn attest_then_send(
        verification: LiveVerification,
        prompt: Prompt,
        e2ee: bool,
        client: FetchClientConfig,
        rng: R,
    ) -> Self {
        Self {
            prompt,
            client,
            provider_e2ee: e2ee,
            phase: Phase::Attesting(Box::new(verification)),
            pending_clearance: None,
            rng,
            codec: None,
            io: VecDeque::new(),
            out: VecDeque::new(),
        }
    }

    /// A session that reuses an earlier clearance (from a cache) and sends right away.
    pub fn with_clearance(clearance: Clearance, prompt: Prompt, e2ee: bool, client: FetchClientConfig, rng: R) -> Self {
        Self {
            prompt,
            client,
            provider_e2ee: e2ee,
            phase: Phase::Done,
            pending_clearance: Some(clearance),
            rng,
            codec: None,
            io: VecDeque::new(),
            out: VecDeque::new(),
        }
    }

    /// Starts: the verification's first fetches, or the prompt channel. The driver drains
    /// afterwards.
    pub fn start(&mut self, now: Now) {
        if let Some(clearance) = self.pending_clearance.take() {
            self.send(clearance, now);
            return;
        }
        if let Phase::Attesting(v) = &mut self.phase {
            v.start(now);
        }
        self.pump(now);
    }
}

impl<R: CryptoRng> PromptSession<R> {
    /// Opens the channel the clearance allows and queues the request on it, or fails closed.
    /// The clearance is output first (the attestation passed, whatever happens to this
    /// prompt); a prompt that cannot be protected or framed then fails on its own.
    fn send(&mut self, clearance: Clearance, now: Now) {
        let opened = self.open(&clearance, now);
        self.out.push_back(SessionOutput::Cleared(Box::new(clearance)));
        match opened {
            Ok(exchange) => {
                self.phase = Phase::Sending(Box::new(exchange));
                self.pump(now);
            }
            Err(e) => self.fail(e),
        }
    }

    fn open(&mut self, clearance: &Clearance, now: Now) -> Result<HttpsExchange, SessionError> {
        let provider = clearance.provider();
        let descriptor = provider.descriptor();
        let path = provider.upstream_path(self.prompt.endpoint).ok_or(SessionError::UnsupportedEndpoint {
            provider,
            path: self.prompt.endpoint.local_path(),
        })?;
        let (host, port, base_path, trust) = match descriptor.connection {
            ConnectionMode::PinnedTls => {
                let (Some(spki), Some(host)) = (clearance.tls_spki(), clearance.attested_host()) else {
                    return Err(SessionError::NoPinnedKey(provider));
                };
                (host.to_owned(), 443, String::new(), ChannelTrust::SpkiPin(spki))
            }
            ConnectionMode::Tls => {
                let base = provider.inference_base(descriptor.default_base_url);
                let (host, base_path) = split_base(&base)?;
                (host, 443, base_path, ChannelTrust::WebPki { extra_roots: self.client.extra_roots.clone() })
            }
        };
        let body = with_model(&self.prompt.body, clearance.model())?;
        if provider == ProviderKind::Chutes && self.provider_e2ee {
            return self.open_chutes(clearance, body, now);
        }
        let (body, e2ee_headers) = self.protect(clearance, path, body)?;
        let mut request = Request::post(format!("{base_path}{path}"), body)
            .header("Content-Type", "application/json")
            .limits(ResponseLimits::default());
        for (name, value) in e2ee_headers {
            request = request.header(name, value);
        }
        if let Some(key) = &self.prompt.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let mut channel = ChannelConfig::new(host, port, trust);
        channel.timeouts = self.client.timeouts;
        let mut exchange = HttpsExchange::new(PROMPT_CHANNEL, channel);
        exchange.submit(&request, now).map_err(|e| SessionError::BadBody(e.to_string()))?;
        Ok(exchange)
    }

    /// Encrypts the body to the attested enclave key when the provider's prompts must be
    /// protected, keeping the client session that alone opens the answer. Providers without
    /// E2EE get the body unchanged; an E2EE provider without an attested key, or one whose
    /// scheme this build cannot apply, is refused (no plaintext fallback).
    fn protect(&mut self, clearance: &Clearance, path: &str, body: Vec<u8>) -> Result<Protected, SessionError> {
        let provider = clearance.provider();
        if !self.provider_e2ee {
            return Ok((body, Vec::new()));
        }
        let key = clearance.enclave_key().ok_or(SessionError::E2eeRequired(provider))?;
        let e2ee_error = |e: e2ee::E2eeError| SessionError::E2ee(e);
        match provider {
            ProviderKind::Venice => {
                let model = e2ee::venice::ModelKey::from_hex(&key.encoded).map_err(e2ee_error)?;
                let request = e2ee::venice::encrypt_request(path, &body, &model, &mut self.rng).map_err(e2ee_error)?;
                self.codec = Some(Codec::Venice(e2ee::venice::stream_decryptor(request.session)));
                Ok((request.body, request.headers))
            }
            ProviderKind::NearDirect | ProviderKind::NearCloud => {
                let model = match key.algo.as_str() {
                    "ed25519" => e2ee::near::ModelKey::ed25519_from_hex(&key.encoded),
                    _ => e2ee::near::ModelKey::ecdsa_from_hex(&key.encoded),
                }
                .map_err(e2ee_error)?;
                let request = e2ee::near::encrypt_request(path, &body, &model, &mut self.rng).map_err(e2ee_error)?;
                self.codec = Some(Codec::Near(e2ee::near::stream_decryptor(request.session)));
                Ok((request.body, request.headers))
            }
            _ => Err(SessionError::E2eeRequired(provider)),
        }
    }

    /// Chutes: the whole body sealed to the attested instance key, sent to `/e2e/invoke` with
    /// the instance's single-use nonce.
    fn open_chutes(&mut self, clearance: &Clearance, body: Vec<u8>, now: Now) -> Result<HttpsExchange, SessionError> {
        use e2ee::chutes;
        let provider = clearance.provider();
        let (Some(key), Some(target)) = (clearance.enclave_key(), clearance.chutes_target()) else {
            return Err(SessionError::E2eeRequired(provider));
        };
        let endpoint = match self.prompt.endpoint {
            Endpoint::Chat => chutes::Endpoint::ChatCompletions,
            Endpoint::Embeddings => chutes::Endpoint::Embeddings,
            other => return Err(SessionError::UnsupportedEndpoint { provider, path: other.local_path() }),
        };
        let e2ee_error = SessionError::E2ee;
        let instance_key = chutes::InstanceKey::from_attested(&key.encoded).map_err(e2ee_error)?;
        let material = chutes::AttemptMaterial::new(&target.chute_id, &target.instance_id, &target.e2e_nonce, instance_key)
            .map_err(e2ee_error)?;
        let base = chutes::PlatformBase::parse(provider.descriptor().default_base_url).map_err(e2ee_error)?;
        let api_key = self.prompt.api_key.clone().unwrap_or_default();
        let invoke = chutes::build_invoke(&base, &api_key, &material, endpoint, &body, &mut self.rng).map_err(e2ee_error)?;
        self.codec = Some(if invoke.session.expects_stream() {
            Codec::ChutesStream(Box::new(invoke.session.into_stream()))
        } else {
            Codec::ChutesBlob(Some(invoke.session), Vec::new())
        });
        let trust = ChannelTrust::WebPki { extra_roots: self.client.extra_roots.clone() };
        let mut channel = ChannelConfig::new(invoke.host, invoke.port, trust);
        channel.timeouts = self.client.timeouts;
        let mut exchange = HttpsExchange::new(PROMPT_CHANNEL, channel);
        exchange.submit(&invoke.request, now).map_err(|e| SessionError::BadBody(e.to_string()))?;
        Ok(exchange)
    }

    fn fail(&mut self, error: SessionError) {
        self.phase = Phase::Done;
        self.out.push_back(SessionOutput::Failed(error));
    }

    /// Moves instructions and outputs of the current phase out, and the phase forward.
    fn pump(&mut self, now: Now) {
        match &mut self.phase {
            Phase::Attesting(v) => {
                while let Some(io) = v.poll_io() {
                    self.io.push_back(io);
                }
                let mut finished = None;
                while let Some(output) = v.poll_output() {
                    match output {
                        LiveOutput::Progress { answered, asked, .. } => {
                            self.out.push_back(SessionOutput::Progress { answered, asked });
                        }
                        LiveOutput::Finished(result) => finished = Some(result),
                    }
                }
                let Some(result) = finished else { return };
                let clearance = v.clearance().cloned();
                match (result, clearance) {
                    (Err(e), _) => self.fail(SessionError::Verify(e)),
                    (Ok(_), Some(clearance)) => self.send(clearance, now),
                    (Ok(report), None) => self.fail(SessionError::Blocked(Box::new(report))),
                }
            }
            Phase::Sending(exchange) => {
                while let Some(io) = exchange.poll_io() {
                    self.io.push_back(route(io, &self.client));
                }
                let mut failed: Option<SessionError> = None;
                let mut ended = false;
                while let Some(output) = exchange.poll_output() {
                    match output {
                        ExchangeOutput::Head { head, .. } => {
                            if head.status != 200 {
                                // An error answer is the provider's, not the enclave's: it
                                // carries no completion and is passed on as such.
                                self.codec = None;
                            }
                            self.out.push_back(SessionOutput::Head(head));
                        }
                        ExchangeOutput::Body { bytes, .. } => match &mut self.codec {
                            None => self.out.push_back(SessionOutput::Body(bytes)),
                            Some(codec) => {
                                let mut events = Vec::new();
                                let result = codec.push(&bytes, &mut events);
                                for event in events {
                                    self.out.push_back(SessionOutput::Body(event));
                                }
                                if let Err(e) = result {
                                    failed = Some(SessionError::E2ee(e));
                                    break;
                                }
                            }
                        },
                        ExchangeOutput::End { .. } => ended = true,
                        ExchangeOutput::Failed(e) => failed = Some(SessionError::Channel(e)),
                    }
                }
                if ended && failed.is_none() {
                    let mut last = Vec::new();
                    match self.codec.as_mut().map(|c| c.finish(&mut last)) {
                        Some(Err(e)) => failed = Some(SessionError::E2ee(e)),
                        _ => self.out.extend(last.into_iter().map(SessionOutput::Body)),
                    }
                }
                if let Some(e) = failed {
                    self.fail(e);
                } else if ended {
                    exchange.close_idle();
                    while let Some(io) = exchange.poll_io() {
                        self.io.push_back(io);
                    }
                    self.out.push_back(SessionOutput::End);
                    self.phase = Phase::Done;
                }
            }
            Phase::Done => {}
        }
    }
}

/// Applies the client's connect overrides to a connect instruction.
fn route(io: Io, client: &FetchClientConfig) -> Io {
    match io {
        Io::Connect { conn, host, port } => {
            let (host, port) = client.connect_overrides.get(&format!("{host}:{port}")).cloned().unwrap_or((host, port));
            Io::Connect { conn, host, port }
        }
        other => other,
    }
}

/// `https://host[/path]` → (host, path without trailing slash).
fn split_base(base: &str) -> Result<(String, String), SessionError> {
    let rest = base.strip_prefix("https://").ok_or_else(|| SessionError::BadBody(format!("base URL {base:?} is not https")))?;
    let (host, path) = rest.split_once('/').map_or((rest, String::new()), |(h, p)| (h, format!("/{}", p.trim_end_matches('/'))));
    Ok((host.to_owned(), path))
}

/// The body with its `model` field set to the attested model (the upstream id).
fn with_model(body: &[u8], model: &str) -> Result<Vec<u8>, SessionError> {
    if body.len() > MAX_PROMPT_BODY {
        return Err(SessionError::BadBody(format!("{} bytes, over the {MAX_PROMPT_BODY}-byte limit", body.len())));
    }
    let mut value: Value = serde_json::from_slice(body).map_err(|e| SessionError::BadBody(e.to_string()))?;
    let object = value.as_object_mut().ok_or_else(|| SessionError::BadBody("not a JSON object".into()))?;
    object.insert("model".into(), Value::String(model.to_owned()));
    serde_json::to_vec(&value).map_err(|e| SessionError::BadBody(e.to_string()))
}

impl<R: CryptoRng> Machine for PromptSession<R> {
    type Output = SessionOutput;

    fn handle(&mut self, event: Event<'_>, now: Now) {
        match &mut self.phase {
            Phase::Attesting(v) => v.handle(event, now),
            Phase::Sending(exchange) => exchange.handle(event, now),
            Phase::Done => {}
        }
        self.pump(now);
    }

    fn poll_io(&mut self) -> Option<Io> {
        self.io.pop_front()
    }

    fn poll_output(&mut self) -> Option<SessionOutput> {
        self.out.pop_front()
    }

    fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done) && self.out.is_empty() && self.pending_clearance.is_none()
    }
}

/// The prompt of the live E2EE test `teep verify` runs after attestation (a short streaming
/// chat; its answer is only counted, never shown).
pub fn e2ee_test_prompt(api_key: Option<String>) -> Prompt {
    Prompt {
        endpoint: Endpoint::Chat,
        body: br#"{"model":"m","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"Say hello."}]}"#.to_vec(),
        api_key,
    }
}

/// The `e2ee_usable` outcome of a finished E2EE test session, from its outputs: Succeeded when
/// the answer ended cleanly with at least one authenticated event, Failed otherwise.
pub fn e2ee_test_outcome(provider: ProviderKind, outputs: &[SessionOutput]) -> crate::attestation::factors::E2eeTest {
    use crate::attestation::factors::E2eeTest;
    let events = outputs.iter().filter(|o| matches!(o, SessionOutput::Body(_))).count();
    let status = outputs.iter().find_map(|o| match o {
        SessionOutput::Head(h) => Some(h.status),
        _ => None,
    });
    match outputs.last() {
        Some(SessionOutput::Failed(e)) => E2eeTest::Failed { error: format!("E2EE test failed: {e}") },
        Some(SessionOutput::End) if status == Some(200) && events > 0 => {
            E2eeTest::Succeeded { detail: format!("E2EE {provider}: {events} encrypted events decrypted and authenticated") }
        }
        _ => E2eeTest::Failed { error: format!("E2EE test: no authenticated answer (HTTP {status:?}, {events} events)") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_field_is_replaced_and_bodies_are_checked() {
        let body = with_model(br#"{"model":"neardirect:x","messages":[]}"#, "Qwen/Q").unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["model"], "Qwen/Q");
        assert!(matches!(with_model(b"[1]", "m"), Err(SessionError::BadBody(_))));
        assert!(matches!(with_model(b"{", "m"), Err(SessionError::BadBody(_))));
    }

    #[test]
    fn the_e2ee_test_passes_only_on_a_clean_authenticated_answer() {
        use crate::attestation::factors::E2eeTest;
        let head = |status| SessionOutput::Head(ResponseHead { minor_version: 1, status, reason: String::new(), headers: Vec::new() });
        let p = ProviderKind::Venice;
        let ok = [head(200), SessionOutput::Body(b"data: {}".to_vec()), SessionOutput::End];
        assert!(matches!(e2ee_test_outcome(p, &ok), E2eeTest::Succeeded { .. }));
        let error_status = [head(500), SessionOutput::Body(b"oops".to_vec()), SessionOutput::End];
        assert!(matches!(e2ee_test_outcome(p, &error_status), E2eeTest::Failed { .. }));
        let empty = [head(200), SessionOutput::End];
        assert!(matches!(e2ee_test_outcome(p, &empty), E2eeTest::Failed { .. }));
        let failed = [head(200), SessionOutput::Failed(SessionError::E2ee(e2ee::E2eeError::AuthFailed("tag".into())))];
        match e2ee_test_outcome(p, &failed) {
            E2eeTest::Failed { error } => assert!(error.contains("authentication failed"), "{error}"),
            other => panic!("{other:?}"),
        }
        // A failed test fails an enforced e2ee_usable and blocks the report.
        let verdict = crate::attestation::factors::e2ee_usable(&e2ee_test_outcome(p, &failed));
        let pending = crate::report::Verdict { deferred: true, ..crate::report::Verdict::skip("pending") };
        let report = Report::build("venice", "m", "00", "t", Default::default(), vec![(crate::report::Factor::E2eeUsable, pending)], &Default::default());
        assert!(!report.is_blocked());
        assert!(report.with_outcome(crate::report::Factor::E2eeUsable, verdict).is_blocked());
    }

    #[test]
    fn bases_split_into_host_and_path() {
        assert_eq!(split_base("https://nano-gpt.com/api").unwrap(), ("nano-gpt.com".into(), "/api".into()));
        assert_eq!(split_base("https://api.venice.ai").unwrap(), ("api.venice.ai".into(), String::new()));
        assert!(split_base("http://x").is_err());
    }
}
