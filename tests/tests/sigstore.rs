//! Sigstore / Rekor on the real captures: both supply-chain factors agree with the reference
//! report (status, enforcement and wording), every recorded Rekor entry passes every log
//! integrity check with the pinned key, every Fulcio certificate chains to the embedded Fulcio
//! CA, and one flipped byte in a recorded inclusion proof fails `build_transparency_log`.

use std::path::Path;
use std::time::Instant;

use proto_core::attestation::sigstore::fulcio::{self, Signer};
use proto_core::attestation::sigstore::{LogKey, entry, integrity};
use proto_core::capture::Capture;
use proto_core::report::{Factor, ReferenceReport, Report, Status};
use proto_core::verify::replay_capture;
use teep_tests::captures::replayable_captures;

const FACTORS: [Factor; 2] = [Factor::SigstoreVerification, Factor::BuildTransparencyLog];

fn load(dir: &Path) -> Capture {
    runtime_blocking::capture_fs::load_capture(dir).expect("capture loads")
}

fn report(capture: &Capture) -> Report {
    replay_capture(capture).expect("known provider").report.expect("a report")
}

#[test]
fn both_factors_agree_with_every_reference_report() {
    let captures = replayable_captures();
    let mut compared = 0;
    for dir in &captures {
        let ours = report(&load(dir));
        let text = std::fs::read_to_string(dir.join("report.txt")).unwrap();
        let reference = ReferenceReport::parse(&text).unwrap();
        for factor in FACTORS {
            let mine = ours.factor(factor).unwrap_or_else(|| panic!("{}: no {factor}", dir.display()));
            let theirs = reference.factors.iter().find(|r| r.factor == Some(factor)).expect("reference has it");
            assert_eq!(
                (mine.status, mine.enforced, mine.detail.as_str()),
                (theirs.status, theirs.enforced, theirs.detail.as_str()),
                "{} {factor}",
                dir.display()
            );
            compared += 1;
        }
    }
    if !captures.is_empty() {
        assert!(compared >= 18, "compared only {compared}");
    }
}

/// Every Rekor entries answer recorded in every capture.
fn recorded_entries() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in replayable_captures() {
        for x in load(&dir).exchanges {
            if x.meta.url.ends_with("/api/v1/log/entries/retrieve") && x.meta.status == 200 {
                out.push((format!("{}/{}", dir.display(), x.file_stem), x.body));
            }
        }
    }
    out
}

#[test]
fn every_recorded_entry_passes_every_integrity_check() {
    let log = LogKey::rekor().unwrap();
    let answers = recorded_entries();
    let (mut fulcio_certs, mut raw, mut other) = (0, 0, 0);
    let started = Instant::now();
    for (name, body) in &answers {
        let e = entry::parse_entry(body).unwrap_or_else(|err| panic!("{name}: {err}"));
        integrity::verify_entry(&e, &e.uuid, &log).unwrap_or_else(|err| panic!("{name}: {err}"));
        match fulcio::signer_of(&e.body) {
            Ok(Signer::Fulcio { der, fields, .. }) => {
                fulcio::verify_fulcio_chain(&der, e.integrated_time).unwrap_or_else(|err| panic!("{name}: {err}"));
                assert!(!fields.oidc_issuer.is_empty() && !fields.subject_uri.is_empty(), "{name}");
                // A Fulcio certificate lives ten minutes: an hour after integration it is expired.
                assert!(fulcio::verify_fulcio_chain(&der, e.integrated_time + 3600).is_err(), "{name}");
                fulcio_certs += 1;
            }
            Ok(_) => raw += 1,
            Err(_) => other += 1,
        }
    }
    eprintln!(
        "{} entries ({fulcio_certs} Fulcio, {raw} raw key or other certificate, {other} without verifier) checked in {:?}",
        answers.len(),
        started.elapsed()
    );
    if !answers.is_empty() {
        assert!(answers.len() >= 20 && fulcio_certs >= 10, "{} entries, {fulcio_certs} Fulcio", answers.len());
    }
}

#[test]
fn flipped_inclusion_proof_byte_fails_build_transparency_log() {
    let Some(dir) =
        replayable_captures().into_iter().find(|d| d.ends_with("neardirect_qwen_qwen3.5-122b-a10b_20260424_021037"))
    else {
        return;
    };
    let capture = load(&dir);
    let before = report(&capture);
    assert_eq!(before.factor(Factor::BuildTransparencyLog).unwrap().status, Status::Pass);
    let entries: Vec<usize> = capture
        .exchanges
        .iter()
        .enumerate()
        .filter(|(_, x)| x.meta.url.ends_with("/api/v1/log/entries/retrieve"))
        .map(|(i, _)| i)
        .collect();
    assert!(!entries.is_empty());
    for index in entries {
        let mut tampered = capture.clone();
        let text = String::from_utf8(tampered.exchanges[index].body.clone()).unwrap();
        let at = text.find("\"hashes\":[\"").expect("an inclusion proof") + "\"hashes\":[\"".len() + 10;
        let mut bytes = text.into_bytes();
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        tampered.exchanges[index].body = bytes;
        let after = report(&tampered);
        let btl = after.factor(Factor::BuildTransparencyLog).unwrap();
        assert_eq!(btl.status, Status::Fail, "{}", capture.exchanges[index].file_stem);
        assert!(btl.enforced);
        assert!(btl.detail.contains("inclusion proof"), "{}", btl.detail);
        assert!(after.is_blocked());
        // The presence lookup does not read entries.
        assert_eq!(after.factor(Factor::SigstoreVerification).unwrap().status, Status::Pass);
    }
}

#[test]
fn flipped_set_or_body_byte_fails_build_transparency_log() {
    let Some(dir) =
        replayable_captures().into_iter().find(|d| d.ends_with("venice_e2ee-qwen3-5-122b-a10b_20260424_015841"))
    else {
        return;
    };
    let capture = load(&dir);
    let index = capture
        .exchanges
        .iter()
        .position(|x| x.meta.url.ends_with("/api/v1/log/entries/retrieve"))
        .expect("an entry fetch");
    for (key, expected) in
        [("\"signedEntryTimestamp\":\"", "SET"), ("\"checkpoint\":\"", "checkpoint"), ("\"logIndex\":", "SET")]
    {
        let mut tampered = capture.clone();
        let text = String::from_utf8(tampered.exchanges[index].body.clone()).unwrap();
        let at = text.find(key).unwrap() + key.len() + 3;
        let mut bytes = text.into_bytes();
        bytes[at] = if bytes[at] == b'2' { b'3' } else { b'2' };
        tampered.exchanges[index].body = bytes;
        let btl = report(&tampered).factor(Factor::BuildTransparencyLog).unwrap().clone();
        assert_eq!(btl.status, Status::Fail, "{key}");
        assert!(btl.detail.contains(expected), "{key}: {}", btl.detail);
    }
}
