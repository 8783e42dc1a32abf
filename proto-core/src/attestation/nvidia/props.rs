//! Property tests: the EAT and SPDM parsers never panic on arbitrary input, and no mutation of
//! a genuine (synthetic) transcript, certificate bundle or EAT makes evidence verify.

use base64::Engine as _;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;

use super::chain::SignatureCache;
use super::eat::Eat;
use super::spdm::{SIGNATURE_LEN, SpdmTranscript};
use super::testutil::{NOW, eat_json, sample_chain};
use super::{MAX_GPUS, check_all, verify_chain, verify_gpu, verify_gpus};
use crate::attestation::raw::GpuEvidence;

/// Where this module's failing seeds are kept (cargo runs unit tests from `proto-core/`).
const REGRESSIONS: &str = "../proptest-regressions/nvidia.txt";

const NONCE: [u8; 32] = [0x42; 32];

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// One edit of a byte string.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Truncate(Index),
    Insert(Index, u8),
    Remove(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Remove),
    ]
}

/// Applies `m` to `bytes`; returns false when nothing changed.
fn apply(bytes: &mut Vec<u8>, m: &Mutation) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let len = bytes.len();
    match m {
        Mutation::Flip(i, x) => bytes[i.index(len)] ^= x,
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Mutation::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
        Mutation::Remove(i) => {
            bytes.remove(i.index(bytes.len()));
        }
    }
    true
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn spdm_parse_never_panics(bytes in vec(any::<u8>(), 0..600)) {
        if let Ok(t) = SpdmTranscript::parse(&bytes) {
            prop_assert_eq!(t.signed.len() + SIGNATURE_LEN + t.trailing, bytes.len());
            prop_assert_eq!(&t.requester_nonce[..], &bytes[4..36]);
        }
    }

    #[test]
    fn spdm_parse_never_panics_behind_a_valid_header(tail in vec(any::<u8>(), 0..400), len in any::<[u8; 3]>()) {
        let mut bytes = vec![0x11, 0xE0, 0x01, 0xFF];
        bytes.extend_from_slice(&NONCE);
        bytes.extend_from_slice(&[0x00, 0x11, 0x60, 0x00, 0x00, 0x01]);
        bytes.extend_from_slice(&len);
        bytes.extend_from_slice(&tail);
        if let Ok(t) = SpdmTranscript::parse(&bytes) {
            prop_assert_eq!(t.signed.len() + SIGNATURE_LEN + t.trailing, bytes.len());
        }
    }

    #[test]
    fn eat_parse_never_panics(text in ".{0,200}", prefix in "\\{[a-z\":\\[\\]{},0-9 ]{0,120}") {
        for input in [text.as_str(), prefix.as_str()] {
            if let Ok(eat) = Eat::parse(input) {
                prop_assert!(!eat.evidence_list.is_empty() && eat.evidence_list.len() <= MAX_GPUS);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// A mutated transcript never verifies, except when only ignored trailing bytes changed.
    #[test]
    fn mutated_transcripts_never_verify(m in mutation()) {
        let c = sample_chain();
        let key = verify_chain(&c.der, &c.anchor, NOW, &mut SignatureCache::default()).unwrap();
        let original = c.transcript(&NONCE);
        let mut bytes = original.clone();
        prop_assume!(apply(&mut bytes, &m));
        if let Ok(t) = SpdmTranscript::parse(&bytes) {
            let covered = t.signed.len() + SIGNATURE_LEN;
            let same = bytes.get(..covered) == original.get(..covered) && covered == original.len();
            if t.verify_signature(&key).is_ok() {
                prop_assert!(same, "a changed transcript verified: {:?}", m);
            }
        }
    }

    /// A mutated certificate bundle (PEM text) never yields a verified GPU with other bytes.
    #[test]
    fn mutated_bundles_never_verify(m in mutation()) {
        let c = sample_chain();
        let mut pem = c.pem.clone();
        prop_assume!(apply(&mut pem, &m));
        let b64 = base64::engine::general_purpose::STANDARD;
        let item = GpuEvidence { certificate: b64.encode(&pem), ..c.evidence(&NONCE) };
        let result = verify_gpu(&item, &c.anchor, NOW, &mut SignatureCache::default());
        if result.verified.is_ok() {
            // Only PEM whitespace/line changes can keep the same DER.
            let same_der = super::split_bundle(&pem).map(|d| d == c.der).unwrap_or(false);
            prop_assert!(same_der, "a changed bundle verified: {:?}", m);
        }
    }

    /// A mutated EAT document never passes the per-GPU checks with changed evidence bytes.
    #[test]
    fn mutated_eats_never_pass(m in mutation()) {
        let original = eat_json(&hex::encode(NONCE), &NONCE, 2);
        let mut bytes = original.clone().into_bytes();
        prop_assume!(apply(&mut bytes, &m));
        let Ok(text) = String::from_utf8(bytes) else { return Ok(()) };
        let Ok(eat) = Eat::parse(&text) else { return Ok(()) };
        let anchor = &sample_chain().anchor;
        let results = verify_gpus(&eat.evidence_list, anchor, NOW);
        if check_all(&results, &NONCE).is_none() {
            let reference = Eat::parse(&original).unwrap();
            let same = eat.evidence_list.iter().all(|g| reference.evidence_list.iter().any(|r| {
                decoded(&r.certificate) == decoded(&g.certificate) && decoded(&r.evidence) == decoded(&g.evidence)
            }));
            prop_assert!(same, "changed evidence passed: {:?}", m);
        }
    }
}

fn decoded(b64: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}
