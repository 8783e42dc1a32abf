//! Tampering with real captures, in memory: each change must turn exactly the expected
//! enforced factors from pass to fail (and never turn a failing factor into a pass).

use std::collections::BTreeSet;

use proto_core::capture::Capture;
use proto_core::fetch::FetchRequest;
use proto_core::replay::ReplaySource;
use proto_core::report::{Factor, Report, Status};
use proto_core::verify::{Verification, VerifyConfig, drive, replay_capture};
use teep_tests::captures::replayable_captures;

const CAPTURE: &str = "neardirect_qwen_qwen3.5-122b-a10b_20260610_015359";

fn load() -> Option<Capture> {
    let dir = replayable_captures().into_iter().find(|d| d.ends_with(CAPTURE))?;
    Some(runtime_blocking::capture_fs::load_capture(&dir).unwrap())
}

fn report(capture: &Capture) -> Report {
    let outcome = replay_capture(capture).unwrap();
    outcome.report.expect("a report")
}

/// Enforced factors that pass in `before` and fail in `after`; panics if any factor goes from
/// failing to passing.
fn newly_failed(before: &Report, after: &Report) -> BTreeSet<Factor> {
    let mut out = BTreeSet::new();
    for b in &before.factors {
        let a = after.factor(b.factor).expect("same factors");
        assert!(
            !(b.status != Status::Pass && a.status == Status::Pass),
            "{} turned to pass after tampering: {}",
            b.factor,
            a.detail
        );
        if b.status == Status::Pass && a.status == Status::Fail && a.enforced {
            out.insert(b.factor);
        }
    }
    out
}

/// The attestation body (first exchange) as text, and a way to put it back.
fn with_attestation(capture: &Capture, edit: impl FnOnce(&mut String)) -> Capture {
    let mut c = capture.clone();
    let mut text = String::from_utf8(c.exchanges[0].body.clone()).unwrap();
    edit(&mut text);
    c.exchanges[0].body = text.into_bytes();
    c
}

/// The first string value of `key` in the JSON text.
fn first_value<'a>(text: &'a str, key: &str) -> &'a str {
    let pattern = format!("\"{key}\":\"");
    let start = text.find(&pattern).unwrap_or_else(|| panic!("{key}")) + pattern.len();
    &text[start..start + text[start..].find('"').unwrap()]
}

/// Flips one hex digit at byte `offset` of the hex string `value`, everywhere it occurs (the
/// NEAR answer carries its entry twice: flat and in `all_attestations`).
fn flip_hex_everywhere(text: &mut String, value: &str, offset: usize) {
    let mut changed = value.to_owned();
    let digit = changed.as_bytes()[offset * 2];
    changed.replace_range(offset * 2..offset * 2 + 1, if digit == b'0' { "1" } else { "0" });
    *text = text.replace(value, &changed);
}

/// Flips one hex digit of the model quote at byte `offset`.
fn flip_quote_byte(text: &mut String, offset: usize) {
    let quote = first_value(text, "intel_quote").to_owned();
    flip_hex_everywhere(text, &quote, offset);
}

const TDX_PASS: [Factor; 5] =
    [Factor::TeeCertChain, Factor::TeeQuoteSignature, Factor::IntelPcsCollateral, Factor::TeeTcbCurrent, Factor::TeeTcbNotRevoked];

fn set(factors: &[Factor]) -> BTreeSet<Factor> {
    factors.iter().copied().collect()
}

#[test]
fn quote_body_signature_and_pck_chain_bytes() {
    let Some(capture) = load() else { return };
    let before = report(&capture);
    assert!(TDX_PASS.iter().all(|f| before.factor(*f).unwrap().status == Status::Pass));
    // MR_OWNER (no policy on it): only the signatures notice.
    let body = report(&with_attestation(&capture, |t| flip_quote_byte(t, 48 + 232)));
    assert_eq!(newly_failed(&before, &body), set(&TDX_PASS), "quote body");
    // First byte of the quote's ECDSA signature (right after header, body and the length field).
    let signature = report(&with_attestation(&capture, |t| flip_quote_byte(t, 48 + 584 + 4)));
    assert_eq!(newly_failed(&before, &signature), set(&TDX_PASS), "quote signature");
    // A byte well inside the PEM chain at the end of the quote.
    let chain = report(&with_attestation(&capture, |t| flip_quote_byte(t, 4000)));
    assert_eq!(newly_failed(&before, &chain), set(&TDX_PASS), "PCK chain");
    for r in [&body, &signature, &chain] {
        assert!(r.is_blocked());
    }
}

#[test]
fn report_data_byte() {
    let Some(capture) = load() else { return };
    let before = report(&capture);
    // REPORTDATA starts at TD-report offset 520; its second half is our nonce.
    let after = report(&with_attestation(&capture, |t| flip_quote_byte(t, 48 + 520 + 40)));
    let mut expected = set(&TDX_PASS);
    expected.insert(Factor::TeeReportdataBinding);
    assert_eq!(newly_failed(&before, &after), expected);
}

#[test]
fn event_log_digest_and_compose_file() {
    let Some(capture) = load() else { return };
    let before = report(&capture);
    let digest = report(&with_attestation(&capture, |t| {
        let value = first_value(t, "digest").to_owned();
        flip_hex_everywhere(t, &value, 5);
    }));
    assert!(newly_failed(&before, &digest).contains(&Factor::EventLogIntegrity));
    assert_eq!(newly_failed(&before, &digest), set(&[Factor::EventLogIntegrity]));

    let compose = report(&with_attestation(&capture, |t| *t = t.replace("manifest_version", "Manifest_version")));
    assert!(newly_failed(&before, &compose).contains(&Factor::ComposeBinding), "compose");
}

#[test]
fn a_replayed_answer_to_someone_elses_nonce_fails_the_nonce_and_binding_checks() {
    let Some(capture) = load() else { return };
    let before = report(&capture);
    let recorded_nonce = hex_lower(&capture.manifest.nonce);
    let ours = [0x5au8; 32];
    let our_hex = hex_lower(&ours);
    let mut source = ReplaySource::new(capture.clone());
    let host = source.first_host().unwrap().split_once("://").unwrap().1.to_owned();
    let mut config = VerifyConfig::defaults(proto_core::provider::ProviderKind::NearDirect);
    config.model_host = Some(host);
    let mut verification = Verification::new(
        proto_core::provider::ProviderKind::NearDirect,
        &capture.manifest.model,
        ours,
        config,
        capture.manifest.verification_time(),
    );
    // An attacker answers our fresh request with the recorded (stale) attestation.
    let after = drive(
        &mut verification,
        |req: &FetchRequest| {
            let mut stale = req.clone();
            stale.url = stale.url.replace(&our_hex, &recorded_nonce);
            source.answer_in_sequence(&stale)
        },
        |_| 0,
    )
    .unwrap();
    let failed = newly_failed(&before, &after);
    assert!(failed.contains(&Factor::NonceMatch) && failed.contains(&Factor::TeeReportdataBinding), "{failed:?}");
    assert!(after.is_blocked());
}

#[test]
fn clock_past_the_collateral_next_update() {
    let Some(capture) = load() else { return };
    let before = report(&capture);
    let mut late = capture.clone();
    late.manifest.captured_at += time::Duration::days(45);
    let after = report(&late);
    // The PCS collateral has expired, and so has the NRAS token (valid for an hour): both are
    // judged at the pinned clock, never at the machine's.
    assert_eq!(
        newly_failed(&before, &after),
        set(&[Factor::IntelPcsCollateral, Factor::TeeTcbCurrent, Factor::TeeTcbNotRevoked, Factor::NvidiaNrasVerified])
    );
    assert!(after.factor(Factor::IntelPcsCollateral).unwrap().detail.contains("expired"));
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
