//! NVIDIA GPU evidence (spec §8.1–8.4): the EAT document of dstack providers and the per-GPU
//! evidence list of the Chutes layout, verified offline against the pinned NVIDIA root.
//!
//! Per GPU, [`verify_gpu`] decodes the base64 PEM bundle and SPDM transcript (bounded sizes),
//! checks the certificate chain ([`chain::verify_chain`]), parses the GET_MEASUREMENTS
//! transcript ([`spdm::SpdmTranscript`]) and verifies its signature with the leaf key. The
//! requester nonce is returned, not judged: which nonce the GPUs must have signed (the client
//! nonce for an EAT, REPORTDATA\[0:32\] for Chutes evidence) is the caller's decision, made with
//! [`check_all`] and [`nonces_all_equal`]. Time is always a parameter.

pub mod chain;
pub mod eat;
pub mod root;
pub mod spdm;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

use base64::Engine as _;

pub use chain::{CertProblem, ChainError, SignatureCache, split_bundle, verify_chain};
pub use eat::{Eat, EatError, MAX_EAT_BYTES};
pub use root::{NVIDIA_DEVICE_ROOT_DER, NVIDIA_DEVICE_ROOT_SHA256, NvidiaAnchor};
pub use spdm::{SpdmError, SpdmTranscript};

/// A GPU leaf's public key (ECDSA P-384), as returned by [`verify_chain`].
pub type LeafKey = p384::ecdsa::VerifyingKey;

use crate::attestation::raw::GpuEvidence;

/// Most GPUs one attestation may carry (EAT list or Chutes list).
pub const MAX_GPUS: usize = 64;
/// Largest base64 certificate bundle accepted per GPU (observed: about 5.6 KB).
pub const MAX_CERTIFICATE_B64: usize = 64 * 1024;
/// Largest base64 SPDM transcript accepted per GPU (fits [`spdm::MAX_TRANSCRIPT_LEN`]).
pub const MAX_EVIDENCE_B64: usize = spdm::MAX_TRANSCRIPT_LEN / 3 * 4 + 4;

/// Why one GPU's evidence did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// The certificate field is larger than [`MAX_CERTIFICATE_B64`].
    #[error("certificate field is {0} bytes, limit 65536")]
    CertificateTooLarge(usize),
    /// The certificate field is not standard base64.
    #[error("base64 decode certificate: {0}")]
    CertificateBase64(String),
    /// The chain does not verify.
    #[error("cert chain verification: {0}")]
    Chain(#[from] ChainError),
    /// The evidence field is larger than [`MAX_EVIDENCE_B64`].
    #[error("evidence field is {len} bytes, limit {max}")]
    EvidenceTooLarge {
        /// Field length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The evidence field is not standard base64.
    #[error("base64 decode evidence: {0}")]
    EvidenceBase64(String),
    /// The SPDM transcript is malformed or its signature is bad.
    #[error("SPDM evidence: {0}")]
    Spdm(#[from] SpdmError),
}

/// One GPU's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuResult {
    /// The requester nonce of the SPDM request, when the transcript parsed (authentic only if
    /// `verified` is `Ok`).
    pub requester_nonce: Option<[u8; 32]>,
    /// Chain to the anchor and SPDM signature by the leaf key; `Ok` only if both verified.
    pub verified: Result<(), GpuError>,
}

/// Verifies one GPU's evidence: chain to `anchor` at `now_secs`, then the SPDM transcript's
/// structure and signature with the leaf key. The transcript is parsed even when the chain
/// fails, so the requester nonce is reported whenever it can be read.
pub fn verify_gpu(item: &GpuEvidence, anchor: &NvidiaAnchor, now_secs: u64, cache: &mut SignatureCache) -> GpuResult {
    let transcript = decode_evidence(&item.evidence);
    let parsed =
        transcript.as_ref().map_err(Clone::clone).and_then(|t| SpdmTranscript::parse(t).map_err(GpuError::from));
    let requester_nonce = parsed.as_ref().ok().map(|t| t.requester_nonce);
    let verified = leaf_key(&item.certificate, anchor, now_secs, cache)
        .and_then(|key| parsed.and_then(|t| t.verify_signature(&key).map_err(GpuError::from)));
    GpuResult { requester_nonce, verified }
}

/// Verifies every GPU of a list with one shared [`SignatureCache`]. At most [`MAX_GPUS`]
/// entries are verified; callers reject longer lists before (see [`check_all`]).
pub fn verify_gpus(items: &[GpuEvidence], anchor: &NvidiaAnchor, now_secs: u64) -> Vec<GpuResult> {
    let mut cache = SignatureCache::default();
    items.iter().take(MAX_GPUS).map(|item| verify_gpu(item, anchor, now_secs, &mut cache)).collect()
}

/// The first GPU (index, reason) that failed verification or whose requester nonce is not
/// `expected` (constant-time comparison); `None` when every GPU passed both. An empty list is
/// a failure.
pub fn check_all(results: &[GpuResult], expected: &[u8; 32]) -> Option<(usize, String)> {
    if results.is_empty() {
        return Some((0, "no GPU evidence".to_owned()));
    }
    results.iter().enumerate().find_map(|(i, r)| match (&r.verified, &r.requester_nonce) {
        (Err(e), _) => Some((i, e.to_string())),
        (Ok(()), None) => Some((i, "SPDM requester nonce unreadable".to_owned())),
        (Ok(()), Some(n)) if !nonce_eq(n, expected) => Some((i, mismatch(n, expected))),
        (Ok(()), Some(_)) => None,
    })
}

/// The first GPU (index, reason) whose requester nonce is unreadable or differs from
/// `expected` (constant time), regardless of signatures; `None` when all equal. An empty list
/// is a failure.
pub fn nonces_all_equal(results: &[GpuResult], expected: &[u8; 32]) -> Option<(usize, String)> {
    if results.is_empty() {
        return Some((0, "no GPU evidence".to_owned()));
    }
    results.iter().enumerate().find_map(|(i, r)| match &r.requester_nonce {
        None => Some((i, "SPDM requester nonce unreadable".to_owned())),
        Some(n) if !nonce_eq(n, expected) => Some((i, mismatch(n, expected))),
        Some(_) => None,
    })
}

fn nonce_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

fn mismatch(got: &[u8; 32], want: &[u8; 32]) -> String {
    format!("SPDM requester nonce mismatch: got {}, want {}", hex::encode(got), hex::encode(want))
}

fn decode_evidence(b64: &str) -> Result<Vec<u8>, GpuError> {
    if b64.len() > MAX_EVIDENCE_B64 {
        return Err(GpuError::EvidenceTooLarge { len: b64.len(), max: MAX_EVIDENCE_B64 });
    }
    base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| GpuError::EvidenceBase64(e.to_string()))
}

fn leaf_key(
    certificate_b64: &str,
    anchor: &NvidiaAnchor,
    now_secs: u64,
    cache: &mut SignatureCache,
) -> Result<LeafKey, GpuError> {
    if certificate_b64.len() > MAX_CERTIFICATE_B64 {
        return Err(GpuError::CertificateTooLarge(certificate_b64.len()));
    }
    let pem = base64::engine::general_purpose::STANDARD
        .decode(certificate_b64)
        .map_err(|e| GpuError::CertificateBase64(e.to_string()))?;
    let chain = split_bundle(&pem)?;
    Ok(verify_chain(&chain, anchor, now_secs, cache)?)
}
