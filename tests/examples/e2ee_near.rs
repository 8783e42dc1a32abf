//! Command-line helper for the NEAR E2EE interop test (tests/interop/near/run.sh).
//!
//! `cargo run -q -p teep-tests --example e2ee_near -- <subcommand>` reads one JSON object on
//! stdin and writes one JSON object on stdout. Keys are hex; `algo` is `ed25519` or `ecdsa`;
//! `seed` (hex, 32 bytes) seeds the RNG so the helper itself stays free of OS randomness.
//!
//! * `server-open`   {algo, model_secret, headers:{..}, path, body} → {plain}
//! * `server-seal`   {algo, model_secret, headers:{..}, path, seed, body | chunks} → {body}
//! * `client-encrypt`{algo, model_key, path, seed, body} → {body, headers:{..}, client_secret}
//! * `client-decrypt`{algo, client_secret, path, body, stream} → {plain} | {events}
//!
//! Any failure prints `{"error": "..."}` and exits with status 1.

use std::io::Read;

use proto_core::e2ee::near::server::{NearServer, seal_json, seal_stream};
use proto_core::e2ee::near::{self, ClientSession, ModelKey, xchacha};
use proto_core::e2ee::venice::ecies;
use proto_core::e2ee::venice::relay::{Policy, decrypt_stream};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

type Res<T> = Result<T, String>;

fn field<'a>(v: &'a Value, k: &str) -> Res<&'a Value> {
    v.get(k).ok_or_else(|| format!("missing {k}"))
}

fn text<'a>(v: &'a Value, k: &str) -> Res<&'a str> {
    field(v, k)?
        .as_str()
        .ok_or_else(|| format!("{k} is not a string"))
}

fn bytes32(v: &Value, k: &str) -> Res<[u8; 32]> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(text(v, k)?, &mut b).map_err(|e| format!("{k}: {e}"))?;
    Ok(b)
}

fn server(v: &Value) -> Res<NearServer> {
    let secret = bytes32(v, "model_secret")?;
    match text(v, "algo")? {
        "ed25519" => Ok(NearServer::ed25519(&secret)),
        "ecdsa" => NearServer::ecdsa_from_bytes(&secret).map_err(|e| e.to_string()),
        other => Err(format!("unknown algo {other}")),
    }
}

fn headers(v: &Value) -> Res<Vec<(String, String)>> {
    let h = field(v, "headers")?
        .as_object()
        .ok_or("headers is not an object")?;
    Ok(h.iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect())
}

fn run(cmd: &str, input: &Value) -> Res<Value> {
    match cmd {
        "server-open" => {
            let s = server(input)?;
            let endpoint = near::endpoint_of(text(input, "path")?).map_err(|e| e.to_string())?;
            let (plain, _) = s
                .open(&headers(input)?, text(input, "body")?.as_bytes(), endpoint)
                .map_err(|e| e.to_string())?;
            Ok(json!({ "plain": plain }))
        }
        "server-seal" => {
            let s = server(input)?;
            let req = s
                .parse_headers(&headers(input)?)
                .map_err(|e| e.to_string())?
                .ok_or("no E2EE headers")?;
            let endpoint = near::endpoint_of(text(input, "path")?).map_err(|e| e.to_string())?;
            let mut rng = ChaCha20Rng::from_seed(bytes32(input, "seed")?);
            if let Some(chunks) = input.get("chunks").and_then(Value::as_array) {
                let body = seal_stream(chunks, &req, &mut rng);
                return Ok(json!({ "body": String::from_utf8(body).map_err(|e| e.to_string())? }));
            }
            let mut body = field(input, "body")?.clone();
            seal_json(&mut body, &req, endpoint, &mut rng);
            Ok(json!({ "body": body.to_string() }))
        }
        "client-encrypt" => {
            let key = text(input, "model_key")?;
            let model = match text(input, "algo")? {
                "ed25519" => ModelKey::ed25519_from_hex(key),
                _ => ModelKey::ecdsa_from_hex(key),
            }
            .map_err(|e| e.to_string())?;
            let mut rng = ChaCha20Rng::from_seed(bytes32(input, "seed")?);
            let req = near::encrypt_request(
                text(input, "path")?,
                text(input, "body")?.as_bytes(),
                &model,
                &mut rng,
            )
            .map_err(|e| e.to_string())?;
            let secret = match &req.session {
                ClientSession::Ed25519(k) => hex::encode(k.export_seed_for_harness()),
                ClientSession::Ecdsa(k) => hex::encode(k.export_secret_for_harness()),
            };
            let h: serde_json::Map<String, Value> = req
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                .collect();
            Ok(
                json!({ "body": String::from_utf8_lossy(&req.body), "headers": h, "client_secret": secret }),
            )
        }
        "client-decrypt" => {
            let secret = bytes32(input, "client_secret")?;
            let mut session = match text(input, "algo")? {
                "ed25519" => ClientSession::Ed25519(xchacha::ClientKey::from_seed(&secret)),
                _ => ClientSession::Ecdsa(
                    ecies::ClientSession::from_secret_bytes(&secret).map_err(|e| e.to_string())?,
                ),
            };
            let body = text(input, "body")?.as_bytes();
            if input.get("stream").and_then(Value::as_bool) == Some(true) {
                let (events, _) = decrypt_stream(body, session, Policy::NearAllFields)
                    .map_err(|e| e.to_string())?;
                return Ok(json!({ "events": events }));
            }
            let endpoint = near::endpoint_of(text(input, "path")?).map_err(|e| e.to_string())?;
            let plain =
                near::decrypt_json(body, &mut session, endpoint).map_err(|e| e.to_string())?;
            Ok(json!({ "plain": plain }))
        }
        other => Err(format!("unknown subcommand {other:?}")),
    }
}

fn main() {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    let mut raw = String::new();
    let parsed = std::io::stdin()
        .read_to_string(&mut raw)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str::<Value>(&raw).map_err(|e| e.to_string()));
    match parsed.and_then(|input| run(&cmd, &input)) {
        Ok(out) => println!("{out}"),
        Err(e) => {
            println!("{}", json!({ "error": e }));
            std::process::exit(1);
        }
    }
}
