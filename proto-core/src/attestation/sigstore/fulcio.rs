//! Who signed a Rekor entry: a raw public key, a non-Fulcio certificate, or a Fulcio code-signing
//! certificate with its build-provenance fields (`attestation-core.md` §10.2, §10.4), plus the
//! Fulcio chain check and the DSSE signature check.

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::Decode as _;
use x509_cert::der::Encode as _;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::trust;
#[cfg(test)]
use super::trust::FULCIO_ROOT_PEM;

/// Fulcio's build-provenance extension arc, 1.3.6.1.4.1.57264.1.
const FULCIO_ARC: &str = "1.3.6.1.4.1.57264.1.";

/// Build provenance read from a Fulcio certificate. Empty strings mean "extension absent".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FulcioFields {
    /// First URI subject alternative name (the workflow identity).
    pub subject_uri: String,
    /// `.1` OIDC issuer (or `.8`, its DER-encoded successor, when `.1` is absent).
    pub oidc_issuer: String,
    /// `.2` workflow trigger.
    pub trigger: String,
    /// `.3` source commit.
    pub source_commit: String,
    /// `.5` source repository (`owner/name`).
    pub source_repo: String,
    /// `.6` source ref.
    pub source_ref: String,
    /// `.11` runner environment.
    pub runner_env: String,
    /// `.12` source repository URL.
    pub source_repo_url: String,
    /// `.21` run URL.
    pub run_url: String,
}

/// The signer of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signer {
    /// A raw public key; `fingerprint` is hex SHA-256 of its DER SubjectPublicKeyInfo.
    RawKey {
        /// Key fingerprint.
        fingerprint: String,
    },
    /// A certificate without a Fulcio OIDC issuer.
    NonFulcioCert {
        /// Fingerprint of the certificate's key.
        fingerprint: String,
    },
    /// A Fulcio certificate.
    Fulcio {
        /// Fingerprint of the certificate's key.
        fingerprint: String,
        /// Its provenance fields.
        fields: Box<FulcioFields>,
        /// The certificate, DER.
        der: Vec<u8>,
    },
}

impl Signer {
    /// The key fingerprint (hex SHA-256 of the DER SubjectPublicKeyInfo).
    pub fn fingerprint(&self) -> &str {
        match self {
            Signer::RawKey { fingerprint } | Signer::NonFulcioCert { fingerprint } => fingerprint,
            Signer::Fulcio { fingerprint, .. } => fingerprint,
        }
    }
}

/// Why the signer cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    /// The body is not JSON or has no `spec.signatures[0].verifier` string.
    #[error("extract verifier: {0}")]
    Verifier(&'static str),
    /// The verifier holds no PEM block.
    #[error("invalid PEM in verifier")]
    Pem,
    /// The PEM block is neither a public key nor a certificate.
    #[error("unexpected PEM type {0:?}")]
    PemType(String),
    /// The certificate does not parse.
    #[error("parse certificate: {0}")]
    Certificate(String),
}

/// Reads the signer of a decoded entry body: `spec.signatures[0].verifier`, base64 of a PEM (or
/// the PEM itself).
pub fn signer_of(body: &[u8]) -> Result<Signer, SignerError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| SignerError::Verifier("body is not JSON"))?;
    let verifier = v
        .pointer("/spec/signatures/0/verifier")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(SignerError::Verifier("no spec.signatures[0].verifier"))?;
    let pem = match base64::engine::general_purpose::STANDARD.decode(verifier) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| SignerError::Pem)?,
        Err(_) => verifier.to_owned(),
    };
    let (label, der) = trust::first_pem(&pem).ok_or(SignerError::Pem)?;
    match label.as_str() {
        "PUBLIC KEY" => Ok(Signer::RawKey { fingerprint: hex::encode(Sha256::digest(&der)) }),
        "CERTIFICATE" => certificate_signer(der),
        _ => Err(SignerError::PemType(label)),
    }
}

fn certificate_signer(der: Vec<u8>) -> Result<Signer, SignerError> {
    let cert = Certificate::from_der(&der).map_err(|e| SignerError::Certificate(e.to_string()))?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| SignerError::Certificate(e.to_string()))?;
    let fingerprint = hex::encode(Sha256::digest(&spki));
    let fields = fields_of(&cert);
    if fields.oidc_issuer.is_empty() {
        Ok(Signer::NonFulcioCert { fingerprint })
    } else {
        Ok(Signer::Fulcio { fingerprint, fields: Box::new(fields), der })
    }
}

/// The Fulcio provenance fields of a certificate.
pub fn fields_of(cert: &Certificate) -> FulcioFields {
    let mut f = FulcioFields::default();
    let mut issuer_v2 = String::new();
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        let oid = ext.extn_id.to_string();
        let value = ext.extn_value.as_bytes();
        if oid == "2.5.29.17" {
            let uri = SubjectAltName::from_der(value).ok().and_then(|san| {
                san.0.iter().find_map(|n| match n {
                    GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
                    _ => None,
                })
            });
            if let Some(uri) = uri {
                f.subject_uri = uri;
            }
            continue;
        }
        let Some(arc) = oid.strip_prefix(FULCIO_ARC) else { continue };
        let slot = match arc {
            "1" => &mut f.oidc_issuer,
            "2" => &mut f.trigger,
            "3" => &mut f.source_commit,
            "5" => &mut f.source_repo,
            "6" => &mut f.source_ref,
            "8" => &mut issuer_v2,
            "11" => &mut f.runner_env,
            "12" => &mut f.source_repo_url,
            "21" => &mut f.run_url,
            _ => continue,
        };
        *slot = extension_text(value);
    }
    if f.oidc_issuer.is_empty() {
        f.oidc_issuer = issuer_v2;
    }
    f
}

/// An extension value as text: a DER string (UTF8String, PrintableString, IA5String,
/// NumericString, T61String, trailing bytes ignored), or else the raw bytes if they are UTF-8
/// (older Fulcio certificates), or else empty.
pub fn extension_text(raw: &[u8]) -> String {
    if let Some(s) = der_string(raw) {
        return s;
    }
    std::str::from_utf8(raw).map(str::to_owned).unwrap_or_default()
}

fn der_string(raw: &[u8]) -> Option<String> {
    let (&tag, rest) = raw.split_first()?;
    if !matches!(tag, 0x0c | 0x12 | 0x13 | 0x14 | 0x16) {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    let content = rest.get(..len)?;
    std::str::from_utf8(content).ok().map(str::to_owned)
}

/// Why a Fulcio certificate does not chain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Fulcio certificate chain: {0}")]
pub struct ChainError(pub String);

/// Code-signing extended key usage, 1.3.6.1.5.5.7.3.3 (DER content bytes).
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// Verifies that `leaf_der` was issued, for code signing, by the embedded Fulcio intermediate
/// under the embedded Fulcio root, and was valid at `at_secs` (the entry's integration time,
/// which the SET authenticates; Fulcio certificates live ten minutes).
pub fn verify_fulcio_chain(leaf_der: &[u8], at_secs: i64) -> Result<(), ChainError> {
    verify_fulcio_chain_under(leaf_der, at_secs, &trust::FulcioRoots::sigstore())
}

/// [`verify_fulcio_chain`] against the given Fulcio CA (the log's, see [`trust::LogKey`]).
pub fn verify_fulcio_chain_under(leaf_der: &[u8], at_secs: i64, roots: &trust::FulcioRoots) -> Result<(), ChainError> {
    use rustls_pki_types::{CertificateDer, UnixTime};
    let err = |what: &str| ChainError(what.to_owned());
    if roots.root_der().is_empty() {
        return Err(err("embedded root"));
    }
    let root = CertificateDer::from(roots.root_der());
    let anchor = webpki::anchor_from_trusted_cert(&root).map_err(|e| err(&format!("root: {e}")))?;
    let intermediates: Vec<CertificateDer<'_>> =
        roots.intermediates_der().iter().map(|d| CertificateDer::from(d.as_slice())).collect();
    let leaf = CertificateDer::from(leaf_der);
    let ee = webpki::EndEntityCert::try_from(&leaf).map_err(|e| err(&format!("leaf: {e}")))?;
    let at = u64::try_from(at_secs).map_err(|_| err("negative integration time"))?;
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(at));
    let algorithms = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
    ee.verify_for_usage(
        algorithms.all,
        &[anchor],
        &intermediates,
        time,
        webpki::KeyUsage::required(EKU_CODE_SIGNING),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| err(&format!("{e:?}")))
}

/// Verifies a DSSE envelope embedded in a `dsse` entry body with the certificate's P-256 key:
/// ECDSA-SHA256 over `DSSEv1 SP len(type) SP type SP len(payload) SP payload`. Real Rekor `dsse`
/// entries carry no envelope, so this fails on them (policies mark such images `no_dsse`).
pub fn verify_dsse(body: &[u8], cert_der: &[u8]) -> Result<(), String> {
    use p256::ecdsa::DerSignature;
    use p256::ecdsa::signature::Verifier as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let v: Value = serde_json::from_slice(body).map_err(|_| "entry body is not JSON".to_owned())?;
    if v.get("kind").and_then(Value::as_str) != Some("dsse") {
        return Err("entry is not of kind dsse".to_owned());
    }
    let env = v.pointer("/spec/content/envelope").ok_or("entry has no DSSE envelope")?;
    let text = |p: &str| env.pointer(p).and_then(Value::as_str).ok_or(format!("envelope has no {p}"));
    let payload = b64.decode(text("/payload")?).map_err(|_| "envelope payload is not base64".to_owned())?;
    let payload_type = text("/payloadType")?;
    let sig = b64.decode(text("/signatures/0/sig")?).map_err(|_| "envelope signature is not base64".to_owned())?;
    let mut pae = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    pae.extend_from_slice(&payload);
    let cert = Certificate::from_der(cert_der).map_err(|e| e.to_string())?;
    let spki = cert.tbs_certificate().subject_public_key_info().to_der().map_err(|e| e.to_string())?;
    let key = trust::p256_from_spki(&spki).ok_or("certificate key is not P-256")?;
    let sig = DerSignature::try_from(sig.as_slice()).map_err(|_| "envelope signature is not DER".to_owned())?;
    key.verify(&pae, &sig).map_err(|_| "ECDSA signature verification failed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_with(verifier: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"kind":"dsse","spec":{"signatures":[{"verifier":verifier}]}})).unwrap()
    }

    #[test]
    fn raw_key_signer_fingerprint_is_spki_hash() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let s = signer_of(&body_with(&b64.encode(trust::REKOR_PUBLIC_KEY_PEM))).unwrap();
        assert_eq!(s, Signer::RawKey { fingerprint: trust::REKOR_LOG_ID_HEX.to_owned() });
        // PEM given directly (not base64-wrapped) is accepted too.
        assert_eq!(signer_of(&body_with(trust::REKOR_PUBLIC_KEY_PEM)).unwrap(), s);
    }

    #[test]
    fn signer_errors() {
        let b64 = base64::engine::general_purpose::STANDARD;
        assert!(matches!(signer_of(b"nope"), Err(SignerError::Verifier(_))));
        assert!(matches!(signer_of(br#"{"spec":{}}"#), Err(SignerError::Verifier(_))));
        assert_eq!(signer_of(&body_with(&b64.encode("hello"))), Err(SignerError::Pem));
        let other = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(signer_of(&body_with(&b64.encode(other))), Err(SignerError::PemType(_))));
        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(signer_of(&body_with(&b64.encode(junk))), Err(SignerError::Certificate(_))));
    }

    #[test]
    fn non_fulcio_certificate_is_flagged_and_does_not_chain() {
        let b64 = base64::engine::general_purpose::STANDARD;
        // The Fulcio root itself has no OIDC issuer extension.
        let s = signer_of(&body_with(&b64.encode(FULCIO_ROOT_PEM))).unwrap();
        assert!(matches!(s, Signer::NonFulcioCert { .. }));
        let root = trust::pem_body(FULCIO_ROOT_PEM, "CERTIFICATE").unwrap();
        assert!(verify_fulcio_chain(&root, 1_750_000_000).is_err());
        assert!(verify_fulcio_chain(b"junk", 1_750_000_000).is_err());
    }

    #[test]
    fn extension_values_decode_like_the_reference() {
        assert_eq!(extension_text(b"\x0c\x05hello"), "hello");
        assert_eq!(extension_text(b"\x0c\x05hello-trailing"), "hello");
        assert_eq!(extension_text(b"\x16\x03abc"), "abc");
        assert_eq!(extension_text(b"https://raw"), "https://raw");
        assert_eq!(extension_text(b"\x0c\x81\x03abc"), "abc");
        assert_eq!(extension_text(b"\x0c\x09abc"), "\u{c}\tabc", "short string falls back to raw UTF-8");
        assert_eq!(extension_text(&[0xff, 0xfe]), "");
    }

    #[test]
    fn dsse_check_fails_without_envelope() {
        let root = trust::pem_body(FULCIO_ROOT_PEM, "CERTIFICATE").unwrap();
        assert!(verify_dsse(&body_with("x"), &root).unwrap_err().contains("envelope"));
        assert!(verify_dsse(br#"{"kind":"intoto"}"#, &root).unwrap_err().contains("dsse"));
    }
}
