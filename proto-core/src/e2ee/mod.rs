//! End-to-end encryption of prompts and answers, sans-IO.
//!
//! Each provider family lives in its own module. Every decryptor takes the key that attestation
//! verified as a value and fails closed: a body encrypted to or by any other key, a chunk that
//! fails authentication, a stream that ends without its terminator, or a plaintext field where
//! an encrypted one is required is an [`E2eeError`], never passed through.

pub mod chutes;
pub mod near;
pub mod venice;

/// Why an E2EE operation failed. Every variant is a hard failure: nothing is released.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum E2eeError {
    /// A key (attested, ephemeral or peer) has the wrong length, encoding or is not on the curve.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A ciphertext is malformed (bad hex/base64, too short, wrong structure).
    #[error("malformed ciphertext: {0}")]
    Malformed(String),
    /// An authenticated decryption failed (wrong key, tampered byte, wrong nonce).
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// A field that must be encrypted arrived in plaintext (no plaintext fallback).
    #[error("plaintext where ciphertext required: {0}")]
    Plaintext(String),
    /// The request or response body is not the JSON shape the scheme requires.
    #[error("bad body: {0}")]
    BadBody(String),
    /// A nonce or ephemeral key was reused within one session or stream.
    #[error("replay: {0}")]
    Replay(String),
    /// The stream ended before its terminator, or continued after it.
    #[error("stream: {0}")]
    Stream(String),
    /// A bound (size, count, depth) was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A stream chunk at the given index failed; everything after it is withheld.
    #[error("chunk {index}: {source}")]
    Chunk {
        /// Zero-based index of the failing SSE event.
        index: usize,
        /// What went wrong with it.
        source: Box<E2eeError>,
    },
}

/// Opens the encrypted string fields of one response, bound to one client session (whose
/// private key answers only to the key attestation verified).
pub trait FieldOpener {
    /// True if `s` has the shape of this scheme's ciphertext (hex, long enough, prefix).
    fn looks_encrypted(&self, s: &str) -> bool;
    /// Decrypts `s`. Fails on malformed input, a wrong key, any tampered bit, or an
    /// (ephemeral key, nonce) pair already opened in this session (a replayed field).
    fn open(&mut self, s: &str) -> Result<Vec<u8>, E2eeError>;
}

/// What a completed, fully authenticated stream contained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamSummary {
    /// Number of `data:` events before the terminator.
    pub events: usize,
    /// Number of fields decrypted.
    pub decrypted_fields: usize,
}

/// An incremental decryptor of an encrypted SSE response body.
///
/// `push` appends the plaintext events (complete SSE text, `data: …\n\n`) that became
/// available, in order; on the first failure it returns the error and releases nothing
/// more, ever (errors are sticky). `finish` succeeds only if the stream ended cleanly with
/// its terminator.
pub trait StreamDecryptor {
    /// Feeds body bytes split at any boundary.
    fn push(&mut self, bytes: &[u8], out: &mut Vec<String>) -> Result<(), E2eeError>;
    /// Declares the end of the body.
    fn finish(&mut self) -> Result<StreamSummary, E2eeError>;
}
