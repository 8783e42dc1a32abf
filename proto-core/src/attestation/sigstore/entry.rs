//! Reading one Rekor log entry from a `POST /api/v1/log/entries/retrieve` answer
//! (`attestation-core.md` §10.2).
//!
//! The answer is `[{"<uuid>": {"body", "integratedTime", "logID", "logIndex", "verification":
//! {"signedEntryTimestamp", "inclusionProof": {"checkpoint", "hashes", "logIndex", "rootHash",
//! "treeSize"}}}}]`. Parsing is strict: every field the integrity checks read must be present
//! with its exact JSON type, the first object must hold exactly one entry, sizes and counts are
//! bounded, and hex and base64 must decode. Anything else is an [`EntryError`] naming the field.

use base64::Engine as _;
use serde_json::Value;

/// Largest entries answer read (the fetch is capped at the same size).
pub const MAX_ANSWER: usize = 1 << 20;
/// Most sibling hashes an inclusion proof may carry (a tree of 2^64 leaves needs 64).
pub const MAX_PROOF_HASHES: usize = 64;
/// Largest checkpoint text accepted.
pub const MAX_CHECKPOINT: usize = 4096;

/// The Merkle inclusion proof of an entry, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// The signed checkpoint (signed-note text).
    pub checkpoint: String,
    /// Sibling hashes, leaf to root.
    pub hashes: Vec<[u8; 32]>,
    /// The entry's index in its shard's tree (not the global log index).
    pub log_index: u64,
    /// The tree root the proof leads to.
    pub root_hash: [u8; 32],
    /// The tree size the proof is for.
    pub tree_size: u64,
}

/// One Rekor entry, decoded, with the exact strings the signatures cover kept as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RekorEntry {
    /// The entry's UUID as the answer keys it.
    pub uuid: String,
    /// The entry body, base64 text exactly as received (the SET covers this text).
    pub body_b64: String,
    /// The entry body, decoded (canonical JSON of the entry; the Merkle leaf).
    pub body: Vec<u8>,
    /// When the log integrated the entry (Unix seconds).
    pub integrated_time: i64,
    /// The log ID, hex text as received.
    pub log_id: String,
    /// The global log index.
    pub log_index: i64,
    /// The Signed Entry Timestamp: an ASN.1 DER ECDSA signature.
    pub set: Vec<u8>,
    /// The inclusion proof.
    pub proof: InclusionProof,
}

/// Why an entries answer is unusable. Each variant names the field or rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The answer is larger than [`MAX_ANSWER`].
    #[error("entries answer too large ({0} bytes)")]
    TooLarge(usize),
    /// The answer is not JSON.
    #[error("decode entries array: {0}")]
    Json(String),
    /// The answer is not a non-empty array of objects.
    #[error("entries answer is not a non-empty array of objects")]
    Shape,
    /// The first object does not hold exactly one entry.
    #[error("entries answer holds {0} entries in its first object, expected 1")]
    EntryCount(usize),
    /// A field is missing or has the wrong JSON type.
    #[error("entry field {0} missing or of the wrong type")]
    Field(&'static str),
    /// A field does not decode (base64, hex, size).
    #[error("entry field {field}: {reason}")]
    Decode {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Parses an entries answer body (status 200 already checked by the caller).
pub fn parse_entry(answer: &[u8]) -> Result<RekorEntry, EntryError> {
    if answer.len() > MAX_ANSWER {
        return Err(EntryError::TooLarge(answer.len()));
    }
    let value: Value = serde_json::from_slice(answer).map_err(|e| EntryError::Json(e.to_string()))?;
    let first = value.as_array().and_then(|a| a.first()).and_then(Value::as_object).ok_or(EntryError::Shape)?;
    if first.len() != 1 {
        return Err(EntryError::EntryCount(first.len()));
    }
    let (uuid, entry) = first.iter().next().ok_or(EntryError::Shape)?;
    let body_b64 = string(entry, "body", "body")?.to_owned();
    let body = base64::engine::general_purpose::STANDARD
        .decode(&body_b64)
        .map_err(|e| EntryError::Decode { field: "body", reason: e.to_string() })?;
    let verification = entry.get("verification").ok_or(EntryError::Field("verification"))?;
    let set_b64 = string(verification, "signedEntryTimestamp", "verification.signedEntryTimestamp")?;
    let set = base64::engine::general_purpose::STANDARD
        .decode(set_b64)
        .map_err(|e| EntryError::Decode { field: "verification.signedEntryTimestamp", reason: e.to_string() })?;
    let proof = verification.get("inclusionProof").ok_or(EntryError::Field("verification.inclusionProof"))?;
    Ok(RekorEntry {
        uuid: uuid.clone(),
        body_b64,
        body,
        integrated_time: int(entry, "integratedTime", "integratedTime")?,
        log_id: string(entry, "logID", "logID")?.to_owned(),
        log_index: int(entry, "logIndex", "logIndex")?,
        set,
        proof: parse_proof(proof)?,
    })
}

fn parse_proof(proof: &Value) -> Result<InclusionProof, EntryError> {
    let checkpoint = string(proof, "checkpoint", "inclusionProof.checkpoint")?;
    if checkpoint.len() > MAX_CHECKPOINT {
        return Err(EntryError::Decode { field: "inclusionProof.checkpoint", reason: "too long".to_owned() });
    }
    let list = proof.get("hashes").and_then(Value::as_array).ok_or(EntryError::Field("inclusionProof.hashes"))?;
    if list.len() > MAX_PROOF_HASHES {
        return Err(EntryError::Decode {
            field: "inclusionProof.hashes",
            reason: format!("{} hashes, at most {MAX_PROOF_HASHES}", list.len()),
        });
    }
    let mut hashes = Vec::with_capacity(list.len());
    for h in list {
        let text = h.as_str().ok_or(EntryError::Field("inclusionProof.hashes"))?;
        hashes.push(hash32(text, "inclusionProof.hashes")?);
    }
    let log_index = non_negative(int(proof, "logIndex", "inclusionProof.logIndex")?, "inclusionProof.logIndex")?;
    let tree_size = non_negative(int(proof, "treeSize", "inclusionProof.treeSize")?, "inclusionProof.treeSize")?;
    let root_hash = hash32(string(proof, "rootHash", "inclusionProof.rootHash")?, "inclusionProof.rootHash")?;
    Ok(InclusionProof { checkpoint: checkpoint.to_owned(), hashes, log_index, root_hash, tree_size })
}

fn string<'a>(v: &'a Value, key: &str, field: &'static str) -> Result<&'a str, EntryError> {
    v.get(key).and_then(Value::as_str).ok_or(EntryError::Field(field))
}

fn int(v: &Value, key: &str, field: &'static str) -> Result<i64, EntryError> {
    v.get(key).and_then(Value::as_i64).ok_or(EntryError::Field(field))
}

fn non_negative(n: i64, field: &'static str) -> Result<u64, EntryError> {
    u64::try_from(n).map_err(|_| EntryError::Decode { field, reason: format!("negative ({n})") })
}

/// 64 hex digits → 32 bytes.
pub(crate) fn hash32(text: &str, field: &'static str) -> Result<[u8; 32], EntryError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)
        .map_err(|e| EntryError::Decode { field, reason: format!("not a 32-byte hex hash: {e}") })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut v = serde_json::json!([{ "24296fb24b8ad77a00": {
            "body": "eyJhIjoxfQ==",
            "integratedTime": 1700000000,
            "logID": "c0d2",
            "logIndex": 7,
            "verification": {
                "signedEntryTimestamp": "MEUCIQ==",
                "inclusionProof": {
                    "checkpoint": "x\n1\nAA==\n\n",
                    "hashes": ["00".repeat(32)],
                    "logIndex": 3,
                    "rootHash": "11".repeat(32),
                    "treeSize": 4
                }
            }
        }}]);
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    fn entry_mut(v: &mut Value) -> &mut Value {
        v[0].as_object_mut().unwrap().values_mut().next().unwrap()
    }

    #[test]
    fn parses_a_complete_entry() {
        let e = parse_entry(&answer(|_| {})).unwrap();
        assert_eq!(e.uuid, "24296fb24b8ad77a00");
        assert_eq!(e.body, br#"{"a":1}"#);
        assert_eq!((e.integrated_time, e.log_index), (1700000000, 7));
        assert_eq!((e.proof.log_index, e.proof.tree_size, e.proof.hashes.len()), (3, 4, 1));
        assert_eq!(e.proof.root_hash, [0x11; 32]);
    }

    #[test]
    fn every_missing_or_mistyped_field_is_named() {
        type Edit = fn(&mut Value);
        let cases: [(&str, Edit); 8] = [
            ("body", |v| entry_mut(v)["body"] = Value::Null),
            ("integratedTime", |v| entry_mut(v)["integratedTime"] = "1".into()),
            ("logID", |v| {
                entry_mut(v).as_object_mut().unwrap().remove("logID");
            }),
            ("logIndex", |v| entry_mut(v)["logIndex"] = 1.5.into()),
            ("verification", |v| {
                entry_mut(v).as_object_mut().unwrap().remove("verification");
            }),
            ("signedEntryTimestamp", |v| entry_mut(v)["verification"]["signedEntryTimestamp"] = 3.into()),
            ("inclusionProof.treeSize", |v| entry_mut(v)["verification"]["inclusionProof"]["treeSize"] = (-1).into()),
            ("inclusionProof.rootHash", |v| entry_mut(v)["verification"]["inclusionProof"]["rootHash"] = "zz".into()),
        ];
        for (field, edit) in cases {
            let err = parse_entry(&answer(edit)).unwrap_err();
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn rejects_bad_shapes_and_bounds() {
        assert!(matches!(parse_entry(b"{}"), Err(EntryError::Shape)));
        assert!(matches!(parse_entry(b"[]"), Err(EntryError::Shape)));
        assert!(matches!(parse_entry(b"[{}]"), Err(EntryError::EntryCount(0))));
        assert!(matches!(parse_entry(b"not json"), Err(EntryError::Json(_))));
        assert!(matches!(parse_entry(&vec![b' '; MAX_ANSWER + 1]), Err(EntryError::TooLarge(_))));
        let two = answer(|v| {
            v[0].as_object_mut().unwrap().insert("other".into(), Value::Null);
        });
        assert!(matches!(parse_entry(&two), Err(EntryError::EntryCount(2))));
        let many = answer(|v| {
            entry_mut(v)["verification"]["inclusionProof"]["hashes"] = vec!["00".repeat(32); 65].into();
        });
        assert!(parse_entry(&many).unwrap_err().to_string().contains("at most 64"));
        let bad_body = answer(|v| entry_mut(v)["body"] = "!!".into());
        assert!(parse_entry(&bad_body).unwrap_err().to_string().contains("body"));
    }
}
