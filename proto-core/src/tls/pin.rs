//! The SPKI-pin certificate verifier.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};

use super::SpkiHash;

/// The peer presented a key other than the pinned one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("TLS peer key does not match the pinned SPKI: expected {expected}, got {got}")]
pub struct PinMismatch {
    /// The pin the channel was opened with.
    pub expected: SpkiHash,
    /// The SPKI hash of the leaf the peer presented.
    pub got: SpkiHash,
}

impl PinMismatch {
    pub(super) fn from_rustls(err: &Error) -> Option<Self> {
        match err {
            Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                inner.downcast_ref::<PinMismatch>().copied()
            }
            _ => None,
        }
    }
}

/// Accepts exactly the leaf whose SPKI hashes to the pin, and checks handshake signatures
/// with that leaf's key. Names, chains and dates are not consulted: the pin is the identity.
#[derive(Debug)]
pub(super) struct SpkiPinVerifier {
    pin: SpkiHash,
    algorithms: WebPkiSupportedAlgorithms,
}

impl SpkiPinVerifier {
    pub(super) fn new(pin: SpkiHash, provider: &CryptoProvider) -> Self {
        Self { pin, algorithms: provider.signature_verification_algorithms }
    }
}

impl ServerCertVerifier for SpkiPinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let got = super::spki_sha256(end_entity)?;
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            let mismatch = PinMismatch { expected: self.pin, got };
            Err(Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(mismatch)))))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
