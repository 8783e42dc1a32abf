//! The simulated enclaves' inference side: open the end-to-end encrypted request with the
//! enclave's private key, and answer with a scripted reply streamed chunk by chunk, sealed to the
//! client's key — what the real enclave does, with a deterministic "model".
//!
//! Only the enclave could read the prompt (it is sealed to the attested key), and only the
//! client can read the reply (it is sealed to the client's per-request key).

use rand_core::CryptoRng;
use serde_json::{Value, json};

use super::{EnclaveSecret, SimResponse, SimWorld};
use crate::e2ee::E2eeError;
use crate::e2ee::chutes::sim::InstanceServer;
use crate::e2ee::near::server::NearServer;
use crate::e2ee::venice::relay::Endpoint as RelayEndpoint;
use crate::e2ee::venice::server::VeniceServer;
use crate::provider::ProviderKind;

/// The scripted model's reply.
pub const SCRIPTED_REPLY: &str = "Hello from inside the simulated enclave. Your prompt was decrypted only \
here, and every word of this reply is sealed to your key alone.";

/// Which simulated provider an inference request is for, from its host and path; `None` when
/// it is not an inference request.
pub fn inference_target(host: &str, path: &str) -> Option<ProviderKind> {
    let path = path.split('?').next().unwrap_or(path);
    ProviderKind::ALL.into_iter().find(|&p| {
        let Some(upstream) = p.upstream_path(crate::provider::descriptor::Endpoint::Chat) else { return false };
        let on_host = SimWorld::hosts(p).contains(&host);
        match p {
            ProviderKind::Chutes => on_host && path.ends_with("/e2e/invoke"),
            _ => on_host && path.ends_with(upstream),
        }
    })
}

/// The reply as OpenAI `chat.completion.chunk` objects, one per word, then a final chunk with
/// `finish_reason`.
pub fn reply_chunks(model: &str, reply: &str) -> Vec<Value> {
    let words: Vec<&str> = reply.split_inclusive(' ').collect();
    let mut chunks: Vec<Value> = words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let delta = if i == 0 { json!({"role": "assistant", "content": word}) } else { json!({"content": word}) };
            json!({"id": "chatcmpl-sim", "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
        })
        .collect();
    chunks.push(json!({"id": "chatcmpl-sim", "object": "chat.completion.chunk", "created": 0, "model": model,
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
    chunks
}

/// The reply as one OpenAI `chat.completion` object (non-streaming answers).
pub fn completion(model: &str, reply: &str) -> Value {
    json!({"id": "chatcmpl-sim", "object": "chat.completion", "created": 0, "model": model,
           "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 8, "completion_tokens": 24, "total_tokens": 32}})
}

/// Answers one encrypted chat request for `provider` with the scripted reply, sealed to the
/// client. A request the enclave cannot open (wrong key, plaintext, tampered) gets a 400 and
/// no reply.
pub fn answer_chat(
    world: &SimWorld,
    provider: ProviderKind,
    headers: &[(String, String)],
    body: &[u8],
    rng: &mut impl CryptoRng,
) -> SimResponse {
    answer_chat_with(world, provider, headers, body, SCRIPTED_REPLY, rng)
}

/// As [`answer_chat`], with `reply` as the model's answer (one chunk per word).
pub fn answer_chat_with(
    world: &SimWorld,
    provider: ProviderKind,
    headers: &[(String, String)],
    body: &[u8],
    reply: &str,
    rng: &mut impl CryptoRng,
) -> SimResponse {
    match seal_reply(world, provider, headers, body, reply, rng) {
        Ok((content_type, bytes)) => {
            let headers = vec![
                ("Content-Type".into(), content_type.into()),
                ("X-Sim-Enclave".into(), provider.name().into()),
            ];
            SimResponse { status: 200, headers, body: bytes }
        }
        Err(e) => SimResponse {
            status: 400,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: json!({"error": {"message": format!("enclave refused the request: {e}")}}).to_string().into_bytes(),
        },
    }
}

fn seal_reply(
    world: &SimWorld,
    provider: ProviderKind,
    headers: &[(String, String)],
    body: &[u8],
    reply: &str,
    rng: &mut impl CryptoRng,
) -> Result<(&'static str, Vec<u8>), E2eeError> {
    const SSE: &str = "text/event-stream";
    let model = SimWorld::model(provider);
    let chunks = reply_chunks(model, reply);
    match (provider, world.enclave_secret(provider)) {
        (ProviderKind::Venice, EnclaveSecret::Secp256k1(secret)) => {
            let secret = k256::SecretKey::from_slice(&secret).map_err(|e| E2eeError::InvalidKey(e.to_string()))?;
            let server = VeniceServer::from_secret(secret);
            let (_plain, client) = server.open_request(headers, body)?;
            Ok((SSE, server.seal_stream(&chunks, &client, rng)))
        }
        (ProviderKind::NearDirect | ProviderKind::NearCloud, EnclaveSecret::Ed25519(seed)) => {
            let server = NearServer::ed25519(&seed);
            let (_plain, request) = server.open(headers, body, RelayEndpoint::Chat)?;
            Ok((SSE, crate::e2ee::near::server::seal_stream(&chunks, &request, rng)))
        }
        (ProviderKind::Chutes, EnclaveSecret::MlKem768(seed)) => {
            let server = InstanceServer::from_seed(&seed);
            let request = server.decrypt_request(body)?;
            if !request.stream {
                let completion = completion(model, reply).to_string();
                return Ok(("application/octet-stream", request.client_key.encrypt_response(completion.as_bytes(), rng)?));
            }
            let (stream, init) = request.client_key.begin_stream(rng)?;
            let mut sse = init.into_bytes();
            for chunk in &chunks {
                let event = format!("data: {chunk}\n\n");
                sse.extend_from_slice(stream.chunk_event(event.as_bytes(), rng)?.as_bytes());
            }
            sse.extend_from_slice(stream.chunk_event(b"data: [DONE]\n\n", rng)?.as_bytes());
            Ok((SSE, sse))
        }
        // The gateway providers have no E2EE: their (attested) gateway answers over TLS.
        (ProviderKind::PhalaCloud | ProviderKind::NanoGpt, _) => {
            let request: Value = serde_json::from_slice(body).map_err(|e| E2eeError::BadBody(e.to_string()))?;
            if request.get("stream").and_then(Value::as_bool) != Some(true) {
                return Ok(("application/json", completion(model, reply).to_string().into_bytes()));
            }
            let mut sse: Vec<u8> = chunks.iter().flat_map(|c| format!("data: {c}\n\n").into_bytes()).collect();
            sse.extend_from_slice(b"data: [DONE]\n\n");
            Ok((SSE, sse))
        }
        _ => Err(E2eeError::BadBody(format!("{provider} has no end-to-end encrypted chat in the simulation"))),
    }
}

/// Answers any request of a simulated session: inference paths get the enclave's sealed chat
/// answer (counted by the world like every inference request), everything else (attestation,
/// collateral, NRAS, Rekor, Proof of Cloud) the world's answer.
pub fn answer_any(
    world: &mut SimWorld,
    method: &str,
    host: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    rng: &mut impl CryptoRng,
) -> SimResponse {
    let url = format!("https://{host}{target}");
    match inference_target(host, target) {
        Some(provider) => {
            // The platform's answer first: a refused nonce or a failing instance never reaches
            // the enclave.
            let platform = world.answer(method, &url, headers, body);
            if platform.status != 501 {
                return platform;
            }
            answer_chat(world, provider, headers, body, rng)
        }
        None => world.answer(method, &url, headers, body),
    }
}
