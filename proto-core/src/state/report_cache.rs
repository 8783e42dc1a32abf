//! The attestation report cache: the last report per (provider, model), blocked or not.

use std::time::Duration;

use super::key::CacheKey;
use super::ttl_map::TtlMap;
use super::{ATTESTATION_CACHE_TTL, MAX_CACHE_ENTRIES};
use crate::io::Instant;
use crate::report::{Factor, Report, Status};

/// Reports by [`CacheKey`], each valid while its age is at most the TTL (1 h by default).
///
/// Guarantees: [`ReportCache::get`] never returns an entry older than the TTL; the map never
/// holds more than its capacity (1000 by default; see [`ReportCache::put`] for the eviction
/// rule); a blocked report is cached like any other, so that every request for the model is
/// refused from the cache until the entry expires or is removed. Reports are never edited in
/// place: [`ReportCache::set_e2ee_usable`] stores a modified copy.
#[derive(Clone, Debug)]
pub struct ReportCache {
    map: TtlMap<CacheKey, Report>,
}

impl Default for ReportCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ReportCache {
    /// An empty cache with the reference limits: 1 h TTL, 1000 entries.
    pub fn new() -> Self {
        Self::with_limits(ATTESTATION_CACHE_TTL, MAX_CACHE_ENTRIES)
    }

    /// An empty cache with the given TTL and capacity (a zero capacity is raised to one).
    pub fn with_limits(ttl: Duration, capacity: usize) -> Self {
        Self { map: TtlMap::new(ttl, capacity) }
    }

    /// The live report for `key` at `now`, if any.
    pub fn get(&self, key: &CacheKey, now: Instant) -> Option<&Report> {
        self.map.get(key, now).map(|e| &e.value)
    }

    /// When the live report for `key` was stored, if there is one.
    pub fn stored_at(&self, key: &CacheKey, now: Instant) -> Option<Instant> {
        self.map.get(key, now).map(|e| e.stored_at)
    }

    /// Stores `report` at `now`, replacing (and restarting the age of) any earlier entry.
    ///
    /// Only a new key inserted into a full cache evicts: first every expired entry, then, if
    /// still full, the oldest. Returns how many entries were evicted, so the caller can warn.
    pub fn put(&mut self, key: CacheKey, report: Report, now: Instant) -> usize {
        self.map.insert(key, report, now)
    }

    /// Removes the entry for `key`, live or expired, and returns it.
    pub fn remove(&mut self, key: &CacheKey) -> Option<Report> {
        self.map.remove(key)
    }

    /// Re-stores a copy of the live report for `key` with its `e2ee_usable` line set to
    /// `status` and `detail`, keeping the entry's age. (The reference proxy restarts it, so
    /// under steady traffic its report never expires and the full verification never reruns;
    /// here it reruns every TTL.)
    ///
    /// Returns the updated report, or `None` (and changes nothing) when no live report is
    /// cached or the report has no `e2ee_usable` line.
    pub fn set_e2ee_usable(&mut self, key: &CacheKey, status: Status, detail: &str, now: Instant) -> Option<Report> {
        let stored_at = self.stored_at(key, now)?;
        let updated = with_e2ee_usable(self.get(key, now)?, status, detail)?;
        self.map.insert(key.clone(), updated.clone(), stored_at);
        Some(updated)
    }

    /// The most entries held at once.
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Entries stored, expired ones included (what a dashboard shows as the cache size).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The keys of live entries with their storage time, in key order.
    pub fn live(&self, now: Instant) -> Vec<(CacheKey, Instant)> {
        self.map.live(now).map(|(k, e)| (k.clone(), e.stored_at)).collect()
    }

    /// The TTL entries live for.
    pub fn ttl(&self) -> Duration {
        self.map.ttl()
    }
}

/// A copy of `report` whose `e2ee_usable` line says `status` / `detail`; `None` if it has none.
pub(crate) fn with_e2ee_usable(report: &Report, status: Status, detail: &str) -> Option<Report> {
    let mut copy = report.clone();
    let line = copy.factors.iter_mut().find(|f| f.factor == Factor::E2eeUsable)?;
    line.status = status;
    line.detail = detail.to_owned();
    Some(copy)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::{AllowFail, Metadata, Verdict};

    /// A small report: one binding factor passing, `e2ee_usable` deferred, optionally blocked.
    pub(crate) fn report(model: &str, blocked: bool) -> Report {
        let binding = if blocked { Verdict::fail("REPORTDATA mismatch") } else { Verdict::pass("bound") };
        let mut pending = Verdict::skip("E2EE configured; pending live test");
        pending.deferred = true;
        Report::build(
            "venice",
            model,
            &"00".repeat(32),
            "2026-06-10T00:00:00Z",
            Metadata::default(),
            vec![(Factor::TeeReportdataBinding, binding), (Factor::E2eeUsable, pending)],
            &AllowFail::default(),
        )
    }

    fn at(secs: u64) -> Instant {
        Instant::from_elapsed(Duration::from_secs(secs))
    }

    fn key(m: &str) -> CacheKey {
        CacheKey::new("venice", m).unwrap()
    }

    #[test]
    fn expires_after_an_hour() {
        let mut c = ReportCache::new();
        c.put(key("m"), report("m", false), at(100));
        assert!(c.get(&key("m"), at(100 + 3600)).is_some());
        assert!(c.get(&key("m"), at(100 + 3601)).is_none());
        assert!(c.get(&key("other"), at(100)).is_none());
    }

    #[test]
    fn blocked_reports_are_cached_too() {
        let mut c = ReportCache::new();
        c.put(key("m"), report("m", true), at(0));
        assert!(c.get(&key("m"), at(1)).is_some_and(Report::is_blocked));
    }

    #[test]
    fn bounded_with_eviction_of_the_oldest() {
        let mut c = ReportCache::with_limits(Duration::from_secs(3600), 3);
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            c.put(key(m), report(m, false), at(i as u64));
        }
        assert_eq!(c.put(key("d"), report("d", false), at(10)), 1);
        assert_eq!(c.len(), 3);
        assert!(c.get(&key("a"), at(10)).is_none());
        let live: Vec<_> = c.live(at(10)).into_iter().map(|(k, _)| k.model().to_owned()).collect();
        assert_eq!(live, ["b", "c", "d"]);
    }

    #[test]
    fn e2ee_promotion_copies_and_keeps_the_age() {
        let mut c = ReportCache::new();
        c.put(key("m"), report("m", false), at(0));
        let updated = c.set_e2ee_usable(&key("m"), Status::Pass, "E2EE roundtrip succeeded via proxy", at(3000));
        let line = updated.as_ref().and_then(|r| r.factor(Factor::E2eeUsable)).unwrap();
        assert_eq!(line.status, Status::Pass);
        assert_eq!(c.get(&key("m"), at(3000)).and_then(|r| r.factor(Factor::E2eeUsable)).map(|l| l.status), Some(Status::Pass));
        assert_eq!(c.stored_at(&key("m"), at(3000)), Some(at(0)));
        assert!(c.get(&key("m"), at(3601)).is_none(), "the full verification reruns after the TTL");
        assert!(c.set_e2ee_usable(&key("absent"), Status::Pass, "x", at(0)).is_none());
    }
}
