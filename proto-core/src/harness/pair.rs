//! The in-memory pair: an [`HttpsExchange`] against [`ServerSession`]s, with simulated time.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use super::server::{After, Responder, ServerSession};
use crate::exchange::{ExchangeOutput, HttpsExchange};
use crate::io::{ConnId, ConnectError, Event, Instant, Io, Machine, Now, UnixTime};

/// 2026-11-26T00:00:00Z, the wall time simulated runs start at.
pub const SIM_EPOCH_SECS: u64 = 1_795_651_200;

/// How the simulated network answers a connection attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectBehaviour {
    /// Connect at once.
    Accept,
    /// Fail with this error.
    Fail(ConnectError),
    /// Never answer (a black-holed address).
    Hang,
}

struct SimConn {
    server: ServerSession,
    to_client: VecDeque<u8>,
    close_sent: bool,
}

/// A client machine and its simulated servers, stepped deterministically.
///
/// Bytes from a server reach the client in pieces whose sizes cycle through `read_sizes`; after
/// each delivery, a spurious [`Event::TimerFired`] is injected when `spurious_timers` says so.
/// Time only moves when nothing else can happen, and then jumps to the client's deadline.
pub struct Pair {
    /// The machine under test.
    pub client: HttpsExchange,
    /// Current simulated time.
    pub now: Now,
    /// Sizes of successive deliveries to the client (cycled; zero counts as one).
    pub read_sizes: Vec<usize>,
    /// Whether to fire a spurious timer after each delivery (cycled).
    pub spurious_timers: Vec<bool>,
    /// How connection attempts are answered.
    pub connect: ConnectBehaviour,
    /// Everything the client has output so far.
    pub outputs: Vec<ExchangeOutput>,
    /// Server sessions, by connection, including closed ones (for inspection).
    pub finished_servers: Vec<ServerSession>,
    config: Arc<ServerConfig>,
    responder: Responder,
    conns: BTreeMap<ConnId, SimConn>,
    pending: VecDeque<Event<'static>>,
    wake_at: Option<Instant>,
    read_idx: usize,
    timer_idx: usize,
}

impl Pair {
    /// A pair whose servers use `config` and `responder`.
    pub fn new(client: HttpsExchange, config: Arc<ServerConfig>, responder: Responder) -> Self {
        Self {
            client,
            now: Self::start(),
            read_sizes: vec![usize::MAX],
            spurious_timers: vec![false],
            connect: ConnectBehaviour::Accept,
            outputs: Vec::new(),
            finished_servers: Vec::new(),
            config,
            responder,
            conns: BTreeMap::new(),
            pending: VecDeque::new(),
            wake_at: None,
            read_idx: 0,
            timer_idx: 0,
        }
    }

    /// The simulated start time.
    pub fn start() -> Now {
        Now::new(Instant::ZERO, UnixTime::since_unix_epoch(Duration::from_secs(SIM_EPOCH_SECS)))
    }

    /// Every server session opened so far, live or finished.
    pub fn servers(&self) -> impl Iterator<Item = &ServerSession> {
        self.finished_servers.iter().chain(self.conns.values().map(|c| &c.server))
    }

    /// Number of connections the client opened.
    pub fn connections_opened(&self) -> usize {
        self.servers().count()
    }

    /// Drains the client's instructions and outputs (the drain rule).
    pub fn drain(&mut self) {
        while let Some(io) = self.client.poll_io() {
            match io {
                Io::Connect { conn, .. } => match &self.connect {
                    ConnectBehaviour::Accept => {
                        let server = ServerSession::new(self.config.clone(), self.responder.clone());
                        self.conns.insert(conn, SimConn { server, to_client: VecDeque::new(), close_sent: false });
                        self.pending.push_back(Event::Connected(conn));
                    }
                    ConnectBehaviour::Fail(e) => self.pending.push_back(Event::ConnectFailed(conn, e.clone())),
                    ConnectBehaviour::Hang => {}
                },
                Io::Send { conn, bytes } => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.server.receive(&bytes);
                        if let Some(out) = c.server.take_outgoing() {
                            c.to_client.extend(out);
                        }
                    }
                }
                Io::Close { conn } => {
                    if let Some(c) = self.conns.remove(&conn) {
                        self.finished_servers.push(c.server);
                    }
                }
                Io::WakeAt(at) => self.wake_at = Some(at),
            }
        }
        while let Some(out) = self.client.poll_output() {
            self.outputs.push(out);
        }
    }

    fn handle(&mut self, event: Event<'_>) {
        self.client.handle(event, self.now);
        self.drain();
        let spurious = self.spurious_timers[self.timer_idx % self.spurious_timers.len().max(1)];
        self.timer_idx += 1;
        if spurious {
            self.client.handle(Event::TimerFired, self.now);
            self.drain();
        }
    }

    /// Performs one step. Returns false when nothing can happen any more.
    pub fn step(&mut self) -> bool {
        if let Some(event) = self.pending.pop_front() {
            self.handle(event);
            return true;
        }
        let ready = self.conns.iter_mut().find(|(_, c)| !c.to_client.is_empty()).map(|(id, _)| *id);
        if let Some(conn) = ready {
            let size = self.read_sizes[self.read_idx % self.read_sizes.len().max(1)].max(1);
            self.read_idx += 1;
            let c = self.conns.get_mut(&conn).expect("ready connection");
            let n = size.min(c.to_client.len());
            let bytes: Vec<u8> = c.to_client.drain(..n).collect();
            self.handle(Event::Received(conn, &bytes));
            return true;
        }
        let closing = self
            .conns
            .iter_mut()
            .find(|(_, c)| !c.close_sent && matches!(c.server.after(), After::Close | After::CloseAbruptly))
            .map(|(id, c)| {
                c.close_sent = true;
                *id
            });
        if let Some(conn) = closing {
            self.handle(Event::Closed(conn));
            return true;
        }
        if let Some(at) = self.wake_at.take() {
            if at > self.now.mono {
                self.now = self.now.advanced(at - self.now.mono);
            }
            self.handle(Event::TimerFired);
            return true;
        }
        false
    }

    /// Steps until nothing can happen. Panics after `max_steps` (a livelock is a bug).
    pub fn run(&mut self, max_steps: usize) {
        self.drain();
        for _ in 0..max_steps {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle within {max_steps} steps");
    }
}
