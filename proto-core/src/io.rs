//! The I/O contract between a sans-IO machine and the runtime that drives it.
//!
//! A machine never touches a socket, a clock or the OS random generator. Instead:
//!
//! * the driver feeds it [`Event`]s through `handle(event, now)`, with [`Now`] carrying both a
//!   monotonic [`Instant`] (for timeouts) and wall-clock [`UnixTime`] (for certificate and
//!   collateral validity);
//! * the machine asks for I/O through [`Io`] instructions returned by `poll_io()`;
//! * it hands results to the application through `poll_output()`;
//! * machines that need randomness take a [`rand_core::CryptoRng`] at construction, so tests
//!   seed it and replays are deterministic.
//!
//! # The drain rule
//!
//! After **every** input (a `handle` call, or an application call such as submitting a request),
//! the driver MUST call `poll_io()` until it returns `None`, carrying out each instruction in
//! order, and then `poll_output()` until it returns `None`. Only then may it wait for the next
//! socket event or for the deadline of the last [`Io::WakeAt`] it saw (a later `WakeAt`
//! replaces an earlier one). A `TimerFired` that arrives early is harmless: machines re-check
//! their deadlines against `now` and ignore spurious wake-ups.
//!
//! The [`Machine`] trait captures that shape so one driver loop fits every protocol.
//!
//! # Example
//!
//! A toy machine that opens one connection, sends a random 4-byte token and reports the first
//! bytes it gets back, driven by hand the way a runtime would:
//!
//! ```
//! use proto_core::io::{ConnId, Event, Instant, Io, Machine, Now};
//! use rand_core::CryptoRng;
//! use std::collections::VecDeque;
//! use std::time::Duration;
//!
//! struct Echo<R> { rng: R, io: VecDeque<Io>, out: VecDeque<Vec<u8>>, done: bool }
//!
//! impl<R: CryptoRng> Echo<R> {
//!     fn new(rng: R) -> Self {
//!         let conn = ConnId::new(0, 0);
//!         let io = VecDeque::from([Io::Connect { conn, host: "echo.test".into(), port: 7 }]);
//!         Echo { rng, io, out: VecDeque::new(), done: false }
//!     }
//! }
//!
//! impl<R: CryptoRng> Machine for Echo<R> {
//!     type Output = Vec<u8>;
//!     fn handle(&mut self, event: Event<'_>, _now: Now) {
//!         match event {
//!             Event::Connected(conn) => {
//!                 let mut token = [0u8; 4];
//!                 self.rng.fill_bytes(&mut token);
//!                 self.io.push_back(Io::Send { conn, bytes: token.to_vec() });
//!             }
//!             Event::Received(conn, bytes) => {
//!                 self.out.push_back(bytes.to_vec());
//!                 self.io.push_back(Io::Close { conn });
//!                 self.done = true;
//!             }
//!             _ => self.done = true,
//!         }
//!     }
//!     fn poll_io(&mut self) -> Option<Io> { self.io.pop_front() }
//!     fn poll_output(&mut self) -> Option<Vec<u8>> { self.out.pop_front() }
//!     fn is_done(&self) -> bool { self.done && self.out.is_empty() }
//! }
//!
//! // A seeded RNG makes the run reproducible.
//! struct Counter(u32);
//! impl rand_core::TryRng for Counter {
//!     type Error = core::convert::Infallible;
//!     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { self.0 += 1; Ok(self.0) }
//!     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(self.try_next_u32()? as u64) }
//!     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
//!         for b in dst { *b = self.try_next_u32()? as u8; }
//!         Ok(())
//!     }
//! }
//! impl rand_core::TryCryptoRng for Counter {}
//!
//! let mut m = Echo::new(Counter(0));
//! let now = Now::new(Instant::ZERO, rustls_pki_types::UnixTime::since_unix_epoch(Duration::from_secs(1)));
//! let mut wire = Vec::new();
//! // Drain after construction, then after each input.
//! while let Some(io) = m.poll_io() { wire.push(io); }
//! assert!(matches!(wire[0], Io::Connect { port: 7, .. }));
//! m.handle(Event::Connected(ConnId::new(0, 0)), now);
//! while let Some(io) = m.poll_io() {
//!     if let Io::Send { bytes, .. } = io { assert_eq!(bytes, [1, 2, 3, 4]); }
//! }
//! m.handle(Event::Received(ConnId::new(0, 0), b"pong"), now);
//! while m.poll_io().is_some() {}
//! assert_eq!(m.poll_output().as_deref(), Some(&b"pong"[..]));
//! assert!(m.is_done());
//! ```

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

pub use rustls_pki_types::UnixTime;

/// Identifies one transport connection.
///
/// A connection id is made of the id of the channel (one [`crate::exchange::HttpsExchange`] or
/// other machine) that owns it and a sequence number inside that channel, so a parent machine
/// can route events to the child that opened the connection. Ids are never reused by a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// The channel that opened this connection.
    pub channel: u32,
    /// The connection's number inside its channel.
    pub seq: u32,
}

impl ConnId {
    /// Builds a connection id from a channel id and a sequence number.
    pub const fn new(channel: u32, seq: u32) -> Self {
        Self { channel, seq }
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.channel, self.seq)
    }
}

/// A point on the driver's monotonic clock, measured from an origin the driver chose.
///
/// Machines compare instants and add durations to them; they never read a clock. Runtimes map
/// their own monotonic clock onto this type; tests and replays advance it by hand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The driver's origin.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The instant `elapsed` after the driver's origin.
    pub const fn from_elapsed(elapsed: Duration) -> Self {
        Instant(elapsed)
    }

    /// Time since the driver's origin.
    pub const fn elapsed_since_origin(self) -> Duration {
        self.0
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

/// The time a driver passes with every input: monotonic for timeouts, wall-clock for validity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, for deadlines. Must never go backwards between calls.
    pub mono: Instant,
    /// Wall-clock time, for certificate, CRL and token validity. Replays pin it to the
    /// recorded capture time.
    pub wall: UnixTime,
}

impl Now {
    /// Bundles a monotonic instant and a wall-clock time.
    pub const fn new(mono: Instant, wall: UnixTime) -> Self {
        Self { mono, wall }
    }

    /// Both clocks moved forward by `by`.
    pub fn advanced(self, by: Duration) -> Self {
        let wall = UnixTime::since_unix_epoch(Duration::from_secs(self.wall.as_secs()) + by);
        Self { mono: self.mono + by, wall }
    }
}

/// Why the driver could not open a connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The host name did not resolve to any address.
    #[error("host name did not resolve: {0}")]
    Resolve(String),
    /// The peer actively refused the connection.
    #[error("connection refused")]
    Refused,
    /// No route to the host or network.
    #[error("host or network unreachable")]
    Unreachable,
    /// Any other failure, with the OS's description.
    #[error("connect failed: {0}")]
    Other(String),
}

impl ConnectError {
    /// Classifies an OS error from a connect attempt (a pure mapping, for runtimes).
    pub fn from_io(err: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        match err.kind() {
            ErrorKind::ConnectionRefused => ConnectError::Refused,
            ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => ConnectError::Unreachable,
            _ => ConnectError::Other(err.to_string()),
        }
    }
}

/// An input to a machine, produced by the driver from socket activity or its timer.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The connection asked for by [`Io::Connect`] is established.
    Connected(ConnId),
    /// Bytes arrived on a connection, in order.
    Received(ConnId, &'a [u8]),
    /// The peer closed the connection, or reading from it failed. No more bytes will arrive.
    Closed(ConnId),
    /// The connection asked for by [`Io::Connect`] could not be established.
    ConnectFailed(ConnId, ConnectError),
    /// The deadline of the last [`Io::WakeAt`] may have passed (spurious firings are allowed).
    TimerFired,
}

/// An instruction from a machine to its driver.
#[derive(Clone, PartialEq, Eq)]
#[must_use = "every instruction must be carried out by the driver"]
pub enum Io {
    /// Open a TCP connection to `host:port` and report [`Event::Connected`] or
    /// [`Event::ConnectFailed`].
    Connect {
        /// The id the machine will use for this connection.
        conn: ConnId,
        /// Host name or IP address literal.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// Write these bytes to the connection, in order after earlier sends.
    Send {
        /// The connection to write to.
        conn: ConnId,
        /// The bytes to write.
        bytes: Vec<u8>,
    },
    /// Close the connection. The machine will ignore any further event for it.
    Close {
        /// The connection to close.
        conn: ConnId,
    },
    /// Deliver [`Event::TimerFired`] at (or after) this instant. Replaces earlier requests.
    WakeAt(Instant),
}

impl fmt::Debug for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Io::Connect { conn, host, port } => write!(f, "Connect({conn}, {host}:{port})"),
            // Payload bytes may carry secrets: log their size only.
            Io::Send { conn, bytes } => write!(f, "Send({conn}, {} bytes)", bytes.len()),
            Io::Close { conn } => write!(f, "Close({conn})"),
            Io::WakeAt(at) => write!(f, "WakeAt({:?})", at.elapsed_since_origin()),
        }
    }
}

/// The shape every protocol machine has, so one driver loop fits them all.
pub trait Machine {
    /// What the application receives.
    type Output;

    /// Feeds one event in. The driver must then drain [`Machine::poll_io`] and
    /// [`Machine::poll_output`] to `None`.
    fn handle(&mut self, event: Event<'_>, now: Now);

    /// The next I/O instruction, or `None` when there is nothing to do until the next input.
    fn poll_io(&mut self) -> Option<Io>;

    /// The next output for the application, or `None`.
    fn poll_output(&mut self) -> Option<Self::Output>;

    /// True when no further output will come without a new application call (for example, a
    /// new request). A driver that runs "to completion" stops when this is true and no output
    /// is pending.
    fn is_done(&self) -> bool;
}
