//! Shared session state as plain data: the attestation report cache, the signing-key cache, the
//! negative cache, the SPKI pin cache, the Chutes nonce pool, single-flight bookkeeping for
//! concurrent attestations, and the Chutes failover rules.
//!
//! Nothing here reads a clock, does I/O or spawns anything: every method that depends on time
//! takes the driver's monotonic [`crate::io::Instant`], and a runtime shares one
//! [`SessionState`] between its requests behind a lock. Every structure is bounded (entry
//! counts, string lengths), ordered maps keep eviction deterministic, and keys and pins are
//! compared in constant time.
//!
//! TTLs and bounds follow the reference proxy: reports, signing keys and SPKI pins live 1 h
//! ([`ATTESTATION_CACHE_TTL`]) so they expire together; the negative cache blocks for 30 s; the
//! per-model caches hold at most [`MAX_CACHE_ENTRIES`] entries.
//!
//! Every public item is re-exported here; `proto_core::state::SigningKey` and
//! `proto_core::state::signing_key_cache::SigningKey` name the same type.

pub mod failover;
pub mod key;
pub mod negative_cache;
pub mod nonce_pool;
pub mod report_cache;
pub mod session;
pub mod signing_key_cache;
pub mod single_flight;
pub mod spki_pin;
mod ttl_map;

#[cfg(test)]
mod props;

use std::time::Duration;

pub use failover::{
    AttemptOutcome, INNER_ATTEMPTS, InnerDecision, InnerNext, OUTER_ATTEMPTS, Retry, classify, inner_decision,
    outer_may_retry,
};
pub use key::{CacheKey, KeyTooLong, MAX_KEY_PART};
pub use negative_cache::{Backoff, Blocked, NegativeCache};
pub use nonce_pool::{
    ChuteId, InstanceNonces, InvalidChuteId, MAX_CHUTES, MAX_FAILURE_RECORDS, MAX_INSTANCES, MAX_NONCES_PER_INSTANCE,
    MAX_POOL_NONCES, MAX_TOKEN_LEN, Material, NoncePool, PoolConfig, REFILL_TIMEOUT, RefillBatch, RefillError,
    RefillSummary, RefillTicket, SPENT_MEMORY, Take, pool_ttl,
};
pub use report_cache::ReportCache;
pub use session::{E2eeGate, FailedVia, SessionState};
pub use signing_key_cache::{KeyChange, MAX_SIGNING_KEY_LEN, SigningKey, SigningKeyCache, SigningKeyError};
pub use single_flight::{
    DEFAULT_LEAD_TIMEOUT, Join, Lead, MAX_FLIGHTS, MAX_WAITERS_PER_FLIGHT, Released, SingleFlight, WaiterId,
};
pub use spki_pin::{
    MAX_DOMAIN_LEN, MAX_PIN_DOMAINS, MAX_PINS_PER_DOMAIN, PinDecision, PinRefused, Pinned, SpkiPinCache,
};

/// How long reports, signing keys and SPKI pins stay valid (the reference's
/// `AttestationCacheTTL`): one hour.
pub const ATTESTATION_CACHE_TTL: Duration = Duration::from_secs(3600);

/// Entries held by the report, signing-key and negative caches (the reference's bound).
pub const MAX_CACHE_ENTRIES: usize = 1000;
