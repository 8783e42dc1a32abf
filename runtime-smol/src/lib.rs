//! Drives proto-core machines with smol (async-io reactor, async-net sockets).
//!
//! Each connection gets a reader task on smol's global executor that forwards what it reads
//! over a channel and a writer task that writes what the machine queued; the driver's future
//! runs the machine and waits for the next socket event or the machine's deadline (an
//! `async_io::Timer`), so one slow peer never holds up the others. No protocol logic lives
//! here.
//!
//! ```no_run
//! use proto_core::exchange::{ChannelConfig, HttpsExchange};
//! use proto_core::http::Request;
//! use proto_core::tls::ChannelTrust;
//! use runtime_smol::Driver;
//!
//! smol::block_on(async {
//!     let channel = ChannelConfig::new("example.com", 443, ChannelTrust::web_pki());
//!     let mut driver = Driver::new(HttpsExchange::new(0, channel));
//!     driver.apply(|m, now| m.submit(&Request::get("/"), now)).expect("valid request");
//!     while let Some(output) = driver.next_output().await {
//!         println!("{output:?}");
//!     }
//! });
//! ```
//!
//! Many attested prompts through one [`proto_core::client::Client`]:
//!
//! ```no_run
//! use proto_core::client::{Client, ClientConfig, ClientEvent};
//! use proto_core::provider::{ProviderKind, descriptor::Endpoint};
//! use proto_core::session::Prompt;
//! use runtime_smol::{Driver, os_rng};
//!
//! smol::block_on(async {
//!     let mut driver = Driver::new(Client::new(ClientConfig::default(), os_rng().expect("OS randomness")));
//!     let body = br#"{"stream":true,"messages":[{"role":"user","content":"Hello"}]}"#.to_vec();
//!     let prompt = Prompt { endpoint: Endpoint::Chat, body, api_key: std::env::var("NEARAI_API_KEY").ok() };
//!     driver.apply(|c, now| c.submit(ProviderKind::NearDirect, "Qwen/Qwen3.5-122B-A10B", prompt, now));
//!     while let Some(output) = driver.next_output().await {
//!         if let ClientEvent::Body(bytes) = output.event {
//!             print!("{}", String::from_utf8_lossy(&bytes));
//!         }
//!     }
//! });
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod replay;

pub use runtime_blocking::os_rng;

use std::collections::HashMap;
use std::net::Shutdown;

use async_channel::{Receiver, Sender};
use async_io::Timer;
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use proto_core::io::{ConnId, ConnectError, Event, Io, Machine, Now};
use runtime_blocking::MachineHost;
use smol::Task;
use smol::net::TcpStream;

enum NetEvent {
    Connected(ConnId, TcpStream),
    ConnectFailed(ConnId, ConnectError),
    Data(ConnId, Vec<u8>),
    Closed(ConnId),
}

/// A connected socket: its writer task's queue and its reader task. Dropping it cancels the
/// reader; the writer finishes what was queued, then shuts the socket down.
struct Live {
    writer: Sender<Vec<u8>>,
    _reader: Task<()>,
}

/// Runs one machine inside a smol (or any async-io based) application.
pub struct Driver<M: Machine> {
    host: MachineHost<M>,
    net: Net,
    rx: Receiver<NetEvent>,
}

/// The driver's sockets.
struct Net {
    conns: HashMap<ConnId, Live>,
    connecting: HashMap<ConnId, Task<()>>,
    tx: Sender<NetEvent>,
}

impl<M: Machine> Driver<M> {
    /// Takes ownership of `machine` and starts what it already wants to do.
    pub fn new(machine: M) -> Self {
        let (tx, rx) = async_channel::unbounded();
        let net = Net { conns: HashMap::new(), connecting: HashMap::new(), tx };
        let mut driver = Self { host: MachineHost::new(machine), net, rx };
        driver.host.drain(|io| driver.net.perform(io));
        driver
    }

    /// The current time on both clocks, as machines see it.
    pub fn now(&self) -> Now {
        self.host.now()
    }

    /// The machine, for inspection.
    pub fn machine(&self) -> &M {
        self.host.machine()
    }

    /// Calls into the machine (for example to submit a request) and drains afterwards. Writes
    /// it asked for are queued to each connection's writer task.
    pub fn apply<T>(&mut self, call: impl FnOnce(&mut M, Now) -> T) -> T {
        self.host.apply(call, |io| self.net.perform(io))
    }

    /// The next output; `None` once the machine is done.
    pub async fn next_output(&mut self) -> Option<M::Output> {
        loop {
            if let Some(out) = self.host.pop_output() {
                return Some(out);
            }
            if self.host.is_done() {
                return None;
            }
            let received = async { self.rx.recv().await.ok() };
            let event = match self.host.deadline() {
                None => received.await,
                Some(deadline) => received.or(async { Timer::at(deadline).await; None }).await,
            };
            match event {
                Some(event) => self.deliver(event),
                None => self.host.timer_fired(|io| self.net.perform(io)),
            }
        }
    }

    /// Runs until the machine is done and returns every output.
    pub async fn run_to_completion(&mut self) -> Vec<M::Output> {
        let mut all = Vec::new();
        while let Some(out) = self.next_output().await {
            all.push(out);
        }
        all
    }

    /// Gives the machine back, closing every connection (dropping a connection's reader task
    /// and writer queue closes its socket).
    pub fn into_machine(self) -> M {
        self.host.into_machine()
    }

    fn handle(&mut self, event: Event<'_>) {
        self.host.handle(event, |io| self.net.perform(io));
    }

    fn deliver(&mut self, event: NetEvent) {
        match event {
            NetEvent::Connected(conn, stream) => {
                if self.net.connecting.remove(&conn).is_none() {
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
                let reader = smol::spawn(read_loop(conn, stream.clone(), self.net.tx.clone()));
                let (queue, queued) = async_channel::unbounded();
                smol::spawn(write_loop(conn, stream, queued, self.net.tx.clone())).detach();
                self.net.conns.insert(conn, Live { writer: queue, _reader: reader });
                self.handle(Event::Connected(conn));
            }
            NetEvent::ConnectFailed(conn, error) => {
                if self.net.connecting.remove(&conn).is_some() {
                    self.handle(Event::ConnectFailed(conn, error));
                }
            }
            // Events of a connection the machine already closed are not its business.
            NetEvent::Data(conn, bytes) => {
                if self.net.conns.contains_key(&conn) {
                    self.handle(Event::Received(conn, &bytes));
                }
            }
            NetEvent::Closed(conn) => {
                if self.net.conns.remove(&conn).is_some() {
                    self.handle(Event::Closed(conn));
                }
            }
        }
    }
}

impl Net {
    /// Carries out one socket instruction; writes go, in order, to the connection's writer.
    fn perform(&mut self, io: Io) {
        match io {
            Io::Connect { conn, host, port } => {
                let tx = self.tx.clone();
                let task = smol::spawn(async move {
                    let _ = tx.send(connect(conn, host, port).await).await;
                });
                self.connecting.insert(conn, task);
            }
            Io::Send { conn, bytes } => {
                if let Some(live) = self.conns.get(&conn) {
                    let _ = live.writer.try_send(bytes);
                }
            }
            Io::Close { conn } => {
                self.connecting.remove(&conn);
                // The writer writes what was queued, then shuts down; the reader is cancelled.
                self.conns.remove(&conn);
            }
            Io::WakeAt(_) => {} // kept by the host
        }
    }
}

/// Writes what the machine queued for one connection, in order; a write error closes it.
async fn write_loop(conn: ConnId, mut stream: TcpStream, queued: Receiver<Vec<u8>>, tx: Sender<NetEvent>) {
    while let Ok(bytes) = queued.recv().await {
        if stream.write_all(&bytes).await.is_err() {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = tx.try_send(NetEvent::Closed(conn));
            return;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

async fn connect(conn: ConnId, host: String, port: u16) -> NetEvent {
    let addrs = match smol::net::resolve((host.as_str(), port)).await {
        Ok(addrs) => addrs,
        Err(e) => return NetEvent::ConnectFailed(conn, ConnectError::Resolve(e.to_string())),
    };
    let mut last = ConnectError::Resolve(format!("{host}: no addresses"));
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return NetEvent::Connected(conn, stream);
            }
            Err(e) => last = ConnectError::from_io(&e),
        }
    }
    NetEvent::ConnectFailed(conn, last)
}

async fn read_loop(conn: ConnId, mut stream: TcpStream, tx: Sender<NetEvent>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => {
                let _ = tx.send(NetEvent::Closed(conn)).await;
                return;
            }
            Ok(n) => {
                if tx.send(NetEvent::Data(conn, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
}
