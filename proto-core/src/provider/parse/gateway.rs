//! Gateway providers (Phala Cloud, NanoGPT): format detection and the gateway-wrapped Chutes
//! layout.
//!
//! A gateway relays whatever its backend produced, so the answer's shape is detected first from
//! four top-level members, in this order: a non-empty `format` string (Tinfoil), a non-empty
//! `attestation_type` string (Chutes), a `gateway_attestation` member that is not `null`
//! (a NEAR-style gateway), a non-empty `intel_quote` string (dstack). Text that is not a JSON
//! object, or one of those four members with the wrong type, matches nothing.
//!
//! The wrapped Chutes layout carries a *server-chosen* nonce (recorded with nonce source
//! `server`) and no instance id or E2EE nonce, so it can be reported but never used for E2EE.

use std::fmt;

use serde_json::Value;

use super::json::{self, Fields, Reason};
use super::{MAX_CHUTES_ENTRIES, MAX_GPU_EVIDENCE};
use crate::attestation::raw::{BackendFormat, RawAttestation};

/// The attestation layouts a gateway may relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttestationFormat {
    /// Tinfoil (`format` member); not supported.
    Tinfoil,
    /// Gateway-wrapped Chutes (`attestation_type` member).
    Chutes,
    /// A NEAR-style gateway (`gateway_attestation` member); not supported through these gateways.
    Gateway,
    /// dstack (`intel_quote` member).
    Dstack,
}

impl AttestationFormat {
    /// The format's name in errors.
    pub fn name(self) -> &'static str {
        match self {
            AttestationFormat::Tinfoil => "tinfoil",
            AttestationFormat::Chutes => "chutes",
            AttestationFormat::Gateway => "gateway",
            AttestationFormat::Dstack => "dstack",
        }
    }
}

impl fmt::Display for AttestationFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Detects the layout of a gateway's attestation answer; `None` when nothing matches (including
/// text that is not JSON).
pub fn detect_format(body: &[u8]) -> Option<AttestationFormat> {
    serde_json::from_slice::<Value>(body).ok().as_ref().and_then(detect_value)
}

/// [`detect_format`] on a decoded body.
pub(super) fn detect_value(value: &Value) -> Option<AttestationFormat> {
    let Value::Object(map) = value else { return None };
    // A probe member of the wrong type makes the whole probe fail, as in the reference decoder.
    let text = |key: &str| -> Result<bool, ()> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::String(s)) => Ok(!s.is_empty()),
            Some(_) => Err(()),
        }
    };
    let format = text("format").ok()?;
    let attestation_type = text("attestation_type").ok()?;
    let intel_quote = text("intel_quote").ok()?;
    let gateway = map.get("gateway_attestation").is_some_and(|v| !v.is_null());
    if format {
        Some(AttestationFormat::Tinfoil)
    } else if attestation_type {
        Some(AttestationFormat::Chutes)
    } else if gateway {
        Some(AttestationFormat::Gateway)
    } else if intel_quote {
        Some(AttestationFormat::Dstack)
    } else {
        None
    }
}

/// Detects the layout and hands the body to the parser for it.
pub(super) fn dispatch(value: &Value) -> Result<RawAttestation, Reason> {
    match detect_value(value) {
        Some(AttestationFormat::Dstack) => super::dstack::parse_value(value),
        Some(AttestationFormat::Chutes) => parse_wrapped_chutes(value),
        Some(other @ (AttestationFormat::Tinfoil | AttestationFormat::Gateway)) => {
            let field = if other == AttestationFormat::Tinfoil { "format" } else { "gateway_attestation" };
            Err(format!("unsupported attestation format {:?} (from the {field} field)", other.name()))
        }
        None => Err("unrecognised attestation format (no non-empty format, attestation_type or intel_quote \
                     string and no gateway_attestation member)"
            .to_owned()),
    }
}

/// Top-level members of the wrapped Chutes layout.
const CHUTES_KNOWN: &[&str] = &["attestation_type", "nonce", "all_attestations"];

/// Parses the gateway-wrapped Chutes layout: the first `all_attestations` entry is used.
fn parse_wrapped_chutes(value: &Value) -> Result<RawAttestation, Reason> {
    let map = json::top_object(value, "attestation response")?;
    let top = Fields::root(map);
    top.str("attestation_type")?;
    let nonce = top.str("nonce")?;
    let entries = top.objects("all_attestations", MAX_CHUTES_ENTRIES)?;
    let Some(first) = entries.first() else {
        return Err("all_attestations is empty".to_owned());
    };
    // Every entry is read (types, GPU evidence bound); only the first is kept.
    let mut gpus = Vec::new();
    for (i, f) in entries.iter().enumerate() {
        f.str("instance_id")?;
        f.str("nonce")?;
        f.str("e2e_pubkey")?;
        f.str("intel_quote")?;
        let evidence = json::gpu_evidence(f, "gpu_evidence", MAX_GPU_EVIDENCE)?;
        if i == 0 {
            gpus = evidence;
        }
    }
    let quote = json::base64_quote_to_hex(&first.str("intel_quote")?, &first.path_of("intel_quote"))?;

    let mut raw = RawAttestation::empty(BackendFormat::Chutes);
    raw.nonce = nonce;
    raw.nonce_source = "server".to_owned();
    raw.tee_hardware = "intel-tdx".to_owned();
    raw.signing_key = first.str("e2e_pubkey")?;
    raw.signing_algo = "ml-kem-768".to_owned();
    raw.intel_quote = quote;
    raw.gpu_evidence = gpus;
    raw.candidates = Some((1, entries.len()));
    raw.unknown_fields = json::unknown_keys(map, CHUTES_KNOWN);
    Ok(raw)
}
