//! A bounded map whose entries expire a fixed time after they were stored: the common core of
//! the report and signing-key caches.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::io::Instant;

/// One stored value and when it was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stored<V> {
    pub(crate) value: V,
    pub(crate) stored_at: Instant,
}

/// A map of at most `capacity` entries, each valid while its age is at most `ttl`.
///
/// Capacity rule (the reference proxy's): only inserting a *new* key into a full map evicts;
/// it first drops every expired entry, then, if the map is still full, the single oldest one
/// (ties broken by key order, so the outcome never depends on hashing). Expired entries are
/// otherwise kept until they are overwritten, removed or pruned, and are never returned.
#[derive(Clone, Debug)]
pub(crate) struct TtlMap<K, V> {
    entries: BTreeMap<K, Stored<V>>,
    ttl: Duration,
    capacity: usize,
}

impl<K: Ord + Clone, V> TtlMap<K, V> {
    /// An empty map; a zero capacity is raised to one.
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self { entries: BTreeMap::new(), ttl, capacity: capacity.max(1) }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// True when an entry stored at `stored_at` is still valid at `now`.
    pub(crate) fn is_live(&self, stored_at: Instant, now: Instant) -> bool {
        now.saturating_since(stored_at) <= self.ttl
    }

    /// The live entry for `key`, if any.
    pub(crate) fn get(&self, key: &K, now: Instant) -> Option<&Stored<V>> {
        self.entries.get(key).filter(|e| self.is_live(e.stored_at, now))
    }

    /// Stores `value` under `key` at `now` (restarting its age); returns how many other entries
    /// were evicted to make room.
    pub(crate) fn insert(&mut self, key: K, value: V, now: Instant) -> usize {
        let mut evicted = 0;
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let before = self.entries.len();
            let ttl = self.ttl;
            self.entries.retain(|_, e| now.saturating_since(e.stored_at) <= ttl);
            if self.entries.len() >= self.capacity {
                let oldest = self.entries.iter().min_by_key(|(_, e)| e.stored_at).map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.entries.remove(&k);
                }
            }
            evicted = before - self.entries.len();
        }
        self.entries.insert(key, Stored { value, stored_at: now });
        evicted
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|e| e.value)
    }

    /// Entries stored, expired ones included.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Live entries, in key order.
    pub(crate) fn live(&self, now: Instant) -> impl Iterator<Item = (&K, &Stored<V>)> {
        self.entries.iter().filter(move |(_, e)| self.is_live(e.stored_at, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        Instant::from_elapsed(Duration::from_secs(secs))
    }

    #[test]
    fn valid_up_to_and_including_the_ttl() {
        let mut m = TtlMap::new(Duration::from_secs(10), 4);
        m.insert("a", 1, at(5));
        assert_eq!(m.get(&"a", at(15)).map(|e| e.value), Some(1));
        assert!(m.get(&"a", at(16)).is_none());
        assert_eq!(m.len(), 1, "expired entries are kept until pruned");
    }

    #[test]
    fn full_map_prunes_expired_then_oldest() {
        let mut m = TtlMap::new(Duration::from_secs(10), 3);
        m.insert("a", 1, at(0));
        m.insert("b", 2, at(8));
        m.insert("c", 3, at(9));
        // At 12 "a" has expired: it alone goes.
        assert_eq!(m.insert("d", 4, at(12)), 1);
        assert!(m.get(&"a", at(12)).is_none());
        assert_eq!(m.len(), 3);
        // Nothing expired at 13: the oldest ("b") goes.
        assert_eq!(m.insert("e", 5, at(13)), 1);
        assert!(m.get(&"b", at(13)).is_none());
        assert!(m.get(&"c", at(13)).is_some());
        // Overwriting an existing key never evicts.
        assert_eq!(m.insert("c", 6, at(14)), 0);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn zero_capacity_still_holds_one_entry() {
        let mut m = TtlMap::new(Duration::from_secs(1), 0);
        m.insert(1, "x", at(0));
        m.insert(2, "y", at(0));
        assert_eq!(m.len(), 1);
        assert_eq!(m.capacity(), 1);
    }
}
