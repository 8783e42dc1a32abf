//! Command-line bridge to the Chutes E2EE code, for the Python interop test
//! (`tests/interop/chutes/run.sh`). Reads one JSON object on stdin, writes one on stdout.
//!
//! Subcommands:
//! * `server-keygen` `{"key_seed_hex"}` → `{"public_b64"}`: an instance key pair from a
//!   64-byte FIPS 203 seed.
//! * `client` `{"rng_seed_hex", "instance_pk", "body", "endpoint", "response_b64"?, "sse"?}` →
//!   `{"request_b64", "response_pk", "stream", "plaintext"?, "chunks"?}`: encrypts `body` with a
//!   ChaCha20 RNG seeded from `rng_seed_hex` (so a second call with the same input rebuilds
//!   the same session) and, if given, decrypts a non-streaming blob or an SSE body with it.
//! * `server` `{"key_seed_hex", "rng_seed_hex", "request_b64", "response_json", "chunks"}` →
//!   `{"request_json", "client_pk", "stream", "blob_b64", "sse"}`: the instance role.
//!
//! Any failure prints `{"error": "..."}` and exits with status 3.

use std::io::Read;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use proto_core::e2ee::chutes::sim::{InstanceServer, ServerStream};
use proto_core::e2ee::chutes::{Endpoint, InstanceKey, encrypt_request};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

type Res = Result<Value, String>;

fn field<'a>(input: &'a Value, name: &str) -> Result<&'a str, String> {
    input[name].as_str().ok_or_else(|| format!("missing string field `{name}`"))
}

fn seed<const N: usize>(input: &Value, name: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(field(input, name)?).map_err(|e| format!("{name}: {e}"))?;
    bytes.try_into().map_err(|_| format!("{name} must be {N} bytes"))
}

fn server_keygen(input: &Value) -> Res {
    let server = InstanceServer::from_seed(&seed::<64>(input, "key_seed_hex")?);
    Ok(json!({ "public_b64": server.public_b64() }))
}

fn client(input: &Value) -> Res {
    let mut rng = ChaCha20Rng::from_seed(seed::<32>(input, "rng_seed_hex")?);
    let key = InstanceKey::from_attested(field(input, "instance_pk")?).map_err(|e| e.to_string())?;
    let endpoint = match input["endpoint"].as_str().unwrap_or("chat") {
        "chat" => Endpoint::ChatCompletions,
        "embeddings" => Endpoint::Embeddings,
        other => return Err(format!("unknown endpoint {other}")),
    };
    let (enc, session) =
        encrypt_request(field(input, "body")?.as_bytes(), &key, endpoint, &mut rng).map_err(|e| e.to_string())?;
    let mut out = json!({
        "request_b64": B64.encode(&enc.body),
        "response_pk": session.response_public_key(),
        "stream": enc.stream,
    });
    if let Some(blob) = input["response_b64"].as_str() {
        let blob = B64.decode(blob).map_err(|e| format!("response_b64: {e}"))?;
        let plain = session.decrypt_body(&blob).map_err(|e| e.to_string())?;
        out["plaintext"] = Value::String(String::from_utf8(plain).map_err(|_| "plaintext is not UTF-8")?);
    } else if let Some(sse) = input["sse"].as_str() {
        let mut dec = session.into_stream();
        let mut chunks = Vec::new();
        dec.push(sse.as_bytes(), &mut chunks).map_err(|e| e.to_string())?;
        dec.finish().map_err(|e| e.to_string())?;
        let chunks: Result<Vec<String>, _> = chunks.into_iter().map(String::from_utf8).collect();
        out["chunks"] = json!(chunks.map_err(|_| "chunk is not UTF-8")?);
    }
    Ok(out)
}

fn server(input: &Value) -> Res {
    let server = InstanceServer::from_seed(&seed::<64>(input, "key_seed_hex")?);
    let mut rng = ChaCha20Rng::from_seed(seed::<32>(input, "rng_seed_hex")?);
    let blob = B64.decode(field(input, "request_b64")?).map_err(|e| format!("request_b64: {e}"))?;
    let req = server.decrypt_request(&blob).map_err(|e| e.to_string())?;
    let response = field(input, "response_json")?;
    let answer = req.client_key.encrypt_response(response.as_bytes(), &mut rng).map_err(|e| e.to_string())?;
    let (sealer, mut sse) = req.client_key.begin_stream(&mut rng).map_err(|e| e.to_string())?;
    let chunks = input["chunks"].as_array().ok_or("missing `chunks`")?;
    for (i, c) in chunks.iter().enumerate() {
        let c = c.as_str().ok_or("chunks must be strings")?;
        sse.push_str(&ServerStream::usage_event(7, i as u64 + 1));
        sse.push_str(&sealer.chunk_event(c.as_bytes(), &mut rng).map_err(|e| e.to_string())?);
    }
    Ok(json!({
        "request_json": String::from_utf8(req.json).map_err(|_| "request is not UTF-8")?,
        "client_pk": req.client_key.to_b64(),
        "stream": req.stream,
        "blob_b64": B64.encode(answer),
        "sse": sse,
    }))
}

fn main() {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    let mut text = String::new();
    let result = std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str::<Value>(&text).map_err(|e| format!("stdin JSON: {e}")))
        .and_then(|input| match cmd.as_str() {
            "server-keygen" => server_keygen(&input),
            "client" => client(&input),
            "server" => server(&input),
            other => Err(format!("unknown subcommand `{other}` (server-keygen | client | server)")),
        });
    match result {
        Ok(v) => println!("{v}"),
        Err(e) => {
            println!("{}", json!({ "error": e }));
            std::process::exit(3);
        }
    }
}
