//! The signing-key cache: the enclave public key last bound to a (provider, model) by
//! attestation, so that E2EE requests served from the report cache need not re-attest.

use std::fmt;
use std::time::Duration;

use subtle::ConstantTimeEq;

use super::key::CacheKey;
use super::ttl_map::TtlMap;
use super::{ATTESTATION_CACHE_TTL, MAX_CACHE_ENTRIES};
use crate::io::Instant;

/// Longest accepted signing key, in bytes of its textual form (an ML-KEM-768 key in base64 is
/// 1580 bytes; secp256k1 and Ed25519 keys in hex are far shorter).
pub const MAX_SIGNING_KEY_LEN: usize = 8192;

/// An attested enclave public key, exactly as the provider sent it (hex or base64 text).
///
/// Equality is constant-time over the bytes (the length is not secret). Non-empty and at most
/// [`MAX_SIGNING_KEY_LEN`] bytes by construction.
#[derive(Clone)]
pub struct SigningKey(String);

/// Why a signing key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigningKeyError {
    /// The key is empty: there is nothing to encrypt to.
    #[error("empty signing key")]
    Empty,
    /// The key is longer than [`MAX_SIGNING_KEY_LEN`].
    #[error("signing key too long: {0} bytes (max {MAX_SIGNING_KEY_LEN})")]
    TooLong(usize),
}

impl SigningKey {
    /// Wraps a key string; refuses an empty or oversized one.
    pub fn new(text: &str) -> Result<Self, SigningKeyError> {
        match text.len() {
            0 => Err(SigningKeyError::Empty),
            n if n > MAX_SIGNING_KEY_LEN => Err(SigningKeyError::TooLong(n)),
            _ => Ok(Self(text.to_owned())),
        }
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a candidate key text (for example pool material).
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for SigningKey {}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().take(16).collect();
        write!(f, "SigningKey({shown}…, {} bytes)", self.0.len())
    }
}

/// What storing a key changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChange {
    /// No live key was cached for this pair.
    New,
    /// The same key was cached: only its age restarted.
    Unchanged,
    /// A different key was cached: the enclave rotated its key (a VM restart?). Worth a warning.
    Rotated,
}

/// Signing keys by [`CacheKey`], valid while at most the TTL old (1 h by default, the same as
/// the report and SPKI caches so the three expire together).
///
/// Guarantees: a key is returned only while live; at most `capacity` (1000 by default) entries
/// are held, evicting like the report cache; comparisons with cached keys are constant-time.
/// Callers store a key only after the attestation that bound it passed enforcement.
#[derive(Clone, Debug)]
pub struct SigningKeyCache {
    map: TtlMap<CacheKey, SigningKey>,
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl SigningKeyCache {
    /// An empty cache with the reference limits: 1 h TTL, 1000 entries.
    pub fn new() -> Self {
        Self::with_limits(ATTESTATION_CACHE_TTL, MAX_CACHE_ENTRIES)
    }

    /// An empty cache with the given TTL and capacity (a zero capacity is raised to one).
    pub fn with_limits(ttl: Duration, capacity: usize) -> Self {
        Self { map: TtlMap::new(ttl, capacity) }
    }

    /// The live key for `key`, if any.
    pub fn get(&self, key: &CacheKey, now: Instant) -> Option<&SigningKey> {
        self.map.get(key, now).map(|e| &e.value)
    }

    /// True when a live key is cached for `key` and equals `candidate` (constant-time).
    pub fn matches(&self, key: &CacheKey, candidate: &str, now: Instant) -> bool {
        self.get(key, now).is_some_and(|k| k.matches(candidate))
    }

    /// Stores `signing_key` at `now` and says whether it replaced a different live key.
    pub fn put(&mut self, key: CacheKey, signing_key: SigningKey, now: Instant) -> KeyChange {
        let change = match self.get(&key, now) {
            None => KeyChange::New,
            Some(old) if *old == signing_key => KeyChange::Unchanged,
            Some(_) => KeyChange::Rotated,
        };
        self.map.insert(key, signing_key, now);
        change
    }

    /// Removes the entry for `key`.
    pub fn remove(&mut self, key: &CacheKey) -> Option<SigningKey> {
        self.map.remove(key)
    }

    /// The most entries held at once.
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Entries stored, expired ones included.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        Instant::from_elapsed(Duration::from_secs(secs))
    }

    fn key() -> CacheKey {
        CacheKey::new("chutes", "m").unwrap()
    }

    #[test]
    fn keys_are_validated() {
        assert_eq!(SigningKey::new("").unwrap_err(), SigningKeyError::Empty);
        let long = "a".repeat(MAX_SIGNING_KEY_LEN + 1);
        assert_eq!(SigningKey::new(&long).unwrap_err(), SigningKeyError::TooLong(MAX_SIGNING_KEY_LEN + 1));
        assert!(SigningKey::new(&long[1..]).is_ok());
    }

    #[test]
    fn put_reports_rotation_and_get_respects_the_ttl() {
        let mut c = SigningKeyCache::new();
        let k1 = SigningKey::new("04aa").unwrap();
        let k2 = SigningKey::new("04bb").unwrap();
        assert_eq!(c.put(key(), k1.clone(), at(0)), KeyChange::New);
        assert_eq!(c.put(key(), k1.clone(), at(10)), KeyChange::Unchanged);
        assert_eq!(c.put(key(), k2.clone(), at(20)), KeyChange::Rotated);
        assert!(c.matches(&key(), "04bb", at(20 + 3600)));
        assert!(!c.matches(&key(), "04aa", at(20)));
        assert!(!c.matches(&key(), "04bb", at(20 + 3601)), "expired keys never match");
        // An expired key counts as absent.
        assert_eq!(c.put(key(), k1, at(10_000)), KeyChange::New);
        assert!(c.remove(&key()).is_some());
        assert!(c.get(&key(), at(10_000)).is_none());
    }

    #[test]
    fn debug_output_is_short() {
        let k = SigningKey::new(&"ab".repeat(800)).unwrap();
        let shown = format!("{k:?}");
        assert!(shown.len() < 64 && shown.contains("1600 bytes"), "{shown}");
    }
}
