//! RFC 6962 / RFC 9162 Merkle tree hashing and inclusion-proof verification.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Leaf hash: SHA-256(0x00 ‖ leaf).
pub fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// Interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Why an inclusion proof does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InclusionError {
    /// The tree is empty.
    #[error("tree size is 0")]
    EmptyTree,
    /// The index is outside the tree.
    #[error("index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// The proof has more or fewer hashes than the tree shape requires.
    #[error("proof has the wrong number of hashes ({0})")]
    WrongLength(usize),
    /// The computed root differs from the expected root.
    #[error("computed root {computed} differs from the proof's root")]
    RootMismatch {
        /// The computed root, hex.
        computed: String,
    },
}

/// Recomputes the root from a leaf hash, its index, the tree size and the audit path
/// (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    proof: &[[u8; 32]],
) -> Result<[u8; 32], InclusionError> {
    if size == 0 {
        return Err(InclusionError::EmptyTree);
    }
    if index >= size {
        return Err(InclusionError::IndexOutOfRange { index, size });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if s_n == 0 {
            return Err(InclusionError::WrongLength(proof.len()));
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(InclusionError::WrongLength(proof.len()));
    }
    Ok(r)
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves whose root is `root`.
/// The root comparison is constant-time.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    proof: &[[u8; 32]],
    root: &[u8; 32],
) -> Result<(), InclusionError> {
    let computed = root_from_inclusion(index, size, leaf, proof)?;
    if bool::from(computed.ct_eq(root)) {
        Ok(())
    } else {
        Err(InclusionError::RootMismatch { computed: hex::encode(computed) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference tree hash (RFC 9162 §2.1.1), recursive.
    fn mth(leaves: &[Vec<u8>]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = (n.next_power_of_two()) / 2;
                let k = if k == n { n / 2 } else { k };
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// Reference audit path (RFC 9162 §2.1.3.1).
    fn path(m: usize, leaves: &[Vec<u8>]) -> Vec<[u8; 32]> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = n.next_power_of_two() / 2;
        let k = if k == n { n / 2 } else { k };
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    #[test]
    fn every_leaf_of_every_small_tree_verifies_and_tampering_fails() {
        for n in 1..=20usize {
            let leaves: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; i + 1]).collect();
            let root = mth(&leaves);
            for m in 0..n {
                let p = path(m, &leaves);
                let leaf = leaf_hash(&leaves[m]);
                assert_eq!(verify_inclusion(m as u64, n as u64, leaf, &p, &root), Ok(()), "n={n} m={m}");
                let mut bad_root = root;
                bad_root[0] ^= 1;
                assert!(verify_inclusion(m as u64, n as u64, leaf, &p, &bad_root).is_err());
                if !p.is_empty() {
                    let mut bad = p.clone();
                    bad[0][31] ^= 0x80;
                    assert!(verify_inclusion(m as u64, n as u64, leaf, &bad, &root).is_err());
                    assert!(verify_inclusion(m as u64, n as u64, leaf, &p[..p.len() - 1], &root).is_err());
                }
                let mut long = p.clone();
                long.push([0; 32]);
                assert!(verify_inclusion(m as u64, n as u64, leaf, &long, &root).is_err());
                if n > 1 {
                    let other = (m + 1) % n;
                    assert!(verify_inclusion(other as u64, n as u64, leaf, &p, &root).is_err());
                }
            }
        }
    }

    #[test]
    fn bounds() {
        assert_eq!(root_from_inclusion(0, 0, [0; 32], &[]), Err(InclusionError::EmptyTree));
        assert_eq!(root_from_inclusion(5, 5, [0; 32], &[]), Err(InclusionError::IndexOutOfRange { index: 5, size: 5 }));
        assert_eq!(root_from_inclusion(0, 1, [7; 32], &[]), Ok([7; 32]));
        // Extreme sizes never overflow: the right edge of a 2^64-1 leaf tree needs fewer than 64 hashes.
        assert_eq!(
            root_from_inclusion(u64::MAX - 1, u64::MAX, [0; 32], &[[0; 32]; 64]),
            Err(InclusionError::WrongLength(64))
        );
        assert!(root_from_inclusion(0, u64::MAX, [0; 32], &[[0; 32]; 64]).is_ok());
    }
}
