//! Chutes, direct: instance discovery (`GET /e2e/instances/{chute}`) plus evidence
//! (`GET /chutes/{chute}/evidence?nonce=…`), two bodies, one record.
//!
//! The instance is chosen in *evidence* order: the first evidence entry whose `instance_id` is
//! in the discovery list (duplicate ids there: the last wins) with a non-empty `e2e_pubkey` and
//! at least one nonce — unless the caller prefers an instance (failover), whose entry is then
//! chosen when it qualifies. The server never echoes the client nonce, so the record carries the one
//! the caller sent; the binding to it is in the quote's REPORTDATA.

use std::collections::HashMap;

use serde_json::Value;

use super::json::{self, Fields, Reason};
use super::{MAX_CHUTES_ENTRIES, MAX_GPU_EVIDENCE};
use crate::attestation::raw::{BackendFormat, RawAttestation};

/// Top-level members of the discovery answer.
const INSTANCES_KNOWN: &[&str] = &["instances", "nonce_expires_in", "nonce_expires_at"];

/// Top-level members of the evidence answer.
const EVIDENCE_KNOWN: &[&str] = &["evidence", "failed_instance_ids"];

/// One discovered instance.
struct Instance {
    e2e_pubkey: String,
    nonces: Vec<String>,
}

/// Parses the two decoded Chutes answers.
pub(super) fn parse_values(
    instances: &Value,
    evidence: &Value,
    client_nonce_hex: &str,
    chute_id: &str,
    prefer: Option<&str>,
) -> Result<RawAttestation, Reason> {
    let inst_map = json::top_object(instances, "instances response")?;
    let inst_top = Fields::root(inst_map);
    inst_top.int("nonce_expires_in")?;
    inst_top.num("nonce_expires_at")?;
    let inst_entries = inst_top.objects("instances", MAX_CHUTES_ENTRIES)?;
    if inst_entries.is_empty() {
        return Err("instances: no instances available".to_owned());
    }
    let mut by_id: HashMap<String, Instance> = HashMap::with_capacity(inst_entries.len());
    for f in &inst_entries {
        let id = f.str("instance_id")?;
        let instance = Instance { e2e_pubkey: f.str("e2e_pubkey")?, nonces: f.strings("nonces")? };
        by_id.insert(id, instance);
    }

    let ev_map = json::top_object(evidence, "evidence response")?;
    let ev_top = Fields::root(ev_map);
    ev_top.strings("failed_instance_ids")?;
    let ev_entries = ev_top.objects("evidence", MAX_CHUTES_ENTRIES)?;
    if ev_entries.is_empty() {
        return Err("evidence: no evidence entries returned".to_owned());
    }
    // Every entry is type-checked; only the selected one is kept.
    let mut ids = Vec::with_capacity(ev_entries.len());
    for f in &ev_entries {
        f.str("quote")?;
        f.str("certificate")?;
        json::check_gpu_evidence(f, "gpu_evidence")?;
        ids.push(f.str("instance_id")?);
    }

    let usable = |id: &String| by_id.get(id).filter(|inst| !inst.e2e_pubkey.is_empty() && !inst.nonces.is_empty());
    // A preferred instance (a failover target) wins when its entry qualifies; otherwise, and
    // always without a preference, the first qualifying entry in evidence order.
    let preferred = prefer.and_then(|want| ids.iter().position(|id| id == want && usable(id).is_some()));
    let mut skipped = 0usize;
    let mut chosen = None;
    for (i, id) in ids.iter().enumerate() {
        if preferred.is_some_and(|p| p != i) {
            skipped += usize::from(preferred.is_some_and(|p| i < p));
            continue;
        }
        match usable(id) {
            Some(inst) => {
                chosen = Some((i, inst));
                break;
            }
            None => skipped += 1,
        }
    }
    let Some((i, inst)) = chosen else {
        return Err(format!(
            "none of {} evidence entries match a known instance with valid E2EE material ({} instances available)",
            ev_entries.len(),
            inst_entries.len()
        ));
    };
    let entry = &ev_entries[i];
    let gpu_evidence = json::gpu_evidence(entry, "gpu_evidence", MAX_GPU_EVIDENCE)
        .map_err(|e| format!("{e} (instance {})", ids[i]))?;
    let quote = json::base64_quote_to_hex(&entry.str("quote")?, &entry.path_of("quote"))?;

    let mut raw = RawAttestation::empty(BackendFormat::Chutes);
    raw.nonce = client_nonce_hex.to_owned();
    raw.nonce_source = "client".to_owned();
    raw.tee_hardware = "intel-tdx".to_owned();
    raw.signing_key = inst.e2e_pubkey.clone();
    raw.signing_algo = "ml-kem-768".to_owned();
    raw.intel_quote = quote;
    raw.gpu_evidence = gpu_evidence;
    raw.candidates = Some((skipped + 1, ev_entries.len()));
    raw.instance_id = ids[i].clone();
    raw.e2e_nonce = inst.nonces.first().cloned().unwrap_or_default();
    raw.chute_id = chute_id.to_owned();
    raw.unknown_fields = json::merge_unknown(&[
        &json::unknown_keys(inst_map, INSTANCES_KNOWN),
        &json::unknown_keys(ev_map, EVIDENCE_KNOWN),
    ]);
    Ok(raw)
}
