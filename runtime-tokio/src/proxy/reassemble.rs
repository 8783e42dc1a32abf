//! A non-streaming chat answer rebuilt from the decrypted event stream: the E2EE protocols of
//! venice and NEAR protect streamed answers, so the proxy asks for a stream and hands a client
//! that did not one `chat.completion` object.

use serde_json::{Map, Value, json};

/// The `chat.completion` object the `chat.completion.chunk` events in `sse` add up to.
pub(super) fn chat_completion(sse: &[u8]) -> Value {
    let mut id = Value::Null;
    let mut model = Value::Null;
    let mut created = Value::Null;
    let mut usage = Value::Null;
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut finish_reason = Value::Null;
    let text = String::from_utf8_lossy(sse);
    let chunks = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| *data != "[DONE]")
        .filter_map(|data| serde_json::from_str::<Value>(data).ok());
    for chunk in chunks {
        for (slot, name) in [(&mut id, "id"), (&mut model, "model"), (&mut created, "created"), (&mut usage, "usage")] {
            if let Some(v) = chunk.get(name).filter(|v| !v.is_null()) {
                *slot = v.clone();
            }
        }
        let Some(choice) = chunk.pointer("/choices/0") else { continue };
        if let Some(piece) = choice.pointer("/delta/content").and_then(Value::as_str) {
            content.push_str(piece);
        }
        if let Some(piece) = choice.pointer("/delta/reasoning_content").and_then(Value::as_str) {
            reasoning.push_str(piece);
        }
        if let Some(reason) = choice.get("finish_reason").filter(|v| !v.is_null()) {
            finish_reason = reason.clone();
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    message.insert("content".into(), json!(content));
    if !reasoning.is_empty() {
        message.insert("reasoning_content".into(), json!(reasoning));
    }
    let mut completion = json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    });
    if !usage.is_null() {
        completion["usage"] = usage;
    }
    completion
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_add_up_to_one_completion() {
        let sse = concat!(
            "data: {\"id\":\"c1\",\"model\":\"m\",\"created\":5,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n",
            "data: [DONE]\n\n"
        );
        let c = chat_completion(sse.as_bytes());
        assert_eq!(c["object"], "chat.completion");
        assert_eq!(c["choices"][0]["message"]["content"], "Hello");
        assert_eq!(c["choices"][0]["finish_reason"], "stop");
        assert_eq!((c["id"].as_str(), c["model"].as_str(), c["created"].as_i64()), (Some("c1"), Some("m"), Some(5)));
        assert_eq!(c["usage"]["total_tokens"], 3);
    }
}
