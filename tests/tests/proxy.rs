//! `teep serve` end to end: the proxy (`runtime_tokio::proxy`) on a loopback port in front of
//! the simulated providers, spoken to over plain HTTP/1.1 as an OpenAI client would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use proto_core::client::ClientConfig;
use proto_core::http::{ResponseEvent, ResponseHead, ResponseLimits, ResponseParser};
use proto_core::provider::ProviderKind;
use proto_core::sim::{Misbehaviour, SimWorld, chat};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use runtime_tokio::proxy::{ProxyConfig, ServeError, serve};
use serde_json::Value;
use teep_tests::sim_server::{SimServer, serve_sim, sim_pki, sim_world};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const SEED: [u8; 32] = [0x2a; 32];

/// A proxy serving every provider, on its own runtime thread, in front of a simulated world.
struct Proxy {
    addr: SocketAddr,
    sim: SimServer,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(configure: impl FnOnce(SimWorld) -> SimWorld) -> Self {
        Self::start_routed(configure, |_| {})
    }

    /// As [`Proxy::start`], with the client's routes adjusted by `route`.
    fn start_routed(configure: impl FnOnce(SimWorld) -> SimWorld, route: impl FnOnce(&mut proto_core::fetch::client::FetchClientConfig)) -> Self {
        let pki = sim_pki();
        let world = configure(sim_world(SEED, &pki));
        let (wall, verify) = (world.now(), ProviderKind::ALL.iter().map(|p| (*p, world.verify_config(*p))).collect());
        let mut sim = serve_sim(Arc::new(Mutex::new(world)), &pki);
        route(&mut sim.client);
        let providers: BTreeMap<ProviderKind, String> =
            ProviderKind::ALL.iter().map(|p| (*p, format!("key-{}", p.name()))).collect();
        let config = ProxyConfig {
            client: ClientConfig { fetch: sim.client.clone(), verify, pinned_wall_time: Some(wall) },
            providers,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, addr) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready.send(listener.local_addr().unwrap()).unwrap();
                serve(listener, config, ChaCha20Rng::seed_from_u64(1), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr.recv().unwrap();
        Proxy { addr, sim, stop: Some(stop), thread: Some(thread) }
    }

    /// One request, `Connection: close`; the whole decoded response.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (ResponseHead, Vec<u8>) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
            let body = body.map(|b| b.to_string()).unwrap_or_default();
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.unwrap();
            let mut parser = ResponseParser::new(ResponseLimits::default(), method == "HEAD");
            let mut events = Vec::new();
            parser.feed(&raw, &mut events).unwrap();
            parser.finish(&mut events).unwrap();
            let mut head = None;
            let mut decoded = Vec::new();
            for event in events {
                match event {
                    ResponseEvent::Head(h) => head = Some(h),
                    ResponseEvent::Body(b) => decoded.extend(b),
                    ResponseEvent::End { .. } => {}
                }
            }
            (head.expect("a response head"), decoded)
        })
    }

    fn chat(&self, model: &str, stream: bool) -> (ResponseHead, Vec<u8>) {
        let body = serde_json::json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
        self.call("POST", "/v1/chat/completions", Some(&body))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn model(provider: ProviderKind) -> String {
    format!("{}:{}", provider.name(), SimWorld::model(provider))
}

/// The assistant text of an SSE answer.
fn streamed_text(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v.pointer("/choices/0/delta/content").and_then(|c| c.as_str()).map(str::to_owned))
        .collect()
}

#[test]
fn streaming_chat_through_the_proxy_for_every_provider() {
    let proxy = Proxy::start(|w| w.with_chutes_fleet(1, 8));
    for provider in ProviderKind::ALL {
        for _ in 0..2 {
            let (head, body) = proxy.chat(&model(provider), true);
            assert_eq!(head.status, 200, "{provider}: {}", String::from_utf8_lossy(&body));
            assert_eq!(head.header("content-type"), Some("text/event-stream"), "{provider}");
            assert_eq!(streamed_text(&body), chat::SCRIPTED_REPLY, "{provider}");
            assert!(String::from_utf8_lossy(&body).ends_with("data: [DONE]\n\n"), "{provider}: the stream ends with its terminator");
        }
    }
    // Two prompts per provider, one attestation each: the second came from the cache.
    let world = proxy.sim.world.lock().unwrap();
    assert_eq!(world.chutes_nonce_reuses(), 0);
}

#[test]
fn a_non_streaming_chat_gets_one_completion() {
    let proxy = Proxy::start(|w| w);
    for provider in ProviderKind::ALL {
        let (head, body) = proxy.chat(&model(provider), false);
        assert_eq!(head.status, 200, "{provider}: {}", String::from_utf8_lossy(&body));
        let completion: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{provider}: {e}"));
        let content = completion.pointer("/choices/0/message/content").and_then(Value::as_str);
        assert_eq!(content, Some(chat::SCRIPTED_REPLY), "{provider}: {completion}");
    }
}

#[test]
fn refusals_name_the_failed_check() {
    let proxy = Proxy::start(|w| w.with(Misbehaviour::SwappedSigningKey));
    // A blocked attestation: 502 with the report, and nothing reached inference.
    let (head, body) = proxy.chat(&model(ProviderKind::Venice), true);
    assert_eq!(head.status, 502);
    assert_eq!(head.header("content-type"), Some("application/json"));
    let report: Value = serde_json::from_slice(&body).unwrap();
    let binding = report["factors"].as_array().unwrap().iter().find(|f| f["name"] == "tee_reportdata_binding").cloned();
    assert_eq!(binding.map(|f| f["status"].clone()), Some(Value::from("fail")), "{report}");
    assert_eq!(proxy.sim.world.lock().unwrap().inference_requests(), 0);
    // Then the back-off.
    let (head, body) = proxy.chat(&model(ProviderKind::Venice), true);
    assert_eq!(head.status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).starts_with("attestation recently failed for venice/"));

    let cases: [(&str, &str, Value, u16, &str); 6] = [
        ("POST", "/v1/chat/completions", serde_json::json!({"model": "gpt-4"}), 400, "unknown model \"gpt-4\": use provider:model format"),
        ("POST", "/v1/chat/completions", serde_json::json!({"model": "openai:gpt-4"}), 400, "unknown provider \"openai\""),
        ("POST", "/v1/chat/completions", serde_json::json!({"messages": []}), 400, "\"model\" field is required"),
        ("POST", "/v1/chat/completions", serde_json::json!({"model": 7}), 400, "invalid JSON body"),
        ("POST", "/v1/embeddings", serde_json::json!({"model": "venice:m"}), 400, "provider \"venice\" does not support embeddings"),
        ("GET", "/v1/chat/completions", Value::Null, 405, "Method Not Allowed"),
    ];
    for (method, path, body, status, text) in cases {
        let body = (!body.is_null()).then_some(&body);
        let (head, answer) = proxy.call(method, path, body);
        assert_eq!(head.status, status, "{method} {path}");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.contains(text), "{method} {path}: {answer}");
    }
    let (head, _) = proxy.call("GET", "/nope", None);
    assert_eq!(head.status, 404);
}

#[test]
fn health_and_the_cached_report() {
    let proxy = Proxy::start(|w| w);
    let (head, body) = proxy.call("GET", "/health", None);
    assert_eq!(head.status, 200);
    let health: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["providers"].as_array().map(Vec::len), Some(6));
    assert_eq!(health["in_flight"], 0);

    // The model list: confidential models only, named provider:model (the simulation lists
    // models for chutes only; the other listings fail and are left out).
    let (head, body) = proxy.call("GET", "/v1/models", None);
    assert_eq!(head.status, 200);
    let list: Value = serde_json::from_slice(&body).unwrap();
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, [model(ProviderKind::Chutes)], "{list}");

    let query = format!("/v1/tee/report?provider=neardirect&model={}", SimWorld::model(ProviderKind::NearDirect).replace('/', "%2F"));
    assert_eq!(proxy.call("GET", &query, None).0.status, 404, "nothing cached yet");
    assert_eq!(proxy.chat(&model(ProviderKind::NearDirect), true).0.status, 200);
    let (head, body) = proxy.call("GET", &query, None);
    assert_eq!(head.status, 200, "{}", String::from_utf8_lossy(&body));
    let report: Value = serde_json::from_slice(&body).unwrap();
    let usable = report["factors"].as_array().unwrap().iter().find(|f| f["name"] == "e2ee_usable").cloned().unwrap();
    assert_eq!(usable["status"], "pass", "the proxied round trip proved E2EE: {usable}");
    assert_eq!(proxy.call("GET", "/v1/tee/report?provider=neardirect", None).0.status, 400);
}

/// The proxy's health document.
fn health(proxy: &Proxy) -> Value {
    let (head, body) = proxy.call("GET", "/health", None);
    assert_eq!(head.status, 200);
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn a_caller_that_goes_away_cancels_its_request_even_during_attestation() {
    // The attestation host accepts connections and never answers: the attestation would wait
    // for its 10 s handshake timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let proxy = Proxy::start_routed(|w| w, |fetch| {
        fetch.connect_overrides.insert("api.venice.ai:443".to_owned(), ("127.0.0.1".to_owned(), port));
    });
    {
        use std::io::Write;
        let mut caller = std::net::TcpStream::connect(proxy.addr).unwrap();
        let body = serde_json::json!({"model": model(ProviderKind::Venice), "stream": true, "messages": []}).to_string();
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        caller.write_all(request.as_bytes()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while health(&proxy)["in_flight"] != 1 {
            assert!(std::time::Instant::now() < deadline, "the request never started");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The caller hangs up while the attestation is stuck.
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let h = health(&proxy);
        if h["in_flight"] == 0 {
            assert_eq!(h["attestations"], 1, "{h}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the request outlived its caller: {h}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(proxy.sim.world.lock().unwrap().inference_requests(), 0);
    drop(silent);
}

#[test]
fn pinned_answers_carry_the_upstream_headers() {
    let proxy = Proxy::start(|w| w);
    // Like the reference: a pinned upstream's headers are copied (framing and content type
    // aside); other providers' answers carry none of theirs.
    for stream in [false, true] {
        let (head, _) = proxy.chat(&model(ProviderKind::NearDirect), stream);
        assert_eq!(head.status, 200);
        assert_eq!(head.header("x-sim-enclave"), Some("neardirect"), "stream={stream}");
        let expected = if stream { "text/event-stream" } else { "application/json" };
        assert_eq!(head.header("content-type"), Some(expected));
        let (head, _) = proxy.chat(&model(ProviderKind::Venice), stream);
        assert_eq!(head.header("x-sim-enclave"), None, "stream={stream}");
    }
}

#[test]
fn serve_refuses_to_start_without_providers() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = ProxyConfig { client: ClientConfig::default(), providers: BTreeMap::new() };
        serve(listener, config, ChaCha20Rng::seed_from_u64(1), async {}).await
    });
    assert!(matches!(result, Err(ServeError::NoProviders)));
}
