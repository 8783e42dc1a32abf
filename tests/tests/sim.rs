//! Simulated providers over loopback: every provider verifies unblocked against its sim on the
//! three runtimes with identical reports; each misbehaviour fails the factor it attacks and
//! blocks; sim and production trust roots never accept each other's evidence; a recorded sim
//! session replays to the same report.

use std::sync::{Arc, Mutex};

use proto_core::capture::Capture;
use proto_core::harness::TestPki;
use proto_core::provider::ProviderKind;
use proto_core::report::{Factor, Report, Status};
use proto_core::sim::{Misbehaviour, SIM_NOW, SimWorld};
use proto_core::verify::{LiveOutput, LiveVerification, VerifyConfig, VerifyError};
use teep_tests::sim_server::{serve_sim, sim_pki, sim_world};
use teep_tests::{RUNTIMES, Runtime, run_live};

const SEED: [u8; 32] = [0x5e; 32];
const NONCE: [u8; 32] = [0xa7; 32];

fn config_for(world: &SimWorld, provider: ProviderKind) -> VerifyConfig {
    teep_tests::sim_server::attestation_only_config(world, provider)
}

struct Run {
    result: Result<Report, VerifyError>,
    capture: Capture,
    inference_requests: usize,
}

fn run(provider: ProviderKind, runtime: Runtime, world: SimWorld, pki: &TestPki) -> Run {
    let config = config_for(&world, provider);
    let now = world.now();
    let served = serve_sim(Arc::new(Mutex::new(world)), pki);
    let machine = LiveVerification::new(provider, SimWorld::model(provider), NONCE, config, now, served.client.clone());
    let (outputs, machine) = run_live(runtime, machine);
    let result = match outputs.last() {
        Some(LiveOutput::Finished(r)) => r.clone(),
        other => panic!("{provider:?}: no result: {other:?}"),
    };
    let inference_requests = served.world.lock().unwrap().inference_requests();
    Run { result, capture: machine.capture(), inference_requests }
}

fn report(run: &Run, provider: ProviderKind) -> &Report {
    match &run.result {
        Ok(r) => r,
        Err(e) => panic!("{provider:?}: verification failed: {e}"),
    }
}

fn failures(report: &Report) -> Vec<String> {
    report
        .factors
        .iter()
        .filter(|f| f.status == Status::Fail)
        .map(|f| format!("{}{}: {}", f.factor, if f.enforced { " (enforced)" } else { "" }, f.detail))
        .collect()
}

fn factor(report: &Report, f: Factor) -> &proto_core::report::FactorResult {
    report.factor(f).unwrap_or_else(|| panic!("report lacks {f}"))
}

/// Asserts `f` failed, its detail contains `needle`, and the report is blocked.
fn assert_fails(report: &Report, f: Factor, needle: &str) {
    let got = factor(report, f);
    assert_eq!(got.status, Status::Fail, "{f}: {}", got.detail);
    assert!(got.detail.contains(needle), "{f}: {:?} lacks {needle:?}", got.detail);
    assert!(report.is_blocked(), "a failed {f} must block: {:#?}", failures(report));
}

/// Factors every simulated provider must pass (chutes has no compose file, event log or
/// image digests; the NEAR providers bind TLS).
fn must_pass(provider: ProviderKind) -> Vec<Factor> {
    let mut list = vec![
        Factor::NonceMatch,
        Factor::TeeQuoteStructure,
        Factor::TeeCertChain,
        Factor::TeeQuoteSignature,
        Factor::TeeDebugDisabled,
        Factor::TeeMeasurement,
        Factor::TeeHardwareConfig,
        Factor::TeeBootConfig,
        Factor::SigningKeyPresent,
        Factor::TeeReportdataBinding,
        Factor::IntelPcsCollateral,
        Factor::TeeTcbCurrent,
        Factor::TeeTcbNotRevoked,
        Factor::NvidiaPayloadPresent,
        Factor::NvidiaSignature,
        Factor::NvidiaClaims,
        Factor::NvidiaNonceClientBound,
        Factor::NvidiaNrasVerified,
        Factor::E2eeCapable,
    ];
    if provider != ProviderKind::Chutes {
        list.extend([
            Factor::ComposeBinding,
            Factor::EventLogIntegrity,
            Factor::SigstoreVerification,
            Factor::BuildTransparencyLog,
        ]);
    }
    if matches!(provider, ProviderKind::NearDirect | ProviderKind::NearCloud) {
        list.push(Factor::TlsKeyBinding);
    }
    if provider == ProviderKind::NearCloud {
        list.extend([
            Factor::GatewayNonceMatch,
            Factor::GatewayTeeCertChain,
            Factor::GatewayTeeQuoteSignature,
            Factor::GatewayTeeDebugDisabled,
            Factor::GatewayTeeMeasurement,
            Factor::GatewayTeeHardwareConfig,
            Factor::GatewayTeeBootConfig,
            Factor::GatewayTeeReportdataBinding,
            Factor::GatewayComposeBinding,
            Factor::GatewayEventLogIntegrity,
        ]);
    }
    list
}

#[test]
fn every_provider_verifies_unblocked_on_three_runtimes_with_identical_reports() {
    let pki = sim_pki();
    for provider in ProviderKind::ALL {
        let mut reports = Vec::new();
        for runtime in RUNTIMES {
            let run = run(provider, runtime, sim_world(SEED, &pki), &pki);
            let r = report(&run, provider);
            assert!(!r.is_blocked(), "{provider:?} on {runtime:?}: blocked: {:#?}", failures(r));
            for f in must_pass(provider) {
                let got = factor(r, f);
                assert_eq!(got.status, Status::Pass, "{provider:?} on {runtime:?}: {f}: {}", got.detail);
            }
            assert_eq!(run.inference_requests, 0, "{provider:?}: attestation touched an inference path");
            reports.push(r.to_json());
        }
        assert_eq!(reports[0], reports[1], "{provider:?}: blocking vs smol");
        assert_eq!(reports[0], reports[2], "{provider:?}: blocking vs tokio");
    }
}

#[test]
fn a_recorded_sim_session_replays_to_the_same_report() {
    let pki = sim_pki();
    for provider in ProviderKind::ALL {
        let world = sim_world(SEED, &pki);
        let config = config_for(&world, provider);
        let live = run(provider, Runtime::Blocking, world, &pki);
        let live_json = report(&live, provider).to_json();
        let replayed = proto_core::verify::replay_capture_with(
            &live.capture,
            |c| {
                c.trust = config.trust.clone();
                c.model_policy = config.model_policy.clone();
                c.gateway_policy = config.gateway_policy.clone();
                c.allow_fail = config.allow_fail.clone();
            },
            |_| 0,
        )
        .expect("replay");
        assert!(replayed.unmatched.is_empty(), "{provider:?}: the recording lacks {:?}", replayed.unmatched);
        assert_eq!(
            replayed.report.expect("replay report").to_json(),
            live_json,
            "{provider:?}: record → replay differs"
        );
    }
}

#[test]
fn wrong_nonce_fails_nonce_match_and_reportdata() {
    let pki = sim_pki();
    for provider in [ProviderKind::Venice, ProviderKind::NearDirect, ProviderKind::PhalaCloud] {
        let run = run(provider, Runtime::Blocking, sim_world(SEED, &pki).with(Misbehaviour::WrongNonce), &pki);
        let r = report(&run, provider);
        assert_fails(r, Factor::NonceMatch, "");
        assert_fails(r, Factor::TeeReportdataBinding, "nonce");
        assert_eq!(run.inference_requests, 0);
    }
}

#[test]
fn stale_collateral_fails_intel_pcs_collateral() {
    let pki = sim_pki();
    let provider = ProviderKind::NearDirect;
    let run = run(provider, Runtime::Blocking, sim_world(SEED, &pki).with(Misbehaviour::StaleCollateral), &pki);
    let r = report(&run, provider);
    assert_fails(r, Factor::IntelPcsCollateral, "expired");
    assert_fails(r, Factor::TeeTcbNotRevoked, "expired");
}

#[test]
fn a_swapped_signing_key_fails_reportdata_binding() {
    let pki = sim_pki();
    for (provider, needle) in [
        (ProviderKind::Venice, "REPORTDATA"),
        (ProviderKind::NearDirect, "REPORTDATA"),
        (ProviderKind::Chutes, "REPORTDATA"),
        (ProviderKind::NanoGpt, "REPORTDATA"),
    ] {
        let run = run(provider, Runtime::Blocking, sim_world(SEED, &pki).with(Misbehaviour::SwappedSigningKey), &pki);
        assert_fails(report(&run, provider), Factor::TeeReportdataBinding, needle);
    }
}

#[test]
fn gpu_evidence_for_another_nonce_fails_nvidia_nonce_binding() {
    let pki = sim_pki();
    for provider in [ProviderKind::Venice, ProviderKind::NearCloud, ProviderKind::Chutes] {
        let run = run(provider, Runtime::Blocking, sim_world(SEED, &pki).with(Misbehaviour::GpuOtherNonce), &pki);
        let r = report(&run, provider);
        assert_fails(r, Factor::NvidiaNonceClientBound, "nonce");
    }
}

#[test]
fn an_spki_change_after_attestation_fails_tls_key_binding() {
    let pki = sim_pki();
    let other = sim_pki();
    for provider in [ProviderKind::NearDirect, ProviderKind::NearCloud] {
        let mut world = sim_world(SEED, &pki).with(Misbehaviour::SpkiChangeAfterAttestation);
        world.set_alt_tls_spki(other.server_spki);
        assert_eq!(world.tls_spki(), pki.server_spki, "attestations bind the first identity");
        // The server now presents the second identity.
        let run = run(provider, Runtime::Blocking, world, &other);
        assert_fails(report(&run, provider), Factor::TlsKeyBinding, "presented TLS key");
    }
}

#[test]
fn a_chutes_instance_that_503s_is_listed_but_attestation_picks_a_working_one() {
    let pki = sim_pki();
    let provider = ProviderKind::Chutes;
    let world = sim_world(SEED, &pki).with(Misbehaviour::ChutesInstance503);
    let served = serve_sim(Arc::new(Mutex::new(world)), &pki);
    let mut w = served.world.lock().unwrap();
    let instances =
        w.answer("GET", &format!("https://api.chutes.ai/e2e/instances/{}", proto_core::sim::CHUTES_CHUTE_ID), &[], b"");
    assert_eq!(instances.status, 200);
    let listed: serde_json::Value = serde_json::from_slice(&instances.body).unwrap();
    let bad = &listed["instances"][0];
    assert_eq!(bad["instance_id"], proto_core::sim::CHUTES_BAD_INSTANCE, "listed first");
    let nonce = bad["nonces"][0].as_str().unwrap().to_owned();
    let headers = [
        ("X-Instance-Id".to_owned(), proto_core::sim::CHUTES_BAD_INSTANCE.to_owned()),
        ("X-E2E-Nonce".to_owned(), nonce),
    ];
    assert_eq!(w.answer("POST", "https://api.chutes.ai/e2e/invoke", &headers, b"{}").status, 503);
    assert_eq!(w.answer("POST", "https://api.chutes.ai/e2e/invoke", &headers, b"{}").status, 403, "nonce reused");
    assert_eq!(w.chutes_nonce_reuses(), 1);
    assert_eq!(w.inference_requests(), 2, "the inference requests are counted");
    drop(w);
    let run = run(provider, Runtime::Blocking, sim_world(SEED, &pki).with(Misbehaviour::ChutesInstance503), &pki);
    let r = report(&run, provider);
    assert!(!r.is_blocked(), "{:#?}", failures(r));
    assert_eq!(run.inference_requests, 0);
}

#[test]
fn production_roots_reject_the_simulation() {
    let pki = sim_pki();
    for provider in ProviderKind::ALL {
        let world = sim_world(SEED, &pki);
        let mut config = config_for(&world, provider);
        config.trust = proto_core::verify::TrustRoots::production();
        let now = world.now();
        let served = serve_sim(Arc::new(Mutex::new(world)), &pki);
        let machine =
            LiveVerification::new(provider, SimWorld::model(provider), NONCE, config, now, served.client.clone());
        let (outputs, machine) = run_live(Runtime::Blocking, machine);
        let Some(LiveOutput::Finished(Ok(r))) = outputs.last() else { panic!("{provider:?}: no report") };
        assert_fails(r, Factor::TeeCertChain, "not the trusted root");
        assert_fails(r, Factor::NvidiaSignature, "root");
        if provider != ProviderKind::Chutes {
            assert_fails(r, Factor::BuildTransparencyLog, "");
        }
        assert!(machine.clearance().is_none(), "{provider:?}: no clearance from untrusted evidence");
    }
}

#[test]
fn simulation_roots_reject_every_production_capture() {
    let pki = sim_pki();
    let world = sim_world(SEED, &pki);
    let captures = teep_tests::captures::replayable_captures();
    for dir in &captures {
        let capture = runtime_blocking::capture_fs::load_capture(dir).expect("capture loads");
        let name = capture.manifest.dir_name();
        let outcome = proto_core::verify::replay_capture_with(&capture, |c| c.trust = world.trust_roots(), |_| 0)
            .expect("replay");
        let Ok(r) = outcome.report else { continue };
        let chain = factor(&r, Factor::TeeCertChain);
        assert_eq!(chain.status, Status::Fail, "{name}: tee_cert_chain under sim roots: {}", chain.detail);
        assert!(r.is_blocked(), "{name}: a production capture verified under simulation roots");
        if r.factor(Factor::NvidiaSignature).is_some_and(|f| !f.detail.starts_with("no NVIDIA")) {
            assert_ne!(factor(&r, Factor::NvidiaSignature).status, Status::Pass, "{name}: nvidia_signature");
        }
        assert_ne!(factor(&r, Factor::BuildTransparencyLog).status, Status::Pass, "{name}: build_transparency_log");
        assert!(outcome.clearance.is_none(), "{name}");
    }
}

#[test]
fn the_world_is_deterministic_and_only_requests_depend_on_the_nonce() {
    let spki = proto_core::tls::SpkiHash([3; 32]);
    let mut a = SimWorld::new(SEED, spki).unwrap();
    let mut b = SimWorld::new(SEED, spki).unwrap();
    let url = |n: &str| format!("https://api.venice.ai/api/v1/tee/attestation?model=e2ee-sim-model&nonce={n}");
    let n1 = hex::encode([1u8; 32]);
    let n2 = hex::encode([2u8; 32]);
    assert_eq!(a.answer("GET", &url(&n1), &[], b""), b.answer("GET", &url(&n1), &[], b""));
    assert_ne!(a.answer("GET", &url(&n1), &[], b"").body, a.answer("GET", &url(&n2), &[], b"").body);
    let c = SimWorld::new([0x11; 32], spki).unwrap();
    assert_ne!(a.enclave_public(ProviderKind::Venice), c.enclave_public(ProviderKind::Venice));
    assert!(!a.trust_roots().is_production());
    assert!(SIM_NOW > 0 && a.inference_requests() == 0);
}
