//! Incremental decryption of a streamed answer (SSE events `e2e_init`, `e2e`, `usage`,
//! `e2e_error`).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::value::RawValue;

use super::keys::ResponseKeyPair;
use super::primitives::{Label, SymmetricKey, nonce_of, open};
use super::{E2eeError, MAX_SSE_EVENT, MAX_STREAM_EVENTS, NONCE_LEN};
use crate::http::sse::{SseError, SseItem, SseSplitter};

/// What a completed stream looked like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamSummary {
    /// Decrypted chunks released, the terminator chunk included.
    pub chunks: usize,
    /// SSE events processed.
    pub events: usize,
    /// The last positive `completion_tokens` of the plaintext `usage` events (statistics only;
    /// never released as content).
    pub completion_tokens: u64,
}

/// Decrypts a Chutes SSE answer fed in pieces of any size.
///
/// Guarantees: plaintext is released only from chunks that authenticated under the stream
/// key decapsulated from this session's single `e2e_init`, in arrival order, byte for byte as
/// the instance sealed them. The first failing event (index counted over all SSE events)
/// stops the stream with [`E2eeError::Chunk`]; the error is sticky and nothing after it is
/// released. A repeated AEAD nonce, a second `e2e_init`, a chunk before `e2e_init` or after the
/// terminator, an `e2e_error`, an unparsable event and an event with no encrypted member all
/// fail. [`StreamDecryptor::finish`] succeeds only if an authenticated chunk ended with
/// `data: [DONE]`; a plaintext `data: [DONE]` from the platform before that chunk fails.
#[derive(Debug)]
pub struct StreamDecryptor {
    keys: ResponseKeyPair,
    splitter: SseSplitter,
    stream_key: Option<SymmetricKey>,
    seen_nonces: BTreeSet<[u8; NONCE_LEN]>,
    events: usize,
    chunks: usize,
    completion_tokens: u64,
    terminated: bool,
    finished: bool,
    failed: Option<E2eeError>,
    scratch: Vec<SseItem>,
}

impl StreamDecryptor {
    pub(crate) fn new(keys: ResponseKeyPair) -> Self {
        Self {
            keys,
            splitter: SseSplitter::new(MAX_SSE_EVENT),
            stream_key: None,
            seen_nonces: BTreeSet::new(),
            events: 0,
            chunks: 0,
            completion_tokens: 0,
            terminated: false,
            finished: false,
            failed: None,
            scratch: Vec::new(),
        }
    }

    /// Decrypted chunks released so far (nothing has been released while this is 0).
    pub fn chunks_released(&self) -> usize {
        self.chunks
    }

    /// True once the authenticated terminator chunk has been released.
    pub fn saw_terminator(&self) -> bool {
        self.terminated
    }

    /// Feeds body bytes; appends each decrypted chunk (verbatim SSE text of the instance's
    /// upstream) to `out`. On error, `out` holds only the chunks before the failing event.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), E2eeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            return self.fail(E2eeError::Stream(
                "data after the stream was finished".into(),
            ));
        }
        let mut items = std::mem::take(&mut self.scratch);
        items.clear();
        let split = self.splitter.push(bytes, &mut items);
        let mut result = Ok(());
        for item in items.drain(..) {
            result = self.item(item, out);
            if result.is_err() {
                break;
            }
        }
        self.scratch = items;
        result?;
        split
            .map_err(|e| self.at_event(sse_error(e)))
            .or_else(|e| self.fail(e))
    }

    /// Declares the end of the body. Succeeds only if the authenticated terminator was seen and
    /// no event was left incomplete.
    pub fn finish(&mut self) -> Result<StreamSummary, E2eeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Err(e) = self.splitter.finish() {
            return self.fail(sse_error(e));
        }
        if !self.terminated {
            let why = match (self.stream_key.is_some(), self.chunks) {
                (false, _) => "stream ended without e2e_init",
                (true, 0) => "stream ended without any encrypted chunk",
                _ => "stream ended without its encrypted [DONE] chunk",
            };
            return self.fail(E2eeError::Stream(why.into()));
        }
        self.finished = true;
        Ok(StreamSummary {
            chunks: self.chunks,
            events: self.events,
            completion_tokens: self.completion_tokens,
        })
    }

    fn fail<T>(&mut self, e: E2eeError) -> Result<T, E2eeError> {
        self.failed = Some(e.clone());
        Err(e)
    }

    fn at_event(&self, e: E2eeError) -> E2eeError {
        E2eeError::Chunk {
            index: self.events,
            source: Box::new(e),
        }
    }

    fn item(&mut self, item: SseItem, out: &mut Vec<Vec<u8>>) -> Result<(), E2eeError> {
        let outcome = match item {
            SseItem::Done if self.terminated => Ok(()),
            SseItem::Done => Err(E2eeError::Stream(
                "plaintext [DONE] before the encrypted [DONE] chunk".into(),
            )),
            SseItem::Event(ev) => self.event(&ev.data, out),
        };
        let outcome = outcome.map_err(|e| self.at_event(e));
        self.events = self.events.saturating_add(1);
        outcome.or_else(|e| self.fail(e))
    }

    fn event(&mut self, data: &str, out: &mut Vec<Vec<u8>>) -> Result<(), E2eeError> {
        if self.events >= MAX_STREAM_EVENTS {
            return Err(E2eeError::Limit(format!(
                "more than {MAX_STREAM_EVENTS} events"
            )));
        }
        let members: BTreeMap<String, Box<RawValue>> = serde_json::from_str(data)
            .map_err(|e| E2eeError::Malformed(format!("event is not a JSON object: {e}")))?;
        let mut iter = members.into_iter();
        let (name, value) = match (iter.next(), iter.next()) {
            (Some(only), None) => only,
            (None, _) => return Err(E2eeError::Plaintext("event has no encrypted member".into())),
            (Some(_), Some(_)) => {
                return Err(E2eeError::Malformed(
                    "event has more than one member".into(),
                ));
            }
        };
        match name.as_str() {
            "e2e_init" => self.init(&value),
            "e2e" => self.chunk(&value, out),
            "usage" => {
                self.usage(&value);
                Ok(())
            }
            "e2e_error" => Err(E2eeError::Stream(
                "the instance reported an E2EE error".into(),
            )),
            _ => Err(E2eeError::Plaintext(format!(
                "unexpected plaintext member `{}`",
                truncate(&name)
            ))),
        }
    }

    fn init(&mut self, value: &RawValue) -> Result<(), E2eeError> {
        if self.stream_key.is_some() {
            return Err(E2eeError::Replay("second e2e_init in one stream".into()));
        }
        let kem_ct = b64_string(value, "e2e_init")?;
        self.stream_key = Some(self.keys.decapsulate(&kem_ct, Label::Stream)?);
        Ok(())
    }

    fn chunk(&mut self, value: &RawValue, out: &mut Vec<Vec<u8>>) -> Result<(), E2eeError> {
        let Some(key) = &self.stream_key else {
            return Err(E2eeError::Stream("encrypted chunk before e2e_init".into()));
        };
        if self.terminated {
            return Err(E2eeError::Stream(
                "encrypted chunk after the [DONE] chunk".into(),
            ));
        }
        let sealed = b64_string(value, "e2e")?;
        let nonce = nonce_of(&sealed).ok_or_else(|| {
            E2eeError::Malformed(format!(
                "chunk of {} bytes is shorter than nonce and tag",
                sealed.len()
            ))
        })?;
        if self.seen_nonces.contains(&nonce) {
            return Err(E2eeError::Replay(
                "AEAD nonce repeated within the stream".into(),
            ));
        }
        let plain = open(key, &sealed)?;
        self.seen_nonces.insert(nonce);
        self.terminated = ends_with_done(&plain);
        self.chunks += 1;
        out.push(plain);
        Ok(())
    }

    fn usage(&mut self, value: &RawValue) {
        #[derive(serde::Deserialize)]
        struct Usage {
            completion_tokens: Option<u64>,
        }
        if let Ok(Usage {
            completion_tokens: Some(n),
        }) = serde_json::from_str(value.get())
            && n > 0
        {
            self.completion_tokens = n;
        }
    }
}

/// A JSON string member holding standard base64, decoded.
fn b64_string(value: &RawValue, what: &str) -> Result<Vec<u8>, E2eeError> {
    let text: String = serde_json::from_str(value.get())
        .map_err(|_| E2eeError::Malformed(format!("`{what}` is not a JSON string")))?;
    B64.decode(text.as_bytes())
        .map_err(|e| E2eeError::Malformed(format!("`{what}` is not standard base64: {e}")))
}

/// True if the chunk's last non-blank line is the `data: [DONE]` terminator.
fn ends_with_done(plain: &[u8]) -> bool {
    let end = plain
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r'))
        .map_or(0, |i| i + 1);
    let body = &plain[..end];
    let start = body
        .iter()
        .rposition(|b| matches!(b, b'\n' | b'\r'))
        .map_or(0, |i| i + 1);
    matches!(&body[start..], b"data: [DONE]" | b"data:[DONE]")
}

fn sse_error(e: SseError) -> E2eeError {
    match e {
        SseError::EventTooLarge { limit } => {
            E2eeError::Limit(format!("SSE event larger than {limit} bytes"))
        }
        SseError::Truncated => E2eeError::Stream("stream truncated mid-event".into()),
        SseError::DataAfterDone => E2eeError::Stream("event after [DONE]".into()),
        other => E2eeError::Malformed(format!("event stream: {other}")),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}
