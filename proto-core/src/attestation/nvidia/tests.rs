//! Unit tests: the pinned root, the chain checks (each failure), the SPDM walk (each failure),
//! the EAT parser and the per-GPU composition, on synthetic evidence under a test anchor.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::chain::{CertProblem, ChainError, SignatureCache, split_bundle, verify_chain};
use super::eat::{Eat, EatError, MAX_EAT_BYTES};
use super::root::{NVIDIA_DEVICE_ROOT_DER, NVIDIA_DEVICE_ROOT_SHA256, NvidiaAnchor};
use super::spdm::{MAX_TRANSCRIPT_LEN, REQUEST_LEN, SIGNATURE_LEN, SpdmError, SpdmTranscript};
use super::testutil::{
    ChainSpec, NOT_AFTER, NOT_BEFORE, NOW, OPAQUE_LEN, RECORD_LEN, eat_json, make_chain, sample_chain,
};
use super::{GpuError, MAX_GPUS, check_all, nonces_all_equal, verify_gpu, verify_gpus};
use crate::attestation::raw::GpuEvidence;

const NONCE: [u8; 32] = [0x42; 32];
const OTHER: [u8; 32] = [0x24; 32];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn chain_err(chain: &[Vec<u8>], anchor: &NvidiaAnchor, now: u64) -> ChainError {
    verify_chain(chain, anchor, now, &mut SignatureCache::default()).expect_err("chain must not verify")
}

fn problem(e: ChainError) -> (usize, CertProblem) {
    match e {
        ChainError::Certificate { index, problem } => (index, problem),
        other => panic!("not a certificate problem: {other}"),
    }
}

// ----- root -----

#[test]
fn pinned_root_hash_is_nvidias() {
    let hash = Sha256::digest(NVIDIA_DEVICE_ROOT_DER);
    assert_eq!(hex::encode(hash), "102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48");
    assert_eq!(hash[..], NVIDIA_DEVICE_ROOT_SHA256[..]);
    let anchor = NvidiaAnchor::nvidia();
    assert!(anchor.is_nvidia());
    assert_eq!(anchor.sha256(), NVIDIA_DEVICE_ROOT_SHA256);
    assert!(!sample_chain().anchor.is_nvidia());
}

#[test]
fn pinned_root_is_a_self_signed_p384_ca() {
    // A chain of the root alone, twice: its self-signature, CA bits and validity all check.
    let root = NVIDIA_DEVICE_ROOT_DER.to_vec();
    let now = 1_780_000_000; // 2026
    verify_chain(&[root.clone(), root.clone()], &NvidiaAnchor::nvidia(), now, &mut SignatureCache::default())
        .expect("root verifies itself");
    // Before its NotBefore (2021-11-05) it is not valid.
    let early = chain_err(&[root.clone(), root], &NvidiaAnchor::nvidia(), 1_600_000_000);
    assert!(matches!(problem(early).1, CertProblem::NotYetValid { .. }));
}

// ----- chain -----

#[test]
fn a_good_chain_verifies_and_yields_the_leaf_key() {
    let c = sample_chain();
    let key = verify_chain(&c.der, &c.anchor, NOW, &mut SignatureCache::default()).expect("verifies");
    let message = b"leaf key check";
    let signature = p384::ecdsa::Signature::from_slice(&c.sign(message)).unwrap();
    use p384::ecdsa::signature::Verifier as _;
    key.verify(message, &signature).expect("the returned key is the leaf's");
    assert_eq!(split_bundle(&c.pem).unwrap(), c.der);
}

#[test]
fn the_cache_skips_repeated_signatures_only() {
    let c = sample_chain();
    let mut cache = SignatureCache::default();
    verify_chain(&c.der, &c.anchor, NOW, &mut cache).unwrap();
    assert_eq!(cache.len(), 3);
    verify_chain(&c.der, &c.anchor, NOW, &mut cache).unwrap();
    assert_eq!(cache.len(), 3);
    // Validity is still checked for a cached chain.
    let late = verify_chain(&c.der, &c.anchor, NOT_AFTER + 1, &mut cache).expect_err("expired");
    assert!(matches!(problem(late).1, CertProblem::Expired { .. }));
}

#[test]
fn chain_too_short_or_with_another_root_fails() {
    let c = sample_chain();
    assert_eq!(chain_err(&c.der[..1], &c.anchor, NOW), ChainError::TooShort(1));
    assert!(matches!(chain_err(&c.der, &NvidiaAnchor::nvidia(), NOW), ChainError::UntrustedRoot { .. }));
    // Another test root with the same names: pinned by hash, so rejected.
    let other = make_chain(&ChainSpec::default());
    assert!(matches!(chain_err(&c.der, &other.anchor, NOW), ChainError::UntrustedRoot { .. }));
    // A foreign chain ending in our root's bytes still needs the signatures to verify.
    let mut mixed = other.der.clone();
    mixed[3] = c.der[3].clone();
    assert_eq!(problem(chain_err(&mixed, &c.anchor, NOW)), (2, CertProblem::BadSignature));
}

#[test]
fn a_flipped_signature_or_tbs_byte_fails() {
    let c = sample_chain();
    for index in 0..3 {
        let mut der = c.der.clone();
        let last = der[index].len() - 1;
        der[index][last] ^= 0x01; // inside the signature's s value
        let e = chain_err(&der, &c.anchor, NOW);
        assert!(matches!(e, ChainError::Certificate { index: i, .. } if i == index), "{e}");
        let mut der = c.der.clone();
        let n = der[index].len();
        der[index][n / 2] ^= 0x01;
        let e = chain_err(&der, &c.anchor, NOW);
        assert!(matches!(e, ChainError::Certificate { .. }), "{e}");
    }
}

#[test]
fn out_of_order_chains_fail() {
    let c = sample_chain();
    let swapped = vec![c.der[0].clone(), c.der[2].clone(), c.der[1].clone(), c.der[3].clone()];
    assert_eq!(problem(chain_err(&swapped, &c.anchor, NOW)), (0, CertProblem::IssuerMismatch));
}

#[test]
fn validity_is_checked_at_the_given_time() {
    let c = sample_chain();
    let mut cache = SignatureCache::default();
    assert!(verify_chain(&c.der, &c.anchor, NOT_BEFORE, &mut cache).is_ok());
    assert!(verify_chain(&c.der, &c.anchor, NOT_AFTER, &mut cache).is_ok());
    assert!(matches!(problem(chain_err(&c.der, &c.anchor, NOT_BEFORE - 1)).1, CertProblem::NotYetValid { .. }));
    assert!(matches!(problem(chain_err(&c.der, &c.anchor, NOT_AFTER + 1)).1, CertProblem::Expired { .. }));
}

#[test]
fn issuers_must_be_cas_with_cert_sign_and_path_room() {
    let not_ca = make_chain(&ChainSpec { cas_are_ca: false, ..ChainSpec::default() });
    assert_eq!(problem(chain_err(&not_ca.der, &not_ca.anchor, NOW)), (1, CertProblem::NotCa));
    let usage = make_chain(&ChainSpec {
        ca_key_usages: vec![rcgen::KeyUsagePurpose::DigitalSignature],
        ..ChainSpec::default()
    });
    assert_eq!(problem(chain_err(&usage.der, &usage.anchor, NOW)), (1, CertProblem::KeyUsage));
    let path = make_chain(&ChainSpec { upper_path_len: Some(0), ..ChainSpec::default() });
    assert_eq!(problem(chain_err(&path.der, &path.anchor, NOW)), (2, CertProblem::PathLength));
    let room = make_chain(&ChainSpec { upper_path_len: Some(1), ..ChainSpec::default() });
    assert!(verify_chain(&room.der, &room.anchor, NOW, &mut SignatureCache::default()).is_ok());
}

#[test]
fn leaf_extensions_follow_gos_rules() {
    let critical = make_chain(&ChainSpec { leaf_critical_unknown: true, ..ChainSpec::default() });
    let (index, p) = problem(chain_err(&critical.der, &critical.anchor, NOW));
    assert_eq!((index, p), (0, CertProblem::UnhandledCriticalExtension("2.23.133.5.4.1".to_owned())));
    let client_only =
        make_chain(&ChainSpec { leaf_eku: vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth], ..ChainSpec::default() });
    assert_eq!(problem(chain_err(&client_only.der, &client_only.anchor, NOW)), (0, CertProblem::ExtendedKeyUsage));
    let server =
        make_chain(&ChainSpec { leaf_eku: vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth], ..ChainSpec::default() });
    assert!(verify_chain(&server.der, &server.anchor, NOW, &mut SignatureCache::default()).is_ok());
}

#[test]
fn only_p384_sha384_chains_are_accepted() {
    let p256 = make_chain(&ChainSpec { alg: &rcgen::PKCS_ECDSA_P256_SHA256, ..ChainSpec::default() });
    assert!(matches!(problem(chain_err(&p256.der, &p256.anchor, NOW)), (0, CertProblem::SignatureAlgorithm(_))));
    let garbage = vec![vec![0x30, 0x03, 0x02, 0x01, 0x00], sample_chain().der[3].clone()];
    assert!(matches!(problem(chain_err(&garbage, &sample_chain().anchor, NOW)).1, CertProblem::Malformed(_)));
}

#[test]
fn pem_bundles_tolerate_nul_padding_only() {
    let c = sample_chain();
    let mut padded = c.pem.clone();
    padded.extend_from_slice(b"\0\0\0\0\0");
    assert_eq!(split_bundle(&padded).unwrap(), c.der);
    let mut garbage = c.pem.clone();
    garbage.extend_from_slice(b"junk");
    assert!(matches!(split_bundle(&garbage), Err(ChainError::Pem(_))));
    assert!(matches!(split_bundle(b""), Err(ChainError::Pem(m)) if m.contains("no certificates")));
    let key_block = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert!(matches!(split_bundle(key_block), Err(ChainError::Pem(_))));
}

// ----- SPDM -----

#[test]
fn a_good_transcript_parses_and_verifies() {
    let c = sample_chain();
    let t = c.transcript(&NONCE);
    let parsed = SpdmTranscript::parse(&t).expect("parses");
    assert_eq!(parsed.requester_nonce, NONCE);
    assert_eq!((parsed.measurement_record_len, parsed.opaque_len, parsed.trailing), (RECORD_LEN, OPAQUE_LEN, 0));
    assert_eq!(parsed.signed.len() + SIGNATURE_LEN, t.len());
    assert!(parsed.nonce_matches(&NONCE) && !parsed.nonce_matches(&OTHER));
    let key = verify_chain(&c.der, &c.anchor, NOW, &mut SignatureCache::default()).unwrap();
    parsed.verify_signature(&key).expect("signature verifies");
    // Bytes after the signature are ignored.
    let mut longer = t.clone();
    longer.extend_from_slice(&[1, 2, 3]);
    let parsed = SpdmTranscript::parse(&longer).unwrap();
    assert_eq!(parsed.trailing, 3);
    parsed.verify_signature(&key).expect("trailing bytes are not signed");
}

#[test]
fn every_signed_byte_and_the_signature_matter() {
    let c = sample_chain();
    let key = verify_chain(&c.der, &c.anchor, NOW, &mut SignatureCache::default()).unwrap();
    let t = c.transcript(&NONCE);
    for offset in [4, 20, REQUEST_LEN + 10, t.len() - SIGNATURE_LEN - 1, t.len() - SIGNATURE_LEN, t.len() - 1] {
        let mut bad = t.clone();
        bad[offset] ^= 0x01;
        let parsed = SpdmTranscript::parse(&bad).expect("still well formed");
        assert_eq!(parsed.verify_signature(&key), Err(SpdmError::BadSignature), "offset {offset}");
    }
    let mut zero = t.clone();
    let n = zero.len();
    zero[n - SIGNATURE_LEN..].fill(0);
    assert_eq!(SpdmTranscript::parse(&zero).unwrap().verify_signature(&key), Err(SpdmError::MalformedSignature));
    // Another key does not verify it.
    let other = make_chain(&ChainSpec::default());
    let other_key = verify_chain(&other.der, &other.anchor, NOW, &mut SignatureCache::default()).unwrap();
    assert_eq!(SpdmTranscript::parse(&t).unwrap().verify_signature(&other_key), Err(SpdmError::BadSignature));
}

#[test]
fn malformed_transcripts_are_rejected() {
    let t = sample_chain().transcript(&NONCE);
    assert_eq!(SpdmTranscript::parse(&t[..46]), Err(SpdmError::TooShort(46)));
    let huge = vec![0x11; MAX_TRANSCRIPT_LEN + 1];
    assert!(matches!(SpdmTranscript::parse(&huge), Err(SpdmError::TooLong { .. })));
    let with = |i: usize, v: u8| {
        let mut b = t.clone();
        b[i] = v;
        b
    };
    assert_eq!(SpdmTranscript::parse(&with(0, 0x12)), Err(SpdmError::RequestVersion(0x12)));
    assert_eq!(SpdmTranscript::parse(&with(1, 0xE1)), Err(SpdmError::RequestCode(0xE1)));
    assert_eq!(SpdmTranscript::parse(&with(REQUEST_LEN, 0x10)), Err(SpdmError::ResponseVersion(0x10)));
    assert_eq!(SpdmTranscript::parse(&with(REQUEST_LEN + 1, 0x61)), Err(SpdmError::ResponseCode(0x61)));
    let field = |b: &[u8]| match SpdmTranscript::parse(b) {
        Err(SpdmError::Truncated { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    // Record length pointing past the end.
    assert_eq!(field(&with(REQUEST_LEN + 7, 0xFF)), "measurement record");
    // Opaque length pointing past the end.
    let opaque_at = REQUEST_LEN + 8 + RECORD_LEN + 32;
    assert_eq!(field(&with(opaque_at + 1, 0xFF)), "opaque data");
    // Cut inside each later field.
    assert_eq!(field(&t[..REQUEST_LEN + 8 + RECORD_LEN + 10]), "responder nonce");
    assert_eq!(field(&t[..opaque_at + 1]), "opaque length");
    assert_eq!(field(&t[..t.len() - 1]), "signature");
}

// ----- EAT -----

#[test]
fn eat_parses_and_is_bounded() {
    let json = eat_json("ab", &NONCE, 2);
    let eat = Eat::parse(&json).unwrap();
    assert_eq!((eat.arch.as_str(), eat.nonce.as_str(), eat.evidence_list.len()), ("HOPPER", "ab", 2));
    assert_eq!(Eat::parse(" {}"), Err(EatError::NotJson(" {}".to_owned())));
    assert_eq!(Eat::parse("eyJhbGciOi.x.y"), Err(EatError::NotJson("eyJhbGciOi".to_owned())));
    assert!(matches!(Eat::parse("{"), Err(EatError::Json(_))));
    assert!(matches!(Eat::parse(r#"{"nonce":1,"evidence_list":[{}]}"#), Err(EatError::Json(_))));
    assert!(matches!(Eat::parse(r#"{"evidence_list":{}}"#), Err(EatError::Json(_))));
    assert_eq!(Eat::parse(r#"{"nonce":"n"}"#), Err(EatError::Empty));
    assert_eq!(Eat::parse(r#"{"evidence_list":[]}"#), Err(EatError::Empty));
    let unknown = Eat::parse(r#"{"extra":[1,{"x":2}],"evidence_list":[{"certificate":"c","other":1}]}"#).unwrap();
    assert_eq!(unknown.evidence_list[0].certificate, "c");
    let many = format!(r#"{{"evidence_list":[{}]}}"#, vec!["{}"; MAX_GPUS + 1].join(","));
    assert_eq!(Eat::parse(&many), Err(EatError::TooManyGpus { count: MAX_GPUS + 1, max: MAX_GPUS }));
    let big = format!("{{\"pad\":\"{}\"}}", "a".repeat(MAX_EAT_BYTES));
    assert!(matches!(Eat::parse(&big), Err(EatError::TooLarge { .. })));
}

// ----- per GPU -----

#[test]
fn gpu_results_report_nonce_and_verification_separately() {
    let c = sample_chain();
    let good = c.evidence(&NONCE);
    let results = verify_gpus(&[good.clone(), c.evidence(&OTHER)], &c.anchor, NOW);
    assert_eq!(results[0].requester_nonce, Some(NONCE));
    assert_eq!(results[1].requester_nonce, Some(OTHER));
    assert!(results.iter().all(|r| r.verified.is_ok()));
    assert_eq!(check_all(&results[..1], &NONCE), None);
    let (gpu, why) = check_all(&results, &NONCE).expect("GPU 1 has another nonce");
    assert_eq!(gpu, 1);
    assert!(why.contains("requester nonce mismatch"), "{why}");
    assert_eq!(nonces_all_equal(&results, &NONCE).map(|f| f.0), Some(1));
    assert!(check_all(&[], &NONCE).is_some() && nonces_all_equal(&[], &NONCE).is_some());

    // Wrong anchor: the nonce is still read, verification fails.
    let foreign = verify_gpu(&good, &NvidiaAnchor::nvidia(), NOW, &mut SignatureCache::default());
    assert_eq!(foreign.requester_nonce, Some(NONCE));
    assert!(matches!(foreign.verified, Err(GpuError::Chain(ChainError::UntrustedRoot { .. }))));
    assert_eq!(check_all(std::slice::from_ref(&foreign), &NONCE).map(|f| f.0), Some(0));
    assert_eq!(nonces_all_equal(&[foreign], &NONCE), None);
}

#[test]
fn gpu_field_encoding_and_size_failures() {
    let c = sample_chain();
    let good = c.evidence(&NONCE);
    let run = |g: GpuEvidence| verify_gpu(&g, &c.anchor, NOW, &mut SignatureCache::default());
    let r = run(GpuEvidence { certificate: "!!".into(), ..good.clone() });
    assert!(matches!(r.verified, Err(GpuError::CertificateBase64(_))));
    assert_eq!(r.requester_nonce, Some(NONCE));
    let r = run(GpuEvidence { certificate: "A".repeat(super::MAX_CERTIFICATE_B64 + 1), ..good.clone() });
    assert!(matches!(r.verified, Err(GpuError::CertificateTooLarge(_))));
    let r = run(GpuEvidence { evidence: "!!".into(), ..good.clone() });
    assert!(matches!(r.verified, Err(GpuError::EvidenceBase64(_))));
    assert_eq!(r.requester_nonce, None);
    let r = run(GpuEvidence { evidence: "A".repeat(super::MAX_EVIDENCE_B64 + 4), ..good.clone() });
    assert!(matches!(r.verified, Err(GpuError::EvidenceTooLarge { .. })));
    let r = run(GpuEvidence { evidence: b64(&[0x11; 20]), ..good.clone() });
    assert_eq!(r.verified, Err(GpuError::Spdm(SpdmError::TooShort(20))));
    let r = run(GpuEvidence { certificate: b64(&c.pem[..c.pem.len() / 2]), ..good.clone() });
    assert!(matches!(r.verified, Err(GpuError::Chain(ChainError::Pem(_)))));
    // The evidence of one GPU under another GPU's chain: signature fails.
    let other = make_chain(&ChainSpec::default());
    let r = run(GpuEvidence { evidence: b64(&other.transcript(&NONCE)), ..good });
    assert_eq!(r.verified, Err(GpuError::Spdm(SpdmError::BadSignature)));
}
