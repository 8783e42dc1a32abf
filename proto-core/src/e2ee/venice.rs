//! Venice E2EE (spec §6–§7): chat `messages[].content` encrypted to the attested secp256k1
//! model key with per-field ECIES ([`ecies`]); the answer streamed back with every content
//! field encrypted to a fresh per-request client key and opened by [`relay`].
//!
//! Field coverage follows teep's latest version where it differs from the seed: a non-chat
//! endpoint is refused, a non-string `content` in a response is an error. Beyond latest (and
//! fail-closed): `reasoning_content`, `reasoning` and `audio.data` must also be ciphertext,
//! every choice is examined, and a stream must end with `data: [DONE]`.

pub mod ecies;
pub mod relay;
#[cfg(any(test, feature = "harness"))]
pub mod server;
#[cfg(test)]
mod tests;

use rand_core::CryptoRng;
use serde_json::{Map, Value};

pub use ecies::{ClientSession, ModelKey};

use crate::e2ee::E2eeError;

/// Largest request body the transforms accept.
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// The upstream chat path.
pub const CHAT_PATH: &str = "/api/v1/chat/completions";

/// Header carrying the client's per-request public key.
pub const HEADER_CLIENT_KEY: &str = "X-Venice-Tee-Client-Pub-Key";
/// Header carrying the attested model key, verbatim.
pub const HEADER_MODEL_KEY: &str = "X-Venice-Tee-Model-Pub-Key";
/// Header naming the signing algorithm (`ecdsa`).
pub const HEADER_SIGNING_ALGO: &str = "X-Venice-Tee-Signing-Algo";

/// An encrypted request ready to send, and the session that alone can open its answer.
#[derive(Debug)]
pub struct EncryptedRequest<S> {
    /// The upstream JSON body (`stream` forced to `true` for chat).
    pub body: Vec<u8>,
    /// E2EE headers to add to the upstream request.
    pub headers: Vec<(&'static str, String)>,
    /// The client session that decrypts the response.
    pub session: S,
}

/// Parses a request body as a JSON object, bounded in size.
pub(crate) fn parse_object(body: &[u8], what: &str) -> Result<Map<String, Value>, E2eeError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(E2eeError::Limit(format!(
            "{what} body over {MAX_REQUEST_BYTES} bytes"
        )));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(E2eeError::BadBody(format!(
            "parse body for {what}: not a JSON object"
        ))),
        Err(e) => Err(E2eeError::BadBody(format!("parse body for {what}: {e}"))),
    }
}

/// The bytes to encrypt for one message `content`: `None` for null (kept as null), the UTF-8
/// of a string, the compact JSON text of a content-part array; any other type is refused.
pub(crate) fn content_plaintext(v: &Value, i: usize) -> Result<Option<Vec<u8>>, E2eeError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.as_bytes().to_vec())),
        Value::Array(_) => Ok(Some(v.to_string().into_bytes())),
        other => {
            let start = other.to_string().chars().next().unwrap_or(' ');
            Err(E2eeError::BadBody(format!(
                "message {i}: unsupported content type (starts with '{start}')"
            )))
        }
    }
}

/// Walks `messages`: missing → error, `null` → nothing, not an array → error; each element
/// must be an object or null. Calls `f(index, message)` on every object.
pub(crate) fn for_each_message(
    body: &mut Map<String, Value>,
    what: &str,
    mut f: impl FnMut(usize, &mut Map<String, Value>) -> Result<(), E2eeError>,
) -> Result<(), E2eeError> {
    let msgs = match body.get_mut("messages") {
        None => {
            return Err(E2eeError::BadBody(format!(
                "parse messages for {what}: missing"
            )));
        }
        Some(Value::Null) => return Ok(()),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(E2eeError::BadBody(format!(
                "parse messages for {what}: not an array"
            )));
        }
    };
    for (i, m) in msgs.iter_mut().enumerate() {
        match m {
            Value::Null => {}
            Value::Object(m) => f(i, m)?,
            _ => {
                return Err(E2eeError::BadBody(format!(
                    "parse messages for {what}: element {i} is not an object"
                )));
            }
        }
    }
    Ok(())
}

/// Encrypts a chat request for Venice (§6.3): every `messages[].content` (string or
/// content-part array) becomes ECIES ciphertext to `model`; `null`/absent content is kept;
/// any other content type, a non-object body, missing or non-array `messages` is an error;
/// `stream` is forced to `true`. A fresh client session is drawn from `rng`.
pub fn encrypt_chat_request(
    body: &[u8],
    model: &ModelKey,
    rng: &mut impl CryptoRng,
) -> Result<EncryptedRequest<ClientSession>, E2eeError> {
    let what = "venice E2EE";
    let mut obj = parse_object(body, what)?;
    let session = ClientSession::generate(rng);
    for_each_message(&mut obj, what, |i, m| {
        let Some(v) = m.get("content") else {
            return Ok(());
        };
        if let Some(plain) = content_plaintext(v, i)? {
            m.insert(
                "content".into(),
                Value::String(ecies::seal(&plain, model.public_key(), rng)?),
            );
        }
        Ok(())
    })?;
    obj.insert("stream".into(), Value::Bool(true));
    Ok(EncryptedRequest {
        body: Value::Object(obj).to_string().into_bytes(),
        headers: vec![
            (HEADER_CLIENT_KEY, session.public_hex()),
            (HEADER_MODEL_KEY, model.as_hex().to_owned()),
            (HEADER_SIGNING_ALGO, "ecdsa".to_owned()),
        ],
        session,
    })
}

/// Like [`encrypt_chat_request`], but refuses any path other than the chat endpoint
/// (teep latest: `venice E2EE unsupported endpoint "<path>"`).
pub fn encrypt_request(
    path: &str,
    body: &[u8],
    model: &ModelKey,
    rng: &mut impl CryptoRng,
) -> Result<EncryptedRequest<ClientSession>, E2eeError> {
    if path != CHAT_PATH && path != "/v1/chat/completions" {
        return Err(E2eeError::BadBody(format!(
            "venice E2EE unsupported endpoint {path:?}"
        )));
    }
    encrypt_chat_request(body, model, rng)
}

/// A streaming decryptor for a Venice chat answer, bound to `session`.
pub fn stream_decryptor(session: ClientSession) -> relay::SseDecryptor<ClientSession> {
    relay::SseDecryptor::new(session, relay::Policy::Venice)
}

/// Decrypts a complete Venice SSE answer and reassembles the `chat.completion` object a
/// non-streaming client asked for. Fails closed on any error of the stream or reassembly.
pub fn decrypt_to_completion(body: &[u8], session: ClientSession) -> Result<Value, E2eeError> {
    let (events, _) = relay::decrypt_stream(body, session, relay::Policy::Venice)?;
    relay::reassemble(&events)
}
