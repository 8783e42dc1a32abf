//! Request construction: add the response key to the client's JSON, gzip, seal to the
//! attested instance key.

use std::collections::BTreeMap;

use rand_core::CryptoRng;
use serde_json::value::RawValue;
use zeroize::Zeroize;

use super::keys::{InstanceKey, ResponseKeyPair};
use super::primitives::{Label, gzip, seal};
use super::response::ResponseSession;
use super::{E2eeError, MAX_REQUEST_BODY};

/// The member that carries the client's response key inside the encrypted request.
pub(crate) const RESPONSE_PK_FIELD: &str = "e2e_response_pk";

/// The OpenAI endpoint the instance should dispatch the decrypted request to (`X-E2E-Path`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/chat/completions` (streaming follows the body's `stream`).
    ChatCompletions,
    /// `/v1/embeddings` (never streamed).
    Embeddings,
}

impl Endpoint {
    /// The public path sent as `X-E2E-Path`.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Embeddings => "/v1/embeddings",
        }
    }
}

/// The encrypted request body and whether its answer will be a stream.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedRequest {
    /// `kem_ct(1088) ‖ nonce(12) ‖ ChaCha20-Poly1305(gzip(JSON)) ‖ tag(16)`.
    pub body: Vec<u8>,
    /// The body's boolean `stream` (absent = false); sent as `X-E2E-Stream`.
    pub stream: bool,
}

impl std::fmt::Debug for EncryptedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedRequest")
            .field("body_len", &self.body.len())
            .field("stream", &self.stream)
            .finish()
    }
}

/// Encrypts a client request body to the attested `instance` key.
///
/// `body` must be a JSON object of at most [`MAX_REQUEST_BODY`] bytes; its `stream` member,
/// if present, must be a boolean (and not `true` for embeddings). The member
/// `e2e_response_pk` is set to a fresh ephemeral key (overwriting any client value); keys are
/// re-serialised sorted, duplicates collapse to the last, values are kept verbatim. Draws
/// 64 + 32 + 12 bytes from `rng` (key-pair seed, encapsulation randomness, AEAD nonce), in
/// that order. The returned session holds the only key that can read the answer.
pub fn encrypt_request<R: CryptoRng + ?Sized>(
    body: &[u8],
    instance: &InstanceKey,
    endpoint: Endpoint,
    rng: &mut R,
) -> Result<(EncryptedRequest, ResponseSession), E2eeError> {
    if body.len() > MAX_REQUEST_BODY {
        return Err(E2eeError::Limit(format!(
            "request body exceeds {MAX_REQUEST_BODY} bytes"
        )));
    }
    let mut members: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(body)
        .map_err(|e| E2eeError::BadBody(format!("request body is not a JSON object: {e}")))?;
    let stream = stream_flag(&members, endpoint)?;

    let keys = ResponseKeyPair::generate(rng);
    let (kem_ct, key) = instance.encapsulate(Label::Request, rng)?;

    let pk = serde_json::to_string(keys.public_b64())
        .and_then(RawValue::from_string)
        .map_err(|e| E2eeError::BadBody(format!("response key encoding: {e}")))?;
    members.insert(RESPONSE_PK_FIELD.to_owned(), pk);
    let mut json = serde_json::to_vec(&members)
        .map_err(|e| E2eeError::BadBody(format!("request re-serialisation: {e}")))?;
    let mut compressed = gzip(&json);
    json.zeroize();
    let sealed = seal(&key, &compressed, rng);
    compressed.zeroize();
    let sealed = sealed?;

    let mut out = Vec::with_capacity(kem_ct.len() + sealed.len());
    out.extend_from_slice(&kem_ct);
    out.extend_from_slice(&sealed);
    Ok((
        EncryptedRequest { body: out, stream },
        ResponseSession::new(keys, stream),
    ))
}

/// The body's `stream` flag: absent or `false` → false, `true` → true, anything else fails.
fn stream_flag(
    members: &BTreeMap<String, Box<RawValue>>,
    endpoint: Endpoint,
) -> Result<bool, E2eeError> {
    let stream = match members.get("stream").map(|v| v.get()) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            let shown: String = other.chars().take(32).collect();
            return Err(E2eeError::BadBody(format!(
                "`stream` must be a boolean, got {shown}"
            )));
        }
    };
    if stream && endpoint == Endpoint::Embeddings {
        return Err(E2eeError::BadBody("embeddings cannot be streamed".into()));
    }
    Ok(stream)
}
