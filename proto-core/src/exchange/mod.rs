//! `HttpsExchange`: HTTP/1.1 requests over TLS on one channel, as a sans-IO machine.
//!
//! A channel is a host, a port and a [`ChannelTrust`]. Requests submitted to it are sent one
//! after the other, reusing a kept-alive connection when the server allows it and opening a new
//! one when it does not. Each response comes out as it arrives: a [`ExchangeOutput::Head`] (with
//! the peer leaf's SPKI hash), [`ExchangeOutput::Body`] pieces, then [`ExchangeOutput::End`].
//!
//! Timeouts are deadlines in the machine, announced to the driver with [`Io::WakeAt`]:
//! connecting, the TLS handshake, and the wait for each response byte. Any failure — transport,
//! TLS, pin, HTTP or timeout — is a single terminal [`ExchangeOutput::Failed`], after which the
//! machine ignores input and accepts no request.

mod timer;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod props;

use std::collections::VecDeque;
use std::time::Duration;

use crate::http::{HttpError, Request, ResponseEvent, ResponseHead, ResponseParser, Method};
use crate::io::{ConnId, ConnectError, Event, Io, Machine, Now};
use crate::tls::{ChannelTrust, PeerState, PinMismatch, SpkiHash, TlsConfig, TlsError, TlsSession};
use timer::Deadline;
pub use timer::TimeoutKind;

/// Identifies a submitted request within its channel, in submission order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Timeouts for a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From asking for a connection to having it.
    pub connect: Duration,
    /// From connected to a verified TLS handshake.
    pub handshake: Duration,
    /// Longest silence while a response is awaited or streaming.
    pub idle: Duration,
}

impl Default for Timeouts {
    /// 10 s to connect, 10 s to handshake, 120 s of silence mid-response (model replies stream
    /// slowly).
    fn default() -> Self {
        Self { connect: Duration::from_secs(10), handshake: Duration::from_secs(10), idle: Duration::from_secs(120) }
    }
}

/// Where a channel connects and how it trusts the peer.
#[derive(Clone, Debug)]
pub struct ChannelConfig {
    /// Host name or IP literal; also the TLS server name.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Web PKI or SPKI pin.
    pub trust: ChannelTrust,
    /// Deadlines.
    pub timeouts: Timeouts,
}

impl ChannelConfig {
    /// A channel to `host:port` with default timeouts.
    pub fn new(host: impl Into<String>, port: u16, trust: ChannelTrust) -> Self {
        Self { host: host.into(), port, trust, timeouts: Timeouts::default() }
    }
}

/// Why a channel failed. Each variant names the stage that failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The channel's TLS configuration or server name is unusable.
    #[error("cannot configure TLS for the channel: {0}")]
    Config(TlsError),
    /// The driver could not connect.
    #[error("cannot connect to {host}:{port}: {error}")]
    Connect {
        /// Host connected to.
        host: String,
        /// Port connected to.
        port: u16,
        /// What the driver reported.
        error: ConnectError,
    },
    /// A timeout expired.
    #[error("{kind} timed out after {after:?}")]
    Timeout {
        /// Which stage.
        kind: TimeoutKind,
        /// The configured duration.
        after: Duration,
    },
    /// The peer's key is not the pinned one. No application byte was sent.
    #[error(transparent)]
    PinMismatch(PinMismatch),
    /// TLS failed (certificate, alert, protocol violation, unclean close).
    #[error(transparent)]
    Tls(TlsError),
    /// The response was malformed, oversized or truncated.
    #[error(transparent)]
    Http(HttpError),
    /// The peer closed before the TLS handshake completed.
    #[error("connection closed during the TLS handshake")]
    ClosedDuringHandshake,
}

impl From<TlsError> for ExchangeError {
    fn from(e: TlsError) -> Self {
        match e {
            TlsError::PinMismatch(m) => ExchangeError::PinMismatch(m),
            other => ExchangeError::Tls(other),
        }
    }
}

/// What the channel hands to the application.
#[derive(Clone, Debug, PartialEq)]
pub enum ExchangeOutput {
    /// A response's status and headers, with the SPKI hash of the TLS peer that sent it.
    Head {
        /// The request answered.
        req: RequestId,
        /// Status line and headers.
        head: ResponseHead,
        /// SHA-256 of the verified peer leaf's SubjectPublicKeyInfo.
        peer_spki: SpkiHash,
    },
    /// A piece of a response body, in order.
    Body {
        /// The request answered.
        req: RequestId,
        /// Decoded body bytes.
        bytes: Vec<u8>,
    },
    /// The response to `req` is complete.
    End {
        /// The request answered.
        req: RequestId,
    },
    /// The channel failed; this is the last output.
    Failed(ExchangeError),
}

/// A request that cannot be accepted.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The request could not be encoded.
    #[error(transparent)]
    Invalid(HttpError),
    /// The channel has already failed.
    #[error("the channel has failed")]
    ChannelFailed,
}

enum Conn {
    None,
    Connecting { conn: ConnId },
    Handshaking { conn: ConnId, tls: Box<TlsSession> },
    /// `reused`: the connection already carried a response (a server may have closed it
    /// silently meanwhile).
    Idle { conn: ConnId, tls: Box<TlsSession>, peer: SpkiHash, reused: bool },
    /// `retry`: the request, kept when it went out on a reused connection, to send once more
    /// on a fresh one if that connection closes before any byte of the answer.
    Active {
        conn: ConnId,
        tls: Box<TlsSession>,
        peer: SpkiHash,
        req: RequestId,
        parser: ResponseParser,
        retry: Option<Box<Pending>>,
        answered: bool,
    },
    Failed,
}

impl Conn {
    fn id(&self) -> Option<ConnId> {
        match self {
            Conn::None | Conn::Failed => None,
            Conn::Connecting { conn }
            | Conn::Handshaking { conn, .. }
            | Conn::Idle { conn, .. }
            | Conn::Active { conn, .. } => Some(*conn),
        }
    }
}

#[derive(Clone)]
struct Pending {
    id: RequestId,
    bytes: Vec<u8>,
    limits: crate::http::ResponseLimits,
    head_request: bool,
}

/// The HTTPS exchange machine for one channel. See the module documentation.
pub struct HttpsExchange {
    channel: u32,
    config: ChannelConfig,
    tls: Result<TlsConfig, TlsError>,
    next_seq: u32,
    next_req: u64,
    queue: VecDeque<Pending>,
    conn: Conn,
    deadline: Deadline,
    io: VecDeque<Io>,
    out: VecDeque<ExchangeOutput>,
}

impl std::fmt::Debug for HttpsExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsExchange")
            .field("channel", &self.channel)
            .field("host", &self.config.host)
            .field("port", &self.config.port)
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl HttpsExchange {
    /// A channel numbered `channel` (the first half of every [`ConnId`] it uses). Nothing
    /// happens until a request is submitted.
    pub fn new(channel: u32, config: ChannelConfig) -> Self {
        let tls = TlsConfig::new(&config.trust);
        Self {
            channel,
            config,
            tls,
            next_seq: 0,
            next_req: 0,
            queue: VecDeque::new(),
            conn: Conn::None,
            deadline: Deadline::default(),
            io: VecDeque::new(),
            out: VecDeque::new(),
        }
    }

    /// Queues a request. It is sent once earlier ones are answered. The driver must drain
    /// afterwards.
    pub fn submit(&mut self, request: &Request, now: Now) -> Result<RequestId, SubmitError> {
        if matches!(self.conn, Conn::Failed) {
            return Err(SubmitError::ChannelFailed);
        }
        let bytes = request.encode(&self.config.host, self.config.port).map_err(SubmitError::Invalid)?;
        let id = RequestId(self.next_req);
        self.next_req += 1;
        let head_request = request.method == Method::Head;
        self.queue.push_back(Pending { id, bytes, limits: request.limits, head_request });
        self.progress(now);
        Ok(id)
    }

    /// Closes an idle connection gracefully (close_notify, then close). Requests still queued
    /// or in flight are unaffected.
    pub fn close_idle(&mut self) {
        if !matches!(self.conn, Conn::Idle { .. }) {
            return;
        }
        if let Conn::Idle { conn, mut tls, .. } = std::mem::replace(&mut self.conn, Conn::None) {
            tls.send_close_notify();
            self.flush(conn, &mut tls);
            self.io.push_back(Io::Close { conn });
        }
    }

    /// True if a connection is open with nothing in flight.
    pub fn has_idle_connection(&self) -> bool {
        matches!(self.conn, Conn::Idle { .. })
    }

    /// The verified peer of the current connection (TLS version, cipher, leaf SPKI), once its
    /// handshake is complete.
    pub fn peer_details(&self) -> Option<crate::tls::PeerDetails> {
        match &self.conn {
            Conn::Idle { tls, .. } | Conn::Active { tls, .. } => tls.peer_details(),
            _ => None,
        }
    }

    /// True once the channel has failed.
    pub fn has_failed(&self) -> bool {
        matches!(self.conn, Conn::Failed)
    }

    fn next_conn_id(&mut self) -> ConnId {
        let id = ConnId::new(self.channel, self.next_seq);
        self.next_seq += 1;
        id
    }

    /// Starts whatever the current state allows: a connection, or the next request.
    fn progress(&mut self, now: Now) {
        if self.queue.is_empty() {
            return;
        }
        match std::mem::replace(&mut self.conn, Conn::None) {
            Conn::None => {
                let conn = self.next_conn_id();
                self.io.push_back(Io::Connect { conn, host: self.config.host.clone(), port: self.config.port });
                self.deadline.set(TimeoutKind::Connect, now.mono, self.config.timeouts.connect);
                self.conn = Conn::Connecting { conn };
            }
            Conn::Idle { conn, mut tls, peer, reused } => {
                let Some(next) = self.queue.pop_front() else { unreachable!("queue checked") };
                tls.send_plaintext(&next.bytes);
                self.flush(conn, &mut tls);
                self.deadline.set(TimeoutKind::Response, now.mono, self.config.timeouts.idle);
                let parser = ResponseParser::new(next.limits, next.head_request);
                let req = next.id;
                let retry = reused.then(|| Box::new(next));
                self.conn = Conn::Active { conn, tls, peer, req, parser, retry, answered: false };
            }
            other => self.conn = other,
        }
    }

    fn flush(&mut self, conn: ConnId, tls: &mut TlsSession) {
        if let Some(bytes) = tls.take_outgoing() {
            self.io.push_back(Io::Send { conn, bytes });
        }
    }

    fn fail(&mut self, error: ExchangeError) {
        let old = std::mem::replace(&mut self.conn, Conn::Failed);
        if let Some(conn) = old.id() {
            // Let rustls's alert (if any) go out before the close.
            match old {
                Conn::Handshaking { mut tls, .. } | Conn::Idle { mut tls, .. } | Conn::Active { mut tls, .. } => {
                    self.flush(conn, &mut tls)
                }
                _ => {}
            }
            self.io.push_back(Io::Close { conn });
        }
        self.queue.clear();
        self.deadline.clear();
        self.out.push_back(ExchangeOutput::Failed(error));
    }

    fn on_connected(&mut self, conn: ConnId, now: Now) -> Result<(), ExchangeError> {
        let tls_config = self.tls.as_ref().map_err(|e| ExchangeError::Config(e.clone()))?;
        let mut tls = Box::new(TlsSession::new(tls_config, &self.config.host, now.wall).map_err(ExchangeError::Config)?);
        self.flush(conn, &mut tls);
        self.deadline.set(TimeoutKind::Handshake, now.mono, self.config.timeouts.handshake);
        self.conn = Conn::Handshaking { conn, tls };
        Ok(())
    }

    fn on_received(&mut self, conn: ConnId, bytes: &[u8], now: Now) -> Result<(), ExchangeError> {
        let mut plain = Vec::new();
        match std::mem::replace(&mut self.conn, Conn::None) {
            Conn::Handshaking { mut tls, .. } => {
                tls.receive(bytes, now.wall, &mut plain)?;
                self.flush(conn, &mut tls);
                if tls.is_handshaking() {
                    self.conn = Conn::Handshaking { conn, tls };
                    return Ok(());
                }
                let peer = tls.peer_spki().ok_or(ExchangeError::Tls(TlsError::Protocol(
                    rustls::Error::NoCertificatesPresented,
                )))?;
                self.deadline.clear();
                self.conn = Conn::Idle { conn, tls, peer, reused: false };
                if !plain.is_empty() {
                    return Err(ExchangeError::Http(HttpError::UnsolicitedData));
                }
                self.progress(now);
                Ok(())
            }
            Conn::Idle { mut tls, peer, reused, .. } => {
                let state = tls.receive(bytes, now.wall, &mut plain)?;
                self.flush(conn, &mut tls);
                if !plain.is_empty() {
                    return Err(ExchangeError::Http(HttpError::UnsolicitedData));
                }
                if state == PeerState::ClosedCleanly {
                    self.io.push_back(Io::Close { conn });
                    self.progress(now);
                } else {
                    self.conn = Conn::Idle { conn, tls, peer, reused };
                }
                Ok(())
            }
            Conn::Active { mut tls, peer, req, mut parser, mut retry, answered, .. } => {
                let state = tls.receive(bytes, now.wall, &mut plain)?;
                self.flush(conn, &mut tls);
                let answered = answered || !plain.is_empty();
                if state == PeerState::ClosedCleanly && !answered
                    && let Some(pending) = retry.take() {
                        return {
                            self.resend(conn, *pending, now);
                            Ok(())
                        };
                    }
                self.deadline.set(TimeoutKind::Response, now.mono, self.config.timeouts.idle);
                let mut events = Vec::new();
                let parsed = parser.feed(&plain, &mut events);
                let finished = self.emit(req, peer, events);
                parsed.map_err(ExchangeError::Http)?;
                if state == PeerState::ClosedCleanly && finished.is_none() {
                    let mut events = Vec::new();
                    parser.finish(&mut events).map_err(ExchangeError::Http)?;
                    self.emit(req, peer, events);
                    self.io.push_back(Io::Close { conn });
                    self.deadline.clear();
                    self.progress(now);
                    return Ok(());
                }
                match finished {
                    None => {
                        // Once the answer has begun, the request is never resent.
                        let retry = if answered { None } else { retry };
                        self.conn = Conn::Active { conn, tls, peer, req, parser, retry, answered };
                    }
                    Some(reusable) => self.after_response(conn, tls, peer, reusable && state == PeerState::Open, now),
                }
                Ok(())
            }
            other => {
                self.conn = other;
                Ok(())
            }
        }
    }

    fn after_response(&mut self, conn: ConnId, mut tls: Box<TlsSession>, peer: SpkiHash, reusable: bool, now: Now) {
        self.deadline.clear();
        if reusable {
            self.conn = Conn::Idle { conn, tls, peer, reused: true };
        } else {
            tls.send_close_notify();
            self.flush(conn, &mut tls);
            self.io.push_back(Io::Close { conn });
        }
        self.progress(now);
    }

    /// Turns parser events into outputs; returns `Some(reusable)` once the response ended.
    fn emit(&mut self, req: RequestId, peer: SpkiHash, events: Vec<ResponseEvent>) -> Option<bool> {
        let mut ended = None;
        for event in events {
            self.out.push_back(match event {
                ResponseEvent::Head(head) => ExchangeOutput::Head { req, head, peer_spki: peer },
                ResponseEvent::Body(bytes) => ExchangeOutput::Body { req, bytes },
                ResponseEvent::End { reusable } => {
                    ended = Some(reusable);
                    ExchangeOutput::End { req }
                }
            });
        }
        ended
    }

    /// A kept-alive connection closed before any byte of the answer to a request it carried:
    /// the server dropped it (an idle timeout racing our write), so the request goes out once
    /// more on a fresh connection (RFC 9112 §9.3.1). A request is retried at most once: the
    /// retry is the first request of its connection, which is never retried again. A request
    /// whose answer had begun is never resent.
    fn resend(&mut self, conn: ConnId, pending: Pending, now: Now) {
        self.io.push_back(Io::Close { conn });
        self.deadline.clear();
        self.conn = Conn::None;
        self.queue.push_front(pending);
        self.progress(now);
    }

    fn on_closed(&mut self, conn: ConnId, now: Now) -> Result<(), ExchangeError> {
        match std::mem::replace(&mut self.conn, Conn::None) {
            Conn::Connecting { .. } | Conn::Handshaking { .. } => Err(ExchangeError::ClosedDuringHandshake),
            Conn::Idle { .. } => {
                // The server dropped a kept-alive connection: reconnect when needed.
                self.io.push_back(Io::Close { conn });
                self.progress(now);
                Ok(())
            }
            Conn::Active { mut tls, peer, req, mut parser, retry, answered, .. } => {
                let mut plain = Vec::new();
                let clean = tls.receive_eof(&mut plain);
                if let (Some(pending), false, true) = (retry, answered, plain.is_empty()) {
                    return {
                        self.resend(conn, *pending, now);
                        Ok(())
                    };
                }
                let mut events = Vec::new();
                let fed = parser.feed(&plain, &mut events);
                self.emit(req, peer, events);
                fed.map_err(ExchangeError::Http)?;
                if parser.is_done() {
                    // Self-delimited body already complete: an unclean close afterwards is harmless.
                    self.io.push_back(Io::Close { conn });
                    self.progress(now);
                    return Ok(());
                }
                let mut events = Vec::new();
                match (clean, parser.finish(&mut events)) {
                    // An incomplete message is reported as truncated whether or not TLS closed cleanly.
                    (_, Err(e)) => Err(ExchangeError::Http(e)),
                    // A close-delimited body needs close_notify, or it may have been cut short.
                    (Err(e), Ok(())) => Err(e.into()),
                    (Ok(_), Ok(())) => {
                        self.emit(req, peer, events);
                        self.io.push_back(Io::Close { conn });
                        self.deadline.clear();
                        self.progress(now);
                        Ok(())
                    }
                }
            }
            other => {
                self.conn = other;
                Ok(())
            }
        }
    }

    fn check_deadline(&mut self, now: Now) {
        if let Some(kind) = self.deadline.expired(now.mono) {
            let after = match kind {
                TimeoutKind::Connect => self.config.timeouts.connect,
                TimeoutKind::Handshake => self.config.timeouts.handshake,
                TimeoutKind::Response => self.config.timeouts.idle,
            };
            self.fail(ExchangeError::Timeout { kind, after });
        }
    }
}

impl Machine for HttpsExchange {
    type Output = ExchangeOutput;

    fn handle(&mut self, event: Event<'_>, now: Now) {
        if matches!(self.conn, Conn::Failed) {
            return;
        }
        let current = self.conn.id();
        let result = match event {
            Event::TimerFired => Ok(()),
            Event::Connected(c) if Some(c) == current && matches!(self.conn, Conn::Connecting { .. }) => {
                self.on_connected(c, now)
            }
            Event::ConnectFailed(c, error) if Some(c) == current => Err(ExchangeError::Connect {
                host: self.config.host.clone(),
                port: self.config.port,
                error,
            }),
            Event::Received(c, bytes) if Some(c) == current => self.on_received(c, bytes, now),
            Event::Closed(c) if Some(c) == current => self.on_closed(c, now),
            // Events for connections this channel no longer uses (or never opened) are ignored.
            _ => Ok(()),
        };
        match result {
            Err(e) => self.fail(e),
            Ok(()) => self.check_deadline(now),
        }
    }

    fn poll_io(&mut self) -> Option<Io> {
        if let Some(io) = self.io.pop_front() {
            return Some(io);
        }
        self.deadline.poll_wake().map(Io::WakeAt)
    }

    fn poll_output(&mut self) -> Option<ExchangeOutput> {
        self.out.pop_front()
    }

    fn is_done(&self) -> bool {
        self.out.is_empty()
            && (matches!(self.conn, Conn::Failed)
                || (self.queue.is_empty() && !matches!(self.conn, Conn::Active { .. } | Conn::Connecting { .. } | Conn::Handshaking { .. })))
    }
}
