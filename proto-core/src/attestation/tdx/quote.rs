//! Byte layout of TDX quotes (versions 4 and 5) and the parser that splits one into its parts.
//!
//! The parser only checks structure: fixed sizes, the few header values the reference verifier
//! rejects at parse time, and that every length field fits what follows. Signatures, the
//! certificate chain and collateral are checked elsewhere. All integers are little-endian.

use std::fmt;

use base64::Engine as _;
use rustls_pki_types::CertificateDer;

use super::pck::{self, PckError, PckLeaf};

/// Size of the quote header.
pub const HEADER_LEN: usize = 48;
/// Size of a TDX 1.0 TD report body (the only body a version-4 quote carries).
pub const TD_REPORT_10_LEN: usize = 584;
/// Size of a TDX 1.5 TD report body (TDX 1.0 fields, then TEE_TCB_SVN2 and MRSERVICETD).
pub const TD_REPORT_15_LEN: usize = 648;
/// Size of the SGX enclave report body of the quoting enclave.
pub const QE_REPORT_LEN: usize = 384;
/// Smallest version-4 quote the reference parser accepts.
pub const V4_MIN_LEN: usize = 0x3FC;
/// Smallest version-5 quote the reference parser accepts.
pub const V5_MIN_LEN: usize = 1026;
/// Header attestation key type for ECDSA-256 on P-256, the only one accepted.
pub const ATTESTATION_KEY_ECDSA_P256: u16 = 2;
/// Header TEE type of a TDX quote.
pub const TEE_TYPE_TDX: u32 = 0x0000_0081;
/// Certification data type of the QE report certification data (outer layer).
pub const CERT_DATA_QE_REPORT: u16 = 6;
/// Certification data type of a concatenated PEM PCK certificate chain (inner layer).
pub const CERT_DATA_PCK_CHAIN: u16 = 5;
/// Version-5 body type of a TDX 1.0 report.
pub const BODY_TYPE_TDX10: u16 = 2;
/// Version-5 body type of a TDX 1.5 report.
pub const BODY_TYPE_TDX15: u16 = 3;

/// Why a quote did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// The hex text did not decode (odd length or a non-hex character).
    #[error("quote is not valid hex: {0}")]
    Hex(String),
    /// The base64 text did not decode.
    #[error("quote is not valid base64: {0}")]
    Base64(String),
    /// Fewer bytes than the smallest quote of that version.
    #[error("quote too short: {len} bytes, at least {min} needed")]
    TooShort {
        /// Bytes available.
        len: usize,
        /// Bytes required.
        min: usize,
    },
    /// The version field is neither 4 nor 5.
    #[error("unsupported quote version {0} (4 and 5 are supported)")]
    UnsupportedVersion(u16),
    /// The attestation key type is not ECDSA-256 with P-256.
    #[error("unsupported attestation key type {0} (expected 2, ECDSA-256 with P-256)")]
    AttestationKeyType(u16),
    /// The TEE type is not TDX.
    #[error("TEE type {0:#010x} is not TDX (0x00000081)")]
    TeeType(u32),
    /// A version-5 body type other than TDX 1.0 (2) or TDX 1.5 (3).
    #[error("unsupported quote body type {0} (expected 2 or 3)")]
    BodyType(u16),
    /// A version-5 body size that does not match its type.
    #[error("quote body type {body_type} declares {size} bytes, expected {expected}")]
    BodySize {
        /// The body type.
        body_type: u16,
        /// The declared size.
        size: u32,
        /// The size that type has.
        expected: usize,
    },
    /// A field (fixed or length-prefixed) runs past the end of its enclosing data.
    #[error("{field} needs {needed} bytes but only {available} remain")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs (a declared length, or a fixed size).
        needed: usize,
        /// Bytes that remain.
        available: usize,
    },
    /// A certification data type other than the one expected at that layer.
    #[error("certification data type {found}, expected {expected}")]
    CertDataType {
        /// The type this layer must have (6 outside, 5 inside).
        expected: u16,
        /// The type found.
        found: u16,
    },
    /// A length field that must cover exactly the rest of its enclosing data but does not.
    #[error("{field} declares {declared} bytes but {remaining} remain")]
    SizeMismatch {
        /// The field.
        field: &'static str,
        /// The declared size.
        declared: usize,
        /// The bytes that actually remain.
        remaining: usize,
    },
}

/// The quote format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuoteVersion {
    /// Version 4 (TDX 1.0 body).
    V4,
    /// Version 5 (typed body: TDX 1.0 or TDX 1.5).
    V5,
}

impl QuoteVersion {
    /// The name used in reports: `QuoteV4` or `QuoteV5`.
    pub fn name(self) -> &'static str {
        match self {
            QuoteVersion::V4 => "QuoteV4",
            QuoteVersion::V5 => "QuoteV5",
        }
    }

    /// The numeric version (4 or 5).
    pub fn number(self) -> u16 {
        match self {
            QuoteVersion::V4 => 4,
            QuoteVersion::V5 => 5,
        }
    }
}

/// Which TD report layout the quote body has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TdReportKind {
    /// TDX 1.0: 584 bytes (every version-4 quote; version-5 body type 2).
    Tdx10,
    /// TDX 1.5: 648 bytes (version-5 body type 3).
    Tdx15,
}

/// The 48-byte quote header.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuoteHeader {
    /// Format version (4 or 5).
    pub version: u16,
    /// Attestation key type (always 2 once parsed).
    pub attestation_key_type: u16,
    /// TEE type (always 0x81, TDX, once parsed).
    pub tee_type: u32,
    /// Bytes 8..10: reserved in Intel's layout, named "PCE SVN" by go-tdx-guest; unused.
    pub reserved_pce_svn: u16,
    /// Bytes 10..12: reserved in Intel's layout, named "QE SVN" by go-tdx-guest; unused.
    pub reserved_qe_svn: u16,
    /// Vendor of the quoting enclave (Intel's is `939a7233f79c4ca9940a0db3957f0607`); not checked.
    pub qe_vendor_id: [u8; 16],
    /// Free-form user data from the quote generator.
    pub user_data: [u8; 20],
}

/// The fields TDX 1.5 adds after the TDX 1.0 body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tdx15Fields {
    /// TEE_TCB_SVN2.
    pub tee_tcb_svn2: [u8; 16],
    /// MRSERVICETD: measurement of the service TDs bound to this TD.
    pub mr_service_td: [u8; 48],
}

/// The TD report body ("TD quote body") the quote signature covers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TdReportBody {
    /// TEE_TCB_SVN: security versions of the TDX module and its components.
    pub tee_tcb_svn: [u8; 16],
    /// MRSEAM: measurement of the TDX module.
    pub mr_seam: [u8; 48],
    /// MRSIGNERSEAM: signer of the TDX module (zero for Intel's).
    pub mr_signer_seam: [u8; 48],
    /// SEAM_ATTRIBUTES.
    pub seam_attributes: [u8; 8],
    /// TD_ATTRIBUTES (bit 0 of byte 0 is TUD.DEBUG).
    pub td_attributes: [u8; 8],
    /// XFAM: extended features the TD may use.
    pub xfam: [u8; 8],
    /// MRTD: measurement of the initial TD contents (firmware).
    pub mr_td: [u8; 48],
    /// MRCONFIGID.
    pub mr_config_id: [u8; 48],
    /// MROWNER.
    pub mr_owner: [u8; 48],
    /// MROWNERCONFIG.
    pub mr_owner_config: [u8; 48],
    /// RTMR0..RTMR3, the runtime-extendable measurement registers.
    pub rtmr: [[u8; 48]; 4],
    /// REPORTDATA: 64 bytes chosen by the TD (binds nonces and keys).
    pub report_data: [u8; 64],
    /// TDX 1.5 additions; `None` for a TDX 1.0 body.
    pub tdx15: Option<Tdx15Fields>,
}

/// The quoting enclave's SGX report body (384 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QeReport {
    /// CPUSVN.
    pub cpu_svn: [u8; 16],
    /// MISCSELECT.
    pub misc_select: u32,
    /// ATTRIBUTES.
    pub attributes: [u8; 16],
    /// MRENCLAVE.
    pub mr_enclave: [u8; 32],
    /// MRSIGNER.
    pub mr_signer: [u8; 32],
    /// ISVPRODID.
    pub isv_prod_id: u16,
    /// ISVSVN.
    pub isv_svn: u16,
    /// REPORTDATA (SHA-256 of attestation key ‖ QE auth data, then 32 zero bytes, when genuine).
    pub report_data: [u8; 64],
    /// The 384 bytes as they appear in the quote (what the QE report signature covers).
    pub raw: [u8; QE_REPORT_LEN],
}

/// The signed ("auth") data after the body: ECDSA signature, key and certification data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuoteSignatureData {
    /// Quote signature over the signed region, raw `r ‖ s` (big-endian, 32 + 32).
    pub signature: [u8; 64],
    /// ECDSA attestation public key, raw `X ‖ Y` (P-256, no 0x04 prefix); not checked for being on
    /// the curve here.
    pub attestation_key: [u8; 64],
    /// The quoting enclave's report (from certification data type 6).
    pub qe_report: QeReport,
    /// Signature of the QE report by the PCK leaf key, raw `r ‖ s`.
    pub qe_report_signature: [u8; 64],
    /// QE authentication data (32 bytes in every observed quote).
    pub qe_auth_data: Vec<u8>,
    /// The nested certification data (type 5): concatenated PEM certificates, leaf first, as
    /// found (possibly ending in one NUL byte).
    pub pck_chain_pem: Vec<u8>,
}

/// A structurally valid TDX quote.
#[derive(Clone, PartialEq, Eq)]
pub struct Quote {
    version: QuoteVersion,
    header: QuoteHeader,
    body_kind: TdReportKind,
    body: TdReportBody,
    signature: QuoteSignatureData,
    raw: Vec<u8>,
    signed_len: usize,
    end_of_signed_data: usize,
}

/// A cursor over input that never reads past its end.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], QuoteError> {
        let available = self.remaining();
        if n > available {
            return Err(QuoteError::Truncated { field, needed: n, available });
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..self.pos])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], QuoteError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, QuoteError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, QuoteError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.buf.len());
        self.pos = self.buf.len();
        &self.buf[start..]
    }
}

/// A `u32` length as `usize` (saturating on hypothetical 16-bit targets, which then fails the
/// bounds check that follows).
fn len_of(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn parse_header(c: &mut Cursor<'_>) -> Result<QuoteHeader, QuoteError> {
    let version = c.u16("header version")?;
    let attestation_key_type = c.u16("header attestation key type")?;
    let tee_type = c.u32("header TEE type")?;
    let reserved_pce_svn = c.u16("header reserved")?;
    let reserved_qe_svn = c.u16("header reserved")?;
    let qe_vendor_id = c.array("header QE vendor ID")?;
    let user_data = c.array("header user data")?;
    if attestation_key_type != ATTESTATION_KEY_ECDSA_P256 {
        return Err(QuoteError::AttestationKeyType(attestation_key_type));
    }
    if tee_type != TEE_TYPE_TDX {
        return Err(QuoteError::TeeType(tee_type));
    }
    Ok(QuoteHeader {
        version,
        attestation_key_type,
        tee_type,
        reserved_pce_svn,
        reserved_qe_svn,
        qe_vendor_id,
        user_data,
    })
}

fn parse_body(c: &mut Cursor<'_>, kind: TdReportKind) -> Result<TdReportBody, QuoteError> {
    const F: &str = "TD report body";
    let tee_tcb_svn = c.array(F)?;
    let mr_seam = c.array(F)?;
    let mr_signer_seam = c.array(F)?;
    let seam_attributes = c.array(F)?;
    let td_attributes = c.array(F)?;
    let xfam = c.array(F)?;
    let mr_td = c.array(F)?;
    let mr_config_id = c.array(F)?;
    let mr_owner = c.array(F)?;
    let mr_owner_config = c.array(F)?;
    let rtmr = [c.array(F)?, c.array(F)?, c.array(F)?, c.array(F)?];
    let report_data = c.array(F)?;
    let tdx15 = match kind {
        TdReportKind::Tdx10 => None,
        TdReportKind::Tdx15 => Some(Tdx15Fields { tee_tcb_svn2: c.array(F)?, mr_service_td: c.array(F)? }),
    };
    Ok(TdReportBody {
        tee_tcb_svn,
        mr_seam,
        mr_signer_seam,
        seam_attributes,
        td_attributes,
        xfam,
        mr_td,
        mr_config_id,
        mr_owner,
        mr_owner_config,
        rtmr,
        report_data,
        tdx15,
    })
}

fn parse_qe_report(bytes: &[u8]) -> Result<QeReport, QuoteError> {
    const F: &str = "QE report";
    let mut raw = [0u8; QE_REPORT_LEN];
    let mut c = Cursor::new(bytes);
    raw.copy_from_slice(c.take(QE_REPORT_LEN, F)?);
    let mut c = Cursor::new(&raw);
    let cpu_svn = c.array(F)?;
    let misc_select = c.u32(F)?;
    c.take(28, F)?;
    let attributes = c.array(F)?;
    let mr_enclave = c.array(F)?;
    c.take(32, F)?;
    let mr_signer = c.array(F)?;
    c.take(96, F)?;
    let isv_prod_id = c.u16(F)?;
    let isv_svn = c.u16(F)?;
    c.take(60, F)?;
    let report_data = c.array(F)?;
    Ok(QeReport { cpu_svn, misc_select, attributes, mr_enclave, mr_signer, isv_prod_id, isv_svn, report_data, raw })
}

fn parse_signed_data(signed: &[u8]) -> Result<QuoteSignatureData, QuoteError> {
    let mut c = Cursor::new(signed);
    let signature = c.array("quote signature")?;
    let attestation_key = c.array("attestation key")?;
    let outer_type = c.u16("certification data type")?;
    if outer_type != CERT_DATA_QE_REPORT {
        return Err(QuoteError::CertDataType { expected: CERT_DATA_QE_REPORT, found: outer_type });
    }
    let outer_size = len_of(c.u32("certification data size")?);
    if outer_size != c.remaining() {
        return Err(QuoteError::SizeMismatch {
            field: "QE report certification data size",
            declared: outer_size,
            remaining: c.remaining(),
        });
    }
    let qe_report = parse_qe_report(c.take(QE_REPORT_LEN, "QE report")?)?;
    let qe_report_signature = c.array("QE report signature")?;
    let auth_len = usize::from(c.u16("QE authentication data size")?);
    let qe_auth_data = c.take(auth_len, "QE authentication data")?.to_vec();
    let inner_type = c.u16("PCK certification data type")?;
    if inner_type != CERT_DATA_PCK_CHAIN {
        return Err(QuoteError::CertDataType { expected: CERT_DATA_PCK_CHAIN, found: inner_type });
    }
    let chain_size = len_of(c.u32("PCK certificate chain size")?);
    if chain_size != c.remaining() {
        return Err(QuoteError::SizeMismatch {
            field: "PCK certificate chain size",
            declared: chain_size,
            remaining: c.remaining(),
        });
    }
    let pck_chain_pem = c.rest().to_vec();
    Ok(QuoteSignatureData { signature, attestation_key, qe_report, qe_report_signature, qe_auth_data, pck_chain_pem })
}

impl Quote {
    /// Parses a version-4 or version-5 TDX quote.
    ///
    /// Bytes after the signed data are accepted and kept (see [`Quote::trailing_bytes`]); real
    /// quotes carry them. Every length field is checked against the bytes that remain before
    /// anything is copied, so hostile input yields an error, never a panic or an allocation
    /// larger than the input.
    pub fn parse(bytes: &[u8]) -> Result<Quote, QuoteError> {
        if bytes.len() < 2 {
            return Err(QuoteError::TooShort { len: bytes.len(), min: V4_MIN_LEN });
        }
        let version_field = u16::from_le_bytes([bytes[0], bytes[1]]);
        let (version, min) = match version_field {
            4 => (QuoteVersion::V4, V4_MIN_LEN),
            5 => (QuoteVersion::V5, V5_MIN_LEN),
            other => return Err(QuoteError::UnsupportedVersion(other)),
        };
        if bytes.len() < min {
            return Err(QuoteError::TooShort { len: bytes.len(), min });
        }
        let mut c = Cursor::new(bytes);
        let header = parse_header(&mut c)?;
        let body_kind = match version {
            QuoteVersion::V4 => TdReportKind::Tdx10,
            QuoteVersion::V5 => {
                let body_type = c.u16("body type")?;
                let size = c.u32("body size")?;
                let (kind, expected) = match body_type {
                    BODY_TYPE_TDX10 => (TdReportKind::Tdx10, TD_REPORT_10_LEN),
                    BODY_TYPE_TDX15 => (TdReportKind::Tdx15, TD_REPORT_15_LEN),
                    other => return Err(QuoteError::BodyType(other)),
                };
                if len_of(size) != expected {
                    return Err(QuoteError::BodySize { body_type, size, expected });
                }
                kind
            }
        };
        let body = parse_body(&mut c, body_kind)?;
        let signed_len = c.pos;
        let signed_data_len = len_of(c.u32("signed data size")?);
        let signed = c.take(signed_data_len, "signed data")?;
        let signature = parse_signed_data(signed)?;
        let end_of_signed_data = c.pos;
        Ok(Quote { version, header, body_kind, body, signature, raw: bytes.to_vec(), signed_len, end_of_signed_data })
    }

    /// Decodes hex (either case; no whitespace, no `0x`) and parses the result.
    pub fn from_hex(text: &str) -> Result<Quote, QuoteError> {
        let bytes = hex::decode(text).map_err(|e| QuoteError::Hex(e.to_string()))?;
        Quote::parse(&bytes)
    }

    /// Decodes standard padded base64 (how Chutes delivers quotes) and parses the result.
    pub fn from_base64(text: &str) -> Result<Quote, QuoteError> {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| QuoteError::Base64(e.to_string()))?;
        Quote::parse(&bytes)
    }

    /// The format version.
    pub fn version(&self) -> QuoteVersion {
        self.version
    }

    /// The header.
    pub fn header(&self) -> &QuoteHeader {
        &self.header
    }

    /// Which TD report layout the body has.
    pub fn body_kind(&self) -> TdReportKind {
        self.body_kind
    }

    /// The TD report body.
    pub fn body(&self) -> &TdReportBody {
        &self.body
    }

    /// The signature, attestation key and certification data.
    pub fn signature_data(&self) -> &QuoteSignatureData {
        &self.signature
    }

    /// The bytes the quote signature covers: header and body (for version 5 including the body
    /// type and size fields between them).
    pub fn signed_region(&self) -> &[u8] {
        &self.raw[..self.signed_len]
    }

    /// The whole quote as given to [`Quote::parse`], trailing bytes included.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Bytes after the signed data (ignored by verification; 70 zero bytes on dstack quotes).
    pub fn trailing_bytes(&self) -> &[u8] {
        &self.raw[self.end_of_signed_data..]
    }

    /// How many bytes follow the signed data.
    pub fn trailing_len(&self) -> usize {
        self.raw.len() - self.end_of_signed_data
    }

    /// True if the TD runs in debug mode (TD_ATTRIBUTES bit 0, TUD.DEBUG).
    pub fn debug_enabled(&self) -> bool {
        self.body.td_attributes[0] & 0x01 != 0
    }

    /// MRTD, lower-case hex.
    pub fn mr_td_hex(&self) -> String {
        hex::encode(self.body.mr_td)
    }

    /// MRSEAM, lower-case hex.
    pub fn mr_seam_hex(&self) -> String {
        hex::encode(self.body.mr_seam)
    }

    /// MRSIGNERSEAM, lower-case hex.
    pub fn mr_signer_seam_hex(&self) -> String {
        hex::encode(self.body.mr_signer_seam)
    }

    /// MRCONFIGID, lower-case hex.
    pub fn mr_config_id_hex(&self) -> String {
        hex::encode(self.body.mr_config_id)
    }

    /// MROWNER, lower-case hex.
    pub fn mr_owner_hex(&self) -> String {
        hex::encode(self.body.mr_owner)
    }

    /// MROWNERCONFIG, lower-case hex.
    pub fn mr_owner_config_hex(&self) -> String {
        hex::encode(self.body.mr_owner_config)
    }

    /// RTMR0..RTMR3, lower-case hex.
    pub fn rtmr_hex(&self) -> [String; 4] {
        self.body.rtmr.map(hex::encode)
    }

    /// REPORTDATA (all 64 bytes), lower-case hex.
    pub fn report_data_hex(&self) -> String {
        hex::encode(self.body.report_data)
    }

    /// TEE_TCB_SVN, lower-case hex.
    pub fn tee_tcb_svn_hex(&self) -> String {
        hex::encode(self.body.tee_tcb_svn)
    }

    /// TD_ATTRIBUTES, lower-case hex (byte order as in the quote).
    pub fn td_attributes_hex(&self) -> String {
        hex::encode(self.body.td_attributes)
    }

    /// XFAM, lower-case hex (byte order as in the quote).
    pub fn xfam_hex(&self) -> String {
        hex::encode(self.body.xfam)
    }

    /// MRSERVICETD, lower-case hex, for TDX 1.5 bodies.
    pub fn mr_service_td_hex(&self) -> Option<String> {
        self.body.tdx15.as_ref().map(|f| hex::encode(f.mr_service_td))
    }

    /// The `tdx_quote_structure` detail: `valid QuoteV4, MRTD: <first 16 hex digits>...`.
    pub fn describe(&self) -> String {
        let mr_td = self.mr_td_hex();
        format!("valid {}, MRTD: {}...", self.version.name(), &mr_td[..16])
    }

    /// The PCK certificate chain carried in the quote, DER-decoded from its PEM blocks, in
    /// quote order (leaf, intermediate, root for genuine quotes). The number of certificates is
    /// not checked here; the chain verifier requires exactly three.
    pub fn pem_chain(&self) -> Result<Vec<CertificateDer<'static>>, PckError> {
        pck::split_pem_chain(&self.signature.pck_chain_pem)
    }

    /// The SGX extension fields and issuer of the chain's first (leaf) certificate.
    pub fn pck_leaf(&self) -> Result<PckLeaf, PckError> {
        let chain = self.pem_chain()?;
        let leaf = chain.first().ok_or(PckError::NoPemBlock)?;
        PckLeaf::from_der(leaf)
    }
}

impl fmt::Debug for Quote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quote")
            .field("version", &self.version)
            .field("body_kind", &self.body_kind)
            .field("mr_td", &self.mr_td_hex())
            .field("report_data", &self.report_data_hex())
            .field("len", &self.raw.len())
            .field("trailing_len", &self.trailing_len())
            .finish_non_exhaustive()
    }
}
