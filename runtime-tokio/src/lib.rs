//! Drives proto-core machines with tokio, and hosts the `teep` binary.
//!
//! Each connection gets a reader task that forwards what it reads over a channel and a writer
//! task that writes what the machine queued; the driver's future runs the machine and waits
//! for the next socket event or the machine's deadline (`tokio::time::sleep_until`), so one
//! slow peer never holds up the others. It must be polled inside a tokio runtime with the
//! I/O and time drivers enabled. No protocol logic lives here.
//!
//! ```no_run
//! use proto_core::exchange::{ChannelConfig, HttpsExchange};
//! use proto_core::http::Request;
//! use proto_core::tls::ChannelTrust;
//! use runtime_tokio::Driver;
//!
//! # async fn run() {
//! let channel = ChannelConfig::new("example.com", 443, ChannelTrust::web_pki());
//! let mut driver = Driver::new(HttpsExchange::new(0, channel));
//! driver.apply(|m, now| m.submit(&Request::get("/"), now)).expect("valid request");
//! while let Some(output) = driver.next_output().await {
//!     println!("{output:?}");
//! }
//! # }
//! ```
//!
//! Many attested prompts through one [`proto_core::client::Client`]:
//!
//! ```no_run
//! use proto_core::client::{Client, ClientConfig, ClientEvent};
//! use proto_core::provider::{ProviderKind, descriptor::Endpoint};
//! use proto_core::session::Prompt;
//! use runtime_tokio::{Driver, os_rng};
//!
//! # async fn run() {
//! let mut driver = Driver::new(Client::new(ClientConfig::default(), os_rng().expect("OS randomness")));
//! let body = br#"{"stream":true,"messages":[{"role":"user","content":"Hello"}]}"#.to_vec();
//! let prompt = Prompt { endpoint: Endpoint::Chat, body, api_key: std::env::var("CHUTES_API_KEY").ok() };
//! driver.apply(|c, now| c.submit(ProviderKind::Chutes, "zai-org/GLM-5-TEE", prompt, now));
//! while let Some(output) = driver.next_output().await {
//!     if let ClientEvent::Body(bytes) = output.event {
//!         print!("{}", String::from_utf8_lossy(&bytes));
//!     }
//! }
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod demo;
pub mod proxy;
pub mod replay;

pub use runtime_blocking::os_rng;

use std::collections::HashMap;

use proto_core::io::{ConnId, ConnectError, Event, Io, Machine, Now};
use runtime_blocking::MachineHost;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::AbortHandle;

enum NetEvent {
    Connected(ConnId, TcpStream),
    ConnectFailed(ConnId, ConnectError),
    Data(ConnId, Vec<u8>),
    Closed(ConnId),
}

/// A spawned task that is cancelled when this handle is dropped.
struct TaskGuard(AbortHandle);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A connected socket: its writer task's queue and its reader task. Dropping it ends the
/// reader at once; the writer finishes what was queued, then shuts the socket down.
struct Live {
    writer: UnboundedSender<Vec<u8>>,
    _reader: TaskGuard,
}

/// What [`Driver::next_or_message`] returns.
#[derive(Debug)]
pub enum Next<O, T> {
    /// An output of the machine.
    Output(O),
    /// A message from the application.
    Message(T),
    /// The inbox is closed and the machine is done.
    Closed,
}

/// Runs one machine inside a tokio application.
pub struct Driver<M: Machine> {
    host: MachineHost<M>,
    net: Net,
    rx: UnboundedReceiver<NetEvent>,
}

/// The driver's sockets.
struct Net {
    conns: HashMap<ConnId, Live>,
    connecting: HashMap<ConnId, TaskGuard>,
    tx: UnboundedSender<NetEvent>,
}

impl<M: Machine> Driver<M> {
    /// Takes ownership of `machine` and starts what it already wants to do. Must be called
    /// inside a tokio runtime.
    pub fn new(machine: M) -> Self {
        let (tx, rx) = unbounded_channel();
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
            let event = match self.host.deadline() {
                None => self.rx.recv().await,
                Some(deadline) => tokio::select! {
                    event = self.rx.recv() => event,
                    () = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => None,
                },
            };
            match event {
                Some(event) => self.deliver(event),
                None => self.host.timer_fired(|io| self.net.perform(io)),
            }
        }
    }

    /// The next output, or the next message from `inbox`, whichever comes first: for a
    /// machine that lives as long as its application feeds it (a proxy's client). It only
    /// waits on channels and the timer (writes go to per-connection tasks), so a slow peer
    /// never holds up the others, and it is cancel-safe. `Closed` once the inbox is closed and
    /// the machine is done.
    pub async fn next_or_message<T>(&mut self, inbox: &mut UnboundedReceiver<T>) -> Next<M::Output, T> {
        let mut inbox_open = !inbox.is_closed() || !inbox.is_empty();
        loop {
            if let Some(out) = self.host.pop_output() {
                return Next::Output(out);
            }
            if !inbox_open && self.host.is_done() {
                return Next::Closed;
            }
            let deadline = self.host.deadline();
            let far = std::time::Instant::now() + std::time::Duration::from_secs(86_400 * 365);
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline.unwrap_or(far)));
            tokio::select! {
                message = inbox.recv(), if inbox_open => match message {
                    Some(message) => return Next::Message(message),
                    None => inbox_open = false,
                },
                Some(event) = self.rx.recv() => self.deliver(event),
                () = sleep, if deadline.is_some() => self.host.timer_fired(|io| self.net.perform(io)),
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

    /// Gives the machine back, closing every connection.
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
                    return; // the machine gave up on it; dropping the stream closes it
                }
                let (reader, writer) = stream.into_split();
                let task = tokio::spawn(read_loop(conn, reader, self.net.tx.clone()));
                let (queue, queued) = unbounded_channel();
                tokio::spawn(write_loop(conn, writer, queued, self.net.tx.clone()));
                self.net.conns.insert(conn, Live { writer: queue, _reader: TaskGuard(task.abort_handle()) });
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
                let task = tokio::spawn(async move {
                    let _ = tx.send(connect(conn, host, port).await);
                });
                self.connecting.insert(conn, TaskGuard(task.abort_handle()));
            }
            Io::Send { conn, bytes } => {
                if let Some(live) = self.conns.get(&conn) {
                    let _ = live.writer.send(bytes);
                }
            }
            Io::Close { conn } => {
                self.connecting.remove(&conn);
                // The writer writes what was queued, then shuts down; the guard ends the reader.
                self.conns.remove(&conn);
            }
            Io::WakeAt(_) => {} // kept by the host
        }
    }
}

async fn connect(conn: ConnId, host: String, port: u16) -> NetEvent {
    let addrs = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(addrs) => addrs.collect::<Vec<_>>(),
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

/// Writes what the machine queued for one connection, in order; a write error closes it.
async fn write_loop(
    conn: ConnId,
    mut writer: OwnedWriteHalf,
    mut queued: UnboundedReceiver<Vec<u8>>,
    tx: UnboundedSender<NetEvent>,
) {
    while let Some(bytes) = queued.recv().await {
        if writer.write_all(&bytes).await.is_err() {
            let _ = tx.send(NetEvent::Closed(conn));
            return;
        }
    }
    let _ = writer.shutdown().await;
}

async fn read_loop(conn: ConnId, mut reader: OwnedReadHalf, tx: UnboundedSender<NetEvent>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => {
                let _ = tx.send(NetEvent::Closed(conn));
                return;
            }
            Ok(n) => {
                if tx.send(NetEvent::Data(conn, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
}
