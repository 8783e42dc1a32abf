//! Intel PCS collateral URLs (go-tdx-guest's literal strings; `attestation-core.md` §1.2 item 2
//! and §4.1).
//!
//! Per quote, strictly in this order, each only after the previous one succeeded:
//! 1. [`tcb_info_url`] (needs the FMSPC from the PCK leaf certificate);
//! 2. [`QE_IDENTITY_URL`];
//! 3. [`pck_crl_url`] (needs the PCK issuer: platform or processor CA);
//! 4. the root-CA CRL, whose URL comes from response 2 — see [`root_ca_crl_url`].
//!
//! teep keeps no cache between quotes: nearcloud sends the four again for the gateway quote.

use super::PlannedRequest;

/// Base of the TDX-specific PCS endpoints.
pub const PCS_TDX_BASE_URL: &str = "https://api.trustedservices.intel.com/tdx/certification/v4";
/// Base of the SGX PCS endpoints (the PCK CRL is served there for TDX too).
pub const PCS_SGX_BASE_URL: &str = "https://api.trustedservices.intel.com/sgx/certification/v4";
/// TDX QE identity.
pub const QE_IDENTITY_URL: &str = "https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity";
/// The Intel SGX Root CA's CRL (a DER CRL despite the `.der` name), as named by the CRL
/// distribution point of the Intel root certificate.
pub const INTEL_ROOT_CA_CRL_URL: &str = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";
/// Largest PCS response body teep accepts (10 MiB).
pub const PCS_MAX_BODY: u64 = 10 << 20;

/// Which PCK CA issued the quote's PCK leaf certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PckCa {
    /// Issuer CN `Intel SGX PCK Platform CA` (every capture).
    Platform,
    /// Issuer CN `Intel SGX PCK Processor CA`.
    Processor,
}

impl PckCa {
    /// From the PCK leaf's issuer common name, compared exactly (as go-tdx-guest does);
    /// `None` for any other issuer, which go-tdx-guest treats as an error.
    pub fn from_issuer_cn(cn: &str) -> Option<Self> {
        match cn {
            "Intel SGX PCK Platform CA" => Some(PckCa::Platform),
            "Intel SGX PCK Processor CA" => Some(PckCa::Processor),
            _ => None,
        }
    }

    /// The `ca` query value: `platform` or `processor`.
    pub fn as_str(self) -> &'static str {
        match self {
            PckCa::Platform => "platform",
            PckCa::Processor => "processor",
        }
    }
}

/// `GET …/tdx/certification/v4/tcb?fmspc=<12 lower-case hex>`.
pub fn tcb_info_url(fmspc: &[u8; 6]) -> String {
    format!("{PCS_TDX_BASE_URL}/tcb?fmspc={}", hex::encode(fmspc))
}

/// `GET …/sgx/certification/v4/pckcrl?ca=<platform|processor>&encoding=der` (this parameter
/// order, not sorted form encoding — it is a literal format string in go-tdx-guest).
pub fn pck_crl_url(ca: PckCa) -> String {
    format!("{PCS_SGX_BASE_URL}/pckcrl?ca={}&encoding=der", ca.as_str())
}

/// The root-CA CRL URL to fetch.
///
/// Where it really comes from: go-tdx-guest takes the CRL Distribution Points of the **root**
/// certificate in the `SGX-Enclave-Identity-Issuer-Chain` header of the QE identity response
/// (request 2) and tries them in order until one yields a parseable CRL. In every capture
/// (and for the genuine Intel root) that list is exactly [`INTEL_ROOT_CA_CRL_URL`]. Pass the
/// first URL extracted from that certificate; with `None` this returns the constant.
///
/// Parity note: go-tdx-guest has no such fallback — a root certificate without a distribution
/// point ends the collateral pass with "empty root CRL URL" — and with several URLs it would
/// try the next one after a failure. A caller wanting exact parity in those (unobserved) cases
/// handles them itself; the fallback is for callers that have not parsed the header.
pub fn root_ca_crl_url(from_qe_identity_root: Option<&str>) -> String {
    from_qe_identity_root.unwrap_or(INTEL_ROOT_CA_CRL_URL).to_owned()
}

/// Requests 1–3 of the collateral sequence for one quote, in order (request 4 needs request
/// 2's response header: [`root_ca_crl_request`]).
pub fn collateral_requests(fmspc: &[u8; 6], ca: PckCa) -> [PlannedRequest; 3] {
    [
        PlannedRequest::get(tcb_info_url(fmspc), PCS_MAX_BODY),
        PlannedRequest::get(QE_IDENTITY_URL.to_owned(), PCS_MAX_BODY),
        PlannedRequest::get(pck_crl_url(ca), PCS_MAX_BODY),
    ]
}

/// Request 4: the root-CA CRL (see [`root_ca_crl_url`]).
pub fn root_ca_crl_request(from_qe_identity_root: Option<&str>) -> PlannedRequest {
    PlannedRequest::get(root_ca_crl_url(from_qe_identity_root), PCS_MAX_BODY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            tcb_info_url(&[0x90, 0xc0, 0x6f, 0, 0, 0]),
            "https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=90c06f000000"
        );
        assert_eq!(tcb_info_url(&[0xB0, 0xC0, 0x6F, 0, 0, 0xAB]).rsplit('=').next(), Some("b0c06f0000ab"));
        assert_eq!(
            pck_crl_url(PckCa::Platform),
            "https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=platform&encoding=der"
        );
        assert_eq!(
            pck_crl_url(PckCa::Processor),
            "https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=processor&encoding=der"
        );
        assert_eq!(root_ca_crl_url(None), INTEL_ROOT_CA_CRL_URL);
        assert_eq!(root_ca_crl_url(Some("https://example/crl.der")), "https://example/crl.der");
        let reqs = collateral_requests(&[0x90, 0xc0, 0x6f, 0, 0, 0], PckCa::Platform);
        assert_eq!(reqs[1].url, QE_IDENTITY_URL);
        assert!(reqs.iter().all(|r| r.body.is_empty() && r.max_body == PCS_MAX_BODY));
        assert_eq!(root_ca_crl_request(None).url, INTEL_ROOT_CA_CRL_URL);
    }

    #[test]
    fn issuer_names_are_exact() {
        assert_eq!(PckCa::from_issuer_cn("Intel SGX PCK Platform CA"), Some(PckCa::Platform));
        assert_eq!(PckCa::from_issuer_cn("Intel SGX PCK Processor CA"), Some(PckCa::Processor));
        assert_eq!(PckCa::from_issuer_cn("intel sgx pck platform ca"), None);
        assert_eq!(PckCa::from_issuer_cn("Intel SGX Root CA"), None);
    }
}
