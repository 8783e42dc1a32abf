//! Permission to send a prompt comes only from an unblocked report, and carries only bindings
//! whose factor passed.

use proto_core::report::{Factor, Status};
use proto_core::verify::{replay_capture, replay_capture_with};

fn passed(report: &proto_core::report::Report, f: Factor) -> bool {
    report.factor(f).is_some_and(|r| r.status == Status::Pass)
}

#[test]
fn clearance_follows_the_report_on_every_capture() {
    for dir in teep_tests::captures::replayable_captures() {
        let capture = runtime_blocking::capture_fs::load_capture(&dir).unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = replay_capture(&capture).unwrap();
        let report = outcome.report.unwrap();
        match &outcome.clearance {
            None => assert!(report.is_blocked(), "{name}: unblocked report without clearance"),
            Some(c) => {
                assert!(!report.is_blocked(), "{name}: clearance for a blocked report");
                assert_eq!(c.report().to_json(), report.to_json());
                assert_eq!(c.model(), capture.manifest.model);
                if c.enclave_key().is_some() {
                    assert!(passed(&report, Factor::TeeReportdataBinding) && passed(&report, Factor::E2eeCapable), "{name}");
                }
                if c.tls_spki().is_some() && report.provider != "nearcloud" {
                    assert!(passed(&report, Factor::TlsKeyBinding), "{name}");
                }
            }
        }
        // Enforcing every factor blocks every capture (each has some failing factor), and then
        // there is no permission at all.
        let strict = replay_capture_with(&capture, |c| c.allow_fail = Default::default(), |_| 0).unwrap();
        assert!(strict.report.unwrap().is_blocked(), "{name}");
        assert!(strict.clearance.is_none(), "{name}: a blocked report granted clearance");
    }
}

#[test]
fn neardirect_clearance_pins_the_attested_tls_key_and_the_e2ee_key() {
    let Some(dir) = teep_tests::captures::replayable_captures().into_iter().find(|d| d.to_string_lossy().contains("neardirect")) else {
        return;
    };
    let capture = runtime_blocking::capture_fs::load_capture(&dir).unwrap();
    let outcome = replay_capture(&capture).unwrap();
    let clearance = outcome.clearance.expect("the neardirect capture verifies");
    // The reference's recordings do not keep the attestation connection's key; the pin is the
    // fingerprint the quote binds (REPORTDATA covers it).
    let spki = clearance.tls_spki().expect("neardirect binds its TLS key");
    let detail = &outcome.report.as_ref().unwrap().factor(Factor::TlsKeyBinding).unwrap().detail;
    assert!(detail.contains(&spki.to_hex()[..16]), "{detail}");
    assert_eq!(clearance.enclave_key().map(|k| k.algo.as_str()), Some("ed25519"));
}
