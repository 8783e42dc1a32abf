//! `teep demo` from a fresh build: offline, keyless, exit 0, on each runtime, and what it says
//! it verified is what it verified.

use std::process::Command;

use proto_core::report::{Factor, Status};
use runtime_tokio::demo::{DEMO_PROVIDERS, DemoRuntime, run};

#[test]
fn teep_demo_runs_offline_and_exits_zero_on_every_runtime() {
    for runtime in ["blocking", "smol", "tokio"] {
        let out = Command::new(env!("CARGO_BIN_EXE_teep")).args(["demo", "--runtime", runtime]).env_remove("TEEP_CONFIG").output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{runtime}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        for provider in DEMO_PROVIDERS {
            assert!(stdout.contains(&format!("== {provider} /")), "{runtime}: {stdout}");
        }
        assert_eq!(stdout.matches("reply:       Hello from inside the simulated enclave.").count(), 8, "{stdout}");
        assert_eq!(stdout.matches("attestation: cached").count(), 4, "{stdout}");
        assert_eq!(stdout.matches("attestations for 2 prompts: 1").count(), 4, "{stdout}");
        assert!(stdout.contains("TLS pinned:"), "{stdout}");
        assert!(stdout.contains("All 4 providers verified"), "{stdout}");
    }
}

#[test]
fn the_demo_binds_each_prompt_to_what_attestation_bound() {
    let mut sink = Vec::new();
    let runs = run(DemoRuntime::Blocking, &mut sink).expect("demo runs");
    assert_eq!(runs.len(), DEMO_PROVIDERS.len());
    for r in &runs {
        let report = r.clearance.report();
        assert!(!report.is_blocked(), "{}", r.provider);
        let passed = |f: Factor| report.factor(f).is_some_and(|x| x.status == Status::Pass);
        // The enclave key the prompt was sealed to is one REPORTDATA bound, on a quote that
        // chains to the (simulated) Intel root, with GPUs verified.
        for f in [Factor::TeeCertChain, Factor::TeeQuoteSignature, Factor::TeeReportdataBinding, Factor::E2eeCapable, Factor::NvidiaSignature] {
            assert!(passed(f), "{}: {f}", r.provider);
        }
        assert!(r.clearance.enclave_key().is_some(), "{}", r.provider);
        let pinned = matches!(r.provider, proto_core::provider::ProviderKind::NearDirect | proto_core::provider::ProviderKind::NearCloud);
        assert_eq!(r.clearance.tls_spki().is_some(), pinned, "{}", r.provider);
        assert_eq!(r.replies.len(), 2, "{}", r.provider);
        for reply in &r.replies {
            assert!(reply.starts_with("Hello from inside the simulated enclave."), "{}: {reply}", r.provider);
        }
        assert_eq!(r.fresh, [true, false], "{}: the second prompt reuses the attestation", r.provider);
        assert_eq!(r.attestations, 1, "{}", r.provider);
    }
}
