//! NVIDIA GPU evidence on the real captures: every capture's `nvidia_*` verdicts agree with its
//! `report.txt` except the documented deviations; the recorded EAT documents and Chutes GPU
//! evidence verify against the pinned NVIDIA root; a flipped byte in a GPU certificate, an
//! SPDM signature or an SPDM requester nonce fails `nvidia_signature`; and no mutation of a
//! real transcript verifies (property test).

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proto_core::attestation::nvidia::{
    self, Eat, LeafKey, NvidiaAnchor, SignatureCache, SpdmTranscript, split_bundle, verify_chain, verify_gpus,
};
use proto_core::capture::Capture;
use proto_core::report::{DEVIATIONS, Factor, ReferenceReport, Report, Status};
use proto_core::verify::replay_capture;
use teep_tests::captures::{captures_dir, replayable_captures};

const NVIDIA_FACTORS: [Factor; 3] = [Factor::NvidiaSignature, Factor::NvidiaClaims, Factor::NvidiaNonceClientBound];

fn load(name: &str) -> Option<Capture> {
    let dir = replayable_captures().into_iter().find(|d| d.ends_with(name))?;
    Some(runtime_blocking::capture_fs::load_capture(&dir).expect("capture loads"))
}

fn report(capture: &Capture) -> Report {
    let outcome = replay_capture(capture).expect("known provider");
    assert!(outcome.unmatched.is_empty(), "unmatched requests: {:?}", outcome.unmatched);
    outcome.report.expect("a report")
}

fn reference(dir: &Path) -> ReferenceReport {
    ReferenceReport::parse(&std::fs::read_to_string(dir.join("report.txt")).unwrap()).unwrap()
}

#[test]
fn nvidia_verdicts_agree_with_every_report_except_documented_deviations() {
    let mut compared = 0;
    let mut deviations = 0;
    for dir in replayable_captures() {
        let capture = runtime_blocking::capture_fs::load_capture(&dir).unwrap();
        let ours = report(&capture);
        let theirs = reference(&dir);
        for factor in NVIDIA_FACTORS {
            let o = ours.factor(factor).unwrap_or_else(|| panic!("{}: {factor} missing", dir.display()));
            let t = theirs.factors.iter().find(|r| r.factor == Some(factor)).expect("reference has the factor");
            compared += 1;
            if (o.status, o.enforced) != (t.status, t.enforced) {
                let documented = DEVIATIONS.iter().any(|d| d.factor == factor && d.provider == ours.provider);
                assert!(documented, "{}: {factor}: ours {:?} / reference {:?}", dir.display(), o.detail, t.detail);
                deviations += 1;
            }
        }
        // Where the reference verified the GPUs, so do we, with the same GPU count.
        let signature = ours.factor(Factor::NvidiaSignature).unwrap();
        if signature.status == Status::Pass {
            assert!(signature.detail.contains("GPUs"), "{}", signature.detail);
        }
    }
    if compared > 0 {
        // Only the two Chutes captures differ (documented: evidence bound through REPORTDATA).
        assert_eq!(deviations, 2, "unexpected number of deviations");
    }
}

#[test]
fn chutes_gpu_evidence_passes_through_reportdata_and_phala_fails_closed() {
    for dir in replayable_captures() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let capture = runtime_blocking::capture_fs::load_capture(&dir).unwrap();
        let r = report(&capture);
        let status = |f| r.factor(f).unwrap().status;
        if name.starts_with("chutes_") {
            for f in NVIDIA_FACTORS {
                assert_eq!(status(f), Status::Pass, "{name}: {f}: {}", r.factor(f).unwrap().detail);
            }
            assert!(r.factor(Factor::NvidiaSignature).unwrap().detail.contains("8 GPUs"));
        }
        if name.starts_with("phalacloud_") {
            // The GPUs signed REPORTDATA[0:32], but REPORTDATA does not bind our nonce.
            assert_eq!(status(Factor::NvidiaSignature), Status::Fail);
            assert_eq!(status(Factor::NvidiaNonceClientBound), Status::Fail);
            assert!(r.factor(Factor::NvidiaSignature).unwrap().detail.contains("REPORTDATA binding failed"));
        }
    }
}

#[test]
fn the_standalone_eat_verifies_against_the_pinned_root() {
    let Some(dir) = captures_dir() else { return };
    let text = std::fs::read_to_string(dir.join("single/nvidia_eat_hopper.json")).unwrap();
    let eat = Eat::parse(&text).expect("EAT parses");
    assert_eq!(eat.evidence_list.len(), 8);
    let now = 1_780_000_000; // 2026-05-28
    let results = verify_gpus(&eat.evidence_list, &NvidiaAnchor::nvidia(), now);
    let nonce: [u8; 32] = hex_bytes(&eat.nonce).try_into().unwrap();
    assert_eq!(nvidia::check_all(&results, &nonce), None);
    // Another nonce is refused for every GPU, first GPU 0.
    assert_eq!(nvidia::check_all(&results, &[0; 32]).map(|f| f.0), Some(0));
    // Every chain has the recorded shape: 5 certificates, the last the pinned root.
    for g in &eat.evidence_list {
        let chain = split_bundle(&b64_decode(&g.certificate)).unwrap();
        assert_eq!(chain.len(), 5);
        assert_eq!(chain[4], nvidia::NVIDIA_DEVICE_ROOT_DER);
        let t = b64_decode(&g.evidence);
        let parsed = SpdmTranscript::parse(&t).unwrap();
        assert_eq!((parsed.measurement_record_len, parsed.opaque_len, parsed.signed.len()), (3520, 571, 4170));
    }
}

// ----- tamper tests on real captures -----

/// Base64 prefix of every certificate field (`-----BEGIN`) and of every SPDM transcript
/// (`11 e0 01 ff`).
const CERT_PREFIX: &str = "LS0tLS1CRUdJTi";
const SPDM_PREFIX: &str = "EeAB/";

/// The `n`-th distinct base64 token starting with `prefix` in the capture's bodies.
fn token(capture: &Capture, prefix: &str, n: usize) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in &capture.exchanges {
        let text = String::from_utf8_lossy(&e.body);
        let mut rest = text.as_ref();
        while let Some(at) = rest.find(prefix) {
            let tail = &rest[at..];
            let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c))).unwrap_or(tail.len());
            let t = tail[..end].to_owned();
            if !seen.contains(&t) {
                seen.push(t);
            }
            rest = &tail[end..];
        }
    }
    seen.into_iter().nth(n).expect("token present")
}

/// Replaces `from` with `to` in every response and request body (so the NRAS request built from
/// the tampered evidence still finds its recorded answer).
fn replaced(capture: &Capture, from: &str, to: &str) -> Capture {
    let mut c = capture.clone();
    let mut hits = 0;
    for e in &mut c.exchanges {
        let text = String::from_utf8_lossy(&e.body).into_owned();
        if text.contains(from) {
            hits += 1;
            e.body = text.replace(from, to).into_bytes();
        }
        if let Some(req) = &mut e.meta.req_body {
            let text = String::from_utf8_lossy(req).into_owned();
            if text.contains(from) {
                *req = text.replace(from, to).into_bytes();
            }
        }
    }
    assert!(hits > 0, "nothing replaced");
    c
}

/// Flips one byte of the leaf certificate's DER inside the base64 PEM bundle `token`.
fn flip_leaf_cert_byte(token: &str, offset: usize) -> String {
    let pem = String::from_utf8(b64_decode(token)).unwrap();
    let begin = "-----BEGIN CERTIFICATE-----\n";
    let start = pem.find(begin).unwrap() + begin.len();
    let end = start + pem[start..].find("-----END").unwrap();
    let body: String = pem[start..end].chars().filter(|c| !c.is_whitespace()).collect();
    let mut der = b64_decode(&body);
    der[offset] ^= 0x01;
    let encoded = b64_encode(&der);
    let lines: Vec<&str> = encoded.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let new_pem = format!("{}{}\n{}", &pem[..start], lines.join("\n"), &pem[end..]);
    let out = b64_encode(new_pem.as_bytes());
    assert_eq!(out.len(), token.len(), "same layout");
    out
}

/// Flips one byte of the SPDM transcript `token` at `offset` (negative: from the signature).
fn flip_transcript_byte(token: &str, offset: Offset) -> String {
    let mut bytes = b64_decode(token);
    let at = match offset {
        Offset::Absolute(o) => o,
        Offset::InSignature(o) => SpdmTranscript::parse(&bytes).unwrap().signed.len() + o,
    };
    bytes[at] ^= 0x01;
    b64_encode(&bytes)
}

#[derive(Clone, Copy)]
enum Offset {
    Absolute(usize),
    InSignature(usize),
}

/// Tampers with GPU `gpu`'s evidence and checks that `nvidia_signature` turns to Fail naming
/// that GPU, that no factor turns to Pass, and that only NVIDIA factors change.
fn assert_tamper_fails(capture: &Capture, prefix: &str, gpu: usize, edit: impl Fn(&str) -> String, what: &str) {
    let before = report(capture);
    assert_eq!(before.factor(Factor::NvidiaSignature).unwrap().status, Status::Pass, "{what}: precondition");
    let original = token(capture, prefix, gpu);
    let after = report(&replaced(capture, &original, &edit(&original)));
    let signature = after.factor(Factor::NvidiaSignature).unwrap();
    assert_eq!(signature.status, Status::Fail, "{what}: {}", signature.detail);
    assert!(signature.detail.contains(&format!("GPU {gpu} ")), "{what}: {}", signature.detail);
    for b in &before.factors {
        let a = after.factor(b.factor).unwrap();
        assert!(!(b.status != Status::Pass && a.status == Status::Pass), "{what}: {} turned to pass", b.factor);
        if !matches!(
            b.factor,
            Factor::NvidiaSignature
                | Factor::NvidiaClaims
                | Factor::NvidiaNonceClientBound
                | Factor::NvidiaNrasVerified
        ) {
            assert_eq!(a.status, b.status, "{what}: {} changed: {}", b.factor, a.detail);
        }
    }
}

const EAT_CAPTURE: &str = "neardirect_qwen_qwen3.5-122b-a10b_20260610_015359";
const CHUTES_CAPTURE: &str = "chutes_zai-org_glm-5-tee_20260610_015029";

#[test]
fn tampered_gpu_certificates_fail_the_signature() {
    for name in [EAT_CAPTURE, CHUTES_CAPTURE] {
        let Some(capture) = load(name) else { return };
        // Leaf subject/key area of GPU 3, and near the end of GPU 0's leaf (its signature).
        assert_tamper_fails(&capture, CERT_PREFIX, 3, |t| flip_leaf_cert_byte(t, 200), &format!("{name}: leaf TBS"));
        assert_tamper_fails(&capture, CERT_PREFIX, 0, |t| flip_leaf_cert_byte(t, 870), &format!("{name}: leaf sig"));
    }
}

#[test]
fn tampered_spdm_signatures_and_nonces_fail_the_signature() {
    for name in [EAT_CAPTURE, CHUTES_CAPTURE] {
        let Some(capture) = load(name) else { return };
        let sig = |t: &str| flip_transcript_byte(t, Offset::InSignature(10));
        assert_tamper_fails(&capture, SPDM_PREFIX, 5, sig, &format!("{name}: SPDM signature"));
        let nonce = |t: &str| flip_transcript_byte(t, Offset::Absolute(10));
        assert_tamper_fails(&capture, SPDM_PREFIX, 2, nonce, &format!("{name}: SPDM requester nonce"));
        let measurement = |t: &str| flip_transcript_byte(t, Offset::Absolute(37 + 8 + 100));
        assert_tamper_fails(&capture, SPDM_PREFIX, 7, measurement, &format!("{name}: SPDM measurement"));
    }
}

#[test]
fn a_tampered_requester_nonce_also_fails_the_nonce_binding() {
    let Some(capture) = load(EAT_CAPTURE) else { return };
    let original = token(&capture, SPDM_PREFIX, 1);
    let after = report(&replaced(&capture, &original, &flip_transcript_byte(&original, Offset::Absolute(4))));
    assert_eq!(after.factor(Factor::NvidiaNonceClientBound).unwrap().status, Status::Fail);
    assert!(after.is_blocked());
}

// ----- property test on real transcripts -----

/// The first GPU of the standalone EAT: its leaf key and transcript.
fn real_gpu() -> Option<&'static (LeafKey, Vec<u8>)> {
    static GPU: std::sync::OnceLock<Option<(LeafKey, Vec<u8>)>> = std::sync::OnceLock::new();
    GPU.get_or_init(load_real_gpu).as_ref()
}

fn load_real_gpu() -> Option<(LeafKey, Vec<u8>)> {
    let dir = captures_dir()?;
    let text = std::fs::read_to_string(dir.join("single/nvidia_eat_hopper.json")).ok()?;
    let eat = Eat::parse(&text).ok()?;
    let g = &eat.evidence_list[0];
    let chain = split_bundle(&b64_decode(&g.certificate)).ok()?;
    let key = verify_chain(&chain, &NvidiaAnchor::nvidia(), 1_780_000_000, &mut SignatureCache::default()).ok()?;
    Some((key, b64_decode(&g.evidence)))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("../proptest-regressions/nvidia_captures.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_real_transcripts_never_verify(at in any::<prop::sample::Index>(), x in 1u8..=255, cut in any::<bool>()) {
        let Some((key, original)) = real_gpu() else { return Ok(()) };
        let mut bytes = original.clone();
        let i = at.index(bytes.len());
        if cut { bytes.truncate(i) } else { bytes[i] ^= x }
        if let Ok(t) = SpdmTranscript::parse(&bytes) {
            prop_assert!(t.verify_signature(key).is_err(), "changed transcript verified (byte {i}, cut {cut})");
        }
    }
}

// ----- small helpers (the tests crate has no base64 or hex dependency) -----

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn base64_helpers_round_trip() {
    for n in 0..8 {
        let bytes: Vec<u8> = (0..n).map(|i| i * 37).collect();
        assert_eq!(b64_decode(&b64_encode(&bytes)), bytes);
    }
    assert_eq!(b64_encode(b"-----BEGIN"), "LS0tLS1CRUdJTg==");
    assert_eq!(b64_encode(&[0x11, 0xE0, 0x01, 0xFF]), "EeAB/w==");
}
