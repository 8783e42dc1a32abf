//! A loopback HTTPS server for tests, simulations and `teep demo`: a fresh test CA's
//! certificate, rustls through proto-core's sans-IO server session, one thread per connection,
//! answers from a [`Responder`]. Only with the `harness` feature; never part of a production
//! path.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use proto_core::harness::{After, ReceivedRequest, Responder, ServerSession, TestPki};

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
        if let Some(out) = session.take_outgoing()
            && stream.write_all(&out).is_err() {
                break;
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
