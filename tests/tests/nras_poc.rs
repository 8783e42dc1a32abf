//! NVIDIA NRAS and Proof of Cloud on the real captures: our verdicts (status, enforcement and
//! detail) equal the reference `report.txt` on every capture, the recorded Proof of Cloud token
//! verifies under the pinned alliance key, and tampering with the NRAS answer, the JWKS or the
//! clock turns `nvidia_nras_verified` to fail.

use std::path::Path;

use proto_core::capture::Capture;
use proto_core::report::{Factor, ReferenceReport, Report, Status};
use proto_core::verify::replay_capture;
use teep_tests::captures::replayable_captures;

const FACTORS: [Factor; 3] = [
    Factor::NvidiaNrasVerified,
    Factor::CpuIdRegistry,
    Factor::GatewayCpuIdRegistry,
];

/// A capture whose NRAS verdict passes and is enforced.
const PASSING: &str = "neardirect_qwen_qwen3.5-122b-a10b_20260610_015359";
/// The capture that recorded a complete Proof of Cloud exchange with a final token.
const POC_FINAL: &str = "nanogpt_tee_gemma-3-27b-it_20260610_014905";

fn load(dir: &Path) -> Capture {
    runtime_blocking::capture_fs::load_capture(dir).expect("capture loads")
}

fn find(name: &str) -> Option<Capture> {
    replayable_captures()
        .into_iter()
        .find(|d| d.ends_with(name))
        .map(|d| load(&d))
}

fn report(capture: &Capture) -> Report {
    replay_capture(capture)
        .expect("known provider")
        .report
        .expect("a report")
}

#[test]
fn verdicts_and_details_agree_with_the_reference_on_every_capture() {
    let dirs = replayable_captures();
    let mut compared = 0;
    for dir in &dirs {
        let ours = report(&load(dir));
        let text = std::fs::read_to_string(dir.join("report.txt")).expect("report.txt");
        let reference = ReferenceReport::parse(&text).expect("reference parses");
        for factor in FACTORS {
            let theirs = reference.factors.iter().find(|r| r.factor == Some(factor));
            let mine = ours.factor(factor);
            match (mine, theirs) {
                (None, None) => {}
                (Some(m), Some(t)) => {
                    assert_eq!(
                        (m.status, m.enforced),
                        (t.status, t.enforced),
                        "{} {factor}",
                        dir.display()
                    );
                    assert_eq!(m.detail, t.detail, "{} {factor}", dir.display());
                    compared += 1;
                }
                (m, t) => panic!("{} {factor}: ours {m:?}, reference {t:?}", dir.display()),
            }
        }
    }
    if !dirs.is_empty() {
        // 9 captures × 2 model factors + 2 nearcloud gateway factors.
        assert_eq!(compared, 20);
    }
}

#[test]
fn the_recorded_final_poc_token_verifies_under_the_alliance_key() {
    use proto_core::attestation::poc::{PocKey, verify_final_jwt};
    let Some(capture) = find(POC_FINAL) else {
        return;
    };
    let last = capture
        .exchanges
        .iter()
        .rev()
        .find(|e| e.meta.url.contains("get_jwt"))
        .expect("a PoC exchange");
    let jwt = string_value(&String::from_utf8_lossy(&last.body), "jwt").expect("a final token");
    let quote_hex = string_value(
        &String::from_utf8_lossy(&capture.exchanges[0].body),
        "intel_quote",
    )
    .expect("a quote");
    let at = capture.manifest.verification_time().as_secs();
    // Signature and quote hash pass; the servers issue no timestamp claim, so validation stops there.
    let err = verify_final_jwt(&jwt, &quote_hex, "", &PocKey::alliance(), at).unwrap_err();
    assert_eq!(err, "JWT missing timestamp claim");
    // The same token under another key fails at the signature.
    let err = verify_final_jwt(&jwt, &quote_hex, "", &PocKey::from_bytes([9; 32]), at).unwrap_err();
    assert!(err.contains("alliance key"), "{err}");
}

/// The first string value of `key` in compact JSON text.
fn string_value(text: &str, key: &str) -> Option<String> {
    let pattern = format!("\"{key}\":\"");
    let start = text.find(&pattern)? + pattern.len();
    Some(text[start..start + text[start..].find('"')?].to_owned())
}

/// The capture with the body of its first exchange whose URL contains `url_part` edited.
fn edit_body(capture: &Capture, url_part: &str, edit: impl FnOnce(&mut String)) -> Capture {
    let mut c = capture.clone();
    let e = c
        .exchanges
        .iter_mut()
        .find(|e| e.meta.url.contains(url_part))
        .expect("exchange");
    let mut text = String::from_utf8(e.body.clone()).unwrap();
    edit(&mut text);
    e.body = text.into_bytes();
    c
}

fn nras(r: &Report) -> (Status, bool, String) {
    let f = r
        .factor(Factor::NvidiaNrasVerified)
        .expect("nvidia_nras_verified");
    (f.status, f.enforced, f.detail.clone())
}

#[test]
fn a_flipped_signature_byte_fails() {
    let Some(capture) = find(PASSING) else { return };
    assert_eq!(nras(&report(&capture)).0, Status::Pass);
    let tampered = edit_body(&capture, "attest/gpu", |t| {
        // The overall token is the first string after "JWT"; change one character of its
        // signature (the part after its last dot).
        let start = t.find("\"JWT\",\"").unwrap() + 7;
        let end = start + t[start..].find('"').unwrap();
        let sig_at = start + t[start..end].rfind('.').unwrap() + 5;
        let c = t.as_bytes()[sig_at];
        t.replace_range(sig_at..sig_at + 1, if c == b'A' { "B" } else { "A" });
    });
    let (status, enforced, detail) = nras(&report(&tampered));
    assert_eq!((status, enforced), (Status::Fail, true), "{detail}");
    assert!(detail.starts_with("NRAS JWT signature invalid"), "{detail}");
}

#[test]
fn a_clock_past_exp_fails() {
    let Some(capture) = find(PASSING) else { return };
    let mut late = capture.clone();
    // NRAS tokens live an hour; PCS collateral a month, so only NRAS notices.
    late.manifest.captured_at += time::Duration::hours(2);
    let (status, enforced, detail) = nras(&report(&late));
    assert_eq!((status, enforced), (Status::Fail, true));
    assert!(detail.contains("expired"), "{detail}");
    assert_eq!(
        report(&late)
            .factor(Factor::IntelPcsCollateral)
            .unwrap()
            .status,
        Status::Pass
    );
}

#[test]
fn a_jwks_without_the_tokens_key_fails() {
    let Some(capture) = find(PASSING) else { return };
    let tampered = edit_body(&capture, "jwks.json", |t| {
        // Every key keeps its coordinates but is published under another kid.
        assert!(t.contains("\"kid\":\"nv-eat-kid"));
        *t = t.replace("\"kid\":\"", "\"kid\":\"rotated-");
    });
    let (status, enforced, detail) = nras(&report(&tampered));
    assert_eq!((status, enforced), (Status::Fail, true));
    assert!(detail.contains("no JWKS key has kid"), "{detail}");
}

#[test]
fn a_per_gpu_token_swapped_for_another_fails() {
    let Some(capture) = find(PASSING) else { return };
    let tampered = edit_body(&capture, "attest/gpu", |t| {
        let g0 = string_value(t, "GPU-0").unwrap();
        let g1 = string_value(t, "GPU-1").unwrap();
        *t = t.replace(
            &format!("\"GPU-0\":\"{g0}\""),
            &format!("\"GPU-0\":\"{g1}\""),
        );
    });
    let (status, _, detail) = nras(&report(&tampered));
    assert_eq!(status, Status::Fail);
    assert!(
        detail.contains("GPU-0 token does not match its submods digest"),
        "{detail}"
    );
}
