//! Entry selection and the two factors, on synthetic entries signed by a test log.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::checkpoint::tests::test_log;
use super::entry::RekorEntry;
use super::fulcio::{FulcioFields, Signer};
use super::integrity::tests::signed_entry;
use super::*;
use crate::fetch::{FetchError, FetchResponse, FetchResult};
use crate::report::Status;

fn ok(status: u16, body: &[u8]) -> FetchResult {
    Ok(FetchResponse { status, headers: Vec::new(), body: body.to_vec(), peer_spki: None })
}

/// An entries answer carrying `e`.
pub(super) fn answer_of(e: &RekorEntry) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let v = serde_json::json!([{ e.uuid.clone(): {
        "body": e.body_b64,
        "integratedTime": e.integrated_time,
        "logID": e.log_id,
        "logIndex": e.log_index,
        "verification": {
            "signedEntryTimestamp": b64.encode(&e.set),
            "inclusionProof": {
                "checkpoint": e.proof.checkpoint,
                "hashes": e.proof.hashes.iter().map(hex::encode).collect::<Vec<_>>(),
                "logIndex": e.proof.log_index,
                "rootHash": hex::encode(e.proof.root_hash),
                "treeSize": e.proof.tree_size,
            }
        }
    }}]);
    serde_json::to_vec(&v).unwrap()
}

/// A dsse-shaped body whose verifier is the given PEM.
pub(super) fn body_signed_by(pem: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "0.0.1", "kind": "dsse",
        "spec": {"signatures": [{"signature": "AA==", "verifier": b64.encode(pem)}]}
    }))
    .unwrap()
}

const DIGEST: &str = "5556fb80b952832719a76b016f905616c76ee0989a239c4680c6220148e865d6";

#[test]
fn raw_key_entry_is_selected_after_every_check() {
    let (signing, log) = test_log();
    let e = signed_entry(&signing, &log, &body_signed_by(trust::REKOR_PUBLIC_KEY_PEM));
    let index = ok(200, format!("[\"{}\"]", e.uuid).as_bytes());
    let answer = ok(200, &answer_of(&e));
    let entries = [EntryAnswer { uuid: &e.uuid, answer: Some(&answer) }];
    match select_provenance(DIGEST, Some(&index), &entries, &log) {
        Provenance::Selected(s) => {
            assert_eq!(s.uuid, e.uuid);
            assert_eq!(s.signer, Signer::RawKey { fingerprint: trust::REKOR_LOG_ID_HEX.into() });
        }
        other => panic!("{other:?}"),
    }
    // The same entry against the real Rekor key: wrong log ID, rejected.
    let real = LogKey::rekor().unwrap();
    assert!(matches!(select_provenance(DIGEST, Some(&index), &entries, &real), Provenance::Rejected { .. }));
}

#[test]
fn a_tampered_entry_rejects_the_digest_even_after_a_good_one() {
    let (signing, log) = test_log();
    let good = signed_entry(&signing, &log, &body_signed_by(trust::REKOR_PUBLIC_KEY_PEM));
    let mut bad = signed_entry(&signing, &log, &body_signed_by(trust::REKOR_PUBLIC_KEY_PEM));
    bad.proof.hashes[0][5] ^= 0x10;
    let index = ok(200, b"[\"a\",\"b\"]");
    let (a, b) = (ok(200, &answer_of(&good)), ok(200, &answer_of(&bad)));
    let entries =
        [EntryAnswer { uuid: &good.uuid, answer: Some(&a) }, EntryAnswer { uuid: &bad.uuid, answer: Some(&b) }];
    match select_provenance(DIGEST, Some(&index), &entries, &log) {
        Provenance::Rejected { uuid, reason } => {
            assert_eq!(uuid, bad.uuid);
            assert!(reason.contains("inclusion proof"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let garbled = ok(200, b"[{\"x\":{}}]");
    let entries = [EntryAnswer { uuid: &good.uuid, answer: Some(&garbled) }];
    assert!(matches!(select_provenance(DIGEST, Some(&index), &entries, &log), Provenance::Rejected { .. }));
}

#[test]
fn lookups_that_fail_leave_no_provenance() {
    let (_, log) = test_log();
    let unavailable = |index: Option<&FetchResult>, entries: &[EntryAnswer<'_>]| match select_provenance(
        DIGEST, index, entries, &log,
    ) {
        Provenance::Unavailable(e) => e,
        other => panic!("{other:?}"),
    };
    assert!(unavailable(None, &[]).starts_with("search Rekor: not fetched"));
    assert!(unavailable(Some(&ok(500, b"boom")), &[]).contains("HTTP 500: boom"));
    assert!(unavailable(Some(&ok(200, b"[]")), &[]).starts_with("no Rekor entries"));
    let index = ok(200, b"[\"u\"]");
    let transport: FetchResult = Err(FetchError::Transport("reset".into()));
    let e = unavailable(Some(&index), &[EntryAnswer { uuid: "u", answer: Some(&transport) }]);
    assert_eq!(e, "fetch Rekor entry u: reset");
    assert!(unavailable(Some(&index), &[EntryAnswer { uuid: "u", answer: None }]).contains("not fetched"));
    assert!(unavailable(Some(&index), &[]).starts_with("no usable Rekor entry"));
}

#[test]
fn presence_lookup() {
    assert_eq!(presence_of(Some(&ok(200, b"[\"a\"]"))), Presence::Found);
    assert_eq!(presence_of(Some(&ok(200, b"[]"))), Presence::NotFound);
    assert!(matches!(presence_of(Some(&ok(429, b"slow down"))), Presence::Error(e) if e.contains("HTTP 429")));
    assert!(matches!(presence_of(Some(&ok(200, b"{}"))), Presence::Error(e) if e.contains("decode UUIDs")));
    assert!(matches!(presence_of(None), Presence::Error(_)));
}

// ---------------------------------------------------------------------------------------------
// Factors

fn fulcio(repo: &str, identity: &str) -> Provenance {
    Provenance::Selected(Selected {
        uuid: "u".into(),
        signer: Signer::Fulcio {
            fingerprint: "ab".into(),
            fields: Box::new(FulcioFields {
                subject_uri: identity.into(),
                oidc_issuer: policy::GITHUB_OIDC_ISSUER.into(),
                source_repo: repo.into(),
                source_commit: "406bddd0123".into(),
                runner_env: "github-hosted".into(),
                ..FulcioFields::default()
            }),
            der: Vec::new(),
        },
        dsse: Err("no envelope".into()),
    })
}

fn raw(fp: &str) -> Provenance {
    Provenance::Selected(Selected {
        uuid: "u".into(),
        signer: Signer::RawKey { fingerprint: fp.into() },
        dsse: Err(String::new()),
    })
}

const CM_ID: &str = "https://github.com/nearai/compose-manager/.github/workflows/build.yml@refs/heads/master";
const DD_FP: &str = "25bcab4ec8eede1e3091a14692126798c23986832ae6e5948d6f7eb0a928ab0b";

struct Case {
    policy: Option<SupplyChainPolicy>,
    repos: Vec<String>,
    map: BTreeMap<String, String>,
    presence: Vec<(String, Presence)>,
    provenance: Vec<(String, Provenance)>,
    chutes: bool,
}

impl Case {
    /// neardirect: datadog (d1), certbot (d2, compose-pinned), compose-manager (d3).
    fn neardirect() -> Case {
        let map: BTreeMap<String, String> =
            [("d1", "datadog/agent"), ("d2", "certbot/dns-cloudflare"), ("d3", "nearaidev/compose-manager")]
                .into_iter()
                .map(|(d, r)| (d.to_owned(), r.to_owned()))
                .collect();
        Case {
            policy: SupplyChainPolicy::default_for(crate::provider::ProviderKind::NearDirect),
            repos: map.values().cloned().collect(),
            map,
            presence: vec![
                ("d1".into(), Presence::Found),
                ("d2".into(), Presence::NotFound),
                ("d3".into(), Presence::Found),
            ],
            provenance: vec![("d1".into(), raw(DD_FP)), ("d3".into(), fulcio("nearai/compose-manager", CM_ID))],
            chutes: false,
        }
    }

    fn run(&self) -> (Verdict, Verdict) {
        let i = SupplyChainInputs {
            provider: "neardirect",
            policy: self.policy.as_ref(),
            chutes_format: self.chutes,
            compose_hash: "",
            model_repos: &self.repos,
            gateway_repos: &[],
            digest_repo: &self.map,
            presence: &self.presence,
            provenance: &self.provenance,
        };
        (sigstore_verification(&i), build_transparency_log(&i))
    }
}

use crate::report::Verdict;

#[test]
fn neardirect_like_session_passes_with_the_reference_wording() {
    let (sv, btl) = Case::neardirect().run();
    assert_eq!(
        sv,
        Verdict::pass("2 image digest(s) found in Sigstore transparency log; 1 not Sigstore-signed (compose-pinned)")
    );
    assert_eq!(
        btl,
        Verdict::pass(
            "1 image(s) verified by Fulcio provenance; 1 present in Sigstore (nearai/compose-manager@406bddd, github-hosted; log integrity: SET 2/2, inclusion 2/2)"
        )
    );
}

#[test]
fn each_policy_violation_fails_build_transparency_log() {
    let fails = |edit: &dyn Fn(&mut Case), needle: &str| {
        let mut c = Case::neardirect();
        edit(&mut c);
        let (_, btl) = c.run();
        assert_eq!(btl.status, Status::Fail, "{needle}: {}", btl.detail);
        assert!(btl.detail.contains(needle), "{needle}: {}", btl.detail);
    };
    fails(&|c| c.repos.push("evil/image".into()), "not in supply chain policy");
    fails(&|c| c.repos.clear(), "no attested model image repositories");
    fails(&|c| c.provenance[0].1 = raw(&"00".repeat(32)), "unexpected signing key fingerprint");
    fails(&|c| c.provenance[1].1 = raw(DD_FP), "entry has raw key");
    fails(&|c| c.provenance[1].1 = fulcio("evil/compose-manager", CM_ID), "unexpected source repo");
    fails(&|c| c.provenance[1].1 = fulcio("nearai/compose-manager", "https://evil"), "unexpected OIDC identity");
    fails(
        &|c| c.provenance[1].1 = Provenance::Unavailable("search Rekor: HTTP 500".into()),
        "Rekor provenance fetch failed",
    );
    fails(&|c| c.provenance[0].1 = Provenance::Unavailable("x".into()), "no verified Rekor entry");
    fails(
        &|c| {
            c.provenance[1].1 =
                Provenance::Rejected { uuid: "108e9186e8c5677a4de1".into(), reason: "SET verification".into() }
        },
        "Rekor entry 108e9186e8c5677a: SET verification",
    );
    fails(&|c| c.provenance.clear(), "no Rekor provenance fetched");
    fails(&|c| c.map.insert("d1".into(), "unlisted".into()).map(|_| ()).unwrap_or(()), "not in supply chain policy");
}

#[test]
fn sigstore_verification_fails_on_a_missing_signed_image() {
    let mut c = Case::neardirect();
    c.presence[0].1 = Presence::NotFound;
    let (sv, _) = c.run();
    assert_eq!(sv, Verdict::fail("Sigstore check failed for sha256:d1 (HTTP 404)"));
    c.presence[0].1 = Presence::Error("rekor transparency log search: HTTP 500: x".into());
    assert!(c.run().0.detail.contains("HTTP 500"));
    // Without a policy nothing is compose-pinned.
    let mut c = Case::neardirect();
    c.policy = None;
    assert_eq!(c.run().0.status, Status::Fail);
}

#[test]
fn no_results_skip_with_chutes_wording() {
    let c =
        Case { policy: None, repos: vec![], map: BTreeMap::new(), presence: vec![], provenance: vec![], chutes: true };
    let (sv, btl) = c.run();
    assert_eq!(sv.status, Status::Skip);
    assert!(sv.detail.starts_with("chutes attestation does not include container image digests"));
    assert_eq!(btl.status, Status::Skip);
    assert!(btl.detail.starts_with("chutes attestation does not include container image metadata"));
    let c = Case { chutes: false, ..c };
    assert_eq!(c.run().0, Verdict::skip("no image digests to verify"));
    assert_eq!(c.run().1, Verdict::fail("no build transparency log"));
}

#[test]
fn without_policy_only_github_fulcio_counts() {
    let mut c = Case::neardirect();
    c.policy = None;
    let (_, btl) = c.run();
    assert_eq!(btl.status, Status::Pass);
    assert!(btl.detail.starts_with("1/2 image(s) have Sigstore build provenance"), "{}", btl.detail);
    c.provenance = vec![("d1".into(), raw(DD_FP))];
    assert_eq!(c.run().1, Verdict::skip("all images signed with raw keys (no Fulcio build provenance)"));
}
