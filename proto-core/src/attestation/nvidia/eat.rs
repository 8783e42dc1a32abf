//! The NVIDIA EAT document dstack-based providers send as `nvidia_payload` (spec §8.1):
//! `{"arch", "nonce", "evidence_list": [{"arch", "certificate", "evidence"}, …]}`.
//!
//! [`Eat::parse`] is bounded (payload size, GPU count) and strict about types; unknown keys are
//! ignored, as by the reference. Nothing here is verified: see [`super::verify_gpus`].

use super::MAX_GPUS;
use crate::attestation::raw::GpuEvidence;

/// Largest EAT payload accepted, in bytes (observed: about 12 KB per Hopper GPU).
pub const MAX_EAT_BYTES: usize = 2 * 1024 * 1024;

/// Why a payload is not a usable EAT document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EatError {
    /// The payload does not start with `{` (e.g. a JWT; not supported).
    #[error("NVIDIA payload is not EAT JSON (starts with {0:?})")]
    NotJson(String),
    /// Larger than [`MAX_EAT_BYTES`].
    #[error("EAT payload is {len} bytes, limit {max}")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not valid JSON of the expected shape.
    #[error("EAT JSON parse failed: {0}")]
    Json(String),
    /// `evidence_list` is empty or absent.
    #[error("EAT evidence_list is empty")]
    Empty,
    /// More than [`MAX_GPUS`] entries.
    #[error("EAT evidence_list has {count} entries, limit {max}")]
    TooManyGpus {
        /// Entries found.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// A parsed EAT document (unverified).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Eat {
    /// GPU architecture as reported, e.g. `HOPPER` (reported, never validated).
    #[serde(default)]
    pub arch: String,
    /// The nonce the EAT claims to answer, hex as received.
    #[serde(default)]
    pub nonce: String,
    /// One entry per GPU, 1..=[`MAX_GPUS`] of them.
    #[serde(default)]
    pub evidence_list: Vec<GpuEvidence>,
}

impl Eat {
    /// Parses an EAT payload. Fails when the payload does not start with `{`, is larger than
    /// [`MAX_EAT_BYTES`], is not JSON of the documented shape (wrong types included), or has an
    /// empty or oversized `evidence_list`.
    pub fn parse(payload: &str) -> Result<Eat, EatError> {
        if !payload.starts_with('{') {
            return Err(EatError::NotJson(payload.chars().take(10).collect()));
        }
        if payload.len() > MAX_EAT_BYTES {
            return Err(EatError::TooLarge { len: payload.len(), max: MAX_EAT_BYTES });
        }
        let eat: Eat = serde_json::from_str(payload).map_err(|e| EatError::Json(e.to_string()))?;
        if eat.evidence_list.is_empty() {
            return Err(EatError::Empty);
        }
        if eat.evidence_list.len() > MAX_GPUS {
            return Err(EatError::TooManyGpus { count: eat.evidence_list.len(), max: MAX_GPUS });
        }
        Ok(eat)
    }
}
