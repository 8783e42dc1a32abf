//! Verdicts of NVIDIA NRAS and Proof of Cloud: `nvidia_nras_verified`, `cpu_id_registry`,
//! `gateway_cpu_id_registry`, from the stored answers (so independent of arrival order).

use std::collections::BTreeMap;

use super::followups::{Followups, Purpose, Side};
use super::verdicts::VerdictInputs;
use crate::attestation::nras;
use crate::attestation::poc::{self, PocKey, PocStage, QuoteSide};
use crate::attestation::tdx::Quote;
use crate::fetch::{FetchError, FetchResult};
use crate::report::{Factor, Verdict};

/// Inserts this module's verdicts; factors it leaves out keep their parsing-only verdict.
/// `gateway_cpu_id_registry` is inserted only when the attestation has a gateway part.
pub(super) fn compute(i: &VerdictInputs<'_>, out: &mut BTreeMap<Factor, Verdict>) {
    out.insert(Factor::NvidiaNrasVerified, nras_verdict(i));
    let key = i.trust.proof_of_cloud();
    out.insert(Factor::CpuIdRegistry, poc_verdict(i, Side::Model, key));
    if i.raw.gateway.is_some() {
        out.insert(
            Factor::GatewayCpuIdRegistry,
            poc_verdict(i, Side::Gateway, key),
        );
    }
}

fn nras_verdict(i: &VerdictInputs<'_>) -> Verdict {
    let Some(attest) = i.followups.answers.get(&Purpose::NrasAttest) else {
        return nras::not_applicable_verdict();
    };
    let missing: FetchResult = Err(FetchError::Transport("JWKS not fetched".into()));
    let jwks = i
        .followups
        .answers
        .get(&Purpose::NrasJwks)
        .unwrap_or(&missing);
    let submitted = nras::submitted_nonce(i.raw);
    nras::verdict(&nras::verify(
        attest,
        jwks,
        submitted.as_deref(),
        i.now_secs,
    ))
}

fn poc_verdict(i: &VerdictInputs<'_>, side: Side, key: &PocKey) -> Verdict {
    let (quote_hex, quote, quote_side, device_id) = match side {
        Side::Model => (
            i.raw.intel_quote.as_str(),
            i.model,
            QuoteSide::Model,
            i.raw.device_id.as_str(),
        ),
        Side::Gateway => {
            let hex = i
                .raw
                .gateway
                .as_ref()
                .map_or("", |g| g.intel_quote.as_str());
            (hex, i.gateway, QuoteSide::Gateway, "")
        }
    };
    let outcome = poc::evaluate(
        quote_hex,
        |stage| answer(i.followups, side, stage),
        key,
        i.now_secs,
    );
    let ppid = quote.and_then(ppid_hex);
    poc::verdict(&outcome, quote_side, ppid.as_deref(), device_id)
}

/// A stored Proof of Cloud answer. Answers to cancelled fetches are kept: cancellation only
/// follows a 403, which decides the verdict whatever the other answers say.
fn answer(followups: &Followups, side: Side, stage: PocStage) -> Option<&FetchResult> {
    let purpose = match stage {
        PocStage::One(n) => Purpose::PocStage1(side, n),
        PocStage::Two(n) => Purpose::PocStage2(side, n),
    };
    followups.answers.get(&purpose)
}

fn ppid_hex(quote: &Quote) -> Option<String> {
    quote.pck_leaf().ok().map(|leaf| leaf.ppid_hex())
}
