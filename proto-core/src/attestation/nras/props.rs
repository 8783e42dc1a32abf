//! Property tests of the NRAS verifier: arbitrary answers and tokens never panic and never
//! pass; a valid token with any one byte changed, or judged at any time outside its validity,
//! never verifies.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use super::tests::{KID, NONCE, NOW, claims, header, jwks_doc, ok, signing_key, token};
use super::*;

/// Where this module's failing seeds are kept (cargo runs unit tests from `proto-core/`).
const REGRESSIONS: &str = "../proptest-regressions/nras.txt";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

fn valid_token() -> String {
    token(&header(), &claims(), &signing_key(7))
}

fn keys() -> Jwks {
    Jwks::parse(jwks_doc(KID, &signing_key(7)).as_bytes()).unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_answers_never_pass(body in proptest::collection::vec(any::<u8>(), 0..2048), jwks in ".{0,256}") {
        let r = verify(&ok(body), &ok(jwks), Some(NONCE), NOW);
        prop_assert!(verdict(&r).status != crate::report::Status::Pass);
    }

    #[test]
    fn arbitrary_tokens_never_verify(t in "[A-Za-z0-9_.-]{0,400}") {
        prop_assert!(verify_token(&t, &keys(), NOW).is_err());
        let body = serde_json::json!([["JWT", t]]).to_string();
        prop_assert!(verify(&ok(body), &ok(jwks_doc(KID, &signing_key(7))), Some(NONCE), NOW).is_err());
    }

    #[test]
    fn one_changed_byte_never_verifies(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut t = valid_token().into_bytes();
        let i = pos.index(t.len());
        prop_assume!(t[i] != byte);
        t[i] = byte;
        let t = String::from_utf8_lossy(&t).into_owned();
        prop_assert!(verify_token(&t, &keys(), NOW).is_err(), "byte {} changed", i);
    }

    #[test]
    fn truncated_tokens_never_verify(cut in any::<prop::sample::Index>()) {
        let t = valid_token();
        let n = cut.index(t.len());
        prop_assert!(verify_token(&t[..n], &keys(), NOW).is_err());
    }

    #[test]
    fn outside_the_validity_window_never_verifies(offset in 0u64..10_000_000) {
        let nbf = NOW - 30;
        prop_assert!(verify_token(&valid_token(), &keys(), nbf + 3600 + offset).is_err());
        prop_assert!(verify_token(&valid_token(), &keys(), (nbf - 1).saturating_sub(offset)).is_err());
    }
}
