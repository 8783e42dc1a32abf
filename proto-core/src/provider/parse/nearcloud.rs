//! NEAR AI cloud gateway: one answer carrying the gateway's own attestation
//! (`gateway_attestation`) next to the model's (`model_attestations`, read by the NEAR model
//! parser).
//!
//! Gateway members read: `request_nonce`, `signing_address`, `intel_quote`, `event_log` (a JSON
//! *string* holding the array — a native array is a type error), `tls_cert_fingerprint` and
//! `info.tcb_info.app_compose` (possibly double-encoded). `signing_algo`, `report_data`, `vpc`
//! and the rest of `info` are ignored, as is the top-level `tls_certificate` (listed as unknown).

use serde_json::Value;

use super::json::{self, Fields, Reason};
use super::{MAX_GATEWAY_EVENT_LOG, near};
use crate::attestation::raw::{GatewayAttestation, RawAttestation};

/// Parses a decoded nearcloud answer, selecting `model` in the model part.
pub(super) fn parse_value(value: &Value, model: &str) -> Result<RawAttestation, Reason> {
    let map = json::top_object(value, "attestation response")?;
    let top = Fields::root(map);
    let gw = top.obj("gateway_attestation")?;
    let info = gw.obj("info")?;
    let tcb_value = json::tcb_info(&info, "tcb_info")?;
    let tcb = Fields::opt(tcb_value.as_deref(), info.path_of("tcb_info"))?;
    let gateway = GatewayAttestation {
        nonce: gw.str("request_nonce")?,
        intel_quote: gw.str("intel_quote")?,
        app_compose: tcb.str("app_compose")?,
        event_log: json::event_log_string(&gw, "event_log", MAX_GATEWAY_EVENT_LOG)?,
        tls_fingerprint: gw.str("tls_cert_fingerprint")?,
        signing_address: gw.str("signing_address")?,
    };
    if gateway.intel_quote.is_empty() && gateway.tls_fingerprint.is_empty() {
        return Err("gateway_attestation section missing or empty (no intel_quote, no tls_cert_fingerprint)".to_owned());
    }
    let mut raw = near::parse_value(value, model)?;
    let mut known: Vec<&str> = near::KNOWN.to_vec();
    known.push("gateway_attestation");
    raw.unknown_fields = json::unknown_keys(map, &known);
    raw.gateway = Some(gateway);
    Ok(raw)
}
