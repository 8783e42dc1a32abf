//! Verdicts of NVIDIA GPU evidence: `nvidia_signature`, `nvidia_claims`, `nvidia_nonce_client_bound`
//! (factors.md rows 16–18).
//!
//! Two layouts:
//!
//! * **EAT** (`nvidia_payload`, dstack and NEAR providers). Every GPU's chain and SPDM signature
//!   is checked, and its requester nonce must be the client nonce, whatever the EAT's top-level
//!   nonce says. Unlike the reference, a top-level nonce mismatch does not skip the signature
//!   checks (so `nvidia_signature` can no longer pass unchecked), and an EAT that does not parse
//!   fails all three factors instead of passing `nvidia_claims`.
//! * **Chutes evidence** (`gpu_evidence`). The GPUs sign REPORTDATA\[0:32\] of the TDX quote as
//!   their requester nonce (for Chutes, SHA-256 of the client nonce hex and the E2EE key). The
//!   evidence is checked against that value, and counts as bound only when the provider's
//!   REPORTDATA rule passes for this quote and client nonce, so a pass means the GPUs answered
//!   for the same instance key and session. The reference checks against the server nonce
//!   instead and always fails (documented deviation for chutes).
//!
//! | factor | EAT | Chutes evidence |
//! |---|---|---|
//! | `nvidia_signature` | all GPUs verified, requester nonce = client nonce | all GPUs verified, requester nonce = REPORTDATA\[0:32\], REPORTDATA binding passed |
//! | `nvidia_claims` | EAT nonce = client nonce | every requester nonce = REPORTDATA\[0:32\] |
//! | `nvidia_nonce_client_bound` | EAT nonce and every requester nonce = client nonce | every requester nonce = REPORTDATA\[0:32\] and REPORTDATA binding passed |
//!
//! Without an EAT and without GPU evidence all three Skip (as the reference).

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;

use super::verdicts::VerdictInputs;
use crate::attestation::binding_verdicts as bind;
use crate::attestation::nvidia::{self, Eat, GpuResult, MAX_GPUS, NvidiaAnchor};
use crate::attestation::raw::GpuEvidence;
use crate::report::{Factor, Status, Verdict};

/// Inserts this module's verdicts; factors it leaves out keep their parsing-only verdict.
pub(super) fn compute(i: &VerdictInputs<'_>, out: &mut BTreeMap<Factor, Verdict>) {
    let anchor = i.trust.nvidia();
    let verdicts = if !i.raw.nvidia_payload.is_empty() {
        eat_verdicts(&i.raw.nvidia_payload, &i.nonce, anchor, i.now_secs)
    } else if !i.raw.gpu_evidence.is_empty() {
        let binding = bind::reportdata_verdict(i.provider, i.raw, i.model, &i.nonce);
        let report_data = i.model.map(|q| q.body().report_data);
        spdm_verdicts(&i.raw.gpu_evidence, report_data.as_ref(), &binding, anchor, i.now_secs)
    } else {
        GpuVerdicts::nothing()
    };
    out.insert(Factor::NvidiaSignature, verdicts.signature);
    out.insert(Factor::NvidiaClaims, verdicts.claims);
    out.insert(Factor::NvidiaNonceClientBound, verdicts.nonce_bound);
}

/// The three verdicts of this module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GpuVerdicts {
    pub(crate) signature: Verdict,
    pub(crate) claims: Verdict,
    pub(crate) nonce_bound: Verdict,
}

impl GpuVerdicts {
    fn nothing() -> Self {
        GpuVerdicts {
            signature: Verdict::skip("no NVIDIA payload to verify"),
            claims: Verdict::skip("no NVIDIA payload to check"),
            nonce_bound: Verdict::skip("no NVIDIA payload; nonce not checked"),
        }
    }

    fn all_fail(why: &str) -> Self {
        GpuVerdicts {
            signature: Verdict::fail(format!("signature invalid: {why}")),
            claims: Verdict::fail(format!("claims not checked: {why}")),
            nonce_bound: Verdict::fail(format!("nonce not bound: {why}")),
        }
    }
}

/// Verdicts of an EAT payload against the client nonce.
pub(crate) fn eat_verdicts(payload: &str, nonce: &[u8; 32], anchor: &NvidiaAnchor, now_secs: u64) -> GpuVerdicts {
    let eat = match Eat::parse(payload) {
        Ok(eat) => eat,
        Err(e) => return GpuVerdicts::all_fail(&e.to_string()),
    };
    let results = nvidia::verify_gpus(&eat.evidence_list, anchor, now_secs);
    let n = results.len();
    let arch = short(shown(&eat.arch));
    let client_hex = hex::encode(nonce);
    let top_ok = eat.nonce.len() == client_hex.len() && bool::from(eat.nonce.as_bytes().ct_eq(client_hex.as_bytes()));
    let top_mismatch = || format!("EAT nonce mismatch: got {:?}, want {:?}", short(&eat.nonce), short(&client_hex));

    let signature = match nvidia::check_all(&results, nonce) {
        None => Verdict::pass(format!(
            "EAT: {n} GPUs ({arch}): cert chains to the pinned NVIDIA root and SPDM ECDSA P-384 signatures verified, \
             requester nonce = client nonce"
        )),
        Some((gpu, why)) => Verdict::fail(format!("signature invalid: GPU {gpu} verification failed: {why}")),
    };
    let claims = if top_ok {
        Verdict::pass(format!("EAT: arch={arch}, {n} GPUs, nonce verified"))
    } else {
        Verdict::fail(format!("claims invalid: {}", top_mismatch()))
    };
    let nonce_bound = match (top_ok, nvidia::nonces_all_equal(&results, nonce)) {
        (false, _) => Verdict::fail(format!("NVIDIA nonce not bound: {}", top_mismatch())),
        (true, Some((gpu, why))) => Verdict::fail(format!("EAT nonce matches client nonce, but GPU {gpu}: {why}")),
        (true, None) => {
            Verdict::pass(format!("EAT nonce and the SPDM requester nonces of all {n} GPUs match the client nonce"))
        }
    };
    GpuVerdicts { signature, claims, nonce_bound }
}

/// Verdicts of Chutes-layout evidence against REPORTDATA\[0:32\] of the model quote, counted as
/// bound only when `binding` (the provider's REPORTDATA verdict for this quote and client
/// nonce) passed.
pub(crate) fn spdm_verdicts(
    list: &[GpuEvidence],
    report_data: Option<&[u8; 64]>,
    binding: &Verdict,
    anchor: &NvidiaAnchor,
    now_secs: u64,
) -> GpuVerdicts {
    if list.len() > MAX_GPUS {
        return GpuVerdicts::all_fail(&format!("{} GPU evidence entries, limit {MAX_GPUS}", list.len()));
    }
    let Some(report_data) = report_data else {
        return GpuVerdicts::all_fail(
            "no parseable TDX quote, so REPORTDATA[0:32] (the nonce the GPUs sign) is unknown",
        );
    };
    let mut expected = [0u8; 32];
    expected.copy_from_slice(&report_data[..32]);
    let results: Vec<GpuResult> = nvidia::verify_gpus(list, anchor, now_secs);
    let n = results.len();
    let arch = short(shown(list.first().map_or("", |g| g.arch.as_str())));
    let bound = binding.status == Status::Pass;
    let unbound = || format!("REPORTDATA binding failed ({})", binding.detail);

    let signature = match (nvidia::check_all(&results, &expected), bound) {
        (Some((gpu, why)), _) => Verdict::fail(format!(
            "signature invalid: GPU {gpu} verification failed: {why} (expected REPORTDATA[0:32])"
        )),
        (None, false) => Verdict::fail(format!(
            "{n} GPU cert chains and SPDM signatures verify over requester nonce REPORTDATA[0:32], but {}: \
             the evidence is not bound to this session",
            unbound()
        )),
        (None, true) => Verdict::pass(format!(
            "SPDM: {n} GPUs ({arch}): cert chains to the pinned NVIDIA root and SPDM ECDSA P-384 signatures verified; \
             requester nonce = REPORTDATA[0:32], REPORTDATA binding verified"
        )),
    };
    let nonces = nvidia::nonces_all_equal(&results, &expected);
    let claims = match &nonces {
        None => Verdict::pass(format!("SPDM: arch={arch}, {n} GPUs, requester nonces equal REPORTDATA[0:32]")),
        Some((gpu, why)) => Verdict::fail(format!("claims invalid: GPU {gpu}: {why} (REPORTDATA[0:32])")),
    };
    let nonce_bound = match (&nonces, bound) {
        (Some((gpu, why)), _) => Verdict::fail(format!("NVIDIA nonce not bound: GPU {gpu}: {why} (REPORTDATA[0:32])")),
        (None, false) => Verdict::fail(format!("GPU requester nonces equal REPORTDATA[0:32], but {}", unbound())),
        (None, true) => Verdict::pass(format!(
            "GPU requester nonces ({n} GPUs) equal REPORTDATA[0:32], which binds the client nonce (REPORTDATA binding verified)"
        )),
    };
    GpuVerdicts { signature, claims, nonce_bound }
}

/// `s`, or a placeholder when empty (for details).
fn shown(s: &str) -> &str {
    if s.is_empty() { "arch not reported" } else { s }
}

/// At most the first 16 characters of `s`, with `...` when cut (untrusted text in details).
fn short(s: &str) -> String {
    if s.chars().count() <= 16 { s.to_owned() } else { format!("{}...", s.chars().take(16).collect::<String>()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::nvidia::testutil::{NOW, eat_json, make_chain, sample_chain};

    const NONCE: [u8; 32] = [0x42; 32];
    const OTHER: [u8; 32] = [0x24; 32];

    fn status(v: &GpuVerdicts) -> [Status; 3] {
        [v.signature.status, v.claims.status, v.nonce_bound.status]
    }

    fn report_data(first: &[u8; 32]) -> [u8; 64] {
        let mut rd = [0x77u8; 64];
        rd[..32].copy_from_slice(first);
        rd
    }

    #[test]
    fn a_good_eat_passes_all_three() {
        let v = eat_verdicts(&eat_json(&hex::encode(NONCE), &NONCE, 3), &NONCE, &sample_chain().anchor, NOW);
        assert_eq!(status(&v), [Status::Pass; 3], "{v:?}");
        assert!(v.signature.detail.contains("3 GPUs (HOPPER)"), "{}", v.signature.detail);
    }

    #[test]
    fn an_eat_nonce_mismatch_still_checks_signatures() {
        let anchor = &sample_chain().anchor;
        // Stale EAT: both the top-level and the signed nonces are someone else's.
        let stale = eat_verdicts(&eat_json(&hex::encode(OTHER), &OTHER, 2), &NONCE, anchor, NOW);
        assert_eq!(status(&stale), [Status::Fail; 3], "{stale:?}");
        assert!(stale.signature.detail.contains("GPU 0") && stale.signature.detail.contains("nonce"));
        // Top-level nonce ours, GPUs signed another: claims pass, the rest fail.
        let spliced = eat_verdicts(&eat_json(&hex::encode(NONCE), &OTHER, 2), &NONCE, anchor, NOW);
        assert_eq!(status(&spliced), [Status::Fail, Status::Pass, Status::Fail], "{spliced:?}");
        // Top-level nonce wrong, GPUs signed ours: signature passes on its own merits.
        let top = eat_verdicts(&eat_json(&hex::encode(OTHER), &NONCE, 2), &NONCE, anchor, NOW);
        assert_eq!(status(&top), [Status::Pass, Status::Fail, Status::Fail], "{top:?}");
        // Unknown root (the reference would pass nvidia_signature on a nonce mismatch).
        let foreign = eat_verdicts(&eat_json(&hex::encode(OTHER), &NONCE, 1), &NONCE, &NvidiaAnchor::nvidia(), NOW);
        assert_eq!(foreign.signature.status, Status::Fail);
        assert!(foreign.signature.detail.contains("pinned NVIDIA root"), "{}", foreign.signature.detail);
    }

    #[test]
    fn an_unparseable_eat_fails_all_three() {
        for payload in ["not json", "{", r#"{"nonce":"x","evidence_list":[]}"#] {
            let v = eat_verdicts(payload, &NONCE, &sample_chain().anchor, NOW);
            assert_eq!(status(&v), [Status::Fail; 3], "{payload}: {v:?}");
        }
    }

    #[test]
    fn an_eat_checked_after_the_chain_expired_fails() {
        let v = eat_verdicts(&eat_json(&hex::encode(NONCE), &NONCE, 1), &NONCE, &sample_chain().anchor, 4_000_000_000);
        assert_eq!(status(&v), [Status::Fail, Status::Pass, Status::Pass]);
        assert!(v.signature.detail.contains("expired"), "{}", v.signature.detail);
    }

    #[test]
    fn chutes_evidence_is_bound_through_reportdata() {
        let c = sample_chain();
        let expected = [0x5Au8; 32];
        let list = vec![c.evidence(&expected), c.evidence(&expected)];
        let rd = report_data(&expected);
        let passed = Verdict::pass("REPORTDATA binds");
        let v = spdm_verdicts(&list, Some(&rd), &passed, &c.anchor, NOW);
        assert_eq!(status(&v), [Status::Pass; 3], "{v:?}");

        // Same evidence, REPORTDATA rule failed: verified but not bound.
        let failed = Verdict::fail("no REPORTDATA verifier");
        let v = spdm_verdicts(&list, Some(&rd), &failed, &c.anchor, NOW);
        assert_eq!(status(&v), [Status::Fail, Status::Pass, Status::Fail], "{v:?}");
        assert!(v.signature.detail.contains("not bound") && v.nonce_bound.detail.contains("no REPORTDATA verifier"));

        // GPUs signed something other than REPORTDATA[0:32] (e.g. the raw nonce).
        let v = spdm_verdicts(&list, Some(&report_data(&NONCE)), &passed, &c.anchor, NOW);
        assert_eq!(status(&v), [Status::Fail; 3], "{v:?}");

        // No quote: nothing to bind to.
        let v = spdm_verdicts(&list, None, &passed, &c.anchor, NOW);
        assert_eq!(status(&v), [Status::Fail; 3]);

        // A GPU from another (untrusted) chain.
        let other = make_chain(&Default::default());
        let mixed = vec![list[0].clone(), other.evidence(&expected)];
        let v = spdm_verdicts(&mixed, Some(&rd), &passed, &c.anchor, NOW);
        assert_eq!(status(&v), [Status::Fail, Status::Pass, Status::Pass], "{v:?}");
        assert!(v.signature.detail.starts_with("signature invalid: GPU 1"), "{}", v.signature.detail);

        // Too many entries.
        let many = vec![list[0].clone(); MAX_GPUS + 1];
        assert_eq!(status(&spdm_verdicts(&many, Some(&rd), &passed, &c.anchor, NOW)), [Status::Fail; 3]);
    }

    #[test]
    fn details_truncate_untrusted_text() {
        assert_eq!(short("0123456789abcdef"), "0123456789abcdef");
        assert_eq!(short("0123456789abcdefX"), "0123456789abcdef...");
        assert_eq!(shown(""), "arch not reported");
    }
}
