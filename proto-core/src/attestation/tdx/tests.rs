//! Unit tests: field offsets against the spec's tables, every parse error, the PEM splitter and
//! the SGX extension reader, all on synthetic data.

use super::testutil::{self, QuoteParts, SgxValues, make_chain, octets, sample_chain, seq, sgx_item, tlv, uint};
use super::*;

fn at<const N: usize>(bytes: &[u8], off: usize) -> [u8; N] {
    bytes[off..off + N].try_into().unwrap()
}

fn assert_body_at(q: &Quote, raw: &[u8], base: usize) {
    let b = q.body();
    assert_eq!(b.tee_tcb_svn, at(raw, base));
    assert_eq!(b.mr_seam, at(raw, base + 0x10));
    assert_eq!(b.mr_signer_seam, at(raw, base + 0x40));
    assert_eq!(b.seam_attributes, at(raw, base + 0x70));
    assert_eq!(b.td_attributes, at(raw, base + 0x78));
    assert_eq!(b.xfam, at(raw, base + 0x80));
    assert_eq!(b.mr_td, at(raw, base + 0x88));
    assert_eq!(b.mr_config_id, at(raw, base + 0xB8));
    assert_eq!(b.mr_owner, at(raw, base + 0xE8));
    assert_eq!(b.mr_owner_config, at(raw, base + 0x118));
    for i in 0..4 {
        assert_eq!(b.rtmr[i], at(raw, base + 0x148 + 48 * i));
    }
    assert_eq!(b.report_data, at(raw, base + 0x208));
}

#[test]
fn v4_fields_sit_at_the_spec_offsets() {
    let parts = QuoteParts::v4();
    let (raw, layout) = parts.build_with_layout();
    let q = Quote::parse(&raw).unwrap();
    assert_eq!(q.version(), QuoteVersion::V4);
    assert_eq!(q.body_kind(), TdReportKind::Tdx10);
    let h = q.header();
    assert_eq!((h.version, h.attestation_key_type, h.tee_type), (4, 2, 0x81));
    assert_eq!(h.reserved_pce_svn, u16::from_le_bytes(at(&raw, 8)));
    assert_eq!(h.reserved_qe_svn, u16::from_le_bytes(at(&raw, 10)));
    assert_eq!(h.qe_vendor_id, at(&raw, 0x0C));
    assert_eq!(h.user_data, at(&raw, 0x1C));
    assert_body_at(&q, &raw, 0x30);
    assert!(q.body().tdx15.is_none());
    assert_eq!(q.signed_region(), &raw[..0x278]);
    assert_eq!((layout.signed_region_len, layout.signed_data_size_at), (0x278, 0x278));

    let s = q.signature_data();
    assert_eq!(s.signature, [0x51; 64]);
    assert_eq!(s.attestation_key, [0x52; 64]);
    let qe = &s.qe_report;
    let qe_at = 0x27C + 134;
    assert_eq!(qe.raw, at(&raw, qe_at));
    assert_eq!(qe.cpu_svn, at(&raw, qe_at));
    assert_eq!(qe.misc_select, u32::from_le_bytes(at(&raw, qe_at + 16)));
    assert_eq!(qe.attributes, at(&raw, qe_at + 48));
    assert_eq!(qe.mr_enclave, at(&raw, qe_at + 64));
    assert_eq!(qe.mr_signer, at(&raw, qe_at + 128));
    assert_eq!(qe.isv_prod_id, u16::from_le_bytes(at(&raw, qe_at + 256)));
    assert_eq!(qe.isv_svn, u16::from_le_bytes(at(&raw, qe_at + 258)));
    assert_eq!(qe.report_data, at(&raw, qe_at + 320));
    assert_eq!(s.qe_report_signature, [0x53; 64]);
    assert_eq!(s.qe_auth_data, parts.qe_auth_data);
    assert_eq!(s.pck_chain_pem, parts.chain);

    assert_eq!(q.trailing_len(), 70);
    assert_eq!(q.trailing_bytes(), &[0u8; 70][..]);
    assert_eq!(q.raw(), &raw[..]);
}

#[test]
fn v5_bodies_of_both_types() {
    let (raw, _) = QuoteParts::v5(2).build_with_layout();
    let q = Quote::parse(&raw).unwrap();
    assert_eq!((q.version(), q.body_kind()), (QuoteVersion::V5, TdReportKind::Tdx10));
    assert_body_at(&q, &raw, 0x36);
    assert_eq!(q.signed_region(), &raw[..48 + 6 + 584]);
    assert!(q.mr_service_td_hex().is_none());
    assert!(q.describe().starts_with("valid QuoteV5, MRTD: "));

    let (raw, _) = QuoteParts::v5(3).build_with_layout();
    let q = Quote::parse(&raw).unwrap();
    assert_eq!(q.body_kind(), TdReportKind::Tdx15);
    assert_body_at(&q, &raw, 0x36);
    let extra = q.body().tdx15.as_ref().unwrap();
    assert_eq!(extra.tee_tcb_svn2, at(&raw, 0x36 + 584));
    assert_eq!(extra.mr_service_td, at(&raw, 0x36 + 600));
    assert_eq!(q.mr_service_td_hex().unwrap(), hex::encode(extra.mr_service_td));
    assert_eq!(q.signed_region(), &raw[..48 + 6 + 648]);
    assert_eq!(q.trailing_len(), 70);
}

#[test]
fn trailing_bytes_are_counted_and_optional() {
    for trailing in [vec![], vec![0xFF], b"extra bytes".to_vec(), vec![0; 307]] {
        let parts = QuoteParts { trailing: trailing.clone(), ..QuoteParts::v4() };
        let q = Quote::parse(&parts.build()).unwrap();
        assert_eq!(q.trailing_bytes(), &trailing[..]);
        assert_eq!(q.trailing_len(), trailing.len());
    }
}

#[test]
fn describe_debug_bit_and_hex_helpers() {
    let mut parts = QuoteParts::v4();
    parts.body[0x88..0xB8].copy_from_slice(&[0xAB; 48]);
    parts.body[0x88] = 0xB2;
    parts.body[0x78..0x80].copy_from_slice(&[0, 0, 0, 0x10, 0, 0, 0, 0]);
    let q = Quote::parse(&parts.build()).unwrap();
    assert_eq!(q.describe(), "valid QuoteV4, MRTD: b2ababababababab...");
    assert_eq!(q.describe(), format!("valid QuoteV4, MRTD: {}...", &q.mr_td_hex()[..16]));
    assert!(!q.debug_enabled());
    assert_eq!(q.td_attributes_hex(), "0000001000000000");
    assert_eq!(q.mr_td_hex(), format!("b2{}", "ab".repeat(47)));
    assert_eq!(q.report_data_hex().len(), 128);
    assert!(q.report_data_hex().bytes().all(|b| !b.is_ascii_uppercase()));
    assert_eq!(q.rtmr_hex()[3], hex::encode(q.body().rtmr[3]));
    for h in [q.mr_seam_hex(), q.mr_signer_seam_hex(), q.mr_config_id_hex(), q.mr_owner_hex(), q.mr_owner_config_hex()]
    {
        assert_eq!(h.len(), 96);
    }
    assert_eq!(q.tee_tcb_svn_hex().len(), 32);
    assert_eq!(q.xfam_hex().len(), 16);

    parts.body[0x78] = 0x01;
    assert!(Quote::parse(&parts.build()).unwrap().debug_enabled());
    // Other attribute bits do not count as debug.
    parts.body[0x78] = 0xFE;
    assert!(!Quote::parse(&parts.build()).unwrap().debug_enabled());
}

#[test]
fn hex_and_base64_entry_points() {
    use base64::Engine as _;
    let raw = QuoteParts::v4().build();
    let lower = hex::encode(&raw);
    assert_eq!(Quote::from_hex(&lower).unwrap().raw(), &raw[..]);
    assert_eq!(Quote::from_hex(&lower.to_uppercase()).unwrap().raw(), &raw[..]);
    assert!(matches!(Quote::from_hex(&lower[1..]), Err(QuoteError::Hex(_))));
    assert!(matches!(Quote::from_hex(&format!("0x{lower}")), Err(QuoteError::Hex(_))));
    assert!(matches!(Quote::from_hex(&format!("{lower}\n")), Err(QuoteError::Hex(_))));
    assert!(matches!(Quote::from_hex(&format!(" {lower} ")), Err(QuoteError::Hex(_))));
    assert!(matches!(Quote::from_hex(""), Err(QuoteError::TooShort { len: 0, .. })));
    let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
    assert_eq!(Quote::from_base64(&b64).unwrap().raw(), &raw[..]);
    assert!(matches!(Quote::from_base64("not base64!"), Err(QuoteError::Base64(_))));
    // Error text is readable.
    let e = Quote::from_hex("zz").unwrap_err().to_string();
    assert!(e.starts_with("quote is not valid hex"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Parse errors.
// ---------------------------------------------------------------------------------------------

fn parse_err(bytes: &[u8]) -> QuoteError {
    Quote::parse(bytes).expect_err("must not parse")
}

fn with_u16(mut raw: Vec<u8>, at: usize, v: u16) -> Vec<u8> {
    raw[at..at + 2].copy_from_slice(&v.to_le_bytes());
    raw
}

fn with_u32(mut raw: Vec<u8>, at: usize, v: u32) -> Vec<u8> {
    raw[at..at + 4].copy_from_slice(&v.to_le_bytes());
    raw
}

#[test]
fn short_input() {
    assert_eq!(parse_err(&[]), QuoteError::TooShort { len: 0, min: V4_MIN_LEN });
    assert_eq!(parse_err(&[4]), QuoteError::TooShort { len: 1, min: V4_MIN_LEN });
    let raw = QuoteParts::v4().build();
    assert_eq!(parse_err(&raw[..V4_MIN_LEN - 1]), QuoteError::TooShort { len: V4_MIN_LEN - 1, min: V4_MIN_LEN });
    let raw5 = QuoteParts::v5(2).build();
    assert_eq!(parse_err(&raw5[..V5_MIN_LEN - 1]), QuoteError::TooShort { len: V5_MIN_LEN - 1, min: V5_MIN_LEN });
    // Past the minimum but inside the signed data: the signed-data size does not fit.
    let (raw, layout) = QuoteParts::v4().build_with_layout();
    let cut = &raw[..layout.end_of_signed_data - 1];
    assert!(matches!(parse_err(cut), QuoteError::Truncated { field: "signed data", .. }));
    // Every truncation fails without panicking.
    for len in 0..layout.end_of_signed_data {
        assert!(Quote::parse(&raw[..len]).is_err(), "parsed at {len}");
    }
}

#[test]
fn bad_version() {
    let raw = QuoteParts::v4().build();
    for v in [0u16, 1, 3, 6, 0x0400, u16::MAX] {
        assert_eq!(parse_err(&with_u16(raw.clone(), 0, v)), QuoteError::UnsupportedVersion(v));
    }
}

#[test]
fn bad_attestation_key_type() {
    let raw = QuoteParts::v4().build();
    for t in [0u16, 1, 3, 4] {
        assert_eq!(parse_err(&with_u16(raw.clone(), 2, t)), QuoteError::AttestationKeyType(t));
    }
}

#[test]
fn bad_tee_type() {
    let raw = QuoteParts::v4().build();
    assert_eq!(parse_err(&with_u32(raw, 4, 0)), QuoteError::TeeType(0)); // SGX
}

#[test]
fn v5_bad_body_type_or_size() {
    let raw = QuoteParts::v5(2).build();
    for t in [0u16, 1, 4, 0xFFFF] {
        assert_eq!(parse_err(&with_u16(raw.clone(), 48, t)), QuoteError::BodyType(t));
    }
    assert_eq!(
        parse_err(&with_u32(raw.clone(), 50, 648)),
        QuoteError::BodySize { body_type: 2, size: 648, expected: 584 }
    );
    assert_eq!(
        parse_err(&with_u32(raw.clone(), 50, u32::MAX)),
        QuoteError::BodySize { body_type: 2, size: u32::MAX, expected: 584 }
    );
    // A TDX 1.0 body announced as TDX 1.5.
    let parts = QuoteParts { body_type: 3, ..QuoteParts::v5(2) };
    assert!(matches!(parse_err(&parts.build()), QuoteError::BodySize { body_type: 3, size: 584, expected: 648 }));
}

#[test]
fn length_fields_larger_than_the_input() {
    let (raw, l) = QuoteParts::v4().build_with_layout();
    let remaining_after_size = raw.len() - l.signed_data_size_at - 4;
    assert_eq!(
        parse_err(&with_u32(raw.clone(), l.signed_data_size_at, u32::MAX)),
        QuoteError::Truncated { field: "signed data", needed: u32::MAX as usize, available: remaining_after_size }
    );
    // Signed-data size too small: the fixed fields inside run out.
    assert!(matches!(
        parse_err(&with_u32(raw.clone(), l.signed_data_size_at, 100)),
        QuoteError::Truncated { field: "attestation key", needed: 64, available: 36 }
    ));
    // Outer certification data size must match exactly, larger or smaller.
    for v in [u32::MAX, 0, 1] {
        assert!(matches!(
            parse_err(&with_u32(raw.clone(), l.outer_size_at, v)),
            QuoteError::SizeMismatch { field: "QE report certification data size", .. }
        ));
    }
    // QE auth data size beyond the certification data.
    assert!(matches!(
        parse_err(&with_u16(raw.clone(), l.auth_size_at, u16::MAX)),
        QuoteError::Truncated { field: "QE authentication data", needed: 65535, .. }
    ));
    // PCK chain size must match exactly.
    for v in [u32::MAX, 0, (raw.len() - l.chain_size_at) as u32] {
        assert!(matches!(
            parse_err(&with_u32(raw.clone(), l.chain_size_at, v)),
            QuoteError::SizeMismatch { field: "PCK certificate chain size", .. }
        ));
    }
}

#[test]
fn bad_certification_data_types() {
    let (raw, l) = QuoteParts::v4().build_with_layout();
    assert_eq!(
        parse_err(&with_u16(raw.clone(), l.outer_type_at, 5)),
        QuoteError::CertDataType { expected: 6, found: 5 }
    );
    assert_eq!(
        parse_err(&with_u16(raw.clone(), l.inner_type_at, 6)),
        QuoteError::CertDataType { expected: 5, found: 6 }
    );
    let parts = QuoteParts { inner_type: 1, ..QuoteParts::v4() };
    assert_eq!(parse_err(&parts.build()), QuoteError::CertDataType { expected: 5, found: 1 });
}

#[test]
fn qe_auth_data_of_any_length() {
    for n in [0usize, 1, 32, 1000] {
        let parts = QuoteParts { qe_auth_data: vec![7; n], ..QuoteParts::v4() };
        let q = Quote::parse(&parts.build()).unwrap();
        assert_eq!(q.signature_data().qe_auth_data, vec![7; n]);
        assert_eq!(q.pem_chain().unwrap().len(), 3);
    }
}

// ---------------------------------------------------------------------------------------------
// PEM chain.
// ---------------------------------------------------------------------------------------------

fn quote_with_chain(chain: &[u8]) -> Quote {
    Quote::parse(&QuoteParts { chain: chain.to_vec(), ..QuoteParts::v4() }.build()).unwrap()
}

#[test]
fn pem_chain_splits_in_order() {
    let chain = sample_chain();
    let q = quote_with_chain(&chain.pem);
    let certs = q.pem_chain().unwrap();
    assert_eq!(certs.len(), 3);
    assert_eq!(certs[0].as_ref(), &chain.leaf_der[..]);
    // One trailing NUL is allowed; CRLF line ends too.
    let mut nul = chain.pem.clone();
    nul.push(0);
    assert_eq!(split_pem_chain(&nul).unwrap().len(), 3);
    let crlf = String::from_utf8(chain.pem.clone()).unwrap().replace('\n', "\r\n");
    assert_eq!(split_pem_chain(crlf.as_bytes()).unwrap(), certs);
    // Text before a block is skipped, as Go does.
    let mut prefixed = b"issuer chain follows\n".to_vec();
    prefixed.extend(&chain.pem);
    assert_eq!(split_pem_chain(&prefixed).unwrap(), certs);
    // A shorter chain is returned as is; counting is the verifier's job.
    let end = b"-----END CERTIFICATE-----\n";
    let first_end = chain.pem.windows(end.len()).position(|w| w == end).unwrap() + end.len();
    assert_eq!(split_pem_chain(&chain.pem[..first_end]).unwrap(), certs[..1]);
}

#[test]
fn garbage_pem() {
    let chain = &sample_chain().pem;
    let text = String::from_utf8(chain.clone()).unwrap();
    type Expect = fn(&PckError) -> bool;
    let cases: Vec<(Vec<u8>, Expect)> = vec![
        (b"".to_vec(), |e| *e == PckError::NoPemBlock),
        (b"\0".to_vec(), |e| *e == PckError::NoPemBlock),
        (b"garbage, not PEM at all".to_vec(), |e| *e == PckError::NoPemBlock),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n".to_vec(), |e| matches!(e, PckError::MalformedPem { index: 0, .. })),
        (b"-----BEGIN CERTIFICATE\nMIIB\n-----END CERTIFICATE-----\n".to_vec(), |e| {
            matches!(e, PckError::MalformedPem { .. })
        }),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERT-----\n".to_vec(), |e| {
            matches!(e, PckError::MalformedPem { .. })
        }),
        (
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(),
            |e| matches!(e, PckError::NotCertificate { index: 0, label } if label == "PRIVATE KEY"),
        ),
        (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec(), |e| {
            matches!(e, PckError::Base64 { index: 0 })
        }),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(), |e| {
            matches!(e, PckError::Der { index: 0, .. })
        }),
        ([chain.as_slice(), b"junk"].concat(), |e| *e == PckError::TrailingData { len: 4 }),
        ([chain.as_slice(), b"\0\0"].concat(), |e| *e == PckError::TrailingData { len: 2 }),
        ([chain.as_slice(), b"\n"].concat(), |e| *e == PckError::TrailingData { len: 1 }),
        (text.replacen("MII", "MI!", 1).into_bytes(), |e| matches!(e, PckError::Base64 { index: 0 })),
        (chain.repeat(3), |e| *e == PckError::TooManyBlocks { max: MAX_PEM_BLOCKS }),
        (
            format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", "A".repeat(30_000)).into_bytes(),
            |e| matches!(e, PckError::CertTooLarge { index: 0, .. }),
        ),
    ];
    for (input, ok) in cases {
        let e = split_pem_chain(&input).expect_err("garbage must not split");
        assert!(ok(&e), "{e:?} for {:?}", String::from_utf8_lossy(&input[..input.len().min(60)]));
        // Through the quote too: the quote parses, the chain does not.
        let q = quote_with_chain(&input);
        assert_eq!(q.pem_chain().unwrap_err(), e);
        assert!(q.pck_leaf().is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// PCK leaf.
// ---------------------------------------------------------------------------------------------

#[test]
fn pck_leaf_fields() {
    let q = quote_with_chain(&sample_chain().pem);
    let leaf = q.pck_leaf().unwrap();
    let v = SgxValues::sample();
    assert_eq!(leaf.fmspc_hex(), "90c06f000000");
    assert_eq!(leaf.ppid_hex(), "00112233445566778899aabbccddeeff");
    assert_eq!(leaf.pce_id_hex(), "0000");
    assert_eq!(leaf.cpu_svn_hex(), "a0".repeat(16));
    assert_eq!(leaf.tcb.sgx_components, v.components);
    assert_eq!(leaf.tcb.pce_svn, 13);
    assert_eq!(leaf.sgx_type, Some(0));
    assert_eq!(leaf.issuer_cn.as_deref(), Some("Test SGX PCK Platform CA"));
    assert_eq!(leaf.ca(), Ok(PckCa::Platform));
    assert_eq!(PckCa::Platform.as_str(), "platform");
    assert_eq!(PckLeaf::from_der(&sample_chain().leaf_der).unwrap(), leaf);
}

#[test]
fn ca_type_from_issuer() {
    assert_eq!(PckCa::from_issuer_cn("Intel SGX PCK Platform CA"), Ok(PckCa::Platform));
    assert_eq!(PckCa::from_issuer_cn("Intel SGX PCK Processor CA"), Ok(PckCa::Processor));
    assert_eq!(PckCa::Processor.as_str(), "processor");
    assert_eq!(PckCa::from_issuer_cn("Intel SGX Root CA"), Err(PckError::UnknownCa("Intel SGX Root CA".to_owned())));
    let chain = make_chain("Intel SGX PCK Processor CA", Some(SgxValues::sample().extension()));
    assert_eq!(PckLeaf::from_der(&chain.leaf_der).unwrap().ca(), Ok(PckCa::Processor));
    let chain = make_chain("Some Other CA", Some(SgxValues::sample().extension()));
    assert!(matches!(PckLeaf::from_der(&chain.leaf_der).unwrap().ca(), Err(PckError::UnknownCa(_))));
}

fn leaf_with_items(items: &[Vec<u8>]) -> Result<PckLeaf, PckError> {
    PckLeaf::from_der(&make_chain("Test PCK Platform CA", Some(seq(items))).leaf_der)
}

#[test]
fn bad_sgx_extensions() {
    // No SGX extension at all.
    let chain = make_chain("Test PCK Platform CA", None);
    assert_eq!(PckLeaf::from_der(&chain.leaf_der), Err(PckError::MissingSgxExtension));

    let v = SgxValues::sample();
    let good = v.items();
    assert!(leaf_with_items(&good).is_ok());
    let sgx_err = |r: Result<PckLeaf, PckError>, needle: &str| match r {
        Err(PckError::SgxExtension(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
        other => panic!("expected SGX extension error with {needle:?}, got {other:?}"),
    };
    // Each required item missing.
    for (i, name) in ["PPID", "TCB", "PCE-ID", "FMSPC"].iter().enumerate() {
        let mut items = good.clone();
        items.remove(i);
        sgx_err(leaf_with_items(&items), &format!("no {name}"));
    }
    // Wrong sizes and types.
    let mut items = good.clone();
    items[3] = sgx_item("4", octets(&[0x90, 0xC0, 0x6F, 0, 0]));
    sgx_err(leaf_with_items(&items), "FMSPC has 5 bytes");
    items[3] = sgx_item("4", uint(5));
    sgx_err(leaf_with_items(&items), "FMSPC is not an OCTET STRING");
    let mut items = good.clone();
    items[0] = sgx_item("1", octets(&[1; 17]));
    sgx_err(leaf_with_items(&items), "PPID has 17 bytes");
    // Duplicates.
    let mut items = good.clone();
    items.push(good[3].clone());
    sgx_err(leaf_with_items(&items), "FMSPC appears more than once");
    // Not a sequence of SEQUENCE { OID, value }.
    sgx_err(leaf_with_items(&[octets(&[1, 2, 3])]), "item is not SEQUENCE");
    sgx_err(PckLeaf::from_der(&make_chain("X", Some(octets(&[1]))).leaf_der), "not a SEQUENCE");

    // TCB with the wrong number of items, a duplicate, an out-of-range SVN, a foreign OID.
    let tcb_err = |tcb: Vec<Vec<u8>>, needle: &str| {
        let mut items = good.clone();
        items[1] = sgx_item("2", seq(&tcb));
        sgx_err(leaf_with_items(&items), needle);
    };
    let tcb = v.tcb_items();
    tcb_err(tcb[..17].to_vec(), "TCB has 17 items");
    let mut dup = tcb.clone();
    dup[1] = dup[0].clone();
    tcb_err(dup, "TCB component appears more than once");
    let mut big = tcb.clone();
    big[0] = sgx_item("2.1", uint(256));
    tcb_err(big, "TCB component 1 is not an INTEGER 0..255");
    let mut neg = tcb.clone();
    neg[0] = sgx_item("2.1", tlv(0x02, &[0xFF]));
    tcb_err(neg, "TCB component 1 is not an INTEGER 0..255");
    let mut pce = tcb.clone();
    pce[16] = sgx_item("2.17", uint(70_000));
    tcb_err(pce, "PCESVN");
    let mut foreign = tcb.clone();
    foreign[5] = sgx_item("3", uint(1));
    tcb_err(foreign, "unexpected TCB item");
    let mut arc19 = tcb.clone();
    arc19[5] = sgx_item("2.19", uint(1));
    tcb_err(arc19, "unexpected TCB item");
    let mut cpusvn = tcb;
    cpusvn[17] = sgx_item("2.18", octets(&[0; 15]));
    tcb_err(cpusvn, "CPUSVN has 15 bytes");
    let mut items = good.clone();
    items[1] = sgx_item("2", octets(&[0; 18]));
    sgx_err(leaf_with_items(&items), "TCB is not a SEQUENCE");
}

#[test]
fn bad_leaf_der() {
    assert!(matches!(PckLeaf::from_der(&[]), Err(PckError::Der { .. })));
    assert!(matches!(PckLeaf::from_der(&[0x30, 0x03, 1, 2, 3]), Err(PckError::Der { .. })));
    let leaf = &sample_chain().leaf_der;
    assert!(matches!(PckLeaf::from_der(&leaf[..leaf.len() - 1]), Err(PckError::Der { .. })));
    assert_eq!(
        PckLeaf::from_der(&vec![0; MAX_CERT_DER + 1]),
        Err(PckError::CertTooLarge { index: 0, max: MAX_CERT_DER })
    );
}

#[test]
fn testutil_der_helpers_match_known_encodings() {
    assert_eq!(uint(0), [0x02, 0x01, 0x00]);
    assert_eq!(uint(0x80), [0x02, 0x02, 0x00, 0x80]);
    assert_eq!(
        testutil::oid("1.2.840.113741.1.13.1"),
        [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01]
    );
    assert_eq!(tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
}
