//! Response decryption shared by Venice and NEAR: which JSON leaves must be ciphertext
//! ([`Policy`]), the walk that opens them ([`decrypt_body`]), the incremental SSE decryptor
//! ([`SseDecryptor`]) and the non-streaming reassembly of a decrypted stream ([`reassemble`]).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::e2ee::{E2eeError, FieldOpener, StreamDecryptor, StreamSummary};
use crate::http::sse::{SseError, SseItem, SseSplitter};

/// A visitor of one item of a `data` list (the item's map and the list's name).
type ItemVisitor<'a, W> = &'a mut dyn FnMut(&mut W, &mut Map<String, Value>, &str) -> Result<(), E2eeError>;

/// Largest SSE event (all its lines) accepted: 1 MiB, as teep's line limit.
pub const MAX_EVENT_BYTES: usize = 1 << 20;
/// Most fields one session may open (bounds the replay set).
pub const MAX_FIELDS_PER_SESSION: usize = 1 << 20;

/// Remembers every (ephemeral key, nonce) header opened in one session and rejects a repeat,
/// so a replayed or duplicated encrypted field fails even though it authenticates.
#[derive(Clone, Debug, Default)]
pub struct ReplayGuard {
    seen: BTreeSet<Vec<u8>>,
}

impl ReplayGuard {
    /// Records `header`; fails if it was seen before or the bound is reached.
    pub fn check(&mut self, header: &[u8]) -> Result<(), E2eeError> {
        if self.seen.len() >= MAX_FIELDS_PER_SESSION {
            return Err(E2eeError::Limit(
                "too many encrypted fields in one session".into(),
            ));
        }
        if !self.seen.insert(header.to_vec()) {
            return Err(E2eeError::Replay("ephemeral key and nonce reused".into()));
        }
        Ok(())
    }
}

/// Which response leaves must be ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Venice: `content`, `reasoning_content`, `reasoning` and `audio.data` must be
    /// ciphertext (what the enclave encrypts); a non-string `content` is an error; any other
    /// string that looks encrypted is opened, plaintext metadata passes.
    Venice,
    /// NEAR with `X-Encrypt-All-Fields: true` (teep latest): every leaf except structural
    /// metadata (`role`, `finish_reason`, ids, `index`, `usage.*`, score values) must be
    /// ciphertext.
    NearAllFields,
}

/// The upstream endpoint a response came from (selects the body shape).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/chat/completions` (Venice: `/api/v1/chat/completions`).
    Chat,
    /// `/v1/images/generations`.
    Images,
    /// `/v1/embeddings`.
    Embeddings,
    /// `/v1/rerank`.
    Rerank,
    /// `/v1/score`.
    Score,
}

/// Keys that are never encrypted in a chat delta or message.
fn is_structural(key: &str) -> bool {
    matches!(
        key,
        "role" | "tool_call_id" | "type" | "finish_reason" | "id" | "index"
    )
}

impl Policy {
    /// True if the leaf at `path` (teep's dotted policy path) must be ciphertext.
    pub fn requires(self, path: &str, endpoint: Endpoint) -> bool {
        match self {
            Policy::Venice => {
                endpoint == Endpoint::Chat
                    && matches!(
                        path,
                        "content" | "reasoning_content" | "reasoning" | "audio.data"
                    )
            }
            Policy::NearAllFields => {
                if path == "usage" || path.starts_with("usage.") || is_structural(path) {
                    return false;
                }
                if matches!(
                    path,
                    "tool_calls[].id" | "tool_calls[].type" | "tool_calls[].index"
                ) {
                    return false;
                }
                !(endpoint == Endpoint::Score && path == "score")
            }
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn prefix(s: &str) -> String {
    s.chars().take(8).collect()
}

/// One walk over a response body, opening the leaves the policy names.
struct Walk<'a, O: FieldOpener> {
    opener: &'a mut O,
    policy: Policy,
    endpoint: Endpoint,
    opened: usize,
}

impl<O: FieldOpener> Walk<'_, O> {
    /// Opens a string leaf; returns the plaintext if it was encrypted.
    fn open_leaf(
        &mut self,
        v: &Value,
        ctx: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, E2eeError> {
        let required = self.policy.requires(path, self.endpoint);
        let s = match v {
            Value::Null => return Ok(None),
            Value::String(s) => s,
            other if required => {
                return Err(E2eeError::Plaintext(format!(
                    "{ctx}: expected encrypted string, got {}",
                    json_type(other)
                )));
            }
            _ => return Ok(None),
        };
        if s.is_empty() {
            return Ok(None);
        }
        if !self.opener.looks_encrypted(s) {
            if required {
                return Err(E2eeError::Plaintext(format!(
                    "{ctx}: expected encrypted but not recognised (len={} prefix={:?})",
                    s.len(),
                    prefix(s)
                )));
            }
            return Ok(None);
        }
        let plain = self.opener.open(s).map_err(|e| wrap(ctx, e))?;
        self.opened += 1;
        Ok(Some(plain))
    }

    fn string_leaf(&mut self, v: &mut Value, ctx: &str, path: &str) -> Result<(), E2eeError> {
        if let Some(p) = self.open_leaf(v, ctx, path)? {
            let s = String::from_utf8(p)
                .map_err(|_| E2eeError::BadBody(format!("{ctx}: decrypted text is not UTF-8")))?;
            *v = Value::String(s);
        }
        Ok(())
    }

    /// A leaf whose plaintext is JSON text (embeddings, logprob bytes); non-JSON stays a string.
    fn json_leaf(&mut self, v: &mut Value, ctx: &str, path: &str) -> Result<(), E2eeError> {
        if let Some(p) = self.open_leaf(v, ctx, path)? {
            *v = match serde_json::from_slice::<Value>(&p) {
                Ok(j) => j,
                Err(_) => Value::String(String::from_utf8(p).map_err(|_| {
                    E2eeError::BadBody(format!("{ctx}: decrypted text is not UTF-8"))
                })?),
            };
        }
        Ok(())
    }

    fn field<F>(
        &mut self,
        obj: &mut Map<String, Value>,
        key: &str,
        ctx: &str,
        f: F,
    ) -> Result<(), E2eeError>
    where
        F: FnOnce(&mut Self, &mut Value, &str) -> Result<(), E2eeError>,
    {
        match obj.get_mut(key) {
            Some(v) => f(self, v, &format!("{ctx}.{key}")),
            None => Ok(()),
        }
    }

    /// An object that must be an object (or null/absent) when any leaf under it is required.
    fn expect_object<'v>(
        &self,
        v: &'v mut Value,
        ctx: &str,
        path: &str,
    ) -> Result<Option<&'v mut Map<String, Value>>, E2eeError> {
        match v {
            Value::Null => Ok(None),
            Value::Object(m) => Ok(Some(m)),
            other if self.policy.requires(path, self.endpoint) => Err(E2eeError::BadBody(format!(
                "{ctx}: expected object, got {}",
                json_type(other)
            ))),
            _ => Ok(None),
        }
    }

    fn expect_array<'v>(
        &self,
        v: &'v mut Value,
        ctx: &str,
        path: &str,
    ) -> Result<Option<&'v mut Vec<Value>>, E2eeError> {
        match v {
            Value::Null => Ok(None),
            Value::Array(a) => Ok(Some(a)),
            other if self.policy.requires(path, self.endpoint) => Err(E2eeError::BadBody(format!(
                "{ctx}: expected array, got {}",
                json_type(other)
            ))),
            _ => Ok(None),
        }
    }

    fn function_object(&mut self, v: &mut Value, ctx: &str, base: &str) -> Result<(), E2eeError> {
        let Some(f) = self.expect_object(v, ctx, &format!("{base}.name"))? else {
            return Ok(());
        };
        for key in ["name", "arguments"] {
            let path = format!("{base}.{key}");
            self.field(f, key, ctx, |w, v, c| w.string_leaf(v, c, &path))?;
        }
        Ok(())
    }

    fn content(&mut self, v: &mut Value, ctx: &str) -> Result<(), E2eeError> {
        match v {
            Value::Array(parts) if self.policy == Policy::NearAllFields => {
                for (i, part) in parts.iter_mut().enumerate() {
                    let c = format!("{ctx}[{i}]");
                    if let Some(p) = self.expect_object(part, &c, "content[].text")? {
                        self.field(p, "text", &c, |w, v, c| {
                            w.string_leaf(v, c, "content[].text")
                        })?;
                    }
                }
                Ok(())
            }
            _ => self.string_leaf(v, ctx, "content"),
        }
    }

    fn chat_object(&mut self, obj: &mut Map<String, Value>, ctx: &str) -> Result<(), E2eeError> {
        let keys: Vec<String> = obj.keys().cloned().collect();
        for key in keys {
            if is_structural(&key) {
                continue;
            }
            let c = format!("{ctx}.{key}");
            let Some(v) = obj.get_mut(&key) else { continue };
            match key.as_str() {
                "content" => self.content(v, &c)?,
                "audio" => {
                    if let Some(a) = self.expect_object(v, &c, "audio.data")? {
                        self.field(a, "data", &c, |w, v, c| w.string_leaf(v, c, "audio.data"))?;
                    }
                }
                "nearai_tool_result" => {
                    let path = "nearai_tool_result.output";
                    if let Some(a) = self.expect_object(v, &c, path)? {
                        self.field(a, "output", &c, |w, v, c| w.string_leaf(v, c, path))?;
                    }
                }
                "tool_calls" => {
                    let base = "tool_calls[].function";
                    let name = "tool_calls[].function.name";
                    if let Some(calls) = self.expect_array(v, &c, name)? {
                        for (i, call) in calls.iter_mut().enumerate() {
                            let cc = format!("{c}[{i}]");
                            if let Some(call) = self.expect_object(call, &cc, name)? {
                                self.field(call, "function", &cc, |w, v, c| {
                                    w.function_object(v, c, base)
                                })?;
                            }
                        }
                    }
                }
                "function_call" if !v.is_string() => {
                    self.function_object(v, &c, "function_call")?
                }
                "function_call" => {} // the deprecated string form ("auto", "none")
                other => {
                    let path = other.to_owned();
                    self.string_leaf(v, &c, &path)?
                }
            }
        }
        Ok(())
    }

    fn logprob_entries(&mut self, v: &mut Value, ctx: &str, base: &str) -> Result<(), E2eeError> {
        let token_path = format!("{base}.token");
        let Some(entries) = self.expect_array(v, ctx, &token_path)? else {
            return Ok(());
        };
        for (i, e) in entries.iter_mut().enumerate() {
            let c = format!("{ctx}[{i}]");
            let Some(e) = self.expect_object(e, &c, &token_path)? else {
                continue;
            };
            self.field(e, "token", &c, |w, v, c| w.string_leaf(v, c, &token_path))?;
            let bytes_path = format!("{base}.bytes");
            self.field(e, "bytes", &c, |w, v, c| w.json_leaf(v, c, &bytes_path))?;
            let top = format!("{base}.top_logprobs[]");
            self.field(e, "top_logprobs", &c, |w, v, c| {
                w.logprob_entries(v, c, &top)
            })?;
        }
        Ok(())
    }

    fn choices(&mut self, body: &mut Map<String, Value>, member: &str) -> Result<(), E2eeError> {
        let Some(v) = body.get_mut("choices") else {
            return Ok(());
        };
        let choices = match v {
            Value::Null => return Ok(()),
            Value::Array(a) => a,
            other => {
                return Err(E2eeError::BadBody(format!(
                    "choices: expected array, got {}",
                    json_type(other)
                )));
            }
        };
        for (i, choice) in choices.iter_mut().enumerate() {
            let ctx = format!("choices[{i}]");
            let Value::Object(choice) = choice else {
                return Err(E2eeError::BadBody(format!("{ctx}: expected object")));
            };
            if let Some(m) = choice.get_mut(member) {
                match m {
                    Value::Null => {}
                    Value::Object(m) => self.chat_object(m, &format!("{ctx}.{member}"))?,
                    other => {
                        return Err(E2eeError::BadBody(format!(
                            "{ctx}.{member}: expected object, got {}",
                            json_type(other)
                        )));
                    }
                }
            }
            if self.policy == Policy::NearAllFields
                && let Some(lp) = choice.get_mut("logprobs")
                    && let Value::Object(lp) = lp {
                        for key in ["content", "refusal"] {
                            let base = format!("logprobs.{key}[]");
                            let c = format!("{ctx}.logprobs");
                            self.field(lp, key, &c, |w, v, c| w.logprob_entries(v, c, &base))?;
                        }
                    }
        }
        Ok(())
    }

    fn data_items(
        &mut self,
        body: &mut Map<String, Value>,
        list: &str,
        visit: ItemVisitor<'_, Self>,
    ) -> Result<(), E2eeError> {
        let Some(v) = body.get_mut(list) else {
            return Ok(());
        };
        let items = match v {
            Value::Null => return Ok(()),
            Value::Array(a) => a,
            other => {
                return Err(E2eeError::BadBody(format!(
                    "{list}: expected array, got {}",
                    json_type(other)
                )));
            }
        };
        for (i, item) in items.iter_mut().enumerate() {
            let c = format!("{list}[{i}]");
            let Value::Object(item) = item else {
                return Err(E2eeError::BadBody(format!("{c}: expected object")));
            };
            visit(self, item, &c)?;
        }
        Ok(())
    }

    fn body(&mut self, body: &mut Map<String, Value>, streaming: bool) -> Result<(), E2eeError> {
        match self.endpoint {
            Endpoint::Chat => self.choices(body, if streaming { "delta" } else { "message" }),
            Endpoint::Images => self.data_items(body, "data", &mut |w, item, c| {
                w.field(item, "b64_json", c, |w, v, c| {
                    w.string_leaf(v, c, "b64_json")
                })?;
                w.field(item, "revised_prompt", c, |w, v, c| {
                    w.string_leaf(v, c, "revised_prompt")
                })
            }),
            Endpoint::Embeddings => self.data_items(body, "data", &mut |w, item, c| {
                w.field(item, "embedding", c, |w, v, c| {
                    w.json_leaf(v, c, "embedding")
                })
            }),
            Endpoint::Rerank => self.data_items(body, "results", &mut |w, item, c| {
                let path = "results[].document.text";
                w.field(item, "document", c, |w, v, c| match v {
                    Value::Object(d) => w.field(d, "text", c, |w, v, c| w.string_leaf(v, c, path)),
                    _ => Ok(()), // a document echoed as a plain value carries no text leaf
                })
            }),
            Endpoint::Score => self.data_items(body, "data", &mut |w, item, c| {
                w.field(item, "score", c, |w, v, c| w.json_leaf(v, c, "score"))
            }),
        }
    }
}

fn wrap(ctx: &str, e: E2eeError) -> E2eeError {
    match e {
        E2eeError::AuthFailed(m) => E2eeError::AuthFailed(format!("decrypt {ctx}: {m}")),
        E2eeError::Malformed(m) => E2eeError::Malformed(format!("decrypt {ctx}: {m}")),
        E2eeError::InvalidKey(m) => E2eeError::InvalidKey(format!("decrypt {ctx}: {m}")),
        E2eeError::Replay(m) => E2eeError::Replay(format!("decrypt {ctx}: {m}")),
        other => other,
    }
}

/// Decrypts one response body (a non-streaming JSON response, or one SSE chunk when
/// `streaming`) in place and returns how many fields were opened. Fails on the first leaf
/// the policy requires encrypted that is not, that does not open, or a malformed structure.
pub fn decrypt_body<O: FieldOpener>(
    body: &mut Value,
    opener: &mut O,
    policy: Policy,
    endpoint: Endpoint,
    streaming: bool,
) -> Result<usize, E2eeError> {
    let Value::Object(map) = body else {
        return Err(E2eeError::BadBody(format!(
            "expected a JSON object, got {}",
            json_type(body)
        )));
    };
    let mut walk = Walk {
        opener,
        policy,
        endpoint,
        opened: 0,
    };
    walk.body(map, streaming)?;
    Ok(walk.opened)
}

/// Decrypts a complete non-streaming JSON response body; returns the decrypted JSON text.
pub fn decrypt_json_response<O: FieldOpener>(
    body: &[u8],
    opener: &mut O,
    policy: Policy,
    endpoint: Endpoint,
) -> Result<(Value, usize), E2eeError> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| E2eeError::BadBody(format!("response is not JSON: {e}")))?;
    let n = decrypt_body(&mut v, opener, policy, endpoint, false)?;
    Ok((v, n))
}

/// Incremental decryptor of an encrypted SSE chat stream, bound to one client session.
///
/// Fed bytes split anywhere, it releases each decrypted event in order. The first chunk that
/// fails (non-JSON, malformed, plaintext where ciphertext is required, authentication, replay)
/// yields [`E2eeError::Chunk`] with that chunk's index, and nothing after it is ever released.
/// A stream that ends without `data: [DONE]`, mid-event, or carries data after it, fails.
pub struct SseDecryptor<O: FieldOpener> {
    opener: O,
    policy: Policy,
    endpoint: Endpoint,
    splitter: SseSplitter,
    events: usize,
    opened: usize,
    failed: Option<E2eeError>,
}

impl<O: FieldOpener> SseDecryptor<O> {
    /// A decryptor for a chat stream opened by `opener` under `policy`.
    pub fn new(opener: O, policy: Policy) -> Self {
        Self {
            opener,
            policy,
            endpoint: Endpoint::Chat,
            splitter: SseSplitter::new(MAX_EVENT_BYTES),
            events: 0,
            opened: 0,
            failed: None,
        }
    }

    fn event(&mut self, data: &str, name: Option<&str>) -> Result<String, E2eeError> {
        let mut v: Value = serde_json::from_str(data)
            .map_err(|e| E2eeError::BadBody(format!("SSE data is not JSON: {e}")))?;
        let n = decrypt_body(&mut v, &mut self.opener, self.policy, self.endpoint, true)?;
        self.opened += n;
        let payload = if n == 0 {
            data.to_owned()
        } else {
            v.to_string()
        };
        Ok(match name {
            Some(name) => format!("event: {name}\ndata: {payload}\n\n"),
            None => format!("data: {payload}\n\n"),
        })
    }

    fn fail(&mut self, e: E2eeError) -> E2eeError {
        let e = E2eeError::Chunk {
            index: self.events,
            source: Box::new(e),
        };
        self.failed = Some(e.clone());
        e
    }
}

fn sse_error(e: SseError) -> E2eeError {
    match e {
        SseError::EventTooLarge { limit } => {
            E2eeError::Limit(format!("SSE event over {limit} bytes"))
        }
        other => E2eeError::Stream(other.to_string()),
    }
}

impl<O: FieldOpener> StreamDecryptor for SseDecryptor<O> {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<String>) -> Result<(), E2eeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut items = Vec::new();
        let split = self.splitter.push(bytes, &mut items);
        for item in items {
            match item {
                SseItem::Done => out.push("data: [DONE]\n\n".to_owned()),
                SseItem::Event(ev) => match self.event(&ev.data, ev.event.as_deref()) {
                    Ok(text) => {
                        out.push(text);
                        self.events += 1;
                    }
                    Err(e) => return Err(self.fail(e)),
                },
            }
        }
        split.map_err(|e| {
            let e = sse_error(e);
            self.fail(e)
        })
    }

    fn finish(&mut self) -> Result<StreamSummary, E2eeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Err(e) = self.splitter.finish() {
            return Err(self.fail(sse_error(e)));
        }
        if !self.splitter.saw_done() {
            return Err(self.fail(E2eeError::Stream(
                "stream ended without data: [DONE]".into(),
            )));
        }
        Ok(StreamSummary {
            events: self.events,
            decrypted_fields: self.opened,
        })
    }
}

/// Decrypts a whole SSE body and returns its decrypted events (without the terminator).
pub fn decrypt_stream<O: FieldOpener>(
    body: &[u8],
    opener: O,
    policy: Policy,
) -> Result<(Vec<Value>, StreamSummary), E2eeError> {
    let mut d = SseDecryptor::new(opener, policy);
    let mut out = Vec::new();
    d.push(body, &mut out)?;
    let summary = d.finish()?;
    let mut events = Vec::with_capacity(out.len());
    for text in out {
        let data: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .collect::<Vec<_>>()
            .join("\n");
        if data == "[DONE]" {
            continue;
        }
        let v = serde_json::from_str(&data).map_err(|e| E2eeError::BadBody(e.to_string()))?;
        events.push(v);
    }
    Ok((events, summary))
}

#[derive(Default)]
struct ToolCallAcc {
    id: String,
    kind: String,
    name: String,
    arguments: String,
}

fn take_last_nonempty(slot: &mut String, v: Option<&Value>) {
    if let Some(Value::String(s)) = v
        && !s.is_empty() {
            slot.clone_from(s);
        }
}

/// Builds the `chat.completion` object a non-streaming client expects from the decrypted
/// chunks of a stream (§6.5 B): string fields of `choices[0].delta` concatenated per name,
/// tool calls merged by their required integer `index`, the last non-empty `finish_reason`
/// (default `stop`), `id`/`created`/`model` from the last chunk that has them. Fails on no chunks, a tool
/// call without `index`, or a non-string `finish_reason`.
pub fn reassemble(chunks: &[Value]) -> Result<Value, E2eeError> {
    if chunks.is_empty() {
        return Err(E2eeError::Stream("no SSE chunks received".into()));
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut tools: std::collections::BTreeMap<u64, ToolCallAcc> = Default::default();
    let mut finish = String::from("stop");
    let mut usage = None;
    for chunk in chunks {
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            usage = Some(u.clone());
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            continue;
        };
        match choice.get("finish_reason") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => finish.clone_from(s),
            Some(_) => return Err(E2eeError::BadBody("finish_reason is not a string".into())),
        }
        let Some(Value::Object(delta)) = choice.get("delta") else {
            continue;
        };
        for (k, v) in delta {
            match (k.as_str(), v) {
                ("tool_calls", Value::Array(calls)) => merge_tool_calls(&mut tools, calls)?,
                (k, Value::String(s)) if !is_structural(k) && !s.is_empty() => {
                    match fields.iter_mut().find(|(name, _)| name == k) {
                        Some((_, acc)) => acc.push_str(s),
                        None => fields.push((k.to_owned(), s.clone())),
                    }
                }
                _ => {}
            }
        }
    }
    let mut message = Map::new();
    for (k, v) in fields {
        message.insert(k, Value::String(v));
    }
    message.insert("role".into(), Value::String("assistant".into()));
    if !tools.is_empty() {
        let calls = tools
            .into_iter()
            .map(|(i, t)| {
                serde_json::json!({"index": i, "id": t.id, "type": t.kind,
                    "function": {"name": t.name, "arguments": t.arguments}})
            })
            .collect();
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    let last = |key: &str| {
        chunks
            .iter()
            .rev()
            .find_map(|c| c.get(key).filter(|v| !v.is_null()))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let mut out = serde_json::json!({
        "choices": [{"finish_reason": finish, "index": 0, "message": message}],
        "created": last("created"),
        "id": last("id"),
        "model": last("model"),
        "object": "chat.completion",
    });
    if let (Some(u), Value::Object(o)) = (usage, &mut out) {
        o.insert("usage".into(), u);
    }
    Ok(out)
}

fn merge_tool_calls(
    tools: &mut std::collections::BTreeMap<u64, ToolCallAcc>,
    calls: &[Value],
) -> Result<(), E2eeError> {
    for call in calls {
        let Some(index) = call.get("index").and_then(Value::as_u64) else {
            return Err(E2eeError::BadBody(
                "tool call delta without integer index".into(),
            ));
        };
        if tools.len() >= 1024 && !tools.contains_key(&index) {
            return Err(E2eeError::Limit("too many tool calls".into()));
        }
        let acc = tools.entry(index).or_default();
        take_last_nonempty(&mut acc.id, call.get("id"));
        take_last_nonempty(&mut acc.kind, call.get("type"));
        if let Some(f) = call.get("function") {
            take_last_nonempty(&mut acc.name, f.get("name"));
            if let Some(Value::String(a)) = f.get("arguments") {
                acc.arguments.push_str(a);
            }
        }
    }
    Ok(())
}
