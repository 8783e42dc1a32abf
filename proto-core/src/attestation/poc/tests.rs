//! Proof of Cloud outcomes from stored answers, with a test signing key (fixed seed).

use std::collections::BTreeMap;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::json;

use super::*;
use crate::fetch::{FetchError, FetchResponse};
use crate::report::Status;

const NOW: u64 = 1_781_056_200;
const QUOTE: &str = "0400ab";
const MACHINE: &str = "789e24484ea860fd2658896b8a535721";

fn sk() -> SigningKey {
    SigningKey::from_bytes(&[3u8; 32])
}

fn key() -> PocKey {
    PocKey::from_bytes(sk().verifying_key().to_bytes())
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn jwt_with(header: serde_json::Value, claims: serde_json::Value, signer: &SigningKey) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    format!("{input}.{}", b64(&signer.sign(input.as_bytes()).to_bytes()))
}

fn good_claims() -> serde_json::Value {
    let hash = hex::encode(Sha256::digest(hex::decode(QUOTE).unwrap()));
    json!({"quote_hash": hash, "machine_id": MACHINE, "label": "lab", "timestamp": NOW - 5})
}

fn good_header() -> serde_json::Value {
    json!({"alg": "EdDSA", "typ": "JWT", "kid": hex::encode(sk().verifying_key().to_bytes())})
}

fn jwt(claims: serde_json::Value) -> String {
    jwt_with(good_header(), claims, &sk())
}

fn resp(status: u16, body: impl Into<Vec<u8>>) -> FetchResult {
    Ok(FetchResponse {
        status,
        headers: Vec::new(),
        body: body.into(),
        peer_spki: None,
    })
}

/// Stage-1 answers from all peers, two partial stage-2 answers, then `last`.
fn answers(last: FetchResult) -> BTreeMap<(u8, usize), FetchResult> {
    let monikers = ["secret", "nillion", "iexec"];
    let mut m = BTreeMap::new();
    for (i, moniker) in monikers.iter().enumerate() {
        let body =
            json!({"machineId": MACHINE, "moniker": moniker, "nonce": format!("n{i}")}).to_string();
        m.insert((1, i), resp(200, body));
    }
    m.insert((2, 0), resp(200, r#"{"iexec":"s1"}"#));
    m.insert((2, 1), resp(200, r#"{"iexec":"s1","nillion":"s2"}"#));
    m.insert((2, 2), last);
    m
}

fn final_answer(jwt: &str) -> FetchResult {
    resp(
        200,
        json!({"machineId": MACHINE, "label": "lab", "jwt": jwt}).to_string(),
    )
}

fn eval(m: &BTreeMap<(u8, usize), FetchResult>) -> PocOutcome {
    evaluate(
        QUOTE,
        |s| match s {
            PocStage::One(i) => m.get(&(1, i)),
            PocStage::Two(i) => m.get(&(2, i)),
        },
        &key(),
        NOW,
    )
}

fn failed(o: &PocOutcome) -> &str {
    match o {
        PocOutcome::Failed(e) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn alliance_key_is_a_curve_point() {
    assert!(VerifyingKey::from_bytes(&PocKey::alliance().bytes).is_ok());
}

#[test]
fn a_signed_fresh_token_registers() {
    let o = eval(&answers(final_answer(&jwt(good_claims()))));
    assert_eq!(
        o,
        PocOutcome::Registered {
            machine_id: MACHINE.into(),
            label: "lab".into()
        }
    );
    assert_eq!(
        verdict(&o, QuoteSide::Model, None, ""),
        Verdict::pass("Proof of Cloud: registered (lab)")
    );
    assert_eq!(
        verdict(&o, QuoteSide::Gateway, None, "").detail,
        "gateway Proof of Cloud: registered (lab)"
    );
}

#[test]
fn a_token_without_timestamp_is_a_failed_query() {
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("timestamp");
    let o = eval(&answers(final_answer(&jwt(c))));
    assert_eq!(
        failed(&o),
        "PoC JWT validation: JWT missing timestamp claim"
    );
    let v = verdict(&o, QuoteSide::Model, None, "");
    assert_eq!(
        v,
        Verdict::skip(
            "Proof of Cloud query failed: PoC JWT validation: JWT missing timestamp claim"
        )
    );
}

#[test]
fn forbidden_means_not_registered() {
    let mut m = BTreeMap::new();
    m.insert(
        (1, 1),
        resp(403, r#"{"error":"Machine is not whitelisted."}"#),
    );
    let o = eval(&m);
    assert_eq!(o, PocOutcome::NotRegistered);
    assert_eq!(verdict(&o, QuoteSide::Model, None, "").status, Status::Fail);
    assert!(
        verdict(&o, QuoteSide::Gateway, None, "")
            .detail
            .starts_with("gateway hardware not found")
    );
    // Whatever the other (cancelled) peers answered.
    m.insert((1, 0), Err(FetchError::Transport("cancelled".into())));
    assert_eq!(eval(&m), PocOutcome::NotRegistered);
    let mut m = answers(resp(200, "{}"));
    m.insert((2, 1), resp(403, ""));
    assert_eq!(eval(&m), PocOutcome::NotRegistered);
}

#[test]
fn signature_rules() {
    let other = SigningKey::from_bytes(&[4u8; 32]);
    let cases = [
        (
            jwt_with(good_header(), good_claims(), &other),
            "does not verify",
        ),
        (
            jwt_with(json!({"alg": "HS256"}), good_claims(), &sk()),
            "not EdDSA",
        ),
        (
            jwt_with(json!({"alg": "none"}), good_claims(), &sk()),
            "not EdDSA",
        ),
        (
            jwt_with(json!({"alg": "EdDSA", "kid": "ab"}), good_claims(), &sk()),
            "not the trust-server alliance key",
        ),
        (
            jwt_with(json!({"alg": "EdDSA", "crit": ["x"]}), good_claims(), &sk()),
            "critical",
        ),
        ("a.b".to_owned(), "malformed JWT"),
    ];
    for (token, want) in cases {
        let o = eval(&answers(final_answer(&token)));
        assert!(failed(&o).contains(want), "{o:?} lacks {want}");
    }
    // One flipped signature bit.
    let t = jwt(good_claims());
    let (input, sig) = t.rsplit_once('.').unwrap();
    let mut raw = jws::b64url(sig).unwrap();
    raw[0] ^= 1;
    let o = eval(&answers(final_answer(&format!("{input}.{}", b64(&raw)))));
    assert!(failed(&o).contains("does not verify"));
}

#[test]
fn claim_rules() {
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good_claims();
        c[k] = v;
        eval(&answers(final_answer(&jwt(c))))
    };
    assert!(failed(&with("quote_hash", json!("00"))).contains("quote_hash mismatch"));
    assert!(failed(&with("quote_hash", json!(""))).contains("missing quote_hash"));
    assert!(failed(&with("quote_hash", json!(7))).contains("parse JWT claims"));
    assert!(failed(&with("timestamp", json!(NOW + 601))).contains("outside"));
    assert!(failed(&with("timestamp", json!(NOW - 601))).contains("outside"));
    assert!(matches!(
        with("timestamp", json!(NOW + 600)),
        PocOutcome::Registered { .. }
    ));
    assert!(failed(&with("timestamp", json!(1.5))).contains("parse JWT claims"));
    assert!(failed(&with("exp", json!(NOW - 1))).contains("expired"));
    assert!(matches!(
        with("exp", json!(NOW)),
        PocOutcome::Registered { .. }
    ));
    assert!(failed(&with("machine_id", json!("other"))).contains("does not match stage-1"));
    assert!(failed(&with("machine_id", json!(null))).contains("missing machine_id"));
    let o = eval(&answers(resp(
        200,
        json!({"label": "else", "jwt": jwt(good_claims())}).to_string(),
    )));
    assert!(failed(&o).contains("wrapper label"));
}

#[test]
fn transport_and_protocol_failures() {
    let mut m = answers(final_answer(&jwt(good_claims())));
    m.insert((1, 2), Err(FetchError::Transport("timeout".into())));
    assert_eq!(
        failed(&eval(&m)),
        "stage 1 POST to https://trust-server.iex.ec: timeout"
    );
    m.insert((1, 2), resp(500, "x".repeat(300)));
    assert!(
        failed(&eval(&m))
            .starts_with("stage 1: https://trust-server.iex.ec returned HTTP 500: xxx")
    );
    m.insert(
        (1, 2),
        resp(
            200,
            r#"{"machineId":"other","moniker":"iexec","nonce":"n"}"#,
        ),
    );
    assert!(failed(&eval(&m)).contains("disagrees"));
    let m = answers(resp(200, r#"{"iexec":"s1"}"#));
    assert_eq!(failed(&eval(&m)), "stage 2 completed without final JWT");
    let mut m = answers(final_answer(&jwt(good_claims())));
    m.remove(&(2, 1));
    assert!(failed(&eval(&m)).contains("no answer"));
}

#[test]
fn not_run() {
    let none = BTreeMap::new();
    let o = eval(&none);
    assert_eq!(o, PocOutcome::NotRun);
    assert_eq!(
        verdict(&o, QuoteSide::Model, None, ""),
        Verdict::fail("no CPU ID registry check")
    );
    let v = verdict(&o, QuoteSide::Model, None, "0123456789abcdef");
    assert_eq!(
        v,
        Verdict::skip("device ID present (01234567...) but no registry to verify against")
    );
    assert_eq!(
        verdict(&o, QuoteSide::Model, None, "abc").detail,
        "device ID present (abc) but no registry to verify against"
    );
    let v = verdict(
        &o,
        QuoteSide::Gateway,
        Some("00112233445566778899aabbccddeeff"),
        "",
    );
    assert_eq!(
        v,
        Verdict::skip("gateway PPID extracted (00112233...) but Proof of Cloud was not queried")
    );
    assert_eq!(
        verdict(&o, QuoteSide::Gateway, None, "").status,
        Status::Skip
    );
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "../proptest-regressions/poc.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_final_answers_never_register(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let o = eval(&answers(resp(200, body)));
        let registered = matches!(o, PocOutcome::Registered { .. });
        prop_assert!(!registered);
    }

    #[test]
    fn arbitrary_tokens_never_verify(t in "[A-Za-z0-9_.-]{0,300}") {
        prop_assert!(verify_final_jwt(&t, QUOTE, MACHINE, &key(), NOW).is_err());
    }

    #[test]
    fn one_changed_byte_never_verifies(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut t = jwt(good_claims()).into_bytes();
        let i = pos.index(t.len());
        prop_assume!(t[i] != byte);
        t[i] = byte;
        let t = String::from_utf8_lossy(&t).into_owned();
        prop_assert!(verify_final_jwt(&t, QUOTE, MACHINE, &key(), NOW).is_err());
    }
}
