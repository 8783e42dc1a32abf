//! Proof of Cloud: the `cpu_id_registry` and `gateway_cpu_id_registry` factors
//! (`attestation-core.md` §9, `factors.md` rows 26 and 41).
//!
//! The attestation machine runs the trust-server protocol (requests and per-answer parsing are in
//! [`crate::attestation::plan::poc`]); this module reads the stored answers and decides:
//!
//! * any stage-1 or stage-2 answer **403** → not registered → **Fail** (a 403 ends stage 1 at
//!   once, so the peers it cancelled may have no answer at all);
//! * otherwise every stage-1 peer must answer 200 with a usable reply, the stage-2 plan must
//!   hold (same machine id everywhere, distinct monikers), and stage 2 must end in a final JWT;
//!   any other failure → "query failed" → **Skip** (promoted to Fail when enforced);
//! * the final JWT must pass [`verify_final_jwt`] → **Pass** ("registered").
//!
//! **The JWT signature.** The reference decodes the final JWT without checking its signature,
//! so a "registered" verdict there rests on TLS to the trust servers alone. Here the signature
//! *is* checked: the token must be `alg` EdDSA, and its Ed25519 signature over
//! `header.payload` must verify under the trust-server alliance's published threshold key
//! ([`ALLIANCE_KEY_HEX`], `public_info/public_key.txt` of github.com/proofofcloud/trust-server,
//! which is also the `kid` the servers put in the header). A token naming another `kid` is
//! rejected. The recorded final token verifies under this key. This is stricter than the
//! reference and changes no recorded verdict.
//!
//! **The claims**, as in the reference: `quote_hash` equals lower-case hex SHA-256 of the binary
//! quote; `timestamp` is present and within ±10 minutes of the verification time; `exp`, if
//! present, not passed; `machine_id` equals the stage-1 machine id; the wrapper's `machineId`
//! and `label`, when non-empty, equal the claims. The live servers issue no `timestamp` claim,
//! so a registered machine ends in "query failed" (Skip), exactly as in the reference: the
//! freshness rule is kept rather than silently relaxed, because without it an old token for a
//! since-removed machine would be indistinguishable from a current one.

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::attestation::nras::jws;
use crate::attestation::plan::poc::{self as plan, POC_PEERS, Stage2Reply};
use crate::fetch::FetchResult;
use crate::report::Verdict;

/// The trust-server alliance's Ed25519 public key (hex), which signs every final PoC token.
pub const ALLIANCE_KEY_HEX: &str =
    "5ea69fede5bcf71054395b273bad67f67158c242d77945d436374020ece525cb";
/// How far a token's `timestamp` may be from the verification time, in seconds.
pub const TIMESTAMP_WINDOW_SECS: i64 = 600;

/// The key final tokens must be signed with (32 raw Ed25519 public-key bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PocKey {
    bytes: [u8; 32],
}

impl PocKey {
    /// The alliance key, [`ALLIANCE_KEY_HEX`].
    pub fn alliance() -> Self {
        let mut bytes = [0u8; 32];
        // A constant of 64 hex digits: always decodes (a unit test checks it is a curve point).
        let _ = hex::decode_to_slice(ALLIANCE_KEY_HEX, &mut bytes);
        Self { bytes }
    }

    /// A key from its 32 bytes (tests sign with their own). An invalid point verifies nothing.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self { bytes }
    }
}

/// A stored answer of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PocStage {
    /// Stage 1, peer index in [`POC_PEERS`].
    One(usize),
    /// Stage 2, step in the stage-2 plan's peer order.
    Two(usize),
}

/// What the Proof of Cloud query established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PocOutcome {
    /// No stage-1 answer exists: the query did not run.
    NotRun,
    /// A trust server answered 403.
    NotRegistered,
    /// The query failed, with the reason.
    Failed(String),
    /// A verified final token.
    Registered {
        /// `machine_id` claim.
        machine_id: String,
        /// `label` claim.
        label: String,
    },
}

/// The claims a verified final token carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PocClaims {
    /// `machine_id`.
    pub machine_id: String,
    /// `label` (may be empty).
    pub label: String,
}

/// Decides the outcome from the stored answers (`answer` returns `None` for a fetch with no
/// answer). The result does not depend on the order the answers arrived in.
pub fn evaluate<'a>(
    quote_hex: &str,
    answer: impl Fn(PocStage) -> Option<&'a FetchResult>,
    key: &PocKey,
    now_secs: u64,
) -> PocOutcome {
    let stage1: Vec<Option<&FetchResult>> = (0..POC_PEERS.len())
        .map(|i| answer(PocStage::One(i)))
        .collect();
    if stage1.iter().all(Option::is_none) {
        return PocOutcome::NotRun;
    }
    if stage1.iter().flatten().any(|r| status(r) == Some(403)) {
        return PocOutcome::NotRegistered;
    }
    match run(quote_hex, &stage1, &answer, key, now_secs) {
        Ok(Some(claims)) => PocOutcome::Registered {
            machine_id: claims.machine_id,
            label: claims.label,
        },
        Ok(None) => PocOutcome::NotRegistered,
        Err(e) => PocOutcome::Failed(e),
    }
}

/// Stage 1 replies, the plan, then stage 2 step by step. `Ok(None)` = a stage-2 403.
fn run<'a>(
    quote_hex: &str,
    stage1: &[Option<&FetchResult>],
    answer: &impl Fn(PocStage) -> Option<&'a FetchResult>,
    key: &PocKey,
    now_secs: u64,
) -> Result<Option<PocClaims>, String> {
    let mut replies = Vec::new();
    for (peer, result) in POC_PEERS.iter().zip(stage1) {
        let body = ok_body(
            *result,
            || format!("stage 1 POST to {peer}"),
            |s, b| format!("stage 1: {peer} returned HTTP {s}: {}", snippet(b)),
        )?;
        replies.push((
            *peer,
            plan::parse_stage1(peer, body).map_err(|e| e.to_string())?,
        ));
    }
    let plan = plan::stage2_plan(&replies).map_err(|e| e.to_string())?;
    for (step, peer) in plan.peers.iter().enumerate() {
        let result = answer(PocStage::Two(step));
        if result.is_some_and(|r| status(r) == Some(403)) {
            return Ok(None);
        }
        let body = ok_body(
            result,
            || format!("stage 2 POST to {peer}"),
            |s, b| format!("stage 2: {peer} returned HTTP {s}: {}", snippet(b)),
        )?;
        match plan::parse_stage2(peer, body).map_err(|e| e.to_string())? {
            Stage2Reply::Partial(_) => continue,
            Stage2Reply::Final {
                jwt,
                machine_id,
                label,
            } => {
                let claims = verify_final_jwt(&jwt, quote_hex, &plan.machine_id, key, now_secs)
                    .map_err(|e| format!("PoC JWT validation: {e}"))?;
                if !machine_id.is_empty() && machine_id != claims.machine_id {
                    return Err(format!(
                        "stage 2: peer {peer} wrapper machineId {machine_id:?} disagrees with JWT claim {:?}",
                        claims.machine_id
                    ));
                }
                if !label.is_empty() && label != claims.label {
                    return Err(format!(
                        "stage 2: peer {peer} wrapper label {label:?} disagrees with JWT claim {:?}",
                        claims.label
                    ));
                }
                return Ok(Some(claims));
            }
        }
    }
    Err("stage 2 completed without final JWT".into())
}

/// Checks a final token: structure, EdDSA signature under `key`, then the claims (module docs).
pub fn verify_final_jwt(
    jwt: &str,
    quote_hex: &str,
    expected_machine_id: &str,
    key: &PocKey,
    now_secs: u64,
) -> Result<PocClaims, String> {
    let token = jws::split(jwt).map_err(|e| format!("malformed JWT: {e}"))?;
    check_signature(&token, key)?;
    let claims = jws::claims(&token.payload).map_err(|e| format!("parse JWT claims: {e}"))?;
    let text = |k: &str| jws::opt_str(&claims, k).map(|s| s.unwrap_or("").to_owned());
    let (quote_hash, machine_id, label) = (text("quote_hash"), text("machine_id"), text("label"));
    let (quote_hash, machine_id, label) = (
        quote_hash.map_err(parse_err)?,
        machine_id.map_err(parse_err)?,
        label.map_err(parse_err)?,
    );
    check_quote_hash(&quote_hash, quote_hex)?;
    check_freshness(&claims, now_secs)?;
    if !expected_machine_id.is_empty() {
        if machine_id.is_empty() {
            return Err(format!(
                "JWT missing machine_id claim, expected {expected_machine_id:?}"
            ));
        }
        if !bool::from(machine_id.as_bytes().ct_eq(expected_machine_id.as_bytes())) {
            return Err(format!(
                "JWT machine_id {machine_id:?} does not match stage-1 machineId {expected_machine_id:?}"
            ));
        }
    }
    Ok(PocClaims { machine_id, label })
}

fn parse_err(e: String) -> String {
    format!("parse JWT claims: {e}")
}

fn check_signature(token: &jws::Jws<'_>, key: &PocKey) -> Result<(), String> {
    let alg = jws::opt_str(&token.header, "alg").map_err(|e| format!("JWT header: {e}"))?;
    if alg != Some("EdDSA") {
        return Err(format!("JWT alg {alg:?} is not EdDSA"));
    }
    if token.header.contains_key("crit") {
        return Err("JWT has critical header extensions".into());
    }
    if let Some(kid) = jws::opt_str(&token.header, "kid").map_err(|e| format!("JWT header: {e}"))?
        && !kid.eq_ignore_ascii_case(&hex::encode(key.bytes))
    {
        return Err(format!(
            "JWT kid {kid:?} is not the trust-server alliance key"
        ));
    }
    let signature = Signature::from_slice(&token.signature)
        .map_err(|_| "JWT signature is not 64 bytes".to_owned())?;
    let verifying = VerifyingKey::from_bytes(&key.bytes)
        .map_err(|_| "pinned key is not an Ed25519 point".to_owned())?;
    verifying
        .verify_strict(token.signing_input.as_bytes(), &signature)
        .map_err(|_| "JWT signature does not verify under the trust-server alliance key".to_owned())
}

fn check_quote_hash(claim: &str, quote_hex: &str) -> Result<(), String> {
    if claim.is_empty() {
        return Err("JWT missing quote_hash claim".into());
    }
    let quote = hex::decode(quote_hex).map_err(|e| format!("decode hex quote: {e}"))?;
    let expected = hex::encode(Sha256::digest(&quote));
    if claim.len() == expected.len() && bool::from(claim.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(format!(
            "JWT quote_hash mismatch: got {claim}, want {expected}"
        ))
    }
}

fn check_freshness(claims: &Map<String, Value>, now_secs: u64) -> Result<(), String> {
    let now = i64::try_from(now_secs).unwrap_or(i64::MAX);
    let timestamp = jws::opt_int(claims, "timestamp").map_err(parse_err)?;
    let Some(ts) = timestamp else {
        return Err("JWT missing timestamp claim".into());
    };
    if now.saturating_sub(ts).saturating_abs() > TIMESTAMP_WINDOW_SECS {
        return Err(format!("JWT timestamp {ts} is outside ±10m0s window"));
    }
    if let Some(exp) = jws::opt_int(claims, "exp").map_err(parse_err)?
        && now > exp
    {
        return Err(format!("JWT has expired (exp={exp})"));
    }
    Ok(())
}

/// Which quote the verdict is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteSide {
    /// The model quote (`cpu_id_registry`).
    Model,
    /// The gateway quote (`gateway_cpu_id_registry`).
    Gateway,
}

/// The factor verdict. When the query did not run, `ppid` (hex, from the quote's PCK
/// certificate) and, for the model, `device_id` decide between Skip and Fail as in the
/// reference.
pub fn verdict(
    outcome: &PocOutcome,
    side: QuoteSide,
    ppid: Option<&str>,
    device_id: &str,
) -> Verdict {
    let gw = side == QuoteSide::Gateway;
    let prefix = if gw { "gateway " } else { "" };
    match outcome {
        PocOutcome::Registered { label, .. } => {
            Verdict::pass(format!("{prefix}Proof of Cloud: registered ({label})"))
        }
        PocOutcome::Failed(e) => Verdict::skip(format!("{prefix}Proof of Cloud query failed: {e}")),
        PocOutcome::NotRegistered if gw => Verdict::fail(
            "gateway hardware not found in Proof of Cloud registry; paste gateway intel_quote from --capture at \
             proofofcloud.org to verify",
        ),
        PocOutcome::NotRegistered => Verdict::fail(
            "hardware not found in Proof of Cloud registry; paste intel_quote from --capture at proofofcloud.org to verify",
        ),
        PocOutcome::NotRun => match ppid.filter(|p| !p.is_empty()) {
            Some(p) => Verdict::skip(format!(
                "{prefix}PPID extracted ({}...) but Proof of Cloud was not queried",
                p.get(..8).unwrap_or(p)
            )),
            None if gw => Verdict::skip("gateway CPU ID registry check not available"),
            None if !device_id.is_empty() => {
                let preview = device_id
                    .get(..8)
                    .map_or_else(|| device_id.to_owned(), |p| format!("{p}..."));
                Verdict::skip(format!(
                    "device ID present ({preview}) but no registry to verify against"
                ))
            }
            None => Verdict::fail("no CPU ID registry check"),
        },
    }
}

fn status(result: &FetchResult) -> Option<u16> {
    result.as_ref().ok().map(|r| r.status)
}

/// The body of a 200 answer, or the error for a missing, failed or non-200 one.
fn ok_body(
    result: Option<&FetchResult>,
    transport: impl Fn() -> String,
    bad_status: impl Fn(u16, &[u8]) -> String,
) -> Result<&[u8], String> {
    match result {
        None => Err(format!("{}: no answer", transport())),
        Some(Err(e)) => Err(format!("{}: {e}", transport())),
        Some(Ok(r)) if r.status != 200 => Err(bad_status(r.status, &r.body)),
        Some(Ok(r)) => Ok(&r.body),
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned();
    if body.len() > 256 {
        format!("{text}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests;
