//! The negative cache: after a failed attestation, requests for that (provider, model) are
//! refused without any network I/O until a backoff has passed.

use std::collections::BTreeMap;
use std::time::Duration;

use super::MAX_CACHE_ENTRIES;
use super::key::CacheKey;
use crate::io::Instant;

/// How long a failure blocks retries, as a function of how many failures came in a row.
///
/// The delay after the `n`-th consecutive failure is `initial * factor^(n-1)`, capped at `max`
/// (saturating, never overflowing; a factor of 0 or 1 means constant). A failure continues a streak when it is recorded less
/// than `max` after the previous block ended; otherwise the streak restarts at one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Growth per consecutive failure (1 = constant).
    pub factor: u32,
    /// Largest delay.
    pub max: Duration,
}

impl Backoff {
    /// The reference proxy's rule (the spec's): a constant 30 s after every failure.
    pub const REFERENCE: Backoff =
        Backoff { initial: Duration::from_secs(30), factor: 1, max: Duration::from_secs(30) };

    /// Doubling from `initial` up to `max`.
    pub const fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff { initial, factor: 2, max }
    }

    /// The delay after the `streak`-th consecutive failure (a streak of 0 counts as 1).
    pub fn delay(&self, streak: u32) -> Duration {
        let mut delay = self.initial.min(self.max);
        if self.factor <= 1 || delay.is_zero() {
            return delay;
        }
        // Each step at least doubles a non-zero delay, so this ends within ~100 steps.
        for _ in 1..streak {
            if delay >= self.max {
                break;
            }
            delay = delay.saturating_mul(self.factor).min(self.max);
        }
        delay
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::REFERENCE
    }
}

/// A (provider, model) whose attestation failed recently: do not attest before `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocked {
    /// When the failure was recorded.
    pub recorded_at: Instant,
    /// First instant at which a new attestation may be tried.
    pub until: Instant,
    /// Consecutive failures so far (1 for the first).
    pub streak: u32,
}

impl Blocked {
    /// Time left before a retry is allowed, at `now`.
    pub fn remaining(&self, now: Instant) -> Duration {
        self.until.saturating_since(now)
    }
}

/// Recent attestation failures by [`CacheKey`].
///
/// Guarantees: after [`NegativeCache::record`] at `t`, [`NegativeCache::check`] reports the key
/// blocked for every `now` in `[t, t + delay)`, where the delay follows the [`Backoff`] policy
/// (30 s constant by default, as the reference proxy); the cache never holds more than its
/// capacity (1000 by default). Only a successful attestation ([`NegativeCache::clear`]) ends a
/// streak early; a block is never shortened by a later record.
#[derive(Clone, Debug)]
pub struct NegativeCache {
    entries: BTreeMap<CacheKey, Blocked>,
    policy: Backoff,
    capacity: usize,
}

impl Default for NegativeCache {
    fn default() -> Self {
        Self::new()
    }
}

impl NegativeCache {
    /// An empty cache with the reference policy (30 s constant) and 1000 entries.
    pub fn new() -> Self {
        Self::with_policy(Backoff::REFERENCE, MAX_CACHE_ENTRIES)
    }

    /// An empty cache with the given policy and capacity (a zero capacity is raised to one).
    pub fn with_policy(policy: Backoff, capacity: usize) -> Self {
        Self { entries: BTreeMap::new(), policy, capacity: capacity.max(1) }
    }

    /// The block on `key` at `now`, if one is in force.
    pub fn check(&self, key: &CacheKey, now: Instant) -> Option<Blocked> {
        self.entries.get(key).copied().filter(|b| now < b.until)
    }

    /// Records a failed attestation for `key` at `now` and returns the resulting block.
    ///
    /// Inserting a new key into a full cache first drops every entry no longer in force, then,
    /// if still full, the one whose block ends first.
    pub fn record(&mut self, key: CacheKey, now: Instant) -> Blocked {
        let streak = match self.entries.get(&key) {
            Some(prev) if now < prev.until + self.policy.max => prev.streak.saturating_add(1),
            _ => 1,
        };
        let mut until = now + self.policy.delay(streak);
        if let Some(prev) = self.entries.get(&key) {
            until = until.max(prev.until);
        } else if self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        let blocked = Blocked { recorded_at: now, until, streak };
        self.entries.insert(key, blocked);
        blocked
    }

    /// Forgets `key` after a successful attestation: the next failure starts a new streak.
    pub fn clear(&mut self, key: &CacheKey) {
        self.entries.remove(key);
    }

    /// Entries stored, including those no longer in force.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The policy in use.
    pub fn policy(&self) -> Backoff {
        self.policy
    }

    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, b| now < b.until);
        if self.entries.len() >= self.capacity {
            let first = self.entries.iter().min_by_key(|(_, b)| b.until).map(|(k, _)| k.clone());
            if let Some(k) = first {
                self.entries.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        Instant::from_elapsed(Duration::from_secs(secs))
    }

    fn key(m: &str) -> CacheKey {
        CacheKey::new("nearcloud", m).unwrap()
    }

    #[test]
    fn reference_policy_blocks_for_thirty_seconds() {
        let mut c = NegativeCache::new();
        assert!(c.check(&key("m"), at(0)).is_none());
        let b = c.record(key("m"), at(100));
        assert_eq!(b.until, at(130));
        assert!(c.check(&key("m"), at(100)).is_some());
        assert_eq!(c.check(&key("m"), at(129)).map(|b| b.remaining(at(129))), Some(Duration::from_secs(1)));
        assert!(c.check(&key("m"), at(130)).is_none(), "blocked while age < TTL");
        // A second failure right after: still 30 s (constant policy).
        assert_eq!(c.record(key("m"), at(130)).until, at(160));
        assert!(c.check(&key("other"), at(131)).is_none());
    }

    #[test]
    fn exponential_policy_grows_and_caps() {
        let p = Backoff::exponential(Duration::from_secs(30), Duration::from_secs(300));
        let delays: Vec<u64> = (1..=6).map(|n| p.delay(n).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 300, 300]);
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(300));
        assert_eq!(p.delay(0), Duration::from_secs(30));
        let odd = Backoff { initial: Duration::ZERO, factor: 0, max: Duration::from_secs(5) };
        assert_eq!(odd.delay(u32::MAX), Duration::ZERO);
        let constant = Backoff { factor: 1, ..p };
        assert_eq!(constant.delay(u32::MAX), Duration::from_secs(30));

        let mut c = NegativeCache::with_policy(p, 10);
        let mut now = at(0);
        let mut seen = Vec::new();
        for _ in 0..4 {
            let b = c.record(key("m"), now);
            seen.push((b.streak, b.until.saturating_since(now).as_secs()));
            let just_before = Instant::from_elapsed(b.until.elapsed_since_origin() - Duration::from_secs(1));
            assert!(c.check(&key("m"), just_before).is_some());
            assert!(c.check(&key("m"), b.until).is_none());
            now = b.until; // retry exactly when allowed, fail again
        }
        assert_eq!(seen, [(1, 30), (2, 60), (3, 120), (4, 240)]);
        // A long quiet period restarts the streak.
        let b = c.record(key("m"), now + Duration::from_secs(10_000));
        assert_eq!(b.streak, 1);
        // Success clears it.
        c.clear(&key("m"));
        assert!(c.check(&key("m"), now + Duration::from_secs(10_000)).is_none());
    }

    #[test]
    fn a_later_record_never_shortens_a_block() {
        let p = Backoff::exponential(Duration::from_secs(10), Duration::from_secs(100));
        let mut c = NegativeCache::with_policy(p, 10);
        c.record(key("m"), at(0));
        c.record(key("m"), at(1)); // streak 2: until 21
        let b = c.record(key("m"), at(2)); // streak 3: until 42
        assert_eq!((b.streak, b.until), (3, at(42)));
    }

    #[test]
    fn bounded_dropping_lapsed_blocks_first() {
        let mut c = NegativeCache::with_policy(Backoff::REFERENCE, 2);
        c.record(key("a"), at(0));
        c.record(key("b"), at(20));
        c.record(key("c"), at(40)); // "a" has lapsed: it goes
        assert_eq!(c.len(), 2);
        assert!(c.check(&key("b"), at(40)).is_some());
        c.record(key("d"), at(41)); // all in force: "b" (ends first) goes
        assert_eq!(c.len(), 2);
        assert!(c.check(&key("b"), at(41)).is_none());
        assert!(c.check(&key("c"), at(41)).is_some() && c.check(&key("d"), at(41)).is_some());
    }
}
