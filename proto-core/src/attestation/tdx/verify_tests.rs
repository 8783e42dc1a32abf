//! Unit tests of the TDX verifier on a synthetic Intel-shaped PKI: an rcgen root, PCK Platform
//! CA and PCK leaf with the Intel names and a real SGX extension, a TCB signer, CRLs from both
//! CAs, signed TCB info and QE identity, and quotes laid out by `testutil` and signed here.

use std::sync::OnceLock;

use p256::ecdsa::Signature;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, CrlDistributionPoint,
    CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams,
    SerialNumber, SigningKey as _,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::der::Decode as _;

use super::testutil::{QuoteParts, SgxValues};
use super::*;
use crate::fetch::{FetchError, FetchResponse};
use crate::report::Status;

/// 2026-05-01T00:00:00Z: inside every validity window below.
const NOW: u64 = 1_777_593_600;
const ISSUE_DATE: &str = "2026-04-24T00:00:00Z";
/// 2026-05-24T00:00:00Z.
const NEXT_UPDATE: &str = "2026-05-24T00:00:00Z";
const NEXT_UPDATE_SECS: u64 = 1_779_580_800;
const INTEL_QE_VENDOR_ID: [u8; 16] =
    [0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07];
const LEAF_SERIAL: u64 = 0x1234_5678;
const QE_MR_SIGNER: [u8; 32] = [0xDC; 32];

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).expect("timestamp")
}

/// Signs with an rcgen key and returns raw `r ‖ s`.
fn sign_raw(key: &KeyPair, msg: &[u8]) -> [u8; 64] {
    let der = key.sign(msg).expect("sign");
    Signature::from_der(&der).expect("DER signature").to_bytes().into()
}

/// The raw `X ‖ Y` of an rcgen P-256 key.
fn raw_public(key: &KeyPair) -> [u8; 64] {
    key.public_key_raw()[1..].try_into().expect("uncompressed P-256 point")
}

fn ca_params(cn: &str, path_len: u8) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name.push(DnType::OrganizationName, "Intel Corporation");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = at(1_577_836_800);
    p.not_after = at(1_893_456_000);
    p
}

/// How to vary the PCK chain from Intel's shape.
#[derive(Clone)]
struct ChainSpec {
    root_cn: &'static str,
    ca_cn: &'static str,
    leaf_cn: &'static str,
    root_path_len: u8,
    ca_is_ca: bool,
    ca_extra: Option<CustomExtension>,
    leaf_validity: (i64, i64),
    /// Extended key usage on the leaf, in place of its CRL distribution point (keeps six
    /// extensions).
    leaf_eku: Option<ExtendedKeyUsagePurpose>,
    leaf_extra: Option<CustomExtension>,
    /// NotAfter of the TCB signer (collateral), seconds.
    signer_not_after: i64,
}

impl Default for ChainSpec {
    fn default() -> Self {
        ChainSpec {
            root_cn: "Intel SGX Root CA",
            ca_cn: "Intel SGX PCK Platform CA",
            leaf_cn: "Intel SGX PCK Certificate",
            root_path_len: 1,
            ca_is_ca: true,
            ca_extra: None,
            leaf_validity: (1_577_836_800, 1_893_456_000),
            leaf_eku: None,
            leaf_extra: None,
            signer_not_after: 1_893_456_000,
        }
    }
}

/// A generated PKI: PCK chain plus the collateral signers.
struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    ca: CertifiedIssuer<'static, KeyPair>,
    leaf_key: KeyPair,
    leaf_pem: String,
    tcb_signer_pem: String,
    tcb_signer_key: KeyPair,
}

impl Pki {
    fn new(spec: &ChainSpec) -> Pki {
        let root = CertifiedIssuer::self_signed(
            ca_params(spec.root_cn, spec.root_path_len),
            KeyPair::generate().expect("root key"),
        )
        .expect("root");
        let mut ca_p = ca_params(spec.ca_cn, 0);
        ca_p.use_authority_key_identifier_extension = true;
        if !spec.ca_is_ca {
            ca_p.is_ca = IsCa::ExplicitNoCa;
            ca_p.key_usages = Vec::new();
        }
        ca_p.custom_extensions.extend(spec.ca_extra.clone());
        let ca = CertifiedIssuer::signed_by(ca_p, KeyPair::generate().expect("CA key"), &root).expect("CA");

        // Six extensions, as on Intel's PCK certificates: AKI, CRL DP (or EKU), SKI, key usage,
        // basic constraints, SGX.
        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf_p = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
        leaf_p.distinguished_name.push(DnType::CommonName, spec.leaf_cn);
        leaf_p.serial_number = Some(SerialNumber::from(LEAF_SERIAL));
        leaf_p.is_ca = IsCa::ExplicitNoCa;
        leaf_p.use_authority_key_identifier_extension = true;
        leaf_p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];
        match spec.leaf_eku.clone() {
            Some(eku) => leaf_p.extended_key_usages = vec![eku],
            None => {
                leaf_p.crl_distribution_points =
                    vec![CrlDistributionPoint { uris: vec!["https://example.invalid/pckcrl".to_owned()] }]
            }
        }
        leaf_p
            .custom_extensions
            .push(CustomExtension::from_oid_content(&[1, 2, 840, 113741, 1, 13, 1], SgxValues::sample().extension()));
        leaf_p.custom_extensions.extend(spec.leaf_extra.clone());
        leaf_p.not_before = at(spec.leaf_validity.0);
        leaf_p.not_after = at(spec.leaf_validity.1);
        let leaf = leaf_p.signed_by(&leaf_key, &ca).expect("leaf");

        let tcb_signer_key = KeyPair::generate().expect("TCB signer key");
        let mut signer_p = CertificateParams::new(Vec::<String>::new()).expect("signer params");
        signer_p.distinguished_name.push(DnType::CommonName, "Intel SGX TCB Signing");
        signer_p.is_ca = IsCa::ExplicitNoCa;
        signer_p.use_authority_key_identifier_extension = true;
        signer_p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];
        signer_p.not_before = at(1_577_836_800);
        signer_p.not_after = at(spec.signer_not_after);
        let signer = signer_p.signed_by(&tcb_signer_key, &root).expect("TCB signer");

        Pki { leaf_pem: leaf.pem(), tcb_signer_pem: signer.pem(), tcb_signer_key, root, ca, leaf_key }
    }

    fn anchor(&self) -> TrustAnchor {
        TrustAnchor::for_tests(self.root.der())
    }

    /// Leaf, CA, root, then a NUL byte, as in real quotes.
    fn chain_pem(&self) -> Vec<u8> {
        let mut pem = format!("{}{}{}", self.leaf_pem, self.ca.pem(), self.root.pem()).into_bytes();
        pem.push(0);
        pem
    }
}

/// The PKI in Intel's shape, generated once.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| Pki::new(&ChainSpec::default()))
}

// Offsets in a version-4 quote.
const BODY: usize = 0x30;
const SIGNED_DATA: usize = 0x27C;
const QE_REPORT: usize = SIGNED_DATA + 134;
const QE_REPORT_SIG: usize = QE_REPORT + 384;
const QE_AUTH: usize = QE_REPORT_SIG + 64 + 2;
/// TEE_TCB_SVN: module SVN 0 selects no TDX module identity.
const TEE_TCB_SVN: [u8; 16] = [3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// The QE report the synthetic QE identity describes, binding `key` and `auth`.
fn qe_report(attestation_key: &[u8; 64], auth: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8; 384];
    r[48] = 0x11; // ATTRIBUTES: INIT | MODE64BIT, not DEBUG
    r[128..160].copy_from_slice(&QE_MR_SIGNER);
    r[256..258].copy_from_slice(&2u16.to_le_bytes()); // ISVPRODID
    r[258..260].copy_from_slice(&4u16.to_le_bytes()); // ISVSVN
    let mut h = Sha256::new();
    h.update(attestation_key);
    h.update(auth);
    r[320..352].copy_from_slice(&h.finalize());
    r
}

/// A signed version-4 quote over `chain`, with a TD body dcap-qvl accepts.
fn signed_quote_with(pki: &Pki, chain: Vec<u8>) -> Vec<u8> {
    let attestation = KeyPair::generate().expect("attestation key");
    let ak = raw_public(&attestation);
    let mut parts = QuoteParts::v4();
    parts.chain = chain;
    parts.qe_report = qe_report(&ak, &parts.qe_auth_data);
    parts.body[..16].copy_from_slice(&TEE_TCB_SVN);
    parts.body[0x40..0x70].fill(0); // MRSIGNERSEAM (Intel's module: zero)
    parts.body[0x70..0x78].fill(0); // SEAM_ATTRIBUTES
    parts.body[0x78..0x80].copy_from_slice(&[0, 0, 0, 0x10, 0, 0, 0, 0]); // TD_ATTRIBUTES: SEPT_VE_DISABLE
    let (mut q, layout) = parts.build_with_layout();
    assert_eq!(layout.signed_data_size_at + 4, SIGNED_DATA);
    q[12..28].copy_from_slice(&INTEL_QE_VENDOR_ID);
    q[SIGNED_DATA + 64..SIGNED_DATA + 128].copy_from_slice(&ak);
    let sig = sign_raw(&attestation, &q[..layout.signed_region_len]);
    q[SIGNED_DATA..SIGNED_DATA + 64].copy_from_slice(&sig);
    let qe_sig = sign_raw(&pki.leaf_key, &q[QE_REPORT..QE_REPORT + 384]);
    q[QE_REPORT_SIG..QE_REPORT_SIG + 64].copy_from_slice(&qe_sig);
    q
}

fn signed_quote(pki: &Pki) -> Vec<u8> {
    signed_quote_with(pki, pki.chain_pem())
}

fn sample_quote() -> &'static [u8] {
    static QUOTE: OnceLock<Vec<u8>> = OnceLock::new();
    QUOTE.get_or_init(|| signed_quote(pki()))
}

fn parse(bytes: &[u8]) -> Quote {
    Quote::parse(bytes).expect("synthetic quote parses")
}

fn offline(bytes: &[u8]) -> Result<OfflineOk, TdxVerifyError> {
    offline_verify(&parse(bytes), &pki().anchor(), NOW)
}

fn cert_problem(r: Result<OfflineOk, TdxVerifyError>) -> (ChainPosition, CertProblem) {
    match r {
        Err(TdxVerifyError::Certificate { position, problem }) => (position, problem),
        other => panic!("expected a certificate problem, got {other:?}"),
    }
}

fn chain_with(spec: ChainSpec) -> (Pki, Result<OfflineOk, TdxVerifyError>) {
    let pki = Pki::new(&spec);
    let quote = signed_quote(&pki);
    let result = offline_verify(&parse(&quote), &pki.anchor(), NOW);
    (pki, result)
}

// ---------------------------------------------------------------------------------------------
// Trust anchor
// ---------------------------------------------------------------------------------------------

#[test]
fn intel_root_is_the_pinned_certificate() {
    assert_eq!(Sha256::digest(INTEL_SGX_ROOT_CA_DER)[..], INTEL_SGX_ROOT_CA_SHA256);
    let anchor = TrustAnchor::intel();
    assert!(anchor.is_intel());
    assert_eq!(anchor.der(), INTEL_SGX_ROOT_CA_DER);
    let cert = x509_cert::Certificate::from_der(anchor.der()).expect("root parses");
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.subject().common_name().unwrap().unwrap().value(), "Intel SGX Root CA");
    assert_eq!(tbs.subject(), tbs.issuer());
    // 2018-05-21T10:45:10Z .. 2049-12-31T23:59:59Z
    assert_eq!(tbs.validity().not_before.to_unix_duration().as_secs(), 1_526_899_510);
    assert_eq!(tbs.validity().not_after.to_unix_duration().as_secs(), 2_524_607_999);
    assert!(!pki().anchor().is_intel());
}

// ---------------------------------------------------------------------------------------------
// Offline pass
// ---------------------------------------------------------------------------------------------

#[test]
fn synthetic_quote_passes_under_its_test_root() {
    let ok = offline(sample_quote()).expect("offline pass");
    assert!(!ok.intel_root);
    assert_eq!(ok.pck.fmspc_hex(), "90c06f000000");
    let (chain, sig) = offline_verdicts(&Ok(ok.clone()));
    assert_eq!((chain.status, chain.detail.as_str()), (Status::Pass, "certificate chain valid (Intel root CA)"));
    assert_eq!((sig.status, sig.detail.as_str()), (Status::Pass, "quote signature verified"));
    let (chain, sig) = gateway_offline_verdicts(&Ok(ok));
    assert_eq!(chain.detail, "gateway certificate chain valid (Intel root CA)");
    assert_eq!(sig.detail, "gateway quote signature verified");
}

#[test]
fn production_anchor_rejects_a_chain_under_a_test_root() {
    let r = offline_verify(&parse(sample_quote()), &TrustAnchor::intel(), NOW);
    assert_eq!(r, Err(TdxVerifyError::UntrustedRoot));
    let (chain, sig) = offline_verdicts(&r);
    assert_eq!(chain.status, Status::Fail);
    assert_eq!(chain.detail, "cert chain verification failed: PCK chain root is not the trusted root certificate");
    assert_eq!(sig.detail, "quote signature invalid: PCK chain root is not the trusted root certificate");
}

#[test]
fn tampering_fails_the_right_step() {
    let good = sample_quote();
    let flipped = |at: usize| {
        let mut q = good.to_vec();
        q[at] ^= 0x01;
        offline(&q)
    };
    // Header and TD body are signed by the attestation key.
    assert_eq!(flipped(0x1C), Err(TdxVerifyError::QuoteSignature), "header user data");
    assert_eq!(flipped(BODY + 0x208), Err(TdxVerifyError::QuoteSignature), "REPORTDATA");
    assert_eq!(flipped(SIGNED_DATA + 5), Err(TdxVerifyError::QuoteSignature), "signature r");
    assert_eq!(flipped(SIGNED_DATA + 40), Err(TdxVerifyError::QuoteSignature), "signature s");
    assert!(
        matches!(flipped(SIGNED_DATA + 64), Err(TdxVerifyError::AttestationKey | TdxVerifyError::QuoteSignature)),
        "attestation key"
    );
    assert_eq!(flipped(QE_REPORT + 64), Err(TdxVerifyError::QeReportSignature), "QE report MRENCLAVE");
    assert_eq!(flipped(QE_REPORT + 330), Err(TdxVerifyError::QeReportSignature), "QE report data");
    assert_eq!(flipped(QE_REPORT_SIG + 7), Err(TdxVerifyError::QeReportSignature), "QE report signature");
    // The QE auth data is bound only through the QE report data.
    assert_eq!(flipped(QE_AUTH + 3), Err(TdxVerifyError::QeReportData), "QE auth data");
    // Trailing bytes are not covered by anything.
    assert!(flipped(good.len() - 1).is_ok(), "trailing byte");
}

#[test]
fn qe_report_data_must_end_in_zeros() {
    let pki = pki();
    let mut q = sample_quote().to_vec();
    q[QE_REPORT + 383] = 1;
    let qe_sig = sign_raw(&pki.leaf_key, &q[QE_REPORT..QE_REPORT + 384]);
    q[QE_REPORT_SIG..QE_REPORT_SIG + 64].copy_from_slice(&qe_sig);
    assert_eq!(offline(&q), Err(TdxVerifyError::QeReportData));
}

/// The base64 character whose value differs from `c`'s in its top bit (value ^ 32).
fn flip_sextet_top_bit(c: u8) -> u8 {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let v = B64.iter().position(|&b| b == c).expect("base64 character");
    B64[v ^ 32]
}

#[test]
fn a_tampered_pck_chain_fails() {
    let good = sample_quote();
    let pem_at = good.windows(5).position(|w| w == b"-----").expect("PEM in quote");
    let end = good.windows(9).position(|w| w == b"-----END ").expect("END line");
    // A base64 character well inside the leaf's signature value: the 30th data character
    // before END (newlines and padding skipped), its top sextet bit flipped so the decoded
    // byte always changes (flipping a low bit of the last character can be absorbed by the
    // padding, which made this test flaky with random keys).
    let mut q = good.to_vec();
    let i = (pem_at..end).rev().filter(|&i| q[i].is_ascii_alphanumeric() || q[i] == b'+' || q[i] == b'/').nth(30).expect("base64");
    q[i] = flip_sextet_top_bit(q[i]);
    assert_eq!(cert_problem(offline(&q)), (ChainPosition::Leaf, CertProblem::BadSignature));
    // Anywhere in the leaf: some step fails, never a pass.
    for i in (pem_at + 40..end).step_by(97) {
        let mut q = good.to_vec();
        if !(q[i].is_ascii_alphanumeric() || q[i] == b'+' || q[i] == b'/') {
            continue;
        }
        q[i] = flip_sextet_top_bit(q[i]);
        if let Ok(q) = Quote::parse(&q) {
            assert!(offline_verify(&q, &pki().anchor(), NOW).is_err(), "flip at {i} passed");
        }
    }
}

#[test]
fn chain_shape_and_names_are_checked() {
    let pki = pki();
    let der = |pem: &str| pem.as_bytes().to_vec();
    let two = [der(&pki.leaf_pem), der(&pki.ca.pem())].concat();
    let r = offline_verify(&parse(&signed_quote_with(pki, two)), &pki.anchor(), NOW);
    assert_eq!(r, Err(TdxVerifyError::ChainLength(2)));

    let swapped = [der(&pki.leaf_pem), der(&pki.root.pem()), der(&pki.ca.pem())].concat();
    let r = offline_verify(&parse(&signed_quote_with(pki, swapped)), &pki.anchor(), NOW);
    assert!(matches!(
        cert_problem(r),
        (ChainPosition::Intermediate, CertProblem::CommonName { expected: "Intel SGX PCK Platform CA", .. })
    ));

    let (_, r) = chain_with(ChainSpec { leaf_cn: "Test SGX PCK Certificate", ..ChainSpec::default() });
    assert!(matches!(cert_problem(r), (ChainPosition::Leaf, CertProblem::CommonName { .. })));
    // go-tdx-guest accepts only the Platform CA.
    let (_, r) = chain_with(ChainSpec { ca_cn: "Intel SGX PCK Processor CA", ..ChainSpec::default() });
    assert!(matches!(cert_problem(r), (ChainPosition::Intermediate, CertProblem::CommonName { .. })));
    let (_, r) = chain_with(ChainSpec { root_cn: "Test SGX Root CA", ..ChainSpec::default() });
    assert!(matches!(cert_problem(r), (ChainPosition::Root, CertProblem::CommonName { .. })));

    let extra = CustomExtension::from_oid_content(&[1, 2, 3, 4], vec![0x05, 0x00]);
    let (_, r) = chain_with(ChainSpec { leaf_extra: Some(extra), ..ChainSpec::default() });
    assert_eq!(r, Err(TdxVerifyError::LeafExtensionCount(7)));
}

#[test]
fn a_chain_through_another_root_with_the_same_name_fails() {
    let pki = pki();
    let other = Pki::new(&ChainSpec::default());
    // Leaf and CA from `pki`, root from `other`; trusting `other`'s root.
    let chain = format!("{}{}{}", pki.leaf_pem, pki.ca.pem(), other.root.pem()).into_bytes();
    let r = offline_verify(&parse(&signed_quote_with(pki, chain)), &other.anchor(), NOW);
    assert_eq!(cert_problem(r), (ChainPosition::Intermediate, CertProblem::BadSignature));
}

#[test]
fn validity_is_checked_at_the_given_time() {
    let (short_lived, ok) =
        chain_with(ChainSpec { leaf_validity: (NOW as i64 - 100, NOW as i64 + 100), ..ChainSpec::default() });
    assert!(ok.is_ok());
    let q = parse(&signed_quote(&short_lived));
    let anchor = short_lived.anchor();
    assert!(offline_verify(&q, &anchor, NOW + 100).is_ok(), "NotAfter itself is valid");
    assert!(offline_verify(&q, &anchor, NOW - 100).is_ok(), "NotBefore itself is valid");
    let (position, problem) = cert_problem(offline_verify(&q, &anchor, NOW + 101));
    assert_eq!(
        (position, problem),
        (ChainPosition::Leaf, CertProblem::Expired { not_after: NOW + 100, now: NOW + 101 })
    );
    let (position, problem) = cert_problem(offline_verify(&q, &anchor, NOW - 101));
    assert_eq!(
        (position, problem),
        (ChainPosition::Leaf, CertProblem::NotYetValid { not_before: NOW - 100, now: NOW - 101 })
    );
    // The CAs of the shared PKI end in 2030.
    let r = offline_verify(&parse(sample_quote()), &pki().anchor(), 1_893_456_001);
    assert!(matches!(cert_problem(r), (ChainPosition::Root, CertProblem::Expired { .. })));
}

#[test]
fn ca_rules_follow_go_verify() {
    let (_, r) = chain_with(ChainSpec { ca_is_ca: false, ..ChainSpec::default() });
    assert_eq!(cert_problem(r), (ChainPosition::Intermediate, CertProblem::NotCa));
    let (_, r) = chain_with(ChainSpec { root_path_len: 0, ..ChainSpec::default() });
    assert_eq!(cert_problem(r), (ChainPosition::Root, CertProblem::PathLength));
    let mut critical = CustomExtension::from_oid_content(&[1, 2, 3, 4], vec![0x05, 0x00]);
    critical.set_criticality(true);
    let (_, r) = chain_with(ChainSpec { ca_extra: Some(critical), ..ChainSpec::default() });
    assert_eq!(
        cert_problem(r),
        (ChainPosition::Intermediate, CertProblem::UnhandledCriticalExtension("1.2.3.4".to_owned()))
    );
    let (_, r) = chain_with(ChainSpec { leaf_eku: Some(ExtendedKeyUsagePurpose::ClientAuth), ..ChainSpec::default() });
    assert_eq!(cert_problem(r), (ChainPosition::Leaf, CertProblem::ExtendedKeyUsage));
    let (_, r) = chain_with(ChainSpec { leaf_eku: Some(ExtendedKeyUsagePurpose::ServerAuth), ..ChainSpec::default() });
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn verdicts_without_a_verifiable_quote() {
    let (chain, sig) = offline_verdicts_unparsed(false);
    assert_eq!((chain.status, chain.detail.as_str()), (Status::Skip, "quote parse failed; cert chain not extracted"));
    assert_eq!((sig.status, sig.detail.as_str()), (Status::Skip, "quote parse failed; signature not verified"));
    let (chain, _) = offline_verdicts_unparsed(true);
    assert_eq!(chain.detail, "gateway quote parse failed; cert chain not extracted");
    let (chain, sig) = offline_verdicts_no_quote();
    assert_eq!((chain.status, sig.status), (Status::Fail, Status::Fail));
    let (a, b, c) = collateral_verdicts_unparsed();
    assert_eq!((a.status, b.status, c.status), (Status::Skip, Status::Skip, Status::Skip));
    let (a, b, c) = collateral_verdicts_offline(&TEE_TCB_SVN);
    assert_eq!(a.detail, "offline mode; Intel PCS collateral not fetched");
    assert_eq!(b.detail, "TEE_TCB_SVN: 03000200000000000000000000000000 (offline; full check requires Intel PCS)");
    assert_eq!(c.detail, "offline; Intel PCS collateral not fetched");
}

// ---------------------------------------------------------------------------------------------
// Collateral and the online pass
// ---------------------------------------------------------------------------------------------

/// URL-encodes everything but unreserved characters, as Intel PCS encodes its headers.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn response(status: u16, headers: Vec<(&str, String)>, body: Vec<u8>) -> FetchResponse {
    FetchResponse {
        status,
        headers: headers.into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
        body,
        peer_spki: None,
    }
}

/// What to put into the synthetic collateral.
struct CollateralSpec {
    tcb_status: &'static str,
    advisories: &'static [&'static str],
    revoke_leaf: bool,
}

impl Default for CollateralSpec {
    fn default() -> Self {
        CollateralSpec { tcb_status: "UpToDate", advisories: &[], revoke_leaf: false }
    }
}

fn tcb_info_json(spec: &CollateralSpec) -> String {
    let zeros16 = vec![r#"{"svn":0}"#; 16].join(",");
    let advisories = spec.advisories.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(",");
    format!(
        concat!(
            r#"{{"id":"TDX","version":3,"issueDate":"{issue}","nextUpdate":"{next}","fmspc":"90c06f000000","#,
            r#""pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":18,"tdxModule":{{"mrsigner":"{mrsigner}","#,
            r#""attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF"}},"tdxModuleIdentities":[],"#,
            r#""tcbLevels":[{{"tcb":{{"sgxtcbcomponents":[{z}],"pcesvn":0,"tdxtcbcomponents":[{z}]}},"#,
            r#""tcbDate":"2025-01-01T00:00:00Z","tcbStatus":"{status}","advisoryIDs":[{adv}]}}]}}"#
        ),
        issue = ISSUE_DATE,
        next = NEXT_UPDATE,
        mrsigner = "0".repeat(96),
        z = zeros16,
        status = spec.tcb_status,
        adv = advisories,
    )
}

fn qe_identity_json() -> String {
    format!(
        concat!(
            r#"{{"id":"TD_QE","version":2,"issueDate":"{issue}","nextUpdate":"{next}","tcbEvaluationDataNumber":18,"#,
            r#""miscselect":"00000000","miscselectMask":"FFFFFFFF","attributes":"11000000000000000000000000000000","#,
            r#""attributesMask":"FBFFFFFFFFFFFFFF0000000000000000","mrsigner":"{mrsigner}","isvprodid":2,"#,
            r#""tcbLevels":[{{"tcb":{{"isvsvn":4}},"tcbDate":"2025-01-01T00:00:00Z","tcbStatus":"UpToDate"}}]}}"#
        ),
        issue = ISSUE_DATE,
        next = NEXT_UPDATE,
        mrsigner = hex::encode_upper(QE_MR_SIGNER),
    )
}

fn crl(issuer: &CertifiedIssuer<'static, KeyPair>, revoked: Vec<RevokedCertParams>) -> Vec<u8> {
    let params = CertificateRevocationListParams {
        this_update: at(1_735_689_600),
        next_update: at(1_893_456_000),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    params.signed_by(issuer).expect("CRL").der().to_vec()
}

/// The four PCS answers for the synthetic PKI.
fn answers(pki: &Pki, spec: &CollateralSpec) -> [FetchResponse; 4] {
    let signed = |name: &str, json: String| {
        let sig = hex::encode(sign_raw(&pki.tcb_signer_key, json.as_bytes()));
        format!("{{\"{name}\":{json},\"signature\":\"{sig}\"}}").into_bytes()
    };
    let tcb_chain = url_encode(&format!("{}{}", pki.tcb_signer_pem, pki.root.pem()));
    let crl_chain = url_encode(&format!("{}{}", pki.ca.pem(), pki.root.pem()));
    let revoked = if spec.revoke_leaf {
        vec![RevokedCertParams {
            serial_number: SerialNumber::from(LEAF_SERIAL),
            revocation_time: at(1_735_689_600),
            reason_code: None,
            invalidity_date: None,
        }]
    } else {
        Vec::new()
    };
    [
        response(200, vec![("Tcb-Info-Issuer-Chain", tcb_chain.clone())], signed("tcbInfo", tcb_info_json(spec))),
        response(
            200,
            vec![("Sgx-Enclave-Identity-Issuer-Chain", tcb_chain)],
            signed("enclaveIdentity", qe_identity_json()),
        ),
        response(200, vec![("Sgx-Pck-Crl-Issuer-Chain", crl_chain)], crl(&pki.ca, revoked)),
        response(200, Vec::new(), crl(&pki.root, Vec::new())),
    ]
}

fn collateral_for(spec: &CollateralSpec) -> Collateral {
    collateral_of(pki(), spec)
}

fn collateral_of(pki: &Pki, spec: &CollateralSpec) -> Collateral {
    let [a, b, c, d] = answers(pki, spec);
    Collateral::from_answers(&a, &b, &c, &d).expect("synthetic collateral")
}

fn online(collateral: &Collateral, now: u64) -> Result<TcbResult, TdxVerifyError> {
    online_verify(&parse(sample_quote()), collateral, &pki().anchor(), now)
}

fn pcs_kind(r: Result<TcbResult, TdxVerifyError>) -> PcsFailureKind {
    match r {
        Err(TdxVerifyError::Pcs(f)) => f.kind,
        other => panic!("expected a dcap-qvl failure, got {other:?}"),
    }
}

#[test]
fn up_to_date_collateral_passes_all_three_factors() {
    let collateral = collateral_for(&CollateralSpec::default());
    assert!(collateral.tcb_info_json().starts_with(r#"{"id":"TDX""#));
    assert!(collateral.qe_identity_json().starts_with(r#"{"id":"TD_QE""#));
    let r = online(&collateral, NOW);
    assert_eq!(r, Ok(TcbResult { status: TcbStatus::UpToDate, advisory_ids: Vec::new() }));
    let (pcs, current, revoked) = collateral_verdicts(&r, &TEE_TCB_SVN);
    assert_eq!(
        (pcs.status, pcs.detail.as_str()),
        (Status::Pass, "Intel PCS collateral fetched (TCB status: UpToDate)")
    );
    assert_eq!((current.status, current.detail.as_str()), (Status::Pass, "TCB is UpToDate per Intel PCS"));
    assert_eq!((revoked.status, revoked.detail.as_str()), (Status::Pass, "TCB status UpToDate is not Revoked"));

    let with_advisories = Ok(TcbResult { status: TcbStatus::UpToDate, advisory_ids: vec!["INTEL-SA-1".into()] });
    let (_, current, _) = collateral_verdicts(&with_advisories, &TEE_TCB_SVN);
    assert_eq!(current.detail, "TCB is UpToDate per Intel PCS (advisories: INTEL-SA-1)");
}

#[test]
fn other_statuses_are_collateral_errors_as_in_the_reference() {
    for (status, expected) in [
        ("OutOfDate", TcbStatus::OutOfDate),
        ("SWHardeningNeeded", TcbStatus::SwHardeningNeeded),
        ("ConfigurationNeeded", TcbStatus::ConfigurationNeeded),
    ] {
        let spec = CollateralSpec { tcb_status: status, advisories: &["INTEL-SA-00001"], ..CollateralSpec::default() };
        let r = online(&collateral_for(&spec), NOW);
        assert_eq!(r, Ok(TcbResult { status: expected, advisory_ids: vec!["INTEL-SA-00001".to_owned()] }));
        let (pcs, current, revoked) = collateral_verdicts(&r, &TEE_TCB_SVN);
        let error = format!("intel PCS collateral: TCB status is {status}, not UpToDate (INTEL-SA-00001)");
        assert_eq!((pcs.status, pcs.detail), (Status::Skip, format!("Intel PCS collateral fetch failed: {error}")));
        assert_eq!(current.status, Status::Skip);
        assert_eq!(
            current.detail,
            format!("TEE_TCB_SVN: 03000200000000000000000000000000 (Intel PCS collateral fetch failed: {error})")
        );
        assert_eq!(revoked.status, Status::Skip);
    }
    let spec = CollateralSpec { tcb_status: "Revoked", ..CollateralSpec::default() };
    let r = online(&collateral_for(&spec), NOW);
    assert_eq!(r, Ok(TcbResult { status: TcbStatus::Revoked, advisory_ids: Vec::new() }));
    let (pcs, current, revoked) = collateral_verdicts(&r, &TEE_TCB_SVN);
    assert_eq!((pcs.status, current.status, revoked.status), (Status::Skip, Status::Skip, Status::Skip));
    assert!(revoked.detail.contains("TCB status is Revoked, not UpToDate"), "{}", revoked.detail);
}

#[test]
fn collateral_is_checked_at_the_given_time() {
    let collateral = collateral_for(&CollateralSpec::default());
    assert!(online(&collateral, NEXT_UPDATE_SECS).is_ok(), "nextUpdate itself is still valid");
    let r = online(&collateral, NEXT_UPDATE_SECS + 1);
    assert!(matches!(&r, Err(TdxVerifyError::Pcs(f)) if f.message.contains("TCBInfo expired")), "{r:?}");
    assert_eq!(pcs_kind(r.clone()), PcsFailureKind::Expired);
    let (pcs, _, _) = collateral_verdicts(&r, &TEE_TCB_SVN);
    assert_eq!(pcs.status, Status::Skip);
    // An issuer-chain certificate past its NotAfter (checked before dcap-qvl runs).
    let short = Pki::new(&ChainSpec { signer_not_after: NOW as i64 - 1, ..ChainSpec::default() });
    let r = online_verify(
        &parse(&signed_quote(&short)),
        &collateral_of(&short, &CollateralSpec::default()),
        &short.anchor(),
        NOW,
    );
    assert_eq!(r, Err(TdxVerifyError::IssuerChainExpired { answer: PcsAnswer::TcbInfo, not_after: NOW - 1, now: NOW }));
    // dcap-qvl, unlike go-tdx-guest, also refuses collateral issued after the verification time.
    assert_eq!(pcs_kind(online(&collateral, 1_776_988_800 - 1)), PcsFailureKind::NotYetValid);
}

#[test]
fn tampered_or_revoking_collateral_fails() {
    let mut collateral = collateral_for(&CollateralSpec::default());
    let text = collateral.dcap().tcb_info.replace("\"tcbEvaluationDataNumber\":18", "\"tcbEvaluationDataNumber\":19");
    collateral.dcap_mut().tcb_info = text;
    assert_eq!(pcs_kind(online(&collateral, NOW)), PcsFailureKind::Signature);

    let mut collateral = collateral_for(&CollateralSpec::default());
    collateral.dcap_mut().qe_identity_signature[10] ^= 1;
    assert_eq!(pcs_kind(online(&collateral, NOW)), PcsFailureKind::Signature);

    let collateral = collateral_for(&CollateralSpec { revoke_leaf: true, ..CollateralSpec::default() });
    assert_eq!(pcs_kind(online(&collateral, NOW)), PcsFailureKind::Revoked);

    // The online pass repeats the offline pass first.
    let collateral = collateral_for(&CollateralSpec::default());
    let mut q = sample_quote().to_vec();
    q[BODY] ^= 1;
    assert_eq!(online_verify(&parse(&q), &collateral, &pki().anchor(), NOW), Err(TdxVerifyError::QuoteSignature));
    assert_eq!(
        online_verify(&parse(sample_quote()), &collateral, &TrustAnchor::intel(), NOW),
        Err(TdxVerifyError::UntrustedRoot)
    );
}

#[test]
fn answers_must_have_the_recorded_shape() {
    let good = answers(pki(), &CollateralSpec::default());
    let build = |f: &dyn Fn(&mut [FetchResponse; 4])| {
        let mut a = good.clone();
        f(&mut a);
        Collateral::from_answers(&a[0], &a[1], &a[2], &a[3])
    };
    assert!(build(&|_| {}).is_ok());
    assert_eq!(
        build(&|a| a[1].status = 404),
        Err(CollateralError::Status { answer: PcsAnswer::QeIdentity, status: 404 })
    );
    // Like the reference, any 2xx status is a success.
    assert!(build(&|a| a[0].status = 203).is_ok());
    assert!(matches!(
        build(&|a| a[0].headers.clear()),
        Err(CollateralError::IssuerChain { answer: PcsAnswer::TcbInfo, header: TCB_INFO_ISSUER_CHAIN, .. })
    ));
    assert!(matches!(
        build(&|a| {
            let dup = a[2].headers[0].clone();
            a[2].headers.push(dup)
        }),
        Err(CollateralError::IssuerChain { answer: PcsAnswer::PckCrl, .. })
    ));
    let one_cert = url_encode(&pki().tcb_signer_pem);
    assert!(matches!(
        build(&|a| a[0].headers[0].1 = one_cert.clone()),
        Err(CollateralError::IssuerChain { answer: PcsAnswer::TcbInfo, .. })
    ));
    assert!(matches!(build(&|a| a[1].body = b"{}".to_vec()), Err(CollateralError::Json { .. })));
    assert!(matches!(
        build(&|a| a[3].body = b"not a CRL".to_vec()),
        Err(CollateralError::Crl { answer: PcsAnswer::RootCaCrl, .. })
    ));
    assert!(matches!(
        build(&|a| a[2].body = vec![0; MAX_PCS_BODY + 1]),
        Err(CollateralError::TooLarge { answer: PcsAnswer::PckCrl, .. })
    ));

    let ok: Vec<_> = good.iter().cloned().map(Ok).collect();
    assert!(Collateral::from_results(&ok[0], &ok[1], &ok[2], &ok[3]).is_ok());
    let failed = Err(FetchError::Transport("connection refused".to_owned()));
    let r = Collateral::from_results(&ok[0], &ok[1], &failed, &ok[3]).map_err(TdxVerifyError::from);
    let (pcs, _, revoked) = match r {
        Err(e) => collateral_verdicts(&Err(e), &TEE_TCB_SVN),
        Ok(_) => panic!("a failed fetch makes no collateral"),
    };
    assert_eq!(pcs.status, Status::Skip);
    assert_eq!(
        revoked.detail,
        "Intel PCS collateral fetch failed: intel PCS collateral: could not fetch PCK CRL: connection refused"
    );
}

#[test]
fn dcap_qvl_alone_also_rejects_a_tampered_body() {
    // Defence in depth: the collateral pass does not rely on the offline pass for signatures.
    let collateral = collateral_for(&CollateralSpec::default());
    let verifier = dcap_qvl::verify::QuoteVerifier::new(pki().root.der().to_vec()).allow_debug(true);
    assert!(verifier.verify(sample_quote(), collateral.dcap(), NOW).is_ok());
    let mut q = sample_quote().to_vec();
    q[BODY + 0x88] ^= 1;
    let e = verifier.verify(&q, collateral.dcap(), NOW).expect_err("tampered body");
    assert_eq!(PcsFailure::from_message(format!("{e:#}")).kind, PcsFailureKind::Signature);
}
