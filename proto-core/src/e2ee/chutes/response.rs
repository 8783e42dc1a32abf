//! The client's half of one attempt: the ephemeral key that alone can read the answer.

use super::keys::ResponseKeyPair;
use super::primitives::{Label, gunzip_bounded, open};
use super::stream::StreamDecryptor;
use super::{E2eeError, KEM_CT_LEN, MAX_DECOMPRESSED, MAX_RESPONSE_BODY, MIN_BLOB_LEN};

/// Holds the ephemeral response key pair of one request attempt. Single use: decrypting
/// consumes it, and dropping it zeroizes the decapsulation key.
#[derive(Debug)]
pub struct ResponseSession {
    keys: ResponseKeyPair,
    stream: bool,
}

impl ResponseSession {
    pub(crate) fn new(keys: ResponseKeyPair, stream: bool) -> Self {
        Self { keys, stream }
    }

    /// Whether the request asked for a stream (then use [`ResponseSession::into_stream`]).
    pub fn expects_stream(&self) -> bool {
        self.stream
    }

    /// The ephemeral public key sent inside the request (base64).
    pub fn response_public_key(&self) -> &str {
        self.keys.public_b64()
    }

    /// Decrypts a non-streaming body `kem_ct(1088) ‖ nonce(12) ‖ ct ‖ tag(16)`: decapsulates
    /// with the ephemeral key, derives the `e2e-resp-v1` key, opens, and gunzips (at most
    /// [`MAX_DECOMPRESSED`] bytes). Fails on a body shorter than [`MIN_BLOB_LEN`] or longer than
    /// [`MAX_RESPONSE_BODY`], on a body made for another key, on any changed byte and on bad
    /// gzip; never returns undecrypted bytes.
    pub fn decrypt_body(self, blob: &[u8]) -> Result<Vec<u8>, E2eeError> {
        if blob.len() < MIN_BLOB_LEN {
            return Err(E2eeError::Malformed(format!(
                "response blob of {} bytes is shorter than {MIN_BLOB_LEN}",
                blob.len()
            )));
        }
        if blob.len() > MAX_RESPONSE_BODY {
            return Err(E2eeError::Limit(format!(
                "response blob exceeds {MAX_RESPONSE_BODY} bytes"
            )));
        }
        let (kem_ct, sealed) = blob.split_at(KEM_CT_LEN);
        let key = self.keys.decapsulate(kem_ct, Label::Response)?;
        let mut compressed = open(&key, sealed)?;
        let plain = gunzip_bounded(&compressed, MAX_DECOMPRESSED);
        zeroize::Zeroize::zeroize(&mut compressed);
        plain
    }

    /// Turns the session into an incremental decryptor of the SSE answer.
    pub fn into_stream(self) -> StreamDecryptor {
        StreamDecryptor::new(self.keys)
    }
}
