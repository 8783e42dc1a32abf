//! Venice: `GET /api/v1/tee/attestation` answers (dstack layout, 22 known top-level members).
//!
//! The E2EE key is `signing_public_key`, kept exactly as received (no `0x` stripping, no `04`
//! normalisation: a key without its prefix must fail the binding, not be repaired). The echoed
//! nonce is the top-level `nonce`; `request_nonce`, `quote`, `vm_config` and `signing_key` are
//! type-checked and ignored. `server_verification` is the provider's own, untrusted, opinion:
//! type-checked, never used.

use serde_json::Value;

use super::dstack::{TcbEventLog, dstack_info};
use super::json::{self, Fields, Kind, Reason};
use crate::attestation::raw::{BackendFormat, RawAttestation};

/// The 22 top-level members Venice sends.
const KNOWN: &[&str] = &[
    "verified",
    "nonce",
    "model",
    "tee_provider",
    "signing_public_key",
    "signing_address",
    "intel_quote",
    "nvidia_payload",
    "event_log",
    "info",
    "server_verification",
    "model_name",
    "upstream_model",
    "signing_algo",
    "tee_hardware",
    "nonce_source",
    "candidates_available",
    "candidates_evaluated",
    "request_nonce",
    "quote",
    "vm_config",
    "signing_key",
];

/// Members read only for their types.
const UNUSED: &[(&str, Kind)] = &[
    ("verified", Kind::Bool),
    ("model", Kind::Str),
    ("tee_provider", Kind::Str),
    ("model_name", Kind::Str),
    ("request_nonce", Kind::Str),
    ("quote", Kind::Str),
    ("vm_config", Kind::Str),
    ("signing_key", Kind::Str),
    ("server_verification", Kind::Obj(SERVER_VERIFICATION)),
];

const BOUND: &[(&str, Kind)] = &[("bound", Kind::Bool), ("method", Kind::Str)];

/// The schema of `server_verification`.
const SERVER_VERIFICATION: &[(&str, Kind)] = &[
    (
        "tdx",
        Kind::Obj(&[
            ("valid", Kind::Bool),
            ("signatureValid", Kind::Bool),
            ("certificateChainValid", Kind::Bool),
            ("rootCaPinned", Kind::Bool),
            ("attestationKeyMatch", Kind::Bool),
            ("reportData", Kind::Str),
            (
                "measurements",
                Kind::Obj(&[
                    ("mrtd", Kind::Str),
                    ("mrconfigid", Kind::Str),
                    ("mrowner", Kind::Str),
                    ("mrownerconfig", Kind::Str),
                    ("rtmr0", Kind::Str),
                    ("rtmr1", Kind::Str),
                    ("rtmr2", Kind::Str),
                    ("rtmr3", Kind::Str),
                    ("tdAttributes", Kind::Str),
                    ("xfam", Kind::Str),
                ]),
            ),
            ("crlCheck", Kind::Obj(&[("checked", Kind::Bool), ("revoked", Kind::Bool)])),
        ]),
    ),
    (
        "nvidia",
        Kind::Obj(&[
            ("valid", Kind::Bool),
            ("signatureVerified", Kind::Bool),
            (
                "certificateChainStatus",
                Kind::Obj(&[("valid", Kind::Bool), ("intermediatePinned", Kind::Bool), ("leafCertExpiry", Kind::Str)]),
            ),
        ]),
    ),
    ("signingAddressBinding", Kind::Obj(&[("bound", Kind::Bool), ("reportDataAddress", Kind::Str)])),
    ("nonceBinding", Kind::Obj(BOUND)),
    ("nvidiaNonceBinding", Kind::Obj(BOUND)),
    ("verifiedAt", Kind::Str),
    ("verificationDurationMs", Kind::Int),
];

/// Parses a decoded Venice answer.
pub(super) fn parse_value(value: &Value) -> Result<RawAttestation, Reason> {
    let map = json::top_object(value, "attestation response")?;
    let top = Fields::root(map);
    top.check(UNUSED)?;
    let info = dstack_info(&top, TcbEventLog::Flexible)?;
    let event_log = json::event_log_flexible(&top, "event_log")?;
    let available = top.count("candidates_available")?;
    let evaluated = top.count("candidates_evaluated")?;

    let mut raw = RawAttestation::empty(BackendFormat::Dstack);
    raw.nonce = top.str("nonce")?;
    raw.nonce_source = top.str("nonce_source")?;
    raw.intel_quote = top.str("intel_quote")?;
    raw.signing_key = top.str("signing_public_key")?;
    raw.signing_algo = top.str("signing_algo")?;
    raw.signing_address = top.str("signing_address")?;
    raw.nvidia_payload = top.str("nvidia_payload")?;
    raw.tee_hardware = top.str("tee_hardware")?;
    raw.upstream_model = top.str("upstream_model")?;
    raw.app_name = info.app_name;
    raw.compose_hash = info.compose_hash;
    raw.os_image_hash = info.os_image_hash;
    raw.device_id = info.device_id;
    raw.app_compose = info.app_compose;
    raw.candidates = (available > 0 || evaluated > 0).then_some((evaluated, available));
    raw.event_log_count = (!event_log.is_empty()).then_some(event_log.len());
    raw.event_log = event_log;
    raw.unknown_fields = json::unknown_keys(map, KNOWN);
    Ok(raw)
}
