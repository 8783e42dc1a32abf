//! The attestation machine: from (provider, model, nonce, config) to a verification report.
//!
//! It asks for HTTP exchanges ([`FetchRequest`]) and consumes their answers, in any order; it
//! does not know whether they come from live channels or from a recorded capture. It emits every
//! fetch whose inputs it already has at once (after the attestation answer: Intel PCS collateral,
//! NRAS, Proof of Cloud and Rekor together), and builds the report only when every answer is in,
//! from data keyed by what was asked, so the report never depends on the order of answers.
//!
//! ```text
//!   new ──► [model lookup] ──► attestation fetch(es) ──► parse ──► follow-ups ──► report
//!                                                          │           (PCS, NRAS, JWKS,
//!                                                          │            PoC 1→2, Rekor index→entries)
//!                                                          └──► parse error: Failed
//! ```

mod clearance;
mod drive;
mod followups;
mod gpu_verdicts;
mod live;
mod nras_poc_verdicts;
mod replay;
#[cfg(test)]
mod tests;
mod supply_chain_verdicts;
mod trust;
mod verdicts;

pub use clearance::{ChutesTarget, Clearance, EnclaveKey};
pub use drive::drive;
pub use live::{LiveOutput, LiveVerification};
pub use trust::TrustRoots;
pub use replay::{ReplayError, ReplayOutcome, replay_capture, replay_capture_with, replay_config};

use std::collections::{BTreeMap, VecDeque};

use crate::attestation::factors::{self, E2eeTest, FactorInputs, QuoteInput};
use crate::attestation::plan::PlannedRequest;
use crate::attestation::plan::provider as urls;
use crate::attestation::raw::{ParseError, RawAttestation};
use crate::attestation::policy::MeasurementPolicy;
use crate::attestation::tdx::Quote;
use crate::fetch::{FetchError, FetchId, FetchRequest, FetchResult};
use crate::io::UnixTime;
use crate::provider::{ProviderKind, parse};
use crate::report::{AllowFail, Metadata, Report};
use followups::{Followups, Purpose};

/// Largest attestation answer accepted from the transport (parsers apply each provider's own
/// tighter limit).
const MAX_ATTESTATION_BODY: u64 = 10 * 1024 * 1024;

/// How a verification runs. Its `Debug` output redacts the API key.
#[derive(Clone)]
pub struct VerifyConfig {
    /// Factors allowed to fail.
    pub allow_fail: AllowFail,
    /// The E2EE test outcome to report (live runs fill it after the test; replays from the
    /// capture).
    pub e2ee: E2eeTest,
    /// neardirect: the model node's host, when already known (replays take it from the capture).
    pub model_host: Option<String>,
    /// chutes: the chute UUID, when already known (replays take it from the capture).
    pub chute_id: Option<String>,
    /// chutes: the instance to select when its evidence qualifies (failover to an instance
    /// the nonce pool offered); `None`: the first usable one in evidence order.
    pub chutes_instance: Option<String>,
    /// Bearer token for the provider's attestation endpoint (never logged).
    pub api_key: Option<String>,
    /// Measurement allow-lists for the model quote.
    pub model_policy: MeasurementPolicy,
    /// Measurement allow-lists for the gateway quote (nearcloud).
    pub gateway_policy: MeasurementPolicy,
    /// The roots every verifier trusts: the pinned production set, unless a simulation
    /// (feature `sim`) injects its own.
    pub trust: TrustRoots,
}

impl std::fmt::Debug for VerifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyConfig")
            .field("allow_fail", &self.allow_fail)
            .field("e2ee", &self.e2ee)
            .field("model_host", &self.model_host)
            .field("chute_id", &self.chute_id)
            .field("chutes_instance", &self.chutes_instance)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl VerifyConfig {
    /// Provider defaults: default allow-fail list, no E2EE test, nothing resolved.
    pub fn defaults(provider: ProviderKind) -> Self {
        Self {
            allow_fail: AllowFail::provider_default(provider),
            e2ee: E2eeTest::NotConfigured,
            model_host: None,
            chute_id: None,
            chutes_instance: None,
            api_key: None,
            model_policy: MeasurementPolicy::default_for(provider, false),
            gateway_policy: MeasurementPolicy::default_for(provider, true),
            trust: TrustRoots::production(),
        }
    }
}

/// Why a verification produced no report at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The attestation could not be fetched.
    #[error("fetch attestation: {0}")]
    Fetch(FetchError),
    /// The attestation endpoint answered with an error status.
    #[error("attestation endpoint returned HTTP {status}: {snippet}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        snippet: String,
    },
    /// The attestation answer could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The model lookup does not know the model.
    #[error("unknown model {model:?} ({lookup}); known: {}", known_list(.known))]
    UnknownModel {
        /// The model asked for.
        model: String,
        /// Which lookup did not list it.
        lookup: &'static str,
        /// The models the lookup listed, sorted (at most [`MAX_LISTED_MODELS`]).
        known: Vec<String>,
    },
    /// The verification could not proceed (a driver or internal limit).
    #[error("{0}")]
    Unsupported(String),
}

/// The attestation machine. See the module documentation.
pub struct Verification {
    provider: ProviderKind,
    model: String,
    nonce_hex: String,
    config: VerifyConfig,
    verified_at: String,
    wall: UnixTime,
    next_id: u32,
    queue: VecDeque<FetchRequest>,
    pending: BTreeMap<FetchId, Purpose>,
    stage: Stage,
    result: Option<Result<Report, VerifyError>>,
    /// Fetches replay could not answer, with their purpose (filtered when the run ends: a
    /// fetch made moot by another answer does not count).
    unmatched: Vec<(Purpose, String)>,
    /// Fetches made moot by another answer (a Proof of Cloud 403 cancels the other stage-1
    /// requests, which the reference recorder therefore never saw).
    cancelled: std::collections::BTreeSet<Purpose>,
    clearance: Option<Clearance>,
    attestation_peer: Option<crate::tls::SpkiHash>,
    attested_host: Option<String>,
}

enum Stage {
    ResolvingNearHost,
    ResolvingChute,
    Attesting,
    ChutesInstances { chute_id: String },
    ChutesEvidence { chute_id: String, instances: Vec<u8> },
    Following { raw: Box<RawAttestation>, quotes: Box<Quotes>, followups: Followups },
    Done,
}

/// The parsed quotes of an attestation.
struct Quotes {
    model: Result<Option<Quote>, String>,
    gateway: Option<Result<Quote, String>>,
}

impl Verification {
    /// Starts a verification of `model` at `provider` with our `nonce`. `now.wall` is the time
    /// every validity decision is made at (replays pin it to the capture's time).
    pub fn new(provider: ProviderKind, model: &str, nonce: [u8; 32], config: VerifyConfig, wall: UnixTime) -> Self {
        let mut v = Self {
            provider,
            model: model.to_owned(),
            nonce_hex: hex::encode(nonce),
            config,
            verified_at: rfc3339(wall),
            wall,
            next_id: 0,
            queue: VecDeque::new(),
            pending: BTreeMap::new(),
            stage: Stage::Done,
            result: None,
            unmatched: Vec::new(),
            cancelled: std::collections::BTreeSet::new(),
            clearance: None,
            attestation_peer: None,
            attested_host: None,
        };
        v.start();
        v
    }

    /// The next fetch to make, or `None` until an answer arrives.
    pub fn poll_fetch(&mut self) -> Option<FetchRequest> {
        self.queue.pop_front()
    }

    /// The report (or the error that prevented one), once every answer is in.
    pub fn poll_report(&mut self) -> Option<Result<Report, VerifyError>> {
        self.result.take()
    }

    /// Permission to send prompts, once the verification ended with an unblocked report (taken
    /// once). A blocked report or an error never yields one.
    pub fn take_clearance(&mut self) -> Option<Clearance> {
        self.clearance.take()
    }

    /// True once the verification has ended (report or error taken or waiting).
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// Requests that replay could not answer (`METHOD URL`), for conformance checks. Requests
    /// made moot by another answer are not listed.
    pub fn unmatched(&self) -> Vec<String> {
        self.unmatched.iter().filter(|(p, _)| !self.cancelled.contains(p)).map(|(_, r)| r.clone()).collect()
    }

    fn push(&mut self, purpose: Purpose, mut request: PlannedRequest) {
        let id = FetchId(self.next_id);
        self.next_id += 1;
        let to_provider = matches!(
            purpose,
            Purpose::Attestation | Purpose::ChutesInstances | Purpose::ChutesEvidence | Purpose::ChutesModels
        );
        if let (true, Some(key)) = (to_provider, &self.config.api_key) {
            request.headers.push(("Authorization".to_owned(), format!("Bearer {key}")));
        }
        if matches!(purpose, Purpose::Attestation | Purpose::ChutesEvidence) {
            self.attested_host = url_host(&request.url);
        }
        self.pending.insert(id, purpose);
        self.queue.push_back(request.into_fetch_request(id));
    }

    fn provider_get(&mut self, purpose: Purpose, url: String) {
        self.push(purpose, PlannedRequest::get(url, MAX_ATTESTATION_BODY));
    }

    fn start(&mut self) {
        let nonce = self.nonce_hex.clone();
        let url = match self.provider {
            ProviderKind::Venice => urls::venice_attestation_url(urls::VENICE_BASE_URL, &self.model, &nonce),
            ProviderKind::NanoGpt => urls::nanogpt_attestation_url(urls::NANOGPT_BASE_URL, &self.model, &nonce),
            ProviderKind::PhalaCloud => {
                urls::phalacloud_attestation_url(urls::PHALACLOUD_BASE_URL, &self.model, &nonce)
            }
            ProviderKind::NearCloud => urls::nearcloud_attestation_url(&self.model, &nonce),
            ProviderKind::NearDirect => match self.config.model_host.clone() {
                Some(host) => urls::neardirect_attestation_url(&host, &nonce),
                None => {
                    self.stage = Stage::ResolvingNearHost;
                    return self.push(Purpose::NearEndpoints, urls::near_endpoints_request());
                }
            },
            ProviderKind::Chutes => {
                let known = self.config.chute_id.clone();
                match known.or_else(|| urls::chutes_looks_like_uuid(&self.model).then(|| self.model.clone())) {
                    Some(chute_id) => return self.request_instances(chute_id),
                    None => {
                        self.stage = Stage::ResolvingChute;
                        return self.push(Purpose::ChutesModels, urls::chutes_models_request());
                    }
                }
            }
        };
        self.stage = Stage::Attesting;
        self.provider_get(Purpose::Attestation, url);
    }

    fn request_instances(&mut self, chute_id: String) {
        let url = urls::chutes_instances_url(urls::CHUTES_BASE_URL, &chute_id);
        self.stage = Stage::ChutesInstances { chute_id };
        self.provider_get(Purpose::ChutesInstances, url);
    }

    fn on_near_endpoints(&mut self, body: &[u8]) {
        let host = parse::lookup::near_endpoints(body).map(|map| (map.get(&self.model).cloned(), known_models(&map)));
        match host {
            Err(e) => self.finish(Err(e.into())),
            Ok((None, known)) => self.finish(Err(VerifyError::UnknownModel {
                model: self.model.clone(),
                lookup: "not in NEAR endpoint discovery",
                known,
            })),
            Ok((Some(host), _)) => {
                let url = urls::neardirect_attestation_url(&host, &self.nonce_hex);
                self.stage = Stage::Attesting;
                self.provider_get(Purpose::Attestation, url);
            }
        }
    }

    fn on_chutes_models(&mut self, body: &[u8]) {
        match parse::lookup::chutes_models(body).map(|map| (map.get(&self.model).cloned(), known_models(&map))) {
            Err(e) => self.finish(Err(e.into())),
            Ok((None, known)) => self.finish(Err(VerifyError::UnknownModel {
                model: self.model.clone(),
                lookup: "not in the Chutes model list; pass a chute UUID or a listed model",
                known,
            })),
            Ok((Some(chute_id), _)) => self.request_instances(chute_id),
        }
    }

    /// Feeds the answer to fetch `id`. Answers may come in any order.
    pub fn handle_fetch(&mut self, id: FetchId, result: FetchResult) {
        let Some(purpose) = self.pending.remove(&id) else { return };
        if let Err(FetchError::NoReplayMatch { method, url }) = &result {
            self.unmatched.push((purpose.clone(), format!("{method} {url}")));
        }
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::ResolvingNearHost => match ok_body(result) {
                Ok(body) => self.on_near_endpoints(&body),
                Err(e) => self.finish(Err(e)),
            },
            Stage::ResolvingChute => match ok_body(result) {
                Ok(body) => self.on_chutes_models(&body),
                Err(e) => self.finish(Err(e)),
            },
            Stage::Attesting => match ok_body(self.note_peer(result)) {
                Ok(body) => self.on_attestation(None, &body),
                Err(e) => self.finish(Err(e)),
            },
            Stage::ChutesInstances { chute_id } => match ok_body(result) {
                Ok(instances) => {
                    let url = urls::chutes_evidence_url(urls::CHUTES_BASE_URL, &chute_id, &self.nonce_hex);
                    self.stage = Stage::ChutesEvidence { chute_id, instances };
                    self.provider_get(Purpose::ChutesEvidence, url);
                }
                Err(e) => self.finish(Err(e)),
            },
            Stage::ChutesEvidence { chute_id, instances } => match ok_body(result) {
                Ok(evidence) => self.on_attestation(Some((&chute_id, &instances)), &evidence),
                Err(e) => self.finish(Err(e)),
            },
            Stage::Following { raw, quotes, mut followups } => {
                let more = followups.record(purpose, result);
                for (purpose, request) in more {
                    self.push(purpose, request);
                }
                self.cancelled.extend(followups.cancelled.iter().cloned());
                self.stage = Stage::Following { raw, quotes, followups };
                self.maybe_finish();
            }
            Stage::Done => {}
        }
    }

    fn on_attestation(&mut self, chutes: Option<(&str, &[u8])>, body: &[u8]) {
        let parsed = match (self.provider, chutes) {
            (ProviderKind::Venice, _) => parse::parse_venice(body),
            (ProviderKind::NanoGpt, _) => parse::parse_nanogpt(body),
            (ProviderKind::PhalaCloud, _) => parse::parse_phalacloud(body),
            (ProviderKind::NearDirect, _) => parse::parse_near_model(body, &self.model),
            (ProviderKind::NearCloud, _) => parse::parse_nearcloud(body, &self.model),
            (ProviderKind::Chutes, Some((chute_id, instances))) => {
                let prefer = self.config.chutes_instance.as_deref();
                parse::parse_chutes_preferring(instances, body, &self.nonce_hex, chute_id, prefer)
            }
            (ProviderKind::Chutes, None) => unreachable!("chutes attests through instances and evidence"),
        };
        let raw = match parsed {
            Ok(raw) => raw,
            Err(e) => return self.finish(Err(e.into())),
        };
        let quotes = Quotes {
            model: if raw.intel_quote.is_empty() {
                Ok(None)
            } else {
                Quote::from_hex(&raw.intel_quote).map(Some).map_err(|e| e.to_string())
            },
            gateway: raw
                .gateway
                .as_ref()
                .filter(|g| !g.intel_quote.is_empty())
                .map(|g| Quote::from_hex(&g.intel_quote).map_err(|e| e.to_string())),
        };
        let mut followups = Followups::default();
        let first = followups.start(&raw, quotes.model.as_ref().ok().and_then(Option::as_ref), quotes.gateway.as_ref().and_then(|g| g.as_ref().ok()));
        for (purpose, request) in first {
            self.push(purpose, request);
        }
        self.stage = Stage::Following { raw: Box::new(raw), quotes: Box::new(quotes), followups };
        self.maybe_finish();
    }

    fn maybe_finish(&mut self) {
        if !self.pending.is_empty() {
            return;
        }
        let Stage::Following { raw, quotes, followups } = std::mem::replace(&mut self.stage, Stage::Done) else {
            return;
        };
        let report = self.build_report(&raw, &quotes, &followups);
        self.clearance = Clearance::grant(self.provider, &self.model, &report, &raw, self.attested_host.clone());
        self.finish(Ok(report));
    }

    fn build_report(&self, raw: &RawAttestation, quotes: &Quotes, followups: &Followups) -> Report {
        let model = quotes.model.as_ref().ok().and_then(Option::as_ref);
        let gateway = quotes.gateway.as_ref().and_then(|g| g.as_ref().ok());
        let mut nonce = [0u8; 32];
        // Our own nonce, rendered by us: it always decodes.
        let _ = hex::decode_to_slice(&self.nonce_hex, &mut nonce);
        let computed = verdicts::compute(&verdicts::VerdictInputs {
            provider: self.provider,
            raw,
            model,
            model_present: !raw.intel_quote.is_empty(),
            gateway,
            nonce,
            followups,
            trust: &self.config.trust,
            now_secs: self.wall.as_secs(),
            model_policy: &self.config.model_policy,
            gateway_policy: &self.config.gateway_policy,
        });
        let mut computed = computed;
        if let Some(verdict) = self.channel_binding_verdict(raw) {
            computed.insert(crate::report::Factor::TlsKeyBinding, verdict);
        }
        let quote = match &quotes.model {
            Ok(None) => QuoteInput::Absent,
            Ok(Some(q)) => QuoteInput::Parsed(q),
            Err(e) => QuoteInput::Invalid(e.clone()),
        };
        let gateway_quote = quotes.gateway.as_ref().map(|g| match g {
            Ok(q) => QuoteInput::Parsed(q),
            Err(e) => QuoteInput::Invalid(e.clone()),
        });
        let inputs = FactorInputs {
            provider: self.provider,
            nonce_hex: &self.nonce_hex,
            raw,
            quote,
            gateway_quote,
            e2ee: &self.config.e2ee,
            computed,
        };
        let verdicts = factors::evaluate(&inputs);
        let metadata = metadata(raw, quotes.model.as_ref().ok().and_then(Option::as_ref));
        Report::build(
            self.provider.name(),
            &self.model,
            &self.nonce_hex,
            &self.verified_at,
            metadata,
            verdicts,
            &self.config.allow_fail,
        )
    }

    /// Remembers which TLS key the attestation answer came over (live runs and our own
    /// recordings know it; the reference's recordings do not).
    fn note_peer(&mut self, result: FetchResult) -> FetchResult {
        self.attestation_peer = result.as_ref().ok().and_then(|r| r.peer_spki);
        result
    }

    /// For attest-then-pin providers, when the attestation's own connection is known: the TLS
    /// key bound in the quote must be the key that connection presented. `None` leaves the
    /// parsing verdict (fingerprint present and covered by REPORTDATA).
    fn channel_binding_verdict(&self, raw: &RawAttestation) -> Option<crate::report::Verdict> {
        use crate::provider::descriptor::ConnectionMode;
        use crate::report::Verdict;
        if self.provider.descriptor().connection != ConnectionMode::PinnedTls {
            return None;
        }
        let peer = self.attestation_peer?;
        let bound = match &raw.gateway {
            Some(g) if self.provider == ProviderKind::NearCloud => g.tls_fingerprint.as_str(),
            _ => raw.tls_fingerprint.as_str(),
        };
        Some(match crate::tls::SpkiHash::from_hex(bound) {
            None => Verdict::fail(format!("attested TLS fingerprint is not a SHA-256 hex value: {bound:?}")),
            Some(attested) if attested == peer => Verdict::pass(format!(
                "TLS certificate SPKI bound to attestation ({}), presented by the attestation connection",
                &bound[..16.min(bound.len())]
            )),
            Some(attested) => Verdict::fail(format!(
                "the attestation connection presented TLS key {} but the quote binds {}",
                peer.to_hex(),
                attested.to_hex()
            )),
        })
    }

    fn finish(&mut self, result: Result<Report, VerifyError>) {
        self.stage = Stage::Done;
        self.queue.clear();
        self.result = Some(result);
    }
}

fn ok_body(result: FetchResult) -> Result<Vec<u8>, VerifyError> {
    let response = result.map_err(VerifyError::Fetch)?;
    if response.status != 200 {
        let snippet: String = String::from_utf8_lossy(&response.body).chars().take(512).collect();
        return Err(VerifyError::Status { status: response.status, snippet });
    }
    Ok(response.body)
}

/// The host of an `https://host[:port]/…` URL.
fn url_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    (!host.is_empty()).then(|| host.to_owned())
}

/// Most model names an unknown-model error lists.
pub const MAX_LISTED_MODELS: usize = 40;

fn known_list(known: &[String]) -> String {
    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
}

/// The (already sorted) names of a lookup, bounded.
fn known_models<V>(map: &BTreeMap<String, V>) -> Vec<String> {
    map.keys().take(MAX_LISTED_MODELS).cloned().collect()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn metadata(raw: &RawAttestation, quote: Option<&Quote>) -> Metadata {
    let mut m = Metadata {
        hardware: non_empty(&raw.tee_hardware),
        upstream: non_empty(&raw.upstream_model),
        app: non_empty(&raw.app_name),
        compose_hash: non_empty(&raw.compose_hash),
        os_image: non_empty(&raw.os_image_hash),
        device: non_empty(&raw.device_id),
        ppid: None,
        nonce_source: non_empty(&raw.nonce_source),
        candidates: raw.candidates,
        event_log: raw.event_log_count,
        hidden: BTreeMap::new(),
    };
    if let Some(q) = quote {
        m.ppid = q.pck_leaf().ok().map(|pck| pck.ppid_hex());
        m.hidden.insert("mrtd".into(), q.mr_td_hex());
    }
    m
}

/// RFC 3339 UTC rendering of a wall time (seconds).
pub(crate) fn rfc3339(wall: UnixTime) -> String {
    let secs = i64::try_from(wall.as_secs()).unwrap_or(i64::MAX);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("@{secs}"))
}
