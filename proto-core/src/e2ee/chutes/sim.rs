//! The server role: what a Chutes instance's enclave does (decrypt a request, encrypt a
//! non-streaming answer or a stream). For tests, interop checks and simulated providers only.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ml_kem::KeyExport;
use ml_kem::ml_kem_768::EncapsulationKey;
use rand_core::CryptoRng;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

use super::keys::{ResponseKeyPair, ek_from_bytes, encapsulate_to};
use super::primitives::{Label, SymmetricKey, gunzip_bounded, gzip, open, seal};
use super::request::RESPONSE_PK_FIELD;
use super::{E2eeError, KEM_CT_LEN, MAX_REQUEST_BODY, MIN_BLOB_LEN};

/// An instance's long-term ML-KEM-768 key pair (server role).
#[derive(Debug)]
pub struct InstanceServer {
    keys: ResponseKeyPair,
}

/// A request as the instance sees it after decryption.
#[derive(Debug)]
pub struct ServerRequest {
    /// The decompressed JSON exactly as the client sealed it (with `e2e_response_pk`).
    pub json: Vec<u8>,
    /// The client's response key, taken from `e2e_response_pk`.
    pub client_key: ClientKey,
    /// The body's boolean `stream` (absent = false).
    pub stream: bool,
}

impl InstanceServer {
    /// A fresh key pair from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            keys: ResponseKeyPair::generate(rng),
        }
    }

    /// The key pair of a FIPS 203 seed `d ‖ z`.
    pub fn from_seed(seed: &[u8; 64]) -> Self {
        Self {
            keys: ResponseKeyPair::from_seed(seed),
        }
    }

    /// The encapsulation key, standard base64 (what discovery lists as `e2e_pubkey`).
    pub fn public_b64(&self) -> &str {
        self.keys.public_b64()
    }

    /// The raw ML-KEM shared secret of `kem_ct` under this key pair (known-answer tests only).
    pub fn shared_secret(&self, kem_ct: &[u8]) -> Result<zeroize::Zeroizing<[u8; 32]>, E2eeError> {
        self.keys.shared_secret(kem_ct)
    }

    /// Decrypts a request body `kem_ct ‖ nonce ‖ ct ‖ tag` and reads the client's response key.
    pub fn decrypt_request(&self, blob: &[u8]) -> Result<ServerRequest, E2eeError> {
        if blob.len() < MIN_BLOB_LEN {
            return Err(E2eeError::Malformed(format!(
                "request blob of {} bytes is too short",
                blob.len()
            )));
        }
        let (kem_ct, sealed) = blob.split_at(KEM_CT_LEN);
        let key = self.keys.decapsulate(kem_ct, Label::Request)?;
        let json = gunzip_bounded(&open(&key, sealed)?, MAX_REQUEST_BODY)?;
        let members: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(&json)
            .map_err(|e| E2eeError::BadBody(format!("request JSON: {e}")))?;
        let pk_raw = members
            .get(RESPONSE_PK_FIELD)
            .ok_or_else(|| E2eeError::BadBody(format!("request has no {RESPONSE_PK_FIELD}")))?;
        let pk: String = serde_json::from_str(pk_raw.get())
            .map_err(|_| E2eeError::BadBody(format!("{RESPONSE_PK_FIELD} is not a string")))?;
        let stream = members.get("stream").is_some_and(|v| v.get() == "true");
        Ok(ServerRequest {
            json,
            client_key: ClientKey::from_b64(&pk)?,
            stream,
        })
    }
}

/// The client's ephemeral public key, as the instance uses it to answer.
#[derive(Clone, Debug)]
pub struct ClientKey {
    ek: Box<EncapsulationKey>,
}

impl ClientKey {
    /// Parses and validates a base64 ML-KEM-768 encapsulation key.
    pub fn from_b64(b64: &str) -> Result<Self, E2eeError> {
        let bytes = B64
            .decode(b64)
            .map_err(|e| E2eeError::InvalidKey(format!("client key base64: {e}")))?;
        Ok(Self {
            ek: Box::new(ek_from_bytes(&bytes)?),
        })
    }

    /// The key, standard base64.
    pub fn to_b64(&self) -> String {
        B64.encode(self.ek.to_bytes().as_slice())
    }

    /// A non-streaming answer: `kem_ct ‖ nonce ‖ ChaCha20-Poly1305(gzip(json)) ‖ tag`.
    pub fn encrypt_response<R: CryptoRng + ?Sized>(
        &self,
        json: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, E2eeError> {
        self.encrypt_response_compressed(&gzip(json), rng)
    }

    /// As [`ClientKey::encrypt_response`] with the gzip bytes supplied (known-answer tests).
    /// Draws 32 bytes (encapsulation) then 12 (nonce) from `rng`.
    pub fn encrypt_response_compressed<R: CryptoRng + ?Sized>(
        &self,
        gz: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, E2eeError> {
        let (kem_ct, key) = encapsulate_to(&self.ek, Label::Response, rng)?;
        let sealed = seal(&key, gz, rng)?;
        Ok([kem_ct, sealed].concat())
    }

    /// Starts a stream: returns the sealer and the `e2e_init` SSE event text. Draws 32 bytes.
    pub fn begin_stream<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Result<(ServerStream, String), E2eeError> {
        let (kem_ct, key) = encapsulate_to(&self.ek, Label::Stream, rng)?;
        let event = format!("data: {{\"e2e_init\": \"{}\"}}\n\n", B64.encode(&kem_ct));
        Ok((ServerStream { key }, event))
    }
}

/// Seals stream chunks under one stream key (server role).
#[derive(Debug)]
pub struct ServerStream {
    key: SymmetricKey,
}

impl ServerStream {
    /// The `e2e` SSE event carrying one sealed upstream chunk. Draws 12 bytes (the nonce).
    pub fn chunk_event<R: CryptoRng + ?Sized>(
        &self,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<String, E2eeError> {
        let sealed = seal(&self.key, plaintext, rng)?;
        Ok(format!("data: {{\"e2e\": \"{}\"}}\n\n", B64.encode(sealed)))
    }

    /// A plaintext `usage` SSE event (what the instance sends for billing).
    pub fn usage_event(prompt: u64, completion: u64) -> String {
        format!(
            "data: {{\"usage\": {{\"prompt_tokens\": {prompt}, \"completion_tokens\": {completion}, \"total_tokens\": {}}}}}\n\n",
            prompt.saturating_add(completion)
        )
    }

    /// Opens a sealed chunk under this stream key (for checking what was sent).
    pub fn open_chunk(&self, sealed: &[u8]) -> Result<Vec<u8>, E2eeError> {
        open(&self.key, sealed)
    }
}
