//! Property tests of the Rekor entry reader and integrity checks: no input makes them panic,
//! and no mutated answer verifies unless it decodes to exactly the signed content (hex case is
//! the only slack: `ab` and `AB` are the same hash byte).

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use super::checkpoint::tests::test_log;
use super::entry::parse_entry;
use super::fulcio::signer_of;
use super::integrity::tests::signed_entry;
use super::integrity::verify_entry;
use super::tests::{answer_of, body_signed_by};
use super::trust;

/// Where this module's failing seeds are kept (cargo runs unit tests from `proto-core/`).
const REGRESSIONS: &str = "../proptest-regressions/sigstore.txt";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (_, log) = test_log();
        if let Ok(e) = parse_entry(&bytes) {
            let _ = verify_entry(&e, &e.uuid, &log);
        }
        let _ = signer_of(&bytes);
    }

    #[test]
    fn mutated_answers_never_verify_with_other_content(
        positions in proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
        values in proptest::collection::vec(any::<u8>(), 4),
    ) {
        let (signing, log) = test_log();
        let original = signed_entry(&signing, &log, &body_signed_by(trust::REKOR_PUBLIC_KEY_PEM));
        let mut answer = answer_of(&original);
        for (p, v) in positions.iter().zip(values) {
            let i = p.index(answer.len());
            answer[i] = v;
        }
        if let Ok(e) = parse_entry(&answer)
            && verify_entry(&e, &original.uuid, &log).is_ok()
        {
            prop_assert_eq!(&e.body, &original.body);
            prop_assert_eq!(&e.body_b64, &original.body_b64);
            prop_assert_eq!((e.integrated_time, e.log_index), (original.integrated_time, original.log_index));
            prop_assert_eq!(&e.log_id, &original.log_id);
            prop_assert_eq!(&e.proof.hashes, &original.proof.hashes);
            prop_assert_eq!(e.proof.root_hash, original.proof.root_hash);
            prop_assert_eq!((e.proof.log_index, e.proof.tree_size), (original.proof.log_index, original.proof.tree_size));
        }
    }
}
