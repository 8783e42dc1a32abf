//! Intel TDX quotes: parsing (V4/V5), fields, certification data, PCK certificate extensions.
//!
//! [`Quote::parse`] checks structure only. The PCK chain inside a quote is split with
//! [`Quote::pem_chain`] and its leaf read with [`Quote::pck_leaf`]; validating that chain and the
//! signatures is the verifier's job.

mod collateral;
mod intel_root;
mod pck;
mod quote;
mod verify;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
#[cfg(test)]
mod verify_tests;

pub use collateral::{
    Collateral, CollateralError, MAX_PCS_BODY, PCK_CRL_ISSUER_CHAIN, PcsAnswer, QE_IDENTITY_ISSUER_CHAIN,
    TCB_INFO_ISSUER_CHAIN,
};
pub use intel_root::{INTEL_SGX_ROOT_CA_DER, INTEL_SGX_ROOT_CA_SHA256, TrustAnchor};
pub use pck::{MAX_CERT_DER, MAX_PEM_BLOCKS, PckCa, PckError, PckLeaf, PckTcb, SGX_EXTENSION_OID, split_pem_chain};
pub use quote::{
    ATTESTATION_KEY_ECDSA_P256, BODY_TYPE_TDX10, BODY_TYPE_TDX15, CERT_DATA_PCK_CHAIN, CERT_DATA_QE_REPORT, HEADER_LEN,
    QE_REPORT_LEN, QeReport, Quote, QuoteError, QuoteHeader, QuoteSignatureData, QuoteVersion, TD_REPORT_10_LEN,
    TD_REPORT_15_LEN, TEE_TYPE_TDX, TdReportBody, TdReportKind, Tdx15Fields, V4_MIN_LEN, V5_MIN_LEN,
};
pub use verify::{
    CertProblem, ChainPosition, OfflineOk, PCK_LEAF_EXTENSIONS, PcsFailure, PcsFailureKind, TcbResult, TcbStatus,
    TdxVerifyError, collateral_verdicts, collateral_verdicts_offline, collateral_verdicts_unparsed,
    gateway_offline_verdicts, offline_verdicts, offline_verdicts_no_quote, offline_verdicts_unparsed, offline_verify,
    online_verify,
};
