//! The SPKI pin cache: per domain, the TLS keys that attestation proved to belong to a TEE, so
//! later connections presenting one of those keys may skip re-attestation.

use std::collections::BTreeMap;
use std::time::Duration;

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use super::ATTESTATION_CACHE_TTL;
use crate::io::Instant;
use crate::report::Report;
use crate::tls::SpkiHash;

/// Pins kept per domain (the oldest goes when a 17th is added).
pub const MAX_PINS_PER_DOMAIN: usize = 16;
/// Domains kept (the domain holding the globally oldest pin goes when a new one is added).
pub const MAX_PIN_DOMAINS: usize = 1024;
/// Longest accepted domain string (a 253-byte host name plus `:port`).
pub const MAX_DOMAIN_LEN: usize = 300;

/// What a connection that presented a given key to a domain may do.
///
/// There is no way to send a request from the cache except through [`PinDecision::Accept`],
/// whose [`Pinned`] value only the cache can build, and only for a key equal to a live pin.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a pin decision must be acted on"]
pub enum PinDecision {
    /// The presented key is pinned for this domain and the pin is live: the connection may
    /// carry the request without attesting again.
    Accept(Pinned),
    /// No live pin for this domain: attest on this connection before it carries anything else.
    Attest,
    /// The domain has live pins but the presented key is none of them (a rotated certificate or
    /// another backend; or an impostor). Never send from the cache: attest on this connection,
    /// which binds the new key if it is genuine, or refuse.
    Mismatch,
}

/// Proof that a connection's key equals a live pin for its domain. Built only by
/// [`SpkiPinCache::check`] and [`SpkiPinCache::pin`]; it cannot be forged or edited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    domain: String,
    spki: SpkiHash,
    pinned_at: Instant,
    expires_at: Instant,
}

impl Pinned {
    /// The domain the pin is for.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The pinned (and presented) SPKI hash.
    pub fn spki(&self) -> &SpkiHash {
        &self.spki
    }

    /// When attestation bound this key.
    pub fn pinned_at(&self) -> Instant {
        self.pinned_at
    }

    /// The last instant at which the pin is live.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }
}

/// Why a pin was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinRefused {
    /// The report that would justify the pin is blocked: a blocked report never pins.
    #[error("report is blocked; a blocked attestation never pins a key")]
    Blocked,
    /// The domain is empty.
    #[error("empty domain")]
    EmptyDomain,
    /// The domain is longer than [`MAX_DOMAIN_LEN`].
    #[error("domain too long: {0} bytes (max {MAX_DOMAIN_LEN})")]
    DomainTooLong(usize),
}

#[derive(Clone, Copy, Debug)]
struct Pin {
    spki: SpkiHash,
    added_at: Instant,
}

/// Attested SPKI hashes per domain, each live while at most the TTL (1 h by default) old.
///
/// Guarantees: [`SpkiPinCache::check`] accepts a connection only if its key equals a live pin
/// of that domain, comparing against every stored pin in constant time; a pin is stored only
/// with a non-blocked report; at most [`MAX_PINS_PER_DOMAIN`] pins per domain and
/// [`MAX_PIN_DOMAINS`] domains are held.
#[derive(Clone, Debug)]
pub struct SpkiPinCache {
    domains: BTreeMap<String, Vec<Pin>>,
    ttl: Duration,
}

impl Default for SpkiPinCache {
    fn default() -> Self {
        Self::new()
    }
}

impl SpkiPinCache {
    /// An empty cache with the reference TTL (1 h).
    pub fn new() -> Self {
        Self::with_ttl(ATTESTATION_CACHE_TTL)
    }

    /// An empty cache with the given TTL.
    pub fn with_ttl(ttl: Duration) -> Self {
        Self { domains: BTreeMap::new(), ttl }
    }

    /// Decides what a connection to `domain` that presented `observed` may do at `now`.
    pub fn check(&self, domain: &str, observed: &SpkiHash, now: Instant) -> PinDecision {
        let Some(pins) = self.domains.get(domain) else { return PinDecision::Attest };
        let mut any_live = false;
        let mut found = Choice::from(0);
        let (mut secs, mut nanos) = (0u64, 0u32);
        // Visit every pin (no early exit) and compare each in constant time.
        for pin in pins {
            let live = self.is_live(pin.added_at, now);
            any_live |= live;
            let hit = pin.spki.as_bytes().ct_eq(observed.as_bytes()) & Choice::from(u8::from(live));
            let at = pin.added_at.elapsed_since_origin();
            secs.conditional_assign(&at.as_secs(), hit);
            nanos.conditional_assign(&at.subsec_nanos(), hit);
            found |= hit;
        }
        if bool::from(found) {
            let pinned_at = Instant::from_elapsed(Duration::new(secs, nanos));
            PinDecision::Accept(self.pinned(domain, *observed, pinned_at))
        } else if any_live {
            PinDecision::Mismatch
        } else {
            PinDecision::Attest
        }
    }

    /// Pins `spki` for `domain` at `now`, justified by `report`, which must not be blocked.
    ///
    /// A new domain when [`MAX_PIN_DOMAINS`] exist evicts the domain holding the globally
    /// oldest pin; the domain's expired pins are dropped; if [`MAX_PINS_PER_DOMAIN`] remain,
    /// its oldest goes. Re-pinning a key restarts its age.
    pub fn pin(&mut self, domain: &str, spki: SpkiHash, report: &Report, now: Instant) -> Result<Pinned, PinRefused> {
        if report.is_blocked() {
            return Err(PinRefused::Blocked);
        }
        if domain.is_empty() {
            return Err(PinRefused::EmptyDomain);
        }
        if domain.len() > MAX_DOMAIN_LEN {
            return Err(PinRefused::DomainTooLong(domain.len()));
        }
        if !self.domains.contains_key(domain) && self.domains.len() >= MAX_PIN_DOMAINS {
            self.evict_oldest_domain();
        }
        let ttl = self.ttl;
        let pins = self.domains.entry(domain.to_owned()).or_default();
        pins.retain(|p| now.saturating_since(p.added_at) <= ttl && p.spki != spki);
        if pins.len() >= MAX_PINS_PER_DOMAIN
            && let Some((i, _)) = pins.iter().enumerate().min_by_key(|(_, p)| p.added_at)
        {
            pins.remove(i);
        }
        pins.push(Pin { spki, added_at: now });
        Ok(self.pinned(domain, spki, now))
    }

    /// Drops every pin of `domain`, so its next connection re-attests.
    pub fn delete_domain(&mut self, domain: &str) {
        self.domains.remove(domain);
    }

    /// Pins stored across all domains, expired ones included.
    pub fn len(&self) -> usize {
        self.domains.values().map(Vec::len).sum()
    }

    /// True when no pin is stored.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Domains with stored pins.
    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    fn is_live(&self, added_at: Instant, now: Instant) -> bool {
        now.saturating_since(added_at) <= self.ttl
    }

    fn pinned(&self, domain: &str, spki: SpkiHash, pinned_at: Instant) -> Pinned {
        Pinned { domain: domain.to_owned(), spki, pinned_at, expires_at: pinned_at + self.ttl }
    }

    fn evict_oldest_domain(&mut self) {
        let victim = self
            .domains
            .iter()
            .filter_map(|(d, pins)| pins.iter().map(|p| p.added_at).min().map(|at| (at, d)))
            .min()
            .map(|(_, d)| d.clone());
        let victim = victim.or_else(|| self.domains.keys().next().cloned());
        if let Some(d) = victim {
            self.domains.remove(&d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::report_cache::tests::report;

    fn at(secs: u64) -> Instant {
        Instant::from_elapsed(Duration::from_secs(secs))
    }

    fn spki(b: u8) -> SpkiHash {
        SpkiHash([b; 32])
    }

    #[test]
    fn accept_only_the_pinned_key_while_live() {
        let mut c = SpkiPinCache::new();
        let ok = report("m", false);
        assert_eq!(c.check("d.example", &spki(1), at(0)), PinDecision::Attest);
        let pinned = c.pin("d.example", spki(1), &ok, at(10)).unwrap();
        assert_eq!(pinned.expires_at(), at(3610));
        match c.check("d.example", &spki(1), at(3610)) {
            PinDecision::Accept(p) => {
                assert_eq!((p.domain(), p.spki(), p.pinned_at()), ("d.example", &spki(1), at(10)));
            }
            other => panic!("expected accept, got {other:?}"),
        }
        assert_eq!(c.check("d.example", &spki(2), at(20)), PinDecision::Mismatch);
        assert_eq!(c.check("other.example", &spki(1), at(20)), PinDecision::Attest);
        assert_eq!(c.check("d.example", &spki(1), at(3611)), PinDecision::Attest, "expired pin");
        assert_eq!(c.check("d.example", &spki(2), at(3611)), PinDecision::Attest);
    }

    #[test]
    fn differing_by_one_bit_is_a_mismatch() {
        let mut c = SpkiPinCache::new();
        c.pin("d", spki(0), &report("m", false), at(0)).unwrap();
        for byte in 0..32 {
            for bit in 0..8 {
                let mut other = spki(0);
                other.0[byte] ^= 1 << bit;
                assert_eq!(c.check("d", &other, at(1)), PinDecision::Mismatch);
            }
        }
    }

    #[test]
    fn blocked_reports_and_bad_domains_never_pin() {
        let mut c = SpkiPinCache::new();
        assert_eq!(c.pin("d", spki(1), &report("m", true), at(0)), Err(PinRefused::Blocked));
        assert_eq!(c.pin("", spki(1), &report("m", false), at(0)), Err(PinRefused::EmptyDomain));
        let long = "a".repeat(MAX_DOMAIN_LEN + 1);
        assert!(matches!(c.pin(&long, spki(1), &report("m", false), at(0)), Err(PinRefused::DomainTooLong(_))));
        assert!(c.is_empty());
        assert_eq!(c.check("d", &spki(1), at(0)), PinDecision::Attest);
    }

    #[test]
    fn per_domain_and_domain_count_bounds() {
        let mut c = SpkiPinCache::new();
        let ok = report("m", false);
        for i in 0..=MAX_PINS_PER_DOMAIN as u8 {
            c.pin("d", spki(i), &ok, at(u64::from(i))).unwrap();
        }
        assert_eq!(c.len(), MAX_PINS_PER_DOMAIN);
        assert_eq!(c.check("d", &spki(0), at(100)), PinDecision::Mismatch, "oldest pin evicted");
        assert!(matches!(c.check("d", &spki(16), at(100)), PinDecision::Accept(_)));

        let mut c = SpkiPinCache::new();
        for i in 0..MAX_PIN_DOMAINS {
            c.pin(&format!("d{i}"), spki(1), &ok, at(i as u64 + 1)).unwrap();
        }
        c.pin("new", spki(1), &ok, at(5000)).unwrap();
        assert_eq!(c.domain_count(), MAX_PIN_DOMAINS);
        assert_eq!(c.check("d0", &spki(1), at(5000)), PinDecision::Attest, "oldest domain evicted");
        assert!(matches!(c.check("d1", &spki(1), at(1)), PinDecision::Accept(_)));
    }

    #[test]
    fn delete_domain_forces_attestation_and_repin_restarts_age() {
        let mut c = SpkiPinCache::new();
        let ok = report("m", false);
        c.pin("d", spki(1), &ok, at(0)).unwrap();
        c.pin("d", spki(1), &ok, at(3000)).unwrap();
        assert_eq!(c.len(), 1);
        assert!(matches!(c.check("d", &spki(1), at(6000)), PinDecision::Accept(_)));
        c.delete_domain("d");
        assert_eq!(c.check("d", &spki(1), at(6000)), PinDecision::Attest);
    }
}
