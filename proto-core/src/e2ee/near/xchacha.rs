//! NEAR ed25519 v2 primitive: Ed25519 keys converted to X25519, ECDH, HKDF-SHA256
//! (`ed25519_encryption`, no salt), XChaCha20-Poly1305.
//!
//! Wire format of one field: `Epub(32) ‖ nonce(24) ‖ ciphertext ‖ tag(16)`, lowercase hex.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::e2ee::venice::relay::ReplayGuard;
use crate::e2ee::{E2eeError, FieldOpener};

/// HKDF `info` string of the scheme.
pub const HKDF_INFO: &[u8] = b"ed25519_encryption";
/// X25519 public key length.
pub const KEY_LEN: usize = 32;
/// XChaCha20 nonce length.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Smallest valid wire (empty plaintext): 32 + 24 + 16 bytes.
pub const MIN_WIRE_LEN: usize = KEY_LEN + NONCE_LEN + TAG_LEN;

/// An Ed25519 model key bound by attestation, with its X25519 (Montgomery) form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelKey {
    ed25519: [u8; 32],
    x25519: MontgomeryPoint,
}

impl ModelKey {
    /// Validates the attested `signing_public_key`: exactly 64 hex characters decoding to a
    /// valid Edwards point, converted to Montgomery form. Any failure is
    /// [`E2eeError::InvalidKey`].
    pub fn from_hex(s: &str) -> Result<Self, E2eeError> {
        if s.len() != 64 {
            return Err(E2eeError::InvalidKey(format!(
                "model ed25519 public key must be 64 hex chars, got {}",
                s.len()
            )));
        }
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).map_err(|e| {
            E2eeError::InvalidKey(format!("model ed25519 public key is not valid hex: {e}"))
        })?;
        let point = CompressedEdwardsY(b).decompress().ok_or_else(|| {
            E2eeError::InvalidKey("convert model ed25519 to x25519: not a valid point".into())
        })?;
        if point.is_small_order() {
            return Err(E2eeError::InvalidKey(
                "convert model ed25519 to x25519: small-order point".into(),
            ));
        }
        Ok(Self {
            ed25519: b,
            x25519: point.to_montgomery(),
        })
    }

    /// The Ed25519 public key bytes.
    pub fn ed25519(&self) -> &[u8; 32] {
        &self.ed25519
    }

    /// The X25519 public key (Montgomery u) fields are encrypted to.
    pub fn x25519(&self) -> &MontgomeryPoint {
        &self.x25519
    }
}

/// The clamped X25519 secret scalar of an Ed25519 seed: `clamp(SHA-512(seed)[0..32])`.
pub fn x25519_secret_from_seed(seed: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut h = Sha512::digest(seed);
    let mut x = Zeroizing::new([0u8; 32]);
    x.copy_from_slice(&h[..32]);
    h.as_mut_slice().zeroize();
    x[0] &= 248;
    x[31] &= 127;
    x[31] |= 64;
    x
}

/// The Ed25519 public key of a seed (RFC 8032: clamped SHA-512 prefix times the base point).
pub fn ed25519_public_from_seed(seed: &[u8; 32]) -> [u8; 32] {
    let x = x25519_secret_from_seed(seed);
    EdwardsPoint::mul_base_clamped(*x).compress().to_bytes()
}

/// X25519 public key of a (clamped on use) secret.
pub fn x25519_public(secret: &[u8; 32]) -> MontgomeryPoint {
    MontgomeryPoint::mul_base_clamped(*secret)
}

/// `IsEncryptedChunkXChaCha20`: at least 144 characters, all hex; no prefix check.
pub fn is_encrypted_chunk(s: &str) -> bool {
    s.len() >= 2 * MIN_WIRE_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// X25519 then HKDF; an all-zero shared secret (low-order peer point) is refused.
pub(crate) fn derive_key(
    secret: &[u8; 32],
    peer: &MontgomeryPoint,
) -> Result<Zeroizing<[u8; 32]>, E2eeError> {
    let shared = Zeroizing::new(peer.mul_clamped(*secret).to_bytes());
    if bool::from(shared.ct_eq(&[0u8; 32])) {
        return Err(E2eeError::InvalidKey(
            "x25519 ecdh: low-order point (all-zero shared secret)".into(),
        ));
    }
    let hk = Hkdf::<Sha256>::new(None, shared.as_slice());
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit, so expand cannot fail.
    let _ = hk.expand(HKDF_INFO, okm.as_mut_slice());
    Ok(okm)
}

/// Encrypts `plaintext` to `recipient` with a fresh ephemeral scalar and nonce from `rng`.
pub fn seal(
    plaintext: &[u8],
    recipient: &MontgomeryPoint,
    rng: &mut impl CryptoRng,
) -> Result<String, E2eeError> {
    let mut eph = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(eph.as_mut_slice());
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    seal_with(plaintext, recipient, &eph, &nonce)
}

/// Deterministic core of [`seal`]. Public for known-answer tests only; reusing an
/// (ephemeral, nonce) pair breaks the AEAD.
pub fn seal_with(
    plaintext: &[u8],
    recipient: &MontgomeryPoint,
    eph: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
) -> Result<String, E2eeError> {
    let key = derive_key(eph, recipient)?;
    let cipher = XChaCha20Poly1305::new_from_slice(key.as_slice())
        .map_err(|_| E2eeError::InvalidKey("xchacha key".into()))?;
    let ct = cipher
        .encrypt(&XNonce::from(*nonce), plaintext)
        .map_err(|_| E2eeError::Limit("plaintext too long".into()))?;
    let mut wire = Vec::with_capacity(MIN_WIRE_LEN + plaintext.len());
    wire.extend_from_slice(x25519_public(eph).as_bytes());
    wire.extend_from_slice(nonce);
    wire.extend_from_slice(&ct);
    Ok(hex::encode(wire))
}

fn decode_wire(s: &str) -> Result<Vec<u8>, E2eeError> {
    let wire = hex::decode(s).map_err(|e| E2eeError::Malformed(format!("decode hex: {e}")))?;
    if wire.len() < MIN_WIRE_LEN {
        return Err(E2eeError::Malformed(format!(
            "ciphertext too short: {} bytes (minimum {MIN_WIRE_LEN})",
            wire.len()
        )));
    }
    Ok(wire)
}

fn open_wire(wire: &[u8], secret: &[u8; 32]) -> Result<Vec<u8>, E2eeError> {
    // X25519 ignores the top bit of u; an honest sender never sets it. Refusing it keeps
    // the wire non-malleable (one ciphertext, one encoding) and the replay check sound.
    if wire[KEY_LEN - 1] & 0x80 != 0 {
        return Err(E2eeError::Malformed(
            "ephemeral key is not canonical (top bit set)".into(),
        ));
    }
    let mut eph = [0u8; 32];
    eph.copy_from_slice(&wire[..KEY_LEN]);
    let key = derive_key(secret, &MontgomeryPoint(eph))?;
    let cipher = XChaCha20Poly1305::new_from_slice(key.as_slice())
        .map_err(|_| E2eeError::InvalidKey("xchacha key".into()))?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&wire[KEY_LEN..KEY_LEN + NONCE_LEN]);
    cipher
        .decrypt(&XNonce::from(nonce), &wire[KEY_LEN + NONCE_LEN..])
        .map_err(|_| E2eeError::AuthFailed("authentication failed".into()))
}

/// Decrypts one hex wire string with the X25519 `secret`. Fails closed on bad hex, short
/// input, a low-order ephemeral key or an authentication failure.
pub fn open(s: &str, secret: &[u8; 32]) -> Result<Vec<u8>, E2eeError> {
    open_wire(&decode_wire(s)?, secret)
}

/// The client's per-request Ed25519 key: the public half goes in `X-Client-Pub-Key`; the
/// derived X25519 secret opens the response. Seed and scalar are zeroized on drop; an
/// (ephemeral key, nonce) pair opened twice is rejected.
pub struct ClientKey {
    seed: Zeroizing<[u8; 32]>,
    x25519: Zeroizing<[u8; 32]>,
    seen: ReplayGuard,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("public", &self.public_hex())
            .finish_non_exhaustive()
    }
}

impl ClientKey {
    /// A fresh key from `rng`.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let k = Self::from_seed(&seed);
        seed.zeroize();
        k
    }

    /// The key of a known 32-byte seed (tests and the interop helper).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            seed: Zeroizing::new(*seed),
            x25519: x25519_secret_from_seed(seed),
            seen: ReplayGuard::default(),
        }
    }

    /// The seed, for the interop helper that must hand a session across processes.
    #[cfg(any(test, feature = "harness"))]
    pub fn export_seed_for_harness(&self) -> [u8; 32] {
        *self.seed
    }

    /// Hex of the Ed25519 public key (`X-Client-Pub-Key`).
    pub fn public_hex(&self) -> String {
        hex::encode(ed25519_public_from_seed(&self.seed))
    }

    /// The X25519 public key responses are encrypted to.
    pub fn x25519_public(&self) -> MontgomeryPoint {
        x25519_public(&self.x25519)
    }
}

impl FieldOpener for ClientKey {
    fn looks_encrypted(&self, s: &str) -> bool {
        is_encrypted_chunk(s)
    }

    fn open(&mut self, s: &str) -> Result<Vec<u8>, E2eeError> {
        let wire = decode_wire(s)?;
        let plain = open_wire(&wire, &self.x25519)?;
        self.seen.check(&wire[..KEY_LEN + NONCE_LEN])?;
        Ok(plain)
    }
}
