//! TDX quote verification: the offline pass (spec §3) and the collateral pass (spec §4), and the
//! factor verdicts they feed (factors.md rows 4, 5, 12–14, 33, 34).
//!
//! * [`offline_verify`] needs no network: the PCK chain carried in the quote must lead to the
//!   [`TrustAnchor`] at the injected time, the PCK leaf must sign the QE report, the QE report
//!   must bind the attestation key, and the attestation key must sign the quote. Written here
//!   with p256 and x509-cert, following go-tdx-guest's checks.
//! * [`online_verify`] repeats the offline pass, then hands the quote and the PCS [`Collateral`]
//!   to dcap-qvl with *our* time and *our* root, and reports the TCB status Intel assigns.
//!
//! Time is always a parameter (`now_secs`, seconds since the Unix epoch); nothing here reads a
//! clock.

use std::fmt;

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use x509_cert::certificate::Version;

use super::collateral::{Collateral, CollateralError, PcsAnswer};
use super::intel_root::TrustAnchor;
use super::pck::{PckError, PckLeaf};
use super::quote::Quote;
use crate::attestation::x509::{EcdsaCert, P256Sha256};
use crate::report::Verdict;

pub use crate::attestation::x509::CertProblem;

/// Number of X.509 extensions go-tdx-guest requires on a PCK leaf.
pub const PCK_LEAF_EXTENSIONS: usize = 6;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A certificate's place in the PCK chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainPosition {
    /// The PCK certificate (first in the quote).
    Leaf,
    /// The PCK Platform CA (second).
    Intermediate,
    /// The root (third).
    Root,
}

impl ChainPosition {
    /// The subject common name go-tdx-guest requires at this position.
    pub fn expected_cn(self) -> &'static str {
        match self {
            ChainPosition::Leaf => "Intel SGX PCK Certificate",
            ChainPosition::Intermediate => "Intel SGX PCK Platform CA",
            ChainPosition::Root => "Intel SGX Root CA",
        }
    }

    fn name(self) -> &'static str {
        match self {
            ChainPosition::Leaf => "leaf",
            ChainPosition::Intermediate => "intermediate",
            ChainPosition::Root => "root",
        }
    }
}

impl fmt::Display for ChainPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a TDX quote failed verification, naming the step.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TdxVerifyError {
    /// The PCK chain's PEM blocks could not be split or parsed.
    #[error("PCK certificate chain: {0}")]
    PckChain(PckError),
    /// The PCK chain does not hold exactly three certificates.
    #[error("PCK certificate chain holds {0} certificates, expected 3")]
    ChainLength(usize),
    /// The PCK leaf's Intel SGX extension could not be read.
    #[error("PCK leaf: {0}")]
    PckExtensions(PckError),
    /// The PCK leaf does not carry exactly [`PCK_LEAF_EXTENSIONS`] extensions.
    #[error("PCK leaf has {0} extensions, expected 6")]
    LeafExtensionCount(usize),
    /// One certificate of the chain is unacceptable.
    #[error("PCK {position} certificate {problem}")]
    Certificate {
        /// Which certificate.
        position: ChainPosition,
        /// What is wrong.
        problem: CertProblem,
    },
    /// The chain's root is not the trust anchor.
    #[error("PCK chain root is not the trusted root certificate")]
    UntrustedRoot,
    /// The attestation key is not a valid P-256 point.
    #[error("attestation key is not a valid P-256 point")]
    AttestationKey,
    /// The quote signature does not verify with the attestation key.
    #[error("quote signature does not verify with the attestation key")]
    QuoteSignature,
    /// The QE report signature does not verify with the PCK leaf key.
    #[error("QE report signature does not verify with the PCK leaf key")]
    QeReportSignature,
    /// The QE report data is not SHA-256(attestation key ‖ QE auth data) followed by 32 zero
    /// bytes.
    #[error("QE report data does not bind the attestation key and QE authentication data")]
    QeReportData,
    /// The PCS answers do not make usable collateral (fetch failure, status, format).
    #[error("{0}")]
    Collateral(CollateralError),
    /// A certificate of a PCS issuer-chain header has expired at the verification time.
    #[error("{answer} issuer chain expired at {not_after} (verification time {now})")]
    IssuerChainExpired {
        /// Which answer's header.
        answer: PcsAnswer,
        /// The earliest NotAfter in that chain.
        not_after: u64,
        /// The verification time.
        now: u64,
    },
    /// dcap-qvl rejected the quote against the collateral.
    #[error("{0}")]
    Pcs(PcsFailure),
}

/// A rough class of a dcap-qvl failure (derived from its message, which is kept verbatim).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PcsFailureKind {
    /// Some collateral item, CRL or certificate has expired at the verification time.
    Expired,
    /// Some collateral item or certificate is not valid yet at the verification time.
    NotYetValid,
    /// A certificate is revoked.
    Revoked,
    /// A signature over collateral or the quote does not verify.
    Signature,
    /// A certificate chain does not lead to the root.
    Chain,
    /// The quote does not match the collateral (FMSPC, TCB level, module or QE identity).
    Mismatch,
    /// Anything else (malformed collateral, unsupported quote, TD attributes).
    Other,
}

/// dcap-qvl's verdict on a quote it rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcsFailure {
    /// The class of failure.
    pub kind: PcsFailureKind,
    /// dcap-qvl's full error chain.
    pub message: String,
}

impl fmt::Display for PcsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl PcsFailure {
    pub(crate) fn from_message(message: String) -> PcsFailure {
        let m = message.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
        let kind = if has(&["expired"]) {
            PcsFailureKind::Expired
        } else if has(&["in the future", "notvalidyet", "not valid yet"]) {
            PcsFailureKind::NotYetValid
        } else if has(&["revoked"]) {
            PcsFailureKind::Revoked
        } else if has(&["signature"]) {
            PcsFailureKind::Signature
        } else if has(&["certificate chain", "unknownissuer", "root ca"]) {
            PcsFailureKind::Chain
        } else if has(&["mismatch", "tcb level", "below minimum", "module identity"]) {
            PcsFailureKind::Mismatch
        } else {
            PcsFailureKind::Other
        };
        PcsFailure { kind, message }
    }
}

impl From<CollateralError> for TdxVerifyError {
    fn from(e: CollateralError) -> Self {
        TdxVerifyError::Collateral(e)
    }
}

fn cert_err(position: ChainPosition, problem: CertProblem) -> TdxVerifyError {
    TdxVerifyError::Certificate { position, problem }
}

// ---------------------------------------------------------------------------------------------
// Offline pass
// ---------------------------------------------------------------------------------------------

/// What a successful offline pass established.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OfflineOk {
    /// The PCK leaf's SGX extension values (FMSPC, PPID, TCB) and issuer.
    pub pck: PckLeaf,
    /// True when the chain ends in the Intel SGX Root CA (false only under a test anchor).
    pub intel_root: bool,
}

/// One parsed certificate of the PCK chain.
struct ChainCert<'a> {
    position: ChainPosition,
    der: &'a [u8],
    inner: EcdsaCert<'a, P256Sha256>,
}

impl<'a> ChainCert<'a> {
    /// Parses and checks the profile go-tdx-guest requires of every chain certificate:
    /// ECDSA-with-SHA256, a P-256 key, X.509 v3, and the subject CN of its position.
    fn parse(der: &'a [u8], position: ChainPosition) -> Result<ChainCert<'a>, TdxVerifyError> {
        let err = |problem| cert_err(position, problem);
        let inner = EcdsaCert::<P256Sha256>::parse(der).map_err(err)?;
        let tbs = inner.cert.tbs_certificate();
        if tbs.version() != Version::V3 {
            return Err(err(CertProblem::NotV3));
        }
        let found = match tbs.subject().common_name() {
            Ok(Some(cn)) => Some(cn.value().into_owned()),
            _ => None,
        };
        if found.as_deref() != Some(position.expected_cn()) {
            return Err(err(CertProblem::CommonName { expected: position.expected_cn(), found }));
        }
        Ok(ChainCert { position, der, inner })
    }

    fn err(&self, problem: CertProblem) -> TdxVerifyError {
        cert_err(self.position, problem)
    }

    fn check_issued_by(&self, issuer: &ChainCert<'_>) -> Result<(), TdxVerifyError> {
        self.inner.check_issued_by(&issuer.inner).map_err(|p| self.err(p))
    }

    fn check_validity(&self, now: u64) -> Result<(), TdxVerifyError> {
        self.inner.check_validity(now).map_err(|p| self.err(p))
    }

    fn check_extensions(&self, ca: Option<usize>) -> Result<(), TdxVerifyError> {
        self.inner.check_extensions(ca).map_err(|p| self.err(p))
    }
}

/// The offline pass (spec §3): no collateral, always run.
///
/// In order: the PCK chain splits into exactly three certificates; the leaf's SGX extension
/// parses and the leaf has exactly six extensions; every certificate is X.509 v3, signed with
/// ECDSA-SHA256, holds a P-256 key and has the subject CN of its position (Intel SGX PCK
/// Certificate / PCK Platform CA / Root CA); each issuer name matches the subject above it and
/// each signature verifies with the key above it (the root's with its own); the root is
/// byte-for-byte the anchor; all three are valid at `now_secs`; the CAs are CAs with room in
/// their path length and keyCertSign; no unhandled critical extension; extended key usages
/// allow server authentication. Then the quote signature over [`Quote::signed_region`] with
/// the attestation key, the QE report signature with the PCK leaf key, and the QE report data
/// binding `SHA-256(attestation key ‖ QE auth data) ‖ 0^32`.
pub fn offline_verify(quote: &Quote, anchor: &TrustAnchor, now_secs: u64) -> Result<OfflineOk, TdxVerifyError> {
    let chain = quote.pem_chain().map_err(TdxVerifyError::PckChain)?;
    let [leaf_der, intermediate_der, root_der] = chain.as_slice() else {
        return Err(TdxVerifyError::ChainLength(chain.len()));
    };
    let pck = PckLeaf::from_der(leaf_der).map_err(TdxVerifyError::PckExtensions)?;
    if pck.extension_count != PCK_LEAF_EXTENSIONS {
        return Err(TdxVerifyError::LeafExtensionCount(pck.extension_count));
    }

    let leaf = ChainCert::parse(leaf_der, ChainPosition::Leaf)?;
    let intermediate = ChainCert::parse(intermediate_der, ChainPosition::Intermediate)?;
    let root = ChainCert::parse(root_der, ChainPosition::Root)?;
    leaf.check_issued_by(&intermediate)?;
    intermediate.check_issued_by(&root)?;
    root.check_issued_by(&root)?;
    if root.der != anchor.der() {
        return Err(TdxVerifyError::UntrustedRoot);
    }
    for cert in [&root, &intermediate, &leaf] {
        cert.check_validity(now_secs)?;
    }
    root.check_extensions(Some(1))?;
    intermediate.check_extensions(Some(0))?;
    leaf.check_extensions(None)?;

    let data = quote.signature_data();
    let mut point = [0u8; 65];
    point[0] = 0x04;
    point[1..].copy_from_slice(&data.attestation_key);
    let attestation_key = VerifyingKey::from_sec1_bytes(&point).map_err(|_| TdxVerifyError::AttestationKey)?;
    let signature = Signature::from_slice(&data.signature).map_err(|_| TdxVerifyError::QuoteSignature)?;
    attestation_key.verify(quote.signed_region(), &signature).map_err(|_| TdxVerifyError::QuoteSignature)?;

    let qe_signature =
        Signature::from_slice(&data.qe_report_signature).map_err(|_| TdxVerifyError::QeReportSignature)?;
    leaf.inner.key.verify(&data.qe_report.raw, &qe_signature).map_err(|_| TdxVerifyError::QeReportSignature)?;

    let mut hash = Sha256::new();
    hash.update(data.attestation_key);
    hash.update(&data.qe_auth_data);
    let report_data = &data.qe_report.report_data;
    if report_data[..32] != hash.finalize()[..] || report_data[32..].iter().any(|&b| b != 0) {
        return Err(TdxVerifyError::QeReportData);
    }

    Ok(OfflineOk { pck, intel_root: anchor.is_intel() })
}

/// `tdx_cert_chain` and `tdx_quote_signature` (factors.md rows 4–5) from one offline result:
/// both pass or both fail with the same error, as in the reference.
pub fn offline_verdicts(result: &Result<OfflineOk, TdxVerifyError>) -> (Verdict, Verdict) {
    match result {
        Ok(_) => (Verdict::pass("certificate chain valid (Intel root CA)"), Verdict::pass("quote signature verified")),
        Err(e) => (
            Verdict::fail(format!("cert chain verification failed: {e}")),
            Verdict::fail(format!("quote signature invalid: {e}")),
        ),
    }
}

/// `gateway_tdx_cert_chain` and `gateway_tdx_quote_signature` (rows 33–34) for the nearcloud
/// gateway quote.
pub fn gateway_offline_verdicts(result: &Result<OfflineOk, TdxVerifyError>) -> (Verdict, Verdict) {
    match result {
        Ok(_) => (
            Verdict::pass("gateway certificate chain valid (Intel root CA)"),
            Verdict::pass("gateway quote signature verified"),
        ),
        Err(e) => (
            Verdict::fail(format!("gateway cert chain verification failed: {e}")),
            Verdict::fail(format!("gateway quote signature invalid: {e}")),
        ),
    }
}

/// Rows 4–5 (or 33–34 with `gateway`) when the quote is present but did not parse: Skip.
pub fn offline_verdicts_unparsed(gateway: bool) -> (Verdict, Verdict) {
    let prefix = if gateway { "gateway " } else { "" };
    (
        Verdict::skip(format!("{prefix}quote parse failed; cert chain not extracted")),
        Verdict::skip(format!("{prefix}quote parse failed; signature not verified")),
    )
}

/// Rows 4–5 when the attestation carries no quote at all: Fail.
pub fn offline_verdicts_no_quote() -> (Verdict, Verdict) {
    (
        Verdict::fail("no TDX quote available; cannot verify cert chain"),
        Verdict::fail("no TDX quote available; cannot verify signature"),
    )
}

// ---------------------------------------------------------------------------------------------
// Online pass
// ---------------------------------------------------------------------------------------------

/// A TCB status from Intel's collateral.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcbStatus {
    /// Fully patched.
    UpToDate,
    /// Patched; software mitigations for some advisories are needed.
    SwHardeningNeeded,
    /// Patched; the platform configuration needs changing.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSwHardeningNeeded,
    /// Microcode, firmware or module is older than Intel's current level.
    OutOfDate,
    /// Out of date and the configuration needs changing.
    OutOfDateConfigurationNeeded,
    /// Intel revoked this TCB level (keys may be compromised).
    Revoked,
    /// TDX 1.5: launched out of date, current TCB fine after a module update.
    TdRelaunchAdvised,
    /// TDX 1.5: as above, with configuration needed.
    TdRelaunchAdvisedConfigurationNeeded,
}

impl TcbStatus {
    /// Intel's spelling, e.g. `UpToDate`, `SWHardeningNeeded`.
    pub fn as_str(self) -> &'static str {
        match self {
            TcbStatus::UpToDate => "UpToDate",
            TcbStatus::SwHardeningNeeded => "SWHardeningNeeded",
            TcbStatus::ConfigurationNeeded => "ConfigurationNeeded",
            TcbStatus::ConfigurationAndSwHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            TcbStatus::OutOfDate => "OutOfDate",
            TcbStatus::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            TcbStatus::Revoked => "Revoked",
            TcbStatus::TdRelaunchAdvised => "TDRelaunchAdvised",
            TcbStatus::TdRelaunchAdvisedConfigurationNeeded => "TDRelaunchAdvisedConfigurationNeeded",
        }
    }

    /// Parses Intel's spelling (exact match).
    pub fn from_name(name: &str) -> Option<TcbStatus> {
        [
            TcbStatus::UpToDate,
            TcbStatus::SwHardeningNeeded,
            TcbStatus::ConfigurationNeeded,
            TcbStatus::ConfigurationAndSwHardeningNeeded,
            TcbStatus::OutOfDate,
            TcbStatus::OutOfDateConfigurationNeeded,
            TcbStatus::Revoked,
            TcbStatus::TdRelaunchAdvised,
            TcbStatus::TdRelaunchAdvisedConfigurationNeeded,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The TCB assessment of a quote whose collateral verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcbResult {
    /// The converged status (platform, TDX module and QE, as dcap-qvl combines them).
    pub status: TcbStatus,
    /// Intel security advisories that apply (none are known when the status is `Revoked`:
    /// dcap-qvl reports that one as an error without them).
    pub advisory_ids: Vec<String>,
}

/// The collateral pass (spec §4): the offline pass again, NotAfter of the three issuer-chain
/// headers' certificates, then dcap-qvl with `anchor` as its only root and `now_secs` as the
/// time for every validity check (PCK chain, TCB info and QE identity `nextUpdate`, both CRLs,
/// the TCB signer's chain).
///
/// `Ok` means the collateral and every signature verified and Intel assigned a TCB status;
/// the status itself is judged by [`collateral_verdicts`] (only `UpToDate` passes there).
/// dcap-qvl rejects a `Revoked` TCB as an error; that case is returned as `Ok` with status
/// [`TcbStatus::Revoked`] and no advisory IDs so that the verdicts can name it.
///
/// Differences from go-tdx-guest (spec §4.2–4.3), all stricter or equal on the recorded
/// captures: dcap-qvl converges the platform level with the TDX module and QE levels (Go takes
/// the module level alone when TEE_TCB_SVN\[1\] > 0), sorts tcbLevels itself, requires 32-byte
/// QE auth data, rejects a TCB info or QE identity whose issueDate is after `now`, treats a CRL
/// as expired at `now == nextUpdate`, and rejects TD attributes with migration enabled,
/// SEPT_VE_DISABLE clear or reserved bits set. It does not compare the PCE-ID. The debug bit is
/// not judged here: that is `tdx_debug_disabled`'s job, as in the reference.
pub fn online_verify(
    quote: &Quote,
    collateral: &Collateral,
    anchor: &TrustAnchor,
    now_secs: u64,
) -> Result<TcbResult, TdxVerifyError> {
    offline_verify(quote, anchor, now_secs)?;
    // go-tdx-guest checks NotAfter of every issuer-chain certificate, the PCK CRL's included
    // (which dcap-qvl does not use).
    for (answer, not_after) in collateral.issuer_chain_not_after() {
        if now_secs > not_after {
            return Err(TdxVerifyError::IssuerChainExpired { answer, not_after, now: now_secs });
        }
    }
    let verifier = dcap_qvl::verify::QuoteVerifier::new(anchor.der().to_vec()).allow_debug(true);
    match verifier.verify(quote.raw(), collateral.dcap(), now_secs) {
        Ok(report) => {
            let status = TcbStatus::from_name(&report.status).ok_or_else(|| {
                TdxVerifyError::Pcs(PcsFailure {
                    kind: PcsFailureKind::Other,
                    message: format!("unknown TCB status {:?}", report.status),
                })
            })?;
            Ok(TcbResult { status, advisory_ids: report.advisory_ids })
        }
        Err(e) => {
            let message = format!("{e:#}");
            // dcap-qvl's fixed wording for a Revoked TCB (verify.rs, "TCB status is invalid").
            if message.ends_with("TCB status is invalid: Revoked") {
                return Ok(TcbResult { status: TcbStatus::Revoked, advisory_ids: Vec::new() });
            }
            Err(TdxVerifyError::Pcs(PcsFailure::from_message(message)))
        }
    }
}

/// `intel_pcs_collateral`, `tdx_tcb_current` and `tdx_tcb_not_revoked` (factors.md rows 12–14)
/// from the collateral pass. `tee_tcb_svn` is the quote's TEE_TCB_SVN (shown in a Skip).
///
/// Parity with the reference (spec §4.2, §17 quirk 2): its collateral pass succeeds only for
/// `UpToDate`; any other status is a collateral error. So `UpToDate` passes all three, and
/// every other status — `Revoked` included — as well as any error (fetch, format, signature,
/// expiry, revocation, mismatch) gives three Skips carrying the error (Skip becomes Fail where
/// the factor is enforced). The Fail branches of rows 13–14 are unreachable, as in the seed.
pub fn collateral_verdicts(
    result: &Result<TcbResult, TdxVerifyError>,
    tee_tcb_svn: &[u8; 16],
) -> (Verdict, Verdict, Verdict) {
    let error = match result {
        Ok(TcbResult { status: TcbStatus::UpToDate, advisory_ids }) => {
            let mut current = "TCB is UpToDate per Intel PCS".to_owned();
            if !advisory_ids.is_empty() {
                current.push_str(&format!(" (advisories: {})", advisory_ids.join(", ")));
            }
            return (
                Verdict::pass("Intel PCS collateral fetched (TCB status: UpToDate)"),
                Verdict::pass(current),
                Verdict::pass("TCB status UpToDate is not Revoked"),
            );
        }
        Ok(TcbResult { status, advisory_ids }) if advisory_ids.is_empty() => {
            format!("TCB status is {status}, not UpToDate")
        }
        Ok(TcbResult { status, advisory_ids }) => {
            format!("TCB status is {status}, not UpToDate ({})", advisory_ids.join(", "))
        }
        Err(e) => e.to_string(),
    };
    let error = format!("intel PCS collateral: {error}");
    (
        Verdict::skip(format!("Intel PCS collateral fetch failed: {error}")),
        Verdict::skip(format!(
            "TEE_TCB_SVN: {} (Intel PCS collateral fetch failed: {error})",
            hex::encode(tee_tcb_svn)
        )),
        Verdict::skip(format!("Intel PCS collateral fetch failed: {error}")),
    )
}

/// Rows 12–14 in offline mode (no collateral fetched): Skip.
pub fn collateral_verdicts_offline(tee_tcb_svn: &[u8; 16]) -> (Verdict, Verdict, Verdict) {
    (
        Verdict::skip("offline mode; Intel PCS collateral not fetched"),
        Verdict::skip(format!("TEE_TCB_SVN: {} (offline; full check requires Intel PCS)", hex::encode(tee_tcb_svn))),
        Verdict::skip("offline; Intel PCS collateral not fetched"),
    )
}

/// Rows 12–14 when there is no parsed quote: Skip.
pub fn collateral_verdicts_unparsed() -> (Verdict, Verdict, Verdict) {
    (
        Verdict::skip("no parseable TDX quote"),
        Verdict::skip("no parseable TDX quote; TCB SVN not extracted"),
        Verdict::skip("no parseable TDX quote"),
    )
}
