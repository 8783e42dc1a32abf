//! Compact JWS tokens (`header.payload.signature`, RFC 7515 §7.1), split and decoded with
//! bounds. Shared by the NRAS verifier and the Proof of Cloud verifier; neither trusts anything
//! decoded here until its own signature check has passed.

use base64::Engine as _;
use serde_json::{Map, Value};

/// Longest token accepted, in bytes (observed NRAS tokens are a few kilobytes).
pub(crate) const MAX_TOKEN_LEN: usize = 256 * 1024;

/// A token split into its parts. `signing_input` is the exact ASCII the signature covers.
#[derive(Debug)]
pub(crate) struct Jws<'a> {
    /// `base64url(header) "." base64url(payload)`, as received.
    pub(crate) signing_input: &'a str,
    /// The decoded protected header (a JSON object).
    pub(crate) header: Map<String, Value>,
    /// The decoded payload bytes.
    pub(crate) payload: Vec<u8>,
    /// The decoded signature bytes.
    pub(crate) signature: Vec<u8>,
}

/// Why a token is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwsError {
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("token is {0} bytes, more than the {MAX_TOKEN_LEN} accepted")]
    TooLong(usize),
    /// Not exactly three dot-separated parts.
    #[error("expected 3 dot-separated parts, got {0}")]
    Parts(usize),
    /// A part is not unpadded base64url.
    #[error("{0} is not unpadded base64url")]
    Base64(&'static str),
    /// The header is not a JSON object.
    #[error("header is not a JSON object: {0}")]
    Header(String),
}

/// Splits and decodes `token`. Nothing is verified here.
pub(crate) fn split(token: &str) -> Result<Jws<'_>, JwsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError::TooLong(token.len()));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts.as_slice() else {
        return Err(JwsError::Parts(parts.len()));
    };
    let header_bytes = b64url(h).ok_or(JwsError::Base64("header"))?;
    let payload = b64url(p).ok_or(JwsError::Base64("payload"))?;
    let signature = b64url(s).ok_or(JwsError::Base64("signature"))?;
    let header = match serde_json::from_slice::<Value>(&header_bytes) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(JwsError::Header("not an object".into())),
        Err(e) => return Err(JwsError::Header(e.to_string())),
    };
    // The signing input is the first two parts and the dot between them.
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(Jws {
        signing_input,
        header,
        payload,
        signature,
    })
}

/// Unpadded base64url (RFC 7515 §2), canonical trailing bits only.
pub(crate) fn b64url(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}

/// The payload decoded as a JSON object, or why not.
pub(crate) fn claims(payload: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("claims are not a JSON object".into()),
        Err(e) => Err(format!("claims are not JSON: {e}")),
    }
}

/// A header or claim that must be a string when present: `Ok(None)` when absent or `null`.
pub(crate) fn opt_str<'m>(m: &'m Map<String, Value>, key: &str) -> Result<Option<&'m str>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{key} is not a string")),
    }
}

/// A claim that must be a whole number of seconds when present (`null` = absent).
pub(crate) fn opt_int(m: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{key} is not a whole number")),
        Some(_) => Err(format!("{key} is not a number")),
    }
}

/// A NumericDate claim (RFC 7519 §2): seconds, possibly fractional; fractions are dropped.
pub(crate) fn opt_numeric_date(m: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(f)) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
            _ => Err(format!("{key} is out of range")),
        },
        Some(_) => Err(format!("{key} is not a number")),
    }
}
