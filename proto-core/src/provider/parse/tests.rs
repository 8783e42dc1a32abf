//! Unit tests of the provider parsers on small hand-written answers: every error path, the
//! double-encoded fields, the layouts and the limits.

use super::*;
use crate::attestation::raw::{BackendFormat, ParseError};

fn reason(r: Result<RawAttestation, ParseError>) -> String {
    match r {
        Ok(raw) => panic!("expected an error, parsed {raw:?}"),
        Err(e) => e.to_string(),
    }
}

fn ok(r: Result<RawAttestation, ParseError>) -> RawAttestation {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn json(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

const ENTRY: &str = r#"{"imr":0,"event_type":2147483659,"digest":"d6d8","event":"","event_payload":"0954"}"#;

// ---------------------------------------------------------------------------------------------
// Venice
// ---------------------------------------------------------------------------------------------

fn venice_body(extra: &str) -> Vec<u8> {
    let sep = if extra.is_empty() { "" } else { "," };
    json(&format!(
        r#"{{"nonce":"ab","nonce_source":"client","signing_public_key":"04aa","signing_address":"0x11",
            "signing_algo":"ecdsa","intel_quote":"04000200","nvidia_payload":"{{}}",
            "event_log":[{ENTRY},{ENTRY}],"tee_hardware":"intel-tdx","upstream_model":"Qwen/Q",
            "candidates_evaluated":1,"candidates_available":2,
            "info":{{"app_name":"dstack-nvidia-0.5.5","compose_hash":"c1","os_image_hash":"o1","device_id":"d1",
                     "tcb_info":{{"app_compose":"{{\"a\":1}}"}}}},
            "ohttp_key_config":"x"{sep}{extra}}}"#
    ))
}

#[test]
fn venice_happy_path() {
    let raw = ok(parse_venice(&venice_body("")));
    assert_eq!(raw.format, BackendFormat::Dstack);
    assert_eq!(raw.nonce, "ab");
    assert_eq!(raw.nonce_source, "client");
    assert_eq!(raw.signing_key, "04aa");
    assert_eq!(raw.signing_address, "0x11");
    assert_eq!(raw.intel_quote, "04000200");
    assert_eq!(raw.nvidia_payload, "{}");
    assert_eq!(raw.event_log.len(), 2);
    assert_eq!(raw.event_log[0].event_type, 2147483659);
    assert_eq!(raw.event_log_count, Some(2));
    assert_eq!(raw.tee_hardware, "intel-tdx");
    assert_eq!(raw.upstream_model, "Qwen/Q");
    assert_eq!(raw.candidates, Some((1, 2)));
    assert_eq!(raw.app_name, "dstack-nvidia-0.5.5");
    assert_eq!(raw.compose_hash, "c1");
    assert_eq!(raw.os_image_hash, "o1");
    assert_eq!(raw.device_id, "d1");
    assert_eq!(raw.app_compose, r#"{"a":1}"#);
    assert_eq!(raw.unknown_fields, ["ohttp_key_config"]);
    assert!(raw.gateway.is_none());
}

#[test]
fn venice_empty_object_parses_to_empty_record() {
    let raw = ok(parse_venice(b"{}"));
    assert_eq!(raw, RawAttestation::empty(BackendFormat::Dstack));
}

#[test]
fn venice_key_is_not_normalised() {
    let key = "a".repeat(128);
    let raw = ok(parse_venice(&json(&format!(r#"{{"signing_public_key":"{key}"}}"#))));
    assert_eq!(raw.signing_key, key);
}

#[test]
fn venice_wrong_types_fail_naming_the_field() {
    let cases = [
        (r#"{"verified":"true"}"#, "verified: expected boolean, got string \"true\""),
        (r#"{"candidates_available":"1"}"#, "candidates_available: expected integer, got string \"1\""),
        (r#"{"candidates_available":1.5}"#, "candidates_available: expected a 64-bit integer"),
        (r#"{"candidates_evaluated":-1}"#, "candidates_evaluated: expected a non-negative integer, got -1"),
        (r#"{"nonce":12}"#, "nonce: expected string, got number 12"),
        (r#"{"signing_key":true}"#, "signing_key: expected string"),
        (r#"{"info":[]}"#, "info: expected object, got array []"),
        (r#"{"info":{"app_cert":1}}"#, "info.app_cert: expected string"),
        (r#"{"event_log":[{"imr":"0"}]}"#, "event_log[0].imr: expected integer, got string \"0\""),
        (r#"{"event_log":[{"imr":-1}]}"#, "event_log[0].imr: expected an integer in 0..=4294967295, got -1"),
        (r#"{"event_log":[{"event_type":4294967296}]}"#, "event_log[0].event_type: expected an integer in 0"),
        (r#"{"event_log":[1]}"#, "event_log[0]: expected object, got number 1"),
        (
            r#"{"server_verification":{"verificationDurationMs":90.5}}"#,
            "server_verification.verificationDurationMs: expected a 64-bit integer",
        ),
        (
            r#"{"server_verification":{"tdx":{"measurements":{"xfam":0}}}}"#,
            "server_verification.tdx.measurements.xfam: expected string",
        ),
        (r#"{"server_verification":"yes"}"#, "server_verification: expected object"),
        (r#"{"info":{"tcb_info":{"rtmr3":5}}}"#, "info.tcb_info.rtmr3: expected string"),
    ];
    for (body, want) in cases {
        let got = reason(parse_venice(body.as_bytes()));
        assert!(got.starts_with(&format!("venice: {want}")), "{body}\n  got:  {got}\n  want: {want}");
    }
}

#[test]
fn venice_nulls_leave_zero_values() {
    let body = r#"{"nonce":null,"verified":null,"candidates_available":null,"info":null,"event_log":null,
                   "server_verification":null,"signing_public_key":null}"#;
    let raw = ok(parse_venice(body.as_bytes()));
    assert_eq!(raw.nonce, "");
    assert!(raw.event_log.is_empty());
    assert_eq!(raw.event_log_count, None);
    assert_eq!(raw.candidates, None);
}

#[test]
fn venice_tcb_info_double_encoded_and_object_agree() {
    let object = ok(parse_venice(br#"{"info":{"tcb_info":{"app_compose":"{\"x\":2}","mrtd":"aa"}}}"#));
    let string = ok(parse_venice(br#"{"info":{"tcb_info":"{\"app_compose\":\"{\\\"x\\\":2}\",\"mrtd\":\"aa\"}"}}"#));
    assert_eq!(object.app_compose, r#"{"x":2}"#);
    assert_eq!(object, string);
    // A string holding null reads as an empty tcb_info.
    assert_eq!(ok(parse_venice(br#"{"info":{"tcb_info":"null"}}"#)).app_compose, "");
}

#[test]
fn venice_tcb_info_null_empty_and_bad_fail() {
    let cases = [
        (r#"{"info":{"tcb_info":null}}"#, "info.tcb_info: null where an object"),
        (r#"{"info":{"tcb_info":""}}"#, "info.tcb_info: empty string where JSON text was expected"),
        (r#"{"info":{"tcb_info":"{not json"}}"#, "info.tcb_info: string does not hold valid JSON"),
        (r#"{"info":{"tcb_info":"[1]"}}"#, "info.tcb_info: string holds array [1], expected an object"),
        (r#"{"info":{"tcb_info":"\"{}\""}}"#, "info.tcb_info: string holds string"),
        (r#"{"info":{"tcb_info":7}}"#, "info.tcb_info: expected object or string, got number 7"),
        (r#"{"info":{"tcb_info":"{\"app_compose\":1}"}}"#, "info.tcb_info.app_compose: expected string"),
    ];
    for (body, want) in cases {
        let got = reason(parse_venice(body.as_bytes()));
        assert!(got.starts_with(&format!("venice: {want}")), "{body}\n  got:  {got}\n  want: {want}");
    }
}

#[test]
fn venice_event_log_as_string_or_array() {
    let array = ok(parse_venice(&json(&format!(r#"{{"event_log":[{ENTRY}]}}"#))));
    let escaped = ENTRY.replace('"', "\\\"");
    let string = ok(parse_venice(&json(&format!(r#"{{"event_log":"[{escaped}]"}}"#))));
    assert_eq!(array.event_log, string.event_log);
    assert_eq!(array.event_log.len(), 1);
    assert_eq!(array.event_log[0].digest, "d6d8");
    assert!(ok(parse_venice(br#"{"event_log":"null"}"#)).event_log.is_empty());
    // The tcb_info copy is type-checked with the same flexibility.
    ok(parse_venice(&json(&format!(r#"{{"info":{{"tcb_info":{{"event_log":"[{escaped}]"}}}}}}"#))));
}

#[test]
fn venice_event_log_errors() {
    let cases = [
        (r#"{"event_log":5}"#, "event_log: expected array or string, got: 5"),
        (r#"{"event_log":{"a":1}}"#, "event_log: expected array or string, got: {\"a\":1}"),
        (r#"{"event_log":""}"#, "event_log: empty string"),
        (r#"{"event_log":"[{"}"#, "event_log: string does not hold valid JSON"),
        (r#"{"event_log":"{}"}"#, "event_log: string holds object {}, expected an array"),
        (r#"{"event_log":"[{\"imr\":\"x\"}]"}"#, "event_log[0].imr: expected integer"),
    ];
    for (body, want) in cases {
        let got = reason(parse_venice(body.as_bytes()));
        assert!(got.starts_with(&format!("venice: {want}")), "{body}\n  got:  {got}\n  want: {want}");
    }
    // The snippet stops at 50 characters.
    let long = format!(r#"{{"event_log":{{"k":"{}"}}}}"#, "z".repeat(200));
    let got = reason(parse_venice(long.as_bytes()));
    let shown = got.split("got: ").nth(1).expect("snippet");
    assert_eq!(shown.chars().count(), 53, "{shown}");
}

#[test]
fn venice_not_json_or_not_object() {
    assert!(reason(parse_venice(b"not json")).starts_with("venice: attestation response: invalid JSON"));
    assert!(reason(parse_venice(b"")).starts_with("venice: attestation response: invalid JSON"));
    assert!(reason(parse_venice(b"{} x")).contains("invalid JSON"));
    assert_eq!(reason(parse_venice(b"[]")), "venice: attestation response: expected a JSON object, got array []");
    assert_eq!(reason(parse_venice(b"null")), "venice: attestation response: expected a JSON object, got null");
}

#[test]
fn oversized_bodies_are_refused_naming_the_limit() {
    let big = |n: usize| {
        let mut b = b"{\"x\":\"".to_vec();
        b.resize(n - 2, b'a');
        b.extend_from_slice(b"\"}");
        b
    };
    // Exactly at the limit is fine; one byte more is not.
    ok(parse_venice(&big(VENICE_BODY_LIMIT)));
    let e = reason(parse_venice(&big(VENICE_BODY_LIMIT + 1)));
    assert_eq!(e, "venice: attestation response body exceeds size limit 1048576 (1048577 bytes)");
    assert!(reason(parse_near_model(&big(NEARDIRECT_BODY_LIMIT + 1), "m")).contains("size limit 1048576"));
    assert!(reason(parse_nearcloud(&big(NEARCLOUD_BODY_LIMIT + 1), "m")).contains("size limit 2097152"));
    assert!(reason(parse_nanogpt(&big(NANOGPT_BODY_LIMIT + 1))).contains("size limit 1048576"));
    assert!(reason(parse_phalacloud(&big(PHALACLOUD_BODY_LIMIT + 1))).contains("size limit 2097152"));
    // Phala accepts a body NanoGPT would refuse (then finds no format in it).
    assert!(reason(parse_phalacloud(&big(NANOGPT_BODY_LIMIT + 1))).contains("unrecognised attestation format"));
    let e = reason(parse_chutes(&big(CHUTES_BODY_LIMIT + 1), b"{}", "", ""));
    assert!(e.starts_with("chutes: instances response body exceeds size limit 2097152"), "{e}");
    let e = reason(parse_chutes(&json(CHUTES_INSTANCES), &big(CHUTES_BODY_LIMIT + 1), "", ""));
    assert!(e.starts_with("chutes: evidence response body exceeds size limit 2097152"), "{e}");
}

#[test]
fn body_limits_per_provider() {
    use crate::provider::ProviderKind;
    assert_eq!(body_limit(ProviderKind::Venice), 1 << 20);
    assert_eq!(body_limit(ProviderKind::NearDirect), 1 << 20);
    assert_eq!(body_limit(ProviderKind::NearCloud), 2 << 20);
    assert_eq!(body_limit(ProviderKind::Chutes), 2 << 20);
    assert_eq!(body_limit(ProviderKind::PhalaCloud), 2 << 20);
    assert_eq!(body_limit(ProviderKind::NanoGpt), 1 << 20);
}

#[test]
fn case_variants_are_unknown_keys_and_duplicates_keep_the_last() {
    let raw = ok(parse_venice(br#"{"Nonce":"x","nonce":"a","nonce":"b","zeta":1,"alpha":2}"#));
    assert_eq!(raw.nonce, "b");
    assert_eq!(raw.unknown_fields, ["Nonce", "alpha", "zeta"]);
}

// ---------------------------------------------------------------------------------------------
// NEAR
// ---------------------------------------------------------------------------------------------

fn near_entry(model: &str, nonce: &str) -> String {
    format!(
        r#"{{"model_name":"{model}","request_nonce":"{nonce}","intel_quote":"04000200","nvidia_payload":"{{}}",
            "signing_public_key":"{k}","signing_address":"{k}","signing_algo":"ed25519",
            "tls_cert_fingerprint":"ff","event_log":[{ENTRY}],
            "info":{{"app_name":"app-{model}","compose_hash":"c","os_image_hash":"o","device_id":"d",
                     "tcb_info":"{{\"app_compose\":\"{{}}\"}}"}}}}"#,
        k = "d0".repeat(32)
    )
}

#[test]
fn near_selects_from_all_attestations_then_model_attestations_then_flat() {
    let body = format!(
        r#"{{"model_name":"flat","request_nonce":"n0","all_attestations":[{},{}],"model_attestations":[{}]}}"#,
        near_entry("a", "n1"),
        near_entry("b", "n2"),
        near_entry("b", "n3")
    );
    let raw = ok(parse_near_model(body.as_bytes(), "b"));
    assert_eq!(raw.format, BackendFormat::Near);
    assert_eq!(raw.nonce, "n2", "all_attestations wins over model_attestations");
    assert_eq!(raw.app_name, "app-b");
    assert_eq!(raw.tee_hardware, "intel-tdx");
    assert_eq!(raw.signing_key.len(), 64);
    assert_eq!(raw.tls_fingerprint, "ff");
    assert_eq!(raw.app_compose, "{}");
    assert_eq!(raw.event_log_count, Some(1));
    assert!(raw.nonce_source.is_empty());

    let body = format!(r#"{{"all_attestations":[],"model_attestations":[{}]}}"#, near_entry("b", "n3"));
    assert_eq!(ok(parse_near_model(body.as_bytes(), "b")).nonce, "n3");

    // Flat: no model check at all.
    let flat = near_entry("whatever", "n4");
    let raw = ok(parse_near_model(flat.as_bytes(), "another"));
    assert_eq!(raw.nonce, "n4");
    // Flat without a quote: no hardware claim.
    assert_eq!(ok(parse_near_model(b"{}", "m")).tee_hardware, "");
}

#[test]
fn near_missing_model_and_bounds() {
    let body = format!(r#"{{"all_attestations":[{},{}]}}"#, near_entry("a", "1"), near_entry("b", "2"));
    assert_eq!(
        reason(parse_near_model(body.as_bytes(), "X")),
        "neardirect: model \"X\" not found in 2 attestation entries"
    );
    assert_eq!(
        reason(parse_near_model(body.as_bytes(), "A")),
        "neardirect: model \"A\" not found in 2 attestation entries",
        "exact, case-sensitive match"
    );
    let many = format!(r#"{{"all_attestations":[{}]}}"#, vec!["{}"; 257].join(","));
    assert_eq!(
        reason(parse_near_model(many.as_bytes(), "m")),
        "neardirect: all_attestations: more than 256 entries (257)"
    );
    let many = format!(r#"{{"model_attestations":[{}]}}"#, vec!["null"; 257].join(","));
    assert_eq!(
        reason(parse_near_model(many.as_bytes(), "m")),
        "neardirect: model_attestations: more than 256 entries (257)"
    );
    let exactly = format!(r#"{{"all_attestations":[{}]}}"#, vec![r#"{"model_name":"m"}"#; 256].join(","));
    ok(parse_near_model(exactly.as_bytes(), "m"));
}

#[test]
fn near_strictness_covers_unselected_entries_and_event_log_type() {
    let body = format!(r#"{{"all_attestations":[{},{{"model_name":"b","intel_quote":1}}]}}"#, near_entry("a", "1"));
    assert_eq!(
        reason(parse_near_model(body.as_bytes(), "a")),
        "neardirect: all_attestations[1].intel_quote: expected string, got number 1"
    );
    assert!(
        reason(parse_near_model(br#"{"event_log":"[]"}"#, "m")).starts_with("neardirect: event_log: expected array")
    );
    assert!(
        reason(parse_near_model(br#"{"all_attestations":{}}"#, "m"))
            .starts_with("neardirect: all_attestations: expected array")
    );
    assert!(
        reason(parse_near_model(br#"{"all_attestations":[3]}"#, "m"))
            .starts_with("neardirect: all_attestations[0]: expected object")
    );
    assert!(reason(parse_near_model(br#"{"verified":1}"#, "m")).starts_with("neardirect: verified: expected boolean"));
    assert!(
        reason(parse_near_model(br#"{"info":{"tcb_info":null}}"#, "m")).starts_with("neardirect: info.tcb_info: null")
    );
    let raw = ok(parse_near_model(br#"{"ohttp_key_config":"x","compose_manager_attestation":{}}"#, "m"));
    assert_eq!(raw.unknown_fields, ["compose_manager_attestation", "ohttp_key_config"]);
}

// ---------------------------------------------------------------------------------------------
// nearcloud
// ---------------------------------------------------------------------------------------------

fn gateway(event_log: &str) -> String {
    format!(
        r#"{{"request_nonce":"gn","signing_address":"{a}","signing_algo":"ed25519","intel_quote":"04000200aa",
            "event_log":{event_log},"report_data":"00","vpc":{{"vpc_hostname":"h"}},
            "tls_cert_fingerprint":"{f}","info":{{"app_name":"dstack-0.5.4","tcb_info":{{"app_compose":"{{}}"}}}}}}"#,
        a = "cb".repeat(32),
        f = "91".repeat(32)
    )
}

#[test]
fn nearcloud_happy_path() {
    let escaped = ENTRY.replace('"', "\\\"");
    let body = format!(
        r#"{{"gateway_attestation":{},"model_attestations":[{}],"tls_certificate":"pem"}}"#,
        gateway(&format!(r#""[{escaped},{escaped}]""#)),
        near_entry("m", "n1")
    );
    let raw = ok(parse_nearcloud(body.as_bytes(), "m"));
    assert_eq!(raw.format, BackendFormat::Near);
    assert_eq!(raw.nonce, "n1");
    assert_eq!(raw.unknown_fields, ["tls_certificate"]);
    let gw = raw.gateway.expect("gateway");
    assert_eq!(gw.nonce, "gn");
    assert_eq!(gw.intel_quote, "04000200aa");
    assert_eq!(gw.app_compose, "{}");
    assert_eq!(gw.event_log.len(), 2);
    assert_eq!(gw.tls_fingerprint, "91".repeat(32));
    assert_eq!(gw.signing_address, "cb".repeat(32));
}

#[test]
fn nearcloud_gateway_event_log_rules() {
    let with = |log: &str| {
        format!(r#"{{"gateway_attestation":{},"model_attestations":[{}]}}"#, gateway(log), near_entry("m", "n"))
    };
    for empty in [r#""""#, "null", r#""null""#] {
        let raw = ok(parse_nearcloud(with(empty).as_bytes(), "m"));
        assert!(raw.gateway.expect("gateway").event_log.is_empty(), "{empty}");
    }
    let cases = [
        (format!("[{ENTRY}]"), "gateway_attestation.event_log: expected string, got array"),
        (r#""{}""#.to_owned(), "gateway_attestation.event_log: string holds object {}, expected an array"),
        (r#""[1]""#.to_owned(), "gateway_attestation.event_log[0]: expected object, got number 1"),
        (r#""[""#.to_owned(), "gateway_attestation.event_log: string does not hold valid JSON"),
        (r#""[{\"digest\":7}]""#.to_owned(), "gateway_attestation.event_log[0].digest: expected string, got number 7"),
    ];
    for (log, want) in cases {
        let got = reason(parse_nearcloud(with(&log).as_bytes(), "m"));
        assert!(got.starts_with(&format!("nearcloud: {want}")), "{log}\n  got:  {got}\n  want: {want}");
    }
    // At most 10 000 entries.
    let entries = |n: usize| format!("\"[{}]\"", vec!["{}"; n].join(","));
    let raw = ok(parse_nearcloud(with(&entries(10_000)).as_bytes(), "m"));
    assert_eq!(raw.gateway.expect("gateway").event_log.len(), 10_000);
    assert_eq!(
        reason(parse_nearcloud(with(&entries(10_001)).as_bytes(), "m")),
        "nearcloud: gateway_attestation.event_log: more than 10000 entries (10001)"
    );
}

#[test]
fn nearcloud_missing_gateway_and_model_errors() {
    let model = near_entry("m", "n");
    for gw in [
        "",
        r#""gateway_attestation":null,"#,
        r#""gateway_attestation":{},"#,
        r#""gateway_attestation":{"request_nonce":"x"},"#,
    ] {
        let body = format!(r#"{{{gw}"model_attestations":[{model}]}}"#);
        let e = reason(parse_nearcloud(body.as_bytes(), "m"));
        assert!(e.starts_with("nearcloud: gateway_attestation section missing or empty"), "{gw}: {e}");
    }
    let body = format!(r#"{{"gateway_attestation":[],"model_attestations":[{model}]}}"#);
    assert!(
        reason(parse_nearcloud(body.as_bytes(), "m")).starts_with("nearcloud: gateway_attestation: expected object")
    );
    let body = format!(r#"{{"gateway_attestation":{},"model_attestations":[{model}]}}"#, gateway(r#""""#));
    assert_eq!(
        reason(parse_nearcloud(body.as_bytes(), "x")),
        "nearcloud: model \"x\" not found in 1 attestation entries"
    );
    let body = format!(
        r#"{{"gateway_attestation":{{"tls_cert_fingerprint":"f","info":{{"tcb_info":""}}}},"model_attestations":[{model}]}}"#
    );
    assert!(
        reason(parse_nearcloud(body.as_bytes(), "m"))
            .starts_with("nearcloud: gateway_attestation.info.tcb_info: empty")
    );
    // A fingerprint alone is enough to pass the parser (the verifier then fails the quote).
    let body = format!(r#"{{"gateway_attestation":{{"tls_cert_fingerprint":"f"}},"model_attestations":[{model}]}}"#);
    assert_eq!(ok(parse_nearcloud(body.as_bytes(), "m")).gateway.expect("gw").intel_quote, "");
}

// ---------------------------------------------------------------------------------------------
// Chutes
// ---------------------------------------------------------------------------------------------

const CHUTES_INSTANCES: &str = r#"{"instances":[
    {"instance_id":"i1","e2e_pubkey":"K1","nonces":["a1","a2"]},
    {"instance_id":"i2","e2e_pubkey":"","nonces":["b1"]},
    {"instance_id":"i3","e2e_pubkey":"K3","nonces":[]},
    {"instance_id":"i4","e2e_pubkey":"K4","nonces":["d1"]}],
    "nonce_expires_in":60,"nonce_expires_at":1779243525.5}"#;

fn gpu() -> &'static str {
    r#"{"certificate":"Y2VydA==","evidence":"ZXY=","arch":"HOPPER"}"#
}

fn evidence(ids: &[&str]) -> Vec<u8> {
    let entries: Vec<String> = ids
        .iter()
        .map(|id| {
            format!(
                r#"{{"quote":"BAACAIEA","gpu_evidence":[{g},{g}],"instance_id":"{id}","certificate":"Yw=="}}"#,
                g = gpu()
            )
        })
        .collect();
    json(&format!(r#"{{"evidence":[{}],"failed_instance_ids":[]}}"#, entries.join(",")))
}

#[test]
fn chutes_selects_in_evidence_order_skipping_unusable_instances() {
    let raw = ok(parse_chutes(&json(CHUTES_INSTANCES), &evidence(&["gone", "i2", "i3", "i4", "i1"]), "cafe", "uuid"));
    assert_eq!(raw.format, BackendFormat::Chutes);
    assert_eq!(raw.instance_id, "i4");
    assert_eq!(raw.signing_key, "K4");
    assert_eq!(raw.e2e_nonce, "d1");
    assert_eq!(raw.candidates, Some((4, 5)));
    assert_eq!(raw.nonce, "cafe");
    assert_eq!(raw.nonce_source, "client");
    assert_eq!(raw.chute_id, "uuid");
    assert_eq!(raw.signing_algo, "ml-kem-768");
    assert_eq!(raw.tee_hardware, "intel-tdx");
    assert_eq!(raw.intel_quote, "040002008100");
    assert_eq!(raw.gpu_evidence.len(), 2);
    assert_eq!(raw.gpu_evidence[0].arch, "HOPPER");
    assert_eq!(raw.event_log_count, None);
    assert!(raw.unknown_fields.is_empty());

    let raw = ok(parse_chutes(&json(CHUTES_INSTANCES), &evidence(&["i1", "i4"]), "cafe", "uuid"));
    assert_eq!((raw.instance_id.as_str(), raw.e2e_nonce.as_str(), raw.candidates), ("i1", "a1", Some((1, 2))));
}

#[test]
fn chutes_prefers_a_qualifying_preferred_instance_only() {
    use super::parse_chutes_preferring as parse;
    let ev = evidence(&["i1", "gone", "i2", "i4"]);
    let raw = ok(parse(&json(CHUTES_INSTANCES), &ev, "cafe", "uuid", Some("i4")));
    assert_eq!((raw.instance_id.as_str(), raw.signing_key.as_str(), raw.candidates), ("i4", "K4", Some((4, 4))));
    // A preferred instance that does not qualify (no key, absent, unknown) changes nothing.
    for unusable in ["i2", "i3", "nope"] {
        let raw = ok(parse(&json(CHUTES_INSTANCES), &ev, "cafe", "uuid", Some(unusable)));
        assert_eq!((raw.instance_id.as_str(), raw.candidates), ("i1", Some((1, 4))), "{unusable}");
    }
}

#[test]
fn chutes_duplicate_instance_ids_keep_the_last() {
    let inst = br#"{"instances":[{"instance_id":"i","e2e_pubkey":"A","nonces":["x"]},{"instance_id":"i","e2e_pubkey":"B","nonces":["y"]}]}"#;
    let raw = ok(parse_chutes(inst, &evidence(&["i"]), "n", "c"));
    assert_eq!((raw.signing_key.as_str(), raw.e2e_nonce.as_str()), ("B", "y"));
}

#[test]
fn chutes_errors() {
    let inst = json(CHUTES_INSTANCES);
    let e = |i: &[u8], ev: &[u8]| reason(parse_chutes(i, ev, "n", "c"));
    assert_eq!(e(br#"{"instances":[]}"#, &evidence(&["i1"])), "chutes: instances: no instances available");
    assert_eq!(e(b"{}", &evidence(&["i1"])), "chutes: instances: no instances available");
    assert_eq!(e(&inst, br#"{"evidence":[]}"#), "chutes: evidence: no evidence entries returned");
    assert_eq!(
        e(&inst, &evidence(&["i2", "i3", "zz"])),
        "chutes: none of 3 evidence entries match a known instance with valid E2EE material (4 instances available)"
    );
    let many: Vec<String> = (0..257).map(|i| format!(r#"{{"instance_id":"{i}"}}"#)).collect();
    assert_eq!(
        e(&json(&format!(r#"{{"instances":[{}]}}"#, many.join(","))), &evidence(&["i1"])),
        "chutes: instances: more than 256 entries (257)"
    );
    let ids: Vec<&str> = vec!["i1"; 257];
    assert_eq!(e(&inst, &evidence(&ids)), "chutes: evidence: more than 256 entries (257)");
    assert!(
        e(br#"{"instances":[],"nonce_expires_in":60.0}"#, b"{}")
            .starts_with("chutes: nonce_expires_in: expected a 64-bit integer")
    );
    assert!(e(br#"{"nonce_expires_at":"soon"}"#, b"{}").starts_with("chutes: nonce_expires_at: expected number"));
    assert!(e(br#"{"instances":[{"nonces":"a"}]}"#, b"{}").starts_with("chutes: instances[0].nonces: expected array"));
    assert!(
        e(br#"{"instances":[{"nonces":[1]}]}"#, b"{}").starts_with("chutes: instances[0].nonces[0]: expected string")
    );
    assert!(
        e(&inst, br#"{"evidence":[{"instance_id":"i1"}],"failed_instance_ids":[2]}"#)
            .starts_with("chutes: failed_instance_ids[0]: expected string")
    );
    // Unselected entries are type-checked too.
    assert!(
        e(&inst, br#"{"evidence":[{"instance_id":"i1"},{"gpu_evidence":[{"arch":1}]}]}"#)
            .starts_with("chutes: evidence[1].gpu_evidence[0].arch: expected string")
    );
    assert!(e(b"[]", b"{}").starts_with("chutes: instances response: expected a JSON object"));
    assert!(e(&inst, b"oops").starts_with("chutes: evidence response: invalid JSON"));
}

#[test]
fn chutes_quote_and_gpu_limits() {
    let inst = json(CHUTES_INSTANCES);
    let bad = br#"{"evidence":[{"instance_id":"i1","quote":"not base64!"}]}"#;
    assert!(reason(parse_chutes(&inst, bad, "n", "c")).starts_with("chutes: evidence[0].quote: invalid base64"));
    // An empty quote is not a parse error.
    let empty = br#"{"evidence":[{"instance_id":"i1","quote":""}]}"#;
    assert_eq!(ok(parse_chutes(&inst, empty, "n", "c")).intel_quote, "");
    // Lower-case hex.
    let q = br#"{"evidence":[{"instance_id":"i1","quote":"/////w=="}]}"#;
    assert_eq!(ok(parse_chutes(&inst, q, "n", "c")).intel_quote, "ffffffff");
    let gpus = |n: usize| {
        json(&format!(r#"{{"evidence":[{{"instance_id":"i1","gpu_evidence":[{}]}}]}}"#, vec![gpu(); n].join(",")))
    };
    assert_eq!(ok(parse_chutes(&inst, &gpus(64), "n", "c")).gpu_evidence.len(), 64);
    assert_eq!(
        reason(parse_chutes(&inst, &gpus(65), "n", "c")),
        "chutes: evidence[0].gpu_evidence: more than 64 entries (65) (instance i1)"
    );
    // Only the selected entry is bounded.
    let body = format!(
        r#"{{"evidence":[{{"instance_id":"gone","gpu_evidence":[{}]}},{{"instance_id":"i1"}}]}}"#,
        vec![gpu(); 65].join(",")
    );
    assert_eq!(ok(parse_chutes(&inst, body.as_bytes(), "n", "c")).instance_id, "i1");
}

#[test]
fn chutes_unknown_fields_from_both_bodies() {
    let inst = br#"{"instances":[{"instance_id":"i","e2e_pubkey":"A","nonces":["x"]}],"zz":1,"extra":2}"#;
    let ev = br#"{"evidence":[{"instance_id":"i"}],"extra":3,"aa":true}"#;
    assert_eq!(ok(parse_chutes(inst, ev, "n", "c")).unknown_fields, ["aa", "extra", "zz"]);
}

// ---------------------------------------------------------------------------------------------
// Gateways: detection, dstack, wrapped Chutes
// ---------------------------------------------------------------------------------------------

#[test]
fn format_detection_order_and_types() {
    use AttestationFormat::*;
    let cases: &[(&str, Option<AttestationFormat>)] = &[
        (r#"{"format":"https://tinfoil.sh/x","attestation_type":"chutes","intel_quote":"04"}"#, Some(Tinfoil)),
        (r#"{"format":"","attestation_type":"chutes","intel_quote":"04"}"#, Some(Chutes)),
        (r#"{"attestation_type":"x","gateway_attestation":{}}"#, Some(Chutes)),
        (r#"{"gateway_attestation":{},"intel_quote":"04"}"#, Some(Gateway)),
        (r#"{"gateway_attestation":"","intel_quote":"04"}"#, Some(Gateway)),
        (r#"{"gateway_attestation":null,"intel_quote":"04"}"#, Some(Dstack)),
        (r#"{"intel_quote":"04"}"#, Some(Dstack)),
        (r#"{"intel_quote":""}"#, None),
        (r#"{"format":1,"intel_quote":"04"}"#, None),
        (r#"{"attestation_type":true,"intel_quote":"04"}"#, None),
        (r#"{"intel_quote":4}"#, None),
        (r#"{"Format":"x"}"#, None),
        (r#"{}"#, None),
        (r#"[]"#, None),
        (r#"null"#, None),
        (r#"not json"#, None),
        (r#""#, None),
    ];
    for (body, want) in cases {
        assert_eq!(detect_format(body.as_bytes()), *want, "{body}");
    }
}

#[test]
fn gateways_refuse_unknown_and_unsupported_formats() {
    for (parse, name) in [
        (parse_nanogpt as fn(&[u8]) -> Result<RawAttestation, ParseError>, "nanogpt"),
        (parse_phalacloud, "phalacloud"),
    ] {
        assert_eq!(
            reason(parse(br#"{"format":"https://tinfoil.sh/predicate/tdx-guest/v2","body":{}}"#)),
            format!("{name}: unsupported attestation format \"tinfoil\" (from the format field)")
        );
        assert_eq!(
            reason(parse(br#"{"gateway_attestation":{},"model_attestations":[]}"#)),
            format!("{name}: unsupported attestation format \"gateway\" (from the gateway_attestation field)")
        );
        assert!(reason(parse(b"{}")).starts_with(&format!("{name}: unrecognised attestation format")));
        assert!(
            reason(parse(br#"{"intel_quote":5}"#)).starts_with(&format!("{name}: unrecognised attestation format"))
        );
        assert!(reason(parse(b"\xff\xfe")).starts_with(&format!("{name}: unrecognised attestation format")));
    }
}

fn dstack_body(key: &str, extra: &str) -> Vec<u8> {
    let escaped = ENTRY.replace('"', "\\\"");
    json(&format!(
        r#"{{"signing_address":"0xA6df","signing_algo":"ecdsa","request_nonce":"rn","intel_quote":"04000200",
            "quote":"04000200","nvidia_payload":"{{\"nonce\":\"rn\"}}","vm_config":"{{}}","signing_public_key":"{key}",
            "event_log":"[{escaped},{escaped},{escaped}]",
            "info":{{"app_name":"","compose_hash":"ch","os_image_hash":"oh","device_id":"di","app_cert":"pem",
                     "tcb_info":{{"app_compose":"{{}}","event_log":[{ENTRY}],"mr_aggregated":"m"}}}},
            "all_attestations":[{{"signing_public_key":"{key}","event_log":[{ENTRY}]}}]{extra}}}"#
    ))
}

#[test]
fn nanogpt_dstack_normalises_the_key_and_reads_the_top_level_log() {
    let key = "19".repeat(64);
    let raw = ok(parse_nanogpt(&dstack_body(&key, "")));
    assert_eq!(raw.format, BackendFormat::Dstack);
    assert_eq!(raw.signing_key, format!("04{key}"));
    assert_eq!(raw.nonce, "rn");
    assert_eq!(raw.signing_address, "0xA6df");
    assert_eq!(raw.signing_algo, "ecdsa");
    assert_eq!(raw.intel_quote, "04000200");
    assert_eq!(raw.nvidia_payload, r#"{"nonce":"rn"}"#);
    assert_eq!(raw.event_log.len(), 3, "top-level log, not tcb_info's");
    assert_eq!(raw.event_log_count, Some(3));
    assert_eq!(raw.app_name, "");
    assert_eq!(raw.compose_hash, "ch");
    assert_eq!(raw.app_compose, "{}");
    assert!(raw.nonce_source.is_empty() && raw.tee_hardware.is_empty() && raw.candidates.is_none());
    assert!(raw.unknown_fields.is_empty());
    // Same through Phala's dispatcher; a 130-character key stays as is.
    let with_prefix = format!("04{key}");
    assert_eq!(ok(parse_phalacloud(&dstack_body(&with_prefix, ""))).signing_key, with_prefix);
    // The March layout's extra `nonce` is reported, not used.
    let raw = ok(parse_nanogpt(&dstack_body(&key, r#","nonce":"client""#)));
    assert_eq!((raw.nonce.as_str(), raw.unknown_fields.as_slice()), ("rn", &["nonce".to_owned()][..]));
}

#[test]
fn nanogpt_dstack_strictness() {
    let cases = [
        (
            r#"{"intel_quote":"04","all_attestations":[{"request_nonce":1}]}"#,
            "all_attestations[0].request_nonce: expected string",
        ),
        (
            r#"{"intel_quote":"04","info":{"tcb_info":{"event_log":"[]"}}}"#,
            "info.tcb_info.event_log: expected array, got string",
        ),
        (r#"{"intel_quote":"04","info":{"tcb_info":null}}"#, "info.tcb_info: null"),
        (r#"{"intel_quote":"04","event_log":true}"#, "event_log: expected array or string, got: true"),
        (r#"{"intel_quote":"04","quote":[]}"#, "quote: expected string"),
        (r#"{"intel_quote":"04","all_attestations":{}}"#, "all_attestations: expected array"),
    ];
    for (body, want) in cases {
        let got = reason(parse_nanogpt(body.as_bytes()));
        assert!(got.starts_with(&format!("nanogpt: {want}")), "{body}\n  got:  {got}\n  want: {want}");
    }
    // tcb_info double-encoded is accepted here too.
    let raw = ok(parse_nanogpt(br#"{"intel_quote":"04","info":{"tcb_info":"{\"app_compose\":\"c\"}"}}"#));
    assert_eq!(raw.app_compose, "c");
}

fn wrapped(entries: &[String]) -> Vec<u8> {
    json(&format!(r#"{{"attestation_type":"chutes","nonce":"srv","all_attestations":[{}]}}"#, entries.join(",")))
}

fn wrapped_entry(key: &str, gpus: usize) -> String {
    format!(
        r#"{{"instance_id":"a20e","nonce":"entry","e2e_pubkey":"{key}","intel_quote":"BAACAA==","gpu_evidence":[{}]}}"#,
        vec![gpu(); gpus].join(",")
    )
}

#[test]
fn wrapped_chutes_uses_the_first_entry() {
    let raw = ok(parse_phalacloud(&wrapped(&[wrapped_entry("K1", 8), wrapped_entry("K2", 1)])));
    assert_eq!(raw.format, BackendFormat::Chutes);
    assert_eq!(raw.nonce, "srv");
    assert_eq!(raw.nonce_source, "server");
    assert_eq!(raw.signing_key, "K1");
    assert_eq!(raw.signing_algo, "ml-kem-768");
    assert_eq!(raw.tee_hardware, "intel-tdx");
    assert_eq!(raw.intel_quote, "04000200");
    assert_eq!(raw.gpu_evidence.len(), 8);
    assert_eq!(raw.candidates, Some((1, 2)));
    assert!(raw.instance_id.is_empty() && raw.e2e_nonce.is_empty() && raw.chute_id.is_empty());
    assert_eq!(ok(parse_nanogpt(&wrapped(&[wrapped_entry("K1", 0)]))).signing_key, "K1");
}

#[test]
fn wrapped_chutes_errors() {
    assert_eq!(reason(parse_phalacloud(&wrapped(&[]))), "phalacloud: all_attestations is empty");
    assert_eq!(reason(parse_nanogpt(br#"{"attestation_type":"chutes"}"#)), "nanogpt: all_attestations is empty");
    let many: Vec<String> = (0..257).map(|_| "{}".to_owned()).collect();
    assert_eq!(reason(parse_phalacloud(&wrapped(&many))), "phalacloud: all_attestations: more than 256 entries (257)");
    // Every entry's GPU list is bounded, not only the first.
    let e = reason(parse_phalacloud(&wrapped(&[wrapped_entry("K", 1), wrapped_entry("K", 65)])));
    assert_eq!(e, "phalacloud: all_attestations[1].gpu_evidence: more than 64 entries (65)");
    let bad = r#"{"intel_quote":"%%%"}"#.to_owned();
    assert!(
        reason(parse_phalacloud(&wrapped(&[bad])))
            .starts_with("phalacloud: all_attestations[0].intel_quote: invalid base64")
    );
    let bad = r#"{"e2e_pubkey":7}"#.to_owned();
    assert!(
        reason(parse_phalacloud(&wrapped(&[bad])))
            .starts_with("phalacloud: all_attestations[0].e2e_pubkey: expected string")
    );
    assert!(
        reason(parse_phalacloud(br#"{"attestation_type":"chutes","nonce":1,"all_attestations":[{}]}"#))
            .starts_with("phalacloud: nonce: expected string")
    );
    // An empty first quote is allowed (the verifier reports it absent).
    let raw = ok(parse_phalacloud(&wrapped(&[r#"{"e2e_pubkey":"K"}"#.to_owned()])));
    assert_eq!(raw.intel_quote, "");
    let raw = ok(parse_phalacloud(br#"{"attestation_type":"chutes","all_attestations":[{}],"extra":1}"#));
    assert_eq!(raw.unknown_fields, ["extra"]);
}
