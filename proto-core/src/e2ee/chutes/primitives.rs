//! The building blocks of the Chutes scheme: HKDF key derivation, the sealed-payload format
//! (`nonce ‖ ciphertext ‖ tag`) and bounded gzip. Exposed for known-answer tests and the server
//! role; clients use [`super::encrypt_request`] and [`super::ResponseSession`].

use std::io::{Read, Write};

use chacha20poly1305::aead::Aead;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::{E2eeError, NONCE_LEN, TAG_LEN};

/// Bytes of the KEM ciphertext used as HKDF salt.
pub const SALT_LEN: usize = 16;

/// The HKDF `info` label of each direction; distinct labels give independent keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// Client → instance request body (`e2e-req-v1`).
    Request,
    /// Instance → client non-streaming body (`e2e-resp-v1`).
    Response,
    /// Instance → client stream chunks (`e2e-stream-v1`).
    Stream,
}

impl Label {
    /// The ASCII label fed to HKDF-Expand.
    pub fn info(self) -> &'static str {
        match self {
            Label::Request => "e2e-req-v1",
            Label::Response => "e2e-resp-v1",
            Label::Stream => "e2e-stream-v1",
        }
    }
}

/// A 32-byte ChaCha20-Poly1305 key, zeroized on drop. Only [`derive_key`] makes one.
pub struct SymmetricKey(Zeroizing<[u8; 32]>);

impl SymmetricKey {
    /// The key bytes (for known-answer tests).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&(*self.0).into())
    }
}

impl std::fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SymmetricKey(<redacted>)")
    }
}

/// HKDF-SHA256 with IKM = `shared_secret`, salt = `kem_ct[0..16]`, info = `label`, L = 32.
/// Fails only if `kem_ct` is shorter than the salt.
pub fn derive_key(
    shared_secret: &[u8],
    kem_ct: &[u8],
    label: Label,
) -> Result<SymmetricKey, E2eeError> {
    let salt = kem_ct.get(..SALT_LEN).ok_or_else(|| {
        E2eeError::Malformed(format!(
            "KEM ciphertext of {} bytes is shorter than the salt",
            kem_ct.len()
        ))
    })?;
    let hk = Hkdf::<Sha256>::new(Some(salt), shared_secret);
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(label.info().as_bytes(), okm.as_mut())
        .map_err(|_| E2eeError::Malformed("HKDF output length rejected".into()))?;
    Ok(SymmetricKey(okm))
}

/// Seals `plaintext` under `key` with the given nonce and empty AAD: `nonce ‖ ct ‖ tag`.
/// The caller guarantees the nonce is fresh; [`seal`] draws one.
pub fn seal_with_nonce(
    key: &SymmetricKey,
    nonce: [u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>, E2eeError> {
    let ct = key
        .cipher()
        .encrypt(&Nonce::from(nonce), plaintext)
        .map_err(|_| E2eeError::Limit("payload too long for ChaCha20-Poly1305".into()))?;
    let mut wire = Vec::with_capacity(NONCE_LEN + ct.len());
    wire.extend_from_slice(&nonce);
    wire.extend_from_slice(&ct);
    Ok(wire)
}

/// Seals `plaintext` under `key` with a nonce drawn from `rng`: `nonce ‖ ct ‖ tag`.
pub fn seal<R: CryptoRng + ?Sized>(
    key: &SymmetricKey,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, E2eeError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    seal_with_nonce(key, nonce, plaintext)
}

/// The nonce of a sealed payload, if it is long enough to hold nonce and tag.
pub fn nonce_of(wire: &[u8]) -> Option<[u8; NONCE_LEN]> {
    if wire.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    wire.get(..NONCE_LEN)?.try_into().ok()
}

/// Opens `nonce ‖ ct ‖ tag` under `key`. Fails if shorter than nonce + tag or if the tag does
/// not verify (wrong key, any changed byte).
pub fn open(key: &SymmetricKey, wire: &[u8]) -> Result<Vec<u8>, E2eeError> {
    let nonce = nonce_of(wire).ok_or_else(|| {
        E2eeError::Malformed(format!(
            "sealed payload of {} bytes is shorter than nonce and tag",
            wire.len()
        ))
    })?;
    key.cipher()
        .decrypt(&Nonce::from(nonce), &wire[NONCE_LEN..])
        .map_err(|_| E2eeError::AuthFailed("ChaCha20-Poly1305 tag did not verify".into()))
}

/// gzip (RFC 1952) of `data` at the default level.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 2 + 64),
        Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Decompresses a gzip stream (one or more members), failing on a malformed stream, trailing
/// garbage, or more than `limit` bytes of output (never silently cut).
pub fn gunzip_bounded(data: &[u8], limit: usize) -> Result<Vec<u8>, E2eeError> {
    if data.is_empty() {
        return Err(E2eeError::Malformed("gzip: empty input".into()));
    }
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let read = MultiGzDecoder::new(data).take(cap).read_to_end(&mut out);
    match read {
        Err(e) => {
            out.zeroize();
            Err(E2eeError::Malformed(format!("gzip: {e}")))
        }
        Ok(n) if n > limit => {
            out.zeroize();
            Err(E2eeError::Limit(format!(
                "decompressed payload exceeds {limit} bytes"
            )))
        }
        Ok(_) => Ok(out),
    }
}
