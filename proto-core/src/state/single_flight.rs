//! Coalescing of concurrent first requests for one key (for example one attestation per model):
//! plain bookkeeping that a driver holds under its lock.
//!
//! The first caller for a key gets a [`Lead`] ticket and does the work; callers that arrive
//! while it runs get a [`WaiterId`] and wait. When the leader calls [`SingleFlight::complete`]
//! (success or failure alike), every waiter is handed back with the outcome, and the next caller
//! for that key leads a new flight. If the leader gives up, [`SingleFlight::abandon`] releases the
//! waiters with no outcome, so one of them can lead a fresh attempt.
//!
//! Callers that receive an outcome must still apply their own checks to it: a blocked report
//! shared with a waiter blocks the waiter too.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::io::Instant;

/// Keys that may be in flight at once.
pub const MAX_FLIGHTS: usize = 4096;
/// Waiters that may queue behind one flight.
pub const MAX_WAITERS_PER_FLIGHT: usize = 10_000;
/// How long a flight may run before the next caller takes over as leader (a leader that
/// vanished without completing must not wedge its key forever).
pub const DEFAULT_LEAD_TIMEOUT: Duration = Duration::from_secs(120);

/// Identifies a waiting caller; the driver maps it to its own wake-up handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WaiterId(u64);

/// The right, and the duty, to do the work for `key` and then call [`SingleFlight::complete`]
/// or [`SingleFlight::abandon`]. Not `Clone`: there is one leader per flight.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a leader must complete or abandon its flight, or its waiters wait forever"]
pub struct Lead<K> {
    key: K,
    flight: u64,
}

impl<K> Lead<K> {
    /// The key this flight is for.
    pub fn key(&self) -> &K {
        &self.key
    }
}

/// A caller's role for a key.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Join<K> {
    /// Nobody was working on the key: you lead.
    Lead(Lead<K>),
    /// A flight is under way: wait until the driver hands you its outcome.
    Wait(WaiterId),
    /// Too many flights or waiters: refuse the request (fail closed) rather than grow.
    Busy,
}

/// What a finished flight releases.
#[derive(Debug, PartialEq, Eq)]
pub struct Released<O> {
    /// Waiters to wake, in arrival order.
    pub waiters: Vec<WaiterId>,
    /// The leader's outcome, for every waiter (`None` when the leader abandoned).
    pub outcome: Option<O>,
}

#[derive(Debug)]
struct Flight {
    id: u64,
    started_at: Instant,
    waiters: Vec<WaiterId>,
}

/// The flights in progress, by key.
///
/// Guarantees: at most one [`Lead`] exists per key at any time, however calls interleave; a
/// waiter is released exactly once (by the flight it joined, or by [`SingleFlight::leave`]);
/// a stale or foreign ticket changes nothing; a flight older than the lead timeout is taken
/// over by the next caller (its waiters move to the new leader, and the old leader's ticket
/// becomes stale); counts are bounded by [`MAX_FLIGHTS`] and [`MAX_WAITERS_PER_FLIGHT`].
#[derive(Debug)]
pub struct SingleFlight<K> {
    flights: BTreeMap<K, Flight>,
    next_id: u64,
    lead_timeout: Duration,
}

impl<K: Ord + Clone> Default for SingleFlight<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Clone> SingleFlight<K> {
    /// No flights; leaders time out after [`DEFAULT_LEAD_TIMEOUT`].
    pub fn new() -> Self {
        Self::with_lead_timeout(DEFAULT_LEAD_TIMEOUT)
    }

    /// No flights; leaders time out after `lead_timeout`.
    pub fn with_lead_timeout(lead_timeout: Duration) -> Self {
        Self { flights: BTreeMap::new(), next_id: 0, lead_timeout }
    }

    /// Joins the flight for `key` at `now`, starting one (as its leader) if none is under way
    /// or the current one has outlived the lead timeout.
    pub fn join(&mut self, key: K, now: Instant) -> Join<K> {
        let id = self.fresh_id();
        let full = self.flights.len() >= MAX_FLIGHTS;
        let timeout = self.lead_timeout;
        match self.flights.get_mut(&key) {
            Some(flight) if now.saturating_since(flight.started_at) >= timeout => {
                flight.id = id;
                flight.started_at = now;
                Join::Lead(Lead { key, flight: id })
            }
            Some(flight) if flight.waiters.len() >= MAX_WAITERS_PER_FLIGHT => Join::Busy,
            Some(flight) => {
                let waiter = WaiterId(id);
                flight.waiters.push(waiter);
                Join::Wait(waiter)
            }
            None if full => Join::Busy,
            None => {
                self.flights.insert(key.clone(), Flight { id, started_at: now, waiters: Vec::new() });
                Join::Lead(Lead { key, flight: id })
            }
        }
    }

    /// Ends the flight led by `lead` with `outcome` and returns its waiters.
    pub fn complete<O>(&mut self, lead: Lead<K>, outcome: O) -> Released<O> {
        Released { waiters: self.end(&lead), outcome: Some(outcome) }
    }

    /// Ends the flight without an outcome (the leader was cancelled); its waiters should
    /// [`SingleFlight::join`] again, and one of them will lead.
    pub fn abandon<O>(&mut self, lead: Lead<K>) -> Released<O> {
        Released { waiters: self.end(&lead), outcome: None }
    }

    /// Withdraws a waiter that stopped waiting (its client went away). Returns false if it was
    /// not waiting on `key`.
    pub fn leave(&mut self, key: &K, waiter: WaiterId) -> bool {
        let Some(flight) = self.flights.get_mut(key) else { return false };
        let before = flight.waiters.len();
        flight.waiters.retain(|w| *w != waiter);
        flight.waiters.len() != before
    }

    /// True when a flight for `key` is under way.
    pub fn in_flight(&self, key: &K) -> bool {
        self.flights.contains_key(key)
    }

    /// Flights under way.
    pub fn len(&self) -> usize {
        self.flights.len()
    }

    /// True when no flight is under way.
    pub fn is_empty(&self) -> bool {
        self.flights.is_empty()
    }

    fn end(&mut self, lead: &Lead<K>) -> Vec<WaiterId> {
        match self.flights.get(&lead.key) {
            Some(flight) if flight.id == lead.flight => {
                self.flights.remove(&lead.key).map(|f| f.waiters).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Instant = Instant::ZERO;

    #[test]
    fn hundred_first_requests_make_one_attestation() {
        let mut sf = SingleFlight::new();
        let mut leads = Vec::new();
        let mut waiters = Vec::new();
        for _ in 0..100 {
            match sf.join("venice/m", T0) {
                Join::Lead(l) => leads.push(l),
                Join::Wait(w) => waiters.push(w),
                Join::Busy => panic!("not busy"),
            }
        }
        assert_eq!((leads.len(), waiters.len()), (1, 99));
        let lead = leads.pop().unwrap();
        let released = sf.complete(lead, "report");
        assert_eq!(released.waiters, waiters);
        assert_eq!(released.outcome, Some("report"));
        assert!(sf.is_empty());
        // The next request after completion leads a new flight.
        assert!(matches!(sf.join("venice/m", T0), Join::Lead(_)));
    }

    #[test]
    fn keys_are_independent_and_abandon_lets_a_waiter_lead() {
        let mut sf = SingleFlight::new();
        let Join::Lead(a) = sf.join("a", T0) else { panic!() };
        let Join::Lead(_b) = sf.join("b", T0) else { panic!() };
        let Join::Wait(w) = sf.join("a", T0) else { panic!() };
        let released: Released<()> = sf.abandon(a);
        assert_eq!((released.waiters, released.outcome), (vec![w], None));
        assert!(matches!(sf.join("a", T0), Join::Lead(_)));
        assert_eq!(sf.len(), 2);
    }

    #[test]
    fn stale_tickets_change_nothing_and_leave_works() {
        let mut sf = SingleFlight::new();
        let Join::Lead(first) = sf.join(1, T0) else { panic!() };
        let forged = Lead { key: 1, flight: 999 };
        let Join::Wait(w1) = sf.join(1, T0) else { panic!() };
        let Join::Wait(w2) = sf.join(1, T0) else { panic!() };
        assert_eq!(sf.complete(forged, 0).waiters, []);
        assert!(sf.in_flight(&1));
        assert!(sf.leave(&1, w1));
        assert!(!sf.leave(&1, w1));
        assert_eq!(sf.complete(first, 7).waiters, [w2]);
    }

    #[test]
    fn a_vanished_leader_is_taken_over_after_the_timeout() {
        let mut sf = SingleFlight::with_lead_timeout(Duration::from_secs(10));
        let Join::Lead(old) = sf.join("k", T0) else { panic!() };
        let Join::Wait(w) = sf.join("k", T0 + Duration::from_secs(9)) else { panic!("still within the timeout") };
        let Join::Lead(new) = sf.join("k", T0 + Duration::from_secs(10)) else { panic!("takeover") };
        assert_eq!(sf.complete(old, "late").waiters, [], "the old ticket is stale");
        assert!(sf.in_flight(&"k"));
        let released = sf.complete(new, "fresh");
        assert_eq!((released.waiters, released.outcome), (vec![w], Some("fresh")));
    }

    #[test]
    fn bounded() {
        let mut sf = SingleFlight::new();
        let Join::Lead(_l) = sf.join(0u32, T0) else { panic!() };
        for _ in 0..MAX_WAITERS_PER_FLIGHT {
            assert!(matches!(sf.join(0, T0), Join::Wait(_)));
        }
        assert_eq!(sf.join(0, T0), Join::Busy);
        for k in 1..MAX_FLIGHTS as u32 {
            assert!(matches!(sf.join(k, T0), Join::Lead(_)));
        }
        assert_eq!(sf.join(u32::MAX, T0), Join::Busy);
    }
}
