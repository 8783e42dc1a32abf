//! All the state shared by the requests of one proxy (or library) session, and the rules that
//! touch several caches at once.

use std::collections::BTreeSet;

use super::key::CacheKey;
use super::negative_cache::NegativeCache;
use super::nonce_pool::{ChuteId, NoncePool, PoolConfig};
use super::report_cache::{ReportCache, with_e2ee_usable};
use super::signing_key_cache::SigningKeyCache;
use super::single_flight::SingleFlight;
use super::spki_pin::SpkiPinCache;
use crate::io::Instant;
use crate::report::{Report, Status};

/// Longest request id quoted in a report detail.
const MAX_REQUEST_ID: usize = 32;

/// Where a response that failed to decrypt came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailedVia<'a> {
    /// A Chutes E2EE request to this chute: its nonce pool is invalidated.
    Chutes(&'a ChuteId),
    /// A pinned connection to this domain (neardirect, nearcloud): its pins are dropped.
    Pinned(&'a str),
    /// Any other E2EE provider (venice): the pair is marked E2EE-failed.
    Other,
}

/// What the prior-failure gate decided for an E2EE request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum E2eeGate {
    /// No earlier failure stands in the way (or a fresh attestation cleared it).
    Proceed,
    /// An earlier decryption failure and only a cached report: report and key were dropped;
    /// answer 503 "E2EE previously failed; re-attestation required".
    Refuse,
}

/// The shared state a runtime wraps in a lock: every cache, the nonce pool and the in-flight
/// attestations.
///
/// Guarantees (beyond those of each part): [`SessionState::on_decryption_failure`] leaves no
/// cached report, signing key or SPKI pin through which the failed (provider, model) could be
/// used again without a fresh attestation; the E2EE-failed marks are bounded.
#[derive(Debug)]
pub struct SessionState {
    /// Verification reports by (provider, model).
    pub reports: ReportCache,
    /// Attested signing keys by (provider, model).
    pub signing_keys: SigningKeyCache,
    /// Recent attestation failures.
    pub negative: NegativeCache,
    /// Attested TLS keys by domain.
    pub pins: SpkiPinCache,
    /// Chutes nonces.
    pub nonce_pool: NoncePool,
    /// Attestations under way, so concurrent first requests share one.
    pub attestations: SingleFlight<CacheKey>,
    e2ee_failed: BTreeSet<CacheKey>,
}

impl Default for SessionState {
    fn default() -> Self {
        Self::new(PoolConfig::default())
    }
}

impl SessionState {
    /// Empty state with the reference limits and the given nonce-pool tuning.
    pub fn new(pool: PoolConfig) -> Self {
        Self {
            reports: ReportCache::new(),
            signing_keys: SigningKeyCache::new(),
            negative: NegativeCache::new(),
            pins: SpkiPinCache::new(),
            nonce_pool: NoncePool::new(pool),
            attestations: SingleFlight::new(),
            e2ee_failed: BTreeSet::new(),
        }
    }

    /// The "three caches" rule, applied when a response could not be decrypted and retries
    /// are exhausted:
    /// 1. Chutes: invalidate the chute's nonce pool; pinned: drop the domain's pins; others:
    ///    mark the pair E2EE-failed (see [`SessionState::e2ee_gate`]);
    /// 2. remove the cached report, returning a copy whose `e2ee_usable` line is Fail with a
    ///    detail that names only the request id (never decrypted content), for logs and the
    ///    dashboard;
    /// 3. remove the signing key.
    ///
    /// The next request for the pair therefore re-attests from scratch.
    pub fn on_decryption_failure(
        &mut self,
        key: &CacheKey,
        via: FailedVia<'_>,
        request_id: &str,
        now: Instant,
    ) -> Option<Report> {
        match via {
            FailedVia::Chutes(chute) => self.nonce_pool.invalidate(chute),
            FailedVia::Pinned(domain) => self.pins.delete_domain(domain),
            FailedVia::Other => self.mark_e2ee_failed(key.clone(), now),
        }
        let prefix = if matches!(via, FailedVia::Pinned(_)) { "pinned " } else { "" };
        let detail = format!("{prefix}E2EE decryption failed (see server logs, req={})", sanitized(request_id));
        let demoted = self.reports.get(key, now).and_then(|r| with_e2ee_usable(r, Status::Fail, &detail));
        self.reports.remove(key);
        self.signing_keys.remove(key);
        demoted
    }

    /// The prior-failure gate for an E2EE request on `key`: with a fresh attestation in this
    /// request the mark is cleared; with only a cached report, the report and signing key are
    /// dropped and the request must be refused.
    pub fn e2ee_gate(&mut self, key: &CacheKey, fresh_attestation: bool) -> E2eeGate {
        if !self.e2ee_failed.contains(key) {
            return E2eeGate::Proceed;
        }
        if fresh_attestation {
            self.e2ee_failed.remove(key);
            E2eeGate::Proceed
        } else {
            self.reports.remove(key);
            self.signing_keys.remove(key);
            E2eeGate::Refuse
        }
    }

    /// True when `key` carries an E2EE-failed mark.
    pub fn is_e2ee_failed(&self, key: &CacheKey) -> bool {
        self.e2ee_failed.contains(key)
    }

    /// After a successful E2EE round trip: re-stores the cached report with `e2ee_usable`
    /// passing (detail names the proxy or pinned path) and returns it.
    pub fn on_e2ee_success(&mut self, key: &CacheKey, pinned: bool, now: Instant) -> Option<Report> {
        let detail = if pinned {
            "E2EE roundtrip succeeded via pinned connection"
        } else {
            "E2EE roundtrip succeeded via proxy"
        };
        self.reports.set_e2ee_usable(key, Status::Pass, detail, now)
    }

    fn mark_e2ee_failed(&mut self, key: CacheKey, now: Instant) {
        let cap = self.reports_capacity_for_marks();
        if !self.e2ee_failed.contains(&key) && self.e2ee_failed.len() >= cap {
            // A mark matters only while a report is cached for its pair (without one, the next
            // request attests afresh, which clears the mark): drop the others first.
            let reports = &self.reports;
            self.e2ee_failed.retain(|k| reports.get(k, now).is_some());
        }
        if self.e2ee_failed.len() < cap {
            self.e2ee_failed.insert(key);
        }
    }

    fn reports_capacity_for_marks(&self) -> usize {
        // Twice the report cache's bound: after pruning, at most half that many marks matter.
        self.reports.capacity().saturating_mul(2)
    }
}

/// The request id as quoted in a report: alphanumerics and `-` only, bounded.
fn sanitized(request_id: &str) -> String {
    request_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(MAX_REQUEST_ID).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::Factor;
    use crate::state::nonce_pool::{InstanceNonces, RefillBatch, Take};
    use crate::state::report_cache::tests::report;
    use crate::state::signing_key_cache::SigningKey;
    use crate::state::spki_pin::PinDecision;
    use crate::tls::SpkiHash;

    fn at(secs: u64) -> Instant {
        Instant::from_elapsed(Duration::from_secs(secs))
    }

    fn filled(provider: &str) -> (SessionState, CacheKey) {
        let key = CacheKey::new(provider, "m").unwrap();
        let mut s = SessionState::default();
        s.reports.put(key.clone(), report("m", false), at(0));
        s.signing_keys.put(key.clone(), SigningKey::new("k").unwrap(), at(0));
        (s, key)
    }

    #[test]
    fn chutes_failure_invalidates_pool_report_and_key() {
        let (mut s, key) = filled("chutes");
        let chute = ChuteId::new("c").unwrap();
        let Take::Refill(t) = s.nonce_pool.take(&chute, at(0)) else { panic!() };
        let batch = RefillBatch {
            instances: vec![InstanceNonces {
                instance_id: "i".into(),
                e2e_pubkey: "k".into(),
                nonces: vec!["n".into()],
            }],
            nonce_expires_in: None,
        };
        s.nonce_pool.finish_refill(t, Ok(batch), at(0)).unwrap();
        s.nonce_pool.mark_failed(&chute, "other");

        let demoted = s.on_decryption_failure(&key, FailedVia::Chutes(&chute), "1a2b3c4d", at(1)).unwrap();
        let line = demoted.factor(Factor::E2eeUsable).unwrap();
        assert_eq!(line.status, Status::Fail);
        assert_eq!(line.detail, "E2EE decryption failed (see server logs, req=1a2b3c4d)");
        assert!(s.reports.get(&key, at(1)).is_none());
        assert!(s.signing_keys.get(&key, at(1)).is_none());
        assert_eq!(s.nonce_pool.available(&chute, at(1)), 0);
        assert_eq!(s.nonce_pool.failures(&chute, "other"), 0);
        assert!(!s.is_e2ee_failed(&key), "chutes uses pool invalidation, not the mark");
    }

    #[test]
    fn pinned_failure_drops_the_domain_pins() {
        let (mut s, key) = filled("nearcloud");
        let spki = SpkiHash([7; 32]);
        s.pins.pin("cloud-api.near.ai", spki, &report("m", false), at(0)).unwrap();
        let demoted = s.on_decryption_failure(&key, FailedVia::Pinned("cloud-api.near.ai"), "req\n<x>", at(1));
        let detail = demoted.unwrap().factor(Factor::E2eeUsable).unwrap().detail.clone();
        assert_eq!(detail, "pinned E2EE decryption failed (see server logs, req=reqx)");
        assert_eq!(s.pins.check("cloud-api.near.ai", &spki, at(1)), PinDecision::Attest);
        assert!(s.reports.get(&key, at(1)).is_none() && s.signing_keys.get(&key, at(1)).is_none());
    }

    #[test]
    fn other_providers_get_a_mark_that_only_a_fresh_attestation_clears() {
        let (mut s, key) = filled("venice");
        assert_eq!(s.e2ee_gate(&key, false), E2eeGate::Proceed);
        s.on_decryption_failure(&key, FailedVia::Other, "r1", at(1));
        assert!(s.is_e2ee_failed(&key));
        // A concurrent request re-cached a report: a cached report cannot clear the mark.
        s.reports.put(key.clone(), report("m", false), at(2));
        s.signing_keys.put(key.clone(), SigningKey::new("k").unwrap(), at(2));
        assert_eq!(s.e2ee_gate(&key, false), E2eeGate::Refuse);
        assert!(s.reports.get(&key, at(2)).is_none() && s.signing_keys.get(&key, at(2)).is_none());
        assert!(s.is_e2ee_failed(&key));
        assert_eq!(s.e2ee_gate(&key, true), E2eeGate::Proceed);
        assert!(!s.is_e2ee_failed(&key));
    }

    #[test]
    fn success_promotes_e2ee_usable() {
        let (mut s, key) = filled("venice");
        let r = s.on_e2ee_success(&key, false, at(5)).unwrap();
        let line = r.factor(Factor::E2eeUsable).unwrap();
        assert_eq!((line.status, line.detail.as_str()), (Status::Pass, "E2EE roundtrip succeeded via proxy"));
        assert_eq!(s.reports.get(&key, at(5)), Some(&r));
    }

    #[test]
    fn marks_are_bounded() {
        let mut s = SessionState::default();
        for i in 0..super::super::MAX_CACHE_ENTRIES * 3 {
            let key = CacheKey::new("venice", &format!("m{i}")).unwrap();
            s.on_decryption_failure(&key, FailedVia::Other, "r", at(0));
        }
        assert!(s.e2ee_failed.len() <= super::super::MAX_CACHE_ENTRIES * 2);
    }
}
