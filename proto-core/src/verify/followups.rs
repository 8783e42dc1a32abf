//! The fetches that follow the attestation answer, and what their answers unlock.
//!
//! Answers are stored by [`Purpose`], never by arrival order. Each answer may unlock further
//! fetches (the root CRL after the QE identity, Proof of Cloud stage 2 after all of stage 1,
//! Rekor entries after the index, the next entry while no Fulcio certificate was found).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;

use crate::attestation::compose::{self, ComposeImages};
use crate::attestation::plan::{PlannedRequest, nras, pcs, poc, rekor};
use crate::attestation::raw::RawAttestation;
use crate::attestation::tdx::Quote;
use crate::fetch::FetchResult;

/// Largest number of Rekor UUIDs followed per digest.
const MAX_REKOR_UUIDS: usize = 64;

/// Which quote a fetch concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Side {
    Model,
    Gateway,
}

/// What a fetch is for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Purpose {
    NearEndpoints,
    ChutesModels,
    Attestation,
    ChutesInstances,
    ChutesEvidence,
    PcsTcbInfo(Side),
    PcsQeIdentity(Side),
    PcsPckCrl(Side),
    PcsRootCrl(Side),
    NrasAttest,
    NrasJwks,
    PocStage1(Side, usize),
    PocStage2(Side, usize),
    /// The presence lookup of digest `n` (decides `sigstore_verification`).
    RekorIndex(usize),
    /// The second lookup of a digest that had entries; its order drives the entry fetches.
    RekorProvenanceIndex(usize),
    RekorEntry(usize, usize),
}

/// A fetch to make, and what it is for.
pub(super) type Planned = (Purpose, PlannedRequest);

/// Per-quote inputs kept for later stages.
#[derive(Debug, Default)]
struct QuoteSide {
    quote_hex: String,
}

/// Answers collected so far, and the state of the multi-step exchanges.
#[derive(Debug, Default)]
pub(super) struct Followups {
    pub(super) answers: BTreeMap<Purpose, FetchResult>,
    sides: BTreeMap<Side, QuoteSide>,
    /// Image digests looked up in Rekor, indexed as in [`Purpose::RekorIndex`].
    pub(super) digests: Vec<String>,
    /// Entry UUIDs of each digest's provenance lookup, indexed as in [`Purpose::RekorEntry`].
    pub(super) rekor_uuids: BTreeMap<usize, Vec<String>>,
    /// Fetches made moot by another answer (a Proof of Cloud 403 ends stage 1 early); their
    /// own answers, even failures, do not count.
    pub(super) cancelled: BTreeSet<Purpose>,
}

impl Followups {
    /// The fetches that need only the attestation.
    pub(super) fn start(&mut self, raw: &RawAttestation, model: Option<&Quote>, gateway: Option<&Quote>) -> Vec<Planned> {
        let mut out = Vec::new();
        if let Some(q) = model {
            pcs(&mut out, Side::Model, q);
        }
        if let Some(request) = nras::nras_attest_request(raw) {
            out.push((Purpose::NrasAttest, request));
            out.push((Purpose::NrasJwks, nras::nras_jwks_request()));
        }
        if !raw.intel_quote.is_empty() {
            self.poc_stage1(&mut out, Side::Model, &raw.intel_quote);
        }
        if let (Some(g), Some(q)) = (&raw.gateway, gateway) {
            pcs(&mut out, Side::Gateway, q);
            self.poc_stage1(&mut out, Side::Gateway, &g.intel_quote);
        }
        self.digests = rekor_digests(raw, model, gateway);
        for (i, digest) in self.digests.iter().enumerate() {
            out.push((Purpose::RekorIndex(i), rekor::index_request(digest)));
        }
        out
    }

    fn poc_stage1(&mut self, out: &mut Vec<Planned>, side: Side, quote_hex: &str) {
        self.sides.insert(side, QuoteSide { quote_hex: quote_hex.to_owned() });
        for (i, request) in poc::stage1_requests(quote_hex).into_iter().enumerate() {
            out.push((Purpose::PocStage1(side, i), request));
        }
    }

    /// Stores an answer and returns the fetches it unlocks.
    pub(super) fn record(&mut self, purpose: Purpose, result: FetchResult) -> Vec<Planned> {
        let mut out = Vec::new();
        match &purpose {
            Purpose::PcsQeIdentity(side) => {
                if let Ok(r) = &result {
                    let chain = r.header("SGX-Enclave-Identity-Issuer-Chain").unwrap_or("");
                    let request = pcs::root_ca_crl_request(root_crl_distribution_point(chain).as_deref());
                    out.push((Purpose::PcsRootCrl(*side), request));
                }
            }
            Purpose::PocStage1(side, _)
                if status(&result) == Some(403) => {
                    // Not registered: the other stage-1 answers no longer matter.
                    for i in 0..poc::POC_PEERS.len() {
                        let other = Purpose::PocStage1(*side, i);
                        if other != purpose {
                            self.cancelled.insert(other);
                        }
                    }
                }
            Purpose::RekorIndex(d)
                // Like the reference, look a digest that has entries up again for provenance.
                if !rekor_uuids(&result).is_empty() => {
                    out.push((Purpose::RekorProvenanceIndex(*d), rekor::index_request(&self.digests[*d])));
                }
            Purpose::RekorProvenanceIndex(d) => {
                let uuids = rekor_uuids(&result);
                if let Some(first) = uuids.first() {
                    out.push(rekor_entry(*d, 0, first));
                }
                self.rekor_uuids.insert(*d, uuids);
            }
            Purpose::RekorEntry(d, u) => {
                let fulcio = ok_json(&result).is_some_and(|v| entry_has_certificate(&v));
                if !fulcio
                    && let Some(next) = self.rekor_uuids.get(d).and_then(|l| l.get(u + 1)) {
                        out.push(rekor_entry(*d, u + 1, next));
                    }
            }
            _ => {}
        }
        self.answers.insert(purpose.clone(), result);
        if let Purpose::PocStage1(side, _) | Purpose::PocStage2(side, _) = purpose {
            out.extend(self.poc_next(side));
        }
        out
    }

    /// Proof of Cloud stage 2: starts once every stage-1 peer answered 200, then proceeds peer
    /// by peer (in ascending URL order) until one returns the final token.
    fn poc_next(&mut self, side: Side) -> Vec<Planned> {
        let mut replies = Vec::new();
        for (i, peer) in poc::POC_PEERS.iter().enumerate() {
            let Some(body) = self.answers.get(&Purpose::PocStage1(side, i)).and_then(ok_body) else { return Vec::new() };
            let Ok(reply) = poc::parse_stage1(peer, body) else { return Vec::new() };
            replies.push((*peer, reply));
        }
        let Ok(plan) = poc::stage2_plan(&replies) else { return Vec::new() };
        let quote_hex = self.sides.get(&side).map(|s| s.quote_hex.clone()).unwrap_or_default();
        let mut partial: Option<BTreeMap<String, String>> = None;
        for (step, peer) in plan.peers.iter().enumerate() {
            let Some(answer) = self.answers.get(&Purpose::PocStage2(side, step)) else {
                let request = poc::stage2_request(peer, &quote_hex, &plan.nonces, partial.as_ref());
                return vec![(Purpose::PocStage2(side, step), request)];
            };
            match ok_body(answer).map(|b| poc::parse_stage2(peer, b)) {
                Some(Ok(poc::Stage2Reply::Partial(sigs))) => partial = Some(sigs),
                _ => return Vec::new(),
            }
        }
        Vec::new()
    }
}

fn pcs(out: &mut Vec<Planned>, side: Side, quote: &Quote) {
    let Ok(pck) = quote.pck_leaf() else { return };
    let Some(ca) = pck.issuer_cn.as_deref().and_then(pcs::PckCa::from_issuer_cn) else { return };
    let [tcb_info, qe_identity, pck_crl] = pcs::collateral_requests(&pck.fmspc, ca);
    out.push((Purpose::PcsTcbInfo(side), tcb_info));
    out.push((Purpose::PcsQeIdentity(side), qe_identity));
    out.push((Purpose::PcsPckCrl(side), pck_crl));
}

fn rekor_entry(digest: usize, index: usize, uuid: &str) -> Planned {
    (Purpose::RekorEntry(digest, index), rekor::entry_request(uuid))
}

/// Image digests to look up in Rekor: model then gateway images, only where the compose file
/// is bound to the quote (an unbound compose file says nothing about what runs).
fn rekor_digests(raw: &RawAttestation, model: Option<&Quote>, gateway: Option<&Quote>) -> Vec<String> {
    let bound = |compose: &str, quote: Option<&Quote>| -> ComposeImages {
        match quote {
            Some(q) if !compose.is_empty() && compose::verify_compose_binding(compose, &q.body().mr_config_id).is_ok() => {
                compose::extract_images(compose)
            }
            _ => ComposeImages::default(),
        }
    };
    let model_images = bound(&raw.app_compose, model);
    let images = match &raw.gateway {
        Some(g) => ComposeImages::merge(&model_images, &bound(&g.app_compose, gateway)),
        None => model_images,
    };
    images.digests
}

/// The CRL distribution point of the root certificate in a PCS issuer-chain header, if any.
fn root_crl_distribution_point(header: &str) -> Option<String> {
    use x509_cert::der::{Decode, oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS};
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    let pem = crate::capture::url::percent_decode(header).ok()?;
    let chain = crate::attestation::tdx::split_pem_chain(&pem).ok()?;
    let root = x509_cert::Certificate::from_der(chain.last()?).ok()?;
    let ext = root.tbs_certificate().extensions()?.iter().find(|e| e.extn_id == ID_CE_CRL_DISTRIBUTION_POINTS)?;
    let points = x509_cert::ext::pkix::CrlDistributionPoints::from_der(ext.extn_value.as_bytes()).ok()?;
    points.0.iter().find_map(|dp| match &dp.distribution_point {
        Some(DistributionPointName::FullName(names)) => names.iter().find_map(|n| match n {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
            _ => None,
        }),
        _ => None,
    })
}

/// The entry UUIDs of a Rekor index answer (at most [`MAX_REKOR_UUIDS`]).
fn rekor_uuids(result: &FetchResult) -> Vec<String> {
    ok_body(result)
        .and_then(|b| rekor::parse_index(b).ok())
        .map(|l| l.into_iter().take(MAX_REKOR_UUIDS).collect())
        .unwrap_or_default()
}

fn status(result: &FetchResult) -> Option<u16> {
    result.as_ref().ok().map(|r| r.status)
}

fn ok_body(result: &FetchResult) -> Option<&[u8]> {
    result.as_ref().ok().filter(|r| r.status == 200).map(|r| r.body.as_slice())
}

fn ok_json(result: &FetchResult) -> Option<serde_json::Value> {
    serde_json::from_slice(ok_body(result)?).ok()
}

/// True if a Rekor entries answer's first entry is signed with a certificate (a Fulcio
/// candidate), as opposed to a raw public key.
fn entry_has_certificate(answer: &serde_json::Value) -> bool {
    let Some(entry) = answer.as_array().and_then(|a| a.first()).and_then(|o| o.as_object()).and_then(|o| o.values().next())
    else {
        return false;
    };
    let Some(body) = entry.get("body").and_then(|b| b.as_str()) else { return false };
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some(decoded) = b64.decode(body).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()) else {
        return false;
    };
    let verifier = decoded
        .pointer("/spec/signatures/0/verifier")
        .or_else(|| decoded.pointer("/spec/signature/publicKey/content"))
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let pem = b64.decode(verifier).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_else(|_| verifier.to_owned());
    pem.contains("-----BEGIN CERTIFICATE-----") && certificate_is_fulcio(&pem)
}

/// Fulcio's OIDC issuer extensions (v1 and v2).
const FULCIO_ISSUER_OIDS: [&str; 2] = ["1.3.6.1.4.1.57264.1.1", "1.3.6.1.4.1.57264.1.8"];

/// True if the first certificate in `pem` carries a Fulcio OIDC issuer extension.
fn certificate_is_fulcio(pem: &str) -> bool {
    use x509_cert::der::DecodePem;
    let Ok(cert) = x509_cert::Certificate::from_pem(pem.trim().as_bytes()) else { return false };
    cert.tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .any(|ext| FULCIO_ISSUER_OIDS.iter().any(|oid| ext.extn_id.to_string() == *oid))
}

