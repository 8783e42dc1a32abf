//! Property tests of the exchange machine in the in-memory harness: delivery sizes and spurious
//! timers never change the outcome, and a response cut short always fails cleanly.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;

use super::*;
use crate::harness::{After, Collected, Pair, ReceivedRequest, Reply, Responder, TestPki, collect, scenario_responder};
use crate::http::props::{GenFraming, GenResponse, arb_response};

/// Where this module's failing seeds are kept (cargo runs unit tests from `proto-core/`).
const REGRESSIONS: &str = "../proptest-regressions/exchange_props.txt";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// Key generation is slow: one PKI (and server configuration) for every case.
struct Fixture {
    pki: TestPki,
    server_config: Arc<rustls::ServerConfig>,
    reference: (Vec<Collected>, Option<ExchangeError>),
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pki = TestPki::generate();
        let server_config = pki.server_config();
        let mut fixture = Fixture { pki, server_config, reference: (Vec::new(), None) };
        let pair = run_scenario(&fixture, vec![usize::MAX], vec![false]);
        fixture.reference = collect(&pair.outputs);
        fixture
    })
}

fn client(pki: &TestPki, idle: Duration) -> HttpsExchange {
    let mut config =
        ChannelConfig::new("localhost", 443, ChannelTrust::WebPki { extra_roots: vec![pki.ca_cert.clone()] });
    config.timeouts.idle = idle;
    HttpsExchange::new(1, config)
}

/// The fixed scenario: a Content-Length body, a chunked body, a short event stream and a POST,
/// all on one kept-alive connection.
fn scenario() -> Vec<Request> {
    vec![
        Request::get("/fixed"),
        Request::get("/chunked"),
        Request::get("/sse?n=50"),
        Request::post("/echo", b"the prompt, echoed back".to_vec()),
    ]
}

fn run_scenario(fixture: &Fixture, read_sizes: Vec<usize>, spurious_timers: Vec<bool>) -> Pair {
    let client = client(&fixture.pki, Timeouts::default().idle);
    let mut pair = Pair::new(client, fixture.server_config.clone(), scenario_responder());
    pair.read_sizes = read_sizes;
    pair.spurious_timers = spurious_timers;
    for r in scenario() {
        pair.client.submit(&r, pair.now).expect("valid request");
    }
    pair.run(1_000_000);
    pair
}

/// Delivery sizes: mostly anything below 5000, sometimes tiny (byte-level splitting).
fn read_sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![1 => 1usize..16, 3 => 1usize..5000], 1..=5)
}

proptest! {
    #![proptest_config(config(256))]

    /// Read sizes and spurious timers change nothing: same responses, no error, one connection.
    #[test]
    fn read_sizes_and_spurious_timers_do_not_change_the_outcome(
        sizes in read_sizes(),
        timers in vec(any::<bool>(), 1..8),
    ) {
        let fixture = fixture();
        let (reference, reference_error) = &fixture.reference;
        prop_assert_eq!(reference_error, &None);
        prop_assert_eq!(reference.len(), scenario().len());
        prop_assert!(reference.iter().all(|r| r.complete && r.head.status == 200));

        let pair = run_scenario(fixture, sizes, timers);
        let (responses, error) = collect(&pair.outputs);
        prop_assert_eq!(error, None);
        prop_assert_eq!(&responses, reference);
        prop_assert_eq!(pair.connections_opened(), 1);
        prop_assert!(pair.client.is_done());
        prop_assert!(pair.client.has_idle_connection());
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// A valid response cut at any point, then an abrupt close or a stall, ends in exactly one
    /// `Failed` (truncation, unclean close or response timeout), never in a complete response.
    #[test]
    fn truncated_response_fails_cleanly(
        r in arb_response(false),
        cut in any::<Index>(),
        stall in any::<bool>(),
        sizes in read_sizes(),
        timers in vec(any::<bool>(), 1..8),
    ) {
        let fixture = fixture();
        let len = cut.index(r.bytes.len());
        let then = if stall { After::Stall } else { After::CloseAbruptly };
        let prefix = r.bytes[..len].to_vec();
        let responder: Responder = Arc::new(move |_: &ReceivedRequest| Reply { bytes: prefix.clone(), then });
        let idle = Duration::from_secs(7);
        let mut pair = Pair::new(client(&fixture.pki, idle), fixture.server_config.clone(), responder);
        pair.read_sizes = sizes;
        pair.spurious_timers = timers;
        pair.client.submit(&Request::get("/cut"), pair.now).expect("valid request");
        pair.run(1_000_000);

        check_truncated_run(&pair, &r, len, stall, idle)?;
    }
}

fn check_truncated_run(
    pair: &Pair,
    r: &GenResponse,
    len: usize,
    stall: bool,
    idle: Duration,
) -> Result<(), TestCaseError> {
    let failures = pair.outputs.iter().filter(|o| matches!(o, ExchangeOutput::Failed(_))).count();
    prop_assert_eq!(failures, 1, "outputs: {:?}", pair.outputs);
    let failed_last = matches!(pair.outputs.last(), Some(ExchangeOutput::Failed(_)));
    prop_assert!(failed_last, "Failed is not the last output");
    let ended = pair.outputs.iter().any(|o| matches!(o, ExchangeOutput::End { .. }));
    prop_assert!(!ended, "a truncated response ended: {:?}", pair.outputs);
    prop_assert!(pair.client.has_failed());
    prop_assert!(pair.client.is_done());

    let (responses, error) = collect(&pair.outputs);
    let head_seen = len >= r.head_end;
    prop_assert_eq!(responses.len(), usize::from(head_seen));
    if let Some(response) = responses.first() {
        prop_assert_eq!(&response.head, &r.head);
        prop_assert_eq!(response.peer_spki, fixture().pki.server_spki);
        prop_assert!(r.body.starts_with(&response.body), "body is not a prefix of the response's body");
        prop_assert!(!response.complete);
    }

    let error = error.expect("one Failed output");
    if stall {
        prop_assert_eq!(error, ExchangeError::Timeout { kind: TimeoutKind::Response, after: idle });
        prop_assert_eq!(pair.now.mono.elapsed_since_origin(), idle);
    } else if r.framing == GenFraming::UntilClose && head_seen {
        // The head is complete and the body runs until close: only the missing close_notify
        // shows the body may have been cut.
        prop_assert_eq!(error, ExchangeError::Tls(TlsError::UncleanClose));
    } else {
        prop_assert!(matches!(error, ExchangeError::Http(HttpError::Truncated(_))), "{:?}", error);
    }
    Ok(())
}
