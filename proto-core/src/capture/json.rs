//! JSON plumbing for capture files: an order-preserving object reader with per-field typed
//! access (so errors can name the field), and a writer producing the reference layout
//! (2-space indentation, fields in a fixed order, `<` `>` `&` escaped as `\u003c` etc.).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// The members of one JSON object, in file order, values left unparsed.
#[derive(Debug)]
pub(crate) struct RawObject<'a>(pub(crate) Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members: Vec<(String, &'de RawValue)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if members.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format_args!("duplicate key {key:?}")));
                    }
                    members.push((key, map.next_value()?));
                }
                Ok(RawObject(members))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Parses `bytes` as one JSON object; the error is serde_json's one-line message.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<RawObject<'_>, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// The JSON type name of a value, for error messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON value to be written, members in the order given.
pub(crate) enum Out {
    Str(String),
    UInt(u64),
    Bool(bool),
    Arr(Vec<Out>),
    Obj(Vec<(String, Out)>),
}

/// Writes `value` the way Go's indenting encoder does, without a trailing newline.
pub(crate) fn to_indented(value: &Out) -> Vec<u8> {
    let mut out = String::new();
    write_value(value, 0, &mut out);
    out.into_bytes()
}

fn write_value(value: &Out, depth: usize, out: &mut String) {
    match value {
        Out::Str(s) => write_string(s, out),
        Out::UInt(n) => out.push_str(&n.to_string()),
        Out::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Out::Arr(items) if items.is_empty() => out.push_str("[]"),
        Out::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(depth + 1, out);
                write_value(item, depth + 1, out);
            }
            newline(depth, out);
            out.push(']');
        }
        Out::Obj(members) if members.is_empty() => out.push_str("{}"),
        Out::Obj(members) => {
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(depth + 1, out);
                write_string(key, out);
                out.push_str(": ");
                write_value(item, depth + 1, out);
            }
            newline(depth, out);
            out.push('}');
        }
    }
}

fn newline(depth: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// A JSON string literal with the reference encoder's escaping: HTML-sensitive characters and
/// the two JavaScript line terminators as `\uXXXX`, other control characters escaped.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_keeps_order_and_rejects_duplicates() {
        let obj = parse_object(br#"{"b": 1, "a": [2], "c": {"x": null}}"#).unwrap();
        let keys: Vec<_> = obj.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(obj.0[1].1.get(), "[2]");
        assert!(parse_object(br#"{"a": 1, "a": 2}"#).unwrap_err().contains("duplicate key \"a\""));
        assert!(parse_object(b"[1]").unwrap_err().contains("a JSON object"));
        assert!(parse_object(b"{\"a\": 1").is_err());
        assert!(parse_object(b"{} trailing").is_err());
    }

    #[test]
    fn writer_matches_the_reference_layout() {
        let value = Out::Obj(vec![
            ("url".into(), Out::Str("https://h/p?a=1&b=<2>\u{2028}\u{1}\"\\".into())),
            ("status".into(), Out::UInt(200)),
            ("ok".into(), Out::Bool(true)),
            (
                "headers".into(),
                Out::Obj(vec![("A".into(), Out::Arr(vec![Out::Str("x".into())])), ("E".into(), Out::Arr(vec![]))]),
            ),
            ("empty".into(), Out::Obj(vec![])),
        ]);
        let text = String::from_utf8(to_indented(&value)).unwrap();
        let expected = "{\n  \"url\": \"https://h/p?a=1\\u0026b=\\u003c2\\u003e\\u2028\\u0001\\\"\\\\\",\n  \"status\": 200,\n  \"ok\": true,\n  \"headers\": {\n    \"A\": [\n      \"x\"\n    ],\n    \"E\": []\n  },\n  \"empty\": {}\n}";
        assert_eq!(text, expected);
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["url"], "https://h/p?a=1&b=<2>\u{2028}\u{1}\"\\");
    }
}
