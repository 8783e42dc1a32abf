//! A GPU's certificate chain (spec §8.2): leaf first, pinned NVIDIA root last, every
//! certificate ECDSA P-384 / SHA-384.
//!
//! [`verify_chain`] checks the chain in strict order (each certificate issued and signed by the
//! next), the root by SHA-256 against the [`NvidiaAnchor`], validity at the injected time, CA
//! constraints on every issuer, and Go's extension rules (no unknown critical extension,
//! extended key usage compatible with server authentication). It returns the leaf's P-384 key.

use std::collections::BTreeSet;

use p384::ecdsa::signature::Verifier as _;
use p384::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{AnyRef, Decode, Reader, SliceReader};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use super::root::NvidiaAnchor;
use crate::attestation::tdx::{PckError, split_pem_chain};

const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const EKU_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const EKU_ANY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const EXT_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const EXT_EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// Extensions Go's X.509 parser understands; any other extension marked critical makes Go's
/// `Verify` reject the certificate, and so does this check.
const HANDLED_EXTENSIONS: [ObjectIdentifier; 10] = [
    ObjectIdentifier::new_unwrap("2.5.29.14"), // subject key identifier
    EXT_KEY_USAGE,
    ObjectIdentifier::new_unwrap("2.5.29.17"), // subject alternative name
    EXT_BASIC_CONSTRAINTS,
    ObjectIdentifier::new_unwrap("2.5.29.30"), // name constraints
    ObjectIdentifier::new_unwrap("2.5.29.31"), // CRL distribution points
    ObjectIdentifier::new_unwrap("2.5.29.32"), // certificate policies
    ObjectIdentifier::new_unwrap("2.5.29.35"), // authority key identifier
    EXT_EXTENDED_KEY_USAGE,
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1"), // authority information access
];

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

/// What is wrong with one certificate of the chain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertProblem {
    /// Not valid X.509 DER.
    #[error("malformed: {0}")]
    Malformed(String),
    /// Not signed with ECDSA-with-SHA384.
    #[error("signature algorithm is not ECDSA with SHA-384")]
    SignatureAlgorithm,
    /// Its public key is not an EC key on P-384.
    #[error("public key is not ECDSA P-384")]
    PublicKey,
    /// Its issuer name differs from the next certificate's subject.
    #[error("issuer name does not match the next certificate's subject")]
    IssuerMismatch,
    /// Its signature does not verify with the next certificate's key.
    #[error("signature does not verify with the issuer's key")]
    BadSignature,
    /// `now` is before NotBefore.
    #[error("not valid before {not_before} (now {now})")]
    NotYetValid {
        /// NotBefore, Unix seconds.
        not_before: u64,
        /// The verification time.
        now: u64,
    },
    /// `now` is after NotAfter.
    #[error("expired at {not_after} (now {now})")]
    Expired {
        /// NotAfter, Unix seconds.
        not_after: u64,
        /// The verification time.
        now: u64,
    },
    /// A critical extension Go's verifier does not handle.
    #[error("unhandled critical extension {0}")]
    UnhandledCriticalExtension(String),
    /// An extended key usage without server authentication or any-usage.
    #[error("extended key usage does not allow server authentication")]
    ExtendedKeyUsage,
    /// An issuer without basicConstraints `cA`.
    #[error("issuer is not a CA (basicConstraints)")]
    NotCa,
    /// An issuer whose key usage lacks keyCertSign.
    #[error("issuer key usage lacks keyCertSign")]
    KeyUsage,
    /// An issuer whose path length constraint is exceeded.
    #[error("path length constraint exceeded")]
    PathLength,
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
    let certs = chain.iter().enumerate().map(|(i, der)| ChainCert::parse(der, i)).collect::<Result<Vec<_>, _>>()?;
    for (i, pair) in certs.windows(2).enumerate() {
        let key = (hashes[i], hashes[i + 1]);
        if cache.verified.contains(&key) {
            continue;
        }
        pair[0].check_issued_by(&pair[1])?;
        cache.verified.insert(key);
    }
    for cert in &certs {
        cert.check_validity(now_secs)?;
        cert.check_extensions()?;
    }
    for (i, cert) in certs.iter().enumerate().skip(1) {
        cert.check_ca(i - 1)?;
    }
    Ok(certs[0].key)
}

/// One parsed certificate of the chain.
struct ChainCert<'a> {
    index: usize,
    cert: Certificate,
    /// The exact DER of the TBSCertificate (what the signature covers).
    tbs: &'a [u8],
    key: VerifyingKey,
}

/// The raw bytes of the first element inside the outer SEQUENCE (a certificate's TBS part).
fn raw_tbs(der: &[u8]) -> Option<&[u8]> {
    let outer = AnyRef::from_der(der).ok()?;
    let mut reader = SliceReader::new(outer.value()).ok()?;
    AnyRef::decode(&mut reader).ok()?;
    let len = usize::try_from(reader.position()).ok()?;
    outer.value().get(..len)
}

impl<'a> ChainCert<'a> {
    /// Parses the certificate and checks its algorithm profile: ECDSA-SHA384 and a P-384 key.
    fn parse(der: &'a [u8], index: usize) -> Result<ChainCert<'a>, ChainError> {
        let err = |problem| ChainError::Certificate { index, problem };
        let cert = Certificate::from_der(der).map_err(|e| err(CertProblem::Malformed(e.to_string())))?;
        let tbs = raw_tbs(der).ok_or_else(|| err(CertProblem::Malformed("no TBSCertificate".to_owned())))?;
        let inner = cert.tbs_certificate();
        if cert.signature_algorithm().oid != ECDSA_WITH_SHA384 || inner.signature().oid != ECDSA_WITH_SHA384 {
            return Err(err(CertProblem::SignatureAlgorithm));
        }
        let spki = inner.subject_public_key_info();
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(SECP384R1) {
            return Err(err(CertProblem::PublicKey));
        }
        let point = spki.subject_public_key.as_bytes().ok_or_else(|| err(CertProblem::PublicKey))?;
        let key = VerifyingKey::from_sec1_bytes(point).map_err(|_| err(CertProblem::PublicKey))?;
        Ok(ChainCert { index, cert, tbs, key })
    }

    fn err(&self, problem: CertProblem) -> ChainError {
        ChainError::Certificate { index: self.index, problem }
    }

    /// Checks that `issuer` issued and signed this certificate.
    fn check_issued_by(&self, issuer: &ChainCert<'_>) -> Result<(), ChainError> {
        if self.cert.tbs_certificate().issuer() != issuer.cert.tbs_certificate().subject() {
            return Err(self.err(CertProblem::IssuerMismatch));
        }
        let signature = self
            .cert
            .signature()
            .as_bytes()
            .and_then(|der| Signature::from_der(der).ok())
            .ok_or_else(|| self.err(CertProblem::BadSignature))?;
        issuer.key.verify(self.tbs, &signature).map_err(|_| self.err(CertProblem::BadSignature))
    }

    /// NotBefore ≤ now ≤ NotAfter.
    fn check_validity(&self, now: u64) -> Result<(), ChainError> {
        let validity = self.cert.tbs_certificate().validity();
        let not_before = validity.not_before.to_unix_duration().as_secs();
        let not_after = validity.not_after.to_unix_duration().as_secs();
        if now < not_before {
            return Err(self.err(CertProblem::NotYetValid { not_before, now }));
        }
        if now > not_after {
            return Err(self.err(CertProblem::Expired { not_after, now }));
        }
        Ok(())
    }

    /// No unhandled critical extension; an extended key usage, if present, allows server
    /// authentication (Go's default `KeyUsages`).
    fn check_extensions(&self) -> Result<(), ChainError> {
        for ext in self.extensions() {
            if ext.critical && !HANDLED_EXTENSIONS.contains(&ext.extn_id) {
                return Err(self.err(CertProblem::UnhandledCriticalExtension(ext.extn_id.to_string())));
            }
            if ext.extn_id == EXT_EXTENDED_KEY_USAGE {
                let eku = ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
                    .map_err(|_| self.err(CertProblem::Malformed("extended key usage extension".to_owned())))?;
                if !eku.0.iter().any(|oid| *oid == EKU_SERVER_AUTH || *oid == EKU_ANY) {
                    return Err(self.err(CertProblem::ExtendedKeyUsage));
                }
            }
        }
        Ok(())
    }

    /// For an issuer with `cas_below` CA certificates beneath it in the chain: basicConstraints
    /// `cA`, room in the path length constraint, and keyCertSign when a key usage is present.
    fn check_ca(&self, cas_below: usize) -> Result<(), ChainError> {
        let malformed = |what: &str| self.err(CertProblem::Malformed(format!("{what} extension")));
        let mut basic = None;
        for ext in self.extensions() {
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == EXT_BASIC_CONSTRAINTS {
                basic = Some(BasicConstraints::from_der(value).map_err(|_| malformed("basic constraints"))?);
            } else if ext.extn_id == EXT_KEY_USAGE {
                let usage = KeyUsage::from_der(value).map_err(|_| malformed("key usage"))?;
                if !usage.key_cert_sign() {
                    return Err(self.err(CertProblem::KeyUsage));
                }
            }
        }
        let basic = basic.filter(|b| b.ca).ok_or_else(|| self.err(CertProblem::NotCa))?;
        if basic.path_len_constraint.is_some_and(|max| usize::from(max) < cas_below) {
            return Err(self.err(CertProblem::PathLength));
        }
        Ok(())
    }

    fn extensions(&self) -> &[x509_cert::ext::Extension] {
        self.cert.tbs_certificate().extensions().map(|e| e.as_slice()).unwrap_or_default()
    }
}
