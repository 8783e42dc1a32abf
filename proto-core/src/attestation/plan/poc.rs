//! Proof of Cloud trust-server requests (`attestation-core.md` §9, `capture-replay.md` §4.2).
//!
//! Protocol, per quote:
//! 1. stage 1 — [`stage1_body`] POSTed to every peer of [`POC_PEERS`] concurrently; each 200
//!    answer is read with [`parse_stage1`]. A 403 from any peer ends the check ("not
//!    registered"); teep then cancels the others, so they may never be recorded;
//! 2. once [`POC_QUORUM`] answers arrived: [`stage2_plan`] fixes the peer order (ascending base
//!    URL) and the `nonces` map;
//! 3. stage 2 — sequentially, peer by peer, [`stage2_body`] with the partial signatures of the
//!    previous answer (none for the first); each answer is read with [`parse_stage2`]: a JWT
//!    ends the protocol, otherwise its signature map feeds the next peer.
//!
//! Bodies are Go-marshalled maps: keys sorted, compact, `<`, `>`, `&` escaped.

use std::collections::BTreeMap;

use super::{MIB, PlannedRequest, gojson};

/// The trust servers, in teep's configuration order (stage 1 goes to all of them at once).
pub const POC_PEERS: [&str; 3] =
    ["https://trust-server.scrtlabs.com", "https://trust-server.nillion.network", "https://trust-server.iex.ec"];
/// Stage-1 answers required before stage 2 (all three peers).
pub const POC_QUORUM: usize = 3;
/// Largest trust-server response body teep reads (1 MiB).
pub const POC_MAX_BODY: u64 = MIB;

/// Why a Proof of Cloud answer cannot be used. Messages follow teep's where it has one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PocError {
    /// The stage-1 answer is not the expected JSON.
    #[error("stage 1: parse response from {peer}: {reason}")]
    Stage1Parse {
        /// Peer base URL.
        peer: String,
        /// JSON error.
        reason: String,
    },
    /// The stage-1 answer lacks `moniker` or `nonce`.
    #[error("stage 1: missing moniker/nonce from {peer}")]
    Stage1Missing {
        /// Peer base URL.
        peer: String,
    },
    /// Fewer successful stage-1 answers than the quorum.
    #[error("collected {got} nonces, need {need}")]
    NoQuorum {
        /// Successful answers.
        got: usize,
        /// Quorum.
        need: usize,
    },
    /// A peer returned an empty `machineId`.
    #[error("stage 1: peer {peer} returned empty machineId")]
    EmptyMachineId {
        /// Peer base URL.
        peer: String,
    },
    /// Peers disagree on the machine id.
    #[error("stage 1: peer {peer} machineId {got:?} disagrees with {first:?}")]
    MachineIdMismatch {
        /// Peer base URL.
        peer: String,
        /// Its machine id.
        got: String,
        /// The first peer's (in stage-2 order).
        first: String,
    },
    /// Two peers used the same moniker.
    #[error("stage 1: duplicate moniker {moniker:?} from peers {first} and {second}")]
    DuplicateMoniker {
        /// The moniker.
        moniker: String,
        /// First peer using it.
        first: String,
        /// Second peer using it.
        second: String,
    },
    /// The stage-2 answer is not a JWT wrapper or a string map.
    #[error("stage 2: parse response from {peer}: {reason}")]
    Stage2Parse {
        /// Peer base URL.
        peer: String,
        /// JSON error.
        reason: String,
    },
}

/// The peer's `get_jwt` endpoint (trailing slashes of the base trimmed, as teep does).
pub fn get_jwt_url(peer: &str) -> String {
    format!("{}/get_jwt", peer.trim_end_matches('/'))
}

/// Stage-1 body: `{"quote":"<quote hex>"}` with the quote string exactly as held in the record
/// (`RawAttestation::intel_quote`: the provider's hex verbatim, or lower-case hex of a decoded
/// base64 quote).
pub fn stage1_body(quote_hex: &str) -> Vec<u8> {
    let mut out = String::with_capacity(quote_hex.len() + 12);
    out.push_str("{\"quote\":");
    gojson::write_string(&mut out, quote_hex);
    out.push('}');
    out.into_bytes()
}

/// The stage-1 requests, one per peer of [`POC_PEERS`], in that order.
pub fn stage1_requests(quote_hex: &str) -> Vec<PlannedRequest> {
    let body = stage1_body(quote_hex);
    POC_PEERS.iter().map(|p| PlannedRequest::post_json(get_jwt_url(p), body.clone(), POC_MAX_BODY)).collect()
}

/// A successful stage-1 answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage1Reply {
    /// `machineId` (may be empty here; [`stage2_plan`] rejects that).
    pub machine_id: String,
    /// `moniker`, the peer's name in the nonce and signature maps.
    pub moniker: String,
    /// `nonce`.
    pub nonce: String,
}

/// Reads a 200 stage-1 answer from `peer` (Go struct semantics: case-insensitive keys, last
/// duplicate wins, `null` = absent, a non-string value is an error). Missing `moniker` or
/// `nonce` is an error.
pub fn parse_stage1(peer: &str, body: &[u8]) -> Result<Stage1Reply, PocError> {
    let v = gojson::decode_string_struct(body, &["machineId", "moniker", "nonce"])
        .map_err(|e| PocError::Stage1Parse { peer: peer.to_owned(), reason: e.0 })?;
    let [machine_id, moniker, nonce]: [String; 3] = v.try_into().expect("three fields");
    if moniker.is_empty() || nonce.is_empty() {
        return Err(PocError::Stage1Missing { peer: peer.to_owned() });
    }
    Ok(Stage1Reply { machine_id, moniker, nonce })
}

/// What stage 2 will send, fixed once the stage-1 quorum is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage2Plan {
    /// Peer base URLs in stage-2 order (ascending URL: iex.ec, nillion.network, scrtlabs.com).
    pub peers: Vec<String>,
    /// Moniker → stage-1 nonce (sorted by moniker, as Go writes the map).
    pub nonces: BTreeMap<String, String>,
    /// The machine id every peer agreed on (checked later against the final JWT).
    pub machine_id: String,
}

/// Orders the successful stage-1 answers, given as (peer base URL, answer) **in arrival
/// order**. Like teep, only the first [`POC_QUORUM`] arrivals count; fewer is an error. Then:
/// sort by peer URL, require every machine id non-empty and equal to the first one's, require
/// unique monikers.
pub fn stage2_plan<P: AsRef<str>>(stage1: &[(P, Stage1Reply)]) -> Result<Stage2Plan, PocError> {
    if stage1.len() < POC_QUORUM {
        return Err(PocError::NoQuorum { got: stage1.len(), need: POC_QUORUM });
    }
    let mut got: Vec<(&str, &Stage1Reply)> = stage1[..POC_QUORUM].iter().map(|(p, r)| (p.as_ref(), r)).collect();
    got.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let first = got[0].1.machine_id.clone();
    for (peer, r) in &got {
        if r.machine_id.is_empty() {
            return Err(PocError::EmptyMachineId { peer: (*peer).to_owned() });
        }
        if r.machine_id != first {
            return Err(PocError::MachineIdMismatch { peer: (*peer).to_owned(), got: r.machine_id.clone(), first });
        }
    }
    let mut nonces = BTreeMap::new();
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for (peer, r) in &got {
        if let Some(prev) = owner.insert(&r.moniker, peer) {
            return Err(PocError::DuplicateMoniker {
                moniker: r.moniker.clone(),
                first: prev.to_owned(),
                second: (*peer).to_owned(),
            });
        }
        nonces.insert(r.moniker.clone(), r.nonce.clone());
    }
    Ok(Stage2Plan { peers: got.iter().map(|(p, _)| (*p).to_owned()).collect(), nonces, machine_id: first })
}

/// Stage-2 body:
/// `{"nonces":{<moniker>:<nonce>,…},"partial_sigs":{<moniker>:<sig>,…},"quote":"<hex>"}`,
/// keys sorted at every level. `partial_sigs` is left out when `None` or empty (the first peer,
/// or a previous answer that carried no signatures).
pub fn stage2_body(
    quote_hex: &str,
    nonces: &BTreeMap<String, String>,
    partial_sigs: Option<&BTreeMap<String, String>>,
) -> Vec<u8> {
    let mut out = String::with_capacity(quote_hex.len() + 512);
    out.push_str("{\"nonces\":");
    gojson::write_string_map(&mut out, nonces);
    if let Some(sigs) = partial_sigs.filter(|s| !s.is_empty()) {
        out.push_str(",\"partial_sigs\":");
        gojson::write_string_map(&mut out, sigs);
    }
    out.push_str(",\"quote\":");
    gojson::write_string(&mut out, quote_hex);
    out.push('}');
    out.into_bytes()
}

/// The stage-2 request to `peer` (see [`stage2_body`]).
pub fn stage2_request(
    peer: &str,
    quote_hex: &str,
    nonces: &BTreeMap<String, String>,
    partial_sigs: Option<&BTreeMap<String, String>>,
) -> PlannedRequest {
    PlannedRequest::post_json(get_jwt_url(peer), stage2_body(quote_hex, nonces, partial_sigs), POC_MAX_BODY)
}

/// A 200 stage-2 answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage2Reply {
    /// A non-empty `jwt`: the protocol ends here.
    Final {
        /// The EdDSA JWT (its payload is checked by the verifier; the signature is not).
        jwt: String,
        /// Wrapper `machineId` (may be empty).
        machine_id: String,
        /// Wrapper `label` (may be empty).
        label: String,
    },
    /// Accumulated partial signatures: the whole answer as Go's `map[string]string` (`null`
    /// values become empty strings, a top-level `null` an empty map). It is the next peer's
    /// `partial_sigs`, re-serialised with sorted keys.
    Partial(BTreeMap<String, String>),
}

/// Reads a 200 stage-2 answer from `peer`, as teep does: first as the wrapper
/// `{machineId, label, jwt}` (Go struct semantics); without a JWT, again as a string map. A
/// value of the wrong type in either reading is an error.
pub fn parse_stage2(peer: &str, body: &[u8]) -> Result<Stage2Reply, PocError> {
    let err = |e: gojson::GoJsonError| PocError::Stage2Parse { peer: peer.to_owned(), reason: e.0 };
    let v = gojson::decode_string_struct(body, &["machineId", "label", "jwt"]).map_err(err)?;
    let [machine_id, label, jwt]: [String; 3] = v.try_into().expect("three fields");
    if !jwt.is_empty() {
        return Ok(Stage2Reply::Final { jwt, machine_id, label });
    }
    Ok(Stage2Reply::Partial(gojson::decode_string_map(body).map_err(err)?.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(m: &str, moniker: &str, nonce: &str) -> Stage1Reply {
        Stage1Reply { machine_id: m.to_owned(), moniker: moniker.to_owned(), nonce: nonce.to_owned() }
    }

    #[test]
    fn stage1() {
        assert_eq!(stage1_body("0400ab"), br#"{"quote":"0400ab"}"#);
        assert_eq!(stage1_body("<&>"), br#"{"quote":"\u003c\u0026\u003e"}"#);
        let reqs = stage1_requests("00");
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[0].url, "https://trust-server.scrtlabs.com/get_jwt");
        assert_eq!(reqs[2].url, "https://trust-server.iex.ec/get_jwt");
        assert_eq!(get_jwt_url("https://x//"), "https://x/get_jwt");
        let r = parse_stage1("p", br#"{"machineId":"m","moniker":"iexec","nonce":"+4r/="}"#).unwrap();
        assert_eq!(r, reply("m", "iexec", "+4r/="));
        assert_eq!(parse_stage1("p", br#"{"moniker":"x"}"#), Err(PocError::Stage1Missing { peer: "p".into() }));
        assert!(matches!(parse_stage1("p", br#"{"moniker":"x","nonce":1}"#), Err(PocError::Stage1Parse { .. })));
        assert!(matches!(parse_stage1("p", b"<html>"), Err(PocError::Stage1Parse { .. })));
    }

    #[test]
    fn stage2_order_and_checks() {
        let s1 = [
            ("https://trust-server.scrtlabs.com", reply("m", "secret", "s")),
            ("https://trust-server.iex.ec", reply("m", "iexec", "i")),
            ("https://trust-server.nillion.network", reply("m", "nillion", "n")),
        ];
        let plan = stage2_plan(&s1).unwrap();
        assert_eq!(
            plan.peers,
            [
                "https://trust-server.iex.ec",
                "https://trust-server.nillion.network",
                "https://trust-server.scrtlabs.com"
            ]
        );
        assert_eq!(plan.nonces.keys().collect::<Vec<_>>(), ["iexec", "nillion", "secret"]);
        assert_eq!(plan.machine_id, "m");

        assert_eq!(stage2_plan(&s1[..2]), Err(PocError::NoQuorum { got: 2, need: 3 }));
        let mut bad = s1.clone();
        bad[1].1.machine_id = "other".into();
        // iex.ec sorts first, so its id is the reference and the others disagree with it.
        assert!(matches!(stage2_plan(&bad), Err(PocError::MachineIdMismatch { .. })));
        bad = s1.clone();
        bad[0].1.machine_id = String::new();
        assert!(matches!(stage2_plan(&bad), Err(PocError::EmptyMachineId { .. })));
        bad = s1.clone();
        bad[2].1.moniker = "secret".into();
        assert!(matches!(stage2_plan(&bad), Err(PocError::DuplicateMoniker { .. })));
    }

    #[test]
    fn stage2_bodies() {
        let mut nonces = BTreeMap::new();
        nonces.insert("secret".to_owned(), "s+/=".to_owned());
        nonces.insert("iexec".to_owned(), "i".to_owned());
        assert_eq!(stage2_body("ab", &nonces, None), br#"{"nonces":{"iexec":"i","secret":"s+/="},"quote":"ab"}"#);
        assert_eq!(stage2_body("ab", &nonces, Some(&BTreeMap::new())), stage2_body("ab", &nonces, None));
        let Stage2Reply::Partial(sigs) = parse_stage2("p", br#"{"secret":"x","iexec":"y"}"#).unwrap() else { panic!() };
        assert_eq!(
            stage2_body("ab", &nonces, Some(&sigs)),
            br#"{"nonces":{"iexec":"i","secret":"s+/="},"partial_sigs":{"iexec":"y","secret":"x"},"quote":"ab"}"#
        );
        assert_eq!(stage2_request("https://p", "ab", &nonces, None).url, "https://p/get_jwt");
    }

    #[test]
    fn stage2_replies() {
        assert_eq!(
            parse_stage2("p", br#"{"machineId":"m","label":"l","jwt":"a.b.c"}"#).unwrap(),
            Stage2Reply::Final { jwt: "a.b.c".into(), machine_id: "m".into(), label: "l".into() }
        );
        // An empty jwt is a partial answer; the key stays in the map, as in teep.
        let Stage2Reply::Partial(m) = parse_stage2("p", br#"{"jwt":"","a":null}"#).unwrap() else { panic!() };
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            [("a".to_owned(), String::new()), ("jwt".to_owned(), String::new())]
        );
        assert_eq!(parse_stage2("p", b"null").unwrap(), Stage2Reply::Partial(BTreeMap::new()));
        assert!(matches!(parse_stage2("p", br#"{"a":1}"#), Err(PocError::Stage2Parse { .. })));
        assert!(matches!(parse_stage2("p", br#"{"jwt":1}"#), Err(PocError::Stage2Parse { .. })));
    }
}
