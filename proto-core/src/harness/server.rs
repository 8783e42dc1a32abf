//! The server side used by tests: a generated PKI, and a sans-IO rustls server session that
//! answers HTTP requests with scripted replies. The same session runs in memory (the pair) and
//! over loopback sockets (the runtime tests).

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};
use std::io::{Read, Write};

use crate::tls::{SpkiHash, spki_sha256};

/// A throw-away certificate authority and a server certificate it issued for `localhost`
/// and `127.0.0.1`. Generated fresh by each test; trusted by nothing else.
pub struct TestPki {
    /// The CA certificate (DER), to add as an extra web PKI root.
    pub ca_cert: CertificateDer<'static>,
    /// The server's leaf certificate followed by the CA certificate.
    pub server_chain: Vec<CertificateDer<'static>>,
    server_key_der: Vec<u8>,
    /// SPKI hash of the server's leaf certificate: the right pin.
    pub server_spki: SpkiHash,
}

impl TestPki {
    /// Generates a CA and a server certificate (ECDSA P-256).
    pub fn generate() -> Self {
        Self::generate_for(&["localhost", "127.0.0.1"])
    }

    /// Generates a CA and a server certificate valid for every name in `names` (simulations
    /// serve several provider host names from one loopback server).
    pub fn generate_for(names: &[&str]) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("generate CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "teep test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-sign CA");

        let leaf_key = rcgen::KeyPair::generate().expect("generate leaf key");
        let leaf_params =
            rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).expect("leaf params");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("sign leaf");

        let ca_cert = ca.der().clone();
        let leaf_cert = leaf.der().clone();
        let server_spki = spki_sha256(&leaf_cert).expect("generated certificate parses");
        Self {
            ca_cert: ca_cert.clone(),
            server_chain: vec![leaf_cert, ca_cert],
            server_key_der: leaf_key.serialize_der(),
            server_spki,
        }
    }

    /// A rustls server configuration presenting the server certificate.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), key)
            .expect("server certificate");
        Arc::new(config)
    }
}

/// A request as the test server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// Method token.
    pub method: String,
    /// Request target.
    pub target: String,
    /// Header fields.
    pub headers: Vec<(String, String)>,
    /// Body (Content-Length framed).
    pub body: Vec<u8>,
}

/// What the server does after writing a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Keep the connection open for more requests.
    KeepOpen,
    /// Send close_notify, then close the transport.
    Close,
    /// Close the transport without close_notify.
    CloseAbruptly,
    /// Never write or read anything again (a stalled server).
    Stall,
}

/// Raw bytes to write in answer to a request, and what to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The complete raw HTTP response (or a deliberately partial one).
    pub bytes: Vec<u8>,
    /// What follows.
    pub then: After,
}

impl Reply {
    /// A response with a Content-Length body.
    pub fn fixed(status: u16, content_type: &str, body: &[u8]) -> Self {
        let mut bytes = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            reason(status),
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        Reply { bytes, then: After::KeepOpen }
    }

    /// A response with the given header fields and a Content-Length body; a caller's own
    /// `Content-Length` or `Transfer-Encoding` is replaced, and a field whose value holds a
    /// line break is left out (it could not be framed).
    pub fn with_headers(status: u16, headers: &[(String, String)], body: &[u8]) -> Self {
        let mut bytes = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
        for (name, value) in headers {
            let framing = name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding");
            if !framing && !value.contains(['\r', '\n']) {
                bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
        }
        bytes.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        bytes.extend_from_slice(body);
        Reply { bytes, then: After::KeepOpen }
    }

    /// A chunked response, cut into chunks of `chunk` bytes.
    pub fn chunked(status: u16, content_type: &str, body: &[u8], chunk: usize) -> Self {
        let mut bytes = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n",
            reason(status)
        )
        .into_bytes();
        for piece in body.chunks(chunk.max(1)) {
            bytes.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            bytes.extend_from_slice(piece);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        Reply { bytes, then: After::KeepOpen }
    }

    /// A chunked `text/event-stream` with one `data:` event per item, then `data: [DONE]`.
    pub fn sse(events: &[String]) -> Self {
        let mut body = Vec::new();
        for e in events {
            body.extend_from_slice(format!("data: {e}\n\n").as_bytes());
        }
        body.extend_from_slice(b"data: [DONE]\n\n");
        Self::chunked(200, "text/event-stream", &body, 257)
    }

    /// Replaces what follows the reply.
    pub fn then(mut self, then: After) -> Self {
        self.then = then;
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// Answers requests. Shared by every connection of a test server.
pub type Responder = Arc<dyn Fn(&ReceivedRequest) -> Reply + Send + Sync>;

/// The scripted routes every runtime test uses: `/fixed`, `/chunked`, `/sse?n=N`, `/echo`,
/// `/close` (close-delimited body), `/stall-head`, `/huge-head`; anything else is a 404.
pub fn scenario_responder() -> Responder {
    Arc::new(|req: &ReceivedRequest| {
        let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
        match path {
            "/fixed" => Reply::fixed(200, "application/json", br#"{"object":"fixed","ok":true}"#),
            "/chunked" => {
                let body: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
                Reply::chunked(200, "application/octet-stream", &body, 999)
            }
            "/sse" => {
                let n: usize = query.strip_prefix("n=").and_then(|n| n.parse().ok()).unwrap_or(10);
                let events: Vec<String> =
                    (0..n).map(|i| format!(r#"{{"id":{i},"choices":[{{"delta":{{"content":"tok{i} "}}}}]}}"#)).collect();
                Reply::sse(&events)
            }
            "/echo" => Reply::fixed(200, "application/octet-stream", &req.body),
            "/close" => Reply {
                bytes: b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close".to_vec(),
                then: After::Close,
            },
            "/stall-head" => Reply { bytes: b"HTTP/1.1 200 OK\r\nContent-Ty".to_vec(), then: After::Stall },
            "/huge-head" => {
                let mut bytes = b"HTTP/1.1 200 OK\r\n".to_vec();
                for i in 0..4096 {
                    bytes.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "f".repeat(40)).as_bytes());
                }
                bytes.extend_from_slice(b"Content-Length: 0\r\n\r\n");
                Reply { bytes, then: After::KeepOpen }
            }
            _ => Reply::fixed(404, "text/plain", b"not found"),
        }
    })
}

/// A TLS server connection that parses requests and writes scripted replies. Sans-IO: the
/// owner moves bytes in with [`ServerSession::receive`] and out with
/// [`ServerSession::take_outgoing`].
pub struct ServerSession {
    tls: ServerConnection,
    responder: Responder,
    inbox: Vec<u8>,
    plaintext_received: usize,
    requests: Vec<ReceivedRequest>,
    after: After,
    failed: Option<rustls::Error>,
}

/// Largest request head or body the test server accepts.
const MAX_REQUEST: usize = 1 << 20;

impl ServerSession {
    /// A fresh session with the given configuration and responder.
    pub fn new(config: Arc<ServerConfig>, responder: Responder) -> Self {
        let mut tls = ServerConnection::new(config).expect("server connection");
        tls.set_buffer_limit(None);
        Self {
            tls,
            responder,
            inbox: Vec::new(),
            plaintext_received: 0,
            requests: Vec::new(),
            after: After::KeepOpen,
            failed: None,
        }
    }

    /// Application bytes the server has decrypted so far (zero if the handshake never completed).
    pub fn plaintext_received(&self) -> usize {
        self.plaintext_received
    }

    /// The requests answered so far.
    pub fn requests(&self) -> &[ReceivedRequest] {
        &self.requests
    }

    /// The TLS error that ended this session, if any (for example the client's alert).
    pub fn failure(&self) -> Option<&rustls::Error> {
        self.failed.as_ref()
    }

    /// What the server will do now: keep going, close, or stall.
    pub fn after(&self) -> After {
        self.after
    }

    /// True if this session will never read or write again.
    pub fn is_finished(&self) -> bool {
        self.failed.is_some() || self.after != After::KeepOpen
    }

    /// Feeds ciphertext from the client.
    pub fn receive(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.is_finished() {
            if self.tls.read_tls(&mut bytes).is_err() {
                self.failed = Some(rustls::Error::General("read_tls".into()));
                return;
            }
            if let Err(e) = self.tls.process_new_packets() {
                self.failed = Some(e);
                return;
            }
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = self.tls.reader().read(&mut buf) {
                if n == 0 {
                    break;
                }
                self.plaintext_received += n;
                self.inbox.extend_from_slice(&buf[..n]);
            }
            self.answer_complete_requests();
        }
    }

    fn answer_complete_requests(&mut self) {
        while self.after == After::KeepOpen {
            let Some((req, used)) = parse_request(&self.inbox) else {
                if self.inbox.len() > MAX_REQUEST {
                    self.failed = Some(rustls::Error::General("request too large".into()));
                }
                return;
            };
            self.inbox.drain(..used);
            let reply = (self.responder)(&req);
            self.requests.push(req);
            let _ = self.tls.writer().write_all(&reply.bytes);
            self.after = reply.then;
            if reply.then == After::Close {
                self.tls.send_close_notify();
            }
        }
    }

    /// Ciphertext to send to the client, if any.
    pub fn take_outgoing(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        while self.tls.wants_write() {
            if self.tls.write_tls(&mut out).is_err() {
                break;
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

fn parse_request(inbox: &[u8]) -> Option<(ReceivedRequest, usize)> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut fields);
    let head_len = match req.parse(inbox) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if inbox.len() < head_len + length || length > MAX_REQUEST {
        return None;
    }
    let parsed = ReceivedRequest {
        method: req.method.unwrap_or("").to_owned(),
        target: req.path.unwrap_or("").to_owned(),
        headers,
        body: inbox[head_len..head_len + length].to_vec(),
    };
    Some((parsed, head_len + length))
}
