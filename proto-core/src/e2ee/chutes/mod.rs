//! Chutes end-to-end encryption: ML-KEM-768 + HKDF-SHA256 + ChaCha20-Poly1305, whole body.
//!
//! The client encapsulates to the instance key that attestation bound into the TDX quote
//! ([`InstanceKey`], validated per FIPS 203 before use), derives a request key with HKDF
//! (salt = first 16 bytes of the KEM ciphertext, info = a per-direction label), and seals
//! `gzip(body + {"e2e_response_pk": ...})`. The answer comes back encapsulated to a fresh
//! ephemeral key pair ([`ResponseSession`]) whose public half travelled *inside* the encrypted
//! request, so only the attested enclave could have learned it: a response produced by anyone
//! else fails authentication. Non-streaming answers are one gzip'd blob; streaming answers are
//! SSE events (`e2e_init`, then one `e2e` per upstream chunk), decrypted incrementally by
//! [`StreamDecryptor`].
//!
//! Everything here is sans-IO: randomness comes from the caller's [`rand_core::CryptoRng`], and
//! every secret (ephemeral decapsulation key, shared secrets, derived keys) is zeroized on drop.
//! The server role (what the instance's enclave does) is in the `sim` submodule (tests and the `harness` feature).
//!
//! Failure is typed ([`crate::e2ee::E2eeError`]) and closed: a wrong or malformed key, a short
//! blob, a failed tag, bad gzip, a chunk before `e2e_init`, a second `e2e_init`, a repeated AEAD
//! nonce, a plaintext event where ciphertext is required, and a stream that ends without its
//! authenticated `[DONE]` chunk all fail, and nothing after the failing point is released.
//!
//! Protocol limit (not fixable client-side): stream chunks carry no sequence number, so a
//! platform in the middle can drop or reorder whole `e2e` events undetected; it cannot alter,
//! forge or replay one (replays are caught by the nonce check), and it cannot drop the final
//! `[DONE]` chunk without the stream failing.

mod invoke;
mod keys;
pub mod primitives;
mod request;
mod response;
mod stream;

#[cfg(any(test, feature = "harness"))]
pub mod sim;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

pub use invoke::{
    AttemptMaterial, E2E_INVOKE_PATH, InvokeRequest, MAX_HEADER_TOKEN_LEN, PlatformBase,
    build_invoke,
};
pub use keys::{InstanceKey, ResponseKeyPair};
pub use request::{EncryptedRequest, Endpoint, encrypt_request};
pub use response::ResponseSession;
pub use stream::{StreamDecryptor, StreamSummary};

use super::E2eeError;

/// Length of an ML-KEM-768 encapsulation key, in bytes.
pub const EK_LEN: usize = 1184;
/// Length of an ML-KEM-768 ciphertext, in bytes.
pub const KEM_CT_LEN: usize = 1088;
/// Length of the ChaCha20-Poly1305 nonce that prefixes every sealed payload.
pub const NONCE_LEN: usize = 12;
/// Length of the Poly1305 tag that ends every sealed payload.
pub const TAG_LEN: usize = 16;
/// Shortest non-streaming blob: KEM ciphertext, nonce and tag around an empty payload.
pub const MIN_BLOB_LEN: usize = KEM_CT_LEN + NONCE_LEN + TAG_LEN;
/// Largest non-streaming response body read from the platform (10 MiB).
pub const MAX_RESPONSE_BODY: usize = 10 << 20;
/// Largest decompressed payload accepted (10 MiB); a longer one fails rather than being cut.
pub const MAX_DECOMPRESSED: usize = 10 << 20;
/// Largest client request body accepted for encryption (50 MiB).
pub const MAX_REQUEST_BODY: usize = 50 << 20;
/// Largest SSE event (all its lines) in an encrypted stream (1 MiB, the reference's line limit).
pub const MAX_SSE_EVENT: usize = 1 << 20;
/// Most events accepted in one stream (bounds the replay-detection memory).
pub const MAX_STREAM_EVENTS: usize = 1 << 21;

/// How the request machine should treat a failure from this module (the reference's split).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The answer could not be decrypted or authenticated: mark the instance failed and, if
    /// nothing was written to the client yet, retry elsewhere.
    Decryption,
    /// The stream itself broke (an event over [`MAX_SSE_EVENT`]): not retried.
    Relay,
}

/// Classifies an error from [`ResponseSession`] or [`StreamDecryptor`]. Only an oversized
/// event is a relay failure; everything else is a decryption failure.
pub fn failure_kind(error: &E2eeError) -> FailureKind {
    match error {
        E2eeError::Chunk { source, .. } => failure_kind(source),
        E2eeError::Limit(_) => FailureKind::Relay,
        _ => FailureKind::Decryption,
    }
}
