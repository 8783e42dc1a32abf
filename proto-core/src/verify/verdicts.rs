//! The verdicts of the verifiers that need more than parsing: TDX quote signatures and PCS
//! collateral, REPORTDATA binding, measurement policy, event log and compose binding.
//!
//! Everything here is computed from the stored answers once all fetches are in, so the result
//! cannot depend on the order the answers arrived in.

use std::collections::BTreeMap;

use super::followups::{Followups, Purpose, Side};
use super::trust::TrustRoots;
use crate::attestation::binding_verdicts as bind;
use crate::attestation::policy::MeasurementPolicy;
use crate::attestation::raw::{BackendFormat, RawAttestation};
use crate::attestation::tdx::{self, Collateral, Quote};
use crate::fetch::{FetchError, FetchResult};
use crate::provider::ProviderKind;
use crate::report::{Factor, Verdict};

/// What the verdicts are computed from.
pub(super) struct VerdictInputs<'a> {
    pub(super) provider: ProviderKind,
    pub(super) raw: &'a RawAttestation,
    pub(super) model: Option<&'a Quote>,
    pub(super) model_present: bool,
    pub(super) gateway: Option<&'a Quote>,
    pub(super) nonce: [u8; 32],
    pub(super) followups: &'a Followups,
    pub(super) trust: &'a TrustRoots,
    pub(super) now_secs: u64,
    pub(super) model_policy: &'a MeasurementPolicy,
    pub(super) gateway_policy: &'a MeasurementPolicy,
}

/// Verdicts by factor; factors absent from the map are decided elsewhere.
pub(super) fn compute(i: &VerdictInputs<'_>) -> BTreeMap<Factor, Verdict> {
    let mut out = BTreeMap::new();
    tdx_verdicts(i, &mut out);
    let (measurement, hardware, boot) = bind::measurement_verdicts(i.model_policy, i.model, false);
    out.insert(Factor::TeeMeasurement, measurement);
    out.insert(Factor::TeeHardwareConfig, hardware);
    out.insert(Factor::TeeBootConfig, boot);
    out.insert(Factor::TeeReportdataBinding, bind::reportdata_verdict(i.provider, i.raw, i.model, &i.nonce));
    let chutes = i.raw.format == BackendFormat::Chutes;
    out.insert(Factor::ComposeBinding, bind::compose_verdict(&i.raw.app_compose, i.model, chutes));
    out.insert(Factor::EventLogIntegrity, bind::event_log_verdict(i.raw, i.model));
    super::gpu_verdicts::compute(i, &mut out);
    super::nras_poc_verdicts::compute(i, &mut out);
    super::supply_chain_verdicts::compute(i, &mut out);
    if i.raw.gateway.is_some() {
        let (measurement, hardware, boot) = bind::measurement_verdicts(i.gateway_policy, i.gateway, true);
        out.insert(Factor::GatewayTeeMeasurement, measurement);
        out.insert(Factor::GatewayTeeHardwareConfig, hardware);
        out.insert(Factor::GatewayTeeBootConfig, boot);
        out.insert(Factor::GatewayTeeReportdataBinding, bind::gateway_reportdata_verdict(i.raw, i.gateway, &i.nonce));
        out.insert(Factor::GatewayComposeBinding, bind::gateway_compose_verdict(i.raw, i.gateway));
        out.insert(Factor::GatewayEventLogIntegrity, bind::gateway_event_log_verdict(i.raw, i.gateway));
    }
    out
}

fn tdx_verdicts(i: &VerdictInputs<'_>, out: &mut BTreeMap<Factor, Verdict>) {
    let ((chain, signature), (collateral, current, not_revoked)) = match i.model {
        None if !i.model_present => (tdx::offline_verdicts_no_quote(), tdx::collateral_verdicts_unparsed()),
        None => (tdx::offline_verdicts_unparsed(false), tdx::collateral_verdicts_unparsed()),
        Some(q) => {
            let offline = tdx::offline_verify(q, i.trust.intel(), i.now_secs);
            let online = collateral(i.followups, Side::Model)
                .map_err(tdx::TdxVerifyError::Collateral)
                .and_then(|c| tdx::online_verify(q, &c, i.trust.intel(), i.now_secs));
            (tdx::offline_verdicts(&offline), tdx::collateral_verdicts(&online, &q.body().tee_tcb_svn))
        }
    };
    out.insert(Factor::TeeCertChain, chain);
    out.insert(Factor::TeeQuoteSignature, signature);
    out.insert(Factor::IntelPcsCollateral, collateral);
    out.insert(Factor::TeeTcbCurrent, current);
    out.insert(Factor::TeeTcbNotRevoked, not_revoked);
    if i.raw.gateway.is_some() {
        let (chain, signature) = match i.gateway {
            None => tdx::offline_verdicts_unparsed(true),
            Some(q) => tdx::gateway_offline_verdicts(&tdx::offline_verify(q, i.trust.intel(), i.now_secs)),
        };
        out.insert(Factor::GatewayTeeCertChain, chain);
        out.insert(Factor::GatewayTeeQuoteSignature, signature);
    }
}

fn collateral(followups: &Followups, side: Side) -> Result<Collateral, tdx::CollateralError> {
    let missing: FetchResult = Err(FetchError::Transport("not fetched (the quote's PCK certificate is unusable)".into()));
    let get = |p: Purpose| followups.answers.get(&p).unwrap_or(&missing);
    Collateral::from_results(
        get(Purpose::PcsTcbInfo(side)),
        get(Purpose::PcsQeIdentity(side)),
        get(Purpose::PcsPckCrl(side)),
        get(Purpose::PcsRootCrl(side)),
    )
}
