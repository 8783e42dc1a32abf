//! The NRAS answer body: `[["JWT","<overall token>"], {"GPU-0":"<token>", …}]`, and the
//! diagnostic claims of the per-GPU tokens.

use std::collections::BTreeMap;

use serde_json::Value;

use super::jws;

/// Most top-level elements read from an NRAS answer (observed: 2).
const MAX_ELEMENTS: usize = 16;
/// Most per-GPU tokens read (observed: 8).
pub(crate) const MAX_GPUS: usize = 64;

/// The tokens of an NRAS answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NrasTokens {
    /// The overall token (surrounding whitespace trimmed).
    pub(crate) overall: String,
    /// GPU id → per-GPU token, sorted by id; empty when the answer has none.
    pub(crate) per_gpu: BTreeMap<String, String>,
}

/// Reads the answer. Exactly one `["JWT", token]` pair and at most one non-empty string map are
/// accepted; a second one of either is ambiguous and rejected.
pub(crate) fn parse(body: &[u8]) -> Result<NrasTokens, String> {
    let elements: Vec<Value> = serde_json::from_slice(body)
        .map_err(|e| format!("NRAS response is not a JSON array: {e}"))?;
    if elements.len() > MAX_ELEMENTS {
        return Err(format!(
            "NRAS response has {} elements, more than {MAX_ELEMENTS}",
            elements.len()
        ));
    }
    let mut overall: Option<String> = None;
    let mut per_gpu: Option<BTreeMap<String, String>> = None;
    for element in &elements {
        if let Some(token) = jwt_pair(element) {
            if overall.replace(token.trim().to_owned()).is_some() {
                return Err("NRAS response has more than one JWT entry".into());
            }
        } else if let Some(map) = gpu_map(element)?
            && per_gpu.replace(map).is_some()
        {
            return Err("NRAS response has more than one per-GPU token map".into());
        }
    }
    match overall {
        Some(o) if !o.is_empty() => Ok(NrasTokens {
            overall: o,
            per_gpu: per_gpu.unwrap_or_default(),
        }),
        _ => Err(format!(
            "no JWT entry found in NRAS response ({} elements)",
            elements.len()
        )),
    }
}

/// `["JWT", token]` → token.
fn jwt_pair(v: &Value) -> Option<&str> {
    match v.as_array()?.as_slice() {
        [Value::String(kind), Value::String(token)] if kind == "JWT" => Some(token),
        _ => None,
    }
}

/// A non-empty object whose values are all strings; `Ok(None)` for anything else.
fn gpu_map(v: &Value) -> Result<Option<BTreeMap<String, String>>, String> {
    let Some(obj) = v.as_object().filter(|o| !o.is_empty()) else {
        return Ok(None);
    };
    if !obj.values().all(Value::is_string) {
        return Ok(None);
    }
    if obj.len() > MAX_GPUS {
        return Err(format!(
            "NRAS response has {} per-GPU tokens, more than {MAX_GPUS}",
            obj.len()
        ));
    }
    Ok(Some(
        obj.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
    ))
}

/// Diagnostic claims of one per-GPU token (shown when the overall result is false).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuDiag {
    /// GPU id, e.g. `GPU-0`.
    pub id: String,
    /// `measres` (or the reason the token could not be decoded).
    pub measres: String,
    /// `x-nvidia-gpu-driver-version`.
    pub driver: String,
    /// `hwmodel`.
    pub hwmodel: String,
    /// `x-nvidia-gpu-attestation-report-nonce-match`.
    pub nonce_match: bool,
    /// `x-nvidia-error-details.message` (or `.description`).
    pub error: String,
}

/// Diagnostics of every per-GPU token, sorted by GPU id.
pub(crate) fn diags(per_gpu: &BTreeMap<String, String>) -> Vec<GpuDiag> {
    per_gpu.iter().map(|(id, token)| diag(id, token)).collect()
}

fn diag(id: &str, token: &str) -> GpuDiag {
    let claims = jws::split(token)
        .map_err(|e| e.to_string())
        .and_then(|t| jws::claims(&t.payload));
    let claims = match claims {
        Ok(c) => c,
        Err(e) => {
            return GpuDiag {
                id: id.to_owned(),
                measres: format!("decode error: {e}"),
                ..GpuDiag::default()
            };
        }
    };
    let text = |v: Option<&Value>| match v {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let error = match claims.get("x-nvidia-error-details") {
        Some(Value::Object(d)) => {
            let message = text(d.get("message"));
            if message.is_empty() {
                text(d.get("description"))
            } else {
                message
            }
        }
        other => text(other),
    };
    GpuDiag {
        id: id.to_owned(),
        measres: text(claims.get("measres")),
        driver: text(claims.get("x-nvidia-gpu-driver-version")),
        hwmodel: text(claims.get("hwmodel")),
        nonce_match: claims
            .get("x-nvidia-gpu-attestation-report-nonce-match")
            .and_then(Value::as_bool)
            == Some(true),
        error,
    }
}

/// The detail of a verified token whose overall result is false: one line for all GPUs when
/// they share an error, else up to 8 GPUs listed.
pub(crate) fn false_detail(diags: &[GpuDiag]) -> String {
    let mut out = String::from("NRAS result: false");
    let Some(first) = diags.first() else {
        return out;
    };
    if diags.len() >= 2 && !first.error.is_empty() && diags.iter().all(|d| d.error == first.error) {
        return format!(
            "NRAS result: false; all {} GPUs: {}",
            diags.len(),
            first.error
        );
    }
    for (i, d) in diags.iter().enumerate() {
        if i >= 8 {
            out.push_str(&format!("; ... and {} more GPUs", diags.len() - 8));
            break;
        }
        if !d.error.is_empty() {
            out.push_str(&format!("; {}: {}", d.id, d.error));
        } else if !d.measres.is_empty() {
            out.push_str(&format!(
                "; {}: measres={} nonce={} driver={} hwmodel={}",
                d.id, d.measres, d.nonce_match, d.driver, d.hwmodel
            ));
        } else {
            out.push_str(&format!("; {}: no diagnostic claims", d.id));
        }
    }
    out
}
