//! `cargo bench -p teep-tests --bench verify`: per recorded capture, the CPU time of verifying
//! the whole session with every answer in hand (the full report: parsing, every verifier,
//! rendering), next to the time of its signature checks alone: the TDX quote (offline pass:
//! PCK chain, QE report, quote signature; plus the collateral pass through dcap-qvl) and the
//! GPU evidence (each GPU's certificate chain and SPDM signature). Prints a table; it is a
//! measurement, not a test.

use std::time::{Duration, Instant};

use proto_core::attestation::RawAttestation;
use proto_core::attestation::nvidia::{self, Eat, NvidiaAnchor};
use proto_core::attestation::tdx::{Collateral, Quote, TrustAnchor, offline_verify, online_verify};
use proto_core::capture::Capture;
use proto_core::fetch::FetchResult;
use proto_core::provider::{ProviderKind, parse};
use proto_core::verify::replay_capture;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(iterations: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm up
    median(
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn body<'a>(capture: &'a Capture, needle: &str) -> Option<&'a [u8]> {
    capture.exchanges.iter().find(|e| e.meta.url.contains(needle)).map(|e| e.body.as_slice())
}

/// The provider's attestation, parsed as the machine parses it.
fn raw_attestation(capture: &Capture) -> Option<RawAttestation> {
    let model = &capture.manifest.model;
    let parsed = match capture.manifest.provider_kind().ok()? {
        ProviderKind::Venice => parse::parse_venice(body(capture, "/tee/attestation")?),
        ProviderKind::NearDirect => parse::parse_near_model(body(capture, "/v1/attestation/report")?, model),
        ProviderKind::NearCloud => parse::parse_nearcloud(body(capture, "/v1/attestation/report")?, model),
        ProviderKind::NanoGpt => parse::parse_nanogpt(body(capture, "attestation")?),
        ProviderKind::PhalaCloud => parse::parse_phalacloud(body(capture, "attestation")?),
        ProviderKind::Chutes => {
            let instances = body(capture, "/e2e/instances/")?;
            let evidence = capture.exchanges.iter().find(|e| e.meta.url.contains("/evidence?nonce="))?;
            let chute = evidence.meta.url.split("/chutes/").nth(1)?.split('/').next()?;
            parse::parse_chutes(instances, &evidence.body, &capture.manifest.nonce_hex(), chute)
        }
    };
    parsed.ok()
}

/// The first recorded set of PCS answers.
fn collateral(capture: &Capture) -> Option<Collateral> {
    let answer = |needle: &str| -> Option<FetchResult> {
        Some(Ok(capture.exchanges.iter().find(|e| e.meta.url.contains(needle))?.fetch_response()))
    };
    Collateral::from_results(&answer("/tcb?fmspc=")?, &answer("/qe/identity")?, &answer("/pckcrl")?, &answer("IntelSGXRootCA")?)
        .ok()
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

fn main() {
    let captures = teep_tests::captures::replayable_captures();
    if captures.is_empty() {
        return;
    }
    let intel = TrustAnchor::intel();
    let gpu_root = NvidiaAnchor::nvidia();
    println!(
        "{:<52} {:>10} {:>10} {:>12} {:>9} {:>10} {:>11}",
        "capture", "whole ms", "TDX ms", "(offline ms)", "GPUs", "GPU ms", "sigs ms"
    );
    for dir in captures {
        let capture = runtime_blocking::capture_fs::load_capture(&dir).expect("capture");
        let now = capture.manifest.verification_time().as_secs();
        let whole = time(10, || {
            let _ = replay_capture(&capture).expect("replay").report.expect("report");
        });
        let raw = raw_attestation(&capture);
        let quote = raw.as_ref().and_then(|r| Quote::from_hex(&r.intel_quote).ok());
        let (tdx, offline) = match (&quote, collateral(&capture)) {
            (Some(q), Some(c)) => (
                Some(time(20, || {
                    let _ = offline_verify(q, &intel, now);
                    let _ = online_verify(q, &c, &intel, now);
                })),
                Some(time(50, || {
                    let _ = offline_verify(q, &intel, now);
                })),
            ),
            _ => (None, None),
        };
        let gpus = raw.as_ref().map(|r| match Eat::parse(&r.nvidia_payload) {
            Ok(eat) => eat.evidence_list,
            Err(_) => r.gpu_evidence.clone(),
        });
        let gpu = gpus.as_ref().filter(|g| !g.is_empty()).map(|g| {
            time(5, || {
                let _ = nvidia::verify_gpus(g, &gpu_root, now);
            })
        });
        let sigs = match (tdx, gpu) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or_default() + b.unwrap_or_default()),
        };
        println!(
            "{:<52} {:>10} {:>10} {:>12} {:>9} {:>10} {:>11}",
            dir.file_name().unwrap().to_string_lossy(),
            ms(Some(whole)),
            ms(tdx),
            ms(offline),
            gpus.map_or("-".into(), |g| g.len().to_string()),
            ms(gpu),
            ms(sigs),
        );
    }
}
