//! The multi-request client: many prompts, to many (provider, model) pairs, over one sans-IO
//! machine that shares the attestation caches between them.
//!
//! ```text
//!  submit ──► negative cache? ──► refused (attestation failed recently)
//!     │
//!     ├── cached clearance (≤ 1 h) ──► prompt session with it ────────────────► answer
//!     │      chutes: nonce from the pool ─[instance not attested]─► attest it ─┘
//!     │
//!     └── none ──► single flight: the first request attests and sends;
//!                  the others wait for its clearance, then send with it
//! ```
//!
//! What it guarantees, beyond each [`PromptSession`]'s own guarantees (nothing is sent before
//! a clearance, pins are checked on every connection, no plaintext fallback):
//! * **one attestation per (provider, model)** however many requests arrive together; later
//!   requests reuse it for [`crate::state::ATTESTATION_CACHE_TTL`], after which the next one
//!   attests again;
//! * **attest-then-pin** (neardirect, nearcloud): every connection of every request must
//!   present the attested TLS key; a connection that presents another one fails before a byte
//!   is written and drops the pair's report, key and pin, so the next request re-attests;
//! * **Chutes**: every prompt takes its nonce from the [`crate::state::NoncePool`], the single
//!   source of nonces (an attestation's own listing is used for verification only), so no
//!   nonce is ever sent twice; a prompt goes only to an instance whose quote this client
//!   verified, with the key that quote bound (an instance the pool offers first is attested
//!   first); a transport error or a 500/502/503/504 marks the instance failed and the prompt
//!   is retried on another one (at most [`MAX_CHUTES_ATTEMPTS`] attempts, and only before any
//!   answer byte reached the caller);
//! * **a failed decryption** applies the "three caches" rule
//!   ([`SessionState::on_decryption_failure`]): nothing cached lets the pair be used again
//!   without a fresh attestation;
//! * **a failed attestation** blocks the pair for the negative cache's back-off; its waiters
//!   fail with the same typed error.
//!
//! The runtimes drive it like any [`Machine`]; [`Client::submit`] is an application call
//! (drain afterwards).

mod chutes;
mod mux;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};

use crate::attestation::factors::E2eeTest;
use crate::fetch::client::{FetchClient, FetchClientConfig, Fetched};
use crate::http::ResponseHead;
use crate::io::{Event, Instant, Io, Machine, Now};
use crate::provider::ProviderKind;
use crate::provider::descriptor::ConnectionMode;
use crate::report::Report;
use crate::session::{Prompt, PromptSession, SessionError, SessionOutput};
use crate::state::{
    ATTESTATION_CACHE_TTL, CacheKey, ChuteId, E2eeGate, FailedVia, Lead, RefillError, RefillTicket, SessionState,
    SigningKey, WaiterId,
};
use crate::verify::{Clearance, LiveOutput, LiveVerification, VerifyConfig};
use mux::{Mux, TaskId};

/// Attempts one Chutes prompt may take (each on an instance not marked failed before it).
pub const MAX_CHUTES_ATTEMPTS: u32 = 3;

/// Attestations one request may lead or wait for (a first one, then one per failover target
/// at most): a fleet that keeps offering unverifiable instances cannot hold a request forever.
pub const MAX_ATTESTATIONS_PER_REQUEST: u32 = MAX_CHUTES_ATTEMPTS + 1;

/// Identifies one submitted request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(u64);

/// How the client verifies and connects.
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    /// Trust and routing for every fetch and prompt channel.
    pub fetch: FetchClientConfig,
    /// Verification settings per provider (policies, allowed failures, trust roots, API key
    /// for the attestation endpoints); a provider absent here gets its defaults. The E2EE
    /// test setting is the client's: the prompts themselves are the live test.
    pub verify: BTreeMap<ProviderKind, VerifyConfig>,
    /// Verify at this wall time instead of the driver's clock. Only for simulations, whose
    /// tokens and certificates are stamped at a fixed time; leave `None` otherwise.
    pub pinned_wall_time: Option<crate::io::UnixTime>,
}

/// Why a request was not answered.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The prompt session failed: attestation, blocked report, channel, E2EE.
    #[error(transparent)]
    Session(SessionError),
    /// An attestation for this pair failed recently; nothing is attempted until the back-off
    /// ends.
    #[error("attestation for {provider}:{model} failed recently; retry in {retry_after:?}")]
    RecentlyFailed {
        /// The provider.
        provider: ProviderKind,
        /// The model.
        model: String,
        /// Time left in the back-off.
        retry_after: Duration,
    },
    /// A decryption failed earlier and only a cached attestation was at hand.
    #[error("E2EE previously failed; re-attestation required")]
    E2eePreviouslyFailed,
    /// Too many attestations or waiters at once.
    #[error("too many concurrent attestations; request refused")]
    Busy,
    /// The Chutes nonce pool could not be refilled.
    #[error(transparent)]
    NoncePool(RefillError),
    /// The caller cancelled the request.
    #[error("request cancelled")]
    Cancelled,
    /// The request needed more attestations than [`MAX_ATTESTATIONS_PER_REQUEST`].
    #[error("no attestable instance after {MAX_ATTESTATIONS_PER_REQUEST} attestations")]
    TooManyAttestations,
    /// The model name is unusable as a cache key (too long).
    #[error("model name: {0}")]
    BadModel(String),
}

/// What happened to one request.
#[derive(Clone, Debug)]
pub enum ClientEvent {
    /// A fresh attestation for this request passed (the report is cached and shared).
    Attested(Box<Report>),
    /// The request may go out, under this clearance (what it is bound to: enclave key, TLS
    /// pin, Chutes instance), from a `fresh` attestation or a cached one.
    Cleared {
        /// Whether this request's own attestation cleared it.
        fresh: bool,
        /// The permission the prompt is sent under.
        clearance: Box<Clearance>,
    },
    /// The answer's status and headers.
    Head(ResponseHead),
    /// A piece of the answer, decrypted and authenticated where E2EE applies.
    Body(Vec<u8>),
    /// The answer is complete.
    End,
    /// The request ended without a complete answer; its last event.
    Failed(ClientError),
}

/// One event of one request.
#[derive(Clone, Debug)]
pub struct ClientOutput {
    /// The request.
    pub request: RequestId,
    /// What happened.
    pub event: ClientEvent,
}

/// Counters, for tests, logs and dashboards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Attestations started.
    pub attestations: u64,
    /// Prompt sessions started (attempts included).
    pub prompt_attempts: u64,
    /// Nonce-pool refills started.
    pub refills: u64,
    /// Chutes attempts retried on another instance.
    pub failovers: u64,
}

enum Task {
    Prompt(Box<PromptSession<ChaCha20Rng>>),
    /// A Chutes attestation (its prompts then take nonces from the pool).
    Verify(Box<LiveVerification>),
    Refill(Box<FetchClient>),
}

enum TaskOutput {
    Prompt(SessionOutput),
    Verify(Box<LiveOutput>),
    Refill(Box<Fetched>),
}

impl Task {
    /// Starts the machine's first I/O (a refill's fetch is queued before it is added).
    fn start(&mut self, now: Now) {
        match self {
            Task::Prompt(s) => s.start(now),
            Task::Verify(v) => v.start(now),
            Task::Refill(_) => {}
        }
    }
}

impl Machine for Task {
    type Output = TaskOutput;

    fn handle(&mut self, event: Event<'_>, now: Now) {
        match self {
            Task::Prompt(s) => s.handle(event, now),
            Task::Verify(v) => v.handle(event, now),
            Task::Refill(f) => f.handle(event, now),
        }
    }

    fn poll_io(&mut self) -> Option<Io> {
        match self {
            Task::Prompt(s) => s.poll_io(),
            Task::Verify(v) => v.poll_io(),
            Task::Refill(f) => f.poll_io(),
        }
    }

    fn poll_output(&mut self) -> Option<TaskOutput> {
        match self {
            Task::Prompt(s) => s.poll_output().map(TaskOutput::Prompt),
            Task::Verify(v) => v.poll_output().map(|o| TaskOutput::Verify(Box::new(o))),
            Task::Refill(f) => f.poll_output().map(|o| TaskOutput::Refill(Box::new(o))),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Task::Prompt(s) => s.is_done(),
            Task::Verify(v) => v.is_done(),
            Task::Refill(f) => f.is_done(),
        }
    }
}

/// A request in progress.
struct Pending {
    key: CacheKey,
    provider: ProviderKind,
    model: String,
    prompt: Prompt,
    attempts: u32,
    /// Attestations this request led or waited for.
    attestations: u32,
    forwarded: bool,
    /// This request's own attestation cleared it (Chutes: before its nonce was taken).
    attested_fresh: bool,
    stage: Stage,
}

enum Stage {
    /// Not yet dispatched, or between attempts.
    Idle,
    /// Waiting for another request's attestation (the flight and the waiter ticket).
    AwaitingAttestation(CacheKey, WaiterId),
    /// Waiting for the chute's nonce pool to be refilled.
    AwaitingRefill(ChuteId),
    /// Leading a Chutes attestation (verification only).
    Verifying(TaskId, Lead<CacheKey>),
    /// A prompt session is running.
    Running(Box<Running>),
}

struct Running {
    task: TaskId,
    /// The single-flight ticket, while this request's own attestation runs.
    lead: Option<Lead<CacheKey>>,
    /// The clearance the session was started with (cached path), or got (fresh path).
    clearance: Option<Clearance>,
    status: Option<u16>,
    /// Chutes: the answer's status, held until its first byte (see `on_head`).
    held: Option<ResponseHead>,
}

/// A cached clearance: spent (no Chutes nonce), valid until `expires_at`.
struct Cached {
    clearance: Clearance,
    expires_at: Instant,
}

/// The multi-request client. See the module documentation.
pub struct Client<R> {
    config: ClientConfig,
    rng: R,
    state: SessionState,
    /// Per pair, per attested instance ("" when the provider has none).
    clearances: BTreeMap<CacheKey, BTreeMap<String, Cached>>,
    requests: BTreeMap<RequestId, Pending>,
    waiters: BTreeMap<WaiterId, RequestId>,
    prompt_tasks: BTreeMap<TaskId, RequestId>,
    verify_tasks: BTreeMap<TaskId, RequestId>,
    refill_tasks: BTreeMap<TaskId, (RefillTicket, ChuteId)>,
    /// Requests whose flight was abandoned, to dispatch again.
    requeued: Vec<RequestId>,
    tasks: Mux<Task>,
    next_request: u64,
    next_task: TaskId,
    stats: ClientStats,
    out: VecDeque<ClientOutput>,
}

impl<R> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("requests", &self.requests.len())
            .field("tasks", &self.tasks.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> Client<R> {
    /// A client with empty caches. `rng` seeds every nonce and ephemeral key it makes.
    pub fn new(config: ClientConfig, rng: R) -> Self {
        Self {
            config,
            rng,
            state: SessionState::default(),
            clearances: BTreeMap::new(),
            requests: BTreeMap::new(),
            waiters: BTreeMap::new(),
            prompt_tasks: BTreeMap::new(),
            verify_tasks: BTreeMap::new(),
            refill_tasks: BTreeMap::new(),
            requeued: Vec::new(),
            tasks: Mux::new(),
            next_request: 0,
            next_task: 0,
            stats: ClientStats::default(),
            out: VecDeque::new(),
        }
    }

    /// Submits `prompt` for `model` (the provider's own model id) at `provider`. Its events
    /// come out of `poll_output` tagged with the returned id; the last is `End` or `Failed`.
    pub fn submit(&mut self, provider: ProviderKind, model: &str, prompt: Prompt, now: Now) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let key = match CacheKey::new(provider.name(), model) {
            Ok(key) => key,
            Err(e) => {
                self.emit(id, ClientEvent::Failed(ClientError::BadModel(e.to_string())));
                return id;
            }
        };
        let pending = Pending {
            key,
            provider,
            model: model.to_owned(),
            prompt,
            attempts: 0,
            attestations: 0,
            forwarded: false,
            attested_fresh: false,
            stage: Stage::Idle,
        };
        self.requests.insert(id, pending);
        self.dispatch(id, now);
        id
    }

    /// Abandons request `id` (its caller went away): its session ends and its connections
    /// close; its last event is `Failed(Cancelled)`. An attestation it was leading is
    /// abandoned, and one of its waiters leads a new one.
    pub fn cancel(&mut self, id: RequestId, now: Now) {
        if self.requests.contains_key(&id) {
            self.finish(id, ClientEvent::Failed(ClientError::Cancelled));
            self.dispatch_requeued(now);
        }
    }

    /// The shared caches (read-only), for inspection.
    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// Counters so far.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Requests not yet finished.
    pub fn in_flight(&self) -> usize {
        self.requests.len()
    }
}

// Dispatch: from a request to a running prompt session.
impl<R: CryptoRng> Client<R> {
    fn dispatch(&mut self, id: RequestId, now: Now) {
        let Some(p) = self.requests.get(&id) else { return };
        let (key, provider) = (p.key.clone(), p.provider);
        if let Some(blocked) = self.state.negative.check(&key, now.mono) {
            let error = ClientError::RecentlyFailed {
                provider,
                model: key.model().to_owned(),
                retry_after: blocked.remaining(now.mono),
            };
            return self.finish(id, ClientEvent::Failed(error));
        }
        if provider == ProviderKind::Chutes {
            return self.dispatch_chutes(id, key, now);
        }
        match self.cached(&key, "", now) {
            Some(clearance) => {
                if provider.descriptor().e2ee_default && self.state.e2ee_gate(&key, false) == E2eeGate::Refuse {
                    self.drop_pair(&key);
                    return self.finish(id, ClientEvent::Failed(ClientError::E2eePreviouslyFailed));
                }
                self.start_cached(id, clearance, now);
            }
            None => self.attest(id, key, None, now),
        }
    }

    /// A live cached clearance for (pair, instance): only while the pair's report is cached.
    fn cached(&self, key: &CacheKey, instance: &str, now: Now) -> Option<Clearance> {
        self.state.reports.get(key, now.mono)?;
        let cached = self.clearances.get(key)?.get(instance)?;
        (now.mono < cached.expires_at).then(|| cached.clearance.clone())
    }

    /// Joins or leads the attestation flight for `flight` (the pair, or the pair and one
    /// Chutes instance).
    fn attest(&mut self, id: RequestId, flight: CacheKey, prefer: Option<String>, now: Now) {
        let attested = self.requests.get_mut(&id).map(|p| {
            p.attestations += 1;
            p.attestations
        });
        if attested.is_some_and(|n| n > MAX_ATTESTATIONS_PER_REQUEST) {
            return self.finish(id, ClientEvent::Failed(ClientError::TooManyAttestations));
        }
        match self.state.attestations.join(flight.clone(), now.mono) {
            crate::state::Join::Lead(lead) => self.start_attested(id, lead, prefer, now),
            crate::state::Join::Wait(waiter) => {
                self.waiters.insert(waiter, id);
                if let Some(p) = self.requests.get_mut(&id) {
                    p.stage = Stage::AwaitingAttestation(flight, waiter);
                }
            }
            crate::state::Join::Busy => self.finish(id, ClientEvent::Failed(ClientError::Busy)),
        }
    }

    /// The chute a Chutes pair was attested on, if any clearance of it is cached.
    fn chute_of(&self, key: &CacheKey) -> Option<ChuteId> {
        let clearances = self.clearances.get(key)?;
        let chute = clearances.values().find_map(|c| c.clearance.chutes_target().map(|t| t.chute_id.clone()))?;
        ChuteId::new(&chute).ok()
    }

    /// The provider's verification settings for one attestation. Without an API key of its
    /// own, the attestation endpoints get the request's.
    fn verify_config(&self, provider: ProviderKind, key: &CacheKey, prompt: &Prompt, prefer: Option<String>) -> VerifyConfig {
        let mut config = self.config.verify.get(&provider).cloned().unwrap_or_else(|| VerifyConfig::defaults(provider));
        if config.api_key.is_none() {
            config.api_key.clone_from(&prompt.api_key);
        }
        config.e2ee =
            if provider.descriptor().e2ee_default { E2eeTest::PendingLiveTest } else { E2eeTest::NotConfigured };
        if provider == ProviderKind::Chutes {
            config.chute_id = self.chute_of(key).map(|c| c.as_str().to_owned());
            config.chutes_instance = prefer;
        }
        config
    }

    fn start_attested(&mut self, id: RequestId, lead: Lead<CacheKey>, prefer: Option<String>, now: Now) {
        let Some(p) = self.requests.get(&id) else {
            let released = self.state.attestations.abandon::<()>(lead);
            return self.requeue_after_abandon(released.waiters);
        };
        let (provider, prompt) = (p.provider, p.prompt.clone());
        let config = self.verify_config(provider, &p.key, &prompt, prefer);
        let mut nonce = [0u8; 32];
        self.rng.fill_bytes(&mut nonce);
        let wall = self.config.pinned_wall_time.unwrap_or(now.wall);
        let verification = LiveVerification::new(provider, &p.model, nonce, config, wall, self.config.fetch.clone());
        self.stats.attestations += 1;
        if provider == ProviderKind::Chutes {
            return self.run_verification(id, verification, lead, now);
        }
        let e2ee = provider.descriptor().e2ee_default;
        let session =
            PromptSession::attest_then_send(verification, prompt, e2ee, self.config.fetch.clone(), self.child_rng());
        self.run_session(id, session, Some(lead), None, now);
    }

    /// Chutes: the attestation runs alone; once it clears, the request takes a nonce from the
    /// pool like every other, so the pool is the single source of nonces and none is used twice.
    fn run_verification(&mut self, id: RequestId, verification: LiveVerification, lead: Lead<CacheKey>, now: Now) {
        let task = self.task_id();
        if let Some(p) = self.requests.get_mut(&id) {
            p.stage = Stage::Verifying(task, lead);
        }
        self.verify_tasks.insert(task, id);
        self.start_task(task, Task::Verify(Box::new(verification)), now);
    }

    fn task_id(&mut self) -> TaskId {
        let task = self.next_task;
        self.next_task += 1;
        task
    }

    /// Adds a task (already registered in its map), starts it and handles what it output.
    fn start_task(&mut self, task: TaskId, machine: Task, now: Now) {
        let outputs = self.tasks.insert(task, machine, |t| t.start(now));
        for output in outputs {
            self.on_task_output(task, output, now);
        }
        self.reap(task);
    }

    fn start_cached(&mut self, id: RequestId, clearance: Clearance, now: Now) {
        let Some(p) = self.requests.get(&id) else { return };
        let e2ee = p.provider.descriptor().e2ee_default;
        let session = PromptSession::with_clearance(
            clearance.clone(),
            p.prompt.clone(),
            e2ee,
            self.config.fetch.clone(),
            self.child_rng(),
        );
        self.run_session(id, session, None, Some(clearance), now);
    }

    fn run_session(
        &mut self,
        id: RequestId,
        session: PromptSession<ChaCha20Rng>,
        lead: Option<Lead<CacheKey>>,
        clearance: Option<Clearance>,
        now: Now,
    ) {
        let task = self.task_id();
        self.stats.prompt_attempts += 1;
        if let Some(p) = self.requests.get_mut(&id) {
            p.attempts += 1;
            p.stage = Stage::Running(Box::new(Running { task, lead, clearance, status: None, held: None }));
        }
        self.prompt_tasks.insert(task, id);
        self.start_task(task, Task::Prompt(Box::new(session)), now);
    }

    fn child_rng(&mut self) -> ChaCha20Rng {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        ChaCha20Rng::from_seed(seed)
    }
}

// Outputs of the prompt sessions.
impl<R: CryptoRng> Client<R> {
    fn on_task_output(&mut self, task: TaskId, output: TaskOutput, now: Now) {
        match output {
            TaskOutput::Prompt(out) => {
                if let Some(&id) = self.prompt_tasks.get(&task) {
                    self.on_session_output(id, task, out, now);
                }
            }
            TaskOutput::Verify(out) => self.on_verification_output(task, *out, now),
            TaskOutput::Refill(fetched) => self.on_refill(task, *fetched, now),
        }
    }

    /// A Chutes attestation finished: cache it and send the request (and its waiters) through
    /// the pool, or fail them all.
    fn on_verification_output(&mut self, task: TaskId, out: LiveOutput, now: Now) {
        let LiveOutput::Finished(result) = out else { return };
        let Some(id) = self.verify_tasks.remove(&task) else { return };
        let clearance = self.tasks.child(task).and_then(|t| match t {
            Task::Verify(v) => v.clearance().cloned(),
            _ => None,
        });
        self.tasks.remove(task);
        let Some(p) = self.requests.get_mut(&id) else { return };
        let Stage::Verifying(_, lead) = std::mem::replace(&mut p.stage, Stage::Idle) else { return };
        let key = p.key.clone();
        match (result, clearance) {
            (Ok(report), Some(clearance)) => {
                p.attested_fresh = true;
                if let Some(wanted) = lead.key().instance()
                    && clearance.instance() != Some(wanted)
                    && let Some(chute) = clearance.chutes_target().and_then(|t| ChuteId::new(&t.chute_id).ok())
                {
                    // The instance the pool offered has no usable evidence: stop offering it.
                    self.state.nonce_pool.mark_failed(&chute, wanted);
                }
                self.remember(&key, &clearance, now);
                self.emit(id, ClientEvent::Attested(Box::new(report)));
                let released = self.state.attestations.complete(lead, ());
                self.dispatch(id, now);
                self.release(released.waiters, now);
            }
            (Ok(report), None) => self.fail_flight(id, lead, SessionError::Blocked(Box::new(report)), now),
            (Err(e), _) => self.fail_flight(id, lead, SessionError::Verify(e), now),
        }
    }

    /// Dispatches the waiters a completed flight released.
    fn release(&mut self, waiters: Vec<WaiterId>, now: Now) {
        for waiter in waiters {
            if let Some(w) = self.waiters.remove(&waiter) {
                self.dispatch(w, now);
            }
        }
    }

    /// An attestation failed: for the pair, block it for the back-off; for one Chutes instance
    /// (a failover target), the pool stops offering that instance. The leader and every waiter
    /// fail with the same error.
    fn fail_flight(&mut self, id: RequestId, lead: Lead<CacheKey>, error: SessionError, now: Now) {
        let Some(key) = self.requests.get(&id).map(|p| p.key.clone()) else {
            let released = self.state.attestations.abandon::<()>(lead);
            return self.requeue_after_abandon(released.waiters);
        };
        match lead.key().instance() {
            None => {
                self.state.negative.record(key.clone(), now.mono);
            }
            Some(instance) => {
                if let Some(chute) = self.chute_of(&key) {
                    self.state.nonce_pool.mark_failed(&chute, instance);
                }
            }
        }
        let released = self.state.attestations.complete(lead, ());
        for waiter in released.waiters {
            if let Some(w) = self.waiters.remove(&waiter) {
                self.finish(w, ClientEvent::Failed(ClientError::Session(error.clone())));
            }
        }
        self.finish(id, ClientEvent::Failed(ClientError::Session(error)));
    }

    fn on_session_output(&mut self, id: RequestId, task: TaskId, out: SessionOutput, now: Now) {
        match out {
            SessionOutput::Progress { .. } => {}
            SessionOutput::Cleared(clearance) => self.on_cleared(id, *clearance, now),
            SessionOutput::Head(head) => self.on_head(id, task, head, now),
            SessionOutput::Body(bytes) => {
                self.release_held_head(id);
                if let Some(p) = self.requests.get_mut(&id) {
                    p.forwarded = true;
                }
                self.emit(id, ClientEvent::Body(bytes));
            }
            SessionOutput::End => self.on_end(id, now),
            SessionOutput::Failed(error) => self.on_failed(id, task, error, now),
        }
    }

    /// A clearance: cache what a fresh attestation proved, release the waiters.
    fn on_cleared(&mut self, id: RequestId, clearance: Clearance, now: Now) {
        let Some(p) = self.requests.get_mut(&id) else { return };
        let Stage::Running(running) = &mut p.stage else { return };
        let lead = running.lead.take();
        running.clearance = Some(clearance.clone());
        let key = p.key.clone();
        let fresh = lead.is_some() || p.attested_fresh;
        let cleared = ClientEvent::Cleared { fresh, clearance: Box::new(clearance.clone().spent()) };
        match lead {
            Some(lead) => {
                self.remember(&key, &clearance, now);
                let released = self.state.attestations.complete(lead, ());
                self.emit(id, ClientEvent::Attested(Box::new(clearance.report().clone())));
                self.emit(id, cleared);
                self.release(released.waiters, now);
            }
            None => self.emit(id, cleared),
        }
    }

    /// Stores a fresh attestation: report, signing key, pin, clearance (spent: a Chutes
    /// clearance sends only with a pool nonce); clears the pair's negative and E2EE-failed marks.
    fn remember(&mut self, key: &CacheKey, clearance: &Clearance, now: Now) {
        let report = clearance.report().clone();
        if let Some(k) = clearance.enclave_key().and_then(|k| SigningKey::new(&k.encoded).ok()) {
            self.state.signing_keys.put(key.clone(), k, now.mono);
        }
        if let (Some(spki), Some(host)) = (clearance.tls_spki(), clearance.attested_host()) {
            let _ = self.state.pins.pin(host, spki, &report, now.mono);
        }
        self.state.reports.put(key.clone(), report, now.mono);
        self.state.negative.clear(key);
        let _ = self.state.e2ee_gate(key, true);
        let instance = clearance.instance().unwrap_or("").to_owned();
        let cached = Cached { clearance: clearance.clone().spent(), expires_at: now.mono + ATTESTATION_CACHE_TTL };
        if !self.clearances.contains_key(key) && self.clearances.len() >= crate::state::MAX_CACHE_ENTRIES {
            // Bounded like the report cache: forget pairs whose report is gone.
            let reports = &self.state.reports;
            self.clearances.retain(|k, _| reports.get(k, now.mono).is_some());
        }
        let instances = self.clearances.entry(key.clone()).or_default();
        instances.retain(|_, c| now.mono < c.expires_at);
        if instances.len() < crate::state::MAX_INSTANCES || instances.contains_key(&instance) {
            instances.insert(instance, cached);
        }
    }

    fn on_head(&mut self, id: RequestId, task: TaskId, head: ResponseHead, now: Now) {
        let Some(p) = self.requests.get_mut(&id) else { return };
        if let Stage::Running(running) = &mut p.stage {
            running.status = Some(head.status);
        }
        let retryable = matches!(head.status, 500 | 502 | 503 | 504);
        if p.provider == ProviderKind::Chutes && retryable && self.chutes_fail_over(id, task, now) {
            return;
        }
        match self.requests.get_mut(&id).map(|p| (p.provider, &mut p.stage)) {
            // Chutes: the status goes out with the first byte of the answer (or its end), so a
            // stream that fails before any byte can still be retried on another instance.
            Some((ProviderKind::Chutes, Stage::Running(running))) => running.held = Some(head),
            _ => self.forward_head(id, head),
        }
    }

    /// Hands the answer's status to the caller: from here no other attempt may answer.
    fn forward_head(&mut self, id: RequestId, head: ResponseHead) {
        if let Some(p) = self.requests.get_mut(&id) {
            p.forwarded = true;
        }
        self.emit(id, ClientEvent::Head(head));
    }

    /// The status held back for a Chutes answer, if any, goes out now.
    fn release_held_head(&mut self, id: RequestId) {
        let held = match self.requests.get_mut(&id).map(|p| &mut p.stage) {
            Some(Stage::Running(running)) => running.held.take(),
            _ => None,
        };
        if let Some(head) = held {
            self.forward_head(id, head);
        }
    }

    fn on_end(&mut self, id: RequestId, now: Now) {
        self.release_held_head(id);
        let Some(p) = self.requests.get(&id) else { return };
        let Stage::Running(running) = &p.stage else { return };
        if running.status == Some(200) && p.provider.descriptor().e2ee_default {
            let pinned = p.provider.descriptor().connection == ConnectionMode::PinnedTls;
            let key = p.key.clone();
            let _ = self.state.on_e2ee_success(&key, pinned, now.mono);
        }
        self.finish(id, ClientEvent::End);
    }

    fn on_failed(&mut self, id: RequestId, task: TaskId, error: SessionError, now: Now) {
        let Some(p) = self.requests.get_mut(&id) else { return };
        let key = p.key.clone();
        let provider = p.provider;
        let lead = match &mut p.stage {
            Stage::Running(running) => running.lead.take(),
            _ => None,
        };
        if let Some(lead) = lead {
            return self.fail_flight(id, lead, error, now);
        }
        match &error {
            SessionError::Channel(_) if provider == ProviderKind::Chutes && self.chutes_fail_over(id, task, now) => {
                return;
            }
            SessionError::Channel(crate::exchange::ExchangeError::PinMismatch(_)) => {
                // The host no longer presents the attested key: nothing cached may be trusted.
                self.drop_pair(&key);
            }
            SessionError::E2ee(_) => {
                if provider == ProviderKind::Chutes && self.chutes_fail_over(id, task, now) {
                    return;
                }
                self.on_decryption_failure(id, &key, now);
            }
            _ => {}
        }
        self.finish(id, ClientEvent::Failed(ClientError::Session(error)));
    }

    /// The "three caches" rule for the request's pair, plus this client's clearances.
    fn on_decryption_failure(&mut self, id: RequestId, key: &CacheKey, now: Now) {
        let clearance = match self.requests.get(&id).map(|p| &p.stage) {
            Some(Stage::Running(r)) => r.clearance.clone(),
            _ => None,
        };
        let chute = clearance.as_ref().and_then(|c| c.chutes_target()).and_then(|t| ChuteId::new(&t.chute_id).ok());
        let host = clearance.as_ref().and_then(|c| c.attested_host()).map(str::to_owned);
        let via = match (&chute, &host) {
            (Some(chute), _) => FailedVia::Chutes(chute),
            (None, Some(host)) if clearance.as_ref().is_some_and(|c| c.tls_spki().is_some()) => FailedVia::Pinned(host),
            _ => FailedVia::Other,
        };
        let request_id = format!("{}", id.0);
        let _ = self.state.on_decryption_failure(key, via, &request_id, now.mono);
        self.clearances.remove(key);
    }

    /// Forgets everything cached for the pair (report, key, pin, clearances).
    fn drop_pair(&mut self, key: &CacheKey) {
        if let Some(instances) = self.clearances.remove(key) {
            for cached in instances.values() {
                if let Some(host) = cached.clearance.attested_host() {
                    self.state.pins.delete_domain(host);
                }
            }
        }
        self.state.reports.remove(key);
        self.state.signing_keys.remove(key);
    }

    /// Emits the request's last event and forgets it (its task is reaped by the caller).
    fn finish(&mut self, id: RequestId, event: ClientEvent) {
        let (task, lead) = match self.requests.remove(&id).map(|p| p.stage) {
            Some(Stage::Running(running)) => (Some(running.task), running.lead),
            Some(Stage::Verifying(task, lead)) => (Some(task), Some(lead)),
            Some(Stage::AwaitingAttestation(flight, waiter)) => {
                self.state.attestations.leave(&flight, waiter);
                self.waiters.remove(&waiter);
                (None, None)
            }
            _ => (None, None),
        };
        if let Some(lead) = lead {
            let released = self.state.attestations.abandon::<()>(lead);
            self.requeue_after_abandon(released.waiters);
        }
        if let Some(task) = task {
            self.prompt_tasks.remove(&task);
            self.verify_tasks.remove(&task);
            self.tasks.remove(task);
        }
        self.emit(id, event);
    }

    /// Waiters of an abandoned flight are dispatched again at the next input (one of them
    /// leads a new flight).
    fn requeue_after_abandon(&mut self, waiters: Vec<WaiterId>) {
        for waiter in waiters {
            if let Some(id) = self.waiters.remove(&waiter) {
                if let Some(p) = self.requests.get_mut(&id) {
                    p.stage = Stage::Idle;
                }
                self.requeued.push(id);
            }
        }
    }

    fn emit(&mut self, request: RequestId, event: ClientEvent) {
        self.out.push_back(ClientOutput { request, event });
    }

    /// Removes a finished task.
    fn reap(&mut self, task: TaskId) {
        if self.tasks.is_child_done(task) {
            self.tasks.remove(task);
            self.prompt_tasks.remove(&task);
            self.verify_tasks.remove(&task);
            self.refill_tasks.remove(&task);
        }
    }

    /// Dispatches the requests an abandoned flight left waiting.
    fn dispatch_requeued(&mut self, now: Now) {
        for id in std::mem::take(&mut self.requeued) {
            if self.requests.get(&id).is_some_and(|p| matches!(p.stage, Stage::Idle)) {
                self.dispatch(id, now);
            }
        }
    }
}

impl<R: CryptoRng> Machine for Client<R> {
    type Output = ClientOutput;

    fn handle(&mut self, event: Event<'_>, now: Now) {
        let outputs = self.tasks.handle(event, now);
        let mut touched = Vec::new();
        for (task, output) in outputs {
            self.on_task_output(task, output, now);
            touched.push(task);
        }
        for task in touched {
            self.reap(task);
        }
        self.dispatch_requeued(now);
    }

    fn poll_io(&mut self) -> Option<Io> {
        self.tasks.poll_io()
    }

    fn poll_output(&mut self) -> Option<ClientOutput> {
        self.out.pop_front()
    }

    fn is_done(&self) -> bool {
        self.requests.is_empty() && self.tasks.len() == 0 && self.out.is_empty()
    }
}
