//! Venice ECIES: secp256k1 ECDH (raw x coordinate) → HKDF-SHA256 (`ecdsa_encryption`, no salt)
//! → AES-256-GCM. NEAR's `ecdsa` variant uses the same primitive.
//!
//! Wire format of one field: `Epub(65, uncompressed) ‖ nonce(12) ‖ ciphertext ‖ tag(16)`,
//! lowercase hex.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use k256::elliptic_curve::Generate;
use k256::elliptic_curve::sec1::ToSec1Point;
use k256::{PublicKey, SecretKey};
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::e2ee::venice::relay::ReplayGuard;
use crate::e2ee::{E2eeError, FieldOpener};

/// HKDF `info` string of the ECIES scheme.
pub const HKDF_INFO: &[u8] = b"ecdsa_encryption";
/// Length of an uncompressed secp256k1 point.
pub const POINT_LEN: usize = 65;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Smallest valid wire (empty plaintext): 65 + 12 + 16 bytes.
pub const MIN_WIRE_LEN: usize = POINT_LEN + NONCE_LEN + TAG_LEN;

/// A secp256k1 model key that attestation bound into the TDX report data.
///
/// Constructed only from the exact attested string (130 hex chars, `04` prefix, on the curve),
/// so any encryption made with it goes to the attested enclave and nowhere else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelKey {
    key: PublicKey,
    hex: String,
}

impl ModelKey {
    /// Validates the attested `signing_public_key` string (§6.1): exactly 130 characters,
    /// prefix `04`, hex, a point on secp256k1. Any failure is [`E2eeError::InvalidKey`].
    pub fn from_hex(s: &str) -> Result<Self, E2eeError> {
        if s.len() != 2 * POINT_LEN {
            return Err(E2eeError::InvalidKey(format!(
                "enclave public key must be 130 hex chars, got {}",
                s.len()
            )));
        }
        if !s.starts_with("04") {
            return Err(E2eeError::InvalidKey(format!(
                "enclave public key must start with '04' (uncompressed), got {:?}",
                s.get(..2).unwrap_or("")
            )));
        }
        let bytes = hex::decode(s).map_err(|e| {
            E2eeError::InvalidKey(format!("enclave public key is not valid hex: {e}"))
        })?;
        let key = PublicKey::from_sec1_bytes(&bytes).map_err(|_| {
            E2eeError::InvalidKey("enclave public key is not a valid secp256k1 point".into())
        })?;
        Ok(Self {
            key,
            hex: s.to_owned(),
        })
    }

    /// Builds a model key from a parsed point (server side and tests); the hex form is the
    /// lowercase uncompressed encoding.
    pub fn from_public_key(key: PublicKey) -> Self {
        Self {
            hex: uncompressed_hex(&key),
            key,
        }
    }

    /// The validated point.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// The attested string, verbatim (what goes into `X-Venice-Tee-Model-Pub-Key`).
    pub fn as_hex(&self) -> &str {
        &self.hex
    }
}

/// Lowercase hex of the 65-byte uncompressed encoding of `key`.
pub fn uncompressed_hex(key: &PublicKey) -> String {
    hex::encode(key.to_sec1_point(false).as_bytes())
}

/// Parses a peer key given as 65 uncompressed bytes (or 64 bytes without the `04` prefix,
/// as NEAR clients send) in hex. Fails on any other length, prefix or an off-curve point.
pub fn parse_peer_key_hex(s: &str) -> Result<PublicKey, E2eeError> {
    let mut bytes =
        hex::decode(s).map_err(|e| E2eeError::InvalidKey(format!("peer key is not hex: {e}")))?;
    if bytes.len() == POINT_LEN - 1 {
        bytes.insert(0, 0x04);
    }
    if bytes.len() != POINT_LEN || bytes[0] != 0x04 {
        return Err(E2eeError::InvalidKey(format!(
            "peer key must be 64 or 65 uncompressed bytes, got {}",
            bytes.len()
        )));
    }
    PublicKey::from_sec1_bytes(&bytes)
        .map_err(|_| E2eeError::InvalidKey("peer key is not a valid secp256k1 point".into()))
}

/// `IsEncryptedChunkVenice`: at least 186 characters, prefix `04`, every character hex.
pub fn is_encrypted_chunk(s: &str) -> bool {
    s.len() >= 2 * MIN_WIRE_LEN && s.starts_with("04") && s.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) fn derive_key(secret: &SecretKey, peer: &PublicKey) -> Zeroizing<[u8; 32]> {
    let shared = secret.diffie_hellman(peer);
    let hk = Hkdf::<Sha256>::new(None, shared.raw_secret_bytes().as_slice());
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    let _ = hk.expand(HKDF_INFO, okm.as_mut_slice());
    okm
}

/// Encrypts `plaintext` to `recipient` with a fresh ephemeral key and nonce from `rng`;
/// returns the lowercase hex wire string. The ephemeral scalar is zeroized on return.
pub fn seal(
    plaintext: &[u8],
    recipient: &PublicKey,
    rng: &mut impl CryptoRng,
) -> Result<String, E2eeError> {
    let eph = SecretKey::generate_from_rng(rng);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    seal_with(plaintext, recipient, &eph, &nonce)
}

/// Deterministic core of [`seal`]: the caller supplies the ephemeral scalar and nonce.
/// Public for known-answer tests only; reusing an (ephemeral, nonce) pair breaks AES-GCM.
pub fn seal_with(
    plaintext: &[u8],
    recipient: &PublicKey,
    eph: &SecretKey,
    nonce: &[u8; NONCE_LEN],
) -> Result<String, E2eeError> {
    let key = derive_key(eph, recipient);
    let cipher = Aes256Gcm::new_from_slice(key.as_slice())
        .map_err(|_| E2eeError::InvalidKey("aes key".into()))?;
    let ct = cipher
        .encrypt(&Nonce::from(*nonce), plaintext)
        .map_err(|_| E2eeError::Limit("plaintext too long".into()))?;
    let mut wire = Vec::with_capacity(MIN_WIRE_LEN + plaintext.len());
    wire.extend_from_slice(eph.public_key().to_sec1_point(false).as_bytes());
    wire.extend_from_slice(nonce);
    wire.extend_from_slice(&ct);
    Ok(hex::encode(wire))
}

/// Splits and checks a hex wire string: returns the decoded bytes (≥ 93, first byte 0x04).
fn decode_wire(s: &str) -> Result<Vec<u8>, E2eeError> {
    let wire = hex::decode(s).map_err(|e| E2eeError::Malformed(format!("decode hex: {e}")))?;
    if wire.len() < MIN_WIRE_LEN {
        return Err(E2eeError::Malformed(format!(
            "ciphertext too short: {} bytes (minimum {MIN_WIRE_LEN})",
            wire.len()
        )));
    }
    if wire[0] != 0x04 {
        return Err(E2eeError::Malformed(
            "ephemeral key is not an uncompressed point".into(),
        ));
    }
    Ok(wire)
}

/// Decrypts one hex wire string with `secret`. Fails closed on bad hex, short input, a
/// non-uncompressed or off-curve ephemeral key, or an authentication failure (wrong key,
/// any flipped bit).
pub fn open(s: &str, secret: &SecretKey) -> Result<Vec<u8>, E2eeError> {
    let wire = decode_wire(s)?;
    open_wire(&wire, secret)
}

fn open_wire(wire: &[u8], secret: &SecretKey) -> Result<Vec<u8>, E2eeError> {
    let eph = PublicKey::from_sec1_bytes(&wire[..POINT_LEN])
        .map_err(|_| E2eeError::Malformed("parse ephemeral public key: not on curve".into()))?;
    let key = derive_key(secret, &eph);
    let cipher = Aes256Gcm::new_from_slice(key.as_slice())
        .map_err(|_| E2eeError::InvalidKey("aes key".into()))?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&wire[POINT_LEN..POINT_LEN + NONCE_LEN]);
    cipher
        .decrypt(&Nonce::from(nonce), &wire[POINT_LEN + NONCE_LEN..])
        .map_err(|_| E2eeError::AuthFailed("decrypt: authentication failed".into()))
}

/// The client's per-request secp256k1 key (`C`): its public half goes in the request headers,
/// its private half opens the response and nothing else. The scalar is zeroized on drop
/// (k256's `SecretKey` zeroizes itself). Rejects any (ephemeral key, nonce) seen before in
/// this session.
pub struct ClientSession {
    secret: SecretKey,
    seen: ReplayGuard,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("public", &self.public_hex())
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    /// A fresh session key from `rng`.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self::from_secret(SecretKey::generate_from_rng(rng))
    }

    /// A session from a known scalar (tests and the interop helper).
    pub fn from_secret(secret: SecretKey) -> Self {
        Self {
            secret,
            seen: ReplayGuard::default(),
        }
    }

    /// A session from a 32-byte big-endian scalar; fails if it is zero or not below the order.
    pub fn from_secret_bytes(b: &[u8]) -> Result<Self, E2eeError> {
        SecretKey::from_slice(b)
            .map(Self::from_secret)
            .map_err(|_| E2eeError::InvalidKey("not a valid secp256k1 scalar".into()))
    }

    /// The private scalar, for the interop helper that must hand a session across processes.
    #[cfg(any(test, feature = "harness"))]
    pub fn export_secret_for_harness(&self) -> Vec<u8> {
        self.secret.to_bytes().to_vec()
    }

    /// Lowercase hex of the uncompressed public key (`X-Venice-Tee-Client-Pub-Key`).
    pub fn public_hex(&self) -> String {
        uncompressed_hex(&self.secret.public_key())
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.secret.public_key()
    }
}

impl FieldOpener for ClientSession {
    fn looks_encrypted(&self, s: &str) -> bool {
        is_encrypted_chunk(s)
    }

    fn open(&mut self, s: &str) -> Result<Vec<u8>, E2eeError> {
        let wire = decode_wire(s)?;
        let plain = open_wire(&wire, &self.secret)?;
        self.seen.check(&wire[..POINT_LEN + NONCE_LEN])?;
        Ok(plain)
    }
}

#[cfg(test)]
impl ClientSession {
    /// The raw scalar, for tests that rebuild a session.
    pub(crate) fn secret_bytes_for_tests(&self) -> Vec<u8> {
        self.secret.to_bytes().to_vec()
    }
}
