//! The SPDM 1.1 GET_MEASUREMENTS transcript a GPU returns (spec §8.3): the 37-byte request the
//! verifier's side sent (with the requester nonce) followed by the GPU's MEASUREMENTS response,
//! signed by the GPU's leaf key.
//!
//! [`SpdmTranscript::parse`] walks the layout with a bounds check at every step and never reads
//! past the input; [`SpdmTranscript::verify_signature`] checks the ECDSA P-384 signature over
//! SHA-384 of the request and the response up to the signature.

use p384::ecdsa::signature::Verifier as _;
use p384::ecdsa::{Signature, VerifyingKey};
use subtle::ConstantTimeEq;

/// SPDM version byte of version 1.1.
pub const SPDM_VERSION_11: u8 = 0x11;
/// Request code of GET_MEASUREMENTS.
pub const GET_MEASUREMENTS: u8 = 0xE0;
/// Response code of MEASUREMENTS.
pub const MEASUREMENTS: u8 = 0x60;
/// Length of a GET_MEASUREMENTS request with a nonce and a slot id.
pub const REQUEST_LEN: usize = 37;
/// Length of a raw ECDSA P-384 signature (`r ‖ s`, 48 bytes each).
pub const SIGNATURE_LEN: usize = 96;
/// Shortest transcript the reference accepts (request plus ten bytes).
pub const MIN_TRANSCRIPT_LEN: usize = REQUEST_LEN + 10;
/// Largest transcript accepted (observed: 4266 bytes; the 24-bit record length allows 16 MiB).
pub const MAX_TRANSCRIPT_LEN: usize = 64 * 1024;

/// Fixed response header before the measurement record: version, code, two parameters, number
/// of blocks, 24-bit record length.
const RESPONSE_HEADER_LEN: usize = 8;
/// Length of the responder nonce.
const NONCE_LEN: usize = 32;

/// Why a transcript is not a well-formed signed GET_MEASUREMENTS exchange, or its signature is bad.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpdmError {
    /// Shorter than [`MIN_TRANSCRIPT_LEN`].
    #[error("evidence too short: {0} bytes")]
    TooShort(usize),
    /// Longer than [`MAX_TRANSCRIPT_LEN`].
    #[error("evidence too long: {len} bytes (limit {max})")]
    TooLong {
        /// The length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The request is not SPDM 1.1.
    #[error("request SPDM version 0x{0:02x}, expected 0x11")]
    RequestVersion(u8),
    /// The request is not GET_MEASUREMENTS.
    #[error("request code 0x{0:02x}, expected 0xe0 (GET_MEASUREMENTS)")]
    RequestCode(u8),
    /// The response is not SPDM 1.1.
    #[error("response SPDM version 0x{0:02x}, expected 0x11")]
    ResponseVersion(u8),
    /// The response is not MEASUREMENTS.
    #[error("response code 0x{0:02x}, expected 0x60 (MEASUREMENTS)")]
    ResponseCode(u8),
    /// The response ends inside the named field.
    #[error("response truncated in {field}: needs {needed} bytes at offset {offset}, has {len}")]
    Truncated {
        /// Which field.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Its offset in the response.
        offset: usize,
        /// Response length.
        len: usize,
    },
    /// The signature bytes are not a valid P-384 signature (e.g. r or s zero or ≥ n).
    #[error("signature is not a valid ECDSA P-384 signature")]
    MalformedSignature,
    /// The signature does not verify with the leaf key.
    #[error("ECDSA P-384 signature verification failed")]
    BadSignature,
}

/// A parsed transcript: borrowed views into the evidence bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpdmTranscript<'a> {
    /// The requester nonce (request bytes 4..36): what the GPU was asked to sign.
    pub requester_nonce: [u8; 32],
    /// Length of the measurement record.
    pub measurement_record_len: usize,
    /// Length of the opaque data.
    pub opaque_len: usize,
    /// The signed bytes: request and response up to, not including, the signature.
    pub signed: &'a [u8],
    /// The raw `r ‖ s` signature.
    pub signature: &'a [u8],
    /// Bytes after the signature (ignored, as by the reference).
    pub trailing: usize,
}

impl<'a> SpdmTranscript<'a> {
    /// Parses a request-plus-response transcript. Checks lengths, versions and message codes,
    /// and walks measurement record, responder nonce, opaque data and signature with bounds
    /// checks; never panics.
    pub fn parse(evidence: &'a [u8]) -> Result<SpdmTranscript<'a>, SpdmError> {
        if evidence.len() < MIN_TRANSCRIPT_LEN {
            return Err(SpdmError::TooShort(evidence.len()));
        }
        if evidence.len() > MAX_TRANSCRIPT_LEN {
            return Err(SpdmError::TooLong { len: evidence.len(), max: MAX_TRANSCRIPT_LEN });
        }
        let (request, response) = evidence.split_at(REQUEST_LEN);
        if request[0] != SPDM_VERSION_11 {
            return Err(SpdmError::RequestVersion(request[0]));
        }
        if request[1] != GET_MEASUREMENTS {
            return Err(SpdmError::RequestCode(request[1]));
        }
        let mut requester_nonce = [0u8; 32];
        requester_nonce.copy_from_slice(&request[4..36]);
        if response[0] != SPDM_VERSION_11 {
            return Err(SpdmError::ResponseVersion(response[0]));
        }
        if response[1] != MEASUREMENTS {
            return Err(SpdmError::ResponseCode(response[1]));
        }
        let mut cursor = Cursor { data: response, offset: 0 };
        let header = cursor.take("response header", RESPONSE_HEADER_LEN)?;
        let measurement_record_len =
            usize::from(header[5]) | usize::from(header[6]) << 8 | usize::from(header[7]) << 16;
        cursor.take("measurement record", measurement_record_len)?;
        cursor.take("responder nonce", NONCE_LEN)?;
        let opaque = cursor.take("opaque length", 2)?;
        let opaque_len = usize::from(u16::from_le_bytes([opaque[0], opaque[1]]));
        cursor.take("opaque data", opaque_len)?;
        let signed_len = REQUEST_LEN + cursor.offset;
        let signature = cursor.take("signature", SIGNATURE_LEN)?;
        Ok(SpdmTranscript {
            requester_nonce,
            measurement_record_len,
            opaque_len,
            signed: &evidence[..signed_len],
            signature,
            trailing: response.len() - cursor.offset,
        })
    }

    /// Verifies the signature: ECDSA P-384 over SHA-384 of [`SpdmTranscript::signed`] with `key`.
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), SpdmError> {
        let signature = Signature::from_slice(self.signature).map_err(|_| SpdmError::MalformedSignature)?;
        key.verify(self.signed, &signature).map_err(|_| SpdmError::BadSignature)
    }

    /// True if the requester nonce equals `expected` (constant time).
    pub fn nonce_matches(&self, expected: &[u8; 32]) -> bool {
        bool::from(self.requester_nonce.ct_eq(expected))
    }
}

/// A bounds-checked reader over the response.
struct Cursor<'a> {
    data: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, field: &'static str, needed: usize) -> Result<&'a [u8], SpdmError> {
        let truncated = SpdmError::Truncated { field, needed, offset: self.offset, len: self.data.len() };
        let end = self.offset.checked_add(needed).ok_or(truncated.clone())?;
        let bytes = self.data.get(self.offset..end).ok_or(truncated)?;
        self.offset = end;
        Ok(bytes)
    }
}
