//! The Chutes nonce pool: single-use E2EE nonces per (chute, instance), served from the last
//! instances answer so that requests after the first attestation need no extra round trips.
//!
//! The pool does no I/O. [`NoncePool::take`] either hands out material or says that the driver
//! must refill the chute (a [`RefillTicket`]: fetch `GET {base}/e2e/instances/{chute}`, parse it,
//! and give the result to [`NoncePool::finish_refill`]) or wait for a refill already under way.
//! At most one refill per chute is outstanding at a time.
//!
//! Selection rule: only instances not marked failed since the pool was installed and having
//! the pool's fewest recorded failures are served from, the earliest in the instances answer
//! first. When they run out of nonces the pool is refilled, instead of falling back (as the
//! reference does) to an instance that failed more often: after a failure, a fleet with a
//! healthy instance never sends to the failed one again. Failure counts survive refills and are
//! dropped only by [`NoncePool::invalidate`].

mod batch;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;

pub use batch::{
    InstanceNonces, MAX_NONCES_PER_INSTANCE, MAX_POOL_NONCES, MAX_TOKEN_LEN, RefillBatch, RefillError, pool_ttl,
};

use batch::{PoolInstance, usable_instances};

use crate::io::Instant;
use crate::state::signing_key_cache::SigningKey;

/// Instances accepted in one refill (more is an error).
pub const MAX_INSTANCES: usize = 256;
/// Chutes tracked at once (the least recently used one is forgotten beyond that).
pub const MAX_CHUTES: usize = 64;
/// Failure counts kept per chute.
pub const MAX_FAILURE_RECORDS: usize = 1024;
/// Handed-out nonces remembered per chute, so a refill can never bring one back. Larger than
/// two full pools ([`MAX_POOL_NONCES`]).
pub const SPENT_MEMORY: usize = 4096;
/// How long a refill may stay unanswered before the next take asks for another (longer than
/// the 45 s attestation client timeout), so a lost ticket cannot wedge a chute.
pub const REFILL_TIMEOUT: Duration = Duration::from_secs(60);

/// A chute's UUID (non-empty, at most [`MAX_TOKEN_LEN`] bytes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChuteId(String);

/// The chute id was empty or too long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid chute id ({len} bytes; must be 1..={MAX_TOKEN_LEN})")]
pub struct InvalidChuteId {
    /// Length of the rejected id.
    pub len: usize,
}

impl ChuteId {
    /// Wraps a chute id.
    pub fn new(id: &str) -> Result<Self, InvalidChuteId> {
        if id.is_empty() || id.len() > MAX_TOKEN_LEN {
            Err(InvalidChuteId { len: id.len() })
        } else {
            Ok(Self(id.to_owned()))
        }
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChuteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// E2EE material for one upstream attempt: an instance, its key and a nonce nobody else got.
#[derive(Clone, PartialEq, Eq)]
pub struct Material {
    chute: ChuteId,
    instance_id: String,
    e2e_pubkey: String,
    nonce: String,
}

impl Material {
    /// The chute.
    pub fn chute(&self) -> &ChuteId {
        &self.chute
    }

    /// The instance the request must be sent to (`X-Instance-Id`).
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The instance's ML-KEM public key as listed. Not trusted by itself: use the material
    /// only if [`Material::key_matches`] the attested key.
    pub fn e2e_pubkey(&self) -> &str {
        &self.e2e_pubkey
    }

    /// The single-use nonce (`X-E2E-Nonce`).
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Constant-time check that the listed key is the attested one.
    pub fn key_matches(&self, attested: &SigningKey) -> bool {
        attested.matches(&self.e2e_pubkey)
    }
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Material")
            .field("chute", &self.chute)
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

/// The driver must refill `chute`: fetch its instances and call [`NoncePool::finish_refill`]
/// with this ticket, success or failure. Not `Clone`: one refill per ticket.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a refill ticket must be finished, or the chute waits for a refill that never comes"]
pub struct RefillTicket {
    chute: ChuteId,
    serial: u64,
}

impl RefillTicket {
    /// The chute to refill.
    pub fn chute(&self) -> &ChuteId {
        &self.chute
    }
}

/// The result of [`NoncePool::take`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Take {
    /// Material to use. `refill` is set when the pool ran low (the nonces left on the
    /// instances it prefers, those with the fewest failures, are at or below the configured
    /// threshold) and no refill was under way: the driver should refill in the background.
    Material {
        /// The material.
        material: Material,
        /// A refill to start now, if the pool is running low.
        refill: Option<RefillTicket>,
    },
    /// Nothing usable (no pool, expired, or used up): refill with this ticket, then take again.
    Refill(RefillTicket),
    /// Nothing usable and a refill is already under way: take again when it finishes.
    AwaitRefill,
}

/// Tuning of the pool. The default asks for a refill when the last preferred nonce is taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolConfig {
    /// Ask for a background refill once the usable nonces left fall to this many (0: when the
    /// last one is taken).
    pub refill_below: usize,
}

/// What a successful refill installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefillSummary {
    /// Instances kept.
    pub instances: usize,
    /// Nonces kept.
    pub nonces: usize,
    /// How long the pool will be used.
    pub ttl: Duration,
}

#[derive(Debug)]
struct Pool {
    instances: Vec<PoolInstance>,
    expires_at: Instant,
}

impl Pool {
    fn usable(&self) -> usize {
        self.instances.iter().filter(|i| !i.excluded).map(|i| i.nonces.len()).sum()
    }
}

#[derive(Debug, Default)]
struct Spent {
    order: VecDeque<String>,
    set: BTreeSet<String>,
}

impl Spent {
    fn remember(&mut self, nonce: &str) {
        if self.set.insert(nonce.to_owned()) {
            self.order.push_back(nonce.to_owned());
        }
        while self.order.len() > SPENT_MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

#[derive(Debug, Default)]
struct ChuteState {
    pool: Option<Pool>,
    failures: BTreeMap<String, u32>,
    /// The outstanding refill's serial and when it was asked for.
    refill_in_flight: Option<(u64, Instant)>,
    spent: Spent,
    last_used: Instant,
}

/// Nonce pools for every chute in use.
///
/// Guarantees:
/// * [`NoncePool::take`] never returns the same nonce twice for a chute: a nonce leaves the
///   pool when taken, a refill's duplicate nonces are dropped, and a refill cannot bring back
///   any of the last [`SPENT_MEMORY`] nonces handed out;
/// * after [`NoncePool::mark_failed`], the instance is never chosen again from the current
///   pool; after a refill it is chosen only when no instance listed with nonces has fewer
///   failures;
/// * an expired pool (`now` past its expiry) is never served from;
/// * at most one refill per chute is outstanding (one unanswered for [`REFILL_TIMEOUT`] is
///   given up); a refill finished after [`NoncePool::invalidate`] or after being given up
///   installs nothing;
/// * memory is bounded ([`MAX_CHUTES`], [`MAX_POOL_NONCES`], [`MAX_FAILURE_RECORDS`],
///   [`SPENT_MEMORY`]).
#[derive(Debug, Default)]
pub struct NoncePool {
    chutes: BTreeMap<ChuteId, ChuteState>,
    config: PoolConfig,
    next_serial: u64,
}

impl NoncePool {
    /// An empty pool with the given tuning.
    pub fn new(config: PoolConfig) -> Self {
        Self { chutes: BTreeMap::new(), config, next_serial: 0 }
    }

    /// Takes material for one attempt on `chute` at `now`, or says how to get some.
    pub fn take(&mut self, chute: &ChuteId, now: Instant) -> Take {
        let refill_below = self.config.refill_below;
        let serial = self.next_serial;
        let state = self.state_mut(chute, now);
        if state.pool.as_ref().is_some_and(|p| now > p.expires_at) {
            state.pool = None;
        }
        // A refill unanswered for too long no longer holds back a new one (which, once issued,
        // outdates it).
        let refill_busy = state.refill_in_flight.is_some_and(|(_, asked)| now.saturating_since(asked) < REFILL_TIMEOUT);
        let picked = state.pool.as_mut().and_then(|pool| {
            let index = pick(&pool.instances, &state.failures)?;
            let inst = pool.instances.get_mut(index)?;
            let nonce = inst.nonces.pop_front()?;
            let (id, key) = (inst.id.clone(), inst.key.clone());
            Some((id, key, nonce, preferred_left(&pool.instances, &state.failures)))
        });
        let issued = match picked {
            Some((instance_id, e2e_pubkey, nonce, left)) => {
                state.spent.remember(&nonce);
                let refill = if left <= refill_below && !refill_busy {
                    state.refill_in_flight = Some((serial, now));
                    Some(RefillTicket { chute: chute.clone(), serial })
                } else {
                    None
                };
                let material = Material { chute: chute.clone(), instance_id, e2e_pubkey, nonce };
                Take::Material { material, refill }
            }
            None => {
                state.pool = None;
                if refill_busy {
                    Take::AwaitRefill
                } else {
                    state.refill_in_flight = Some((serial, now));
                    Take::Refill(RefillTicket { chute: chute.clone(), serial })
                }
            }
        };
        if matches!(&issued, Take::Refill(_) | Take::Material { refill: Some(_), .. }) {
            self.next_serial = self.next_serial.wrapping_add(1);
        }
        issued
    }

    /// Installs the answer to a refill (or records its failure) at `now`, replacing the
    /// chute's whole pool. Failure counts are kept.
    pub fn finish_refill(
        &mut self,
        ticket: RefillTicket,
        fetched: Result<RefillBatch, RefillError>,
        now: Instant,
    ) -> Result<RefillSummary, RefillError> {
        let state = match self.chutes.get_mut(&ticket.chute) {
            Some(s) if s.refill_in_flight.is_some_and(|(serial, _)| serial == ticket.serial) => s,
            _ => return Err(RefillError::Stale),
        };
        state.refill_in_flight = None;
        let batch = fetched.map_err(|_| RefillError::Fetch)?;
        let ttl = pool_ttl(batch.nonce_expires_in)?;
        let instances = usable_instances(batch, &state.spent.set)?;
        let summary =
            RefillSummary { instances: instances.len(), nonces: instances.iter().map(|i| i.nonces.len()).sum(), ttl };
        state.pool = Some(Pool { instances, expires_at: now + ttl });
        state.last_used = now;
        Ok(summary)
    }

    /// Records that `instance` failed (transport error, 5xx, or a response that would not
    /// decrypt): it is never chosen again from the current pool, and its failure count grows.
    pub fn mark_failed(&mut self, chute: &ChuteId, instance: &str) {
        let Some(state) = self.chutes.get_mut(chute) else { return };
        if let Some(pool) = state.pool.as_mut() {
            for inst in pool.instances.iter_mut().filter(|i| i.id == instance) {
                inst.excluded = true;
                inst.nonces.clear();
            }
        }
        if !state.failures.contains_key(instance) && state.failures.len() >= MAX_FAILURE_RECORDS {
            let listed: BTreeSet<&str> =
                state.pool.iter().flat_map(|p| p.instances.iter().map(|i| i.id.as_str())).collect();
            state.failures.retain(|id, _| listed.contains(id.as_str()));
        }
        if state.failures.len() < MAX_FAILURE_RECORDS || state.failures.contains_key(instance) {
            let count = state.failures.entry(instance.to_owned()).or_insert(0);
            *count = count.saturating_add(1);
        }
    }

    /// Drops `chute`'s pool and failure counts, and outdates any refill under way: the next
    /// take starts from a fresh instances answer. (Spent nonces stay remembered.)
    pub fn invalidate(&mut self, chute: &ChuteId) {
        if let Some(state) = self.chutes.get_mut(chute) {
            state.pool = None;
            state.failures.clear();
            state.refill_in_flight = None;
        }
    }

    /// [`NoncePool::invalidate`] for every chute.
    pub fn invalidate_all(&mut self) {
        for state in self.chutes.values_mut() {
            state.pool = None;
            state.failures.clear();
            state.refill_in_flight = None;
        }
    }

    /// Recorded failures of `instance` on `chute`.
    pub fn failures(&self, chute: &ChuteId, instance: &str) -> u32 {
        self.chutes.get(chute).and_then(|s| s.failures.get(instance)).copied().unwrap_or(0)
    }

    /// Usable nonces left for `chute` at `now` (0 when there is no live pool).
    pub fn available(&self, chute: &ChuteId, now: Instant) -> usize {
        self.chutes.get(chute).and_then(|s| s.pool.as_ref()).filter(|p| now <= p.expires_at).map_or(0, Pool::usable)
    }

    /// True when a refill of `chute` is under way.
    pub fn refill_in_flight(&self, chute: &ChuteId) -> bool {
        self.chutes.get(chute).is_some_and(|s| s.refill_in_flight.is_some())
    }

    fn state_mut(&mut self, chute: &ChuteId, now: Instant) -> &mut ChuteState {
        if !self.chutes.contains_key(chute) && self.chutes.len() >= MAX_CHUTES {
            // Forget the least recently used chute, preferring one without a refill under way
            // (a refill of a forgotten chute finishes as stale).
            let victim = self
                .chutes
                .iter()
                .min_by_key(|(_, s)| (s.refill_in_flight.is_some(), s.last_used))
                .map(|(k, _)| k.clone());
            if let Some(k) = victim {
                self.chutes.remove(&k);
            }
        }
        let state = self.chutes.entry(chute.clone()).or_default();
        state.last_used = now;
        state
    }
}

/// The fewest failures among the instances of the current pool (marked ones aside), whether or
/// not they have nonces left: only instances with that count are served from.
fn fewest_failures(instances: &[PoolInstance], failures: &BTreeMap<String, u32>) -> Option<u32> {
    instances.iter().filter(|i| !i.excluded).map(|i| failures.get(&i.id).copied().unwrap_or(0)).min()
}

/// Nonces left on the instances the selection rule serves from (those with the fewest
/// failures): what the refill threshold is measured against.
fn preferred_left(instances: &[PoolInstance], failures: &BTreeMap<String, u32>) -> usize {
    let Some(fewest) = fewest_failures(instances, failures) else { return 0 };
    let count = |i: &PoolInstance| failures.get(&i.id).copied().unwrap_or(0);
    instances.iter().filter(|i| !i.excluded && count(i) == fewest).map(|i| i.nonces.len()).sum()
}

/// The index of the instance to serve from: not excluded, with the pool's fewest failures,
/// with nonces left, first in list order. When those instances are out of nonces there is no
/// pick (the pool is refilled) rather than a fall-back to an instance that failed more often.
fn pick(instances: &[PoolInstance], failures: &BTreeMap<String, u32>) -> Option<usize> {
    let fewest = fewest_failures(instances, failures)?;
    instances
        .iter()
        .position(|i| !i.excluded && !i.nonces.is_empty() && failures.get(&i.id).copied().unwrap_or(0) == fewest)
}
