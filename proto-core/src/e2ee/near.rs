//! NEAR AI E2EE (spec §9, §12 latest field coverage), used by `neardirect` and `nearcloud`.
//!
//! Two key types: ed25519 v2 ([`xchacha`]: X25519 + HKDF + XChaCha20-Poly1305, what teep
//! always uses) and ecdsa (exactly Venice's ECIES). Requests are encrypted to the attested
//! model key with the latest (`X-Encrypt-All-Fields: true`) field coverage; responses are
//! opened with a per-request client key under [`relay::Policy::NearAllFields`]: every leaf
//! except structural metadata must be ciphertext.

#[cfg(any(test, feature = "harness"))]
pub mod server;
#[cfg(test)]
mod tests;
pub mod xchacha;

use rand_core::CryptoRng;
use serde_json::{Map, Value};

use crate::e2ee::venice::relay::{self, Endpoint, Policy, SseDecryptor};
use crate::e2ee::venice::{
    self, EncryptedRequest, content_plaintext, ecies, for_each_message, parse_object,
};
use crate::e2ee::{E2eeError, FieldOpener};

/// `X-Signing-Algo`.
pub const HEADER_SIGNING_ALGO: &str = "X-Signing-Algo";
/// `X-Client-Pub-Key`.
pub const HEADER_CLIENT_KEY: &str = "X-Client-Pub-Key";
/// `X-Encryption-Version` (`2` for ed25519).
pub const HEADER_VERSION: &str = "X-Encryption-Version";
/// `X-Encrypt-All-Fields` (`true`).
pub const HEADER_ALL_FIELDS: &str = "X-Encrypt-All-Fields";

/// A model key that attestation bound, of either NEAR key type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelKey {
    /// Ed25519 (v2 XChaCha20-Poly1305 encryption).
    Ed25519(xchacha::ModelKey),
    /// secp256k1 (Venice's ECIES).
    Ecdsa(venice::ModelKey),
}

impl ModelKey {
    /// Validates an attested ed25519 key (64 hex chars, a valid non-small-order point).
    pub fn ed25519_from_hex(s: &str) -> Result<Self, E2eeError> {
        xchacha::ModelKey::from_hex(s).map(Self::Ed25519)
    }

    /// Validates an attested secp256k1 key: 130 hex chars with `04`, or 128 without it.
    pub fn ecdsa_from_hex(s: &str) -> Result<Self, E2eeError> {
        match s.len() {
            128 => venice::ModelKey::from_hex(&format!("04{s}")).map(Self::Ecdsa),
            _ => venice::ModelKey::from_hex(s).map(Self::Ecdsa),
        }
    }

    fn seal(&self, plaintext: &[u8], rng: &mut impl CryptoRng) -> Result<String, E2eeError> {
        match self {
            Self::Ed25519(k) => xchacha::seal(plaintext, k.x25519(), rng),
            Self::Ecdsa(k) => ecies::seal(plaintext, k.public_key(), rng),
        }
    }
}

/// The per-request client key that alone opens the response.
#[derive(Debug)]
pub enum ClientSession {
    /// Ed25519 seed / X25519 secret.
    Ed25519(xchacha::ClientKey),
    /// secp256k1 scalar.
    Ecdsa(ecies::ClientSession),
}

impl ClientSession {
    /// A fresh session of the same type as `model`.
    pub fn generate_for(model: &ModelKey, rng: &mut impl CryptoRng) -> Self {
        match model {
            ModelKey::Ed25519(_) => Self::Ed25519(xchacha::ClientKey::generate(rng)),
            ModelKey::Ecdsa(_) => Self::Ecdsa(ecies::ClientSession::generate(rng)),
        }
    }

    /// The request headers announcing this key (§9.2, latest).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Ed25519(k) => vec![
                (HEADER_SIGNING_ALGO, "ed25519".into()),
                (HEADER_CLIENT_KEY, k.public_hex()),
                (HEADER_VERSION, "2".into()),
                (HEADER_ALL_FIELDS, "true".into()),
            ],
            Self::Ecdsa(k) => vec![
                (HEADER_SIGNING_ALGO, "ecdsa".into()),
                (HEADER_CLIENT_KEY, k.public_hex()),
                (HEADER_ALL_FIELDS, "true".into()),
            ],
        }
    }
}

impl FieldOpener for ClientSession {
    fn looks_encrypted(&self, s: &str) -> bool {
        match self {
            Self::Ed25519(k) => k.looks_encrypted(s),
            Self::Ecdsa(k) => k.looks_encrypted(s),
        }
    }

    fn open(&mut self, s: &str) -> Result<Vec<u8>, E2eeError> {
        match self {
            Self::Ed25519(k) => k.open(s),
            Self::Ecdsa(k) => k.open(s),
        }
    }
}

/// The endpoint of an upstream path; any path not listed is refused (fail closed).
pub fn endpoint_of(path: &str) -> Result<Endpoint, E2eeError> {
    match path {
        "/v1/chat/completions" => Ok(Endpoint::Chat),
        "/v1/images/generations" => Ok(Endpoint::Images),
        "/v1/embeddings" => Ok(Endpoint::Embeddings),
        "/v1/rerank" => Ok(Endpoint::Rerank),
        "/v1/score" => Ok(Endpoint::Score),
        other => Err(E2eeError::BadBody(format!(
            "NEAR AI E2EE not supported for endpoint {other:?}"
        ))),
    }
}

struct Enc<'a, R: CryptoRng> {
    key: &'a ModelKey,
    rng: &'a mut R,
}

impl<R: CryptoRng> Enc<'_, R> {
    fn seal_bytes(&mut self, p: &[u8]) -> Result<Value, E2eeError> {
        Ok(Value::String(self.key.seal(p, self.rng)?))
    }

    /// Encrypts `obj[key]` if it is a string; other types pass unchanged.
    fn opt_str(&mut self, obj: &mut Map<String, Value>, key: &str) -> Result<(), E2eeError> {
        if let Some(Value::String(s)) = obj.get(key) {
            let v = self.seal_bytes(s.as_bytes())?;
            obj.insert(key.into(), v);
        }
        Ok(())
    }

    fn function_obj(&mut self, v: Option<&mut Value>, keys: &[&str]) -> Result<(), E2eeError> {
        if let Some(Value::Object(f)) = v {
            for k in keys {
                self.opt_str(f, k)?;
            }
        }
        Ok(())
    }

    fn message(&mut self, i: usize, m: &mut Map<String, Value>) -> Result<(), E2eeError> {
        if let Some(v) = m.get("content") {
            let plain = content_plaintext(v, i).map_err(|_| {
                E2eeError::BadBody(format!("message {i} content: unsupported content type"))
            })?;
            if let Some(p) = plain {
                let c = self.seal_bytes(&p)?;
                m.insert("content".into(), c);
            }
        }
        for k in ["reasoning_content", "reasoning", "refusal", "name"] {
            self.opt_str(m, k)?;
        }
        if let Some(Value::Object(a)) = m.get_mut("audio") {
            self.opt_str(a, "data")?;
        }
        if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
            for c in calls.iter_mut().filter_map(Value::as_object_mut) {
                self.function_obj(c.get_mut("function"), &["name", "arguments"])?;
            }
        }
        self.function_obj(m.get_mut("function_call"), &["name", "arguments"])
    }

    fn chat(&mut self, obj: &mut Map<String, Value>) -> Result<(), E2eeError> {
        for_each_message(obj, "NEAR AI E2EE", |i, m| self.message(i, m))?;
        if let Some(Value::Array(tools)) = obj.get_mut("tools") {
            for t in tools.iter_mut().filter_map(Value::as_object_mut) {
                let Some(Value::Object(f)) = t.get_mut("function") else {
                    continue;
                };
                self.opt_str(f, "name")?;
                self.opt_str(f, "description")?;
                match f.get("parameters") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => {
                        let v = self.seal_bytes(s.as_bytes())?;
                        f.insert("parameters".into(), v);
                    }
                    Some(other) => {
                        let v = self.seal_bytes(other.to_string().as_bytes())?;
                        f.insert("parameters".into(), v);
                    }
                }
            }
        }
        if let Some(Value::Object(tc)) = obj.get_mut("tool_choice") {
            self.function_obj(tc.get_mut("function"), &["name"])?;
        }
        self.function_obj(obj.get_mut("function_call"), &["name"])?;
        obj.insert("stream".into(), Value::Bool(true));
        Ok(())
    }

    fn required_string(
        &mut self,
        obj: &mut Map<String, Value>,
        key: &str,
        what: &str,
    ) -> Result<(), E2eeError> {
        let text = match obj.get(key) {
            None => {
                return Err(E2eeError::BadBody(format!(
                    "{what} body missing '{key}' field"
                )));
            }
            Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(E2eeError::BadBody(format!(
                    "{what} '{key}' must be a string"
                )));
            }
        };
        let v = self.seal_bytes(text.as_bytes())?;
        obj.insert(key.into(), v);
        Ok(())
    }

    fn embeddings(&mut self, obj: &mut Map<String, Value>) -> Result<(), E2eeError> {
        match obj.get_mut("input") {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(s)) => {
                let s = s.clone();
                let v = self.seal_bytes(s.as_bytes())?;
                obj.insert("input".into(), v);
                Ok(())
            }
            Some(Value::Array(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let Value::String(s) = item else {
                        return Err(E2eeError::BadBody(format!(
                            "embeddings input[{i}] must be a string"
                        )));
                    };
                    *item = Value::String(self.key.seal(s.as_bytes(), self.rng)?);
                }
                Ok(())
            }
            Some(_) => Err(E2eeError::BadBody(
                "embeddings input must be a string or array of strings".into(),
            )),
        }
    }

    fn rerank(&mut self, obj: &mut Map<String, Value>) -> Result<(), E2eeError> {
        if let Some(Value::String(_)) = obj.get("query") {
            self.opt_str(obj, "query")?;
        } else if obj.get("query").is_some_and(|q| !q.is_null()) {
            return Err(E2eeError::BadBody("rerank query must be a string".into()));
        }
        if let Some(Value::Array(docs)) = obj.get_mut("documents") {
            for (i, d) in docs.iter_mut().enumerate() {
                match d {
                    Value::String(s) => *d = Value::String(self.key.seal(s.as_bytes(), self.rng)?),
                    Value::Object(o) if matches!(o.get("text"), Some(Value::String(_))) => {
                        self.opt_str(o, "text")?
                    }
                    _ => {
                        return Err(E2eeError::BadBody(format!(
                            "rerank documents[{i}]: unsupported type"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Encrypts a request for `path` to the attested `model` key with the latest field coverage
/// (§12) and draws a fresh client session of the same key type. Unsupported endpoints,
/// non-object bodies, unsupported content or input types are refused.
pub fn encrypt_request(
    path: &str,
    body: &[u8],
    model: &ModelKey,
    rng: &mut impl CryptoRng,
) -> Result<EncryptedRequest<ClientSession>, E2eeError> {
    let endpoint = endpoint_of(path)?;
    let mut obj = parse_object(body, "NEAR AI E2EE")?;
    let session = ClientSession::generate_for(model, rng);
    let mut enc = Enc { key: model, rng };
    match endpoint {
        Endpoint::Chat => enc.chat(&mut obj)?,
        Endpoint::Images => enc.required_string(&mut obj, "prompt", "image generation")?,
        Endpoint::Embeddings => enc.embeddings(&mut obj)?,
        Endpoint::Rerank => enc.rerank(&mut obj)?,
        Endpoint::Score => {
            enc.required_string(&mut obj, "text_1", "score")?;
            enc.required_string(&mut obj, "text_2", "score")?;
        }
    }
    Ok(EncryptedRequest {
        body: Value::Object(obj).to_string().into_bytes(),
        headers: session.headers(),
        session,
    })
}

/// A streaming decryptor for a NEAR chat answer, bound to `session`.
pub fn stream_decryptor(session: ClientSession) -> SseDecryptor<ClientSession> {
    SseDecryptor::new(session, Policy::NearAllFields)
}

/// Decrypts a complete non-streaming NEAR response body of `endpoint`.
pub fn decrypt_json(
    body: &[u8],
    session: &mut ClientSession,
    endpoint: Endpoint,
) -> Result<Value, E2eeError> {
    relay::decrypt_json_response(body, session, Policy::NearAllFields, endpoint).map(|(v, _)| v)
}
