//! Scenario tests of the exchange machine in the in-memory harness (no sockets).

use std::time::Duration;

use super::*;
use crate::harness::{After, ConnectBehaviour, Pair, Reply, TestPki, collect, scenario_responder};
use crate::http::sse::{SseItem, SseSplitter};
use crate::http::ResponseLimits;
use crate::io::UnixTime;
use crate::tls::TlsError;

fn web_pki(pki: &TestPki) -> ChannelTrust {
    ChannelTrust::WebPki { extra_roots: vec![pki.ca_cert.clone()] }
}

fn pair_with(pki: &TestPki, trust: ChannelTrust) -> Pair {
    let client = HttpsExchange::new(1, ChannelConfig::new("localhost", 443, trust));
    Pair::new(client, pki.server_config(), scenario_responder())
}

fn run(pair: &mut Pair, requests: &[Request]) -> (Vec<crate::harness::Collected>, Option<ExchangeError>) {
    for r in requests {
        pair.client.submit(r, pair.now).expect("valid request");
    }
    pair.run(100_000);
    collect(&pair.outputs)
}

#[test]
fn fixed_response_over_web_pki_reports_peer_spki() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, web_pki(&pki));
    let (responses, err) = run(&mut pair, &[Request::get("/fixed")]);
    assert_eq!(err, None);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].head.status, 200);
    assert_eq!(responses[0].body, br#"{"object":"fixed","ok":true}"#);
    assert!(responses[0].complete);
    assert_eq!(responses[0].peer_spki, pki.server_spki);
    assert!(pair.client.is_done());
}

#[test]
fn chunked_response_is_decoded() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, web_pki(&pki));
    let (responses, err) = run(&mut pair, &[Request::get("/chunked")]);
    assert_eq!(err, None);
    let expected: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(responses[0].body, expected);
}

#[test]
fn sse_stream_of_a_thousand_events_arrives_in_order() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, web_pki(&pki));
    pair.read_sizes = vec![1, 7, 300, 4096];
    let (responses, err) = run(&mut pair, &[Request::get("/sse?n=1000")]);
    assert_eq!(err, None);
    assert!(responses[0].head.is_event_stream());
    let mut splitter = SseSplitter::new(64 * 1024);
    let mut items = Vec::new();
    splitter.push(&responses[0].body, &mut items).unwrap();
    splitter.finish().unwrap();
    assert_eq!(items.len(), 1001);
    assert_eq!(items[1000], SseItem::Done);
    for (i, item) in items[..1000].iter().enumerate() {
        let SseItem::Event(e) = item else { panic!("event {i} missing") };
        assert!(e.data.starts_with(&format!(r#"{{"id":{i},"#)), "{}", e.data);
    }
}

#[test]
fn body_pieces_stream_before_the_response_ends() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, web_pki(&pki));
    pair.read_sizes = vec![2048];
    pair.client.submit(&Request::get("/chunked"), pair.now).unwrap();
    pair.drain();
    // Step until the head has been seen, then check a body piece comes before End.
    while !pair.outputs.iter().any(|o| matches!(o, ExchangeOutput::Body { .. })) {
        assert!(pair.step(), "stalled before any body byte");
    }
    assert!(!pair.outputs.iter().any(|o| matches!(o, ExchangeOutput::End { .. })));
}

#[test]
fn sequential_requests_reuse_one_kept_alive_connection() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, ChannelTrust::SpkiPin(pki.server_spki));
    let (responses, err) = run(&mut pair, &[Request::get("/fixed"), Request::post("/echo", b"second".to_vec())]);
    assert_eq!(err, None);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[1].body, b"second");
    assert_eq!(pair.connections_opened(), 1);
    // A third request after the first two finished still uses the same connection.
    let (responses, _) = run(&mut pair, &[Request::get("/fixed")]);
    assert_eq!(responses.len(), 3);
    assert_eq!(pair.connections_opened(), 1);
    assert!(pair.client.has_idle_connection());
}

#[test]
fn close_delimited_body_then_reconnect() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, web_pki(&pki));
    let (responses, err) = run(&mut pair, &[Request::get("/close"), Request::get("/fixed")]);
    assert_eq!(err, None);
    assert_eq!(responses[0].body, b"body until close");
    assert!(responses[1].complete);
    assert_eq!(pair.connections_opened(), 2);
}

#[test]
fn wrong_pin_fails_before_any_request_byte_is_sent() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, ChannelTrust::SpkiPin(SpkiHash([7; 32])));
    let (responses, err) = run(&mut pair, &[Request::post("/echo", b"secret prompt".to_vec())]);
    assert!(responses.is_empty());
    match err {
        Some(ExchangeError::PinMismatch(m)) => {
            assert_eq!(m.expected, SpkiHash([7; 32]));
            assert_eq!(m.got, pki.server_spki);
        }
        other => panic!("expected a pin mismatch, got {other:?}"),
    }
    let server = pair.servers().next().expect("one connection");
    assert_eq!(server.plaintext_received(), 0);
    assert!(server.requests().is_empty());
    assert!(pair.client.has_failed());
    assert_eq!(pair.client.submit(&Request::get("/fixed"), pair.now), Err(SubmitError::ChannelFailed));
}

#[test]
fn web_pki_rejects_an_unknown_ca_and_the_default_roots() {
    let pki = TestPki::generate();
    let other = TestPki::generate();
    for trust in [web_pki(&other), ChannelTrust::web_pki()] {
        let mut pair = pair_with(&pki, trust);
        let (responses, err) = run(&mut pair, &[Request::get("/fixed")]);
        assert!(responses.is_empty());
        assert!(matches!(err, Some(ExchangeError::Tls(TlsError::Certificate(_)))), "{err:?}");
        assert_eq!(pair.servers().next().unwrap().plaintext_received(), 0);
    }
}

#[test]
fn certificate_validity_uses_the_injected_wall_clock() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, web_pki(&pki));
    // rcgen certificates are valid until 4096; move the simulated wall clock past that.
    pair.now.wall = UnixTime::since_unix_epoch(Duration::from_secs(95_000_000_000));
    let (_, err) = run(&mut pair, &[Request::get("/fixed")]);
    let Some(ExchangeError::Tls(TlsError::Certificate(e))) = err else { panic!("{err:?}") };
    assert!(e.to_string().contains("expired"), "{e}");
}

#[test]
fn refused_connection_is_a_typed_error() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, web_pki(&pki));
    pair.connect = ConnectBehaviour::Fail(ConnectError::Refused);
    let (_, err) = run(&mut pair, &[Request::get("/fixed")]);
    assert_eq!(
        err,
        Some(ExchangeError::Connect { host: "localhost".into(), port: 443, error: ConnectError::Refused })
    );
}

#[test]
fn connect_timeout_fires_at_the_configured_deadline() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, web_pki(&pki));
    pair.connect = ConnectBehaviour::Hang;
    let (_, err) = run(&mut pair, &[Request::get("/fixed")]);
    assert_eq!(err, Some(ExchangeError::Timeout { kind: TimeoutKind::Connect, after: Duration::from_secs(10) }));
    assert_eq!(pair.now.mono.elapsed_since_origin(), Duration::from_secs(10));
}

#[test]
fn server_stalling_mid_headers_hits_the_response_timeout() {
    let pki = TestPki::generate();
    let mut config = ChannelConfig::new("localhost", 443, web_pki(&pki));
    config.timeouts.idle = Duration::from_secs(3);
    let mut pair = Pair::new(HttpsExchange::new(1, config), pki.server_config(), scenario_responder());
    let (_, err) = run(&mut pair, &[Request::get("/stall-head")]);
    assert_eq!(err, Some(ExchangeError::Timeout { kind: TimeoutKind::Response, after: Duration::from_secs(3) }));
    assert_eq!(pair.now.mono.elapsed_since_origin(), Duration::from_secs(3));
}

#[test]
fn oversized_head_is_rejected_by_the_per_request_limit() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, web_pki(&pki));
    let (_, err) = run(&mut pair, &[Request::get("/huge-head")]);
    assert_eq!(err, Some(ExchangeError::Http(HttpError::TooManyHeaders { limit: 128 })));

    let mut pair = pair_with(&pki, web_pki(&pki));
    let limits = ResponseLimits { max_headers: 10_000, ..ResponseLimits::default() };
    let (_, err) = run(&mut pair, &[Request::get("/huge-head").limits(limits)]);
    assert_eq!(err, Some(ExchangeError::Http(HttpError::HeadTooLarge { limit: 64 * 1024 })));

    let mut pair = pair_with(&pki, web_pki(&pki));
    let limits = ResponseLimits { max_body_bytes: 1000, ..ResponseLimits::default() };
    let (_, err) = run(&mut pair, &[Request::get("/chunked").limits(limits)]);
    assert_eq!(err, Some(ExchangeError::Http(HttpError::BodyTooLarge { limit: 1000 })));
}

#[test]
fn abrupt_close_mid_body_is_truncation_and_unclean_close_of_close_delimited_body_fails() {
    let pki = TestPki::generate();
    let responder: crate::harness::Responder = std::sync::Arc::new(|req: &crate::harness::ReceivedRequest| {
        if req.target == "/cut" {
            Reply { bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part".to_vec(), then: After::CloseAbruptly }
        } else {
            Reply { bytes: b"HTTP/1.1 200 OK\r\n\r\nno close_notify".to_vec(), then: After::CloseAbruptly }
        }
    });
    let client = HttpsExchange::new(1, ChannelConfig::new("localhost", 443, web_pki(&pki)));
    let mut pair = Pair::new(client, pki.server_config(), responder.clone());
    let (responses, err) = run(&mut pair, &[Request::get("/cut")]);
    assert_eq!(err, Some(ExchangeError::Http(HttpError::Truncated("inside the body"))));
    assert!(!responses[0].complete);

    let client = HttpsExchange::new(1, ChannelConfig::new("localhost", 443, web_pki(&pki)));
    let mut pair = Pair::new(client, pki.server_config(), responder);
    let (responses, err) = run(&mut pair, &[Request::get("/until-close")]);
    assert_eq!(err, Some(ExchangeError::Tls(TlsError::UncleanClose)));
    assert!(!responses[0].complete);
}

#[test]
fn invalid_request_is_refused_at_submit_without_harming_the_channel() {
    let pki = TestPki::generate();
    let mut pair = pair_with(&pki, web_pki(&pki));
    let bad = Request::get("/x").header("X-Bad", "a\nb");
    assert!(matches!(pair.client.submit(&bad, pair.now), Err(SubmitError::Invalid(_))));
    let (responses, err) = run(&mut pair, &[Request::get("/fixed")]);
    assert_eq!((responses.len(), err), (1, None));
}
