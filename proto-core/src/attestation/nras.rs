//! NVIDIA Remote Attestation Service (NRAS) results: the `nvidia_nras_verified` factor
//! (`attestation-core.md` §8.5, `factors.md` row 19).
//!
//! The verifier posts the GPU evidence to NRAS and fetches NRAS's JWKS; this module judges the
//! two answers, offline, at the injected time. The factor passes only if all of this holds:
//!
//! 1. the NRAS answer is HTTP 200 and holds exactly one overall token (`["JWT", token]`);
//! 2. the JWKS answer is HTTP 200 and parses ([`Jwks`]);
//! 3. the overall token's header says `alg` **ES384** — the only algorithm accepted, so no
//!    other algorithm (`none`, HMAC, RSA) can ever be selected by the token — with no `crit`
//!    extensions, and names by `kid` exactly one usable P-384 key of the JWKS;
//! 4. the ECDSA P-384/SHA-384 signature (raw 96-byte `r‖s`) over `header.payload` verifies;
//! 5. `exp` is present and `now < exp`; `nbf`, if present, `nbf <= now`; `iat`, if present,
//!    `iat <= now` — no leeway (the reference has none either);
//! 6. `eat_nonce` equals the nonce of the evidence we submitted (constant time): the token is
//!    about our evidence, not someone else's. The reference does not check this; every recorded
//!    token satisfies it;
//! 7. if the answer carries per-GPU tokens, each one's SHA-256 is the digest the signed overall
//!    token lists for that GPU in `submods`, and both name the same GPUs — so the per-GPU
//!    diagnostics are as authentic as the overall token (the reference decodes them unchecked);
//! 8. `x-nvidia-overall-att-result` is the boolean `true`.
//!
//! Failures of 1–2 (transport, parse), 3 (key lookup), 4 and 7 are reported as "signature
//! invalid"; an NRAS error status and failures of 3 (algorithm), 5 and 6 as "claims invalid";
//! a false result lists the per-GPU diagnostics, as the reference does. Sizes are bounded: the
//! answers by the fetch limit (1 MiB), tokens by 256 KiB, GPUs, JWKS keys and
//! response elements by small counts.

pub(crate) mod jws;

mod jwks;
#[cfg(test)]
mod props;
mod response;
#[cfg(test)]
mod tests;

pub use jwks::{Jwks, KeyLookupError};
pub use response::GpuDiag;

use p384::ecdsa::Signature;
use p384::ecdsa::signature::Verifier as _;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::attestation::RawAttestation;
use crate::fetch::FetchResult;
use crate::report::Verdict;

/// The only JWS algorithm accepted for NRAS tokens.
pub const NRAS_ALG: &str = "ES384";
/// Largest answer body judged (the fetch limit is the same; this guards direct callers).
pub const MAX_BODY: usize = 1 << 20;

/// Why the NRAS result cannot be trusted. [`NrasError::is_signature`] tells which of the
/// reference's two classes ("signature invalid" or "claims invalid") it falls in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NrasError {
    /// The NRAS request failed in transport.
    #[error("NRAS POST: {0}")]
    Transport(String),
    /// NRAS answered with a status other than 200.
    #[error("NRAS returned HTTP {status}: {snippet}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        snippet: String,
    },
    /// NRAS answered 200 with an empty body.
    #[error("NRAS returned empty response")]
    Empty,
    /// The answer is not the expected token array.
    #[error("parse NRAS response: {0}")]
    Response(String),
    /// The JWKS could not be fetched or parsed.
    #[error("JWKS initialization: {0}")]
    Jwks(String),
    /// The token is not a well-formed compact JWS.
    #[error("JWT signature verification failed: token is malformed: {0}")]
    Malformed(String),
    /// The token's key cannot be found or used.
    #[error("JWT signature verification failed: {0}")]
    Key(#[from] KeyLookupError),
    /// The signature does not verify.
    #[error("JWT signature verification failed: {0}")]
    BadSignature(String),
    /// The per-GPU tokens are not the ones the overall token lists.
    #[error("per-GPU token binding: {0}")]
    GpuBinding(String),
    /// The header names another algorithm, or critical extensions.
    #[error("JWT claims validation failed: {0}")]
    Header(String),
    /// Time claims reject the token at the verification time, or a claim is malformed.
    #[error("JWT claims validation failed: {0}")]
    Claims(String),
    /// The token is about other evidence than ours.
    #[error("JWT eat_nonce does not match the nonce of the submitted evidence")]
    NonceMismatch,
}

impl NrasError {
    /// True for the errors the reference reports as "signature invalid".
    pub fn is_signature(&self) -> bool {
        matches!(
            self,
            Self::Transport(_)
                | Self::Empty
                | Self::Response(_)
                | Self::Jwks(_)
                | Self::Malformed(_)
                | Self::Key(_)
                | Self::BadSignature(_)
                | Self::GpuBinding(_)
        )
    }
}

/// A verified NRAS answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NrasResult {
    /// `x-nvidia-overall-att-result` (a missing or non-boolean claim counts as false).
    pub overall: bool,
    /// Per-GPU diagnostics, sorted by GPU id (bound to the overall token by `submods`).
    pub gpus: Vec<GpuDiag>,
}

/// The nonce of the evidence we send to NRAS: the EAT document's `nonce` when the payload is an
/// EAT document, else the attestation's `nonce` (used in the synthesized EAT). `None` if the EAT
/// document carries no string nonce.
pub fn submitted_nonce(raw: &RawAttestation) -> Option<String> {
    if raw.nvidia_payload.starts_with('{') {
        let doc: Value = serde_json::from_str(&raw.nvidia_payload).ok()?;
        doc.get("nonce").and_then(Value::as_str).map(str::to_owned)
    } else {
        Some(raw.nonce.clone())
    }
}

/// Judges the NRAS answer and the JWKS answer at `now_secs` (see the module docs for every
/// check). `submitted_nonce` is [`submitted_nonce`]; `None` fails the nonce check.
pub fn verify(
    attest: &FetchResult,
    jwks: &FetchResult,
    submitted_nonce: Option<&str>,
    now_secs: u64,
) -> Result<NrasResult, NrasError> {
    let body = match attest {
        Err(e) => return Err(NrasError::Transport(e.to_string())),
        Ok(r) if r.status != 200 => {
            return Err(NrasError::Status {
                status: r.status,
                snippet: snippet(&r.body, 200),
            });
        }
        Ok(r) => &r.body,
    };
    if body.len() > MAX_BODY {
        return Err(NrasError::Response(format!(
            "body is {} bytes, more than {MAX_BODY}",
            body.len()
        )));
    }
    if body.trim_ascii().is_empty() {
        return Err(NrasError::Empty);
    }
    let tokens = response::parse(body).map_err(NrasError::Response)?;
    let keys = jwks_from(jwks)?;
    let claims = verify_token(&tokens.overall, &keys, now_secs)?;
    check_nonce(&claims, submitted_nonce)?;
    check_gpu_binding(&claims, &tokens.per_gpu)?;
    let overall = claims
        .get("x-nvidia-overall-att-result")
        .and_then(Value::as_bool)
        == Some(true);
    Ok(NrasResult {
        overall,
        gpus: response::diags(&tokens.per_gpu),
    })
}

/// The `nvidia_nras_verified` verdict of a [`verify`] result.
pub fn verdict(result: &Result<NrasResult, NrasError>) -> Verdict {
    match result {
        Err(e) if e.is_signature() => Verdict::fail(format!("NRAS JWT signature invalid: {e}")),
        Err(e) => Verdict::fail(format!("NRAS JWT claims invalid: {e}")),
        Ok(r) if !r.overall => Verdict::fail(response::false_detail(&r.gpus)),
        Ok(_) => Verdict::pass("NRAS: true (JWT verified)"),
    }
}

/// The verdict when NRAS was not queried (no EAT payload and no per-GPU evidence).
pub fn not_applicable_verdict() -> Verdict {
    Verdict::skip("no EAT payload; NRAS not applicable")
}

fn jwks_from(answer: &FetchResult) -> Result<Jwks, NrasError> {
    match answer {
        Err(e) => Err(NrasError::Jwks(format!("fetch JWKS: {e}"))),
        Ok(r) if r.status != 200 => Err(NrasError::Jwks(format!(
            "JWKS returned HTTP {}: {}",
            r.status,
            snippet(&r.body, 200)
        ))),
        Ok(r) if r.body.len() > MAX_BODY => {
            Err(NrasError::Jwks(format!("JWKS is {} bytes", r.body.len())))
        }
        Ok(r) => Jwks::parse(&r.body).map_err(NrasError::Jwks),
    }
}

/// Verifies one ES384 token against `keys` at `now_secs` and returns its claims.
pub fn verify_token(
    token: &str,
    keys: &Jwks,
    now_secs: u64,
) -> Result<Map<String, Value>, NrasError> {
    let jws = jws::split(token).map_err(|e| NrasError::Malformed(e.to_string()))?;
    let alg = jws::opt_str(&jws.header, "alg").map_err(NrasError::Malformed)?;
    if alg != Some(NRAS_ALG) {
        return Err(NrasError::Header(format!(
            "signing method {alg:?} is not {NRAS_ALG}"
        )));
    }
    if jws.header.contains_key("crit") {
        return Err(NrasError::Header(
            "critical header extensions are not supported".into(),
        ));
    }
    let kid = jws::opt_str(&jws.header, "kid").map_err(NrasError::Malformed)?;
    let kid = kid.ok_or_else(|| NrasError::Malformed("header has no kid".into()))?;
    let key = keys.key(kid)?;
    if jws.signature.len() != 96 {
        return Err(NrasError::BadSignature(format!(
            "signature is {} bytes, not 96",
            jws.signature.len()
        )));
    }
    let signature = Signature::from_slice(&jws.signature)
        .map_err(|_| NrasError::BadSignature("signature scalars out of range".into()))?;
    key.verify(jws.signing_input.as_bytes(), &signature)
        .map_err(|_| NrasError::BadSignature("token signature is invalid".into()))?;
    let claims = jws::claims(&jws.payload).map_err(NrasError::Malformed)?;
    check_times(&claims, now_secs)?;
    Ok(claims)
}

/// `exp` required and in the future; `nbf` and `iat`, when present, not in the future.
fn check_times(claims: &Map<String, Value>, now_secs: u64) -> Result<(), NrasError> {
    let now = i64::try_from(now_secs).unwrap_or(i64::MAX);
    let date = |k: &str| jws::opt_numeric_date(claims, k).map_err(NrasError::Claims);
    let exp = date("exp")?.ok_or_else(|| NrasError::Claims("token has no exp claim".into()))?;
    if now >= exp {
        return Err(NrasError::Claims(format!(
            "token is expired (exp {exp}, now {now})"
        )));
    }
    if let Some(nbf) = date("nbf")?
        && now < nbf
    {
        return Err(NrasError::Claims(format!(
            "token is not valid yet (nbf {nbf}, now {now})"
        )));
    }
    if let Some(iat) = date("iat")?
        && now < iat
    {
        return Err(NrasError::Claims(format!(
            "token is issued in the future (iat {iat}, now {now})"
        )));
    }
    Ok(())
}

fn check_nonce(claims: &Map<String, Value>, submitted: Option<&str>) -> Result<(), NrasError> {
    let got = claims
        .get("eat_nonce")
        .and_then(Value::as_str)
        .unwrap_or("");
    match submitted {
        Some(s)
            if !s.is_empty()
                && got.len() == s.len()
                && bool::from(got.as_bytes().ct_eq(s.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(NrasError::NonceMismatch),
    }
}

/// Each per-GPU token must hash to the digest the overall token's `submods` lists for its GPU,
/// and both must name the same GPUs. Nothing to check when the answer has no per-GPU tokens.
fn check_gpu_binding(
    claims: &Map<String, Value>,
    per_gpu: &std::collections::BTreeMap<String, String>,
) -> Result<(), NrasError> {
    if per_gpu.is_empty() {
        return Ok(());
    }
    let err = |m: String| Err(NrasError::GpuBinding(m));
    let Some(submods) = claims.get("submods").and_then(Value::as_object) else {
        return err("overall token has no submods claim for the per-GPU tokens".into());
    };
    if submods.len() != per_gpu.len() || per_gpu.keys().any(|id| !submods.contains_key(id)) {
        return err(format!(
            "submods names {} GPUs, the answer has {} tokens for other ones",
            submods.len(),
            per_gpu.len()
        ));
    }
    for (id, token) in per_gpu {
        let Some(listed) = submods.get(id).and_then(sha256_digest) else {
            return err(format!("submods entry for {id} is not a SHA-256 digest"));
        };
        let actual: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if !bool::from(actual.ct_eq(&listed)) {
            return err(format!("{id} token does not match its submods digest"));
        }
    }
    Ok(())
}

/// `["DIGEST", ["SHA-256", "<64 hex>"]]` → the digest.
fn sha256_digest(v: &Value) -> Option<[u8; 32]> {
    let [Value::String(kind), Value::Array(inner)] = v.as_array()?.as_slice() else {
        return None;
    };
    let [Value::String(alg), Value::String(hex_digest)] = inner.as_slice() else {
        return None;
    };
    if kind != "DIGEST" || alg != "SHA-256" {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut out).ok()?;
    Some(out)
}

/// The first `max` bytes of a body as text (lossy), with `...` when cut.
fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(max)]).into_owned();
    if body.len() > max {
        format!("{text}...")
    } else {
        text
    }
}
