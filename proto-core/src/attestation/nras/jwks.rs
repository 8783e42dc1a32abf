//! NRAS signing keys: the JWKS document (RFC 7517), reduced to the EC P-384 keys a token may
//! name by `kid`.
//!
//! Every entry is kept with either its key or the reason it cannot be used, so a token naming
//! an unusable key gets a precise error instead of "unknown kid". A key is usable only if it is
//! `kty` EC, `crv` P-384, has 48-byte `x` and `y` forming a curve point, does not restrict itself
//! to another algorithm (`alg`) or use (`use`), and — when it carries an `x5c` chain — the first
//! certificate holds that same public key. The x5c chain itself is not validated (NVIDIA's
//! attestation root is not pinned here; trust in the JWKS rests on the TLS channel it came over).

use p384::ecdsa::VerifyingKey;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

use super::jws;

/// Most keys read from a JWKS (NVIDIA publishes about 30).
pub(crate) const MAX_KEYS: usize = 256;

/// The keys of a JWKS, in document order.
#[derive(Debug, Default)]
pub struct Jwks {
    keys: Vec<(String, Result<VerifyingKey, String>)>,
}

/// Why a key cannot be looked up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyLookupError {
    /// No entry has this `kid`.
    #[error("no JWKS key has kid {0:?}")]
    Unknown(String),
    /// Several entries have this `kid`: ambiguous, so none is used.
    #[error("JWKS has {count} keys with kid {kid:?}")]
    Duplicate {
        /// The kid.
        kid: String,
        /// How many entries carry it.
        count: usize,
    },
    /// The entry exists but cannot verify ES384 signatures.
    #[error("JWKS key {kid:?} is unusable: {reason}")]
    Unusable {
        /// The kid.
        kid: String,
        /// Why.
        reason: String,
    },
}

impl Jwks {
    /// Parses a JWKS document. Fails only if the document as a whole is unusable (not JSON, no
    /// `keys` array, more than 256 entries); individual bad keys are recorded as such.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let doc: Value =
            serde_json::from_slice(body).map_err(|e| format!("JWKS is not JSON: {e}"))?;
        let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
            return Err("JWKS has no keys array".into());
        };
        if entries.len() > MAX_KEYS {
            return Err(format!(
                "JWKS has {} keys, more than the {MAX_KEYS} accepted",
                entries.len()
            ));
        }
        let mut keys = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some(obj) = entry.as_object() else {
                continue;
            };
            let Some(kid) = obj.get("kid").and_then(Value::as_str) else {
                continue;
            };
            keys.push((kid.to_owned(), es384_key(obj)));
        }
        Ok(Self { keys })
    }

    /// The ES384 verifying key with this `kid`: exactly one entry must carry it, and it must be
    /// usable.
    pub fn key(&self, kid: &str) -> Result<&VerifyingKey, KeyLookupError> {
        let mut found = self.keys.iter().filter(|(k, _)| k == kid);
        let Some((_, first)) = found.next() else {
            return Err(KeyLookupError::Unknown(kid.to_owned()));
        };
        let extra = found.count();
        if extra > 0 {
            return Err(KeyLookupError::Duplicate {
                kid: kid.to_owned(),
                count: extra + 1,
            });
        }
        first.as_ref().map_err(|reason| KeyLookupError::Unusable {
            kid: kid.to_owned(),
            reason: reason.clone(),
        })
    }

    /// Number of entries that carry a `kid`.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if no entry carries a `kid`.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A JWKS with these keys (tests, and callers holding keys from elsewhere).
    pub fn from_keys(keys: impl IntoIterator<Item = (String, VerifyingKey)>) -> Self {
        Self {
            keys: keys.into_iter().map(|(k, v)| (k, Ok(v))).collect(),
        }
    }
}

/// The entry's P-384 key, or why it is not one.
fn es384_key(obj: &Map<String, Value>) -> Result<VerifyingKey, String> {
    let field = |k: &str| obj.get(k).and_then(Value::as_str);
    if field("kty") != Some("EC") || field("crv") != Some("P-384") {
        return Err(format!(
            "not an EC P-384 key (kty {:?}, crv {:?})",
            field("kty"),
            field("crv")
        ));
    }
    if let Some(alg) = obj.get("alg").filter(|a| !a.is_null())
        && alg.as_str() != Some("ES384")
    {
        return Err(format!("key is for alg {alg}"));
    }
    if let Some(usage) = obj.get("use").filter(|u| !u.is_null())
        && usage.as_str() != Some("sig")
    {
        return Err(format!("key is for use {usage}"));
    }
    let coord = |k: &str| -> Result<Vec<u8>, String> {
        let bytes = field(k)
            .and_then(jws::b64url)
            .ok_or_else(|| format!("{k} is missing or not base64url"))?;
        if bytes.len() != 48 {
            return Err(format!("{k} is {} bytes, not 48", bytes.len()));
        }
        Ok(bytes)
    };
    let mut sec1 = Vec::with_capacity(97);
    sec1.push(0x04);
    sec1.extend(coord("x")?);
    sec1.extend(coord("y")?);
    let key =
        VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| "x/y is not a P-384 point".to_owned())?;
    if let Some(chain) = obj.get("x5c").filter(|c| !c.is_null()) {
        x5c_matches(chain, &sec1)?;
    }
    Ok(key)
}

/// The first certificate of `x5c` must carry exactly the uncompressed point `sec1`.
fn x5c_matches(chain: &Value, sec1: &[u8]) -> Result<(), String> {
    use base64::Engine as _;
    use x509_cert::der::Decode as _;
    let first = chain
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .ok_or("x5c has no certificate")?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(first)
        .map_err(|_| "x5c[0] is not base64")?;
    let cert = x509_cert::Certificate::from_der(&der)
        .map_err(|e| format!("x5c[0] is not a certificate: {e}"))?;
    let spki = cert.tbs_certificate().subject_public_key_info();
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or("x5c[0] key has unused bits")?;
    if bits.len() == sec1.len() && bool::from(bits.ct_eq(sec1)) {
        Ok(())
    } else {
        Err("x5c[0] certificate holds a different key than x/y".into())
    }
}
