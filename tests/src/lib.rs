//! Support for the cross-crate integration tests: a loopback HTTPS test server (its own CA,
//! generated at test time, serving scripted replies through proto-core's test server session)
//! and one function that runs a machine on any of the three runtimes.

#![forbid(unsafe_code)]

pub mod capture_server;
pub mod captures;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use proto_core::exchange::{ExchangeOutput, HttpsExchange};
use proto_core::harness::{After, ReceivedRequest, Responder, ServerSession, TestPki};
use proto_core::http::Request;

/// The three ways to drive a machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// `runtime-blocking`, on the calling thread.
    Blocking,
    /// `runtime-smol`, inside `smol::block_on`.
    Smol,
    /// `runtime-tokio`, on a current-thread tokio runtime.
    Tokio,
}

/// Every runtime, for tests that must agree across them.
pub const RUNTIMES: [Runtime; 3] = [Runtime::Blocking, Runtime::Smol, Runtime::Tokio];

/// Submits `requests` to `exchange` and runs it to completion on `runtime`.
pub fn run_exchange(runtime: Runtime, exchange: HttpsExchange, requests: &[Request]) -> Vec<ExchangeOutput> {
    match runtime {
        Runtime::Blocking => {
            let mut driver = runtime_blocking::Driver::new(exchange);
            for r in requests {
                driver.apply(|m, now| m.submit(r, now)).expect("valid request");
            }
            driver.run_to_completion()
        }
        Runtime::Smol => smol::block_on(async {
            let mut driver = runtime_smol::Driver::new(exchange);
            for r in requests {
                driver.apply(|m, now| m.submit(r, now)).expect("valid request");
            }
            driver.run_to_completion().await
        }),
        Runtime::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            rt.block_on(async {
                let mut driver = runtime_tokio::Driver::new(exchange);
                for r in requests {
                    driver.apply(|m, now| m.submit(r, now)).expect("valid request");
                }
                driver.run_to_completion().await
            })
        }
    }
}

/// What the test server saw on one connection.
#[derive(Clone, Debug, Default)]
pub struct ConnectionLog {
    /// Decrypted application bytes received (zero if the handshake never completed).
    pub plaintext_received: usize,
    /// Requests answered.
    pub requests: Vec<ReceivedRequest>,
    /// True once the connection has ended on the server side.
    pub ended: bool,
}

/// An HTTPS server on 127.0.0.1 with a fresh test CA, answering with a [`Responder`].
pub struct LoopbackServer {
    /// The port it listens on.
    pub port: u16,
    log: Arc<Mutex<Vec<ConnectionLog>>>,
}

impl LoopbackServer {
    /// Starts listening on an ephemeral loopback port.
    pub fn start(pki: &TestPki, responder: Responder) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let config = pki.server_config();
        let accept_log = log.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let index = {
                    let mut log = accept_log.lock().expect("log");
                    log.push(ConnectionLog::default());
                    log.len() - 1
                };
                let session = ServerSession::new(config.clone(), responder.clone());
                let log = accept_log.clone();
                thread::spawn(move || serve(stream, session, &log, index));
            }
        });
        Self { port, log }
    }

    /// What each connection saw so far, in accept order.
    pub fn connections(&self) -> Vec<ConnectionLog> {
        self.log.lock().expect("log").clone()
    }

    /// Waits (up to 10 s) until every accepted connection has ended, then returns the logs.
    pub fn settled_connections(&self) -> Vec<ConnectionLog> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.connections();
            if logs.iter().all(|c| c.ended) || Instant::now() > deadline {
                return logs;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn serve(mut stream: TcpStream, mut session: ServerSession, log: &Mutex<Vec<ConnectionLog>>, index: usize) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if session.after() == After::Stall {
            continue; // swallow input, never answer
        }
        session.receive(&buf[..n]);
        // Log before answering, so a client that has its answer always finds its request here.
        {
            let mut log = log.lock().expect("log");
            log[index].plaintext_received = session.plaintext_received();
            log[index].requests = session.requests().to_vec();
        }
        if let Some(out) = session.take_outgoing() {
            if stream.write_all(&out).is_err() {
                break;
            }
        }
        match session.after() {
            After::Close => {
                let _ = stream.shutdown(Shutdown::Write);
            }
            After::CloseAbruptly => break,
            After::KeepOpen | After::Stall => {}
        }
        if session.failure().is_some() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    let mut log = log.lock().expect("log");
    log[index].plaintext_received = session.plaintext_received();
    log[index].requests = session.requests().to_vec();
    log[index].ended = true;
}

/// Starts a live verification and runs it to completion on `runtime`; returns its outputs and
/// the machine (for its recording).
pub fn run_live(
    runtime: Runtime,
    machine: proto_core::verify::LiveVerification,
) -> (Vec<proto_core::verify::LiveOutput>, proto_core::verify::LiveVerification) {
    match runtime {
        Runtime::Blocking => {
            let mut driver = runtime_blocking::Driver::new(machine);
            driver.apply(|m, now| m.start(now));
            let out = driver.run_to_completion();
            (out, driver.into_machine())
        }
        Runtime::Smol => smol::block_on(async {
            let mut driver = runtime_smol::Driver::new(machine);
            driver.apply(|m, now| m.start(now));
            let out = driver.run_to_completion().await;
            (out, driver.into_machine())
        }),
        Runtime::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            rt.block_on(async {
                let mut driver = runtime_tokio::Driver::new(machine);
                driver.apply(|m, now| m.start(now));
                let out = driver.run_to_completion().await;
                (out, driver.into_machine())
            })
        }
    }
}
