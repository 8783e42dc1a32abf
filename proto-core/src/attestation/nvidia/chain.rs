//! A GPU's certificate chain (spec §8.2): leaf first, pinned NVIDIA root last, every
//! certificate ECDSA P-384 / SHA-384.
//!
//! [`verify_chain`] checks the chain in strict order (each certificate issued and signed by the
//! next), the root by SHA-256 against the [`NvidiaAnchor`], validity at the injected time, CA
//! constraints on every issuer, and Go's extension rules (no unknown critical extension,
//! extended key usage compatible with server authentication). It returns the leaf's P-384 key.

use std::collections::BTreeSet;

use p384::ecdsa::VerifyingKey;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::root::NvidiaAnchor;
use crate::attestation::tdx::{PckError, split_pem_chain};
use crate::attestation::x509::{EcdsaCert, P384Sha384};

pub use crate::attestation::x509::CertProblem;

/// Fewest certificates a chain may have (leaf and root).
pub const MIN_CHAIN_CERTS: usize = 2;

/// Why a certificate chain does not lead from a P-384 leaf to the pinned root.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The PEM bundle did not split into certificates.
    #[error("PEM bundle: {0}")]
    Pem(String),
    /// Fewer than [`MIN_CHAIN_CERTS`] certificates.
    #[error("cert chain too short: {0} certs, need at least 2")]
    TooShort(usize),
    /// The last certificate is not the pinned root.
    #[error("chain root SHA-256 {found} does not match the pinned NVIDIA root")]
    UntrustedRoot {
        /// SHA-256 of the chain's last certificate, hex.
        found: String,
    },
    /// Certificate `index` (0 = leaf) fails a check.
    #[error("certificate {index}: {problem}")]
    Certificate {
        /// Zero-based position, leaf first.
        index: usize,
        /// What is wrong.
        problem: CertProblem,
    },
}

/// Issuer signatures already verified in this verification, keyed by the SHA-256 of the
/// certificate's DER and of its issuer's DER. The GPUs of one host share their upper chain, so
/// only the first GPU pays for those verifies. Only the signature outcome is cached; every
/// other check runs for every chain.
#[derive(Clone, Debug, Default)]
pub struct SignatureCache {
    verified: BTreeSet<([u8; 32], [u8; 32])>,
}

impl SignatureCache {
    /// Number of (certificate, issuer) pairs whose signature verified.
    pub fn len(&self) -> usize {
        self.verified.len()
    }

    /// True when nothing was verified yet.
    pub fn is_empty(&self) -> bool {
        self.verified.is_empty()
    }
}

/// Splits a PEM bundle into DER certificates, in order (leaf first). Every block must be a
/// `CERTIFICATE` that parses as X.509; at most eight blocks; after the last one only NUL bytes
/// and whitespace may follow (GPUs pad their bundles with NULs).
pub fn split_bundle(pem: &[u8]) -> Result<Vec<Vec<u8>>, ChainError> {
    let end = pem.iter().rposition(|&b| b != 0 && !b.is_ascii_whitespace()).map_or(0, |p| p + 1);
    let certs = split_pem_chain(&pem[..end]).map_err(|e| match e {
        PckError::NoPemBlock => ChainError::Pem("no certificates found in PEM bundle".to_owned()),
        PckError::TooManyBlocks { max } => ChainError::Pem(format!("more than {max} PEM blocks")),
        other => ChainError::Pem(other.to_string()),
    })?;
    Ok(certs.into_iter().map(|c| c.as_ref().to_vec()).collect())
}

/// Verifies `chain` (DER, leaf first) against `anchor` at `now_secs` and returns the leaf key.
///
/// In order: at least two certificates; the last one's SHA-256 equals the anchor's (constant
/// time); every certificate parses, is signed with ECDSA-SHA384 and holds a P-384 key; each
/// certificate's issuer name equals the next one's subject and its signature verifies with the
/// next one's key; all are valid at `now_secs`; no unhandled critical extension; extended key
/// usages (if any) allow server authentication; every issuer is a CA, with keyCertSign when it
/// has a key usage and room in its path length constraint.
pub fn verify_chain(
    chain: &[Vec<u8>],
    anchor: &NvidiaAnchor,
    now_secs: u64,
    cache: &mut SignatureCache,
) -> Result<VerifyingKey, ChainError> {
    if chain.len() < MIN_CHAIN_CERTS {
        return Err(ChainError::TooShort(chain.len()));
    }
    let hashes: Vec<[u8; 32]> = chain.iter().map(|der| Sha256::digest(der).into()).collect();
    let root_hash = hashes[hashes.len() - 1];
    if !bool::from(root_hash.ct_eq(&anchor.sha256())) {
        return Err(ChainError::UntrustedRoot { found: hex::encode(root_hash) });
    }
    let at = |index: usize| move |problem| ChainError::Certificate { index, problem };
    let certs = chain
        .iter()
        .enumerate()
        .map(|(i, der)| EcdsaCert::<P384Sha384>::parse(der).map_err(at(i)))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, pair) in certs.windows(2).enumerate() {
        let key = (hashes[i], hashes[i + 1]);
        if cache.verified.contains(&key) {
            continue;
        }
        pair[0].check_issued_by(&pair[1]).map_err(at(i))?;
        cache.verified.insert(key);
    }
    for (i, cert) in certs.iter().enumerate() {
        cert.check_validity(now_secs).map_err(at(i))?;
        // Every issuer is a CA with `i - 1` CA certificates below it.
        cert.check_extensions(i.checked_sub(1)).map_err(at(i))?;
    }
    Ok(certs[0].key)
}
