//! Unit tests of the simulated world: its evidence verifies under its own roots only.

use base64::Engine as _;

use super::*;
use crate::attestation::sigstore::fulcio;
use crate::attestation::tdx::{self, Collateral, Quote, TcbStatus, TdxVerifyError};
use crate::fetch::FetchResponse;

const SEED: [u8; 32] = [9; 32];

fn world() -> SimWorld {
    SimWorld::new(SEED, SpkiHash([2; 32])).expect("world builds")
}

fn quote(world: &SimWorld) -> Quote {
    let td = super::tdx::TdMeasurements { mrtd: [1; 48], mrseam: [2; 48], mr_config_id: [3; 48], rtmr: [[4; 48]; 4] };
    Quote::parse(&world.intel.quote(&td, &[5; 64])).expect("simulated quote parses")
}

fn collateral(world: &SimWorld, stale: bool) -> Collateral {
    let answers = world.intel.collateral(stale).expect("collateral");
    let r: Vec<FetchResponse> = answers
        .into_iter()
        .map(|(headers, body)| FetchResponse { status: 200, headers, body, peer_spki: None })
        .collect();
    Collateral::from_answers(&r[0], &r[1], &r[2], &r[3]).expect("collateral parses")
}

#[test]
fn quotes_verify_under_the_world_root_only() {
    let w = world();
    let roots = w.trust_roots();
    let q = quote(&w);
    assert!(tdx::offline_verify(&q, roots.intel(), SIM_NOW).is_ok());
    assert_eq!(tdx::offline_verify(&q, &TrustAnchor::intel(), SIM_NOW), Err(TdxVerifyError::UntrustedRoot));
    let online = tdx::online_verify(&q, &collateral(&w, false), roots.intel(), SIM_NOW).expect("collateral pass");
    assert_eq!(online.status, TcbStatus::UpToDate);
    let stale = tdx::online_verify(&q, &collateral(&w, true), roots.intel(), SIM_NOW);
    assert!(matches!(&stale, Err(TdxVerifyError::Pcs(f)) if f.message.contains("expired")), "{stale:?}");
    // The REPORTDATA is covered by the quote signature.
    let mut bytes = q.raw().to_vec();
    bytes[48 + 520] ^= 1;
    let tampered = Quote::parse(&bytes).expect("parses");
    assert_eq!(tdx::offline_verify(&tampered, roots.intel(), SIM_NOW), Err(TdxVerifyError::QuoteSignature));
}

#[test]
fn fulcio_certificates_chain_to_the_world_ca_only() {
    let w = world();
    let (_, answer) = w.rekor_entries.values().next().expect("an entry").clone();
    let v: serde_json::Value = serde_json::from_slice(&answer).expect("json");
    let entry = v[0].as_object().and_then(|o| o.values().next()).expect("entry");
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = b64.decode(entry["body"].as_str().expect("body")).expect("base64");
    let Ok(fulcio::Signer::Fulcio { der, fields, .. }) = fulcio::signer_of(&body) else { panic!("a Fulcio signer") };
    assert_eq!(fields.oidc_issuer, crate::attestation::sigstore::policy::GITHUB_OIDC_ISSUER);
    let at = i64::try_from(SIM_NOW - 86_400).expect("time");
    let roots = w.trust_roots();
    let log = roots.rekor().expect("sim log");
    assert!(fulcio::verify_fulcio_chain_under(&der, at, &log.fulcio).is_ok());
    assert!(fulcio::verify_fulcio_chain(&der, at).is_err(), "Sigstore's real CA does not issue simulated certs");
    assert!(!log.fulcio.is_sigstore());
}

#[test]
fn the_world_is_deterministic() {
    let (a, b) = (world(), world());
    assert_eq!(quote(&a).raw(), quote(&b).raw());
    assert_eq!(a.trust_roots().intel(), b.trust_roots().intel());
    for p in ProviderKind::ALL {
        assert_eq!(a.enclave_public(p), b.enclave_public(p));
        assert_eq!(a.enclave_secret(p), b.enclave_secret(p));
    }
    let other = SimWorld::new([8; 32], SpkiHash([2; 32])).expect("world");
    assert_ne!(quote(&a).raw(), quote(&other).raw());
    assert!(!a.trust_roots().is_production());
}

#[test]
fn enclave_keys_have_the_provider_shapes() {
    let w = world();
    let venice = w.enclave_public(ProviderKind::Venice);
    assert!(venice.len() == 130 && venice.starts_with("04"), "{venice}");
    assert_eq!(w.enclave_public(ProviderKind::NearDirect).len(), 64);
    let chutes = base64::engine::general_purpose::STANDARD.decode(w.enclave_public(ProviderKind::Chutes)).expect("b64");
    assert_eq!(chutes.len(), 1184);
    assert!(matches!(w.enclave_secret(ProviderKind::Chutes), EnclaveSecret::MlKem768(_)));
    assert_eq!(format!("{:?}", w.enclave_secret(ProviderKind::Venice)), "EnclaveSecret::Secp256k1(..)");
}

#[test]
fn inference_paths_are_counted_and_never_served() {
    let mut w = world();
    assert_eq!(w.answer("POST", "https://api.venice.ai/api/v1/chat/completions", &[], b"{}").status, 501);
    assert_eq!(w.answer("POST", "https://cloud-api.near.ai/v1/chat/completions", &[], b"{}").status, 501);
    assert_eq!(w.inference_requests(), 2);
    assert_eq!(w.answer("GET", "https://api.venice.ai/unknown", &[], b"").status, 404);
    assert_eq!(w.answer("GET", "http://api.venice.ai/", &[], b"").status, 400);
    let bad_nonce = w.answer("GET", "https://api.venice.ai/api/v1/tee/attestation?model=m&nonce=zz", &[], b"");
    assert_eq!(bad_nonce.status, 400);
    assert_eq!(w.inference_requests(), 2);
    assert_eq!(w.requests(), 5);
}
