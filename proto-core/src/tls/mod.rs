//! TLS for client channels, on rustls's sans-IO [`rustls::ClientConnection`].
//!
//! This is the only module that touches rustls's connection API, so a move to a later rustls
//! changes this module alone. It offers:
//!
//! * [`ChannelTrust`]: how a channel decides to trust its peer — the web PKI (Mozilla's roots,
//!   compiled in, plus extra roots a test may add) or an SPKI pin (the leaf certificate's
//!   SubjectPublicKeyInfo SHA-256 must equal a 32-byte value bound elsewhere, for example in a
//!   hardware attestation);
//! * [`TlsSession`]: one client connection, fed ciphertext and drained of ciphertext by the
//!   caller, with wall-clock time injected so certificate validity is judged at the caller's `now`;
//! * [`SpkiHash`]: the SHA-256 of a leaf's SPKI, reported for every established connection so a
//!   later layer can bind it to attestation.
//!
//! Crypto: rustls's aws-lc-rs provider, which offers the X25519MLKEM768 hybrid post-quantum key
//! exchange first. TLS randoms and key shares come from that provider's own generator; every
//! decision proto-core makes with randomness uses the RNG handed to its machines.

mod pin;
mod spki;

use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

pub use pin::PinMismatch;
pub use spki::{SpkiHash, spki_sha256};

/// How a channel authenticates the server it talks to.
#[derive(Clone, Debug)]
pub enum ChannelTrust {
    /// Normal certificate verification: chain to Mozilla's roots (or to one of the extra
    /// roots), valid at the injected wall time, for the host name connected to.
    WebPki {
        /// DER certificates trusted in addition to the compiled-in roots (tests add their CA).
        extra_roots: Vec<CertificateDer<'static>>,
    },
    /// The leaf certificate's SPKI SHA-256 must equal this pin; name and chain are not
    /// consulted. The handshake signature is still verified with that key, so only the holder
    /// of the pinned key can complete the handshake.
    SpkiPin(SpkiHash),
}

impl ChannelTrust {
    /// Web PKI with Mozilla's roots only.
    pub fn web_pki() -> Self {
        ChannelTrust::WebPki { extra_roots: Vec::new() }
    }
}

/// A TLS failure, typed by who is at fault.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The host name cannot be used as a TLS server name.
    #[error("invalid TLS server name {0:?}")]
    InvalidServerName(String),
    /// An extra root certificate could not be parsed.
    #[error("invalid extra root certificate: {0}")]
    InvalidRoot(String),
    /// The peer's leaf key does not match the pinned SPKI hash.
    #[error(transparent)]
    PinMismatch(#[from] PinMismatch),
    /// The peer's certificate failed web PKI verification.
    #[error("server certificate rejected: {0}")]
    Certificate(rustls::Error),
    /// The peer sent an alert or violated the protocol, or the handshake failed otherwise.
    #[error("TLS failure: {0}")]
    Protocol(rustls::Error),
    /// The connection ended without a TLS close_notify: the data may have been truncated.
    #[error("connection closed without TLS close_notify")]
    UncleanClose,
}

impl TlsError {
    fn from_rustls(err: rustls::Error) -> Self {
        if let Some(mismatch) = PinMismatch::from_rustls(&err) {
            return TlsError::PinMismatch(mismatch);
        }
        match err {
            rustls::Error::InvalidCertificate(_) => TlsError::Certificate(err),
            other => TlsError::Protocol(other),
        }
    }
}

/// Wall time as rustls sees it: the last `now.wall` the owning machine was given.
#[derive(Debug, Default)]
struct InjectedClock(AtomicU64);

impl InjectedClock {
    fn set(&self, wall: UnixTime) {
        self.0.store(wall.as_secs(), Ordering::Relaxed);
    }
}

impl rustls::time_provider::TimeProvider for InjectedClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(self.0.load(Ordering::Relaxed))))
    }
}

/// A client TLS configuration for one channel: its trust rule, crypto provider and clock.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
    clock: Arc<InjectedClock>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Builds a configuration for `trust`, offering TLS 1.3 and 1.2.
    pub fn new(trust: &ChannelTrust) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let clock = Arc::new(InjectedClock::default());
        let builder = ClientConfig::builder_with_details(provider.clone(), clock.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsError::Protocol)?;
        let config = match trust {
            ChannelTrust::WebPki { extra_roots } => {
                let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
                for root in extra_roots {
                    roots
                        .add(root.clone())
                        .map_err(|e| TlsError::InvalidRoot(e.to_string()))?;
                }
                let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| TlsError::InvalidRoot(e.to_string()))?;
                builder.with_webpki_verifier(verifier).with_no_client_auth()
            }
            ChannelTrust::SpkiPin(pin) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(pin::SpkiPinVerifier::new(*pin, &provider)))
                .with_no_client_auth(),
        };
        Ok(Self { config: Arc::new(config), clock })
    }
}

/// What reading decrypted bytes found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// The connection is open.
    Open,
    /// The peer sent close_notify: every byte it sent has been delivered.
    ClosedCleanly,
}

/// The verified peer of a completed handshake, as a recording keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerDetails {
    /// DER SubjectPublicKeyInfo of the leaf certificate (its SHA-256 is the SPKI pin).
    pub spki_der: Vec<u8>,
    /// Negotiated protocol version (`TLSv1_3`, ...).
    pub version: String,
    /// Negotiated cipher suite (`TLS13_AES_256_GCM_SHA384`, ...).
    pub cipher: String,
}

/// One client TLS connection, driven by the caller's bytes.
pub struct TlsSession {
    conn: ClientConnection,
    clock: Arc<InjectedClock>,
    peer_state: PeerState,
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("handshaking", &self.conn.is_handshaking())
            .field("peer_state", &self.peer_state)
            .finish()
    }
}

impl TlsSession {
    /// Starts a handshake with `host` (a DNS name or an IP literal) at wall time `wall`.
    pub fn new(config: &TlsConfig, host: &str, wall: UnixTime) -> Result<Self, TlsError> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| TlsError::InvalidServerName(host.to_owned()))?;
        config.clock.set(wall);
        let mut conn = ClientConnection::new(config.config.clone(), name).map_err(TlsError::Protocol)?;
        // The caller bounds what it writes; rustls must never drop part of a request.
        conn.set_buffer_limit(None);
        Ok(Self { conn, clock: config.clock.clone(), peer_state: PeerState::Open })
    }

    /// True until the handshake (including certificate or pin verification) has completed.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// SPKI hash of the verified peer leaf certificate, once the handshake is complete.
    pub fn peer_spki(&self) -> Option<SpkiHash> {
        if self.conn.is_handshaking() {
            return None;
        }
        let leaf = self.conn.peer_certificates()?.first()?;
        spki_sha256(leaf).ok()
    }

    /// What a recording keeps about the verified peer, once the handshake is complete.
    pub fn peer_details(&self) -> Option<PeerDetails> {
        if self.conn.is_handshaking() {
            return None;
        }
        let leaf = self.conn.peer_certificates()?.first()?;
        let parsed = webpki::EndEntityCert::try_from(leaf).ok()?;
        let spki = parsed.subject_public_key_info();
        let spki_der = spki.as_ref().to_vec();
        Some(PeerDetails {
            spki_der,
            version: self.conn.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default(),
            cipher: self.conn.negotiated_cipher_suite().map(|c| format!("{:?}", c.suite())).unwrap_or_default(),
        })
    }

    /// The negotiated TLS version and key-exchange group (e.g. `TLSv1_3`, `X25519MLKEM768`),
    /// once the handshake is complete.
    pub fn negotiated(&self) -> Option<(String, String)> {
        let version = self.conn.protocol_version()?;
        let group = self.conn.negotiated_key_exchange_group()?;
        Some((format!("{version:?}"), format!("{:?}", group.name())))
    }

    /// Feeds ciphertext received from the peer at wall time `wall`, appending any decrypted
    /// application bytes to `plaintext`. Errors are final for this session.
    pub fn receive(
        &mut self,
        mut ciphertext: &[u8],
        wall: UnixTime,
        plaintext: &mut Vec<u8>,
    ) -> Result<PeerState, TlsError> {
        self.clock.set(wall);
        while !ciphertext.is_empty() {
            let read = self.conn.read_tls(&mut ciphertext);
            if let Err(e) = read {
                return Err(TlsError::Protocol(rustls::Error::General(e.to_string())));
            }
            self.conn.process_new_packets().map_err(TlsError::from_rustls)?;
            self.drain_plaintext(plaintext)?;
        }
        Ok(self.peer_state)
    }

    /// Tells the session that the transport ended. Returns `ClosedCleanly` if the peer had sent
    /// close_notify, else [`TlsError::UncleanClose`].
    pub fn receive_eof(&mut self, plaintext: &mut Vec<u8>) -> Result<PeerState, TlsError> {
        let _ = self.conn.read_tls(&mut &[][..]);
        self.conn.process_new_packets().map_err(TlsError::from_rustls)?;
        match self.drain_plaintext(plaintext) {
            Ok(PeerState::ClosedCleanly) => Ok(PeerState::ClosedCleanly),
            Ok(PeerState::Open) | Err(TlsError::UncleanClose) => Err(TlsError::UncleanClose),
            Err(other) => Err(other),
        }
    }

    fn drain_plaintext(&mut self, out: &mut Vec<u8>) -> Result<PeerState, TlsError> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.conn.reader().read(&mut buf) {
                Ok(0) => {
                    self.peer_state = PeerState::ClosedCleanly;
                    return Ok(self.peer_state);
                }
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(self.peer_state),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(TlsError::UncleanClose);
                }
                Err(e) => return Err(TlsError::Protocol(rustls::Error::General(e.to_string()))),
            }
        }
    }

    /// Queues application bytes for encryption. Callers write only after the handshake has
    /// completed, so nothing is ever encrypted for an unverified peer.
    pub fn send_plaintext(&mut self, bytes: &[u8]) {
        debug_assert!(!self.conn.is_handshaking(), "application data before verification");
        // Writing to rustls's buffer cannot fail short of allocation failure.
        let _ = self.conn.writer().write_all(bytes);
    }

    /// Queues a close_notify alert.
    pub fn send_close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    /// Ciphertext waiting to be sent to the peer, if any.
    pub fn take_outgoing(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::TestPki;

    #[test]
    fn handshake_prefers_the_post_quantum_hybrid_group() {
        let pki = TestPki::generate();
        let mut server = rustls::ServerConnection::new(pki.server_config()).unwrap();
        let config = TlsConfig::new(&ChannelTrust::SpkiPin(pki.server_spki)).unwrap();
        let wall = UnixTime::since_unix_epoch(Duration::from_secs(1_795_651_200));
        let mut client = TlsSession::new(&config, "localhost", wall).unwrap();
        for _ in 0..10 {
            if let Some(bytes) = client.take_outgoing() {
                server.read_tls(&mut &bytes[..]).unwrap();
                server.process_new_packets().unwrap();
            }
            let mut back = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut back).unwrap();
            }
            client.receive(&back, wall, &mut Vec::new()).unwrap();
        }
        assert!(!client.is_handshaking());
        assert_eq!(client.negotiated(), Some(("TLSv1_3".to_owned(), "X25519MLKEM768".to_owned())));
        assert_eq!(client.peer_spki(), Some(pki.server_spki));
    }
}
