//! Machine-level tests with hand-made answers (captures are exercised in tests/).

use super::*;
use crate::fetch::{FetchMethod, FetchResponse};

const NONCE: [u8; 32] = [0xab; 32];

fn wall() -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_795_651_200))
}

fn ok(body: &[u8]) -> FetchResult {
    Ok(FetchResponse { status: 200, headers: Vec::new(), body: body.to_vec(), peer_spki: None })
}

fn start(provider: ProviderKind, model: &str, configure: impl FnOnce(&mut VerifyConfig)) -> (Verification, FetchRequest) {
    let mut config = VerifyConfig::defaults(provider);
    configure(&mut config);
    let mut v = Verification::new(provider, model, NONCE, config, wall());
    let first = v.poll_fetch().expect("a first fetch");
    assert!(v.poll_fetch().is_none(), "only one fetch before the first answer");
    (v, first)
}

#[test]
fn neardirect_discovers_the_model_host_first() {
    let (mut v, first) = start(ProviderKind::NearDirect, "Qwen/Qwen3.5-122B-A10B", |c| c.api_key = Some("sk-secret".into()));
    assert_eq!(first.url, "https://completions.near.ai/endpoints");
    assert!(first.headers.iter().all(|(n, _)| n != "Authorization"), "no credentials to the discovery endpoint");
    let list = br#"{"endpoints":[{"domain":"qwen35-122b.completions.near.ai","models":["Qwen/Qwen3.5-122B-A10B"]}]}"#;
    v.handle_fetch(first.id, ok(list));
    let attest = v.poll_fetch().expect("attestation fetch");
    assert!(attest.url.starts_with("https://qwen35-122b.completions.near.ai/v1/attestation/report?"), "{}", attest.url);
    assert!(attest.url.contains(&hex::encode(NONCE)));
    assert!(attest.headers.contains(&("Authorization".to_owned(), "Bearer sk-secret".to_owned())));
    assert!(!format!("{attest:?}").contains("sk-secret"), "credentials never in Debug");
}

#[test]
fn neardirect_unknown_model_is_a_typed_error() {
    let (mut v, first) = start(ProviderKind::NearDirect, "nope", |_| {});
    let list = br#"{"endpoints":[{"domain":"b.completions.near.ai","models":["b/B"]},{"domain":"a.completions.near.ai","models":["a/A"]}]}"#;
    v.handle_fetch(first.id, ok(list));
    let err = match v.poll_report() {
        Some(Err(e @ VerifyError::UnknownModel { .. })) => e,
        other => panic!("{other:?}"),
    };
    // The error lists the models that do exist, sorted.
    assert!(err.to_string().ends_with("known: a/A, b/B"), "{err}");
    assert!(v.is_done() && v.poll_fetch().is_none());
}

#[test]
fn chutes_resolves_the_model_then_fetches_instances_and_evidence() {
    let (mut v, first) = start(ProviderKind::Chutes, "zai-org/GLM-5-TEE", |_| {});
    assert_eq!(first.url, "https://llm.chutes.ai/v1/models");
    let uuid = "0b3b9d4e-3b8d-5a4c-9f3c-1f2e3d4c5b6a";
    v.handle_fetch(first.id, ok(format!(r#"{{"data":[{{"id":"zai-org/GLM-5-TEE","chute_id":"{uuid}"}}]}}"#).as_bytes()));
    let instances = v.poll_fetch().unwrap();
    assert_eq!(instances.url, format!("https://api.chutes.ai/e2e/instances/{uuid}"));
    // A UUID given as the model skips the lookup.
    let (_, direct) = start(ProviderKind::Chutes, uuid, |_| {});
    assert_eq!(direct.url, instances.url);
}

#[test]
fn attestation_errors_end_without_a_report() {
    let (mut v, first) = start(ProviderKind::Venice, "m", |_| {});
    assert_eq!(first.method, FetchMethod::Get);
    v.handle_fetch(first.id, Ok(FetchResponse { status: 503, headers: vec![], body: b"busy".to_vec(), peer_spki: None }));
    assert_eq!(v.poll_report(), Some(Err(VerifyError::Status { status: 503, snippet: "busy".into() })));

    let (mut v, first) = start(ProviderKind::Venice, "m", |_| {});
    v.handle_fetch(first.id, ok(b"{not json"));
    assert!(matches!(v.poll_report(), Some(Err(VerifyError::Parse(_)))));

    let (mut v, first) = start(ProviderKind::Venice, "m", |_| {});
    v.handle_fetch(first.id, Err(FetchError::Transport("connection refused".into())));
    assert!(matches!(v.poll_report(), Some(Err(VerifyError::Fetch(_)))));
}

#[test]
fn answers_to_unknown_ids_are_ignored() {
    let (mut v, first) = start(ProviderKind::Venice, "m", |_| {});
    v.handle_fetch(FetchId(999), ok(b"{}"));
    assert!(v.poll_report().is_none());
    v.handle_fetch(first.id, ok(b"{}"));
    // An empty venice answer parses; the report fails closed on every missing piece.
    let report = v.poll_report().expect("report").expect("parsed");
    assert!(report.is_blocked());
    assert_eq!(report.factor(crate::report::Factor::NonceMatch).unwrap().status, crate::report::Status::Fail);
}
