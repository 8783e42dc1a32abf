//! NVIDIA Remote Attestation Service requests (`attestation-core.md` §8.5,
//! `capture-replay.md` §4.2 "Request bodies").

use super::{MIB, PlannedRequest, gojson};
use crate::attestation::{GpuEvidence, RawAttestation};

/// `POST` target for GPU evidence.
pub const NRAS_ATTEST_URL: &str = "https://nras.attestation.nvidia.com/v3/attest/gpu";
/// NRAS signing keys (`GET`, sent once per run after the attest call; teep caches it 1 h).
pub const NRAS_JWKS_URL: &str = "https://nras.attestation.nvidia.com/.well-known/jwks.json";
/// Largest NRAS / JWKS response body teep reads (1 MiB).
pub const NRAS_MAX_BODY: u64 = MIB;

/// The NRAS request body for an attestation, or `None` when teep sends nothing (online mode
/// assumed; teep sends nothing offline either):
///
/// * `nvidia_payload` starting with `{` (dstack and NEAR EAT documents) → the payload bytes
///   **verbatim** — never re-serialised (NanoGPT's payload has spaces after colons);
/// * otherwise, non-empty `gpu_evidence` (Chutes layout) → [`synthesized_eat`] with the
///   record's `nonce` exactly as stored (the client nonce hex for Chutes, the server's nonce
///   for gateway-wrapped Chutes);
/// * otherwise `None`.
pub fn nras_request_body(raw: &RawAttestation) -> Option<Vec<u8>> {
    if raw.nvidia_payload.starts_with('{') {
        Some(raw.nvidia_payload.as_bytes().to_vec())
    } else if !raw.gpu_evidence.is_empty() {
        Some(synthesized_eat(&raw.gpu_evidence, &raw.nonce))
    } else {
        None
    }
}

/// teep's EAT envelope for per-GPU evidence, Go-marshalled:
/// `{"arch":<first GPU's arch>,"nonce":<nonce>,"evidence_list":[{"arch":…,"certificate":…,"evidence":…},…]}`
/// — keys in exactly this order, no whitespace, strings escaped as Go does. `arch` is empty
/// when `evidence` is.
pub fn synthesized_eat(evidence: &[GpuEvidence], nonce: &str) -> Vec<u8> {
    let mut out =
        String::with_capacity(64 + evidence.iter().map(|e| e.certificate.len() + e.evidence.len() + 64).sum::<usize>());
    out.push_str("{\"arch\":");
    gojson::write_string(&mut out, evidence.first().map_or("", |e| e.arch.as_str()));
    out.push_str(",\"nonce\":");
    gojson::write_string(&mut out, nonce);
    out.push_str(",\"evidence_list\":[");
    for (i, e) in evidence.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"arch\":");
        gojson::write_string(&mut out, &e.arch);
        out.push_str(",\"certificate\":");
        gojson::write_string(&mut out, &e.certificate);
        out.push_str(",\"evidence\":");
        gojson::write_string(&mut out, &e.evidence);
        out.push('}');
    }
    out.push_str("]}");
    out.into_bytes()
}

/// The NRAS attest request (`Content-Type` and `Accept: application/json`), or `None` as in
/// [`nras_request_body`].
pub fn nras_attest_request(raw: &RawAttestation) -> Option<PlannedRequest> {
    let mut req = PlannedRequest::post_json(NRAS_ATTEST_URL.to_owned(), nras_request_body(raw)?, NRAS_MAX_BODY);
    req.headers.push(("Accept".to_owned(), "application/json".to_owned()));
    Some(req)
}

/// The JWKS request.
pub fn nras_jwks_request() -> PlannedRequest {
    PlannedRequest::get(NRAS_JWKS_URL.to_owned(), NRAS_MAX_BODY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::BackendFormat;

    fn gpu(arch: &str, cert: &str, ev: &str) -> GpuEvidence {
        GpuEvidence { certificate: cert.to_owned(), evidence: ev.to_owned(), arch: arch.to_owned() }
    }

    #[test]
    fn eat_payload_is_sent_verbatim() {
        let mut raw = RawAttestation::empty(BackendFormat::Dstack);
        raw.nvidia_payload = "{\"nonce\": \"ab\", \"evidence_list\": []}".to_owned();
        raw.gpu_evidence.push(gpu("HOPPER", "c", "e")); // ignored: the payload wins
        assert_eq!(nras_request_body(&raw).unwrap(), raw.nvidia_payload.as_bytes());
        let req = nras_attest_request(&raw).unwrap();
        assert_eq!(req.url, NRAS_ATTEST_URL);
        assert!(req.headers.iter().any(|(k, v)| k == "Accept" && v == "application/json"));
    }

    #[test]
    fn gpu_evidence_is_synthesized() {
        let mut raw = RawAttestation::empty(BackendFormat::Chutes);
        raw.nonce = "00ff".to_owned();
        raw.nvidia_payload = "not json".to_owned(); // not a '{' payload: falls through
        raw.gpu_evidence = vec![gpu("HOPPER", "Y2VydA==", "ZXY+/w=="), gpu("BLACKWELL", "<&>", "x")];
        assert_eq!(
            String::from_utf8(nras_request_body(&raw).unwrap()).unwrap(),
            concat!(
                r#"{"arch":"HOPPER","nonce":"00ff","evidence_list":["#,
                r#"{"arch":"HOPPER","certificate":"Y2VydA==","evidence":"ZXY+/w=="},"#,
                r#"{"arch":"BLACKWELL","certificate":"\u003c\u0026\u003e","evidence":"x"}]}"#
            )
        );
    }

    #[test]
    fn nothing_to_send() {
        let raw = RawAttestation::empty(BackendFormat::Dstack);
        assert_eq!(nras_request_body(&raw), None);
        assert!(nras_attest_request(&raw).is_none());
        assert_eq!(synthesized_eat(&[], "n"), br#"{"arch":"","nonce":"n","evidence_list":[]}"#);
        assert_eq!(nras_jwks_request().url, NRAS_JWKS_URL);
    }
}
