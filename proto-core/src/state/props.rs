//! Property tests of the shared state: arbitrary interleavings of operations and clock steps
//! must keep every structure's guarantees, and never panic.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use super::negative_cache::{Backoff, NegativeCache};
use super::nonce_pool::{
    ChuteId, InstanceNonces, NoncePool, PoolConfig, REFILL_TIMEOUT, RefillBatch, RefillError, RefillTicket, Take,
};
use super::report_cache::tests::report;
use super::single_flight::{Join, Lead, SingleFlight, WaiterId};
use super::spki_pin::{PinDecision, SpkiPinCache};
use super::ttl_map::TtlMap;
use super::{ATTESTATION_CACHE_TTL, CacheKey};
use crate::io::Instant;
use crate::tls::SpkiHash;

/// Where this module's failing seeds are kept (cargo runs unit tests from `proto-core/`).
const REGRESSIONS: &str = "../proptest-regressions/state_props.txt";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

// ---- nonce pool ----

/// A generated instances answer: (instance number, nonce numbers) pairs and `nonce_expires_in`.
type GenBatch = (Vec<(u8, Vec<u8>)>, Option<i64>);

#[derive(Clone, Debug)]
enum PoolOp {
    Take(u8),
    /// Finish the oldest outstanding ticket with a batch (instances with nonces drawn from a
    /// small alphabet, so duplicates and re-listed nonces are common), or with a fetch error.
    Finish(Option<GenBatch>),
    MarkFailed(u8, u8),
    Invalidate(u8),
    Advance(u16),
}

fn pool_op() -> impl Strategy<Value = PoolOp> {
    let batch = (vec((0u8..5, vec(0u8..40, 0..6)), 0..6), prop::option::of(-5i64..400));
    prop_oneof![
        4 => (0u8..2).prop_map(PoolOp::Take),
        2 => prop::option::weighted(0.9, batch).prop_map(PoolOp::Finish),
        1 => (0u8..2, 0u8..5).prop_map(|(c, i)| PoolOp::MarkFailed(c, i)),
        1 => (0u8..2).prop_map(PoolOp::Invalidate),
        1 => (0u16..120).prop_map(PoolOp::Advance),
    ]
}

fn chute(c: u8) -> ChuteId {
    ChuteId::new(&format!("chute-{c}")).unwrap_or_else(|_| unreachable!())
}

/// The reference model's view of one chute.
#[derive(Default)]
struct ChuteModel {
    /// Instances marked failed since the last installed refill.
    excluded: BTreeSet<String>,
    /// When the installed pool expires, if one is installed and not invalidated.
    expires_at: Option<Instant>,
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn nonce_pool_keeps_its_promises(ops in vec(pool_op(), 1..120), refill_below in 0usize..4) {
        let mut pool = NoncePool::new(PoolConfig { refill_below });
        let mut now = Instant::ZERO;
        // Outstanding tickets with the time they were issued, oldest first.
        let mut tickets: Vec<(RefillTicket, Instant)> = Vec::new();
        // Tickets given up or outdated: finishing them must install nothing.
        let mut stale: Vec<RefillTicket> = Vec::new();
        let mut handed_out: BTreeSet<(String, String)> = BTreeSet::new();
        let mut model: BTreeMap<String, ChuteModel> = BTreeMap::new();
        for op in ops {
            match op {
                PoolOp::Take(c) => {
                    let id = chute(c);
                    let issued = match pool.take(&id, now) {
                        Take::Material { material, refill } => {
                            let m = model.entry(id.to_string()).or_default();
                            prop_assert!(!m.excluded.contains(material.instance_id()), "served a failed instance");
                            prop_assert!(m.expires_at.is_some_and(|e| now <= e), "served outside a live pool");
                            let fresh = handed_out.insert((id.to_string(), material.nonce().to_owned()));
                            prop_assert!(fresh, "nonce handed out twice");
                            refill
                        }
                        Take::Refill(t) => {
                            model.entry(id.to_string()).or_default().expires_at = None;
                            Some(t)
                        }
                        Take::AwaitRefill => {
                            prop_assert!(pool.refill_in_flight(&id));
                            prop_assert!(tickets.iter().any(|(t, at)| t.chute() == &id
                                && now.saturating_since(*at) < REFILL_TIMEOUT));
                            None
                        }
                    };
                    if let Some(t) = issued {
                        // A new ticket only when every earlier one for the chute was given up.
                        let (old, keep): (Vec<_>, Vec<_>) = tickets.drain(..).partition(|(o, _)| o.chute() == &id);
                        tickets = keep;
                        for (o, at) in old {
                            prop_assert!(now.saturating_since(at) >= REFILL_TIMEOUT, "two refills under way");
                            stale.push(o);
                        }
                        tickets.push((t, now));
                    }
                }
                PoolOp::Finish(result) => {
                    for old in stale.drain(..) {
                        let out = pool.finish_refill(old, Ok(RefillBatch::default()), now);
                        prop_assert_eq!(out, Err(RefillError::Stale));
                    }
                    if tickets.is_empty() {
                        continue;
                    }
                    let (ticket, _) = tickets.remove(0);
                    let name = ticket.chute().to_string();
                    let fetched = match result {
                        None => Err(RefillError::Fetch),
                        Some((instances, ttl)) => Ok(RefillBatch {
                            instances: instances
                                .into_iter()
                                .map(|(i, ns)| InstanceNonces {
                                    instance_id: format!("i{i}"),
                                    e2e_pubkey: format!("k{i}"),
                                    nonces: ns.into_iter().map(|n| format!("n{n}")).collect(),
                                })
                                .collect(),
                            nonce_expires_in: ttl,
                        }),
                    };
                    let out = pool.finish_refill(ticket, fetched, now);
                    prop_assert_ne!(out, Err(RefillError::Stale), "a live ticket was refused as stale");
                    if let Ok(summary) = out {
                        let m = model.entry(name).or_default();
                        m.excluded.clear();
                        m.expires_at = Some(now + summary.ttl);
                    }
                }
                PoolOp::MarkFailed(c, i) => {
                    pool.mark_failed(&chute(c), &format!("i{i}"));
                    model.entry(chute(c).to_string()).or_default().excluded.insert(format!("i{i}"));
                }
                PoolOp::Invalidate(c) => {
                    pool.invalidate(&chute(c));
                    model.entry(chute(c).to_string()).or_default().expires_at = None;
                    let (old, keep): (Vec<_>, Vec<_>) = tickets.drain(..).partition(|(t, _)| t.chute() == &chute(c));
                    tickets = keep;
                    stale.extend(old.into_iter().map(|(t, _)| t));
                }
                PoolOp::Advance(s) => now = now + Duration::from_secs(u64::from(s)),
            }
        }
    }
}

// ---- SPKI pins against a reference model ----

#[derive(Clone, Debug)]
enum PinOp {
    Pin(u8, u8, bool),
    Check(u8, u8),
    Delete(u8),
    Advance(u16),
}

fn pin_op() -> impl Strategy<Value = PinOp> {
    prop_oneof![
        (0u8..3, 0u8..6, any::<bool>()).prop_map(|(d, k, b)| PinOp::Pin(d, k, b)),
        (0u8..3, 0u8..6).prop_map(|(d, k)| PinOp::Check(d, k)),
        (0u8..3).prop_map(PinOp::Delete),
        (0u16..2000).prop_map(PinOp::Advance),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pins_accept_exactly_the_live_pinned_keys(ops in vec(pin_op(), 1..80)) {
        let mut cache = SpkiPinCache::new();
        let mut model: BTreeMap<(u8, u8), Instant> = BTreeMap::new();
        let mut now = Instant::ZERO;
        let ttl = ATTESTATION_CACHE_TTL;
        for op in ops {
            match op {
                PinOp::Pin(d, k, blocked) => {
                    let r = report("m", blocked);
                    let out = cache.pin(&format!("d{d}"), SpkiHash([k; 32]), &r, now);
                    prop_assert_eq!(out.is_ok(), !blocked);
                    if !blocked {
                        model.insert((d, k), now);
                    }
                }
                PinOp::Check(d, k) => {
                    let live = |at: &Instant| now.saturating_since(*at) <= ttl;
                    let expected_hit = model.get(&(d, k)).is_some_and(live);
                    let any_live = model.iter().any(|((dd, _), at)| *dd == d && live(at));
                    match cache.check(&format!("d{d}"), &SpkiHash([k; 32]), now) {
                        PinDecision::Accept(p) => {
                            prop_assert!(expected_hit);
                            prop_assert_eq!(p.spki(), &SpkiHash([k; 32]));
                            prop_assert_eq!(Some(p.pinned_at()), model.get(&(d, k)).copied());
                        }
                        PinDecision::Mismatch => prop_assert!(!expected_hit && any_live),
                        PinDecision::Attest => prop_assert!(!expected_hit && !any_live),
                    }
                }
                PinOp::Delete(d) => {
                    cache.delete_domain(&format!("d{d}"));
                    model.retain(|(dd, _), _| *dd != d);
                }
                PinOp::Advance(s) => now = now + Duration::from_secs(u64::from(s)),
            }
        }
    }
}

// ---- single flight ----

#[derive(Clone, Debug)]
enum FlightOp {
    Advance(u8),
    Join(u8),
    Complete(u8),
    Abandon(u8),
    Leave(u8),
}

fn flight_op() -> impl Strategy<Value = FlightOp> {
    prop_oneof![
        4 => (0u8..3).prop_map(FlightOp::Join),
        1 => (0u8..60).prop_map(FlightOp::Advance),
        1 => (0u8..3).prop_map(FlightOp::Complete),
        1 => (0u8..3).prop_map(FlightOp::Abandon),
        1 => (0u8..3).prop_map(FlightOp::Leave),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn one_leader_per_key_and_every_waiter_released_once(ops in vec(flight_op(), 1..200)) {
        let timeout = Duration::from_secs(100);
        let mut sf = SingleFlight::with_lead_timeout(timeout);
        let mut now = Instant::ZERO;
        // The current leader of each key and when its flight started.
        let mut leads: BTreeMap<u8, (Lead<u8>, Instant)> = BTreeMap::new();
        // Leaders that were taken over: their tickets must release nobody.
        let mut stale: Vec<Lead<u8>> = Vec::new();
        let mut waiting: BTreeMap<u8, Vec<WaiterId>> = BTreeMap::new();
        let mut released: BTreeSet<WaiterId> = BTreeSet::new();
        for op in ops {
            match op {
                FlightOp::Advance(s) => now = now + Duration::from_secs(u64::from(s)),
                FlightOp::Join(k) => match sf.join(k, now) {
                    Join::Lead(l) => {
                        if let Some((old, started)) = leads.remove(&k) {
                            prop_assert!(now.saturating_since(started) >= timeout, "two live leaders for one key");
                            stale.push(old);
                        }
                        leads.insert(k, (l, now));
                    }
                    Join::Wait(w) => {
                        prop_assert!(leads.contains_key(&k), "waiting with no leader");
                        waiting.entry(k).or_default().push(w);
                    }
                    Join::Busy => prop_assert!(false, "bounds not reached here"),
                },
                FlightOp::Complete(k) | FlightOp::Abandon(k) => {
                    for old in stale.drain(..) {
                        prop_assert!(sf.complete(old, 0u8).waiters.is_empty(), "a stale leader released waiters");
                    }
                    let Some((lead, _)) = leads.remove(&k) else { continue };
                    let out = if matches!(op, FlightOp::Complete(_)) { sf.complete(lead, k) } else { sf.abandon(lead) };
                    prop_assert_eq!(&out.waiters, &waiting.remove(&k).unwrap_or_default());
                    for w in out.waiters {
                        prop_assert!(released.insert(w), "waiter released twice");
                    }
                    prop_assert!(!sf.in_flight(&k));
                }
                FlightOp::Leave(k) => {
                    if let Some(w) = waiting.get_mut(&k).and_then(Vec::pop) {
                        prop_assert!(sf.leave(&k, w));
                        prop_assert!(released.insert(w));
                    }
                }
            }
            prop_assert_eq!(sf.len(), leads.len());
        }
    }
}

// ---- negative cache and TTL map ----

proptest! {
    #![proptest_config(config())]

    #[test]
    fn negative_cache_blocks_for_the_whole_backoff(
        steps in vec((0u8..4, 0u64..400), 1..60),
        initial in 1u64..60,
        max in 1u64..600,
        factor in 1u32..4,
    ) {
        let policy = Backoff { initial: Duration::from_secs(initial), factor, max: Duration::from_secs(max) };
        let mut cache = NegativeCache::with_policy(policy, 3);
        let mut now = Instant::ZERO;
        for (m, dt) in steps {
            now = now + Duration::from_secs(dt);
            let key = CacheKey::new("p", &format!("m{m}")).unwrap_or_else(|_| unreachable!());
            let was = cache.check(&key, now);
            let b = cache.record(key.clone(), now);
            prop_assert!(b.until >= now + policy.delay(b.streak).min(Duration::from_secs(max)));
            prop_assert!(b.until.saturating_since(now) <= Duration::from_secs(max.max(initial.min(max))));
            if let Some(prev) = was {
                prop_assert!(b.until >= prev.until, "a record shortened a block");
            }
            prop_assert_eq!(cache.check(&key, now), Some(b));
            prop_assert!(cache.len() <= 3);
        }
    }

    #[test]
    fn ttl_map_is_bounded_and_never_returns_expired(
        steps in vec((0u8..12, 0u64..30), 1..100),
        capacity in 1usize..6,
    ) {
        let ttl = Duration::from_secs(50);
        let mut map = TtlMap::new(ttl, capacity);
        let mut now = Instant::ZERO;
        for (k, dt) in steps {
            now = now + Duration::from_secs(dt);
            map.insert(k, now, now);
            prop_assert!(map.len() <= capacity);
            for probe in 0u8..12 {
                if let Some(e) = map.get(&probe, now) {
                    prop_assert!(now.saturating_since(e.stored_at) <= ttl);
                    prop_assert_eq!(e.value, e.stored_at);
                }
            }
            prop_assert!(map.get(&k, now).is_some(), "the entry just stored is live");
        }
    }
}
