//! `cargo bench -p teep-tests --bench verify`: CPU time of verifying each recorded capture with
//! every answer in hand (whole report), and of its TDX part alone (offline pass + collateral
//! pass). Prints a table; it is a measurement, not a test.

use std::time::{Duration, Instant};

use proto_core::attestation::tdx::{Collateral, Quote, TrustAnchor, offline_verify, online_verify};
use proto_core::capture::Capture;
use proto_core::fetch::FetchResult;
use proto_core::verify::replay_capture;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(iterations: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm up
    median(
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

/// The model quote and the first recorded set of PCS answers.
fn tdx_inputs(capture: &Capture) -> Option<(Quote, Collateral)> {
    let text = String::from_utf8_lossy(&capture.exchanges.iter().find(|e| e.meta.url.contains("attestation"))?.body).into_owned();
    let start = text.find("\"intel_quote\":\"")? + 15;
    let quote = Quote::from_hex(&text[start..start + text[start..].find('"')?]).ok()?;
    let answer = |needle: &str| -> Option<FetchResult> {
        Some(Ok(capture.exchanges.iter().find(|e| e.meta.url.contains(needle))?.fetch_response()))
    };
    let collateral = Collateral::from_results(
        &answer("/tcb?fmspc=")?,
        &answer("/qe/identity")?,
        &answer("/pckcrl")?,
        &answer("IntelSGXRootCA")?,
    )
    .ok()?;
    Some((quote, collateral))
}

fn main() {
    let captures = teep_tests::captures::replayable_captures();
    if captures.is_empty() {
        return;
    }
    let anchor = TrustAnchor::intel();
    println!("{:<58} {:>12} {:>12} {:>12}", "capture", "whole (ms)", "TDX (ms)", "offline (ms)");
    for dir in captures {
        let capture = runtime_blocking::capture_fs::load_capture(&dir).expect("capture");
        let now = capture.manifest.verification_time().as_secs();
        let whole = time(10, || {
            let _ = replay_capture(&capture).expect("replay").report.expect("report");
        });
        let (tdx, offline) = match tdx_inputs(&capture) {
            Some((quote, collateral)) => (
                Some(time(20, || {
                    let _ = online_verify(&quote, &collateral, &anchor, now);
                })),
                Some(time(50, || {
                    let _ = offline_verify(&quote, &anchor, now);
                })),
            ),
            None => (None, None),
        };
        let ms = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2}", d.as_secs_f64() * 1e3));
        println!(
            "{:<58} {:>12} {:>12} {:>12}",
            dir.file_name().unwrap().to_string_lossy(),
            ms(Some(whole)),
            ms(tdx),
            ms(offline)
        );
    }
}
