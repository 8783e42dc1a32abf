//! Deterministic key material: every key of a simulated world is derived from its seed and a
//! label, and signs deterministically (RFC 6979), so a world is the same on every run.

use p256::ecdsa::signature::Signer as _;
use sha2::{Digest, Sha256};

/// 32 bytes derived from `seed` and `label` (SHA-256 with a domain prefix and a counter).
pub(crate) fn derive(seed: &[u8; 32], label: &str, counter: u32) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"teep-sim\0");
    h.update(seed);
    h.update(label.as_bytes());
    h.update(counter.to_be_bytes());
    h.finalize().into()
}

/// 48 bytes derived from `seed` and `label` (for P-384 scalars and measurement values).
pub(crate) fn derive48(seed: &[u8; 32], label: &str, counter: u32) -> [u8; 48] {
    let a = derive(seed, label, counter.wrapping_mul(2));
    let b = derive(seed, label, counter.wrapping_mul(2).wrapping_add(1));
    let mut out = [0u8; 48];
    out[..32].copy_from_slice(&a);
    out[32..].copy_from_slice(&b[..16]);
    out
}

/// An ECDSA key usable both directly and as an rcgen signer (certificates and CRLs).
pub(crate) enum SimKey {
    /// P-256 with SHA-256.
    P256(p256::ecdsa::SigningKey, Vec<u8>),
    /// P-384 with SHA-384.
    P384(p384::ecdsa::SigningKey, Vec<u8>),
}

impl SimKey {
    /// The P-256 key of `label`.
    pub(crate) fn p256(seed: &[u8; 32], label: &str) -> SimKey {
        let key = (0..)
            .find_map(|n| p256::ecdsa::SigningKey::from_slice(&derive(seed, label, n)).ok())
            .unwrap_or_else(unreachable_key);
        let public = key.verifying_key().to_sec1_point(false).as_bytes().to_vec();
        SimKey::P256(key, public)
    }

    /// The P-384 key of `label`.
    pub(crate) fn p384(seed: &[u8; 32], label: &str) -> SimKey {
        let key = (0..)
            .find_map(|n| p384::ecdsa::SigningKey::from_slice(&derive48(seed, label, n)).ok())
            .unwrap_or_else(unreachable_key);
        let public = key.verifying_key().to_sec1_point(false).as_bytes().to_vec();
        SimKey::P384(key, public)
    }

    /// The uncompressed SEC1 public point.
    pub(crate) fn public_sec1(&self) -> &[u8] {
        match self {
            SimKey::P256(_, p) | SimKey::P384(_, p) => p,
        }
    }

    /// A raw `r ‖ s` signature of `msg`.
    pub(crate) fn sign_raw(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            SimKey::P256(k, _) => {
                let s: p256::ecdsa::Signature = k.sign(msg);
                s.to_bytes().to_vec()
            }
            SimKey::P384(k, _) => {
                let s: p384::ecdsa::Signature = k.sign(msg);
                s.to_bytes().to_vec()
            }
        }
    }

    /// A DER signature of `msg`.
    pub(crate) fn sign_der(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            SimKey::P256(k, _) => {
                let s: p256::ecdsa::DerSignature = k.sign(msg);
                s.as_bytes().to_vec()
            }
            SimKey::P384(k, _) => {
                let s: p384::ecdsa::DerSignature = k.sign(msg);
                s.as_bytes().to_vec()
            }
        }
    }
}

/// A derived scalar out of range for every counter value: probability zero in practice.
fn unreachable_key<T>() -> T {
    panic!("no valid scalar derived for a simulated key")
}

impl rcgen::PublicKeyData for SimKey {
    fn der_bytes(&self) -> &[u8] {
        self.public_sec1()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            SimKey::P256(..) => &rcgen::PKCS_ECDSA_P256_SHA256,
            SimKey::P384(..) => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }
}

impl rcgen::SigningKey for SimKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.sign_der(msg))
    }
}

/// A fixed UTC instant for rcgen validity fields.
pub(crate) fn at(secs: u64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A DER tag-length-value.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A DER SEQUENCE of already-encoded items.
pub(crate) fn seq(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &items.concat())
}

/// A DER OBJECT IDENTIFIER from dotted text (valid constants only).
pub(crate) fn oid(dotted: &str) -> Vec<u8> {
    let id = x509_cert::der::asn1::ObjectIdentifier::new(dotted).unwrap_or_else(|_| panic!("simulation OID {dotted}"));
    tlv(0x06, id.as_bytes())
}

/// A DER INTEGER holding a non-negative value.
pub(crate) fn uint(value: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = value.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
    if bytes.first().is_none_or(|&b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    tlv(0x02, &bytes)
}

/// A DER UTF8String.
pub(crate) fn utf8(text: &str) -> Vec<u8> {
    tlv(0x0c, text.as_bytes())
}

/// Percent-encodes everything but unreserved characters (Intel PCS header encoding).
pub(crate) fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A DER OCTET STRING.
pub(crate) fn octets_of(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}
