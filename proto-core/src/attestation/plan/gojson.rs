//! The slice of Go's `encoding/json` behaviour that request bodies depend on.
//!
//! Encoding: teep marshals maps and structs with Go's default encoder, which escapes `<`, `>`,
//! `&`, U+2028 and U+2029 and writes other control characters as `\u00xx` (lower-case hex),
//! except `\b \f \n \r \t`, which get their short forms (Go ≥ 1.22; teep needs Go 1.25).
//! `+` and `/` stay as they are. Map keys are written sorted bytewise (a `BTreeMap<String, _>`
//! iterates in that order).
//!
//! Decoding: Go matches a JSON key to a struct field exactly or, failing that,
//! case-insensitively (with its own simple case folding); later duplicates overwrite earlier
//! ones; JSON `null` leaves a string field untouched; a value of the wrong type makes the whole
//! call fail (Go finishes decoding but returns the error, and every caller here discards the
//! result). The helpers below reproduce that for the handful of string-only shapes the plan
//! reads (Proof of Cloud answers, Rekor index answers, the dstack app compose).
//!
//! Known divergence, always in the fail-closed direction: Go replaces invalid UTF-8 and lone
//! UTF-16 surrogate escapes inside strings with U+FFFD and accepts nesting up to 10 000 levels;
//! `serde_json` rejects both and stops at 128 levels.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Why a Go-style decode failed (syntax error, or a value of the wrong JSON type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GoJsonError(pub(crate) String);

impl fmt::Display for GoJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Appends `s` as a JSON string literal exactly as Go's `json.Marshal` writes it.
pub(crate) fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a Go-marshalled `map[string]string` (keys sorted, compact).
pub(crate) fn write_string_map(out: &mut String, map: &BTreeMap<String, String>) {
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k);
        out.push(':');
        write_string(out, v);
    }
    out.push('}');
}

/// Go's key folding for struct-field matching (`encoding/json` `foldName`): ASCII letters
/// upper-cased, other characters mapped through lower-case then upper-case when that is a
/// single character (so `ſ` folds to `S` and the Kelvin sign to `K`, as in Go).
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let mut lower = c.to_lowercase();
    let (Some(l), None) = (lower.next(), lower.next()) else { return c };
    let mut upper = l.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// True when Go would route JSON key `key` to a struct field named `field` (exact, or equal
/// under Go's case folding).
pub(crate) fn key_matches(key: &str, field: &str) -> bool {
    key == field
        || (key.chars().count() == field.chars().count() && key.chars().map(fold_char).eq(field.chars().map(fold_char)))
}

fn decode_with<'de, S: DeserializeSeed<'de>>(json: &'de [u8], seed: S) -> Result<S::Value, GoJsonError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = seed.deserialize(&mut de).map_err(|e| GoJsonError(e.to_string()))?;
    de.end().map_err(|e| GoJsonError(e.to_string()))?;
    Ok(value)
}

/// Decodes `json` into a Go struct whose fields are all `string`, named `fields` (their JSON
/// names). Returns the field values (empty when absent or `null`).
pub(crate) fn decode_string_struct(json: &[u8], fields: &[&str]) -> Result<Vec<String>, GoJsonError> {
    struct Seed<'f>(&'f [&'f str]);
    struct V<'f>(&'f [&'f str]);

    impl<'de, 'f> DeserializeSeed<'de> for Seed<'f> {
        type Value = Result<Vec<String>, GoJsonError>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V(self.0))
        }
    }

    impl<'de, 'f> Visitor<'de> for V<'f> {
        type Value = Result<Vec<String>, GoJsonError>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Ok(vec![String::new(); self.0.len()]))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut values = vec![String::new(); self.0.len()];
            let mut type_error = None;
            while let Some(key) = map.next_key::<String>()? {
                let slot =
                    self.0.iter().position(|f| *f == key).or_else(|| self.0.iter().position(|f| key_matches(&key, f)));
                match slot {
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                    Some(i) => match map.next_value::<serde_json::Value>()? {
                        serde_json::Value::String(s) => values[i] = s,
                        serde_json::Value::Null => {}
                        other => {
                            type_error.get_or_insert_with(|| {
                                GoJsonError(format!(
                                    "cannot unmarshal {} into field {} of type string",
                                    kind(&other),
                                    self.0[i]
                                ))
                            });
                        }
                    },
                }
            }
            Ok(match type_error {
                Some(e) => Err(e),
                None => Ok(values),
            })
        }
    }

    decode_with(json, Seed(fields))?
}

/// Decodes `json` as Go's `map[string]string`: `None` for a top-level `null`; `null` values
/// become empty strings; a later duplicate key wins.
pub(crate) fn decode_string_map(json: &[u8]) -> Result<Option<BTreeMap<String, String>>, GoJsonError> {
    struct Seed;
    struct V;

    impl<'de> DeserializeSeed<'de> for Seed {
        type Value = Result<Option<BTreeMap<String, String>>, GoJsonError>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
    }

    impl<'de> Visitor<'de> for V {
        type Value = Result<Option<BTreeMap<String, String>>, GoJsonError>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Ok(None))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            let mut type_error = None;
            while let Some(key) = map.next_key::<String>()? {
                match map.next_value::<serde_json::Value>()? {
                    serde_json::Value::String(s) => {
                        out.insert(key, s);
                    }
                    serde_json::Value::Null => {
                        out.insert(key, String::new());
                    }
                    other => {
                        type_error.get_or_insert_with(|| {
                            GoJsonError(format!("cannot unmarshal {} into a string map value", kind(&other)))
                        });
                    }
                }
            }
            Ok(match type_error {
                Some(e) => Err(e),
                None => Ok(Some(out)),
            })
        }
    }

    decode_with(json, Seed)?
}

/// Decodes `json` as Go's `[]string`: a top-level `null` is an empty list; `null` elements
/// become empty strings.
pub(crate) fn decode_string_list(json: &[u8]) -> Result<Vec<String>, GoJsonError> {
    struct Seed;
    struct V;

    impl<'de> DeserializeSeed<'de> for Seed {
        type Value = Result<Vec<String>, GoJsonError>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
    }

    impl<'de> Visitor<'de> for V {
        type Value = Result<Vec<String>, GoJsonError>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Ok(Vec::new()))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            let mut type_error = None;
            while let Some(v) = seq.next_element::<serde_json::Value>()? {
                match v {
                    serde_json::Value::String(s) => out.push(s),
                    serde_json::Value::Null => out.push(String::new()),
                    other => {
                        type_error.get_or_insert_with(|| {
                            GoJsonError(format!("cannot unmarshal {} into a string", kind(&other)))
                        });
                        out.push(String::new());
                    }
                }
            }
            Ok(match type_error {
                Some(e) => Err(e),
                None => Ok(out),
            })
        }
    }

    decode_with(json, Seed)?
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        let mut out = String::new();
        write_string(&mut out, s);
        out
    }

    #[test]
    fn string_escaping_matches_go() {
        assert_eq!(enc("a+b/c="), r#""a+b/c=""#);
        assert_eq!(enc("<>&"), r#""\u003c\u003e\u0026""#);
        assert_eq!(enc("\"\\"), r#""\"\\""#);
        assert_eq!(enc("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(enc("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(enc("\u{2028}\u{2029}é"), "\"\\u2028\\u2029é\"");
    }

    #[test]
    fn string_map_is_sorted_and_compact() {
        let mut m = BTreeMap::new();
        m.insert("b".to_owned(), "2".to_owned());
        m.insert("a".to_owned(), "<1>".to_owned());
        m.insert("B".to_owned(), "0".to_owned());
        let mut out = String::new();
        write_string_map(&mut out, &m);
        assert_eq!(out, r#"{"B":"0","a":"\u003c1\u003e","b":"2"}"#);
    }

    #[test]
    fn struct_fields_follow_go_matching() {
        let f = &["moniker", "nonce"];
        assert_eq!(decode_string_struct(br#"{"moniker":"a","nonce":"b","x":[1,{"y":2}]}"#, f).unwrap(), ["a", "b"]);
        // Case-insensitive match, last duplicate wins, null leaves the value.
        assert_eq!(
            decode_string_struct(br#"{"MONIKER":"a","Moniker":"c","nonce":"b","nonce":null}"#, f).unwrap(),
            ["c", "b"]
        );
        // Go's folding: U+017F LATIN SMALL LETTER LONG S folds to S, U+212A KELVIN SIGN to K.
        let go_fold = "{\"docker_compo\u{17f}e_file\":\"x\"}";
        assert_eq!(decode_string_struct(go_fold.as_bytes(), &["docker_compose_file"]).unwrap(), ["x"]);
        let kelvin = "{\"\u{212a}ey\":1}";
        assert!(decode_string_struct(kelvin.as_bytes(), &["key"]).unwrap_err().0.contains("key"));
        assert_eq!(decode_string_struct(b"null", f).unwrap(), ["", ""]);
        assert!(decode_string_struct(br#"{"nonce":5}"#, f).is_err());
        assert!(decode_string_struct(br#"[]"#, f).is_err());
        assert!(decode_string_struct(br#"{"nonce":"a"} x"#, f).is_err());
        assert!(decode_string_struct(br#"{"nonce":"a""#, f).is_err());
    }

    #[test]
    fn folding_rejects_multi_char_expansions() {
        // U+FB01 LATIN SMALL LIGATURE FI upper-cases to "FI" in Unicode but not in Go.
        assert!(!key_matches("\u{fb01}le", "file"));
        assert!(key_matches("FILE", "file"));
        assert!(key_matches("f\u{131}le", "FILE")); // dotless i upper-cases to I, as in Go
    }

    #[test]
    fn string_map_and_list() {
        let m = decode_string_map(br#"{"b":"2","a":null,"b":"3"}"#).unwrap().unwrap();
        assert_eq!(m.into_iter().collect::<Vec<_>>(), [("a".into(), "".into()), ("b".into(), "3".into())]);
        assert_eq!(decode_string_map(b" null ").unwrap(), None);
        assert!(decode_string_map(br#"{"a":1}"#).is_err());
        assert!(decode_string_map(br#"["a"]"#).is_err());
        assert_eq!(decode_string_list(br#"["a",null,"b"]"#).unwrap(), ["a", "", "b"]);
        assert_eq!(decode_string_list(b"null").unwrap(), Vec::<String>::new());
        assert!(decode_string_list(br#"["a",1]"#).is_err());
        assert!(decode_string_list(br#"{}"#).is_err());
    }
}
