//! The key of the per-model caches: provider, model and, where a provider routes one model to
//! several backends, the backend instance.

use std::fmt;

/// Longest accepted provider, model or instance name, in bytes. Longer names come only from a
/// misbehaving client or provider; refusing them keeps every cache's memory bounded.
pub const MAX_KEY_PART: usize = 512;

/// A key part exceeded [`MAX_KEY_PART`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cache key part too long: {len} bytes (max {MAX_KEY_PART})")]
pub struct KeyTooLong {
    /// Length of the rejected part.
    pub len: usize,
}

/// Identifies one cached attestation: `(provider, model)` plus an optional backend instance.
///
/// The parts are kept separately (never joined with a delimiter), so no two distinct triples
/// can collide. Every part is at most [`MAX_KEY_PART`] bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CacheKey {
    provider: String,
    model: String,
    instance: Option<String>,
}

impl CacheKey {
    /// The key of `model` served by `provider`. Fails if a part is longer than [`MAX_KEY_PART`].
    pub fn new(provider: &str, model: &str) -> Result<Self, KeyTooLong> {
        Ok(Self { provider: bounded(provider)?, model: bounded(model)?, instance: None })
    }

    /// The same key narrowed to one backend instance (for example a domain behind a gateway).
    pub fn with_instance(self, instance: &str) -> Result<Self, KeyTooLong> {
        Ok(Self { instance: Some(bounded(instance)?), ..self })
    }

    /// The provider name.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The backend instance, if the key names one.
    pub fn instance(&self) -> Option<&str> {
        self.instance.as_deref()
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.instance {
            Some(i) => write!(f, "{}/{}@{}", self.provider, self.model, i),
            None => write!(f, "{}/{}", self.provider, self.model),
        }
    }
}

fn bounded(part: &str) -> Result<String, KeyTooLong> {
    if part.len() > MAX_KEY_PART { Err(KeyTooLong { len: part.len() }) } else { Ok(part.to_owned()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_kept_apart() {
        let a = CacheKey::new("a/b", "c").unwrap();
        let b = CacheKey::new("a", "b/c").unwrap();
        assert_ne!(a, b);
        let plain = CacheKey::new("p", "m").unwrap();
        let narrowed = plain.clone().with_instance("host:443").unwrap();
        assert_ne!(plain, narrowed);
        assert_eq!(narrowed.instance(), Some("host:443"));
        assert_eq!(narrowed.to_string(), "p/m@host:443");
    }

    #[test]
    fn long_parts_are_refused() {
        let long = "x".repeat(MAX_KEY_PART + 1);
        assert_eq!(CacheKey::new(&long, "m"), Err(KeyTooLong { len: MAX_KEY_PART + 1 }));
        assert!(CacheKey::new("p", &long).is_err());
        assert!(CacheKey::new("p", "m").unwrap().with_instance(&long).is_err());
        assert!(CacheKey::new(&long[1..], "m").is_ok());
    }
}
