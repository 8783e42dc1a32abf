//! The public keys Sigstore verification trusts, embedded as data.
//!
//! Both come from Sigstore's public trusted root (`targets/trusted_root.json` in
//! sigstore/root-signing):
//! * the `rekor.sigstore.dev` transparency log key (ECDSA P-256), which signs every Signed Entry
//!   Timestamp and every checkpoint of the v1 log; its SHA-256 over the DER
//!   SubjectPublicKeyInfo is the log ID the log stamps on its entries;
//! * the current Fulcio certificate authority (`sigstore` root and `sigstore-intermediate`, both
//!   ECDSA P-384, valid 2021/2022 to 2031), which issues the short-lived code-signing
//!   certificates found in Rekor entries. The first Fulcio root (valid until the end of 2022) is
//!   not embedded: entries certified by it are older than any image a provider runs today.

use base64::Engine as _;
use p256::ecdsa::VerifyingKey;
use sha2::{Digest, Sha256};

/// The Rekor log key, PEM, exactly as Sigstore publishes it.
pub const REKOR_PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwr
kBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==
-----END PUBLIC KEY-----
";

/// The Rekor log ID: SHA-256 of the key's DER SubjectPublicKeyInfo, as the log writes it (hex).
pub const REKOR_LOG_ID_HEX: &str = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";

/// Origin prefix of the log's checkpoints (`rekor.sigstore.dev - <tree id>`).
pub const REKOR_CHECKPOINT_ORIGIN: &str = "rekor.sigstore.dev";

/// The Fulcio root certificate (`O=sigstore.dev, CN=sigstore`), PEM.
pub const FULCIO_ROOT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIB9zCCAXygAwIBAgIUALZNAPFdxHPwjeDloDwyYChAO/4wCgYIKoZIzj0EAwMw
KjEVMBMGA1UEChMMc2lnc3RvcmUuZGV2MREwDwYDVQQDEwhzaWdzdG9yZTAeFw0y
MTEwMDcxMzU2NTlaFw0zMTEwMDUxMzU2NThaMCoxFTATBgNVBAoTDHNpZ3N0b3Jl
LmRldjERMA8GA1UEAxMIc2lnc3RvcmUwdjAQBgcqhkjOPQIBBgUrgQQAIgNiAAT7
XeFT4rb3PQGwS4IajtLk3/OlnpgangaBclYpsYBr5i+4ynB07ceb3LP0OIOZdxex
X69c5iVuyJRQ+Hz05yi+UF3uBWAlHpiS5sh0+H2GHE7SXrk1EC5m1Tr19L9gg92j
YzBhMA4GA1UdDwEB/wQEAwIBBjAPBgNVHRMBAf8EBTADAQH/MB0GA1UdDgQWBBRY
wB5fkUWlZql6zJChkyLQKsXF+jAfBgNVHSMEGDAWgBRYwB5fkUWlZql6zJChkyLQ
KsXF+jAKBggqhkjOPQQDAwNpADBmAjEAj1nHeXZp+13NWBNa+EDsDP8G1WWg1tCM
WP/WHPqpaVo0jhsweNFZgSs0eE7wYI4qAjEA2WB9ot98sIkoF3vZYdd3/VtWB5b9
TNMea7Ix/stJ5TfcLLeABLE4BNJOsQ4vnBHJ
-----END CERTIFICATE-----
";

/// The Fulcio intermediate certificate (`O=sigstore.dev, CN=sigstore-intermediate`), PEM.
pub const FULCIO_INTERMEDIATE_PEM: &str = "-----BEGIN CERTIFICATE-----
MIICGjCCAaGgAwIBAgIUALnViVfnU0brJasmRkHrn/UnfaQwCgYIKoZIzj0EAwMw
KjEVMBMGA1UEChMMc2lnc3RvcmUuZGV2MREwDwYDVQQDEwhzaWdzdG9yZTAeFw0y
MjA0MTMyMDA2MTVaFw0zMTEwMDUxMzU2NThaMDcxFTATBgNVBAoTDHNpZ3N0b3Jl
LmRldjEeMBwGA1UEAxMVc2lnc3RvcmUtaW50ZXJtZWRpYXRlMHYwEAYHKoZIzj0C
AQYFK4EEACIDYgAE8RVS/ysH+NOvuDZyPIZtilgUF9NlarYpAd9HP1vBBH1U5CV7
7LSS7s0ZiH4nE7Hv7ptS6LvvR/STk798LVgMzLlJ4HeIfF3tHSaexLcYpSASr1kS
0N/RgBJz/9jWCiXno3sweTAOBgNVHQ8BAf8EBAMCAQYwEwYDVR0lBAwwCgYIKwYB
BQUHAwMwEgYDVR0TAQH/BAgwBgEB/wIBADAdBgNVHQ4EFgQU39Ppz1YkEZb5qNjp
KFWixi4YZD8wHwYDVR0jBBgwFoAUWMAeX5FFpWapesyQoZMi0CrFxfowCgYIKoZI
zj0EAwMDZwAwZAIwPCsQK4DYiZYDPIaDi5HFKnfxXx6ASSVmERfsynYBiX2X6SJR
nZU84/9DZdnFvvxmAjBOt6QpBlc4J/0DxvkTCqpclvziL6BCCPnjdlIB3Pu3BxsP
mygUY7Ii2zbdCdliiow=
-----END CERTIFICATE-----
";

/// A transparency log's identity: its verifying key and log ID (SHA-256 of the key's DER
/// SubjectPublicKeyInfo). Tests build their own to sign synthetic entries.
#[derive(Clone, Debug)]
pub struct LogKey {
    /// The ECDSA P-256 key that signs SETs and checkpoints.
    pub key: VerifyingKey,
    /// SHA-256 of the DER SubjectPublicKeyInfo.
    pub log_id: [u8; 32],
    /// Checkpoint origin prefix and signer name.
    pub origin: String,
    /// The Fulcio CA certificates that certificate-signed entries of this log must chain to
    /// (the embedded Sigstore ones unless a simulation replaced them).
    pub fulcio: FulcioRoots,
}

/// The Fulcio certificate authority a code-signing certificate must chain to: one root and its
/// intermediates, DER.
///
/// Production code can only obtain [`FulcioRoots::sigstore`] (the embedded public-good
/// instance); `FulcioRoots::for_tests` exists only in unit tests and with the `sim` feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FulcioRoots {
    root_der: Vec<u8>,
    intermediates_der: Vec<Vec<u8>>,
}

impl FulcioRoots {
    /// The embedded Sigstore Fulcio root and intermediate. A broken constant gives empty roots,
    /// which no certificate chains to.
    pub fn sigstore() -> FulcioRoots {
        FulcioRoots {
            root_der: pem_body(FULCIO_ROOT_PEM, "CERTIFICATE").unwrap_or_default(),
            intermediates_der: pem_body(FULCIO_INTERMEDIATE_PEM, "CERTIFICATE").into_iter().collect(),
        }
    }

    /// A test CA (root and intermediates, DER), for simulations. Not available to production
    /// builds.
    #[cfg(any(test, feature = "sim"))]
    pub fn for_tests(root_der: Vec<u8>, intermediates_der: Vec<Vec<u8>>) -> FulcioRoots {
        FulcioRoots { root_der, intermediates_der }
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The intermediate certificates, DER.
    pub fn intermediates_der(&self) -> &[Vec<u8>] {
        &self.intermediates_der
    }

    /// True if these are the embedded Sigstore certificates.
    pub fn is_sigstore(&self) -> bool {
        *self == FulcioRoots::sigstore()
    }
}

impl LogKey {
    /// The pinned `rekor.sigstore.dev` key. Never fails: the embedded constant is checked by
    /// tests, and a broken constant would yield `None` (no entry ever verifies).
    pub fn rekor() -> Option<LogKey> {
        let der = pem_body(REKOR_PUBLIC_KEY_PEM, "PUBLIC KEY")?;
        LogKey::from_spki_der(&der, REKOR_CHECKPOINT_ORIGIN)
    }

    /// A P-256 key from its DER SubjectPublicKeyInfo (uncompressed or compressed point).
    pub fn from_spki_der(der: &[u8], origin: &str) -> Option<LogKey> {
        let key = p256_from_spki(der)?;
        Some(LogKey {
            key,
            log_id: Sha256::digest(der).into(),
            origin: origin.to_owned(),
            fulcio: FulcioRoots::sigstore(),
        })
    }

    /// The same log, with certificate entries checked against `fulcio` instead.
    pub fn with_fulcio(mut self, fulcio: FulcioRoots) -> LogKey {
        self.fulcio = fulcio;
        self
    }
}

/// The P-256 verifying key inside a DER SubjectPublicKeyInfo, if it is one.
pub fn p256_from_spki(der: &[u8]) -> Option<VerifyingKey> {
    use x509_cert::der::Decode as _;
    use x509_cert::der::asn1::ObjectIdentifier;
    const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(der).ok()?;
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(PRIME256V1) {
        return None;
    }
    VerifyingKey::from_sec1_bytes(spki.subject_public_key.as_bytes()?).ok()
}

/// Largest PEM text decoded (a certificate or key is a few KiB).
const MAX_PEM: usize = 64 * 1024;

/// The DER bytes of the first PEM block labelled `label` in `text` (lenient about leading
/// text, line lengths and whitespace inside the base64). `None` when absent or malformed.
pub fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    let (found, der) = first_pem(text)?;
    (found == label).then_some(der)
}

/// The label and DER bytes of the first PEM block in `text`.
pub fn first_pem(text: &str) -> Option<(String, Vec<u8>)> {
    if text.len() > MAX_PEM {
        return None;
    }
    let begin = text.find("-----BEGIN ")?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let label_end = rest.find("-----")?;
    let label = &rest[..label_end];
    if label.contains('\n') {
        return None;
    }
    let body = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body.find(&end_marker)?;
    let b64: String = body[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some((label.to_owned(), der))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256_hex(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn rekor_key_hash_is_the_log_id() {
        let key = LogKey::rekor().expect("embedded key parses");
        assert_eq!(hex::encode(key.log_id), REKOR_LOG_ID_HEX);
        let der = pem_body(REKOR_PUBLIC_KEY_PEM, "PUBLIC KEY").unwrap();
        assert_eq!(der.len(), 91);
    }

    #[test]
    fn fulcio_certificates_are_the_published_ones() {
        let root = pem_body(FULCIO_ROOT_PEM, "CERTIFICATE").unwrap();
        let intermediate = pem_body(FULCIO_INTERMEDIATE_PEM, "CERTIFICATE").unwrap();
        assert_eq!(sha256_hex(&root), "3ba7b6cc4e95469d4d334b49cb257ad8537076fa84b0ca87ff4ecfe6a54680c1");
        assert_eq!(sha256_hex(&intermediate), "15d795348226b4649f750f5802592c393bee7cc53c3b86982175b7ad087efe47");
    }

    #[test]
    fn pem_reader_is_strict_about_labels_and_base64() {
        assert!(pem_body(REKOR_PUBLIC_KEY_PEM, "CERTIFICATE").is_none());
        assert!(first_pem("no pem here").is_none());
        assert!(first_pem("-----BEGIN X-----\n!!!!\n-----END X-----").is_none());
        assert!(first_pem("-----BEGIN X-----\nAAAA\n-----END Y-----").is_none());
        let (label, der) = first_pem("junk\n-----BEGIN X-----\nAA\nAA\n-----END X-----\n").unwrap();
        assert_eq!((label.as_str(), der), ("X", vec![0, 0, 0]));
        assert!(p256_from_spki(&[0x30, 0x00]).is_none());
    }
}
