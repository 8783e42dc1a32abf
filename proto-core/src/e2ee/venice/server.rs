//! SERVER ROLE (tests, simulated providers, interop): what the provider's enclave does —
//! open an encrypted request with the model key, encrypt an answer (JSON or SSE) to the
//! client's key. Shared by the Venice and NEAR simulators. Not used by the client.

use k256::elliptic_curve::Generate;
use k256::{PublicKey, SecretKey};
use rand_core::CryptoRng;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::ecies;
use super::relay::Endpoint;
use crate::e2ee::E2eeError;

/// Encrypts one field value for the client (server role).
pub trait FieldSealer {
    /// Returns the hex ciphertext of `plaintext`.
    fn seal(&mut self, plaintext: &[u8]) -> String;
}

/// Opens one request field with the model's private key (server role).
pub type OpenFn<'a> = dyn FnMut(&str) -> Result<Vec<u8>, E2eeError> + 'a;

/// ECIES sealing to a client secp256k1 key with randomness from an RNG.
pub struct EciesSealer<'r, R: CryptoRng> {
    /// The client's key.
    pub client: PublicKey,
    /// Randomness for ephemeral keys and nonces.
    pub rng: &'r mut R,
}

impl<R: CryptoRng> FieldSealer for EciesSealer<'_, R> {
    fn seal(&mut self, plaintext: &[u8]) -> String {
        // A valid client point and a sub-64 GiB plaintext cannot fail.
        ecies::seal(plaintext, &self.client, self.rng).unwrap_or_default()
    }
}

fn seal_str(v: Option<&mut Value>, s: &mut dyn FieldSealer) {
    if let Some(Value::String(t)) = v
        && !t.is_empty() {
            *t = s.seal(t.as_bytes());
        }
}

fn seal_json(v: Option<&mut Value>, s: &mut dyn FieldSealer) {
    if let Some(v) = v
        && !v.is_null() {
            *v = Value::String(s.seal(v.to_string().as_bytes()));
        }
}

fn seal_fn(v: Option<&mut Value>, s: &mut dyn FieldSealer) {
    if let Some(Value::Object(f)) = v {
        seal_str(f.get_mut("name"), s);
        seal_str(f.get_mut("arguments"), s);
    }
}

fn seal_logprobs(v: Option<&mut Value>, s: &mut dyn FieldSealer) {
    if let Some(Value::Array(entries)) = v {
        for e in entries.iter_mut().filter_map(Value::as_object_mut) {
            seal_str(e.get_mut("token"), s);
            seal_json(e.get_mut("bytes"), s);
            seal_logprobs(e.get_mut("top_logprobs"), s);
        }
    }
}

fn seal_message(m: &mut Map<String, Value>, s: &mut dyn FieldSealer, all_fields: bool) {
    for key in ["content", "reasoning_content", "reasoning"] {
        seal_str(m.get_mut(key), s);
    }
    if let Some(Value::Object(a)) = m.get_mut("audio") {
        seal_str(a.get_mut("data"), s);
    }
    if all_fields {
        seal_str(m.get_mut("refusal"), s);
        seal_str(m.get_mut("name"), s);
        if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
            for c in calls.iter_mut().filter_map(Value::as_object_mut) {
                seal_fn(c.get_mut("function"), s);
            }
        }
        seal_fn(m.get_mut("function_call"), s);
    }
}

/// Encrypts a response body in place as the enclave does: for every choice, the `delta`
/// (streaming) or `message` fields `content`, `reasoning_content`, `reasoning`, `audio.data`;
/// with `all_fields` also `refusal`, `name`, tool-call and function-call names and arguments,
/// logprob tokens and bytes. Images, embeddings and rerank bodies get their data leaves
/// encrypted. Empty strings stay `""`.
pub fn seal_response(
    body: &mut Value,
    s: &mut dyn FieldSealer,
    endpoint: Endpoint,
    streaming: bool,
    all_fields: bool,
) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    match endpoint {
        Endpoint::Chat => {
            let member = if streaming { "delta" } else { "message" };
            if let Some(Value::Array(choices)) = obj.get_mut("choices") {
                for c in choices.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(Value::Object(m)) = c.get_mut(member) {
                        seal_message(m, s, all_fields);
                    }
                    if all_fields
                        && let Some(Value::Object(lp)) = c.get_mut("logprobs") {
                            seal_logprobs(lp.get_mut("content"), s);
                            seal_logprobs(lp.get_mut("refusal"), s);
                        }
                }
            }
        }
        Endpoint::Images => each(obj, "data", |d| {
            seal_str(d.get_mut("b64_json"), s);
            seal_str(d.get_mut("revised_prompt"), s);
        }),
        Endpoint::Embeddings => each(obj, "data", |d| seal_json(d.get_mut("embedding"), s)),
        Endpoint::Rerank => each(obj, "results", |d| {
            if let Some(Value::Object(doc)) = d.get_mut("document") {
                seal_str(doc.get_mut("text"), s);
            }
        }),
        Endpoint::Score => {}
    }
}

fn each(obj: &mut Map<String, Value>, key: &str, mut f: impl FnMut(&mut Map<String, Value>)) {
    if let Some(Value::Array(items)) = obj.get_mut(key) {
        items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(&mut f);
    }
}

/// Serialises chunks as an SSE body (each chunk sealed first) terminated by `data: [DONE]`.
pub fn sse_body(chunks: &[Value], s: &mut dyn FieldSealer, all_fields: bool) -> Vec<u8> {
    let mut out = String::new();
    for c in chunks {
        let mut c = c.clone();
        seal_response(&mut c, s, Endpoint::Chat, true, all_fields);
        out.push_str("data: ");
        out.push_str(&c.to_string());
        out.push_str("\n\n");
    }
    out.push_str("data: [DONE]\n\n");
    out.into_bytes()
}

/// Opens one string leaf: empty passes through; otherwise hex, decrypt, UTF-8 (the three
/// distinct server errors of the reference proxy).
fn open_str(v: Option<&mut Value>, open: &mut OpenFn<'_>) -> Result<Option<String>, E2eeError> {
    let Some(Value::String(t)) = v else {
        return Ok(None);
    };
    if t.is_empty() {
        return Ok(None);
    }
    if hex::decode(t.as_str()).is_err() {
        return Err(E2eeError::Malformed(
            "Encrypted field is not valid hex".into(),
        ));
    }
    let plain = open(t).map_err(|_| E2eeError::AuthFailed("Decryption failed".into()))?;
    let text = String::from_utf8(plain)
        .map_err(|_| E2eeError::BadBody("Decrypted content is not valid UTF-8".into()))?;
    *t = text.clone();
    Ok(Some(text))
}

fn open_fn(v: Option<&mut Value>, open: &mut OpenFn<'_>) -> Result<(), E2eeError> {
    if let Some(Value::Object(f)) = v {
        open_str(f.get_mut("name"), open)?;
        open_str(f.get_mut("arguments"), open)?;
    }
    Ok(())
}

fn open_message(
    m: &mut Map<String, Value>,
    open: &mut OpenFn<'_>,
    all_fields: bool,
) -> Result<(), E2eeError> {
    if let Some(text) = open_str(m.get_mut("content"), open)?
        && let Ok(arr @ Value::Array(_)) = serde_json::from_str::<Value>(&text) {
            m.insert("content".into(), arr);
        }
    for key in ["reasoning_content", "reasoning"] {
        open_str(m.get_mut(key), open)?;
    }
    if let Some(Value::Object(a)) = m.get_mut("audio") {
        open_str(a.get_mut("data"), open)?;
    }
    if all_fields {
        open_str(m.get_mut("refusal"), open)?;
        open_str(m.get_mut("name"), open)?;
        if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
            for c in calls.iter_mut().filter_map(Value::as_object_mut) {
                open_fn(c.get_mut("function"), open)?;
            }
        }
        open_fn(m.get_mut("function_call"), open)?;
    }
    Ok(())
}

fn open_top_level(obj: &mut Map<String, Value>, open: &mut OpenFn<'_>) -> Result<(), E2eeError> {
    if let Some(Value::Array(tools)) = obj.get_mut("tools") {
        for t in tools.iter_mut().filter_map(Value::as_object_mut) {
            let Some(Value::Object(f)) = t.get_mut("function") else {
                continue;
            };
            open_str(f.get_mut("name"), open)?;
            open_str(f.get_mut("description"), open)?;
            if let Some(text) = open_str(f.get_mut("parameters"), open)?
                && let Ok(v) = serde_json::from_str::<Value>(&text) {
                    f.insert("parameters".into(), v);
                }
        }
    }
    if let Some(Value::Object(tc)) = obj.get_mut("tool_choice")
        && let Some(Value::Object(f)) = tc.get_mut("function") {
            open_str(f.get_mut("name"), open)?;
        }
    if let Some(Value::Object(fc)) = obj.get_mut("function_call") {
        open_str(fc.get_mut("name"), open)?;
    }
    Ok(())
}

/// Opens an encrypted request body in place, as the enclave does (§9.6): chat messages
/// (content, reasoning, audio; with `all_fields` also refusal, name, tool and function calls,
/// tool definitions, tool choice), image `prompt`, embeddings `input`, rerank `query` and
/// `documents`, score `text_1`/`text_2`.
pub fn open_request(
    body: &mut Value,
    open: &mut OpenFn<'_>,
    endpoint: Endpoint,
    all_fields: bool,
) -> Result<(), E2eeError> {
    let Some(obj) = body.as_object_mut() else {
        return Err(E2eeError::BadBody("request is not a JSON object".into()));
    };
    match endpoint {
        Endpoint::Chat => {
            if let Some(Value::Array(msgs)) = obj.get_mut("messages") {
                for m in msgs.iter_mut().filter_map(Value::as_object_mut) {
                    open_message(m, open, all_fields)?;
                }
            }
            if all_fields {
                open_top_level(obj, open)?;
            }
        }
        Endpoint::Images => {
            open_str(obj.get_mut("prompt"), open)?;
        }
        Endpoint::Embeddings => match obj.get_mut("input") {
            Some(Value::Array(items)) => {
                for i in items.iter_mut() {
                    open_str(Some(i), open)?;
                }
            }
            other => {
                open_str(other, open)?;
            }
        },
        Endpoint::Rerank => {
            open_str(obj.get_mut("query"), open)?;
            if let Some(Value::Array(docs)) = obj.get_mut("documents") {
                for d in docs.iter_mut() {
                    match d {
                        Value::Object(o) => {
                            open_str(o.get_mut("text"), open)?;
                        }
                        other => {
                            open_str(Some(other), open)?;
                        }
                    }
                }
            }
        }
        Endpoint::Score => {
            open_str(obj.get_mut("text_1"), open)?;
            open_str(obj.get_mut("text_2"), open)?;
        }
    }
    Ok(())
}

/// Looks a header up case-insensitively.
pub fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A simulated Venice enclave holding the model's secp256k1 private key.
pub struct VeniceServer {
    secret: SecretKey,
}

impl VeniceServer {
    /// A server with a fresh model key.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self {
            secret: SecretKey::generate_from_rng(rng),
        }
    }

    /// A server with a known model key.
    pub fn from_secret(secret: SecretKey) -> Self {
        Self { secret }
    }

    /// The model key as attestation would publish it (130 lowercase hex chars).
    pub fn model_key_hex(&self) -> String {
        ecies::uncompressed_hex(&self.secret.public_key())
    }

    /// Checks the three `X-Venice-Tee-*` headers (algo `ecdsa`, the model key is this
    /// server's own, a valid client key), opens every `messages[].content`, and returns the
    /// plaintext request and the client key to answer to.
    pub fn open_request(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(Value, PublicKey), E2eeError> {
        let algo = header(headers, super::HEADER_SIGNING_ALGO).unwrap_or("");
        if !algo.eq_ignore_ascii_case("ecdsa") {
            return Err(E2eeError::BadBody(format!(
                "unsupported signing algo {algo:?}"
            )));
        }
        let model = header(headers, super::HEADER_MODEL_KEY).unwrap_or("");
        let own = self.model_key_hex();
        if !bool::from(model.to_ascii_lowercase().as_bytes().ct_eq(own.as_bytes())) {
            return Err(E2eeError::InvalidKey(
                "model key is not this enclave's".into(),
            ));
        }
        let client =
            ecies::parse_peer_key_hex(header(headers, super::HEADER_CLIENT_KEY).unwrap_or(""))?;
        let mut v: Value =
            serde_json::from_slice(body).map_err(|e| E2eeError::BadBody(e.to_string()))?;
        let secret = &self.secret;
        open_request(
            &mut v,
            &mut |s| ecies::open(s, secret),
            Endpoint::Chat,
            false,
        )?;
        Ok((v, client))
    }

    /// Encrypts an SSE answer made of `chunks` to `client`, terminated by `[DONE]`.
    pub fn seal_stream(
        &self,
        chunks: &[Value],
        client: &PublicKey,
        rng: &mut impl CryptoRng,
    ) -> Vec<u8> {
        let mut sealer = EciesSealer {
            client: *client,
            rng,
        };
        sse_body(chunks, &mut sealer, false)
    }
}
