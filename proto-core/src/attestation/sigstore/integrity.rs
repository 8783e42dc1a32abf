//! Log integrity of one Rekor entry (`attestation-core.md` §10.3, stricter than the reference).
//!
//! An entry passes only when all of these hold, checked in this order:
//! 1. its log ID is the pinned log's;
//! 2. its Signed Entry Timestamp verifies with the pinned key over the RFC 8785 canonical JSON
//!    `{"body":…,"integratedTime":…,"logID":…,"logIndex":…}`;
//! 3. the UUID it was requested by, and the UUID the answer keys it by, both end in its leaf hash
//!    SHA-256(0x00 ‖ body);
//! 4. its RFC 6962 inclusion proof leads from that leaf to the proof's root;
//! 5. its checkpoint is signed by the pinned key and commits to the proof's tree size and root.
//!
//! The reference checks only 2 and 4.

use p256::ecdsa::DerSignature;
use p256::ecdsa::signature::Verifier as _;
use subtle::ConstantTimeEq;

use super::checkpoint::{self, CheckpointError};
use super::entry::RekorEntry;
use super::merkle::{self, InclusionError};
use super::trust::LogKey;

/// Which integrity check failed, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    /// The entry's log ID is not the pinned log's.
    #[error("log ID {0} is not the pinned Rekor log's")]
    LogId(String),
    /// The SET is not a DER ECDSA signature, or does not verify.
    #[error("SET verification: signature does not verify with the pinned Rekor key")]
    Set,
    /// A UUID does not end in the entry's leaf hash.
    #[error("UUID {0} does not end in the entry's leaf hash")]
    Uuid(String),
    /// The inclusion proof does not verify.
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] InclusionError),
    /// The checkpoint does not verify or does not match the proof.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
}

/// Runs every integrity check on `entry`, fetched by `requested_uuid`, against `log`.
pub fn verify_entry(entry: &RekorEntry, requested_uuid: &str, log: &LogKey) -> Result<(), IntegrityError> {
    check_log_id(&entry.log_id, log)?;
    verify_set(entry, log)?;
    let leaf = merkle::leaf_hash(&entry.body);
    for uuid in [requested_uuid, entry.uuid.as_str()] {
        check_uuid(uuid, &leaf)?;
    }
    let p = &entry.proof;
    merkle::verify_inclusion(p.log_index, p.tree_size, leaf, &p.hashes, &p.root_hash)?;
    let cp = checkpoint::verify_checkpoint(&p.checkpoint, log)?;
    checkpoint::check_consistent(&cp, p.tree_size, &p.root_hash)?;
    Ok(())
}

fn check_log_id(log_id: &str, log: &LogKey) -> Result<(), IntegrityError> {
    let mut got = [0u8; 32];
    let ok = hex::decode_to_slice(log_id, &mut got).is_ok() && bool::from(got.ct_eq(&log.log_id));
    if ok { Ok(()) } else { Err(IntegrityError::LogId(short(log_id))) }
}

/// The bytes the SET signs: RFC 8785 canonical JSON of the four fields. The body is base64 and
/// the log ID hex (both checked before), so neither needs escaping and keys are already sorted.
pub fn set_payload(entry: &RekorEntry) -> Vec<u8> {
    format!(
        "{{\"body\":\"{}\",\"integratedTime\":{},\"logID\":\"{}\",\"logIndex\":{}}}",
        entry.body_b64, entry.integrated_time, entry.log_id, entry.log_index
    )
    .into_bytes()
}

fn verify_set(entry: &RekorEntry, log: &LogKey) -> Result<(), IntegrityError> {
    // The payload is only canonical if the strings need no escaping.
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
    if !plain(&entry.body_b64) || !plain(&entry.log_id) {
        return Err(IntegrityError::Set);
    }
    let signature = DerSignature::try_from(entry.set.as_slice()).map_err(|_| IntegrityError::Set)?;
    log.key.verify(&set_payload(entry), &signature).map_err(|_| IntegrityError::Set)
}

/// A Rekor UUID is 64 hex digits of leaf hash, optionally preceded by a 16-digit tree ID.
fn check_uuid(uuid: &str, leaf: &[u8; 32]) -> Result<(), IntegrityError> {
    let bad = || IntegrityError::Uuid(short(uuid));
    if !(uuid.len() == 64 || uuid.len() == 80) || !uuid.is_ascii() {
        return Err(bad());
    }
    let mut got = [0u8; 32];
    hex::decode_to_slice(&uuid[uuid.len() - 64..], &mut got).map_err(|_| bad())?;
    if bool::from(got.ct_eq(leaf)) { Ok(()) } else { Err(bad()) }
}

/// The first 16 characters of an identifier, for messages.
pub(crate) fn short(s: &str) -> String {
    s.chars().take(16).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::attestation::sigstore::checkpoint::tests::{sign_checkpoint, test_log};
    use crate::attestation::sigstore::entry::InclusionProof;
    use base64::Engine as _;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;

    /// A valid entry with `body` as the third of five leaves, signed by the test log.
    pub(crate) fn signed_entry(signing: &SigningKey, log: &LogKey, body: &[u8]) -> RekorEntry {
        let b64 = base64::engine::general_purpose::STANDARD;
        let leaves: Vec<[u8; 32]> = (0..5u8).map(|i| merkle::leaf_hash(&[i])).collect();
        let leaf = merkle::leaf_hash(body);
        // Tree of 5: ((l0 l1)(leaf l3)) l4 — audit path for index 2: l3, h(l0,l1), l4.
        let h01 = merkle::node_hash(&leaves[0], &leaves[1]);
        let h23 = merkle::node_hash(&leaf, &leaves[3]);
        let root = merkle::node_hash(&merkle::node_hash(&h01, &h23), &leaves[4]);
        let uuid = format!("24296fb24b8ad77a{}", hex::encode(leaf));
        let mut entry = RekorEntry {
            uuid,
            body_b64: b64.encode(body),
            body: body.to_vec(),
            integrated_time: 1_700_000_000,
            log_id: hex::encode(log.log_id),
            log_index: 123,
            set: Vec::new(),
            proof: InclusionProof {
                checkpoint: sign_checkpoint(signing, log, 5, &root),
                hashes: vec![leaves[3], h01, leaves[4]],
                log_index: 2,
                root_hash: root,
                tree_size: 5,
            },
        };
        let sig: DerSignature = signing.sign(&set_payload(&entry));
        entry.set = sig.as_bytes().to_vec();
        entry
    }

    #[test]
    fn valid_entry_passes_every_check() {
        let (signing, log) = test_log();
        let e = signed_entry(&signing, &log, b"{\"kind\":\"dsse\"}");
        assert_eq!(verify_entry(&e, &e.uuid, &log), Ok(()));
        assert_eq!(verify_entry(&e, &e.uuid[16..], &log), Ok(()), "a bare 64-digit UUID is accepted");
    }

    #[test]
    fn each_check_fails_on_its_own_tampering() {
        let (signing, log) = test_log();
        let good = signed_entry(&signing, &log, b"{\"kind\":\"dsse\"}");
        let uuid = good.uuid.clone();
        let check = |edit: &dyn Fn(&mut RekorEntry), requested: &str| {
            let mut e = good.clone();
            edit(&mut e);
            verify_entry(&e, requested, &log).unwrap_err()
        };
        assert!(matches!(check(&|e| e.log_id = "00".repeat(32), &uuid), IntegrityError::LogId(_)));
        assert_eq!(check(&|e| e.integrated_time += 1, &uuid), IntegrityError::Set);
        assert_eq!(check(&|e| e.log_index += 1, &uuid), IntegrityError::Set);
        assert_eq!(check(&|e| e.set[10] ^= 1, &uuid), IntegrityError::Set);
        assert_eq!(check(&|e| e.set.clear(), &uuid), IntegrityError::Set);
        let other_uuid = format!("{}{}", &uuid[..79], if uuid.ends_with('0') { "1" } else { "0" });
        assert!(matches!(check(&|_| {}, &other_uuid), IntegrityError::Uuid(_)));
        assert!(matches!(check(&|e| e.uuid = "x".into(), &uuid), IntegrityError::Uuid(_)));
        assert!(matches!(check(&|e| e.proof.hashes[1][0] ^= 1, &uuid), IntegrityError::Inclusion(_)));
        assert!(matches!(check(&|e| e.proof.log_index = 1, &uuid), IntegrityError::Inclusion(_)));
        assert!(matches!(check(&|e| e.proof.root_hash[0] ^= 1, &uuid), IntegrityError::Inclusion(_)));
        assert!(matches!(
            check(&|e| e.proof.checkpoint = e.proof.checkpoint.replacen("\n5\n", "\n6\n", 1), &uuid),
            IntegrityError::Checkpoint(CheckpointError::BadSignature)
        ));
        // A validly signed checkpoint for another tree.
        let other = sign_checkpoint(&signing, &log, 6, &good.proof.root_hash);
        assert_eq!(
            check(&|e| e.proof.checkpoint = other.clone(), &uuid),
            IntegrityError::Checkpoint(CheckpointError::Inconsistent("tree size"))
        );
    }
}
