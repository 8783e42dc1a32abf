//! NEAR AI model attestations (`GET /v1/attestation/report`), shared by `neardirect` and the
//! model half of `nearcloud`.
//!
//! Three layouts, tried in order: a non-empty `all_attestations` array (what model nodes send,
//! next to a flat copy), a non-empty `model_attestations` array (what the cloud gateway sends),
//! else the flat top-level fields. From an array, the entry whose `model_name` equals the
//! requested model exactly is taken; the flat layout is used without a model check. Both arrays
//! are bounded and every entry of both is type-checked, even the ones not selected.

use serde_json::Value;

use super::MAX_MODEL_ENTRIES;
use super::json::{self, Fields, Reason};
use crate::attestation::raw::{BackendFormat, EventLogEntry, RawAttestation};

/// Top-level members of a NEAR model answer.
pub(super) const KNOWN: &[&str] = &[
    "model_attestations",
    "all_attestations",
    "model_name",
    "intel_quote",
    "nvidia_payload",
    "signing_public_key",
    "signing_address",
    "signing_algo",
    "tls_cert_fingerprint",
    "request_nonce",
    "verified",
    "event_log",
    "info",
];

/// One model attestation (an array entry, or the flat top level).
struct Entry {
    model_name: String,
    intel_quote: String,
    nvidia_payload: String,
    signing_public_key: String,
    signing_address: String,
    signing_algo: String,
    tls_cert_fingerprint: String,
    request_nonce: String,
    event_log: Vec<EventLogEntry>,
    app_name: String,
    compose_hash: String,
    os_image_hash: String,
    device_id: String,
    app_compose: String,
}

fn entry(f: &Fields<'_>) -> Result<Entry, Reason> {
    let info = f.obj("info")?;
    let tcb_value = json::tcb_info(&info, "tcb_info")?;
    let tcb = Fields::opt(tcb_value.as_deref(), info.path_of("tcb_info"))?;
    Ok(Entry {
        model_name: f.str("model_name")?,
        intel_quote: f.str("intel_quote")?,
        nvidia_payload: f.str("nvidia_payload")?,
        signing_public_key: f.str("signing_public_key")?,
        signing_address: f.str("signing_address")?,
        signing_algo: f.str("signing_algo")?,
        tls_cert_fingerprint: f.str("tls_cert_fingerprint")?,
        request_nonce: f.str("request_nonce")?,
        event_log: json::event_log_array(f, "event_log")?,
        app_name: info.str("app_name")?,
        compose_hash: info.str("compose_hash")?,
        os_image_hash: info.str("os_image_hash")?,
        device_id: info.str("device_id")?,
        app_compose: tcb.str("app_compose")?,
    })
}

fn entries(top: &Fields<'_>, key: &str) -> Result<Vec<Entry>, Reason> {
    top.objects(key, MAX_MODEL_ENTRIES)?.iter().map(entry).collect()
}

fn select(list: Vec<Entry>, model: &str) -> Result<Entry, Reason> {
    let n = list.len();
    list.into_iter()
        .find(|e| e.model_name == model)
        .ok_or_else(|| format!("model {model:?} not found in {n} attestation entries"))
}

/// Parses a decoded NEAR model answer, selecting `model`.
pub(super) fn parse_value(value: &Value, model: &str) -> Result<RawAttestation, Reason> {
    let map = json::top_object(value, "attestation response")?;
    let top = Fields::root(map);
    // Lengths first, so an oversized array is refused before its entries are read.
    top.arr_max("all_attestations", MAX_MODEL_ENTRIES)?;
    top.arr_max("model_attestations", MAX_MODEL_ENTRIES)?;
    top.bool("verified")?;
    let all = entries(&top, "all_attestations")?;
    let per_model = entries(&top, "model_attestations")?;
    let flat = entry(&top)?;
    let chosen = if !all.is_empty() {
        select(all, model)?
    } else if !per_model.is_empty() {
        select(per_model, model)?
    } else {
        flat
    };

    let mut raw = RawAttestation::empty(BackendFormat::Near);
    raw.nonce = chosen.request_nonce;
    raw.signing_key = chosen.signing_public_key;
    raw.signing_address = chosen.signing_address;
    raw.signing_algo = chosen.signing_algo;
    raw.tls_fingerprint = chosen.tls_cert_fingerprint;
    raw.tee_hardware = if chosen.intel_quote.is_empty() { String::new() } else { "intel-tdx".to_owned() };
    raw.intel_quote = chosen.intel_quote;
    raw.nvidia_payload = chosen.nvidia_payload;
    raw.app_compose = chosen.app_compose;
    raw.app_name = chosen.app_name;
    raw.compose_hash = chosen.compose_hash;
    raw.os_image_hash = chosen.os_image_hash;
    raw.device_id = chosen.device_id;
    raw.event_log_count = (!chosen.event_log.is_empty()).then_some(chosen.event_log.len());
    raw.event_log = chosen.event_log;
    raw.unknown_fields = json::unknown_keys(map, KNOWN);
    Ok(raw)
}
