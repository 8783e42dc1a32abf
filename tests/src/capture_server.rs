//! Serving a recorded capture over loopback HTTPS: every host the capture talks to is served
//! by one test server whose certificate names them all, answering each request with the
//! recorded exchange that replay would pick. Live code paths (sockets, TLS, HTTP, the fetch
//! client) then run against real provider data.

use std::sync::{Arc, Mutex};

use proto_core::capture::Capture;
use proto_core::fetch::client::FetchClientConfig;
use proto_core::fetch::{FetchId, FetchMethod, FetchRequest};
use proto_core::harness::{Reply, Responder, TestPki};
use proto_core::replay::ReplaySource;

use crate::LoopbackServer;

/// A loopback server answering from a capture, and the client configuration that reaches it.
pub struct CaptureServer {
    /// The server (its connection log counts what it received).
    pub server: LoopbackServer,
    /// Trusts the server's test CA and routes every recorded host to it.
    pub client: FetchClientConfig,
}

/// The host names (without port) a capture's exchanges talk to, sorted and unique.
pub fn capture_hosts(capture: &Capture) -> Vec<String> {
    let mut hosts: Vec<String> = capture
        .exchanges
        .iter()
        .filter_map(|e| e.meta.url.strip_prefix("https://"))
        .map(|rest| rest.split(['/', '?', ':']).next().unwrap_or_default().to_owned())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// A test PKI whose server certificate names every host of `capture`.
pub fn capture_pki(capture: &Capture) -> TestPki {
    let hosts = capture_hosts(capture);
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    TestPki::generate_for(&names)
}

/// Starts a server for `capture` with a fresh PKI.
pub fn serve_capture(capture: &Capture) -> CaptureServer {
    serve_capture_with(capture, &capture_pki(capture))
}

/// Starts a server for `capture` presenting `pki`'s certificate (runs that must see the same
/// server key share one PKI).
pub fn serve_capture_with(capture: &Capture, pki: &TestPki) -> CaptureServer {
    let hosts = capture_hosts(capture);
    let server = LoopbackServer::start(pki, responder(capture.clone()));
    let mut client = FetchClientConfig { extra_roots: vec![pki.ca_cert.clone()], ..FetchClientConfig::default() };
    for host in &hosts {
        client.connect_overrides.insert(format!("{host}:443"), ("127.0.0.1".to_owned(), server.port));
    }
    CaptureServer { server, client }
}

fn responder(capture: Capture) -> Responder {
    let source = Mutex::new(ReplaySource::new(capture));
    Arc::new(move |req| {
        let host = req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("host")).map(|(_, v)| v.clone()).unwrap_or_default();
        let request = FetchRequest {
            id: FetchId(0),
            method: if req.method == "POST" { FetchMethod::Post } else { FetchMethod::Get },
            url: format!("https://{host}{}", req.target),
            headers: Vec::new(),
            body: req.body.clone(),
            max_body: u64::MAX,
        };
        let answer = source.lock().expect("replay source").answer_in_sequence(&request);
        match answer {
            Ok(response) => recorded_reply(response.status, &response.headers, &response.body),
            Err(e) => Reply::fixed(599, "text/plain", e.to_string().as_bytes()),
        }
    })
}

/// The recorded response with its own headers, less those that described the recorded
/// connection or encoding (the body is stored decoded): the reply frames it anew.
fn recorded_reply(status: u16, headers: &[(String, String)], body: &[u8]) -> Reply {
    let transport = ["connection", "content-encoding", "keep-alive"];
    let kept: Vec<(String, String)> =
        headers.iter().filter(|(name, _)| !transport.iter().any(|t| name.eq_ignore_ascii_case(t))).cloned().collect();
    Reply::with_headers(status, &kept, body)
}
