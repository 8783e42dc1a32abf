//! Property tests of the provider parsers: no input — arbitrary bytes, arbitrary JSON, JSON
//! built from the members the parsers know, double-encoded strings — makes any parser panic,
//! and every error names its provider.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Number, Value};

use super::*;
use crate::attestation::raw::ParseError;

/// Where this module's failing seeds are kept (cargo runs unit tests from `proto-core/`).
const REGRESSIONS: &str = "../proptest-regressions/provider_parse.txt";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// Member names the parsers read, at any depth, so generated objects reach deep code paths.
const KEYS: &[&str] = &[
    // venice / dstack / NEAR
    "nonce",
    "nonce_source",
    "signing_public_key",
    "signing_address",
    "signing_algo",
    "signing_key",
    "intel_quote",
    "quote",
    "nvidia_payload",
    "event_log",
    "info",
    "tcb_info",
    "app_compose",
    "app_name",
    "compose_hash",
    "os_image_hash",
    "device_id",
    "app_cert",
    "vm_config",
    "request_nonce",
    "verified",
    "server_verification",
    "tdx",
    "measurements",
    "verificationDurationMs",
    "candidates_available",
    "candidates_evaluated",
    "tee_hardware",
    "upstream_model",
    "model_name",
    "tls_cert_fingerprint",
    "all_attestations",
    "model_attestations",
    "gateway_attestation",
    "imr",
    "event_type",
    "digest",
    "event",
    "event_payload",
    // gateways and chutes
    "format",
    "attestation_type",
    "e2e_pubkey",
    "gpu_evidence",
    "certificate",
    "evidence",
    "arch",
    "instances",
    "instance_id",
    "nonces",
    "nonce_expires_in",
    "nonce_expires_at",
    "failed_instance_ids",
    // noise
    "x",
    "Nonce",
];

const MODEL: &str = "m";

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just(String::new()),
            Just(MODEL.to_owned()),
            Just("04000200".to_owned()),
            Just("BAACAA==".to_owned()),
            Just("null".to_owned()),
            Just("[]".to_owned()),
            Just("{}".to_owned()),
            "[a-zA-Z0-9+/=_-]{0,24}",
            any::<String>(),
        ]
        .prop_map(Value::String),
    ]
}

/// Arbitrary JSON whose objects use the parsers' member names; some strings hold JSON text.
fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 96, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(prop::sample::select(KEYS), inner.clone(), 0..8)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())),
            inner.prop_map(|v| Value::String(v.to_string())),
        ]
    })
}

/// An object at the top level (what every parser expects), from the same generator.
fn object() -> impl Strategy<Value = Value> {
    btree_map(prop::sample::select(KEYS), value(), 0..12)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>()))
}

/// A usable Chutes discovery answer, so the evidence body gets read.
const INSTANCES: &[u8] = br#"{"instances":[{"instance_id":"i","e2e_pubkey":"K","nonces":["n"]}]}"#;

fn check(result: Result<RawAttestation, ParseError>, provider: &str) {
    if let Err(e) = result {
        assert_eq!(e.provider, provider);
        assert!(!e.reason.is_empty());
    }
}

fn run_all(body: &[u8]) {
    check(parse_venice(body), "venice");
    check(parse_nanogpt(body), "nanogpt");
    check(parse_phalacloud(body), "phalacloud");
    check(parse_near_model(body, MODEL), "neardirect");
    check(parse_nearcloud(body, MODEL), "nearcloud");
    check(parse_chutes(body, body, "00", "c"), "chutes");
    check(parse_chutes(INSTANCES, body, "00", "c"), "chutes");
    let _ = detect_format(body);
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes never panic a parser.
    #[test]
    fn arbitrary_bytes_never_panic(body in vec(any::<u8>(), 0..512)) {
        run_all(&body);
    }

    /// Arbitrary JSON values (any top-level type) never panic a parser.
    #[test]
    fn arbitrary_json_never_panics(v in value()) {
        run_all(&serde_json::to_vec(&v).expect("serialises"));
    }

    /// Objects built from the members the parsers know never panic a parser; an `Ok` record is
    /// internally consistent.
    #[test]
    fn known_member_objects_never_panic(v in object()) {
        let body = serde_json::to_vec(&v).expect("serialises");
        run_all(&body);
        for raw in [parse_venice(&body), parse_nanogpt(&body), parse_near_model(&body, MODEL)].into_iter().flatten() {
            prop_assert_eq!(raw.event_log_count.unwrap_or(0), raw.event_log.len());
            let mut sorted = raw.unknown_fields.clone();
            sorted.sort();
            prop_assert_eq!(&sorted, &raw.unknown_fields);
        }
    }

    /// Truncating a valid answer anywhere gives a clean error, never a panic or a record.
    #[test]
    fn truncated_answers_fail_cleanly(cut in 0usize..400) {
        let body = br#"{"nonce":"ab","event_log":[{"imr":0,"event_type":1,"digest":"00"}],"info":{"tcb_info":"{\"app_compose\":\"{}\"}"},"all_attestations":[{"model_name":"m"}],"intel_quote":"04"}"#;
        let cut = cut.min(body.len() - 1);
        prop_assert!(parse_venice(&body[..cut]).is_err());
        prop_assert!(parse_near_model(&body[..cut], MODEL).is_err());
        prop_assert!(parse_nanogpt(&body[..cut]).is_err());
    }
}
