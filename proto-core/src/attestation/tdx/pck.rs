//! The PCK certificate chain carried in a quote: splitting its PEM blocks, and reading the Intel
//! SGX extension (OID 1.2.840.113741.1.13.1) and issuer of the leaf certificate.
//!
//! Nothing here validates the chain or any signature; that is the chain verifier's job.

use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{AnyRef, Decode, Tag, Tagged};

/// Largest DER certificate accepted from a PEM block (genuine PCK certificates are ~1.2 KiB).
pub const MAX_CERT_DER: usize = 16 * 1024;
/// Most PEM blocks read from one chain (genuine chains hold three).
pub const MAX_PEM_BLOCKS: usize = 8;

/// The Intel SGX extension.
pub const SGX_EXTENSION_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1");
const SGX_PPID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.1");
const SGX_TCB: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.2");
const SGX_PCE_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.3");
const SGX_FMSPC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.4");
const SGX_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.5");

/// Number of items in the TCB sequence: 16 SGX component SVNs, PCESVN, CPUSVN.
const TCB_ITEMS: u32 = 18;

/// Why the PCK chain or leaf could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PckError {
    /// No `-----BEGIN` line was found.
    #[error("PCK certificate chain holds no PEM block")]
    NoPemBlock,
    /// A PEM block is not well formed.
    #[error("PEM block {index}: {reason}")]
    MalformedPem {
        /// Zero-based block index.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A PEM block of another type than `CERTIFICATE`.
    #[error("PEM block {index} is {label:?}, not CERTIFICATE")]
    NotCertificate {
        /// Zero-based block index.
        index: usize,
        /// The block's label.
        label: String,
    },
    /// A PEM block whose base64 body does not decode.
    #[error("PEM block {index}: invalid base64")]
    Base64 {
        /// Zero-based block index.
        index: usize,
    },
    /// A certificate larger than [`MAX_CERT_DER`].
    #[error("certificate {index} is larger than {max} bytes")]
    CertTooLarge {
        /// Zero-based certificate index.
        index: usize,
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_PEM_BLOCKS`] blocks.
    #[error("PCK certificate chain holds more than {max} PEM blocks")]
    TooManyBlocks {
        /// The limit.
        max: usize,
    },
    /// Bytes after the last PEM block other than one NUL byte.
    #[error("{len} unexpected bytes after the last PEM block")]
    TrailingData {
        /// How many.
        len: usize,
    },
    /// A certificate that is not valid X.509 DER.
    #[error("certificate {index} does not parse: {reason}")]
    Der {
        /// Zero-based certificate index (0 for a lone leaf).
        index: usize,
        /// The decoder's message.
        reason: String,
    },
    /// The leaf has no Intel SGX extension.
    #[error("PCK leaf has no Intel SGX extension")]
    MissingSgxExtension,
    /// The Intel SGX extension is malformed or lacks a required item.
    #[error("Intel SGX extension: {0}")]
    SgxExtension(String),
    /// The leaf's issuer has no common name.
    #[error("PCK leaf issuer has no common name")]
    NoIssuerCn,
    /// The leaf's issuer CN names neither a Platform nor a Processor CA.
    #[error("PCK leaf issuer {0:?} is neither a Platform nor a Processor CA")]
    UnknownCa(String),
}

/// Which Intel PCK CA issued the leaf (selects the PCK CRL: `ca=platform` or `ca=processor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PckCa {
    /// `Intel SGX PCK Platform CA`.
    Platform,
    /// `Intel SGX PCK Processor CA`.
    Processor,
}

impl PckCa {
    /// The CA name as Intel PCS spells it in the CRL URL: `platform` or `processor`.
    pub fn as_str(self) -> &'static str {
        match self {
            PckCa::Platform => "platform",
            PckCa::Processor => "processor",
        }
    }

    /// Classifies an issuer common name: one containing `Platform` or `Processor`.
    pub fn from_issuer_cn(cn: &str) -> Result<PckCa, PckError> {
        if cn.contains("Platform") {
            Ok(PckCa::Platform)
        } else if cn.contains("Processor") {
            Ok(PckCa::Processor)
        } else {
            Err(PckError::UnknownCa(cn.to_owned()))
        }
    }
}

/// The TCB item of the SGX extension.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PckTcb {
    /// SGX TCB component SVNs 1..16.
    pub sgx_components: [u8; 16],
    /// PCESVN.
    pub pce_svn: u16,
    /// CPUSVN (16 bytes).
    pub cpu_svn: [u8; 16],
}

/// What the chain verifier and collateral fetch need from the PCK leaf certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PckLeaf {
    /// PPID: the platform's provisioning ID (16 bytes).
    pub ppid: [u8; 16],
    /// The TCB the certificate was issued for.
    pub tcb: PckTcb,
    /// PCE-ID (2 bytes).
    pub pce_id: [u8; 2],
    /// FMSPC: family-model-stepping-platform-custom SKU (6 bytes).
    pub fmspc: [u8; 6],
    /// SGX type (0 standard, 1 scalable, ...), when present and well formed; informational.
    pub sgx_type: Option<u8>,
    /// The issuer's common name, if it has one.
    pub issuer_cn: Option<String>,
    /// How many X.509 extensions the leaf carries (go-tdx-guest requires exactly 6).
    pub extension_count: usize,
}

impl PckLeaf {
    /// Reads a DER certificate's SGX extension and issuer. Fails if the certificate does not
    /// parse, is larger than [`MAX_CERT_DER`], or its SGX extension lacks PPID, TCB, PCE-ID or
    /// FMSPC or has them in the wrong shape. The issuer CN is not interpreted here (see
    /// [`PckLeaf::ca`]).
    pub fn from_der(der: &[u8]) -> Result<PckLeaf, PckError> {
        if der.len() > MAX_CERT_DER {
            return Err(PckError::CertTooLarge { index: 0, max: MAX_CERT_DER });
        }
        let cert = Certificate::from_der(der).map_err(|e| PckError::Der { index: 0, reason: e.to_string() })?;
        let tbs = cert.tbs_certificate();
        let issuer_cn = match tbs.issuer().common_name() {
            Ok(Some(cn)) => Some(cn.value().into_owned()),
            _ => None,
        };
        let extensions = tbs.extensions().map(|e| e.as_slice()).unwrap_or_default();
        let mut sgx = extensions.iter().filter(|e| e.extn_id == SGX_EXTENSION_OID);
        let ext = sgx.next().ok_or(PckError::MissingSgxExtension)?;
        if sgx.next().is_some() {
            return Err(sgx_err("the extension appears more than once"));
        }
        let fields = parse_sgx_extension(ext.extn_value.as_bytes())?;
        Ok(PckLeaf {
            ppid: fields.ppid,
            tcb: fields.tcb,
            pce_id: fields.pce_id,
            fmspc: fields.fmspc,
            sgx_type: fields.sgx_type,
            issuer_cn,
            extension_count: extensions.len(),
        })
    }

    /// FMSPC as 12 lower-case hex digits (as used in the PCS TCB-info URL).
    pub fn fmspc_hex(&self) -> String {
        hex::encode(self.fmspc)
    }

    /// PPID as 32 lower-case hex digits.
    pub fn ppid_hex(&self) -> String {
        hex::encode(self.ppid)
    }

    /// PCE-ID as 4 lower-case hex digits.
    pub fn pce_id_hex(&self) -> String {
        hex::encode(self.pce_id)
    }

    /// CPUSVN as 32 lower-case hex digits.
    pub fn cpu_svn_hex(&self) -> String {
        hex::encode(self.tcb.cpu_svn)
    }

    /// The issuing CA, from the issuer CN.
    pub fn ca(&self) -> Result<PckCa, PckError> {
        PckCa::from_issuer_cn(self.issuer_cn.as_deref().ok_or(PckError::NoIssuerCn)?)
    }
}

fn sgx_err(what: impl Into<String>) -> PckError {
    PckError::SgxExtension(what.into())
}

pub(super) struct SgxFields {
    ppid: [u8; 16],
    tcb: PckTcb,
    pce_id: [u8; 2],
    fmspc: [u8; 6],
    sgx_type: Option<u8>,
}

/// Splits a `SEQUENCE { OID, value }` item.
fn oid_value(item: AnyRef<'_>) -> Result<(ObjectIdentifier, AnyRef<'_>), PckError> {
    item.sequence(|r| {
        let oid = ObjectIdentifier::decode(r)?;
        let value = AnyRef::decode(r)?;
        Ok::<_, x509_cert::der::Error>((oid, value))
    })
    .map_err(|e| sgx_err(format!("item is not SEQUENCE {{ OID, value }}: {e}")))
}

fn octets<const N: usize>(value: AnyRef<'_>, name: &str) -> Result<[u8; N], PckError> {
    if value.tag() != Tag::OctetString {
        return Err(sgx_err(format!("{name} is not an OCTET STRING")));
    }
    <[u8; N]>::try_from(value.value())
        .map_err(|_| sgx_err(format!("{name} has {} bytes, expected {N}", value.value().len())))
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), PckError> {
    if slot.is_some() {
        return Err(sgx_err(format!("{name} appears more than once")));
    }
    *slot = Some(value);
    Ok(())
}

pub(super) fn parse_sgx_extension(der: &[u8]) -> Result<SgxFields, PckError> {
    let items = Vec::<AnyRef<'_>>::from_der(der).map_err(|e| sgx_err(format!("not a SEQUENCE: {e}")))?;
    let (mut ppid, mut tcb, mut pce_id, mut fmspc, mut sgx_type) = (None, None, None, None, None);
    for item in items {
        let (oid, value) = oid_value(item)?;
        if oid == SGX_PPID {
            set_once(&mut ppid, octets::<16>(value, "PPID")?, "PPID")?;
        } else if oid == SGX_TCB {
            set_once(&mut tcb, parse_tcb(value)?, "TCB")?;
        } else if oid == SGX_PCE_ID {
            set_once(&mut pce_id, octets::<2>(value, "PCE-ID")?, "PCE-ID")?;
        } else if oid == SGX_FMSPC {
            set_once(&mut fmspc, octets::<6>(value, "FMSPC")?, "FMSPC")?;
        } else if oid == SGX_TYPE {
            // Informational only: keep it when it is a one-byte ENUMERATED, ignore it otherwise.
            if value.tag() == Tag::Enumerated
                && let [t] = value.value()
            {
                set_once(&mut sgx_type, *t, "SGX type")?;
            }
        }
    }
    Ok(SgxFields {
        ppid: ppid.ok_or_else(|| sgx_err("no PPID"))?,
        tcb: tcb.ok_or_else(|| sgx_err("no TCB"))?,
        pce_id: pce_id.ok_or_else(|| sgx_err("no PCE-ID"))?,
        fmspc: fmspc.ok_or_else(|| sgx_err("no FMSPC"))?,
        sgx_type,
    })
}

fn parse_tcb(value: AnyRef<'_>) -> Result<PckTcb, PckError> {
    if value.tag() != Tag::Sequence {
        return Err(sgx_err("TCB is not a SEQUENCE"));
    }
    let items = value.decode_as::<Vec<AnyRef<'_>>>().map_err(|e| sgx_err(format!("TCB: {e}")))?;
    if items.len() != TCB_ITEMS as usize {
        return Err(sgx_err(format!("TCB has {} items, expected {TCB_ITEMS}", items.len())));
    }
    let mut components: [Option<u8>; 16] = [None; 16];
    let (mut pce_svn, mut cpu_svn) = (None, None);
    for item in items {
        let (oid, v) = oid_value(item)?;
        let arc = match oid.parent() {
            Some(parent) if parent == SGX_TCB => oid.as_oid_ref().arcs().last().unwrap_or(0),
            _ => return Err(sgx_err(format!("unexpected TCB item {oid}"))),
        };
        match arc {
            1..=16 => {
                let svn =
                    u8::try_from(v).map_err(|_| sgx_err(format!("TCB component {arc} is not an INTEGER 0..255")))?;
                set_once(&mut components[(arc - 1) as usize], svn, "TCB component")?;
            }
            17 => {
                let svn = u16::try_from(v).map_err(|_| sgx_err("PCESVN is not an INTEGER 0..65535"))?;
                set_once(&mut pce_svn, svn, "PCESVN")?;
            }
            18 => set_once(&mut cpu_svn, octets::<16>(v, "CPUSVN")?, "CPUSVN")?,
            _ => return Err(sgx_err(format!("unexpected TCB item {oid}"))),
        }
    }
    let mut sgx_components = [0u8; 16];
    for (out, c) in sgx_components.iter_mut().zip(components) {
        *out = c.ok_or_else(|| sgx_err("TCB component missing"))?;
    }
    Ok(PckTcb {
        sgx_components,
        pce_svn: pce_svn.ok_or_else(|| sgx_err("no PCESVN"))?,
        cpu_svn: cpu_svn.ok_or_else(|| sgx_err("no CPUSVN"))?,
    })
}

// ---------------------------------------------------------------------------------------------
// PEM
// ---------------------------------------------------------------------------------------------

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Position of the next `-----BEGIN ` at the start of `data` or of a line.
fn next_begin(data: &[u8]) -> Option<usize> {
    if data.starts_with(BEGIN) {
        return Some(0);
    }
    find(data, b"\n-----BEGIN ").map(|p| p + 1)
}

/// Splits `data` at the first `\n` (the newline is consumed); the line loses trailing
/// spaces, tabs and a carriage return.
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    let (mut line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(p) => (&data[..p], &data[p + 1..]),
        None => (data, &data[data.len()..]),
    };
    while let [head @ .., b' ' | b'\t' | b'\r'] = line {
        line = head;
    }
    (line, rest)
}

/// One PEM block starting at `data[0]` (which is `-----BEGIN `): its label, its decoded body
/// and what follows its END line.
fn pem_block(data: &[u8], index: usize) -> Result<(String, Vec<u8>, &[u8]), PckError> {
    let malformed = |reason| PckError::MalformedPem { index, reason };
    let (type_line, rest) = line(&data[BEGIN.len()..]);
    let label = type_line.strip_suffix(DASHES).ok_or(malformed("BEGIN line does not end in -----"))?;
    let label = std::str::from_utf8(label).map_err(|_| malformed("label is not UTF-8"))?.to_owned();
    let end_at =
        if rest.starts_with(END) { 0 } else { find(rest, b"\n-----END ").ok_or(malformed("no END line"))? + 1 };
    let body = &rest[..end_at];
    let (end_line, after) = line(&rest[end_at + END.len()..]);
    let end_label = end_line.strip_suffix(DASHES).ok_or(malformed("END line does not end in -----"))?;
    if end_label != label.as_bytes() {
        return Err(malformed("END label differs from BEGIN label"));
    }
    if label != "CERTIFICATE" {
        return Err(PckError::NotCertificate { index, label });
    }
    let compact: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.len() / 4 * 3 > MAX_CERT_DER {
        return Err(PckError::CertTooLarge { index, max: MAX_CERT_DER });
    }
    let der = base64::engine::general_purpose::STANDARD.decode(&compact).map_err(|_| PckError::Base64 { index })?;
    Ok((label, der, after))
}

/// Splits a concatenated PEM chain into DER certificates, in order.
///
/// Text before a `-----BEGIN` line is skipped (as Go's `pem.Decode` does); after the last block
/// only nothing or a single NUL byte may follow. Every block must be a `CERTIFICATE` that
/// parses as X.509.
pub fn split_pem_chain(data: &[u8]) -> Result<Vec<CertificateDer<'static>>, PckError> {
    let mut certs = Vec::new();
    let mut rest = data;
    while let Some(start) = next_begin(rest) {
        let index = certs.len();
        if index == MAX_PEM_BLOCKS {
            return Err(PckError::TooManyBlocks { max: MAX_PEM_BLOCKS });
        }
        let (_, der, after) = pem_block(&rest[start..], index)?;
        Certificate::from_der(&der).map_err(|e| PckError::Der { index, reason: e.to_string() })?;
        certs.push(CertificateDer::from(der));
        rest = after;
    }
    if certs.is_empty() {
        return Err(PckError::NoPemBlock);
    }
    match rest {
        [] | [0] => Ok(certs),
        _ => Err(PckError::TrailingData { len: rest.len() }),
    }
}
