//! The same HTTPS scenarios on all three runtimes, against a loopback test server.

use std::time::{Duration, Instant};

use proto_core::exchange::{ChannelConfig, ExchangeError, HttpsExchange, TimeoutKind};
use proto_core::harness::{TestPki, collect, scenario_responder};
use proto_core::http::sse::{SseItem, SseSplitter};
use proto_core::http::{HttpError, Request};
use proto_core::io::ConnectError;
use proto_core::tls::{ChannelTrust, SpkiHash, TlsError};
use teep_tests::{LoopbackServer, RUNTIMES, Runtime, run_exchange};

fn web_pki(pki: &TestPki) -> ChannelTrust {
    ChannelTrust::WebPki { extra_roots: vec![pki.ca_cert.clone()] }
}

fn scenario() -> Vec<Request> {
    vec![
        Request::get("/fixed"),
        Request::get("/chunked"),
        Request::get("/sse?n=1000").header("Accept", "text/event-stream"),
        Request::post("/echo", b"{\"second\":\"request\"}".to_vec()).header("Content-Type", "application/json"),
    ]
}

#[test]
fn scenario_is_byte_identical_on_all_runtimes() {
    let pki = TestPki::generate();
    let mut results = Vec::new();
    for runtime in RUNTIMES {
        let server = LoopbackServer::start(&pki, scenario_responder());
        let channel = ChannelConfig::new("localhost", server.port, web_pki(&pki));
        let outputs = run_exchange(runtime, HttpsExchange::new(0, channel), &scenario());
        let (responses, error) = collect(&outputs);
        assert_eq!(error, None, "{runtime:?}");
        assert_eq!(responses.len(), 4, "{runtime:?}");
        assert!(responses.iter().all(|r| r.complete && r.head.status == 200 && r.peer_spki == pki.server_spki));
        // All four requests travelled on one kept-alive connection.
        let connections = server.connections();
        assert_eq!(connections.len(), 1, "{runtime:?}");
        assert_eq!(connections[0].requests.len(), 4, "{runtime:?}");
        results.push((runtime, responses));
    }

    let (_, reference) = &results[0];
    assert_eq!(reference[0].body, br#"{"object":"fixed","ok":true}"#);
    assert_eq!(reference[1].body.len(), 60_000);
    assert_eq!(reference[1].head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reference[3].body, b"{\"second\":\"request\"}");
    let mut splitter = SseSplitter::new(64 * 1024);
    let mut items = Vec::new();
    splitter.push(&reference[2].body, &mut items).unwrap();
    splitter.finish().unwrap();
    assert_eq!(items.len(), 1001);
    assert_eq!(items.last(), Some(&SseItem::Done));

    // Peer SPKI differs per server only if the certificate does: same PKI, so everything,
    // headers and bodies, must be byte-identical across runtimes.
    for (runtime, responses) in &results[1..] {
        assert_eq!(responses, reference, "{runtime:?} differs from blocking");
    }
}

#[test]
fn spki_pin_right_succeeds_wrong_fails_before_any_request_byte() {
    let pki = TestPki::generate();
    for runtime in RUNTIMES {
        let server = LoopbackServer::start(&pki, scenario_responder());
        let right = ChannelConfig::new("127.0.0.1", server.port, ChannelTrust::SpkiPin(pki.server_spki));
        let (responses, error) = collect(&run_exchange(runtime, HttpsExchange::new(0, right), &[Request::get("/fixed")]));
        assert_eq!((responses.len(), error), (1, None), "{runtime:?}");

        let server = LoopbackServer::start(&pki, scenario_responder());
        let wrong = ChannelConfig::new("127.0.0.1", server.port, ChannelTrust::SpkiPin(SpkiHash([0x5a; 32])));
        let prompt = Request::post("/echo", b"a secret prompt".to_vec());
        let (responses, error) = collect(&run_exchange(runtime, HttpsExchange::new(0, wrong), &[prompt]));
        assert!(responses.is_empty());
        assert!(matches!(error, Some(ExchangeError::PinMismatch(m)) if m.got == pki.server_spki), "{runtime:?}: {error:?}");
        let seen = server.settled_connections();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].ended, "{runtime:?}: the client must close the connection");
        assert_eq!(seen[0].plaintext_received, 0, "{runtime:?}: request bytes reached the server");
    }
}

#[test]
fn web_pki_rejects_an_unknown_ca() {
    let pki = TestPki::generate();
    let stranger = TestPki::generate();
    for runtime in RUNTIMES {
        let server = LoopbackServer::start(&pki, scenario_responder());
        let channel = ChannelConfig::new("localhost", server.port, web_pki(&stranger));
        let (_, error) = collect(&run_exchange(runtime, HttpsExchange::new(0, channel), &[Request::get("/fixed")]));
        assert!(matches!(error, Some(ExchangeError::Tls(TlsError::Certificate(_)))), "{runtime:?}: {error:?}");
        assert_eq!(server.settled_connections()[0].plaintext_received, 0);
    }
}

fn expect_error(runtime: Runtime, channel: ChannelConfig, request: Request) -> (ExchangeError, Duration) {
    let started = Instant::now();
    let (_, error) = collect(&run_exchange(runtime, HttpsExchange::new(0, channel), &[request]));
    (error.unwrap_or_else(|| panic!("{runtime:?}: expected an error")), started.elapsed())
}

#[test]
fn refused_connection_is_a_typed_error() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for runtime in RUNTIMES {
        let channel = ChannelConfig::new("127.0.0.1", closed_port, ChannelTrust::web_pki());
        let (error, _) = expect_error(runtime, channel, Request::get("/"));
        assert_eq!(
            error,
            ExchangeError::Connect { host: "127.0.0.1".into(), port: closed_port, error: ConnectError::Refused },
            "{runtime:?}"
        );
    }
}

#[test]
fn unresolvable_host_is_a_typed_error() {
    for runtime in RUNTIMES {
        // `.invalid` never resolves (RFC 6761).
        let mut channel = ChannelConfig::new("teep-test.invalid", 443, ChannelTrust::web_pki());
        channel.timeouts.connect = Duration::from_secs(5);
        let (error, elapsed) = expect_error(runtime, channel, Request::get("/"));
        match error {
            ExchangeError::Connect { error: ConnectError::Resolve(_), .. } => {}
            // A resolver that never answers hits the connect timeout instead: still typed, still bounded.
            ExchangeError::Timeout { kind: TimeoutKind::Connect, .. } => {}
            other => panic!("{runtime:?}: {other:?}"),
        }
        assert!(elapsed < Duration::from_secs(8), "{runtime:?}: took {elapsed:?}");
    }
}

#[test]
fn server_stalling_mid_headers_times_out_within_the_configured_time() {
    let pki = TestPki::generate();
    for runtime in RUNTIMES {
        let server = LoopbackServer::start(&pki, scenario_responder());
        let mut channel = ChannelConfig::new("localhost", server.port, web_pki(&pki));
        channel.timeouts.idle = Duration::from_millis(500);
        let (error, elapsed) = expect_error(runtime, channel, Request::get("/stall-head"));
        assert_eq!(error, ExchangeError::Timeout { kind: TimeoutKind::Response, after: Duration::from_millis(500) });
        assert!(elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(5), "{runtime:?}: {elapsed:?}");
    }
}

#[test]
fn header_over_the_limit_is_a_typed_error() {
    let pki = TestPki::generate();
    for runtime in RUNTIMES {
        let server = LoopbackServer::start(&pki, scenario_responder());
        let channel = ChannelConfig::new("localhost", server.port, web_pki(&pki));
        let (error, _) = expect_error(runtime, channel, Request::get("/huge-head"));
        assert_eq!(error, ExchangeError::Http(HttpError::TooManyHeaders { limit: 128 }), "{runtime:?}");
    }
}
