//! Simulated providers (feature `sim`): the server side of every attestation API a verification
//! talks to — the six providers, Intel PCS, NVIDIA NRAS, Rekor and the Proof of Cloud trust
//! servers — with synthetic TDX quotes, PCS collateral, GPU evidence, NRAS tokens and Rekor
//! entries signed by *test* roots derived from a seed.
//!
//! A [`SimWorld`] answers HTTP requests (`answer(method, url, headers, body)`), so any transport
//! can carry it: tests serve it over loopback TLS on the three runtimes, and `teep demo` will
//! do the same. Only a verification configured with [`SimWorld::trust_roots`] accepts its
//! evidence; production roots reject all of it, and nothing the sim sends can change which
//! roots a verification uses.
//!
//! Everything is deterministic from the seed (keys, certificates, signatures: RFC 6979), except
//! what depends on the request (our nonce). The quote of each provider follows that provider's
//! REPORTDATA rule with the request's nonce and the world's enclave key (venice secp256k1, NEAR
//! ed25519, Chutes ML-KEM-768), whose private half [`SimWorld::enclave_secret`] exposes for the
//! E2EE server side. [`Misbehaviour`]s switch on the classic attacks one at a time.
//!
//! ```text
//!  verification ──HTTPS──► loopback server ──► SimWorld::answer ─┬─ provider attestation
//!                                                                ├─ Intel PCS collateral
//!                                                                ├─ NRAS attest + JWKS
//!                                                                ├─ Rekor index + entries
//!                                                                ├─ Proof of Cloud (403)
//!                                                                └─ inference paths (counted)
//! ```

mod gpu;
mod keys;
mod providers;
mod rekor;
mod tdx;
pub mod chat;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use crate::attestation::nvidia::NvidiaAnchor;
use crate::attestation::poc::PocKey;
use crate::attestation::policy::MeasurementPolicy;
use crate::attestation::tdx::TrustAnchor;
use crate::io::UnixTime;
use crate::provider::ProviderKind;
use crate::tls::SpkiHash;
use crate::verify::{TrustRoots, VerifyConfig};

pub use providers::{CHUTES_BAD_INSTANCE, CHUTES_CHUTE_ID, CHUTES_UNATTESTABLE_INSTANCE, NEAR_MODEL_HOST, chutes_instance_id};

/// The simulation clock: 2026-05-01T00:00:00Z. Verifications of a sim run at this wall time.
pub const SIM_NOW: u64 = 1_777_593_600;
/// NotBefore of simulated CA certificates: 2020-01-01T00:00:00Z.
pub(crate) const NOT_BEFORE: u64 = 1_577_836_800;
/// NotAfter of simulated CA certificates: 2030-01-01T00:00:00Z.
pub(crate) const NOT_AFTER: u64 = 1_893_456_000;

/// A misbehaviour a simulated provider can be switched to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// The attestation echoes (and its quote binds) another nonce than the one we sent.
    WrongNonce,
    /// Intel PCS serves TCB info and QE identity whose `nextUpdate` is already past.
    StaleCollateral,
    /// REPORTDATA binds another enclave key than the one the attestation serves.
    SwappedSigningKey,
    /// The GPU evidence answers another nonce than this session's.
    GpuOtherNonce,
    /// Chutes lists a second instance whose inference endpoint answers 503 (for failover).
    ChutesInstance503,
    /// Chutes lists, first, an instance that has nonces but no evidence entry (a booting
    /// instance): it can never be attested, so it must never get a prompt.
    ChutesInstanceWithoutEvidence,
    /// Marker for runs where the server switches to [`SimWorld::alt_tls_spki`] after attesting
    /// with [`SimWorld::tls_spki`] (the transport does the switch; the world only records it).
    SpkiChangeAfterAttestation,
}

/// An enclave's private key, for the E2EE server side.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnclaveSecret {
    /// Venice: a secp256k1 scalar (32 bytes, big-endian).
    Secp256k1([u8; 32]),
    /// NEAR: an Ed25519 seed (32 bytes).
    Ed25519([u8; 32]),
    /// Chutes: an ML-KEM-768 seed `d ‖ z` (FIPS 203, 64 bytes).
    MlKem768([u8; 64]),
}

impl std::fmt::Debug for EnclaveSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EnclaveSecret::Secp256k1(_) => "EnclaveSecret::Secp256k1(..)",
            EnclaveSecret::Ed25519(_) => "EnclaveSecret::Ed25519(..)",
            EnclaveSecret::MlKem768(_) => "EnclaveSecret::MlKem768(..)",
        })
    }
}

/// An HTTP answer of the simulation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimResponse {
    /// Status code.
    pub status: u16,
    /// Header fields (no framing headers: the transport adds them).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl SimResponse {
    fn json(status: u16, body: Vec<u8>) -> SimResponse {
        SimResponse { status, headers: vec![("Content-Type".to_owned(), "application/json".to_owned())], body }
    }

    fn text(status: u16, text: &str) -> SimResponse {
        SimResponse {
            status,
            headers: vec![("Content-Type".to_owned(), "text/plain".to_owned())],
            body: text.as_bytes().to_vec(),
        }
    }
}

/// Why a world could not be built (certificate generation failed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("simulated world: {0}")]
pub struct SimError(String);

/// A simulated universe of providers and services. See the module documentation.
pub struct SimWorld {
    seed: [u8; 32],
    tls_spki: SpkiHash,
    alt_tls_spki: Option<SpkiHash>,
    intel: tdx::IntelPki,
    gpu: gpu::GpuPki,
    sigstore: rekor::Sigstore,
    /// Rekor entries by image digest: (UUID, entries answer).
    rekor_entries: BTreeMap<String, (String, Vec<u8>)>,
    misbehaviours: BTreeSet<Misbehaviour>,
    inference_requests: usize,
    requests: usize,
    /// The world's wall clock (unix seconds), [`SIM_NOW`] until advanced.
    clock: u64,
    /// Healthy Chutes instances (default 1).
    chutes_instances: usize,
    /// Nonces per instance in each instances answer (default 4).
    chutes_nonces_per_instance: usize,
    /// Instances answers served so far (each issues fresh nonces).
    chutes_listings: u64,
    /// Every nonce issued, with the instance it belongs to.
    chutes_issued: BTreeMap<String, String>,
    /// Nonces presented to `/e2e/invoke` so far.
    chutes_used: BTreeSet<String>,
    /// Invocations that presented an already used nonce.
    chutes_nonce_reuses: usize,
    /// `/e2e/invoke` calls per instance.
    chutes_invocations: BTreeMap<String, usize>,
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWorld")
            .field("tls_spki", &self.tls_spki.to_hex())
            .field("misbehaviours", &self.misbehaviours)
            .field("inference_requests", &self.inference_requests)
            .finish_non_exhaustive()
    }
}

impl SimWorld {
    /// Builds the world of `seed`. `tls_spki` is the SPKI hash of the certificate the server
    /// presents, which the attest-then-pin providers (neardirect, nearcloud) bind.
    pub fn new(seed: [u8; 32], tls_spki: SpkiHash) -> Result<SimWorld, SimError> {
        let err = |e: &dyn std::fmt::Display| SimError(e.to_string());
        let intel = tdx::IntelPki::new(&seed).map_err(|e| err(&e))?;
        let gpu = gpu::GpuPki::new(&seed).map_err(|e| err(&e))?;
        let sigstore = rekor::Sigstore::new(&seed, SIM_NOW - 86_400).map_err(|e| err(&e))?;
        let mut rekor_entries = BTreeMap::new();
        for (i, source) in providers::IMAGES.iter().enumerate() {
            let entry = sigstore.entry(source, i as u64).map_err(|e| err(&e))?;
            rekor_entries.insert(providers::image_digest(source.image), entry);
        }
        Ok(SimWorld {
            seed,
            tls_spki,
            alt_tls_spki: None,
            intel,
            gpu,
            sigstore,
            rekor_entries,
            misbehaviours: BTreeSet::new(),
            inference_requests: 0,
            requests: 0,
            clock: SIM_NOW,
            chutes_instances: 1,
            chutes_nonces_per_instance: 4,
            chutes_listings: 0,
            chutes_issued: BTreeMap::new(),
            chutes_used: BTreeSet::new(),
            chutes_nonce_reuses: 0,
            chutes_invocations: BTreeMap::new(),
        })
    }

    /// This world with `m` switched on.
    pub fn with(mut self, m: Misbehaviour) -> SimWorld {
        self.misbehaviours.insert(m);
        self
    }

    /// Switches `m` on or off.
    pub fn set_misbehaviour(&mut self, m: Misbehaviour, on: bool) {
        if on {
            self.misbehaviours.insert(m);
        } else {
            self.misbehaviours.remove(&m);
        }
    }

    /// True if `m` is switched on.
    pub fn misbehaves(&self, m: Misbehaviour) -> bool {
        self.misbehaviours.contains(&m)
    }

    /// The SPKI hash the attestations bind (the server's primary TLS identity).
    pub fn tls_spki(&self) -> SpkiHash {
        self.tls_spki
    }

    /// Registers a second TLS identity the transport may switch to after attestation.
    pub fn set_alt_tls_spki(&mut self, spki: SpkiHash) {
        self.alt_tls_spki = Some(spki);
    }

    /// The second TLS identity, if registered (never bound by any attestation).
    pub fn alt_tls_spki(&self) -> Option<SpkiHash> {
        self.alt_tls_spki
    }

    /// The wall time a verification of this world runs at ([`SIM_NOW`] unless advanced).
    pub fn now(&self) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(self.clock))
    }

    /// The trust roots that accept this world's evidence (and nothing from production).
    pub fn trust_roots(&self) -> TrustRoots {
        TrustRoots::for_sim(
            TrustAnchor::for_tests(&self.intel.root_der()),
            NvidiaAnchor::for_tests(self.gpu.root_der()),
            self.sigstore.log().clone(),
            PocKey::from_bytes(self.poc_public()),
        )
    }

    fn poc_public(&self) -> [u8; 32] {
        ed25519_dalek::SigningKey::from_bytes(&keys::derive(&self.seed, "proof-of-cloud", 0)).verifying_key().to_bytes()
    }

    /// The model name to verify at `provider` in this world.
    pub fn model(provider: ProviderKind) -> &'static str {
        providers::model(provider)
    }

    /// Every host name a verification of `provider` contacts (the TLS certificate must name
    /// them all, and the transport must route them to the simulation).
    pub fn hosts(provider: ProviderKind) -> Vec<&'static str> {
        providers::hosts(provider)
    }

    /// Every host name of every provider.
    pub fn all_hosts() -> Vec<&'static str> {
        let mut all: Vec<&'static str> = ProviderKind::ALL.iter().flat_map(|p| providers::hosts(*p)).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The measurement policy the model quotes of this world satisfy.
    pub fn model_policy(&self) -> MeasurementPolicy {
        providers::policy(&self.seed)
    }

    /// The measurement policy the gateway quote (nearcloud) satisfies.
    pub fn gateway_policy(&self) -> MeasurementPolicy {
        providers::policy(&self.seed)
    }

    /// A verification configuration for `provider` against this world: provider defaults, this
    /// world's trust roots and measurement policies.
    pub fn verify_config(&self, provider: ProviderKind) -> VerifyConfig {
        let mut config = VerifyConfig::defaults(provider);
        config.trust = self.trust_roots();
        config.model_policy = self.model_policy();
        if provider == ProviderKind::NearCloud {
            config.gateway_policy = self.gateway_policy();
        }
        config
    }

    /// The private key of `provider`'s enclave (what its E2EE server side decrypts with).
    pub fn enclave_secret(&self, provider: ProviderKind) -> EnclaveSecret {
        providers::enclave_secret(&self.seed, provider, false)
    }

    /// The public key `provider`'s attestation serves, as the attestation writes it.
    pub fn enclave_public(&self, provider: ProviderKind) -> String {
        providers::enclave_public(&providers::enclave_secret(&self.seed, provider, false))
    }

    /// Requests that reached an inference path (chat completions, embeddings, Chutes invoke,
    /// …) so far: tests assert that a blocked verification let none through.
    pub fn inference_requests(&self) -> usize {
        self.inference_requests
    }

    /// This world with `healthy` working Chutes instances (at least 1), each listed with
    /// `nonces` single-use nonces per instances answer.
    pub fn with_chutes_fleet(mut self, healthy: usize, nonces: usize) -> SimWorld {
        self.chutes_instances = healthy.max(1);
        self.chutes_nonces_per_instance = nonces.max(1);
        self
    }

    /// Moves the world's clock (what [`SimWorld::now`] says, and the time its services stamp
    /// on tokens) forward, for runs that span hours.
    pub fn advance_clock(&mut self, by: std::time::Duration) {
        self.clock = self.clock.saturating_add(by.as_secs());
    }

    /// `/e2e/invoke` calls received per Chutes instance id.
    pub fn chutes_invocations(&self) -> &BTreeMap<String, usize> {
        &self.chutes_invocations
    }

    /// `/e2e/invoke` calls that presented an already used nonce (each was refused).
    pub fn chutes_nonce_reuses(&self) -> usize {
        self.chutes_nonce_reuses
    }

    /// Chutes instances answers served so far.
    pub fn chutes_listings(&self) -> u64 {
        self.chutes_listings
    }

    /// Every request answered so far.
    pub fn requests(&self) -> usize {
        self.requests
    }

    /// Answers one HTTP request (`url` absolute: `https://host/path?query`).
    pub fn answer(&mut self, method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> SimResponse {
        self.requests += 1;
        let Some(rest) = url.strip_prefix("https://") else {
            return SimResponse::text(400, "the simulation answers https URLs only");
        };
        let (authority, target) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
        let host = authority.split(':').next().unwrap_or(authority).to_ascii_lowercase();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if providers::is_inference_path(path) {
            self.inference_requests += 1;
            return providers::inference(self, headers);
        }
        providers::route(self, method, &host, path, query, body)
    }
}
