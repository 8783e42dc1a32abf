//! Provider attestation parsers: provider JSON → `RawAttestation`.
//!
//! One function per provider turns the body (or, for Chutes, the two bodies) of an attestation
//! answer into the provider-neutral [`RawAttestation`]. Parsers copy, they do not judge: nothing
//! here checks a quote, a key or a nonce — that is the verifiers' job. What they do enforce is
//! the shape of the answer, fail-closed:
//!
//! * the body size limit of the provider ([`body_limit`]); a longer body is refused, never
//!   truncated;
//! * JSON types, the way the reference implementation's decoder does (a known member of the
//!   wrong type fails the whole parse, `null` leaves the zero value; see [`json`]);
//! * the bounds on repeated elements (model entries, Chutes instances and evidence, GPU
//!   evidence, gateway event-log entries).
//!
//! Every error is a [`ParseError`] naming the provider and the field. No input makes a parser
//! panic (property-tested).
//!
//! Top-level members a parser does not know are listed, sorted, in
//! [`RawAttestation::unknown_fields`]; they are never an error.

use crate::attestation::raw::{ParseError, RawAttestation};
use crate::provider::ProviderKind;

mod chutes;
mod dstack;
mod gateway;
pub mod json;
pub mod lookup;
mod near;
mod nearcloud;
mod venice;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

pub use gateway::{AttestationFormat, detect_format};

/// Venice's attestation body limit (1 MiB).
pub const VENICE_BODY_LIMIT: usize = 1 << 20;
/// neardirect's attestation body limit (1 MiB).
pub const NEARDIRECT_BODY_LIMIT: usize = 1 << 20;
/// nearcloud's attestation body limit (2 MiB).
pub const NEARCLOUD_BODY_LIMIT: usize = 2 << 20;
/// The limit on each of Chutes' two bodies, instances and evidence (2 MiB).
pub const CHUTES_BODY_LIMIT: usize = 2 << 20;
/// Phala Cloud's attestation body limit (2 MiB).
pub const PHALACLOUD_BODY_LIMIT: usize = 2 << 20;
/// NanoGPT's attestation body limit (1 MiB).
pub const NANOGPT_BODY_LIMIT: usize = 1 << 20;

/// Entries allowed in a NEAR `all_attestations` or `model_attestations` array.
pub const MAX_MODEL_ENTRIES: usize = 256;
/// Entries allowed in Chutes' `instances` and `evidence` arrays and in a gateway's wrapped
/// `all_attestations`.
pub const MAX_CHUTES_ENTRIES: usize = 256;
/// GPU evidence items allowed per Chutes instance.
pub const MAX_GPU_EVIDENCE: usize = 64;
/// Entries allowed in the nearcloud gateway's event log.
pub const MAX_GATEWAY_EVENT_LOG: usize = 10_000;

/// The attestation body limit for `provider` (for Chutes: each of its two bodies).
pub fn body_limit(provider: ProviderKind) -> usize {
    match provider {
        ProviderKind::Venice => VENICE_BODY_LIMIT,
        ProviderKind::NearDirect => NEARDIRECT_BODY_LIMIT,
        ProviderKind::NearCloud => NEARCLOUD_BODY_LIMIT,
        ProviderKind::Chutes => CHUTES_BODY_LIMIT,
        ProviderKind::PhalaCloud => PHALACLOUD_BODY_LIMIT,
        ProviderKind::NanoGpt => NANOGPT_BODY_LIMIT,
    }
}

const WHAT: &str = "attestation response";

fn fail(provider: ProviderKind) -> impl Fn(String) -> ParseError {
    move |reason| ParseError::new(provider.name(), reason)
}

/// Parses Venice's `GET /api/v1/tee/attestation` answer (dstack layout; the key is kept as
/// received; the echoed nonce is the top-level `nonce`).
pub fn parse_venice(body: &[u8]) -> Result<RawAttestation, ParseError> {
    let p = ProviderKind::Venice;
    let value = json::decode_body(body, body_limit(p), WHAT).map_err(fail(p))?;
    venice::parse_value(&value).map_err(fail(p))
}

/// Parses NanoGPT's `GET /v1/tee/attestation` answer: detects the layout, then reads dstack
/// (key normalised to its `04` form) or gateway-wrapped Chutes. Tinfoil and NEAR-style gateway
/// answers are refused as unsupported; an answer matching no layout is refused as unrecognised.
pub fn parse_nanogpt(body: &[u8]) -> Result<RawAttestation, ParseError> {
    parse_gateway(ProviderKind::NanoGpt, body)
}

/// Parses Phala Cloud's `GET /attestation/report` answer; same layouts and rules as
/// [`parse_nanogpt`], with Phala's body limit.
pub fn parse_phalacloud(body: &[u8]) -> Result<RawAttestation, ParseError> {
    parse_gateway(ProviderKind::PhalaCloud, body)
}

fn parse_gateway(p: ProviderKind, body: &[u8]) -> Result<RawAttestation, ParseError> {
    if body.len() > body_limit(p) {
        return Err(fail(p)(format!("{WHAT} body exceeds size limit {} ({} bytes)", body_limit(p), body.len())));
    }
    let value = serde_json::from_slice(body)
        .map_err(|e| fail(p)(format!("unrecognised attestation format: {WHAT} is not valid JSON: {e}")))?;
    gateway::dispatch(&value).map_err(fail(p))
}

/// Parses a NEAR AI model node's `GET /v1/attestation/report` answer (neardirect), selecting
/// the entry for `model` (see the NEAR layouts in `near`).
pub fn parse_near_model(body: &[u8], model: &str) -> Result<RawAttestation, ParseError> {
    let p = ProviderKind::NearDirect;
    let value = json::decode_body(body, body_limit(p), WHAT).map_err(fail(p))?;
    near::parse_value(&value, model).map_err(fail(p))
}

/// Parses the NEAR AI cloud gateway's answer: the model part for `model`, plus
/// [`RawAttestation::gateway`] from `gateway_attestation`.
pub fn parse_nearcloud(body: &[u8], model: &str) -> Result<RawAttestation, ParseError> {
    let p = ProviderKind::NearCloud;
    let value = json::decode_body(body, body_limit(p), WHAT).map_err(fail(p))?;
    nearcloud::parse_value(&value, model).map_err(fail(p))
}

/// Parses Chutes' two answers — instance discovery, then evidence for `client_nonce_hex` — into
/// the record of the first usable instance in evidence order. The record's nonce is
/// `client_nonce_hex` as given (Chutes does not echo it), its chute id `chute_id`; the base64
/// quote becomes lower-case hex.
pub fn parse_chutes(
    instances_body: &[u8],
    evidence_body: &[u8],
    client_nonce_hex: &str,
    chute_id: &str,
) -> Result<RawAttestation, ParseError> {
    parse_chutes_preferring(instances_body, evidence_body, client_nonce_hex, chute_id, None)
}

/// [`parse_chutes`], selecting the instance `prefer` when its evidence entry qualifies (a
/// failover to an instance the nonce pool offered); otherwise the usual first usable one.
pub fn parse_chutes_preferring(
    instances_body: &[u8],
    evidence_body: &[u8],
    client_nonce_hex: &str,
    chute_id: &str,
    prefer: Option<&str>,
) -> Result<RawAttestation, ParseError> {
    let p = ProviderKind::Chutes;
    let instances = json::decode_body(instances_body, body_limit(p), "instances response").map_err(fail(p))?;
    let evidence = json::decode_body(evidence_body, body_limit(p), "evidence response").map_err(fail(p))?;
    chutes::parse_values(&instances, &evidence, client_nonce_hex, chute_id, prefer).map_err(fail(p))
}
