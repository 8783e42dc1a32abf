//! Which factors may fail without blocking.

use std::collections::BTreeSet;

use super::Factor;
use crate::provider::ProviderKind;

/// A factor name that is not in the table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown factor {0:?} in allow_fail")]
pub struct UnknownFactor(pub String);

/// The set of factors allowed to fail. Every other factor is enforced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowFail(BTreeSet<Factor>);

use Factor as F;

/// Allowed by default for venice, nanogpt and phalacloud.
const GLOBAL_DEFAULT: &[Factor] = &[
    F::TeeQuotePresent,
    F::TeeQuoteStructure,
    F::TeeHardwareConfig,
    F::TeeBootConfig,
    F::IntelPcsCollateral,
    F::TeeTcbCurrent,
    F::NvidiaPayloadPresent,
    F::NvidiaClaims,
    F::NvidiaNrasVerified,
    F::E2eeCapable,
    F::E2eeUsable,
    F::TlsKeyBinding,
    F::CpuGpuChain,
    F::MeasuredModelWeights,
    F::CpuIdRegistry,
    F::GatewayTeeQuotePresent,
    F::GatewayTeeQuoteStructure,
    F::GatewayTeeHardwareConfig,
    F::GatewayTeeBootConfig,
    F::GatewayTeeReportdataBinding,
    F::GatewayCpuIdRegistry,
];

const NEARDIRECT_DEFAULT: &[Factor] =
    &[F::TeeHardwareConfig, F::TeeBootConfig, F::CpuGpuChain, F::MeasuredModelWeights, F::CpuIdRegistry];

const NEARCLOUD_EXTRA: &[Factor] = &[
    F::GatewayTeeHardwareConfig,
    F::GatewayTeeBootConfig,
    F::GatewayTeeReportdataBinding,
    F::GatewayCpuIdRegistry,
];

const CHUTES_DEFAULT: &[Factor] = &[
    F::TeeHardwareConfig,
    F::TeeBootConfig,
    F::NvidiaSignature,
    F::NvidiaNrasVerified,
    F::TlsKeyBinding,
    F::CpuGpuChain,
    F::MeasuredModelWeights,
    F::BuildTransparencyLog,
    F::CpuIdRegistry,
    F::ComposeBinding,
    F::SigstoreVerification,
    F::EventLogIntegrity,
];

impl AllowFail {
    /// The default list for a provider (the reference verifier's defaults).
    pub fn provider_default(provider: ProviderKind) -> Self {
        let list: Vec<Factor> = match provider {
            ProviderKind::Venice | ProviderKind::NanoGpt | ProviderKind::PhalaCloud => GLOBAL_DEFAULT.to_vec(),
            ProviderKind::NearDirect => NEARDIRECT_DEFAULT.to_vec(),
            ProviderKind::NearCloud => NEARDIRECT_DEFAULT.iter().chain(NEARCLOUD_EXTRA).copied().collect(),
            ProviderKind::Chutes => CHUTES_DEFAULT.to_vec(),
        };
        AllowFail(list.into_iter().collect())
    }

    /// A list given by name (either spelling). An empty list enforces everything.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, UnknownFactor> {
        names
            .iter()
            .map(|n| Factor::from_name(n.as_ref()).ok_or_else(|| UnknownFactor(n.as_ref().to_owned())))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(AllowFail)
    }

    /// This list plus every online factor (used when running offline).
    pub fn with_online_factors(mut self) -> Self {
        self.0.extend(Factor::ALL.iter().copied().filter(|f| f.is_online()));
        self
    }

    /// True if `factor` may fail without blocking.
    pub fn contains(&self, factor: Factor) -> bool {
        self.0.contains(&factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_reference_lists() {
        assert_eq!(AllowFail::provider_default(ProviderKind::Venice).0.len(), 21);
        assert_eq!(AllowFail::provider_default(ProviderKind::NearDirect).0.len(), 5);
        assert_eq!(AllowFail::provider_default(ProviderKind::NearCloud).0.len(), 9);
        assert_eq!(AllowFail::provider_default(ProviderKind::Chutes).0.len(), 12);
        assert!(!AllowFail::provider_default(ProviderKind::Venice).contains(Factor::NonceMatch));
    }

    #[test]
    fn names_are_validated() {
        let list = AllowFail::from_names(&["tdx_boot_config", "cpu_gpu_chain"]).unwrap();
        assert!(list.contains(Factor::TeeBootConfig) && list.contains(Factor::CpuGpuChain));
        assert_eq!(AllowFail::from_names(&["bogus"]), Err(UnknownFactor("bogus".into())));
        let offline = AllowFail::default().with_online_factors();
        assert!(offline.contains(Factor::IntelPcsCollateral) && !offline.contains(Factor::NonceMatch));
    }
}
