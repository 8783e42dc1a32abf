//! The shared session state driven the way a runtime will drive it: a simulated Chutes driver
//! taking nonces, sending, failing over and refilling; and real threads racing to attest the
//! same model behind one lock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use proto_core::io::Instant;
use proto_core::report::{AllowFail, Factor, Metadata, Report, Verdict};
use proto_core::state::{
    AttemptOutcome, CacheKey, ChuteId, InnerNext, InstanceNonces, Join, NoncePool, PoolConfig, RefillBatch,
    RefillTicket, SessionState, Take, WaiterId, inner_decision,
};

const INSTANCES: [&str; 4] = ["inst-bad", "inst-1", "inst-2", "inst-3"];
const NONCES_PER_INSTANCE: usize = 8;

/// The fake instances endpoint: every answer lists all four instances with fresh nonces.
fn fresh_batch(generation: usize) -> RefillBatch {
    RefillBatch {
        instances: INSTANCES
            .iter()
            .map(|id| InstanceNonces {
                instance_id: (*id).to_owned(),
                e2e_pubkey: format!("mlkem-{id}"),
                nonces: (0..NONCES_PER_INSTANCE).map(|i| format!("g{generation}-{id}-{i}")).collect(),
            })
            .collect(),
        nonce_expires_in: Some(60),
    }
}

#[derive(Default)]
struct SimDriver {
    /// Refills started and not yet answered, with the request number they complete at.
    pending: VecDeque<(RefillTicket, usize)>,
    refills: usize,
    /// Instances marked failed since the pool was last refilled.
    failed_since_refill: BTreeSet<String>,
}

impl SimDriver {
    fn finish(&mut self, pool: &mut NoncePool, ticket: RefillTicket, now: Instant) {
        self.refills += 1;
        pool.finish_refill(ticket, Ok(fresh_batch(self.refills)), now).expect("fresh batch installs");
        self.failed_since_refill.clear();
    }

    fn deliver_due(&mut self, pool: &mut NoncePool, request: usize, now: Instant) {
        while self.pending.front().is_some_and(|(_, due)| *due <= request) {
            if let Some((ticket, _)) = self.pending.pop_front() {
                self.finish(pool, ticket, now);
            }
        }
    }
}

#[test]
fn thousand_requests_over_four_instances_with_one_failing() {
    let chute = ChuteId::new("5b2a1c4e-0000-4000-8000-00000000c0de").unwrap();
    let mut pool = NoncePool::new(PoolConfig { refill_below: 4 });
    let mut driver = SimDriver::default();
    let mut now = Instant::ZERO;
    let mut nonces_used = BTreeSet::new();
    let mut sends: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad_marked = false;
    let mut ok = 0;

    for request in 0..1000 {
        driver.deliver_due(&mut pool, request, now);
        let mut attempt = 0;
        let mut waits = 0;
        loop {
            assert!(waits < 4, "request {request} starved");
            let (material, refill) = match pool.take(&chute, now) {
                Take::Material { material, refill } => (material, refill),
                // Nothing usable: the driver fetches instances now, then takes again.
                Take::Refill(ticket) => {
                    driver.finish(&mut pool, ticket, now);
                    waits += 1;
                    continue;
                }
                // A background refill is under way: wait for it.
                Take::AwaitRefill => {
                    let (ticket, _) = driver.pending.pop_front().expect("a refill is under way");
                    driver.finish(&mut pool, ticket, now);
                    waits += 1;
                    continue;
                }
            };
            if let Some(ticket) = refill {
                // Background refill, answered two requests later.
                driver.pending.push_back((ticket, request + 2));
            }
            let instance = material.instance_id().to_owned();
            assert!(nonces_used.insert(material.nonce().to_owned()), "nonce {} reused", material.nonce());
            assert!(
                !driver.failed_since_refill.contains(&instance),
                "request {request} sent to {instance} after mark_failed"
            );
            *sends.entry(instance.clone()).or_default() += 1;
            let outcome = if instance == "inst-bad" {
                // It fails with a 503 first, then later with transport errors.
                if bad_marked { AttemptOutcome::Transport { cancelled: false } } else { AttemptOutcome::Status(503) }
            } else {
                AttemptOutcome::Status(200)
            };
            let decision = inner_decision(attempt, outcome);
            if decision.mark_failed {
                pool.mark_failed(&chute, &instance);
                driver.failed_since_refill.insert(instance.clone());
                bad_marked = true;
            }
            match decision.next {
                InnerNext::TryAgain => attempt += 1,
                InnerNext::UseResponse => {
                    assert_eq!(outcome, AttemptOutcome::Status(200), "request {request} ended on {instance}");
                    ok += 1;
                    break;
                }
                InnerNext::TransportFailed => panic!("request {request} failed"),
            }
        }
        now = now + Duration::from_millis(100);
    }

    assert_eq!(ok, 1000);
    // The failing instance is first in the list, so it got the very first request, and never
    // another: it is excluded until the next refill, then ranked behind the healthy ones.
    assert_eq!(sends.get("inst-bad"), Some(&1), "sends per instance: {sends:?}");
    assert_eq!(pool.failures(&chute, "inst-bad"), 1);
    let healthy: usize = INSTANCES[1..].iter().map(|i| sends.get(*i).copied().unwrap_or(0)).sum();
    assert_eq!(healthy, 1000);
    assert_eq!(nonces_used.len(), 1001);
    // Healthy nonces per refill: 3 × 8 = 24; a refill is asked for at 4 left and lands two
    // requests later, so each pool serves 20..=24 requests (fewer when the 55 s lifetime ends
    // it first; 1000 requests span 100 s, so at most one extra refill comes from expiry).
    assert!((1000 / 24..=1000 / 20 + 3).contains(&driver.refills), "refills: {}", driver.refills);
    println!("refills: {}, sends: {sends:?}", driver.refills);
}

#[test]
fn expired_pool_is_refilled_not_served() {
    let chute = ChuteId::new("c").unwrap();
    let mut pool = NoncePool::new(PoolConfig::default());
    let Take::Refill(ticket) = pool.take(&chute, Instant::ZERO) else { panic!("empty pool asks for a refill") };
    pool.finish_refill(ticket, Ok(fresh_batch(1)), Instant::ZERO).unwrap();
    let late = Instant::from_elapsed(Duration::from_secs(56));
    assert!(matches!(pool.take(&chute, late), Take::Refill(_)), "a 60 s answer is used for 55 s only");
}

fn report(model: &str) -> Report {
    Report::build(
        "venice",
        model,
        &"00".repeat(32),
        "2026-06-10T00:00:00Z",
        Metadata::default(),
        vec![(Factor::TeeReportdataBinding, Verdict::pass("bound"))],
        &AllowFail::default(),
    )
}

/// What the runtime keeps next to the plain state: outcomes for released waiters.
#[derive(Default)]
struct Shared {
    state: SessionState,
    delivered: BTreeMap<WaiterId, Report>,
}

#[test]
fn hundred_concurrent_first_requests_make_one_attestation() {
    let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
    let attestations = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(100));
    let key = CacheKey::new("venice", "e2ee-qwen3-5-122b-a10b").unwrap();

    let handles: Vec<_> = (0..100)
        .map(|_| {
            let (shared, attestations, start, key) = (shared.clone(), attestations.clone(), start.clone(), key.clone());
            thread::spawn(move || -> Report {
                let (lock, wake) = &*shared;
                start.wait();
                let now = Instant::ZERO;
                let mut guard = lock.lock().unwrap();
                if let Some(cached) = guard.state.reports.get(&key, now) {
                    return cached.clone();
                }
                match guard.state.attestations.join(key.clone(), now) {
                    Join::Lead(lead) => {
                        drop(guard);
                        // The attestation itself runs outside the lock.
                        attestations.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(50));
                        let fresh = report(key.model());
                        let mut guard = lock.lock().unwrap();
                        guard.state.reports.put(key.clone(), fresh.clone(), now);
                        let released = guard.state.attestations.complete(lead, fresh.clone());
                        let outcome = released.outcome.expect("completed with an outcome");
                        for w in released.waiters {
                            guard.delivered.insert(w, outcome.clone());
                        }
                        wake.notify_all();
                        fresh
                    }
                    Join::Wait(w) => loop {
                        if let Some(r) = guard.delivered.remove(&w) {
                            return r;
                        }
                        guard = wake.wait(guard).unwrap();
                    },
                    Join::Busy => panic!("far below the bounds"),
                }
            })
        })
        .collect();

    let reports: Vec<Report> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(attestations.load(Ordering::SeqCst), 1, "exactly one attestation");
    assert_eq!(reports.len(), 100);
    assert!(reports.iter().all(|r| r == &reports[0] && !r.is_blocked()));
    let guard = shared.0.lock().unwrap();
    assert!(guard.state.attestations.is_empty() && guard.delivered.is_empty());
}
