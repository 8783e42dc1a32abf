//! SERVER ROLE (tests, simulated providers, interop): what NEAR's inference proxy does in
//! its enclave (§9.6) — parse the E2EE headers, open the request with the model key, encrypt
//! the answer to the client's key. Not used by the client.

use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::montgomery::MontgomeryPoint;
use k256::{PublicKey, SecretKey};
use rand_core::CryptoRng;
use serde_json::Value;
use zeroize::Zeroizing;

use super::xchacha;
use crate::e2ee::E2eeError;
use crate::e2ee::venice::ecies;
use crate::e2ee::venice::relay::Endpoint;
use crate::e2ee::venice::server::{
    EciesSealer, FieldSealer, header, open_request, seal_response, sse_body,
};

/// The client key a response is encrypted to.
#[derive(Clone, Debug)]
pub enum ClientPeer {
    /// The X25519 form of the client's Ed25519 key.
    Ed25519(MontgomeryPoint),
    /// The client's secp256k1 key.
    Ecdsa(PublicKey),
}

/// What the headers of one request asked for.
#[derive(Clone, Debug)]
pub struct E2eeRequest {
    /// The client key.
    pub peer: ClientPeer,
    /// `X-Encrypt-All-Fields: true`.
    pub all_fields: bool,
}

enum ModelSecret {
    Ed25519(Zeroizing<[u8; 32]>),
    Ecdsa(SecretKey),
}

/// A simulated NEAR model enclave with one model key.
pub struct NearServer {
    secret: ModelSecret,
}

struct XSealer<'r, R: CryptoRng> {
    peer: MontgomeryPoint,
    rng: &'r mut R,
}

impl<R: CryptoRng> FieldSealer for XSealer<'_, R> {
    fn seal(&mut self, plaintext: &[u8]) -> String {
        // The peer was checked to be a valid non-small-order point when parsed, so the
        // exchange is contributory; an empty string would fail the client's checks anyway.
        xchacha::seal(plaintext, &self.peer, self.rng).unwrap_or_default()
    }
}

impl NearServer {
    /// An ed25519 model key from a 32-byte seed.
    pub fn ed25519(seed: &[u8; 32]) -> Self {
        Self {
            secret: ModelSecret::Ed25519(Zeroizing::new(*seed)),
        }
    }

    /// A secp256k1 model key.
    pub fn ecdsa(secret: SecretKey) -> Self {
        Self {
            secret: ModelSecret::Ecdsa(secret),
        }
    }

    /// A secp256k1 model key from a 32-byte scalar.
    pub fn ecdsa_from_bytes(b: &[u8]) -> Result<Self, E2eeError> {
        SecretKey::from_slice(b)
            .map(Self::ecdsa)
            .map_err(|_| E2eeError::InvalidKey("not a valid secp256k1 scalar".into()))
    }

    /// The model key as attestation publishes it (`signing_public_key`).
    pub fn model_key_hex(&self) -> String {
        match &self.secret {
            ModelSecret::Ed25519(seed) => hex::encode(xchacha::ed25519_public_from_seed(seed)),
            ModelSecret::Ecdsa(k) => ecies::uncompressed_hex(&k.public_key()),
        }
    }

    /// Parses the E2EE headers (§9.6). `Ok(None)` when both algo and client key are absent
    /// (plaintext request); an algo that does not match this server's key, a bad client key,
    /// an unknown version, or the legacy v1 box (not simulated) is an error.
    pub fn parse_headers(
        &self,
        headers: &[(String, String)],
    ) -> Result<Option<E2eeRequest>, E2eeError> {
        let algo = header(headers, super::HEADER_SIGNING_ALGO);
        let key = header(headers, super::HEADER_CLIENT_KEY);
        let (algo, key) = match (algo, key) {
            (None, None) => return Ok(None),
            (Some(a), Some(k)) => (a.to_ascii_lowercase(), k),
            _ => {
                return Err(E2eeError::BadBody(
                    "X-Signing-Algo and X-Client-Pub-Key go together".into(),
                ));
            }
        };
        let all_fields = header(headers, super::HEADER_ALL_FIELDS)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let peer = match (algo.as_str(), &self.secret) {
            ("ed25519", ModelSecret::Ed25519(_)) => {
                let version = header(headers, super::HEADER_VERSION)
                    .and_then(|v| v.parse::<u8>().ok())
                    .unwrap_or(1);
                match version {
                    2 => {}
                    1 => {
                        return Err(E2eeError::BadBody(
                            "legacy v1 NaCl box is not simulated".into(),
                        ));
                    }
                    v => {
                        return Err(E2eeError::BadBody(format!(
                            "unsupported encryption version {v}"
                        )));
                    }
                }
                let mut b = [0u8; 32];
                hex::decode_to_slice(key, &mut b)
                    .map_err(|_| E2eeError::InvalidKey("client key is not 32 hex bytes".into()))?;
                let p = CompressedEdwardsY(b)
                    .decompress()
                    .filter(|p| !p.is_small_order())
                    .ok_or_else(|| {
                        E2eeError::InvalidKey("client key is not a valid ed25519 point".into())
                    })?;
                ClientPeer::Ed25519(p.to_montgomery())
            }
            ("ecdsa", ModelSecret::Ecdsa(_)) => ClientPeer::Ecdsa(ecies::parse_peer_key_hex(key)?),
            (other, _) => {
                return Err(E2eeError::BadBody(format!(
                    "signing algo {other:?} does not match the model key"
                )));
            }
        };
        Ok(Some(E2eeRequest { peer, all_fields }))
    }

    /// Opens an encrypted request body for `endpoint` in place (server role).
    pub fn open_body(
        &self,
        body: &mut Value,
        endpoint: Endpoint,
        all_fields: bool,
    ) -> Result<(), E2eeError> {
        match &self.secret {
            ModelSecret::Ed25519(seed) => {
                let x = xchacha::x25519_secret_from_seed(seed);
                open_request(body, &mut |s| xchacha::open(s, &x), endpoint, all_fields)
            }
            ModelSecret::Ecdsa(k) => {
                open_request(body, &mut |s| ecies::open(s, k), endpoint, all_fields)
            }
        }
    }

    /// Parses headers and body of a request to `endpoint` and opens it.
    pub fn open(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        endpoint: Endpoint,
    ) -> Result<(Value, E2eeRequest), E2eeError> {
        let req = self
            .parse_headers(headers)?
            .ok_or_else(|| E2eeError::Plaintext("request carries no E2EE headers".into()))?;
        let mut v: Value =
            serde_json::from_slice(body).map_err(|e| E2eeError::BadBody(e.to_string()))?;
        self.open_body(&mut v, endpoint, req.all_fields)?;
        Ok((v, req))
    }
}

fn with_sealer<T>(
    peer: &ClientPeer,
    rng: &mut impl CryptoRng,
    f: impl FnOnce(&mut dyn FieldSealer) -> T,
) -> T {
    match peer {
        ClientPeer::Ed25519(p) => f(&mut XSealer { peer: *p, rng }),
        ClientPeer::Ecdsa(p) => f(&mut EciesSealer { client: *p, rng }),
    }
}

/// Encrypts a non-streaming response body in place to the client (server role).
pub fn seal_json(
    body: &mut Value,
    req: &E2eeRequest,
    endpoint: Endpoint,
    rng: &mut impl CryptoRng,
) {
    with_sealer(&req.peer, rng, |s| {
        seal_response(body, s, endpoint, false, req.all_fields)
    });
}

/// Encrypts chat chunks into an SSE body terminated by `[DONE]` (server role).
pub fn seal_stream(chunks: &[Value], req: &E2eeRequest, rng: &mut impl CryptoRng) -> Vec<u8> {
    with_sealer(&req.peer, rng, |s| sse_body(chunks, s, req.all_fields))
}
