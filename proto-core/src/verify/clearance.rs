//! Permission to send a prompt: a value only a finished, unblocked verification can build.
//!
//! A [`Clearance`] names what the prompt may be sent to, and nothing else: the TLS key the
//! enclave bound into its quote (for attest-then-pin channels), the enclave key it bound (for
//! body E2EE), or neither (gateway formats whose channel is not bound; the provider's
//! enforcement allowed that). A binding is only present when its factor *passed*: a factor
//! allowed to fail never yields a key to encrypt to or a pin to trust.

use crate::attestation::raw::RawAttestation;
use crate::provider::ProviderKind;
use crate::report::{Factor, Report, Status};
use crate::tls::SpkiHash;

/// The enclave key a prompt may be encrypted to, as the attestation gave it.
#[derive(Clone, PartialEq, Eq)]
pub struct EnclaveKey {
    /// The attestation's algorithm name (`ecdsa`, `ed25519`, `ml-kem-768`, …).
    pub algo: String,
    /// The key as the attestation encodes it (hex or base64 text).
    pub encoded: String,
}

impl std::fmt::Debug for EnclaveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short: String = self.encoded.chars().take(16).collect();
        write!(f, "EnclaveKey({}, {short}…)", self.algo)
    }
}

/// Permission to send prompts for one (provider, model) to one attested enclave.
#[derive(Clone, Debug)]
pub struct Clearance {
    provider: ProviderKind,
    model: String,
    report: Report,
    tls_spki: Option<SpkiHash>,
    enclave_key: Option<EnclaveKey>,
    instance: Option<String>,
    attested_host: Option<String>,
    chutes: Option<ChutesTarget>,
}

/// Where a Chutes prompt goes: the chute, the attested instance, and the single-use E2EE nonce
/// that instance issued with its evidence.
#[derive(Clone, PartialEq, Eq)]
pub struct ChutesTarget {
    /// The chute UUID.
    pub chute_id: String,
    /// The attested instance.
    pub instance_id: String,
    /// The instance's single-use nonce for one `/e2e/invoke`.
    pub e2e_nonce: String,
}

impl std::fmt::Debug for ChutesTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChutesTarget").field("chute_id", &self.chute_id).field("instance_id", &self.instance_id).finish_non_exhaustive()
    }
}

impl Clearance {
    /// Builds the clearance for a report, or `None` when the report is blocked.
    pub(super) fn grant(
        provider: ProviderKind,
        model: &str,
        report: &Report,
        raw: &RawAttestation,
        attested_host: Option<String>,
    ) -> Option<Self> {
        if report.is_blocked() {
            return None;
        }
        let passed = |f: Factor| report.factor(f).is_some_and(|r| r.status == Status::Pass);
        let tls_spki = if provider == ProviderKind::NearCloud {
            let gateway = raw.gateway.as_ref().map(|g| g.tls_fingerprint.as_str()).unwrap_or("");
            passed(Factor::GatewayTeeReportdataBinding).then(|| SpkiHash::from_hex(gateway)).flatten()
        } else {
            passed(Factor::TlsKeyBinding).then(|| SpkiHash::from_hex(&raw.tls_fingerprint)).flatten()
        };
        let enclave_key = (passed(Factor::TeeReportdataBinding) && passed(Factor::E2eeCapable) && !raw.signing_key.is_empty())
            .then(|| EnclaveKey { algo: raw.signing_algo.clone(), encoded: raw.signing_key.clone() });
        Some(Self {
            provider,
            model: model.to_owned(),
            report: report.clone(),
            tls_spki,
            enclave_key,
            instance: (!raw.instance_id.is_empty()).then(|| raw.instance_id.clone()),
            attested_host,
            chutes: (provider == ProviderKind::Chutes
                && !raw.chute_id.is_empty()
                && !raw.instance_id.is_empty()
                && !raw.e2e_nonce.is_empty())
            .then(|| ChutesTarget {
                chute_id: raw.chute_id.clone(),
                instance_id: raw.instance_id.clone(),
                e2e_nonce: raw.e2e_nonce.clone(),
            }),
        })
    }

    /// The provider.
    pub fn provider(&self) -> ProviderKind {
        self.provider
    }

    /// The model, as the provider knows it.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The unblocked report this permission rests on.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The TLS key (SPKI SHA-256) bound in the quote, present only if that binding passed:
    /// connections for prompts must present exactly this key.
    pub fn tls_spki(&self) -> Option<SpkiHash> {
        self.tls_spki
    }

    /// The enclave key bound in the quote, present only if REPORTDATA binding and the key
    /// check passed: the only key a prompt may be encrypted to.
    pub fn enclave_key(&self) -> Option<&EnclaveKey> {
        self.enclave_key.as_ref()
    }

    /// The host the attestation was fetched from (neardirect: the model node; nearcloud: the
    /// gateway): pinned channels for prompts go there.
    pub fn attested_host(&self) -> Option<&str> {
        self.attested_host.as_deref()
    }

    /// Chutes: the chute, attested instance and E2EE nonce for one prompt.
    pub fn chutes_target(&self) -> Option<&ChutesTarget> {
        self.chutes.as_ref()
    }

    /// The attested instance (Chutes), if the provider has instances.
    pub fn instance(&self) -> Option<&str> {
        self.instance.as_deref()
    }

    /// This clearance with its Chutes nonce spent: what a cache may keep. It cannot send a
    /// Chutes prompt again until [`Clearance::with_pool_material`] gives it a fresh nonce.
    pub fn spent(mut self) -> Self {
        if let Some(target) = self.chutes.as_mut() {
            target.e2e_nonce.clear();
        }
        self
    }

    /// Chutes: this clearance re-targeted to a nonce from the pool, only if the material is
    /// for the same chute and the same attested instance and lists exactly the attested key
    /// (compared in constant time). Anything else yields `None`: the instance must be attested
    /// first.
    pub fn with_pool_material(&self, material: &crate::state::Material) -> Option<Self> {
        let target = self.chutes.as_ref()?;
        let key = self.enclave_key.as_ref()?;
        let same_instance = material.chute().as_str() == target.chute_id && material.instance_id() == target.instance_id;
        let attested = crate::state::SigningKey::new(&key.encoded).ok()?;
        if !(same_instance && material.key_matches(&attested)) {
            return None;
        }
        let mut next = self.clone();
        if let Some(t) = next.chutes.as_mut() {
            t.e2e_nonce = material.nonce().to_owned();
        }
        Some(next)
    }
}
