//! The verification factors: names, tiers, order.

use std::fmt;

/// A report tier. Factors are printed grouped by tier, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Tier 1: the quote itself and its measurements.
    Core = 1,
    /// Tier 2: bindings (REPORTDATA, keys, GPU evidence, collateral).
    Binding = 2,
    /// Tier 3: supply chain and channel integrity.
    SupplyChain = 3,
    /// Tier 4: the gateway's own attestation (nearcloud).
    Gateway = 4,
}

impl Tier {
    /// The heading printed above the tier's factors.
    pub fn label(self) -> &'static str {
        match self {
            Tier::Core => "Tier 1: Core Attestation",
            Tier::Binding => "Tier 2: Binding & Crypto",
            Tier::SupplyChain => "Tier 3: Supply Chain & Channel Integrity",
            Tier::Gateway => "Tier 4: Gateway Attestation",
        }
    }

    /// The tier number.
    pub fn number(self) -> u8 {
        self as u8
    }
}

macro_rules! factors {
    ($( $variant:ident => $name:literal, $seed:literal, $tier:ident; )*) => {
        /// One verification factor. Names are the hardware-neutral `tee_*` spelling; the
        /// reference verifier's older `tdx_*` spelling is accepted when parsing.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Factor {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Factor {
            /// Every factor, in report order (the gateway tier last).
            pub const ALL: &'static [Factor] = &[$(Factor::$variant),*];

            /// The factor's name.
            pub fn name(self) -> &'static str {
                match self { $(Factor::$variant => $name),* }
            }

            /// The name the reference verifier's seed-era reports use.
            pub fn seed_name(self) -> &'static str {
                match self { $(Factor::$variant => $seed),* }
            }

            /// The factor's tier.
            pub fn tier(self) -> Tier {
                match self { $(Factor::$variant => Tier::$tier),* }
            }

            /// Parses a current or seed-era name.
            pub fn from_name(name: &str) -> Option<Factor> {
                Factor::ALL.iter().copied().find(|f| f.name() == name || f.seed_name() == name)
            }
        }
    };
}

factors! {
    NonceMatch => "nonce_match", "nonce_match", Core;
    TeeQuotePresent => "tee_quote_present", "tdx_quote_present", Core;
    TeeQuoteStructure => "tee_quote_structure", "tdx_quote_structure", Core;
    TeeCertChain => "tee_cert_chain", "tdx_cert_chain", Core;
    TeeQuoteSignature => "tee_quote_signature", "tdx_quote_signature", Core;
    TeeDebugDisabled => "tee_debug_disabled", "tdx_debug_disabled", Core;
    TeeMeasurement => "tee_measurement", "tdx_mrseam_mrtd", Core;
    TeeHardwareConfig => "tee_hardware_config", "tdx_hardware_config", Core;
    TeeBootConfig => "tee_boot_config", "tdx_boot_config", Core;
    SigningKeyPresent => "signing_key_present", "signing_key_present", Core;
    TeeReportdataBinding => "tee_reportdata_binding", "tdx_reportdata_binding", Binding;
    IntelPcsCollateral => "intel_pcs_collateral", "intel_pcs_collateral", Binding;
    TeeTcbCurrent => "tee_tcb_current", "tdx_tcb_current", Binding;
    TeeTcbNotRevoked => "tee_tcb_not_revoked", "tdx_tcb_not_revoked", Binding;
    NvidiaPayloadPresent => "nvidia_payload_present", "nvidia_payload_present", Binding;
    NvidiaSignature => "nvidia_signature", "nvidia_signature", Binding;
    NvidiaClaims => "nvidia_claims", "nvidia_claims", Binding;
    NvidiaNonceClientBound => "nvidia_nonce_client_bound", "nvidia_nonce_client_bound", Binding;
    NvidiaNrasVerified => "nvidia_nras_verified", "nvidia_nras_verified", Binding;
    E2eeCapable => "e2ee_capable", "e2ee_capable", Binding;
    E2eeUsable => "e2ee_usable", "e2ee_usable", Binding;
    TlsKeyBinding => "tls_key_binding", "tls_key_binding", SupplyChain;
    CpuGpuChain => "cpu_gpu_chain", "cpu_gpu_chain", SupplyChain;
    MeasuredModelWeights => "measured_model_weights", "measured_model_weights", SupplyChain;
    BuildTransparencyLog => "build_transparency_log", "build_transparency_log", SupplyChain;
    CpuIdRegistry => "cpu_id_registry", "cpu_id_registry", SupplyChain;
    ComposeBinding => "compose_binding", "compose_binding", SupplyChain;
    SigstoreVerification => "sigstore_verification", "sigstore_verification", SupplyChain;
    EventLogIntegrity => "event_log_integrity", "event_log_integrity", SupplyChain;
    GatewayNonceMatch => "gateway_nonce_match", "gateway_nonce_match", Gateway;
    GatewayTeeQuotePresent => "gateway_tee_quote_present", "gateway_tdx_quote_present", Gateway;
    GatewayTeeQuoteStructure => "gateway_tee_quote_structure", "gateway_tdx_quote_structure", Gateway;
    GatewayTeeCertChain => "gateway_tee_cert_chain", "gateway_tdx_cert_chain", Gateway;
    GatewayTeeQuoteSignature => "gateway_tee_quote_signature", "gateway_tdx_quote_signature", Gateway;
    GatewayTeeDebugDisabled => "gateway_tee_debug_disabled", "gateway_tdx_debug_disabled", Gateway;
    GatewayTeeMeasurement => "gateway_tee_measurement", "gateway_tdx_mrseam_mrtd", Gateway;
    GatewayTeeHardwareConfig => "gateway_tee_hardware_config", "gateway_tdx_hardware_config", Gateway;
    GatewayTeeBootConfig => "gateway_tee_boot_config", "gateway_tdx_boot_config", Gateway;
    GatewayTeeReportdataBinding => "gateway_tee_reportdata_binding", "gateway_tdx_reportdata_binding", Gateway;
    GatewayComposeBinding => "gateway_compose_binding", "gateway_compose_binding", Gateway;
    GatewayCpuIdRegistry => "gateway_cpu_id_registry", "gateway_cpu_id_registry", Gateway;
    GatewayEventLogIntegrity => "gateway_event_log_integrity", "gateway_event_log_integrity", Gateway;
}

impl Factor {
    /// True for factors that need network answers (collateral, NRAS, Rekor, Proof of Cloud, the
    /// live E2EE test); `--offline` allows them to fail.
    pub fn is_online(self) -> bool {
        matches!(
            self,
            Factor::IntelPcsCollateral
                | Factor::TeeTcbCurrent
                | Factor::TeeTcbNotRevoked
                | Factor::NvidiaNrasVerified
                | Factor::E2eeUsable
                | Factor::BuildTransparencyLog
                | Factor::CpuIdRegistry
                | Factor::SigstoreVerification
                | Factor::GatewayCpuIdRegistry
        )
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_29_plus_13_factors_in_tier_order() {
        assert_eq!(Factor::ALL.len(), 42);
        assert_eq!(Factor::ALL.iter().filter(|f| f.tier() == Tier::Gateway).count(), 13);
        assert!(Factor::ALL.windows(2).all(|w| w[0].tier() <= w[1].tier()));
    }

    #[test]
    fn names_round_trip_in_both_spellings() {
        for f in Factor::ALL {
            assert_eq!(Factor::from_name(f.name()), Some(*f));
            assert_eq!(Factor::from_name(f.seed_name()), Some(*f));
        }
        assert_eq!(Factor::from_name("tdx_mrseam_mrtd"), Some(Factor::TeeMeasurement));
        assert_eq!(Factor::from_name("no_such_factor"), None);
    }
}
