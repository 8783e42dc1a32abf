//! The provider-neutral attestation record every provider parser produces.
//!
//! Parsers copy what the provider sent, unverified; the verifiers decide what it is worth.
//! Strings are kept exactly as received (hex stays hex) unless a field says otherwise.

/// Which evidence layout the attestation used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendFormat {
    /// dstack (venice, nanogpt, phalacloud's dstack backends): hex quote, EAT payload, event log.
    Dstack,
    /// NEAR AI model node (neardirect, nearcloud's model part).
    Near,
    /// Chutes per-instance evidence (chutes, and gateway-wrapped Chutes on phalacloud/nanogpt).
    Chutes,
}

impl BackendFormat {
    /// The format's name in reports and errors.
    pub fn name(self) -> &'static str {
        match self {
            BackendFormat::Dstack => "dstack",
            BackendFormat::Near => "near",
            BackendFormat::Chutes => "chutes",
        }
    }
}

/// One event-log entry (dstack/NEAR layout).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLogEntry {
    /// Index of the measurement register extended (0..=3 for RTMR0..3).
    #[serde(default)]
    pub imr: u32,
    /// Event type (values above 2^31 occur).
    #[serde(default)]
    pub event_type: u32,
    /// SHA-384 digest extended into the register, 96 hex characters.
    #[serde(default)]
    pub digest: String,
    /// Event name (dstack runtime events), may be empty.
    #[serde(default)]
    pub event: String,
    /// Event payload, hex.
    #[serde(default)]
    pub event_payload: String,
}

/// One GPU's evidence in the Chutes layout.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct GpuEvidence {
    /// Base64 certificate chain.
    #[serde(default)]
    pub certificate: String,
    /// Base64 SPDM evidence.
    #[serde(default)]
    pub evidence: String,
    /// GPU architecture, e.g. `HOPPER`.
    #[serde(default)]
    pub arch: String,
}

/// The gateway's own attestation (nearcloud).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayAttestation {
    /// Echoed nonce, hex as received.
    pub nonce: String,
    /// TDX quote, hex.
    pub intel_quote: String,
    /// dstack app compose (JSON text), may be empty.
    pub app_compose: String,
    /// Event log entries.
    pub event_log: Vec<EventLogEntry>,
    /// SPKI SHA-256 of the gateway's TLS certificate, hex.
    pub tls_fingerprint: String,
    /// Signing address, hex, may be empty.
    pub signing_address: String,
}

/// What a provider's attestation answer says, before verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawAttestation {
    /// Evidence layout.
    pub format: BackendFormat,
    /// The nonce the provider echoed (hex as received; may be empty).
    pub nonce: String,
    /// Who chose the nonce, as the provider reports it (`client`, `server`), may be empty.
    pub nonce_source: String,
    /// TDX quote as hex (parsers convert base64 quotes to lower-case hex), may be empty.
    pub intel_quote: String,
    /// The enclave's public key as received (hex for secp256k1/ed25519, base64 for ML-KEM).
    pub signing_key: String,
    /// Key algorithm as reported (`ecdsa`, `ed25519`, `ml-kem-768`), may be empty.
    pub signing_algo: String,
    /// Signing address (Ethereum-style for secp256k1, hex key for ed25519), may be empty.
    pub signing_address: String,
    /// NVIDIA EAT document (JSON text, verbatim), may be empty.
    pub nvidia_payload: String,
    /// Per-GPU evidence (Chutes layout), may be empty.
    pub gpu_evidence: Vec<GpuEvidence>,
    /// SPKI SHA-256 of the model server's TLS certificate, hex, may be empty.
    pub tls_fingerprint: String,
    /// dstack app compose (JSON text), may be empty.
    pub app_compose: String,
    /// Compose hash as reported (metadata only).
    pub compose_hash: String,
    /// OS image hash as reported (metadata only).
    pub os_image_hash: String,
    /// Device id as reported (metadata only).
    pub device_id: String,
    /// Application name, e.g. `dstack-nvidia-0.5.5` (metadata only).
    pub app_name: String,
    /// Event log entries to replay.
    pub event_log: Vec<EventLogEntry>,
    /// Event log size for the report header (`None` hides the line, as for an empty log).
    pub event_log_count: Option<usize>,
    /// TEE hardware as reported, e.g. `intel-tdx` (metadata only).
    pub tee_hardware: String,
    /// Model behind a gateway, as reported (metadata only).
    pub upstream_model: String,
    /// (evaluated, available) instance candidates, when the provider reports them.
    pub candidates: Option<(usize, usize)>,
    /// Top-level JSON keys the parser did not know, sorted.
    pub unknown_fields: Vec<String>,
    /// The gateway's attestation (nearcloud only).
    pub gateway: Option<GatewayAttestation>,
    /// Chutes: the selected instance id.
    pub instance_id: String,
    /// Chutes: the first E2EE nonce of the selected instance.
    pub e2e_nonce: String,
    /// Chutes: the chute UUID the evidence belongs to.
    pub chute_id: String,
}

impl RawAttestation {
    /// An empty record of the given format.
    pub fn empty(format: BackendFormat) -> Self {
        Self {
            format,
            nonce: String::new(),
            nonce_source: String::new(),
            intel_quote: String::new(),
            signing_key: String::new(),
            signing_algo: String::new(),
            signing_address: String::new(),
            nvidia_payload: String::new(),
            gpu_evidence: Vec::new(),
            tls_fingerprint: String::new(),
            app_compose: String::new(),
            compose_hash: String::new(),
            os_image_hash: String::new(),
            device_id: String::new(),
            app_name: String::new(),
            event_log: Vec::new(),
            event_log_count: None,
            tee_hardware: String::new(),
            upstream_model: String::new(),
            candidates: None,
            unknown_fields: Vec::new(),
            gateway: None,
            instance_id: String::new(),
            e2e_nonce: String::new(),
            chute_id: String::new(),
        }
    }
}

/// Why a provider's answer could not be turned into a [`RawAttestation`]. Always fatal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{provider}: {reason}")]
pub struct ParseError {
    /// Provider name.
    pub provider: &'static str,
    /// What was wrong, naming the field.
    pub reason: String,
}

impl ParseError {
    /// An error for `provider`.
    pub fn new(provider: &'static str, reason: impl Into<String>) -> Self {
        Self { provider, reason: reason.into() }
    }
}
