//! Intel PCS collateral (spec §4.1): the four PCS answers a TDX collateral check needs, turned
//! into the form dcap-qvl verifies.
//!
//! Nothing here trusts anything: this module only checks that each answer has the shape the
//! reference verifier requires (success status, the issuer-chain header holding exactly two PEM
//! certificates, the signed JSON member and its hex signature, DER CRLs) and keeps the signed
//! JSON as the exact bytes Intel signed. Signatures, chains, CRLs and dates are checked by
//! [`super::online_verify`].

use std::collections::HashMap;
use std::fmt;

use dcap_qvl::QuoteCollateralV3;
use serde_json::value::RawValue;
use x509_cert::certificate::Rfc5280;
use x509_cert::crl::CertificateList;
use x509_cert::der::Decode;

use super::pck::split_pem_chain;
use crate::fetch::{FetchResponse, FetchResult};

/// Largest PCS answer body accepted (the reference verifier's limit: 10 MiB).
pub const MAX_PCS_BODY: usize = 10 << 20;

/// Header carrying the TCB info signer's chain.
pub const TCB_INFO_ISSUER_CHAIN: &str = "TCB-Info-Issuer-Chain";
/// Header carrying the QE identity signer's chain.
pub const QE_IDENTITY_ISSUER_CHAIN: &str = "SGX-Enclave-Identity-Issuer-Chain";
/// Header carrying the PCK CRL issuer's chain.
pub const PCK_CRL_ISSUER_CHAIN: &str = "SGX-PCK-CRL-Issuer-Chain";

/// Which of the four PCS answers an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PcsAnswer {
    /// `GET /tdx/certification/v4/tcb?fmspc=…`.
    TcbInfo,
    /// `GET /tdx/certification/v4/qe/identity`.
    QeIdentity,
    /// `GET /sgx/certification/v4/pckcrl?ca=…&encoding=der`.
    PckCrl,
    /// `GET https://certificates.trustedservices.intel.com/IntelSGXRootCA.der`.
    RootCaCrl,
}

impl PcsAnswer {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            PcsAnswer::TcbInfo => "TCB info",
            PcsAnswer::QeIdentity => "QE identity",
            PcsAnswer::PckCrl => "PCK CRL",
            PcsAnswer::RootCaCrl => "root CA CRL",
        }
    }
}

impl fmt::Display for PcsAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the PCS answers do not make usable collateral.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CollateralError {
    /// The fetch produced no response (network, TLS, replay miss).
    #[error("could not fetch {answer}: {reason}")]
    Fetch {
        /// Which answer.
        answer: PcsAnswer,
        /// The fetch error.
        reason: String,
    },
    /// The response status is not a success (2xx).
    #[error("failed to retrieve {answer}, status code received {status}")]
    Status {
        /// Which answer.
        answer: PcsAnswer,
        /// The HTTP status.
        status: u16,
    },
    /// The body is larger than [`MAX_PCS_BODY`].
    #[error("{answer} body exceeds {MAX_PCS_BODY} bytes ({len} bytes)")]
    TooLarge {
        /// Which answer.
        answer: PcsAnswer,
        /// The body length.
        len: usize,
    },
    /// The issuer-chain header is absent, repeated, empty or malformed.
    #[error("{answer} issuer chain header {header}: {reason}")]
    IssuerChain {
        /// Which answer.
        answer: PcsAnswer,
        /// The header name.
        header: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The JSON body lacks the signed member or its signature, or is not JSON.
    #[error("{answer} body: {reason}")]
    Json {
        /// Which answer.
        answer: PcsAnswer,
        /// What is wrong.
        reason: String,
    },
    /// The CRL body is not a DER certificate revocation list.
    #[error("{answer} body is not a DER CRL: {reason}")]
    Crl {
        /// Which answer.
        answer: PcsAnswer,
        /// The decoder's message.
        reason: String,
    },
}

/// The collateral for one quote's online check, built from the four PCS answers.
#[derive(Clone, PartialEq, Eq)]
pub struct Collateral {
    inner: QuoteCollateralV3,
}

impl fmt::Debug for Collateral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collateral")
            .field("tcb_info_len", &self.inner.tcb_info.len())
            .field("qe_identity_len", &self.inner.qe_identity.len())
            .field("pck_crl_len", &self.inner.pck_crl.len())
            .field("root_ca_crl_len", &self.inner.root_ca_crl.len())
            .finish_non_exhaustive()
    }
}

impl Collateral {
    /// Builds collateral from the four PCS answers (spec §4.1), in the order the reference
    /// fetches them.
    ///
    /// Each answer must have a 2xx status (the reference treats any status ≥ 300 as an error)
    /// and a body of at most [`MAX_PCS_BODY`]. TCB info and QE identity must carry their
    /// issuer-chain header exactly once, URL-encoded, holding exactly two PEM certificates; their
    /// body must be a JSON object whose `tcbInfo` (resp. `enclaveIdentity`) member is kept as
    /// the exact text Intel signed, and whose `signature` is 64 bytes of hex. The PCK CRL must
    /// carry its issuer-chain header too; both CRL bodies must be DER.
    pub fn from_answers(
        tcb_info: &FetchResponse,
        qe_identity: &FetchResponse,
        pck_crl: &FetchResponse,
        root_crl: &FetchResponse,
    ) -> Result<Collateral, CollateralError> {
        let tcb_body = checked_body(PcsAnswer::TcbInfo, tcb_info)?;
        let tcb_info_issuer_chain = issuer_chain(PcsAnswer::TcbInfo, tcb_info, TCB_INFO_ISSUER_CHAIN)?;
        let (tcb_json, tcb_info_signature) = signed_json(PcsAnswer::TcbInfo, tcb_body, "tcbInfo")?;

        let qe_body = checked_body(PcsAnswer::QeIdentity, qe_identity)?;
        let qe_identity_issuer_chain = issuer_chain(PcsAnswer::QeIdentity, qe_identity, QE_IDENTITY_ISSUER_CHAIN)?;
        let (qe_json, qe_identity_signature) = signed_json(PcsAnswer::QeIdentity, qe_body, "enclaveIdentity")?;

        let pck_body = checked_body(PcsAnswer::PckCrl, pck_crl)?;
        let pck_crl_issuer_chain = issuer_chain(PcsAnswer::PckCrl, pck_crl, PCK_CRL_ISSUER_CHAIN)?;
        check_crl(PcsAnswer::PckCrl, pck_body)?;

        let root_body = checked_body(PcsAnswer::RootCaCrl, root_crl)?;
        check_crl(PcsAnswer::RootCaCrl, root_body)?;

        Ok(Collateral {
            inner: QuoteCollateralV3 {
                pck_crl_issuer_chain,
                root_ca_crl: root_body.to_vec(),
                pck_crl: pck_body.to_vec(),
                tcb_info_issuer_chain,
                tcb_info: tcb_json,
                tcb_info_signature,
                qe_identity_issuer_chain,
                qe_identity: qe_json,
                qe_identity_signature,
                // dcap-qvl then takes the chain carried in the quote (certification data type 5).
                pck_certificate_chain: None,
            },
        })
    }

    /// As [`Collateral::from_answers`], from fetch outcomes: a fetch that produced no response
    /// becomes [`CollateralError::Fetch`] (checked in fetch order).
    pub fn from_results(
        tcb_info: &FetchResult,
        qe_identity: &FetchResult,
        pck_crl: &FetchResult,
        root_crl: &FetchResult,
    ) -> Result<Collateral, CollateralError> {
        let get = |answer: PcsAnswer, r: &FetchResult| -> Result<FetchResponse, CollateralError> {
            r.clone().map_err(|e| CollateralError::Fetch { answer, reason: e.to_string() })
        };
        let tcb = get(PcsAnswer::TcbInfo, tcb_info)?;
        let qe = get(PcsAnswer::QeIdentity, qe_identity)?;
        let pck = get(PcsAnswer::PckCrl, pck_crl)?;
        let root = get(PcsAnswer::RootCaCrl, root_crl)?;
        Collateral::from_answers(&tcb, &qe, &pck, &root)
    }

    /// The exact text of the signed `tcbInfo` JSON value.
    pub fn tcb_info_json(&self) -> &str {
        &self.inner.tcb_info
    }

    /// The exact text of the signed `enclaveIdentity` JSON value.
    pub fn qe_identity_json(&self) -> &str {
        &self.inner.qe_identity
    }

    /// The form dcap-qvl verifies.
    pub(crate) fn dcap(&self) -> &QuoteCollateralV3 {
        &self.inner
    }

    /// The latest NotAfter each issuer-chain header allows: the earliest NotAfter among its
    /// certificates, per answer (TCB info, QE identity, PCK CRL). The chains parsed when the
    /// collateral was built, so a parse failure here cannot happen; it yields 0 (expired).
    pub(crate) fn issuer_chain_not_after(&self) -> [(PcsAnswer, u64); 3] {
        let earliest = |pem: &str| -> u64 {
            let Ok(certs) = split_pem_chain(pem.as_bytes()) else { return 0 };
            certs
                .iter()
                .map(|der| match x509_cert::Certificate::from_der(der) {
                    Ok(cert) => cert.tbs_certificate().validity().not_after.to_unix_duration().as_secs(),
                    Err(_) => 0,
                })
                .min()
                .unwrap_or(0)
        };
        [
            (PcsAnswer::TcbInfo, earliest(&self.inner.tcb_info_issuer_chain)),
            (PcsAnswer::QeIdentity, earliest(&self.inner.qe_identity_issuer_chain)),
            (PcsAnswer::PckCrl, earliest(&self.inner.pck_crl_issuer_chain)),
        ]
    }

    /// Mutable access for tamper tests.
    #[cfg(test)]
    pub(crate) fn dcap_mut(&mut self) -> &mut QuoteCollateralV3 {
        &mut self.inner
    }
}

/// The body of a successful answer within the size limit.
fn checked_body(answer: PcsAnswer, response: &FetchResponse) -> Result<&[u8], CollateralError> {
    if !(200..300).contains(&response.status) {
        return Err(CollateralError::Status { answer, status: response.status });
    }
    if response.body.len() > MAX_PCS_BODY {
        return Err(CollateralError::TooLarge { answer, len: response.body.len() });
    }
    Ok(&response.body)
}

/// The issuer chain from header `name` (looked up case-insensitively, as Go canonicalises
/// names): exactly one value, URL-decoded, holding exactly two PEM certificates (signer, root).
fn issuer_chain(answer: PcsAnswer, response: &FetchResponse, header: &'static str) -> Result<String, CollateralError> {
    let bad = |reason: String| CollateralError::IssuerChain { answer, header, reason };
    let mut values = response.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(header)).map(|(_, v)| v);
    let value = values.next().ok_or_else(|| bad("missing".to_owned()))?;
    let extra = values.count();
    if extra > 0 {
        return Err(bad(format!("expected one value, found {}", extra + 1)));
    }
    if value.is_empty() {
        return Err(bad("empty".to_owned()));
    }
    let decoded = query_unescape(value).map_err(bad)?;
    let certs = split_pem_chain(decoded.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if certs.len() != 2 {
        return Err(bad(format!("holds {} certificates, expected 2 (signer, root)", certs.len())));
    }
    Ok(decoded)
}

/// URL query decoding as Go's `url.QueryUnescape` does it: `%XX` is a byte, `+` a space, any
/// other `%` an error; the result must be UTF-8. (Intel encodes `+` as `%2B`.)
fn query_unescape(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let pair = bytes.get(i + 1..i + 3).ok_or("truncated percent escape")?;
                let pair = std::str::from_utf8(pair).map_err(|_| "invalid percent escape")?;
                // Checked digit by digit: `from_str_radix` alone would accept a sign.
                if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("invalid percent escape %{pair}"));
                }
                out.push(u8::from_str_radix(pair, 16).map_err(|_| format!("invalid percent escape %{pair}"))?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "decoded chain is not UTF-8".to_owned())
}

/// The raw text of member `member` of a JSON object body and the decoded `signature` member.
fn signed_json(answer: PcsAnswer, body: &[u8], member: &str) -> Result<(String, Vec<u8>), CollateralError> {
    let bad = |reason: String| CollateralError::Json { answer, reason };
    if body.is_empty() {
        return Err(bad("empty".to_owned()));
    }
    let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8".to_owned()))?;
    let object: HashMap<String, &RawValue> =
        serde_json::from_str(text).map_err(|e| bad(format!("not a JSON object: {e}")))?;
    let signed = object.get(member).ok_or_else(|| bad(format!("{member:?} member is missing")))?;
    let signature = object.get("signature").ok_or_else(|| bad("\"signature\" member is missing".to_owned()))?;
    let signature: String =
        serde_json::from_str(signature.get()).map_err(|e| bad(format!("signature is not a string: {e}")))?;
    let signature = hex::decode(&signature).map_err(|e| bad(format!("signature is not hex: {e}")))?;
    if signature.len() != 64 {
        return Err(bad(format!("signature has {} bytes, expected 64 (raw r‖s)", signature.len())));
    }
    Ok((signed.get().to_owned(), signature))
}

/// Checks that `body` parses as a DER CRL (its signature and dates are checked later).
fn check_crl(answer: PcsAnswer, body: &[u8]) -> Result<(), CollateralError> {
    CertificateList::<Rfc5280>::from_der(body)
        .map(|_| ())
        .map_err(|e| CollateralError::Crl { answer, reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_unescape_follows_go() {
        assert_eq!(query_unescape("a%0Ab%2Bc+d").unwrap(), "a\nb+c d");
        assert_eq!(query_unescape("%41%4a%4A").unwrap(), "AJJ");
        assert!(query_unescape("%4").is_err());
        assert!(query_unescape("%zz").is_err());
        assert!(query_unescape("%+1").is_err());
        assert!(query_unescape("%ff").is_err(), "not UTF-8");
    }

    #[test]
    fn signed_json_keeps_the_exact_member_text() {
        let sig = "ab".repeat(64);
        let body = format!("{{\"tcbInfo\":{{\"b\": 1,  \"a\":[ 2 ]}},\"signature\":\"{sig}\"}}");
        let (text, raw) = signed_json(PcsAnswer::TcbInfo, body.as_bytes(), "tcbInfo").unwrap();
        assert_eq!(text, "{\"b\": 1,  \"a\":[ 2 ]}");
        assert_eq!(raw, vec![0xab; 64]);
        assert!(signed_json(PcsAnswer::TcbInfo, body.as_bytes(), "enclaveIdentity").is_err());
        let short = format!("{{\"tcbInfo\":{{}},\"signature\":\"{}\"}}", "ab".repeat(63));
        assert!(signed_json(PcsAnswer::TcbInfo, short.as_bytes(), "tcbInfo").is_err());
        assert!(signed_json(PcsAnswer::TcbInfo, b"[]", "tcbInfo").is_err());
        assert!(signed_json(PcsAnswer::TcbInfo, b"", "tcbInfo").is_err());
    }
}
