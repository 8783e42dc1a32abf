//! Drives proto-core machines with `std::net` and threads, for plain synchronous code.
//!
//! No async runtime is involved. Each connection gets one reader thread that forwards what it
//! reads over a channel; the calling thread runs the machine, writes, and sleeps until the
//! next socket event or the machine's deadline. The driver contains no protocol logic: it
//! resolves and connects, copies bytes, closes, keeps one timer and reads the two clocks.
//!
//! ```no_run
//! use proto_core::exchange::{ChannelConfig, HttpsExchange};
//! use proto_core::http::Request;
//! use proto_core::tls::ChannelTrust;
//! use runtime_blocking::Driver;
//!
//! let channel = ChannelConfig::new("example.com", 443, ChannelTrust::web_pki());
//! let mut driver = Driver::new(HttpsExchange::new(0, channel));
//! driver.apply(|m, now| m.submit(&Request::get("/"), now)).expect("valid request");
//! while let Some(output) = driver.next_output() {
//!     println!("{output:?}");
//! }
//! ```
//!
//! Many attested prompts through one [`proto_core::client::Client`] (shared caches, one
//! attestation per model, Chutes nonce pool):
//!
//! ```no_run
//! use proto_core::client::{Client, ClientConfig, ClientEvent};
//! use proto_core::provider::{ProviderKind, descriptor::Endpoint};
//! use proto_core::session::Prompt;
//! use runtime_blocking::{Driver, os_rng};
//!
//! let client = Client::new(ClientConfig::default(), os_rng().expect("OS randomness"));
//! let mut driver = Driver::new(client);
//! let body = br#"{"stream":true,"messages":[{"role":"user","content":"Hello"}]}"#.to_vec();
//! let prompt = Prompt { endpoint: Endpoint::Chat, body, api_key: std::env::var("VENICE_API_KEY").ok() };
//! driver.apply(|c, now| c.submit(ProviderKind::Venice, "e2ee-qwen3-5-122b-a10b", prompt, now));
//! while let Some(output) = driver.next_output() {
//!     match output.event {
//!         ClientEvent::Body(bytes) => print!("{}", String::from_utf8_lossy(&bytes)),
//!         ClientEvent::Failed(e) => eprintln!("blocked: {e}"),
//!         _ => {}
//!     }
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod capture_fs;
pub mod host;
pub mod config_fs;
#[cfg(feature = "harness")]
pub mod loopback;
pub mod replay;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;

use proto_core::io::{ConnId, ConnectError, Event, Io, Machine, Now};

pub use host::MachineHost;

/// A ChaCha20 generator seeded from the operating system, for the machines that take an RNG
/// (`proto_core::client::Client`, `proto_core::session::PromptSession`): nonces and ephemeral
/// keys come from it.
pub fn os_rng() -> std::io::Result<rand_chacha::ChaCha20Rng> {
    use rand_core::SeedableRng;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(format!("OS randomness unavailable: {e}")))?;
    Ok(rand_chacha::ChaCha20Rng::from_seed(seed))
}

enum NetEvent {
    Connected(ConnId, TcpStream),
    ConnectFailed(ConnId, ConnectError),
    Data(ConnId, Vec<u8>),
    Closed(ConnId),
}

/// Runs one machine on the calling thread.
pub struct Driver<M: Machine> {
    host: MachineHost<M>,
    net: Net,
    rx: Receiver<NetEvent>,
}

/// The driver's sockets.
struct Net {
    conns: Sockets,
    connecting: HashSet<ConnId>,
    tx: Sender<NetEvent>,
}

impl<M: Machine> Driver<M> {
    /// Takes ownership of `machine` and drains what it already wants to do.
    pub fn new(machine: M) -> Self {
        let (tx, rx) = mpsc::channel();
        let net = Net { conns: Sockets::default(), connecting: HashSet::new(), tx };
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

    /// Calls into the machine (for example to submit a request) and drains afterwards.
    pub fn apply<T>(&mut self, call: impl FnOnce(&mut M, Now) -> T) -> T {
        self.host.apply(call, |io| self.net.perform(io))
    }

    /// The next output, blocking until there is one; `None` once the machine is done.
    pub fn next_output(&mut self) -> Option<M::Output> {
        loop {
            if let Some(out) = self.host.pop_output() {
                return Some(out);
            }
            if self.host.is_done() {
                return None;
            }
            let event = match self.host.deadline() {
                None => self.rx.recv().ok(),
                Some(deadline) => match self.rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                    Ok(event) => Some(event),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => unreachable!("the driver holds a sender"),
                },
            };
            match event {
                Some(event) => self.deliver(event),
                None => self.host.timer_fired(|io| self.net.perform(io)),
            }
        }
    }

    /// Runs until the machine is done and returns every output.
    pub fn run_to_completion(&mut self) -> Vec<M::Output> {
        std::iter::from_fn(|| self.next_output()).collect()
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
                if !self.net.connecting.remove(&conn) {
                    // The machine gave up on this connection meanwhile.
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
                let reader = stream.try_clone();
                self.net.conns.0.insert(conn, stream);
                match reader {
                    Ok(reader) => {
                        let tx = self.net.tx.clone();
                        thread::spawn(move || read_loop(conn, reader, tx));
                        self.handle(Event::Connected(conn));
                    }
                    Err(e) => self.handle(Event::ConnectFailed(conn, ConnectError::from_io(&e))),
                }
            }
            NetEvent::ConnectFailed(conn, error) => {
                if self.net.connecting.remove(&conn) {
                    self.handle(Event::ConnectFailed(conn, error));
                }
            }
            NetEvent::Data(conn, bytes) => self.handle(Event::Received(conn, &bytes)),
            NetEvent::Closed(conn) => {
                self.net.conns.0.remove(&conn);
                self.handle(Event::Closed(conn));
            }
        }
    }
}

impl Net {
    /// Carries out one socket instruction.
    fn perform(&mut self, io: Io) {
        match io {
            Io::Connect { conn, host, port } => {
                self.connecting.insert(conn);
                let tx = self.tx.clone();
                thread::spawn(move || {
                    let _ = tx.send(connect(conn, &host, port));
                });
            }
            Io::Send { conn, bytes } => {
                if let Some(stream) = self.conns.0.get_mut(&conn)
                    && stream.write_all(&bytes).is_err()
                {
                    let _ = stream.shutdown(Shutdown::Both);
                    let _ = self.tx.send(NetEvent::Closed(conn));
                }
            }
            Io::Close { conn } => {
                self.connecting.remove(&conn);
                if let Some(stream) = self.conns.0.remove(&conn) {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
            Io::WakeAt(_) => {} // kept by the host
        }
    }
}

impl<M: Machine> Iterator for Driver<M> {
    type Item = M::Output;
    fn next(&mut self) -> Option<M::Output> {
        self.next_output()
    }
}

/// Open sockets. Shutting them down on drop also ends their reader threads.
#[derive(Default)]
struct Sockets(HashMap<ConnId, TcpStream>);

impl Drop for Sockets {
    fn drop(&mut self) {
        for stream in self.0.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn connect(conn: ConnId, host: &str, port: u16) -> NetEvent {
    let addrs = match (host, port).to_socket_addrs() {
        Ok(addrs) => addrs.collect::<Vec<_>>(),
        Err(e) => return NetEvent::ConnectFailed(conn, ConnectError::Resolve(e.to_string())),
    };
    let mut last = ConnectError::Resolve(format!("{host}: no addresses"));
    for addr in addrs {
        match TcpStream::connect(addr) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return NetEvent::Connected(conn, stream);
            }
            Err(e) => last = ConnectError::from_io(&e),
        }
    }
    NetEvent::ConnectFailed(conn, last)
}

fn read_loop(conn: ConnId, mut stream: TcpStream, tx: Sender<NetEvent>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
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
