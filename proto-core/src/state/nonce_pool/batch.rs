//! What a refill brings in (the instances endpoint's answer, already parsed), its validation
//! and the pool lifetime it implies.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use super::MAX_INSTANCES;
use crate::state::signing_key_cache::MAX_SIGNING_KEY_LEN;

/// Nonces kept per instance from one refill (extra ones are ignored).
pub const MAX_NONCES_PER_INSTANCE: usize = 1024;
/// Nonces kept per pool from one refill, all instances together (extra ones are ignored).
pub const MAX_POOL_NONCES: usize = 2048;
/// Longest accepted nonce or instance id, in bytes.
pub const MAX_TOKEN_LEN: usize = 256;

/// One instance as listed by `GET {base}/e2e/instances/{chute}`.
#[derive(Clone, PartialEq, Eq)]
pub struct InstanceNonces {
    /// The instance id.
    pub instance_id: String,
    /// The instance's ML-KEM public key (base64 text, not validated here).
    pub e2e_pubkey: String,
    /// Single-use nonces, in the order the endpoint listed them.
    pub nonces: Vec<String>,
}

impl std::fmt::Debug for InstanceNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Nonces are single-use secrets of the session: count them, never print them.
        f.debug_struct("InstanceNonces")
            .field("instance_id", &self.instance_id)
            .field("nonces", &self.nonces.len())
            .finish_non_exhaustive()
    }
}

/// A parsed instances answer, handed to [`super::NoncePool::finish_refill`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefillBatch {
    /// The instances, in the order listed.
    pub instances: Vec<InstanceNonces>,
    /// The endpoint's `nonce_expires_in` (seconds), if present.
    pub nonce_expires_in: Option<i64>,
}

/// Why a refill installed nothing. Messages never contain nonces or response bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefillError {
    /// The driver could not fetch or parse the instances (the cause is deliberately dropped:
    /// a response body may carry nonces).
    #[error("nonce pool: fetching instances failed")]
    Fetch,
    /// The answer listed no instances.
    #[error("nonce pool: no instances available")]
    NoInstances,
    /// The answer listed more than [`MAX_INSTANCES`] instances.
    #[error("nonce pool: too many instances ({0}, max {MAX_INSTANCES})")]
    TooManyInstances(usize),
    /// `nonce_expires_in` above one hour.
    #[error("nonce pool: provider TTL too large ({0} > 3600 seconds)")]
    TtlTooLarge(i64),
    /// No instance had an id, a key and an unused nonce.
    #[error("nonce pool: no E2EE-capable instances")]
    NoUsableInstances,
    /// The ticket no longer matches the pool (it was invalidated, evicted, or the ticket was
    /// already used): nothing was installed.
    #[error("nonce pool: refill outdated by an invalidation")]
    Stale,
}

/// How long a refilled pool is used: `nonce_expires_in` seconds, 55 when absent or not
/// positive, at most 300 (above 3600 is an error), then 5 s less when above 10.
pub fn pool_ttl(nonce_expires_in: Option<i64>) -> Result<Duration, RefillError> {
    let secs = match nonce_expires_in {
        None => 55,
        Some(s) if s <= 0 => 55,
        Some(s) if s > 3600 => return Err(RefillError::TtlTooLarge(s)),
        Some(s) => s.min(300),
    };
    let secs = if secs > 10 { secs - 5 } else { secs };
    // `secs` is in 1..=295 here.
    Ok(Duration::from_secs(secs.unsigned_abs()))
}

/// An instance as kept in the pool.
#[derive(Clone, Debug)]
pub(super) struct PoolInstance {
    pub(super) id: String,
    pub(super) key: String,
    pub(super) nonces: VecDeque<String>,
    /// Marked failed since this pool was installed: never chosen again from it.
    pub(super) excluded: bool,
}

/// Keeps the usable part of `batch`: instances with a non-empty bounded id and key and at
/// least one nonce not in `spent` (first listing of an id wins; duplicate nonces are dropped).
pub(super) fn usable_instances(batch: RefillBatch, spent: &BTreeSet<String>) -> Result<Vec<PoolInstance>, RefillError> {
    if batch.instances.is_empty() {
        return Err(RefillError::NoInstances);
    }
    if batch.instances.len() > MAX_INSTANCES {
        return Err(RefillError::TooManyInstances(batch.instances.len()));
    }
    let mut seen_ids = BTreeSet::new();
    let mut seen_nonces = BTreeSet::new();
    let mut out = Vec::new();
    let mut total = 0usize;
    for inst in batch.instances {
        let id_ok = !inst.instance_id.is_empty() && inst.instance_id.len() <= MAX_TOKEN_LEN;
        let key_ok = !inst.e2e_pubkey.is_empty() && inst.e2e_pubkey.len() <= MAX_SIGNING_KEY_LEN;
        if !id_ok || !key_ok || !seen_ids.insert(inst.instance_id.clone()) {
            continue;
        }
        let nonces: VecDeque<String> = inst
            .nonces
            .into_iter()
            .filter(|n| !n.is_empty() && n.len() <= MAX_TOKEN_LEN && !spent.contains(n))
            .filter(|n| seen_nonces.insert(n.clone()))
            .take(MAX_NONCES_PER_INSTANCE.min(MAX_POOL_NONCES - total))
            .collect();
        total += nonces.len();
        if !nonces.is_empty() {
            out.push(PoolInstance { id: inst.instance_id, key: inst.e2e_pubkey, nonces, excluded: false });
        }
    }
    if out.is_empty() { Err(RefillError::NoUsableInstances) } else { Ok(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_follows_the_spec_table() {
        let secs = |v| pool_ttl(v).map(|d| d.as_secs());
        assert_eq!(secs(Some(60)), Ok(55));
        assert_eq!(secs(None), Ok(50));
        assert_eq!(secs(Some(0)), Ok(50));
        assert_eq!(secs(Some(-7)), Ok(50));
        assert_eq!(secs(Some(1)), Ok(1));
        assert_eq!(secs(Some(10)), Ok(10));
        assert_eq!(secs(Some(11)), Ok(6));
        assert_eq!(secs(Some(300)), Ok(295));
        assert_eq!(secs(Some(3600)), Ok(295));
        assert_eq!(secs(Some(3601)), Err(RefillError::TtlTooLarge(3601)));
        assert_eq!(secs(Some(i64::MAX)), Err(RefillError::TtlTooLarge(i64::MAX)));
        assert_eq!(secs(Some(i64::MIN)), Ok(50));
    }

    fn inst(id: &str, key: &str, nonces: &[&str]) -> InstanceNonces {
        InstanceNonces {
            instance_id: id.into(),
            e2e_pubkey: key.into(),
            nonces: nonces.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn unusable_instances_and_nonces_are_dropped() {
        let spent: BTreeSet<String> = ["used".to_owned()].into();
        let batch = RefillBatch {
            instances: vec![
                inst("", "k", &["n0"]),
                inst("a", "", &["n1"]),
                inst("b", "k", &[]),
                inst("c", "k", &["used", "n2", "n2", ""]),
                inst("c", "k2", &["n3"]),
                inst("d", "k", &["n2", "n4"]),
            ],
            nonce_expires_in: None,
        };
        let kept = usable_instances(batch, &spent).unwrap();
        let summary: Vec<(String, Vec<String>)> =
            kept.into_iter().map(|i| (i.id, i.nonces.into_iter().collect())).collect();
        assert_eq!(summary, [("c".to_owned(), vec!["n2".to_owned()]), ("d".to_owned(), vec!["n4".to_owned()])]);
    }

    #[test]
    fn counts_are_checked() {
        let none = RefillBatch::default();
        assert_eq!(usable_instances(none, &BTreeSet::new()).unwrap_err(), RefillError::NoInstances);
        let many = RefillBatch {
            instances: (0..=MAX_INSTANCES).map(|i| inst(&i.to_string(), "k", &["n"])).collect(),
            nonce_expires_in: None,
        };
        assert_eq!(usable_instances(many, &BTreeSet::new()).unwrap_err(), RefillError::TooManyInstances(257));
        let useless = RefillBatch { instances: vec![inst("a", "k", &[])], nonce_expires_in: None };
        assert_eq!(usable_instances(useless, &BTreeSet::new()).unwrap_err(), RefillError::NoUsableInstances);
        let big = RefillBatch {
            instances: vec![InstanceNonces {
                instance_id: "a".into(),
                e2e_pubkey: "k".into(),
                nonces: (0..5000).map(|i| format!("n{i}")).collect(),
            }],
            nonce_expires_in: None,
        };
        assert_eq!(usable_instances(big, &BTreeSet::new()).unwrap()[0].nonces.len(), MAX_NONCES_PER_INSTANCE);
        let wide = RefillBatch {
            instances: (0..4)
                .map(|i| InstanceNonces {
                    instance_id: format!("i{i}"),
                    e2e_pubkey: "k".into(),
                    nonces: (0..1000).map(|n| format!("{i}-{n}")).collect(),
                })
                .collect(),
            nonce_expires_in: None,
        };
        let kept = usable_instances(wide, &BTreeSet::new()).unwrap();
        assert_eq!(kept.iter().map(|i| i.nonces.len()).sum::<usize>(), MAX_POOL_NONCES);
        assert_eq!(kept.len(), 3, "the fourth instance got no nonce budget");
    }
}
