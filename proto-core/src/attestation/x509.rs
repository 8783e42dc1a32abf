//! The certificate steps both hardware chains take: Intel's PCK chain (ECDSA P-256 with
//! SHA-256) and NVIDIA's GPU chains (ECDSA P-384 with SHA-384). Each follows Go's
//! `x509.Verify` as the reference uses it: the issuer name and signature of every link, validity
//! at the injected time, no critical extension Go does not handle, an extended key usage (if
//! any) that allows server authentication, and CA constraints on every issuer. What is specific
//! to a chain (its length, its root, Intel's subject names and v3 rule) stays with the chain.

use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{AnyRef, Decode, Reader, SliceReader};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const EKU_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const EKU_ANY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const EXT_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const EXT_EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// Extensions Go's X.509 parser understands; any other extension marked critical makes Go's
/// `Verify` reject the certificate, and so does [`EcdsaCert::check_extensions`].
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

/// What is wrong with one certificate of a chain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertProblem {
    /// Not valid X.509 DER.
    #[error("does not parse: {0}")]
    Malformed(String),
    /// Not an X.509 version 3 certificate (required of the PCK chain).
    #[error("is not X.509 version 3")]
    NotV3,
    /// Signed with another algorithm than the chain's ECDSA profile.
    #[error("signature algorithm is not {0}")]
    SignatureAlgorithm(&'static str),
    /// The subject key is not a valid key on the chain's curve.
    #[error("public key is not a valid {0} key")]
    PublicKey(&'static str),
    /// The subject common name is not the one this position requires (PCK chain).
    #[error("subject CN is {found:?}, expected {expected:?}")]
    CommonName {
        /// The required name.
        expected: &'static str,
        /// The name found, if any.
        found: Option<String>,
    },
    /// The issuer name differs from the issuing certificate's subject.
    #[error("issuer does not match the issuing certificate's subject")]
    IssuerMismatch,
    /// The signature does not verify with the issuing certificate's key.
    #[error("signature does not verify with the issuer's key")]
    BadSignature,
    /// The verification time is before NotBefore.
    #[error("not valid before {not_before} (verification time {now})")]
    NotYetValid {
        /// NotBefore, seconds since the epoch.
        not_before: u64,
        /// The verification time.
        now: u64,
    },
    /// The verification time is after NotAfter.
    #[error("expired at {not_after} (verification time {now})")]
    Expired {
        /// NotAfter, seconds since the epoch.
        not_after: u64,
        /// The verification time.
        now: u64,
    },
    /// An issuer without basicConstraints `cA = TRUE`.
    #[error("is not marked as a CA")]
    NotCa,
    /// An issuer whose path length constraint forbids the CA certificates below it.
    #[error("path length constraint exceeded")]
    PathLength,
    /// An issuer whose key usage omits keyCertSign.
    #[error("key usage does not allow certificate signing")]
    KeyUsage,
    /// A critical extension Go's X.509 library does not handle.
    #[error("unhandled critical extension {0}")]
    UnhandledCriticalExtension(String),
    /// An extended key usage that excludes server authentication (the reference verifies with
    /// Go's default usage).
    #[error("extended key usage excludes server authentication")]
    ExtendedKeyUsage,
}

/// An ECDSA signature profile: the algorithm a chain's certificates are signed with and the
/// curve of their keys.
pub(crate) trait EcdsaProfile {
    /// A public key on the curve.
    type Key;
    /// The profile's name in messages.
    const NAME: &'static str;
    /// The curve's name in messages.
    const CURVE_NAME: &'static str;
    /// OID of ecdsa-with-SHA-n.
    const SIGNATURE_ALGORITHM: ObjectIdentifier;
    /// OID of the named curve.
    const CURVE: ObjectIdentifier;
    /// The key of a SEC1-encoded point, if valid.
    fn key(sec1: &[u8]) -> Option<Self::Key>;
    /// Whether `der_signature` over `message` verifies with `key`.
    fn verifies(key: &Self::Key, message: &[u8], der_signature: &[u8]) -> bool;
}

/// Intel's PCK chain profile.
pub(crate) struct P256Sha256;

impl EcdsaProfile for P256Sha256 {
    type Key = p256::ecdsa::VerifyingKey;
    const NAME: &'static str = "ecdsa-with-SHA256";
    const CURVE_NAME: &'static str = "ECDSA P-256";
    const SIGNATURE_ALGORITHM: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
    const CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

    fn key(sec1: &[u8]) -> Option<Self::Key> {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1).ok()
    }

    fn verifies(key: &Self::Key, message: &[u8], der_signature: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier as _;
        p256::ecdsa::Signature::from_der(der_signature).is_ok_and(|s| key.verify(message, &s).is_ok())
    }
}

/// NVIDIA's GPU chain profile.
pub(crate) struct P384Sha384;

impl EcdsaProfile for P384Sha384 {
    type Key = p384::ecdsa::VerifyingKey;
    const NAME: &'static str = "ecdsa-with-SHA384";
    const CURVE_NAME: &'static str = "ECDSA P-384";
    const SIGNATURE_ALGORITHM: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
    const CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

    fn key(sec1: &[u8]) -> Option<Self::Key> {
        p384::ecdsa::VerifyingKey::from_sec1_bytes(sec1).ok()
    }

    fn verifies(key: &Self::Key, message: &[u8], der_signature: &[u8]) -> bool {
        use p384::ecdsa::signature::Verifier as _;
        p384::ecdsa::Signature::from_der(der_signature).is_ok_and(|s| key.verify(message, &s).is_ok())
    }
}

/// One parsed certificate of a chain with profile `P`.
pub(crate) struct EcdsaCert<'a, P: EcdsaProfile> {
    /// The certificate.
    pub(crate) cert: Certificate,
    /// The exact DER of the TBSCertificate (what the signature covers).
    tbs: &'a [u8],
    /// Its subject key.
    pub(crate) key: P::Key,
}

impl<'a, P: EcdsaProfile> EcdsaCert<'a, P> {
    /// Parses `der` and checks the profile: the signature algorithm (outer and inner) and an
    /// EC key on the profile's curve.
    pub(crate) fn parse(der: &'a [u8]) -> Result<Self, CertProblem> {
        let cert = Certificate::from_der(der).map_err(|e| CertProblem::Malformed(e.to_string()))?;
        let tbs = raw_tbs(der).ok_or_else(|| CertProblem::Malformed("no TBSCertificate".to_owned()))?;
        let inner = cert.tbs_certificate();
        if cert.signature_algorithm().oid != P::SIGNATURE_ALGORITHM || inner.signature().oid != P::SIGNATURE_ALGORITHM {
            return Err(CertProblem::SignatureAlgorithm(P::NAME));
        }
        let spki = inner.subject_public_key_info();
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(P::CURVE) {
            return Err(CertProblem::PublicKey(P::CURVE_NAME));
        }
        let point = spki.subject_public_key.as_bytes().ok_or(CertProblem::PublicKey(P::CURVE_NAME))?;
        let key = P::key(point).ok_or(CertProblem::PublicKey(P::CURVE_NAME))?;
        Ok(EcdsaCert { cert, tbs, key })
    }

    /// `issuer` issued this certificate (names) and signed it (signature over the TBS).
    pub(crate) fn check_issued_by(&self, issuer: &EcdsaCert<'_, P>) -> Result<(), CertProblem> {
        if self.cert.tbs_certificate().issuer() != issuer.cert.tbs_certificate().subject() {
            return Err(CertProblem::IssuerMismatch);
        }
        let signature = self.cert.signature().as_bytes().ok_or(CertProblem::BadSignature)?;
        if !P::verifies(&issuer.key, self.tbs, signature) {
            return Err(CertProblem::BadSignature);
        }
        Ok(())
    }

    /// NotBefore ≤ now ≤ NotAfter.
    pub(crate) fn check_validity(&self, now: u64) -> Result<(), CertProblem> {
        let validity = self.cert.tbs_certificate().validity();
        let not_before = validity.not_before.to_unix_duration().as_secs();
        let not_after = validity.not_after.to_unix_duration().as_secs();
        if now < not_before {
            return Err(CertProblem::NotYetValid { not_before, now });
        }
        if now > not_after {
            return Err(CertProblem::Expired { not_after, now });
        }
        Ok(())
    }

    /// No unhandled critical extension; an extended key usage, if present, allows server
    /// authentication; and when `ca` is `Some(n)` (an issuer with `n` CA certificates below
    /// it in the chain): basicConstraints `cA`, room in the path length constraint, and
    /// keyCertSign when a key usage is present.
    pub(crate) fn check_extensions(&self, ca: Option<usize>) -> Result<(), CertProblem> {
        let extensions = self.cert.tbs_certificate().extensions().map(|e| e.as_slice()).unwrap_or_default();
        let malformed = |what: &str| CertProblem::Malformed(format!("{what} extension"));
        let mut basic = None;
        for ext in extensions {
            if ext.critical && !HANDLED_EXTENSIONS.contains(&ext.extn_id) {
                return Err(CertProblem::UnhandledCriticalExtension(ext.extn_id.to_string()));
            }
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == EXT_EXTENDED_KEY_USAGE {
                let eku = ExtendedKeyUsage::from_der(value).map_err(|_| malformed("extended key usage"))?;
                if !eku.0.iter().any(|oid| *oid == EKU_SERVER_AUTH || *oid == EKU_ANY) {
                    return Err(CertProblem::ExtendedKeyUsage);
                }
            } else if ext.extn_id == EXT_BASIC_CONSTRAINTS {
                basic = Some(BasicConstraints::from_der(value).map_err(|_| malformed("basic constraints"))?);
            } else if ext.extn_id == EXT_KEY_USAGE && ca.is_some() {
                let usage = KeyUsage::from_der(value).map_err(|_| malformed("key usage"))?;
                if !usage.key_cert_sign() {
                    return Err(CertProblem::KeyUsage);
                }
            }
        }
        if let Some(cas_below) = ca {
            let basic = basic.filter(|b| b.ca).ok_or(CertProblem::NotCa)?;
            if basic.path_len_constraint.is_some_and(|max| usize::from(max) < cas_below) {
                return Err(CertProblem::PathLength);
            }
        }
        Ok(())
    }
}

/// The raw bytes of the first element inside the outer SEQUENCE (a certificate's TBS part).
fn raw_tbs(der: &[u8]) -> Option<&[u8]> {
    let outer = AnyRef::from_der(der).ok()?;
    let mut reader = SliceReader::new(outer.value()).ok()?;
    AnyRef::decode(&mut reader).ok()?;
    let len = usize::try_from(reader.position()).ok()?;
    outer.value().get(..len)
}
