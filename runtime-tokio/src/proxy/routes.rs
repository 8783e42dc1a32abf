//! Routes: what each path does, and how a request's events become a response.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use proto_core::client::{ClientError, ClientEvent};
use proto_core::exchange::ExchangeError;
use proto_core::fetch::client::FetchClient;
use proto_core::fetch::{FetchId, FetchMethod, FetchRequest};
use proto_core::provider::ProviderKind;
use proto_core::provider::descriptor::{Endpoint, MAX_MODEL_LIST_BYTES, offered_models, route_model};
use proto_core::session::{Prompt, SessionError};
use serde_json::Value;

use super::Context;
use super::actor::RequestEvents;
use super::body::{ProxyBody, event_stream, json, sse_error_event, text_error};
use super::reassemble::chat_completion;

/// Largest request body accepted: what a prompt session takes (the reference reads 50 MiB).
const MAX_REQUEST_BODY: usize = proto_core::session::MAX_PROMPT_BODY;

/// Largest non-streamed answer buffered.
const MAX_BUFFERED_ANSWER: usize = 10 * 1024 * 1024;

/// Routes one request.
pub(super) async fn handle(request: Request<Incoming>, context: &Context) -> Response<ProxyBody> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    if let Some(endpoint) = Endpoint::from_local_path(&path) {
        if method != Method::POST {
            return not_allowed("POST");
        }
        return proxied(request, endpoint, context).await;
    }
    let get = method == Method::GET || method == Method::HEAD;
    match path.as_str() {
        "/health" | "/v1/models" | "/v1/tee/report" if !get => not_allowed("GET, HEAD"),
        "/health" => health(context).await,
        "/v1/models" => models(context).await,
        "/v1/tee/report" => report(request.uri().query().unwrap_or(""), context).await,
        _ => {
            eprintln!("teep: unmatched route {method} {path}");
            text_error(404, "404 page not found")
        }
    }
}

fn not_allowed(allow: &'static str) -> Response<ProxyBody> {
    let mut response = text_error(405, "Method Not Allowed");
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// `GET /health`: the active providers, requests in flight, and the client's counters.
async fn health(context: &Context) -> Response<ProxyBody> {
    let providers: Vec<&str> = context.providers.keys().map(|p| p.name()).collect();
    let Some((stats, in_flight)) = context.client.stats().await else {
        return text_error(503, "client task stopped");
    };
    let body = serde_json::json!({
        "status": "ok", "providers": providers, "in_flight": in_flight,
        "attestations": stats.attestations, "prompt_attempts": stats.prompt_attempts,
        "refills": stats.refills, "failovers": stats.failovers,
    });
    json(200, body.to_string())
}

/// `GET /v1/tee/report?provider=P&model=M`: the cached report.
async fn report(query: &str, context: &Context) -> Response<ProxyBody> {
    let param = |name: &str| {
        query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| percent_decode(v))
    };
    let (Some(provider), Some(model)) = (param("provider"), param("model")) else {
        return text_error(400, "query parameters \"provider\" and \"model\" are required");
    };
    let Ok(kind) = provider.parse::<ProviderKind>() else {
        return text_error(404, &format!("no cached report for provider={provider:?} model={model:?}"));
    };
    match context.client.report(kind, &model).await {
        Some(report) => json(200, report.to_json()),
        None => text_error(404, &format!("no cached report for provider={provider:?} model={model:?}")),
    }
}

/// `%XX` and `+` decoding of a query value (invalid escapes are kept as written).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET /v1/models`: every active provider's confidential models as `provider:model`; a
/// provider whose listing fails is left out (and logged).
async fn models(context: &Context) -> Response<ProxyBody> {
    let mut fetcher = crate::Driver::new(FetchClient::new(context.fetch.clone()));
    let mut asked = Vec::new();
    for (i, (provider, key)) in context.providers.iter().enumerate() {
        let Some(url) = provider.descriptor().models_url else { continue };
        let request = FetchRequest {
            id: FetchId(i as u32),
            method: FetchMethod::Get,
            url: url.to_owned(),
            headers: vec![("Authorization".to_owned(), format!("Bearer {key}"))],
            body: Vec::new(),
            max_body: MAX_MODEL_LIST_BYTES as u64,
        };
        fetcher.apply(|f, now| f.fetch(request, now));
        asked.push(*provider);
    }
    let answers = tokio::time::timeout(std::time::Duration::from_secs(30), fetcher.run_to_completion()).await.unwrap_or_default();
    let mut data = Vec::new();
    for answer in answers {
        let Some(provider) = asked.get(answer.request.id.0 as usize) else { continue };
        match answer.result {
            Ok(response) if response.status == 200 => match offered_models(*provider, &response.body) {
                Ok(models) => data.extend(models),
                Err(e) => eprintln!("teep: models: {provider}: {e}"),
            },
            Ok(response) => eprintln!("teep: models: {provider}: HTTP {}", response.status),
            Err(e) => eprintln!("teep: models: {provider}: {e}"),
        }
    }
    json(200, format!("{}\n", serde_json::json!({"object": "list", "data": data})))
}

/// A proxied endpoint: parse, route, submit, relay.
async fn proxied(request: Request<Incoming>, endpoint: Endpoint, context: &Context) -> Response<ProxyBody> {
    let body = match Limited::new(request.into_body(), MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return text_error(400, "request body too large or unreadable"),
    };
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(&body) else {
        return text_error(400, "invalid JSON body");
    };
    let model = match fields.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        None | Some(Value::String(_)) => return text_error(400, "\"model\" field is required"),
        Some(_) => return text_error(400, "invalid JSON body"),
    };
    let stream = match fields.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return text_error(400, "invalid JSON body"),
    };
    let active: Vec<ProviderKind> = context.providers.keys().copied().collect();
    let route = match route_model(&model, &active) {
        Ok(route) => route,
        Err(e) => return text_error(400, &e.to_string()),
    };
    let provider = route.provider;
    if provider.upstream_path(endpoint).is_none() {
        return text_error(400, &format!("provider {:?} does not support {}", provider.name(), what(endpoint)));
    }
    // venice and NEAR protect streamed answers; a non-streaming chat is asked for as a stream
    // and rebuilt into one completion.
    let rebuild = endpoint == Endpoint::Chat
        && !stream
        && matches!(provider, ProviderKind::Venice | ProviderKind::NearDirect | ProviderKind::NearCloud);
    if rebuild {
        fields.insert("stream".into(), Value::Bool(true));
    }
    let body = serde_json::to_vec(&Value::Object(fields)).unwrap_or_default();
    let api_key = context.providers.get(&provider).cloned();
    let prompt = Prompt { endpoint, body, api_key };
    let events = context.client.submit(provider, &route.model, prompt);
    relay(events, provider, &route.model, stream, rebuild).await
}

fn what(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Chat => "chat",
        Endpoint::Embeddings => "embeddings",
        Endpoint::AudioTranscriptions => "audio transcription",
        Endpoint::Images => "image generation",
        Endpoint::Rerank => "reranking",
    }
}

/// Turns a request's events into the response: the provider's status once the answer starts;
/// a streamed answer relayed event by event; a typed refusal as the matching HTTP error.
async fn relay(
    mut events: RequestEvents,
    provider: ProviderKind,
    model: &str,
    stream: bool,
    rebuild: bool,
) -> Response<ProxyBody> {
    let head = loop {
        match events.recv().await {
            Some(ClientEvent::Head(head)) => break head,
            Some(ClientEvent::Failed(error)) => return refusal(&error, provider, model),
            Some(ClientEvent::End) | None => return text_error(502, "relay failed"),
            Some(_) => {}
        }
    };
    log(provider, model, &format!("upstream {}", head.status));
    let pinned = provider.descriptor().connection == proto_core::provider::descriptor::ConnectionMode::PinnedTls;
    let finish = |response: Response<ProxyBody>| if pinned { with_upstream_headers(response, &head) } else { response };
    if head.status == 200 && stream {
        let (response, sender) = event_stream();
        let response = finish(response);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    ClientEvent::Body(bytes) => {
                        let sent = sender.send(Bytes::from(bytes));
                        // The client went away: dropping `events` cancels the request.
                        if sent.is_err() {
                            return;
                        }
                    }
                    ClientEvent::Failed(error) => {
                        let _ = sender.send(sse_error_event(&stream_failure(&error)));
                        return;
                    }
                    _ => {}
                }
            }
        });
        return response;
    }
    // Buffered: the whole answer, bounded.
    let mut answer = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            ClientEvent::Body(bytes) => {
                if answer.len() + bytes.len() > MAX_BUFFERED_ANSWER {
                    return text_error(502, "failed to read upstream response");
                }
                answer.extend_from_slice(&bytes);
            }
            ClientEvent::Failed(error) => return refusal(&error, provider, model),
            _ => {}
        }
    }
    if head.status != 200 {
        let content_type = head.header("content-type").unwrap_or("text/plain; charset=utf-8").to_owned();
        return finish(super::body::full(head.status, &content_type, answer));
    }
    if rebuild {
        return finish(json(200, chat_completion(&answer).to_string()));
    }
    finish(json(200, answer))
}

/// The pinned providers' answers carry the upstream headers (as the reference's do), except
/// framing and encoding ones and the content type the proxy sets itself.
fn with_upstream_headers(mut response: Response<ProxyBody>, head: &proto_core::http::ResponseHead) -> Response<ProxyBody> {
    const SKIP: [&str; 5] = ["transfer-encoding", "content-encoding", "content-length", "connection", "content-type"];
    for h in &head.headers {
        if SKIP.iter().any(|s| h.name.eq_ignore_ascii_case(s)) {
            continue;
        }
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(h.name.as_bytes()), HeaderValue::from_bytes(&h.value))
        {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// What an SSE error event says when a stream fails after it started.
fn stream_failure(error: &ClientError) -> String {
    match error {
        ClientError::Session(SessionError::E2ee(_)) => "stream decryption failed".to_owned(),
        _ => "relay failed".to_owned(),
    }
}

/// A refused or failed request as the HTTP error that names the check.
fn refusal(error: &ClientError, provider: ProviderKind, model: &str) -> Response<ProxyBody> {
    log(provider, model, &format!("refused: {error}"));
    match error {
        ClientError::RecentlyFailed { .. } => {
            text_error(503, &format!("attestation recently failed for {provider}/{model}; try again later"))
        }
        ClientError::E2eePreviouslyFailed => text_error(503, "E2EE previously failed; re-attestation required"),
        ClientError::Busy => text_error(503, "too many concurrent attestations; try again later"),
        ClientError::NoncePool(_) => text_error(500, "failed to prepare encrypted request"),
        ClientError::BadModel(e) => text_error(400, e),
        ClientError::TooManyAttestations => text_error(502, "attestation failed: no attestable instance"),
        ClientError::Session(session) => match session {
            SessionError::Blocked(report) => json(502, report.to_json()),
            SessionError::Verify(_) => text_error(502, "attestation fetch failed; see server logs"),
            SessionError::NoPinnedKey(_) | SessionError::E2eeRequired(_) => {
                text_error(500, "failed to prepare encrypted request")
            }
            SessionError::UnsupportedEndpoint { provider, path } => {
                text_error(400, &format!("provider {:?} does not support {path}", provider.name()))
            }
            SessionError::BadBody(_) => text_error(400, "invalid JSON body"),
            SessionError::E2ee(_) => text_error(502, "response decryption failed"),
            SessionError::Channel(ExchangeError::PinMismatch(e)) => {
                text_error(502, &format!("pinned connection failed: {e}"))
            }
            SessionError::Channel(_) => text_error(502, "upstream request failed"),
            _ => text_error(502, "relay failed"),
        },
        _ => text_error(502, "relay failed"),
    }
}

/// One line per request outcome: provider, model and what happened; never prompts, answers
/// or keys.
fn log(provider: ProviderKind, model: &str, what: &str) {
    eprintln!("teep: {provider}:{model}: {what}");
}
