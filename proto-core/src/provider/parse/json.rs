//! JSON reading shared by the provider parsers.
//!
//! Bodies are decoded once into a [`serde_json::Value`] and then read field by field, so every
//! error can name the field it is about (`info.tcb_info.event_log[3].imr: …`). The readers follow
//! the typing rules of the reference implementation's decoder:
//!
//! * a known field holding the wrong JSON type fails the whole parse;
//! * `null` (or absence) leaves the field at its zero value (`""`, `0`, `false`, empty list);
//! * an integer field accepts only an integer literal (`60`, not `60.0` or `6e1`);
//! * member names match exactly (case variants are unknown keys), and a duplicated member keeps
//!   its last value;
//! * members the schema does not name are ignored below the top level and listed (sorted) at
//!   the top level.
//!
//! Two fields may arrive either as a value or as a JSON string holding that value
//! ("double-encoded"): `tcb_info` objects and event logs. Their rules live here too, together
//! with the key normalisation one gateway needs.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::attestation::raw::{EventLogEntry, GpuEvidence};

/// A JSON object.
pub(super) type Obj = Map<String, Value>;

/// Why a field could not be read; parsers wrap it in a `ParseError` with their provider name.
pub(super) type Reason = String;

/// Prepends the uncompressed-point prefix `04` to a 128-character key; any other length
/// (130 with the prefix, 64, empty, …) is returned unchanged.
///
/// Only NanoGPT's dstack format omits the prefix, so only that parser applies the rule.
pub fn normalize_uncompressed_key(key: &str) -> String {
    if key.len() == 128 { format!("04{key}") } else { key.to_owned() }
}

/// If `bytes` decode as a JSON string, its content; a bare JSON `null` gives empty content;
/// anything else (an object, an array, text that is not JSON, empty input) comes back unchanged.
///
/// This is the "value or JSON-in-a-string" unwrapping that dstack's `tcb_info` needs, on raw
/// bytes. The parsers use the equivalent rule on already decoded values.
pub fn unwrap_double_encoded(bytes: &[u8]) -> Cow<'_, [u8]> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::String(s)) => Cow::Owned(s.into_bytes()),
        Ok(Value::Null) => Cow::Owned(Vec::new()),
        _ => Cow::Borrowed(bytes),
    }
}

/// Checks the body size against `limit`, then decodes it. `what` names the body in errors
/// (e.g. `attestation response`).
pub(super) fn decode_body(body: &[u8], limit: usize, what: &str) -> Result<Value, Reason> {
    if body.len() > limit {
        return Err(format!("{what} body exceeds size limit {limit} ({} bytes)", body.len()));
    }
    serde_json::from_slice(body).map_err(|e| format!("{what}: invalid JSON: {e}"))
}

/// The top-level object of a decoded body.
pub(super) fn top_object<'v>(value: &'v Value, what: &str) -> Result<&'v Obj, Reason> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(format!("{what}: expected a JSON object, got {}", describe(other))),
    }
}

/// Top-level member names that are not in `known`, sorted.
pub(super) fn unknown_keys(obj: &Obj, known: &[&str]) -> Vec<String> {
    let mut unknown: Vec<String> = obj.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect();
    unknown.sort();
    unknown
}

/// Merges several sorted unknown-key lists into one sorted list without duplicates.
pub(super) fn merge_unknown(lists: &[&[String]]) -> Vec<String> {
    let mut all: Vec<String> = lists.iter().flat_map(|l| l.iter().cloned()).collect();
    all.sort();
    all.dedup();
    all
}

/// The JSON type of a value, for messages.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// How many characters of a value's JSON text an error message shows.
const SNIPPET_CHARS: usize = 50;

/// At most [`SNIPPET_CHARS`] characters of a value's JSON text (serialisation stops early, so a
/// huge value costs nothing extra).
pub(super) fn snippet(value: &Value) -> String {
    /// Collects bytes until it has enough, then refuses more (which ends serialisation).
    struct Bounded(Vec<u8>);
    impl std::io::Write for Bounded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            // Four bytes per character is the most UTF-8 needs.
            let room = (SNIPPET_CHARS * 4 + 4).saturating_sub(self.0.len());
            if room == 0 {
                return Err(std::io::Error::other("enough"));
            }
            let n = buf.len().min(room);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Bounded(Vec::new());
    let _ = serde_json::to_writer(&mut out, value);
    let text = String::from_utf8_lossy(&out.0);
    let mut cut: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().nth(SNIPPET_CHARS).is_some() {
        cut.push_str("...");
    }
    cut
}

/// `<kind> <snippet>`, e.g. `number 1` or `string "1"`.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        other => format!("{} {}", kind(other), snippet(other)),
    }
}

/// `parent.key`, or `key` at the top level.
pub(super) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

/// `parent[index]`.
pub(super) fn index(parent: &str, i: usize) -> String {
    let mut s = String::with_capacity(parent.len() + 6);
    s.push_str(parent);
    let _ = write!(s, "[{i}]");
    s
}

fn type_error(at: &str, expected: &str, got: &Value) -> Reason {
    format!("{at}: expected {expected}, got {}", describe(got))
}

/// An object being read, with its path for messages. A JSON `null` in place of an object reads
/// as an object with no members.
#[derive(Clone, Debug)]
pub(super) struct Fields<'v> {
    map: Option<&'v Obj>,
    at: String,
}

impl<'v> Fields<'v> {
    /// Reads `value` (at path `at`) as an object; `null` gives an empty one.
    pub(super) fn of(value: &'v Value, at: String) -> Result<Self, Reason> {
        match value {
            Value::Object(map) => Ok(Self { map: Some(map), at }),
            Value::Null => Ok(Self { map: None, at }),
            other => Err(type_error(&at, "object", other)),
        }
    }

    /// Reads an optional value (at path `at`) as an object; `None` or `null` give an empty one.
    pub(super) fn opt(value: Option<&'v Value>, at: String) -> Result<Self, Reason> {
        match value {
            None => Ok(Self { map: None, at }),
            Some(v) => Self::of(v, at),
        }
    }

    /// The top-level object.
    pub(super) fn root(map: &'v Obj) -> Self {
        Self { map: Some(map), at: String::new() }
    }

    /// The path of a member.
    pub(super) fn path_of(&self, key: &str) -> String {
        join(&self.at, key)
    }

    /// The member `key`, unless absent or `null`.
    pub(super) fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    /// The member `key` as received, `null` included.
    pub(super) fn raw(&self, key: &str) -> Option<&'v Value> {
        self.map.and_then(|m| m.get(key))
    }

    /// A string member (`""` when absent or `null`).
    pub(super) fn str(&self, key: &str) -> Result<String, Reason> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(type_error(&self.path_of(key), "string", other)),
        }
    }

    /// A boolean member (`false` when absent or `null`).
    pub(super) fn bool(&self, key: &str) -> Result<bool, Reason> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(type_error(&self.path_of(key), "boolean", other)),
        }
    }

    /// An integer member (`0` when absent or `null`); only integer literals in the signed
    /// 64-bit range are accepted.
    pub(super) fn int(&self, key: &str) -> Result<i64, Reason> {
        match self.get(key) {
            None => Ok(0),
            Some(v @ Value::Number(n)) => {
                n.as_i64().ok_or_else(|| type_error(&self.path_of(key), "a 64-bit integer", v))
            }
            Some(other) => Err(type_error(&self.path_of(key), "integer", other)),
        }
    }

    /// A non-negative integer member that fits a `usize`.
    pub(super) fn count(&self, key: &str) -> Result<usize, Reason> {
        let n = self.int(key)?;
        usize::try_from(n).map_err(|_| format!("{}: expected a non-negative integer, got {n}", self.path_of(key)))
    }

    /// An integer member that fits a `u32` (event-log register indexes and event types).
    pub(super) fn u32(&self, key: &str) -> Result<u32, Reason> {
        let n = self.int(key)?;
        u32::try_from(n).map_err(|_| format!("{}: expected an integer in 0..=4294967295, got {n}", self.path_of(key)))
    }

    /// A number member (any JSON number; `0.0` when absent or `null`).
    pub(super) fn num(&self, key: &str) -> Result<f64, Reason> {
        match self.get(key) {
            None => Ok(0.0),
            Some(v @ Value::Number(n)) => n.as_f64().ok_or_else(|| type_error(&self.path_of(key), "number", v)),
            Some(other) => Err(type_error(&self.path_of(key), "number", other)),
        }
    }

    /// An object member (empty when absent or `null`).
    pub(super) fn obj(&self, key: &str) -> Result<Fields<'v>, Reason> {
        match self.get(key) {
            None => Ok(Fields { map: None, at: self.path_of(key) }),
            Some(v) => Fields::of(v, self.path_of(key)),
        }
    }

    /// An array member (empty when absent or `null`).
    pub(super) fn arr(&self, key: &str) -> Result<&'v [Value], Reason> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(type_error(&self.path_of(key), "array", other)),
        }
    }

    /// An array member, refused when it has more than `max` elements.
    pub(super) fn arr_max(&self, key: &str, max: usize) -> Result<&'v [Value], Reason> {
        let items = self.arr(key)?;
        if items.len() > max {
            return Err(format!("{}: more than {max} entries ({})", self.path_of(key), items.len()));
        }
        Ok(items)
    }

    /// The elements of an array member, each read as an object (`null` elements read as empty).
    pub(super) fn objects(&self, key: &str, max: usize) -> Result<Vec<Fields<'v>>, Reason> {
        let at = self.path_of(key);
        self.arr_max(key, max)?.iter().enumerate().map(|(i, v)| Fields::of(v, index(&at, i))).collect()
    }

    /// An array-of-strings member (`null` elements read as `""`).
    pub(super) fn strings(&self, key: &str) -> Result<Vec<String>, Reason> {
        let at = self.path_of(key);
        self.arr(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Null => Ok(String::new()),
                Value::String(s) => Ok(s.clone()),
                other => Err(type_error(&index(&at, i), "string", other)),
            })
            .collect()
    }

    /// Checks the types of the members named in `schema` (values unused, types enforced).
    pub(super) fn check(&self, schema: &[(&str, Kind)]) -> Result<(), Reason> {
        for (key, kind) in schema {
            match kind {
                Kind::Str => drop(self.str(key)?),
                Kind::Bool => drop(self.bool(key)?),
                Kind::Int => drop(self.int(key)?),
                Kind::Obj(inner) => self.obj(key)?.check(inner)?,
            }
        }
        Ok(())
    }
}

/// The JSON type a schema member must have when present and not `null`.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    /// A string.
    Str,
    /// `true` or `false`.
    Bool,
    /// An integer literal.
    Int,
    /// An object with these members.
    Obj(&'static [(&'static str, Kind)]),
}

// ---------------------------------------------------------------------------------------------
// Double-encoded values
// ---------------------------------------------------------------------------------------------

/// Parses the text held in a JSON string member (`at` names the member).
fn parse_inner(text: &str, at: &str) -> Result<Value, Reason> {
    if text.is_empty() {
        return Err(format!("{at}: empty string where JSON text was expected"));
    }
    serde_json::from_str(text).map_err(|e| format!("{at}: string does not hold valid JSON: {e}"))
}

/// Reads a `tcb_info` member: an object, or a string whose content is an object (the content
/// `null` reads as empty). Absent reads as empty (`None`). A JSON `null` or an empty string in
/// place of the member fails, as in the reference decoder, whose unwrapping turns both into empty
/// input. Read the result with [`Fields::opt`].
pub(super) fn tcb_info<'v>(parent: &Fields<'v>, key: &str) -> Result<Option<Cow<'v, Value>>, Reason> {
    let at = parent.path_of(key);
    match parent.raw(key) {
        None => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(Cow::Borrowed(v))),
        Some(Value::String(text)) => match parse_inner(text, &at)? {
            inner @ (Value::Object(_) | Value::Null) => Ok(Some(Cow::Owned(inner))),
            other => Err(format!("{at}: string holds {}, expected an object", describe(&other))),
        },
        Some(Value::Null) => Err(format!("{at}: null where an object (or a string holding one) was expected")),
        Some(other) => Err(type_error(&at, "object or string", other)),
    }
}

/// Reads the entries of an event-log array at `at`.
pub(super) fn event_log_entries(items: &[Value], at: &str) -> Result<Vec<EventLogEntry>, Reason> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let f = Fields::of(v, index(at, i))?;
            Ok(EventLogEntry {
                imr: f.u32("imr")?,
                event_type: f.u32("event_type")?,
                digest: f.str("digest")?,
                event: f.str("event")?,
                event_payload: f.str("event_payload")?,
            })
        })
        .collect()
}

/// An event log that must be an array (absent or `null`: empty).
pub(super) fn event_log_array(parent: &Fields<'_>, key: &str) -> Result<Vec<EventLogEntry>, Reason> {
    let at = parent.path_of(key);
    match parent.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => event_log_entries(items, &at),
        Some(other) => Err(type_error(&at, "array", other)),
    }
}

/// An event log that may be an array or a string holding the array (absent, `null`, or a string
/// holding `null`: empty). Anything else fails with
/// `event_log: expected array or string, got: <first 50 characters>`.
pub(super) fn event_log_flexible(parent: &Fields<'_>, key: &str) -> Result<Vec<EventLogEntry>, Reason> {
    let at = parent.path_of(key);
    match parent.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => event_log_entries(items, &at),
        Some(Value::String(text)) => match parse_inner(text, &at)? {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => event_log_entries(&items, &at),
            other => Err(format!("{at}: string holds {}, expected an array", describe(&other))),
        },
        Some(other) => Err(format!("{at}: expected array or string, got: {}", snippet(other))),
    }
}

/// An event log that must be a string holding the array, with at most `max` entries (absent,
/// `null`, `""`, or a string holding `null`: empty). A native array is a type error.
pub(super) fn event_log_string(parent: &Fields<'_>, key: &str, max: usize) -> Result<Vec<EventLogEntry>, Reason> {
    let at = parent.path_of(key);
    let text = parent.str(key)?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    match parse_inner(&text, &at)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) if items.len() > max => Err(format!("{at}: more than {max} entries ({})", items.len())),
        Value::Array(items) => event_log_entries(&items, &at),
        other => Err(format!("{at}: string holds {}, expected an array", describe(&other))),
    }
}

/// Reads a `gpu_evidence` array (at most `max` entries).
pub(super) fn gpu_evidence(parent: &Fields<'_>, key: &str, max: usize) -> Result<Vec<GpuEvidence>, Reason> {
    parent
        .objects(key, max)?
        .iter()
        .map(|f| {
            Ok(GpuEvidence { certificate: f.str("certificate")?, evidence: f.str("evidence")?, arch: f.str("arch")? })
        })
        .collect()
}

/// The GPU-evidence entry schema (for entries that are type-checked but not kept).
pub(super) const GPU_EVIDENCE_SCHEMA: &[(&str, Kind)] =
    &[("certificate", Kind::Str), ("evidence", Kind::Str), ("arch", Kind::Str)];

/// Type-checks every entry of a `gpu_evidence` array without keeping it.
pub(super) fn check_gpu_evidence(parent: &Fields<'_>, key: &str) -> Result<usize, Reason> {
    let entries = parent.objects(key, usize::MAX)?;
    for f in &entries {
        f.check(GPU_EVIDENCE_SCHEMA)?;
    }
    Ok(entries.len())
}

/// Decodes a standard-alphabet, padded base64 quote and re-encodes it as lower-case hex; empty
/// stays empty. Line breaks are skipped and unused trailing bits tolerated, as in the reference
/// decoder.
pub(super) fn base64_quote_to_hex(quote: &str, at: &str) -> Result<String, Reason> {
    use base64::Engine as _;
    use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    if quote.is_empty() {
        return Ok(String::new());
    }
    let cleaned: Cow<'_, str> = if quote.contains(['\r', '\n']) {
        Cow::Owned(quote.chars().filter(|c| *c != '\r' && *c != '\n').collect())
    } else {
        Cow::Borrowed(quote)
    };
    let bytes = LENIENT.decode(cleaned.as_bytes()).map_err(|e| format!("{at}: invalid base64: {e}"))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_key_prepends_only_at_128() {
        let k128 = "a".repeat(128);
        assert_eq!(normalize_uncompressed_key(&k128), format!("04{k128}"));
        for n in [0, 64, 127, 129, 130] {
            let k = "b".repeat(n);
            assert_eq!(normalize_uncompressed_key(&k), k);
        }
    }

    #[test]
    fn unwrap_double_encoded_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (br#""{\"key\":\"val\"}""#, br#"{"key":"val"}"#),
            (br#"{"key":"val"}"#, br#"{"key":"val"}"#),
            (b"not json at all", b"not json at all"),
            (br#""""#, b""),
            (br#""hello""#, b"hello"),
            (b"[1,2,3]", b"[1,2,3]"),
            (b"", b""),
            (b"null", b""),
        ];
        for (input, want) in cases {
            assert_eq!(unwrap_double_encoded(input).as_ref(), *want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn snippet_is_bounded_and_char_safe() {
        let long = Value::String("é".repeat(1000));
        let s = snippet(&long);
        assert!(s.ends_with("..."));
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 3);
        assert_eq!(snippet(&Value::from(1)), "1");
    }

    #[test]
    fn integer_rules() {
        let v: Value =
            serde_json::from_str(r#"{"a":60,"b":60.0,"c":6e1,"d":"1","e":null,"f":-1,"g":18446744073709551615}"#)
                .unwrap();
        let f = Fields::of(&v, String::new()).unwrap();
        assert_eq!(f.int("a"), Ok(60));
        assert!(f.int("b").unwrap_err().starts_with("b: expected a 64-bit integer"));
        assert!(f.int("c").is_err());
        assert_eq!(f.int("d").unwrap_err(), r#"d: expected integer, got string "1""#);
        assert_eq!(f.int("e"), Ok(0));
        assert_eq!(f.int("missing"), Ok(0));
        assert!(f.count("f").unwrap_err().contains("non-negative"));
        assert!(f.u32("f").is_err());
        assert!(f.int("g").is_err());
    }

    #[test]
    fn base64_quote() {
        assert_eq!(base64_quote_to_hex("", "q"), Ok(String::new()));
        assert_eq!(base64_quote_to_hex("BAACAA==", "q"), Ok("04000200".to_owned()));
        assert_eq!(base64_quote_to_hex("BAAC\nAA==", "q"), Ok("04000200".to_owned()));
        assert!(base64_quote_to_hex("BAACAA", "q").unwrap_err().starts_with("q: invalid base64"));
        assert!(base64_quote_to_hex("!!!!", "q").is_err());
        assert!(base64_quote_to_hex("BAAC_A==", "q").is_err(), "URL-safe alphabet is not accepted");
    }
}
