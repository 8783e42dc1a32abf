//! Keys: the attested instance key (validated before any use) and the client's ephemeral
//! response key pair.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ml_kem::ml_kem_768::{DecapsulationKey, EncapsulationKey};
use ml_kem::{Decapsulate, Encapsulate, KeyExport, Seed, TryKeyInit};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::primitives::{Label, SymmetricKey, derive_key};
use super::{E2eeError, EK_LEN, KEM_CT_LEN};
use crate::state::signing_key_cache::SigningKey;

/// Longest base64 text accepted for an encapsulation key (1184 bytes encode to 1580).
const MAX_EK_TEXT: usize = 1600;

/// The instance's ML-KEM-768 encapsulation key, as bound by attestation.
///
/// Built only from the key text that attestation verified, and only if it is canonical
/// standard base64 (with padding) of exactly [`EK_LEN`] bytes that pass the FIPS 203 §7.2
/// modulus check (every 12-bit coefficient below 3329; checked by `ml-kem` and again by a
/// decode/encode round trip that must reproduce the input bytes).
#[derive(Clone)]
pub struct InstanceKey {
    ek: Box<EncapsulationKey>,
    text: String,
}

impl InstanceKey {
    /// Validates the attested key text (the `e2e_pubkey` string that REPORTDATA bound).
    pub fn from_attested(key_b64: &str) -> Result<Self, E2eeError> {
        if key_b64.len() > MAX_EK_TEXT {
            return Err(E2eeError::InvalidKey(format!(
                "ML-KEM-768 key text of {} bytes is too long",
                key_b64.len()
            )));
        }
        let bytes = B64.decode(key_b64).map_err(|e| {
            E2eeError::InvalidKey(format!("ML-KEM-768 key is not standard base64: {e}"))
        })?;
        let ek = ek_from_bytes(&bytes)?;
        Ok(Self {
            ek: Box::new(ek),
            text: key_b64.to_owned(),
        })
    }

    /// Validates a key from the signing-key cache (which holds only attested keys).
    pub fn from_signing_key(key: &SigningKey) -> Result<Self, E2eeError> {
        Self::from_attested(key.as_str())
    }

    /// The key text exactly as attested.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Constant-time comparison with another key text (for example nonce-pool material).
    pub fn matches(&self, candidate: &str) -> bool {
        self.text.as_bytes().ct_eq(candidate.as_bytes()).into()
    }

    /// Encapsulates to this key: returns the KEM ciphertext and the key derived from the
    /// shared secret under `label`. The shared secret is zeroized before returning.
    pub(crate) fn encapsulate<R: CryptoRng + ?Sized>(
        &self,
        label: Label,
        rng: &mut R,
    ) -> Result<(Vec<u8>, SymmetricKey), E2eeError> {
        encapsulate_to(&self.ek, label, rng)
    }
}

impl std::fmt::Debug for InstanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: String = self.text.chars().take(16).collect();
        write!(f, "InstanceKey({shown}…)")
    }
}

/// Parses and validates raw encapsulation-key bytes (length, modulus check, round trip).
pub(crate) fn ek_from_bytes(bytes: &[u8]) -> Result<EncapsulationKey, E2eeError> {
    if bytes.len() != EK_LEN {
        return Err(E2eeError::InvalidKey(format!(
            "ML-KEM-768 key is {} bytes, want {EK_LEN}",
            bytes.len()
        )));
    }
    let ek = EncapsulationKey::new_from_slice(bytes).map_err(|_| {
        E2eeError::InvalidKey("ML-KEM-768 key fails the FIPS 203 modulus check".into())
    })?;
    if ek.to_bytes().as_slice() != bytes {
        return Err(E2eeError::InvalidKey(
            "ML-KEM-768 key does not re-encode to itself".into(),
        ));
    }
    Ok(ek)
}

/// Encapsulates to `ek` and derives the `label` key; zeroizes the shared secret.
pub(crate) fn encapsulate_to<R: CryptoRng + ?Sized>(
    ek: &EncapsulationKey,
    label: Label,
    rng: &mut R,
) -> Result<(Vec<u8>, SymmetricKey), E2eeError> {
    let (ct, mut ss) = ek.encapsulate_with_rng(rng);
    let key = derive_key(ss.as_slice(), ct.as_slice(), label);
    ss.as_mut_slice().zeroize();
    Ok((ct.as_slice().to_vec(), key?))
}

/// The client's ephemeral ML-KEM-768 key pair for one request attempt. The decapsulation key
/// is zeroized on drop; the public half goes into the encrypted request.
pub struct ResponseKeyPair {
    dk: Box<DecapsulationKey>,
    ek_b64: String,
}

impl ResponseKeyPair {
    /// A fresh key pair from 64 bytes of `rng` (the FIPS 203 seed `d ‖ z`).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The key pair of a given seed `d ‖ z` (known-answer tests).
    pub fn from_seed(seed: &[u8; 64]) -> Self {
        let mut s = Seed::from(*seed);
        let dk = DecapsulationKey::from_seed(s);
        s.as_mut_slice().zeroize();
        let ek_b64 = B64.encode(dk.encapsulation_key().to_bytes().as_slice());
        Self {
            dk: Box::new(dk),
            ek_b64,
        }
    }

    /// The public half, standard base64 (the `e2e_response_pk` value).
    pub fn public_b64(&self) -> &str {
        &self.ek_b64
    }

    /// The raw shared secret of `kem_ct` (server role and known-answer tests only).
    #[cfg(any(test, feature = "harness"))]
    pub(crate) fn shared_secret(&self, kem_ct: &[u8]) -> Result<Zeroizing<[u8; 32]>, E2eeError> {
        if kem_ct.len() != KEM_CT_LEN {
            return Err(E2eeError::Malformed(format!(
                "KEM ciphertext is {} bytes, want {KEM_CT_LEN}",
                kem_ct.len()
            )));
        }
        let mut ss = self
            .dk
            .decapsulate_slice(kem_ct)
            .map_err(|_| E2eeError::Malformed("KEM ciphertext size".into()))?;
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(ss.as_slice());
        ss.as_mut_slice().zeroize();
        Ok(out)
    }

    /// Decapsulates `kem_ct` (exactly [`KEM_CT_LEN`] bytes) and derives the `label` key.
    /// A ciphertext made for another key yields an unrelated key (implicit rejection), which
    /// then fails authentication.
    pub(crate) fn decapsulate(
        &self,
        kem_ct: &[u8],
        label: Label,
    ) -> Result<SymmetricKey, E2eeError> {
        if kem_ct.len() != KEM_CT_LEN {
            return Err(E2eeError::Malformed(format!(
                "KEM ciphertext is {} bytes, want {KEM_CT_LEN}",
                kem_ct.len()
            )));
        }
        let mut ss = self
            .dk
            .decapsulate_slice(kem_ct)
            .map_err(|_| E2eeError::Malformed("KEM ciphertext has the wrong size".into()))?;
        let key = derive_key(ss.as_slice(), kem_ct, label);
        ss.as_mut_slice().zeroize();
        key
    }
}

impl std::fmt::Debug for ResponseKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: String = self.ek_b64.chars().take(16).collect();
        write!(f, "ResponseKeyPair(public {shown}…)")
    }
}
