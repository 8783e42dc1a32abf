use std::time::Duration;

use super::*;

fn at(secs: u64) -> Instant {
    Instant::from_elapsed(Duration::from_secs(secs))
}

fn chute() -> ChuteId {
    ChuteId::new("c0ffee00-0000-4000-8000-000000000000").unwrap()
}

fn batch(spec: &[(&str, usize)], tag: &str) -> RefillBatch {
    RefillBatch {
        instances: spec
            .iter()
            .map(|(id, n)| InstanceNonces {
                instance_id: (*id).into(),
                e2e_pubkey: format!("key-{id}"),
                nonces: (0..*n).map(|i| format!("{tag}-{id}-{i}")).collect(),
            })
            .collect(),
        nonce_expires_in: Some(60),
    }
}

/// Takes expecting material.
fn take(pool: &mut NoncePool, now: Instant) -> Material {
    match pool.take(&chute(), now) {
        Take::Material { material, .. } => material,
        other => panic!("expected material, got {other:?}"),
    }
}

fn refilled(spec: &[(&str, usize)], now: Instant) -> NoncePool {
    let mut pool = NoncePool::default();
    let Take::Refill(ticket) = pool.take(&chute(), now) else { panic!("empty pool must ask for a refill") };
    pool.finish_refill(ticket, Ok(batch(spec, "g1")), now).unwrap();
    pool
}

#[test]
fn chute_ids_are_bounded() {
    assert!(ChuteId::new("").is_err());
    assert!(ChuteId::new(&"a".repeat(MAX_TOKEN_LEN + 1)).is_err());
    assert_eq!(ChuteId::new("x").unwrap().to_string(), "x");
}

#[test]
fn empty_pool_asks_once_and_others_wait() {
    let mut pool = NoncePool::default();
    let Take::Refill(ticket) = pool.take(&chute(), at(0)) else { panic!() };
    assert_eq!(ticket.chute(), &chute());
    assert_eq!(pool.take(&chute(), at(0)), Take::AwaitRefill);
    assert!(pool.refill_in_flight(&chute()));
    let summary = pool.finish_refill(ticket, Ok(batch(&[("a", 2), ("b", 1)], "g1")), at(1)).unwrap();
    assert_eq!(summary, RefillSummary { instances: 2, nonces: 3, ttl: Duration::from_secs(55) });
    assert!(!pool.refill_in_flight(&chute()));
    assert_eq!(pool.available(&chute(), at(1)), 3);
}

#[test]
fn a_failed_refill_lets_the_next_take_ask_again() {
    let mut pool = NoncePool::default();
    let Take::Refill(ticket) = pool.take(&chute(), at(0)) else { panic!() };
    assert_eq!(pool.finish_refill(ticket, Err(RefillError::Fetch), at(0)), Err(RefillError::Fetch));
    let Take::Refill(ticket) = pool.take(&chute(), at(0)) else { panic!() };
    let too_long = RefillBatch { nonce_expires_in: Some(7200), ..batch(&[("a", 1)], "g") };
    assert_eq!(pool.finish_refill(ticket, Ok(too_long), at(0)), Err(RefillError::TtlTooLarge(7200)));
    assert!(matches!(pool.take(&chute(), at(0)), Take::Refill(_)));
}

#[test]
fn first_instance_wins_ties_and_nonces_come_in_order() {
    let mut pool = refilled(&[("a", 2), ("b", 2)], at(0));
    let m = take(&mut pool, at(1));
    assert_eq!((m.instance_id(), m.nonce(), m.e2e_pubkey()), ("a", "g1-a-0", "key-a"));
    assert_eq!(take(&mut pool, at(1)).nonce(), "g1-a-1");
    assert_eq!(take(&mut pool, at(1)).instance_id(), "b");
}

#[test]
fn marked_instance_is_never_chosen_from_the_current_pool() {
    let mut pool = refilled(&[("a", 5), ("b", 5)], at(0));
    let m = take(&mut pool, at(1));
    assert_eq!(m.instance_id(), "a");
    pool.mark_failed(&chute(), "a");
    assert_eq!(pool.failures(&chute(), "a"), 1);
    assert_eq!(pool.available(&chute(), at(1)), 5);
    let mut tickets = Vec::new();
    for _ in 0..5 {
        let Take::Material { material, refill } = pool.take(&chute(), at(1)) else { panic!() };
        assert_eq!(material.instance_id(), "b");
        tickets.extend(refill);
    }
    // Only "a" (excluded) is left: the last take asked for a refill, and nothing is served.
    assert_eq!(tickets.len(), 1);
    assert_eq!(pool.take(&chute(), at(1)), Take::AwaitRefill);
}

#[test]
fn after_a_refill_fewest_failures_wins() {
    let mut pool = refilled(&[("a", 1), ("b", 1), ("c", 1)], at(0));
    pool.mark_failed(&chute(), "a");
    pool.mark_failed(&chute(), "a");
    pool.mark_failed(&chute(), "b");
    let Take::Material { material, refill: Some(t) } = pool.take(&chute(), at(1)) else { panic!() };
    assert_eq!(material.instance_id(), "c");
    pool.finish_refill(t, Ok(batch(&[("a", 1), ("b", 1), ("c", 1)], "g2")), at(2)).unwrap();
    // Only "c" (no failures) is served; once it is out, the pool asks for a refill rather than
    // falling back to "b" or "a".
    let Take::Material { material, refill: Some(t) } = pool.take(&chute(), at(2)) else { panic!() };
    assert_eq!(material.instance_id(), "c");
    assert_eq!(pool.take(&chute(), at(2)), Take::AwaitRefill, "no fall-back to failed instances");
    // An answer without "c": the fewest failures are now "b"'s, and "a" still waits.
    pool.finish_refill(t, Ok(batch(&[("a", 2), ("b", 1)], "g3")), at(3)).unwrap();
    let Take::Material { material, refill: Some(_) } = pool.take(&chute(), at(3)) else { panic!() };
    assert_eq!(material.instance_id(), "b");
    assert_eq!(pool.take(&chute(), at(3)), Take::AwaitRefill);
}

#[test]
fn expired_pools_are_never_served() {
    let mut pool = refilled(&[("a", 10)], at(0)); // 60 s → used for 55 s
    assert_eq!(take(&mut pool, at(55)).instance_id(), "a");
    assert_eq!(pool.available(&chute(), at(56)), 0);
    assert!(matches!(pool.take(&chute(), at(56)), Take::Refill(_)));
}

#[test]
fn refill_cannot_bring_back_a_spent_nonce() {
    let mut pool = refilled(&[("a", 2)], at(0));
    let first = take(&mut pool, at(0));
    let Take::Material { refill: Some(t), .. } = pool.take(&chute(), at(0)) else {
        panic!("last nonce asks to refill")
    };
    // The server lists the spent nonces again, plus one new one.
    let again = RefillBatch {
        instances: vec![InstanceNonces {
            instance_id: "a".into(),
            e2e_pubkey: "key-a".into(),
            nonces: vec![first.nonce().to_owned(), "g1-a-1".into(), "fresh".into()],
        }],
        nonce_expires_in: None,
    };
    let summary = pool.finish_refill(t, Ok(again), at(1)).unwrap();
    assert_eq!(summary.nonces, 1);
    assert_eq!(take(&mut pool, at(1)).nonce(), "fresh");
}

#[test]
fn refill_threshold_asks_early_and_only_once() {
    let mut pool = NoncePool::new(PoolConfig { refill_below: 3 });
    let Take::Refill(t) = pool.take(&chute(), at(0)) else { panic!() };
    pool.finish_refill(t, Ok(batch(&[("a", 6)], "g1")), at(0)).unwrap();
    let mut tickets = Vec::new();
    for _ in 0..6 {
        let Take::Material { refill, .. } = pool.take(&chute(), at(0)) else { panic!() };
        tickets.extend(refill);
    }
    assert_eq!(tickets.len(), 1, "one refill while one is under way");
    assert_eq!(pool.take(&chute(), at(0)), Take::AwaitRefill);
    let t = tickets.pop().unwrap();
    pool.finish_refill(t, Ok(batch(&[("a", 6)], "g2")), at(1)).unwrap();
    assert_eq!(take(&mut pool, at(1)).nonce(), "g2-a-0");
}

#[test]
fn invalidate_drops_pool_and_counts_and_outdates_refills() {
    let mut pool = refilled(&[("a", 3), ("b", 3)], at(0));
    pool.mark_failed(&chute(), "a");
    let _ = take(&mut pool, at(0));
    pool.invalidate(&chute());
    assert_eq!(pool.failures(&chute(), "a"), 0);
    assert_eq!(pool.available(&chute(), at(0)), 0);
    let Take::Refill(old) = pool.take(&chute(), at(0)) else { panic!() };
    pool.invalidate(&chute());
    assert_eq!(pool.finish_refill(old, Ok(batch(&[("a", 3)], "g2")), at(0)), Err(RefillError::Stale));
    assert_eq!(pool.available(&chute(), at(0)), 0);
    let Take::Refill(t) = pool.take(&chute(), at(0)) else { panic!() };
    pool.finish_refill(t, Ok(batch(&[("a", 3)], "g3")), at(0)).unwrap();
    assert_eq!(take(&mut pool, at(0)).instance_id(), "a");
    pool.invalidate_all();
    assert_eq!(pool.available(&chute(), at(0)), 0);
}

#[test]
fn material_checks_the_attested_key_and_hides_the_nonce() {
    let mut pool = refilled(&[("a", 1)], at(0));
    let m = take(&mut pool, at(0));
    assert!(m.key_matches(&SigningKey::new("key-a").unwrap()));
    assert!(!m.key_matches(&SigningKey::new("key-b").unwrap()));
    let shown = format!("{m:?}");
    assert!(!shown.contains("g1-a-0"), "{shown}");
}

#[test]
fn chute_count_is_bounded() {
    let mut pool = NoncePool::default();
    for i in 0..=MAX_CHUTES {
        let id = ChuteId::new(&format!("chute-{i}")).unwrap();
        let Take::Refill(t) = pool.take(&id, at(i as u64)) else { panic!() };
        pool.finish_refill(t, Ok(batch(&[("a", 1)], "g")), at(i as u64)).unwrap();
    }
    assert_eq!(pool.chutes.len(), MAX_CHUTES);
    assert_eq!(pool.available(&ChuteId::new("chute-0").unwrap(), at(MAX_CHUTES as u64)), 0);
}

#[test]
fn failure_records_are_bounded() {
    let mut pool = refilled(&[("a", 1)], at(0));
    for i in 0..MAX_FAILURE_RECORDS + 10 {
        pool.mark_failed(&chute(), &format!("ghost-{i}"));
    }
    pool.mark_failed(&chute(), "a");
    let state = pool.chutes.get(&chute()).unwrap();
    assert!(state.failures.len() <= MAX_FAILURE_RECORDS);
    assert_eq!(pool.failures(&chute(), "a"), 1, "listed instances are always counted");
}

#[test]
fn threshold_counts_only_the_preferred_instances() {
    let mut pool = NoncePool::new(PoolConfig { refill_below: 1 });
    let Take::Refill(t) = pool.take(&chute(), at(0)) else { panic!() };
    pool.finish_refill(t, Ok(batch(&[("a", 1), ("b", 1)], "g1")), at(0)).unwrap();
    pool.mark_failed(&chute(), "a");
    let Take::Material { refill: Some(t), .. } = pool.take(&chute(), at(0)) else { panic!("b ran out") };
    pool.finish_refill(t, Ok(batch(&[("a", 5), ("b", 3)], "g2")), at(0)).unwrap();
    // "a" has 5 nonces but failed before: only "b"'s count against the threshold.
    let mut asked = Vec::new();
    for expected in ["b", "b", "b"] {
        let Take::Material { material, refill } = pool.take(&chute(), at(0)) else { panic!() };
        assert_eq!(material.instance_id(), expected);
        asked.push(refill.is_some());
    }
    assert_eq!(asked, [false, true, false]);
}

#[test]
fn a_lost_refill_ticket_is_given_up_after_the_timeout() {
    let mut pool = NoncePool::default();
    let Take::Refill(lost) = pool.take(&chute(), at(0)) else { panic!() };
    assert_eq!(pool.take(&chute(), at(59)), Take::AwaitRefill);
    let Take::Refill(t) = pool.take(&chute(), at(60)) else { panic!("a new ticket after the timeout") };
    assert_eq!(pool.finish_refill(lost, Ok(batch(&[("a", 1)], "old")), at(61)), Err(RefillError::Stale));
    pool.finish_refill(t, Ok(batch(&[("a", 1)], "new")), at(61)).unwrap();
    assert_eq!(take(&mut pool, at(61)).nonce(), "new-a-0");
}
