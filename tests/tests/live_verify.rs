//! Live verification over real sockets: every recorded capture is served from a loopback HTTPS
//! server (one test CA naming all the capture's hosts), the attestation machine runs through
//! the fetch client on each runtime, and
//! * its report equals the replay of the original capture on every factor but the TLS key
//!   binding (the loopback server's certificate is not the provider's);
//! * its recording replays to a byte-identical JSON report;
//! * the three runtimes give byte-identical reports.

use proto_core::capture::Capture;
use proto_core::report::{Factor, Report, Status};
use proto_core::verify::{Clearance, LiveOutput, LiveVerification, replay_capture, replay_config};
use proto_core::harness::TestPki;
use teep_tests::capture_server::{capture_pki, serve_capture_with};
use teep_tests::{RUNTIMES, Runtime, run_live};

fn load(dir: &std::path::Path) -> Capture {
    runtime_blocking::capture_fs::load_capture(dir).expect("capture loads")
}

fn live_report(capture: &Capture, runtime: Runtime, pki: &TestPki) -> (Report, Capture, usize, Option<Clearance>) {
    let served = serve_capture_with(capture, pki);
    let provider = capture.manifest.provider_kind().expect("provider");
    let config = replay_config(capture).expect("config");
    let machine = LiveVerification::new(
        provider,
        &capture.manifest.model,
        capture.manifest.nonce,
        config,
        capture.manifest.verification_time(),
        served.client.clone(),
    );
    let (outputs, machine) = run_live(runtime, machine);
    let progress = outputs.iter().filter(|o| matches!(o, LiveOutput::Progress { .. })).count();
    let report = match outputs.last() {
        Some(LiveOutput::Finished(Ok(report))) => report.clone(),
        other => panic!("{}: live verification did not finish with a report: {other:?}", capture.manifest.dir_name()),
    };
    (report, machine.capture(), progress, machine.clearance().cloned())
}

#[test]
fn live_runs_against_served_captures_match_replay() {
    let captures = teep_tests::captures::replayable_captures();
    for dir in &captures {
        let capture = load(dir);
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let original = replay_capture(&capture).unwrap().report.expect("replay report");
        let (live, recorded, progress, clearance) = live_report(&capture, Runtime::Blocking, &capture_pki(&capture));
        assert!(progress >= 2, "{name}: progress is reported per answer");
        let pinned = matches!(capture.manifest.provider.as_str(), "neardirect" | "nearcloud");
        if pinned {
            // The loopback server presents its own test key, not the one the quote binds: the
            // live run notices, and never grants permission to send a prompt.
            let binding = live.factor(Factor::TlsKeyBinding).unwrap();
            assert_eq!(binding.status, Status::Fail, "{name}: {}", binding.detail);
            assert!(binding.detail.contains("presented TLS key"), "{name}: {}", binding.detail);
            assert!(live.is_blocked() && clearance.is_none(), "{name}");
        }
        for f in &original.factors {
            if f.factor == Factor::TlsKeyBinding {
                continue;
            }
            let ours = live.factor(f.factor).unwrap_or_else(|| panic!("{name}: live report lacks {}", f.factor));
            assert_eq!((ours.status, ours.enforced), (f.status, f.enforced), "{name}: {} live vs replay: {} / {}", f.factor, ours.detail, f.detail);
        }
        // Record, then replay the recording: the same report, byte for byte.
        let replayed = replay_capture(&recorded).unwrap();
        assert!(replayed.unmatched.is_empty(), "{name}: the recording lacks {:?}", replayed.unmatched);
        assert_eq!(replayed.report.expect("report").to_json(), live.to_json(), "{name}: record → replay differs");
    }
}

#[test]
fn the_three_runtimes_give_identical_live_reports() {
    let Some(dir) = teep_tests::captures::replayable_captures().into_iter().find(|d| d.to_string_lossy().contains("nearcloud")) else {
        return;
    };
    let capture = load(&dir);
    let pki = capture_pki(&capture);
    let reports: Vec<String> = RUNTIMES.iter().map(|&r| live_report(&capture, r, &pki).0.to_json()).collect();
    assert_eq!(reports[0], reports[1], "blocking vs smol");
    assert_eq!(reports[0], reports[2], "blocking vs tokio");
}
