//! NRAS token, JWKS and answer checks with a test key (fixed seed): one accepted case, then each
//! way a token or answer can be wrong.

use base64::Engine as _;
use p384::ecdsa::signature::Signer as _;
use p384::ecdsa::{Signature, SigningKey};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::*;
use crate::fetch::{FetchError, FetchResponse};

pub(super) const NOW: u64 = 1_781_056_200;
pub(super) const NONCE: &str = "9a796732359e9324a45576a730e5a9c47bff518b8ee8bcb882d00b5b1ff6f39a";
pub(super) const KID: &str = "test-kid";

pub(super) fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 48]).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with this header and claims, signed by `key`.
pub(super) fn token(
    header: &serde_json::Value,
    claims: &serde_json::Value,
    key: &SigningKey,
) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

pub(super) fn claims() -> serde_json::Value {
    json!({"iss": "https://nras.attestation.nvidia.com", "x-nvidia-overall-att-result": true,
           "eat_nonce": NONCE, "nbf": NOW - 30, "iat": NOW - 30, "exp": NOW - 30 + 3600})
}

pub(super) fn header() -> serde_json::Value {
    json!({"kid": KID, "alg": "ES384"})
}

/// The JWKS document publishing `key` under `kid`.
pub(super) fn jwks_doc(kid: &str, key: &SigningKey) -> String {
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    json!({"keys": [{"kty": "EC", "crv": "P-384", "kid": kid, "x": b64(&bytes[1..49]), "y": b64(&bytes[49..97])}]})
        .to_string()
}

pub(super) fn ok(body: impl Into<Vec<u8>>) -> FetchResult {
    Ok(FetchResponse {
        status: 200,
        headers: Vec::new(),
        body: body.into(),
        peer_spki: None,
    })
}

fn answer(overall: &str, per_gpu: &[(&str, &str)]) -> FetchResult {
    let map: serde_json::Map<String, serde_json::Value> = per_gpu
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    ok(json!([["JWT", overall], map]).to_string())
}

fn keys() -> Jwks {
    Jwks::parse(jwks_doc(KID, &signing_key(7)).as_bytes()).unwrap()
}

fn check(t: &str) -> Result<Map<String, Value>, NrasError> {
    verify_token(t, &keys(), NOW)
}

#[test]
fn a_valid_token_verifies_and_passes() {
    let t = token(&header(), &claims(), &signing_key(7));
    assert_eq!(check(&t).unwrap()["eat_nonce"], NONCE);
    let jwks = ok(jwks_doc(KID, &signing_key(7)));
    let r = verify(&answer(&t, &[]), &jwks, Some(NONCE), NOW);
    assert_eq!(
        r,
        Ok(NrasResult {
            overall: true,
            gpus: Vec::new()
        })
    );
    assert_eq!(verdict(&r), Verdict::pass("NRAS: true (JWT verified)"));
}

#[test]
fn only_es384_is_accepted() {
    for alg in ["ES256", "ES512", "none", "HS384", "RS384", "es384"] {
        let t = token(&json!({"kid": KID, "alg": alg}), &claims(), &signing_key(7));
        assert!(matches!(check(&t), Err(NrasError::Header(_))), "{alg}");
    }
    let t = token(&json!({"kid": KID}), &claims(), &signing_key(7));
    assert!(matches!(check(&t), Err(NrasError::Header(_))));
    let t = token(
        &json!({"kid": KID, "alg": "ES384", "crit": ["b64"]}),
        &claims(),
        &signing_key(7),
    );
    assert!(matches!(check(&t), Err(NrasError::Header(_))));
    // "none" with an empty signature is refused before any key is consulted.
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","kid":"test-kid"}"#),
        b64(claims().to_string().as_bytes())
    );
    assert!(check(&none).is_err());
}

#[test]
fn unknown_kid_and_wrong_key_fail_as_signature_errors() {
    let t = token(
        &json!({"kid": "other", "alg": "ES384"}),
        &claims(),
        &signing_key(7),
    );
    let e = check(&t).unwrap_err();
    assert!(
        matches!(e, NrasError::Key(KeyLookupError::Unknown(_))) && e.is_signature(),
        "{e}"
    );
    let t = token(&header(), &claims(), &signing_key(8));
    let e = check(&t).unwrap_err();
    assert!(
        matches!(e, NrasError::BadSignature(_)) && e.is_signature(),
        "{e}"
    );
    let t = token(&json!({"alg": "ES384"}), &claims(), &signing_key(7));
    assert!(matches!(check(&t), Err(NrasError::Malformed(_))));
}

#[test]
fn a_flipped_signature_or_payload_byte_fails() {
    let t = token(&header(), &claims(), &signing_key(7));
    let (input, sig) = t.rsplit_once('.').unwrap();
    let mut raw = jws::b64url(sig).unwrap();
    raw[10] ^= 1;
    assert!(matches!(
        check(&format!("{input}.{}", b64(&raw))),
        Err(NrasError::BadSignature(_))
    ));
    let mut claims = claims();
    claims["x-nvidia-overall-att-result"] = json!(false);
    let forged = token(&header(), &claims, &signing_key(7));
    let spliced = format!("{}.{}", forged.rsplit_once('.').unwrap().0, sig);
    assert!(matches!(check(&spliced), Err(NrasError::BadSignature(_))));
    assert!(matches!(
        check(&format!("{input}.{}", b64(&raw[..95]))),
        Err(NrasError::BadSignature(_))
    ));
}

#[test]
fn time_claims() {
    let key = signing_key(7);
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims();
        c[k] = v;
        check(&token(&header(), &c, &key))
    };
    let exp = NOW - 30 + 3600;
    assert!(verify_token(&token(&header(), &claims(), &key), &keys(), exp - 1).is_ok());
    let e = verify_token(&token(&header(), &claims(), &key), &keys(), exp).unwrap_err();
    assert!(
        matches!(e, NrasError::Claims(ref m) if m.contains("expired")) && !e.is_signature(),
        "{e}"
    );
    assert!(
        matches!(with("nbf", json!(NOW + 1)), Err(NrasError::Claims(m)) if m.contains("not valid yet"))
    );
    assert!(with("nbf", json!(NOW)).is_ok());
    assert!(
        matches!(with("iat", json!(NOW + 5)), Err(NrasError::Claims(m)) if m.contains("future"))
    );
    assert!(matches!(with("exp", json!(null)), Err(NrasError::Claims(m)) if m.contains("no exp")));
    assert!(matches!(
        with("exp", json!("soon")),
        Err(NrasError::Claims(_))
    ));
    assert!(with("exp", json!(exp as f64 + 0.5)).is_ok());
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert!(matches!(
        check(&token(&header(), &c, &key)),
        Err(NrasError::Claims(_))
    ));
}

#[test]
fn overall_result_false_or_missing_fails() {
    let key = signing_key(7);
    let jwks = ok(jwks_doc(KID, &key));
    for v in [json!(false), json!("true"), json!(1), json!(null)] {
        let mut c = claims();
        c["x-nvidia-overall-att-result"] = v.clone();
        let r = verify(
            &answer(&token(&header(), &c, &key), &[]),
            &jwks,
            Some(NONCE),
            NOW,
        );
        assert_eq!(r.as_ref().map(|r| r.overall), Ok(false), "{v}");
        assert_eq!(verdict(&r), Verdict::fail("NRAS result: false"));
    }
}

#[test]
fn per_gpu_tokens_must_match_submods() {
    let key = signing_key(7);
    let gpu_claims =
        |msg: &str| json!({"x-nvidia-error-details": {"message": msg}, "exp": NOW + 60});
    let g0 = token(&header(), &gpu_claims("NONCE_NOT_MATCHING"), &key);
    let g1 = token(&header(), &gpu_claims("NONCE_NOT_MATCHING"), &key);
    let digest = |t: &str| {
        json!([
            "DIGEST",
            ["SHA-256", hex::encode(Sha256::digest(t.as_bytes()))]
        ])
    };
    let mut c = claims();
    c["x-nvidia-overall-att-result"] = json!(false);
    c["submods"] = json!({"GPU-0": digest(&g0), "GPU-1": digest(&g1)});
    let overall = token(&header(), &c, &key);
    let jwks = ok(jwks_doc(KID, &key));
    let r = verify(
        &answer(&overall, &[("GPU-0", &g0), ("GPU-1", &g1)]),
        &jwks,
        Some(NONCE),
        NOW,
    );
    assert_eq!(
        verdict(&r),
        Verdict::fail("NRAS result: false; all 2 GPUs: NONCE_NOT_MATCHING")
    );
    // A substituted per-GPU token no longer matches its digest.
    let other = token(&header(), &gpu_claims("OTHER"), &key);
    let r = verify(
        &answer(&overall, &[("GPU-0", &other), ("GPU-1", &g1)]),
        &jwks,
        Some(NONCE),
        NOW,
    );
    assert!(matches!(r, Err(NrasError::GpuBinding(_))), "{r:?}");
    // A GPU the overall token does not list.
    let r = verify(
        &answer(&overall, &[("GPU-0", &g0), ("GPU-9", &g1)]),
        &jwks,
        Some(NONCE),
        NOW,
    );
    assert!(matches!(r, Err(NrasError::GpuBinding(_))), "{r:?}");
}

#[test]
fn the_token_must_be_about_our_evidence() {
    let key = signing_key(7);
    let jwks = ok(jwks_doc(KID, &key));
    let a = answer(&token(&header(), &claims(), &key), &[]);
    assert_eq!(
        verify(&a, &jwks, Some(&NONCE.to_uppercase()), NOW),
        Err(NrasError::NonceMismatch)
    );
    assert_eq!(verify(&a, &jwks, None, NOW), Err(NrasError::NonceMismatch));
    let v = verdict(&verify(&a, &jwks, Some("00"), NOW));
    assert!(
        v.detail.starts_with("NRAS JWT claims invalid"),
        "{}",
        v.detail
    );
}

#[test]
fn malformed_answers_and_tokens() {
    let key = signing_key(7);
    let jwks = ok(jwks_doc(KID, &key));
    let good = token(&header(), &claims(), &key);
    let cases: Vec<(FetchResult, &str)> = vec![
        (
            Err(FetchError::Transport("reset".into())),
            "NRAS JWT signature invalid: NRAS POST: reset",
        ),
        (
            Ok(FetchResponse {
                status: 400,
                headers: Vec::new(),
                body: b"bad".to_vec(),
                peer_spki: None,
            }),
            "NRAS JWT claims invalid: NRAS returned HTTP 400: bad",
        ),
        (
            ok(" \n"),
            "NRAS JWT signature invalid: NRAS returned empty response",
        ),
        (ok("{}"), "NRAS JWT signature invalid: parse NRAS response"),
        (
            ok("[]"),
            "NRAS JWT signature invalid: parse NRAS response: no JWT entry",
        ),
        (
            ok(json!([["JWT", good], ["JWT", good]]).to_string()),
            "more than one JWT entry",
        ),
        (answer("a.b", &[]), "token is malformed"),
        (answer("!!.e30.AA", &[]), "token is malformed"),
        (
            answer(
                &format!("{}.bm90IGpzb24.AA", b64(header().to_string().as_bytes())),
                &[],
            ),
            "signature",
        ),
        (
            answer(&"A".repeat(jws::MAX_TOKEN_LEN + 1), &[]),
            "token is malformed",
        ),
    ];
    for (attest, want) in cases {
        let v = verdict(&verify(&attest, &jwks, Some(NONCE), NOW));
        assert_eq!(v.status, crate::report::Status::Fail);
        assert!(
            v.detail.contains(want),
            "{} does not contain {want}",
            v.detail
        );
    }
    // Signed claims that are not JSON.
    let input = format!(
        "{}.{}",
        b64(header().to_string().as_bytes()),
        b64(b"not json")
    );
    let sig: Signature = key.sign(input.as_bytes());
    assert!(matches!(
        check(&format!("{input}.{}", b64(&sig.to_bytes()))),
        Err(NrasError::Malformed(_))
    ));
}

#[test]
fn jwks_rules() {
    let key = signing_key(7);
    let t = token(&header(), &claims(), &key);
    let a = answer(&t, &[]);
    let fails = |doc: &str| {
        let r = verify(&a, &ok(doc.to_owned()), Some(NONCE), NOW);
        assert!(
            r.as_ref().is_err_and(NrasError::is_signature),
            "{doc}: {r:?}"
        );
    };
    fails("not json");
    fails(r#"{"keys": {}}"#);
    fails(&jwks_doc("someone-else", &key));
    fails(&jwks_doc(KID, &signing_key(9)));
    let mut doc: serde_json::Value = serde_json::from_str(&jwks_doc(KID, &key)).unwrap();
    let entry = doc["keys"][0].clone();
    doc["keys"] = json!([entry.clone(), entry.clone()]);
    fails(&doc.to_string()); // duplicate kid
    for (field, value) in [
        ("crv", json!("P-256")),
        ("alg", json!("ES256")),
        ("use", json!("enc")),
        ("x", json!("AAAA")),
    ] {
        let mut e = entry.clone();
        e[field] = value;
        fails(&json!({"keys": [e]}).to_string());
    }
    let mut e = entry.clone();
    e["x5c"] = json!(["bm90IGEgY2VydA=="]);
    fails(&json!({"keys": [e]}).to_string());
    let many: Vec<_> = (0..=jwks::MAX_KEYS).map(|_| entry.clone()).collect();
    fails(&json!({"keys": many}).to_string());
    let r = verify(
        &a,
        &Err(FetchError::Transport("down".into())),
        Some(NONCE),
        NOW,
    );
    assert!(matches!(r, Err(NrasError::Jwks(_))));
    assert!(verify(&a, &ok(jwks_doc(KID, &key)), Some(NONCE), NOW).is_ok());
}

#[test]
fn submitted_nonce_follows_the_request_body() {
    use crate::attestation::BackendFormat;
    let mut raw = RawAttestation::empty(BackendFormat::Dstack);
    raw.nonce = "server".into();
    raw.nvidia_payload = r#"{"arch": "HOPPER", "nonce": "abc", "evidence_list": []}"#.into();
    assert_eq!(submitted_nonce(&raw).as_deref(), Some("abc"));
    raw.nvidia_payload = "{not json".into();
    assert_eq!(submitted_nonce(&raw), None);
    raw.nvidia_payload = String::new();
    assert_eq!(submitted_nonce(&raw).as_deref(), Some("server"));
    assert_eq!(not_applicable_verdict().status, crate::report::Status::Skip);
}

#[test]
fn diagnostics_list_up_to_eight_gpus() {
    use response::{GpuDiag, false_detail};
    let d = |id: &str, error: &str, measres: &str| GpuDiag {
        id: id.into(),
        error: error.into(),
        measres: measres.into(),
        ..GpuDiag::default()
    };
    let mixed = vec![
        d("GPU-0", "A", ""),
        d("GPU-1", "", "fail"),
        d("GPU-2", "", ""),
    ];
    assert_eq!(
        false_detail(&mixed),
        "NRAS result: false; GPU-0: A; GPU-1: measres=fail nonce=false driver= hwmodel=; GPU-2: no diagnostic claims"
    );
    let many: Vec<_> = (0..10)
        .map(|i| d(&format!("GPU-{i}"), &format!("E{i}"), ""))
        .collect();
    assert!(false_detail(&many).ends_with("; ... and 2 more GPUs"));
    assert_eq!(
        false_detail(&[d("GPU-0", "A", "")]),
        "NRAS result: false; GPU-0: A"
    );
}
