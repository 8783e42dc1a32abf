//! Synthetic quotes and PCK chains for the unit and property tests.
//!
//! Everything is generated: the quote builder lays out the bytes from the spec's offset tables
//! with a position-dependent fill (so a field read at the wrong offset shows up), and the PCK
//! chain is a fresh rcgen root → CA → leaf whose leaf carries a hand-encoded SGX extension.

use std::sync::OnceLock;

use x509_cert::der::asn1::ObjectIdentifier;

use super::quote::{HEADER_LEN, QE_REPORT_LEN, TD_REPORT_10_LEN, TD_REPORT_15_LEN};

// ---------------------------------------------------------------------------------------------
// DER encoding, just enough for the SGX extension.
// ---------------------------------------------------------------------------------------------

/// A DER tag-length-value.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A DER SEQUENCE of already-encoded items.
pub(crate) fn seq(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &items.concat())
}

/// A DER OBJECT IDENTIFIER.
pub(crate) fn oid(dotted: &str) -> Vec<u8> {
    tlv(0x06, ObjectIdentifier::new(dotted).expect("test OID").as_bytes())
}

/// A DER OCTET STRING.
pub(crate) fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}

/// A DER INTEGER holding a non-negative value.
pub(crate) fn uint(value: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = value.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
    if bytes.first().is_none_or(|&b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    tlv(0x02, &bytes)
}

/// `SEQUENCE { OID 1.2.840.113741.1.13.1.<sub>, value }`.
pub(crate) fn sgx_item(sub: &str, value: Vec<u8>) -> Vec<u8> {
    seq(&[oid(&format!("1.2.840.113741.1.13.1.{sub}")), value])
}

/// Values for a synthetic SGX extension.
#[derive(Clone, Debug)]
pub(crate) struct SgxValues {
    pub(crate) ppid: [u8; 16],
    pub(crate) components: [u8; 16],
    pub(crate) pce_svn: u16,
    pub(crate) cpu_svn: [u8; 16],
    pub(crate) pce_id: [u8; 2],
    pub(crate) fmspc: [u8; 6],
}

impl SgxValues {
    /// Distinct, recognisable values.
    pub(crate) fn sample() -> Self {
        SgxValues {
            ppid: *b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff",
            components: [3, 3, 2, 2, 4, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 200],
            pce_svn: 13,
            cpu_svn: [0xA0; 16],
            pce_id: [0, 0],
            fmspc: [0x90, 0xC0, 0x6F, 0, 0, 0],
        }
    }

    /// The TCB item's 18 inner items.
    pub(crate) fn tcb_items(&self) -> Vec<Vec<u8>> {
        let mut items: Vec<Vec<u8>> =
            (0..16).map(|i| sgx_item(&format!("2.{}", i + 1), uint(u64::from(self.components[i])))).collect();
        items.push(sgx_item("2.17", uint(u64::from(self.pce_svn))));
        items.push(sgx_item("2.18", octets(&self.cpu_svn)));
        items
    }

    /// The top-level items, in Intel's order (PPID, TCB, PCE-ID, FMSPC, SGX type).
    pub(crate) fn items(&self) -> Vec<Vec<u8>> {
        vec![
            sgx_item("1", octets(&self.ppid)),
            sgx_item("2", seq(&self.tcb_items())),
            sgx_item("3", octets(&self.pce_id)),
            sgx_item("4", octets(&self.fmspc)),
            sgx_item("5", tlv(0x0A, &[0])),
        ]
    }

    /// The full extension value.
    pub(crate) fn extension(&self) -> Vec<u8> {
        seq(&self.items())
    }
}

/// A generated PCK-like chain.
pub(crate) struct TestChain {
    /// Leaf, CA, root as concatenated PEM.
    pub(crate) pem: Vec<u8>,
    /// The leaf, DER.
    pub(crate) leaf_der: Vec<u8>,
}

/// Root → CA named `ca_cn` → leaf; the leaf carries `sgx_extension` when given.
pub(crate) fn make_chain(ca_cn: &str, sgx_extension: Option<Vec<u8>>) -> TestChain {
    let root_key = rcgen::KeyPair::generate().expect("root key");
    let mut root_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("root params");
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root_params.distinguished_name.push(rcgen::DnType::CommonName, "Test SGX Root CA");
    let root = rcgen::CertifiedIssuer::self_signed(root_params, root_key).expect("root");

    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, ca_cn);
    let ca = rcgen::CertifiedIssuer::signed_by(ca_params, ca_key, &root).expect("CA");

    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let mut leaf_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("leaf params");
    leaf_params.distinguished_name.push(rcgen::DnType::CommonName, "Test SGX PCK Certificate");
    if let Some(ext) = sgx_extension {
        leaf_params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(&[1, 2, 840, 113741, 1, 13, 1], ext));
    }
    let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf");

    let pem = format!("{}{}{}", leaf.pem(), ca.pem(), root.pem()).into_bytes();
    TestChain { pem, leaf_der: leaf.der().to_vec() }
}

/// One Platform-CA chain with [`SgxValues::sample`], generated once per test binary.
pub(crate) fn sample_chain() -> &'static TestChain {
    static CHAIN: OnceLock<TestChain> = OnceLock::new();
    CHAIN.get_or_init(|| make_chain("Test SGX PCK Platform CA", Some(SgxValues::sample().extension())))
}

// ---------------------------------------------------------------------------------------------
// Quotes.
// ---------------------------------------------------------------------------------------------

/// The byte at absolute position `i` of generated header/body/QE-report filler.
pub(crate) fn fill(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

/// The parts of a synthetic quote. Length fields are derived unless overridden.
#[derive(Clone, Debug)]
pub(crate) struct QuoteParts {
    pub(crate) version: u16,
    pub(crate) key_type: u16,
    pub(crate) tee_type: u32,
    /// Version 5 only: body type (2 or 3) written before the body.
    pub(crate) body_type: u16,
    pub(crate) body_size_override: Option<u32>,
    /// The body bytes (584 or 648).
    pub(crate) body: Vec<u8>,
    pub(crate) qe_report: Vec<u8>,
    pub(crate) qe_auth_data: Vec<u8>,
    pub(crate) outer_type: u16,
    pub(crate) inner_type: u16,
    pub(crate) chain: Vec<u8>,
    pub(crate) trailing: Vec<u8>,
}

/// Where the length fields of a built quote are (absolute offsets).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub(crate) signed_region_len: usize,
    pub(crate) signed_data_size_at: usize,
    pub(crate) outer_type_at: usize,
    pub(crate) outer_size_at: usize,
    pub(crate) auth_size_at: usize,
    pub(crate) inner_type_at: usize,
    pub(crate) chain_size_at: usize,
    pub(crate) end_of_signed_data: usize,
}

impl QuoteParts {
    /// A version-4 quote with the sample chain, 32 bytes of QE auth data and 70 zero bytes after.
    pub(crate) fn v4() -> Self {
        QuoteParts {
            version: 4,
            key_type: 2,
            tee_type: 0x81,
            body_type: 2,
            body_size_override: None,
            body: (0..TD_REPORT_10_LEN).map(|i| fill(HEADER_LEN + i)).collect(),
            qe_report: (0..QE_REPORT_LEN).map(|i| fill(0x5000 + i)).collect(),
            qe_auth_data: (0..32).collect(),
            outer_type: 6,
            inner_type: 5,
            chain: {
                let mut c = sample_chain().pem.clone();
                c.push(0);
                c
            },
            trailing: vec![0; 70],
        }
    }

    /// A version-5 quote with a TDX 1.0 (`body_type` 2) or TDX 1.5 (3) body.
    pub(crate) fn v5(body_type: u16) -> Self {
        let len = if body_type == 3 { TD_REPORT_15_LEN } else { TD_REPORT_10_LEN };
        QuoteParts {
            version: 5,
            body_type,
            body: (0..len).map(|i| fill(HEADER_LEN + 6 + i)).collect(),
            ..QuoteParts::v4()
        }
    }

    /// The quote bytes and where its length fields are.
    pub(crate) fn build_with_layout(&self) -> (Vec<u8>, Layout) {
        let mut q = Vec::new();
        q.extend(self.version.to_le_bytes());
        q.extend(self.key_type.to_le_bytes());
        q.extend(self.tee_type.to_le_bytes());
        q.extend((8..HEADER_LEN).map(fill));
        if self.version == 5 {
            q.extend(self.body_type.to_le_bytes());
            let size = self.body_size_override.unwrap_or(self.body.len() as u32);
            q.extend(size.to_le_bytes());
        }
        q.extend(&self.body);
        let signed_region_len = q.len();

        let mut cert = Vec::new();
        cert.extend(&self.qe_report);
        cert.extend([0x53; 64]);
        let auth_size_rel = cert.len();
        cert.extend((self.qe_auth_data.len() as u16).to_le_bytes());
        cert.extend(&self.qe_auth_data);
        let inner_type_rel = cert.len();
        cert.extend(self.inner_type.to_le_bytes());
        cert.extend((self.chain.len() as u32).to_le_bytes());
        cert.extend(&self.chain);

        let mut signed = Vec::new();
        signed.extend([0x51; 64]);
        signed.extend([0x52; 64]);
        signed.extend(self.outer_type.to_le_bytes());
        signed.extend((cert.len() as u32).to_le_bytes());
        let cert_at = signed.len();
        signed.extend(&cert);

        let signed_data_size_at = q.len();
        q.extend((signed.len() as u32).to_le_bytes());
        let base = q.len();
        q.extend(&signed);
        let end_of_signed_data = q.len();
        q.extend(&self.trailing);
        let layout = Layout {
            signed_region_len,
            signed_data_size_at,
            outer_type_at: base + 128,
            outer_size_at: base + 130,
            auth_size_at: base + cert_at + auth_size_rel,
            inner_type_at: base + cert_at + inner_type_rel,
            chain_size_at: base + cert_at + inner_type_rel + 2,
            end_of_signed_data,
        };
        (q, layout)
    }

    /// The quote bytes.
    pub(crate) fn build(&self) -> Vec<u8> {
        self.build_with_layout().0
    }
}
