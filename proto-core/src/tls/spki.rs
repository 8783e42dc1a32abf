//! SubjectPublicKeyInfo hashes: the identity an attestation binds a TLS channel to.

use std::fmt;

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of a certificate's DER SubjectPublicKeyInfo (outer SEQUENCE included).
///
/// Equality is constant-time.
#[derive(Clone, Copy)]
pub struct SpkiHash(pub [u8; 32]);

impl SpkiHash {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, the form providers publish fingerprints in.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let text = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(text, 16).ok()?;
        }
        Some(SpkiHash(out))
    }
}

impl PartialEq for SpkiHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SpkiHash {}

impl fmt::Debug for SpkiHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpkiHash({})", self.to_hex())
    }
}

impl fmt::Display for SpkiHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Hashes the SubjectPublicKeyInfo of a DER certificate. Fails if the certificate does not parse.
pub fn spki_sha256(cert: &CertificateDer<'_>) -> Result<SpkiHash, rustls::Error> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    let spki = parsed.subject_public_key_info();
    Ok(SpkiHash(Sha256::digest(spki.as_ref()).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects_bad_input() {
        let h = SpkiHash([0xab; 32]);
        assert_eq!(SpkiHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(SpkiHash::from_hex(&h.to_hex().to_uppercase()), Some(h));
        assert_eq!(SpkiHash::from_hex("abcd"), None);
        assert_eq!(SpkiHash::from_hex(&"zz".repeat(32)), None);
        assert_eq!(SpkiHash::from_hex(&"é".repeat(32)), None);
    }

    #[test]
    fn spki_of_generated_cert_matches_rcgen_key() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let expected: [u8; 32] = Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(&key)).into();
        assert_eq!(spki_sha256(cert.der()).unwrap(), SpkiHash(expected));
        assert!(spki_sha256(&CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])).is_err());
    }
}
