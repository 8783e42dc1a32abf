//! What each factor checks, in one line, and the README's factor table generated from it (a
//! test keeps the README equal to [`factor_table_markdown`]).

use super::{AllowFail, Factor};
use crate::provider::ProviderKind;

impl Factor {
    /// One line saying what a Pass of this factor means in this implementation.
    pub fn checks(self) -> &'static str {
        use Factor as F;
        match self {
            F::NonceMatch => "the attestation echoes the 32-byte nonce we chose (constant-time)",
            F::TeeQuotePresent => "a TDX quote is present",
            F::TeeQuoteStructure => "the quote parses as a TDX v4/v5 quote with certification data",
            F::TeeCertChain => "the PCK certificate chain leads to the pinned Intel SGX root, at the verification time",
            F::TeeQuoteSignature => "QE report signed by the PCK key, attestation key bound to it, quote signed by the attestation key",
            F::TeeDebugDisabled => "the TD's debug attribute is off",
            F::TeeMeasurement => "MRTD and MRSEAM are in the provider's allow-lists",
            F::TeeHardwareConfig => "RTMR0 (virtual hardware) is in the allow-list",
            F::TeeBootConfig => "RTMR1 and RTMR2 (kernel, command line, initrd) are in the allow-lists",
            F::SigningKeyPresent => "the attestation names the enclave's signing / E2EE key",
            F::TeeReportdataBinding => "REPORTDATA binds our nonce and the enclave key (or TLS key) by the provider's rule",
            F::IntelPcsCollateral => "Intel PCS TCB info, QE identity and CRLs are signed by Intel and in their validity window",
            F::TeeTcbCurrent => "the platform and QE TCB levels are UpToDate",
            F::TeeTcbNotRevoked => "neither the PCK certificate nor its TCB level is revoked",
            F::NvidiaPayloadPresent => "NVIDIA GPU evidence is present",
            F::NvidiaSignature => "every GPU's certificate chain to the pinned NVIDIA root and its SPDM measurement signature",
            F::NvidiaClaims => "the GPU evidence's claims (nonce) are the expected ones",
            F::NvidiaNonceClientBound => "the GPU evidence is bound to our nonce",
            F::NvidiaNrasVerified => "NVIDIA's NRAS token (ES384, pinned-clock validity) says the GPUs attest",
            F::E2eeCapable => "the enclave key is a valid key for the provider's E2EE scheme",
            F::E2eeUsable => "an end-to-end encrypted request to the attested key succeeded",
            F::TlsKeyBinding => "the TLS certificate's SPKI is bound into the attestation",
            F::CpuGpuChain => "the GPU evidence is bound into the CPU quote (no provider does this yet)",
            F::MeasuredModelWeights => "the model weights are measured (no provider does this yet)",
            F::BuildTransparencyLog => "the images' Rekor entries verify (signed entry timestamp, inclusion proof) with provenance",
            F::CpuIdRegistry => "Proof of Cloud: the CPU is registered with a cloud operator",
            F::ComposeBinding => "the app compose file hashes to the quote's MRCONFIGID",
            F::SigstoreVerification => "every image digest in the compose file has a Rekor entry",
            F::EventLogIntegrity => "replaying the event log reproduces RTMR0..3",
            F::GatewayNonceMatch => "the gateway's attestation echoes our nonce",
            F::GatewayTeeQuotePresent => "the gateway's TDX quote is present",
            F::GatewayTeeQuoteStructure => "the gateway's quote parses",
            F::GatewayTeeCertChain => "the gateway's PCK chain leads to the pinned Intel root",
            F::GatewayTeeQuoteSignature => "the gateway's quote signatures verify",
            F::GatewayTeeDebugDisabled => "the gateway TD's debug attribute is off",
            F::GatewayTeeMeasurement => "the gateway's MRTD and MRSEAM are in its allow-lists",
            F::GatewayTeeHardwareConfig => "the gateway's RTMR0 is in its allow-list",
            F::GatewayTeeBootConfig => "the gateway's RTMR1 and RTMR2 are in its allow-lists",
            F::GatewayTeeReportdataBinding => "the gateway's REPORTDATA binds our nonce and its TLS key",
            F::GatewayComposeBinding => "the gateway's compose file hashes to its MRCONFIGID",
            F::GatewayCpuIdRegistry => "Proof of Cloud for the gateway's CPU",
            F::GatewayEventLogIntegrity => "the gateway's event log reproduces its RTMRs",
        }
    }
}

/// The README's factor table (Markdown): every factor with its tier, what it checks, and its
/// default enforcement per provider (E enforced, A allowed to fail, - not reported).
pub fn factor_table_markdown() -> String {
    let mut out = String::from("| factor | tier | checks |");
    for p in ProviderKind::ALL {
        out.push_str(&format!(" {} |", p.name()));
    }
    out.push_str("\n|---|---|---|");
    out.push_str(&"---|".repeat(ProviderKind::ALL.len()));
    out.push('\n');
    for &factor in Factor::ALL {
        out.push_str(&format!("| `{}` | {} | {} |", factor.name(), factor.tier().number(), factor.checks()));
        for p in ProviderKind::ALL {
            let reported = factor.tier() != super::Tier::Gateway || p == ProviderKind::NearCloud;
            let cell = match (reported, AllowFail::provider_default(p).contains(factor)) {
                (false, _) => "-",
                (true, true) => "A",
                (true, false) => "E",
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out
}
