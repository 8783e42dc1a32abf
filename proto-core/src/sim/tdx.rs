//! A simulated Intel PKI in Intel's shape (root → PCK Platform CA → PCK leaf with an SGX
//! extension, a TCB signer, CRLs), TDX quotes signed under it, and the PCS collateral that
//! makes dcap-qvl accept them at the simulation's clock.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, CrlDistributionPoint,
    CustomExtension, DnType, IsCa, KeyIdMethod, KeyUsagePurpose, SerialNumber,
};
use sha2::{Digest, Sha256};

use super::keys::{SimKey, at, octets_of, seq, tlv, uint, url_encode};
use super::{NOT_AFTER, NOT_BEFORE};

/// Issue date of the simulated TCB info and QE identity: 2026-04-24T00:00:00Z.
const ISSUE_DATE: &str = "2026-04-24T00:00:00Z";
/// Their next update: 2026-05-24T00:00:00Z (after the simulation clock).
const NEXT_UPDATE: &str = "2026-05-24T00:00:00Z";
/// A next update already past at the simulation clock (stale collateral): 2026-04-30T00:00:00Z.
const STALE_NEXT_UPDATE: &str = "2026-04-30T00:00:00Z";
/// Intel's QE vendor ID.
const INTEL_QE_VENDOR_ID: [u8; 16] =
    [0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07];
const QE_MR_SIGNER: [u8; 32] = [0xDC; 32];
/// TEE_TCB_SVN with module SVN 0 (selects no TDX module identity).
const TEE_TCB_SVN: [u8; 16] = [3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
/// The FMSPC in the PCK certificate.
pub(crate) const FMSPC: [u8; 6] = [0x90, 0xC0, 0x6F, 0, 0, 0];

const HEADER_LEN: usize = 48;
const BODY_LEN: usize = 584;

/// The measured values of one TD.
#[derive(Clone, Debug)]
pub(crate) struct TdMeasurements {
    pub(crate) mrtd: [u8; 48],
    pub(crate) mrseam: [u8; 48],
    pub(crate) mr_config_id: [u8; 48],
    pub(crate) rtmr: [[u8; 48]; 4],
}

/// One PCS answer: header fields and body.
pub(crate) type PcsReply = (Vec<(String, String)>, Vec<u8>);

/// The simulated Intel PKI.
pub(crate) struct IntelPki {
    root: CertifiedIssuer<'static, SimKey>,
    ca: CertifiedIssuer<'static, SimKey>,
    leaf_pem: String,
    leaf_key: SimKey,
    signer_pem: String,
    signer_key: SimKey,
    attestation_key: SimKey,
}

fn ca_params(cn: &str, path_len: u8, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name.push(DnType::OrganizationName, "Intel Corporation");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = at(NOT_BEFORE);
    p.not_after = at(NOT_AFTER);
    p.serial_number = Some(SerialNumber::from(serial));
    p
}

/// The SGX extension of the PCK leaf (PPID, TCB, PCE-ID, FMSPC, SGX type).
fn sgx_extension() -> Vec<u8> {
    let item = |sub: &str, value: Vec<u8>| seq(&[super::keys::oid(&format!("1.2.840.113741.1.13.1.{sub}")), value]);
    let components: [u8; 16] = [3, 3, 2, 2, 4, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 200];
    let mut tcb: Vec<Vec<u8>> =
        (0..16).map(|i| item(&format!("2.{}", i + 1), uint(u64::from(components[i])))).collect();
    tcb.push(item("2.17", uint(13)));
    tcb.push(item("2.18", octets_of(&[0xA0; 16])));
    seq(&[
        item("1", octets_of(b"\x51\x1a\x2b\x3c\x4d\x5e\x6f\x70\x81\x92\xa3\xb4\xc5\xd6\xe7\xf8")),
        item("2", seq(&tcb)),
        item("3", octets_of(&[0, 0])),
        item("4", octets_of(&FMSPC)),
        item("5", tlv(0x0A, &[0])),
    ])
}

impl IntelPki {
    /// The PKI of `seed`.
    pub(crate) fn new(seed: &[u8; 32]) -> Result<IntelPki, rcgen::Error> {
        let root =
            CertifiedIssuer::self_signed(ca_params("Intel SGX Root CA", 1, 1), SimKey::p256(seed, "intel-root"))?;
        let mut ca_p = ca_params("Intel SGX PCK Platform CA", 0, 2);
        ca_p.use_authority_key_identifier_extension = true;
        let ca = CertifiedIssuer::signed_by(ca_p, SimKey::p256(seed, "intel-pck-ca"), &root)?;

        let leaf_key = SimKey::p256(seed, "intel-pck-leaf");
        let mut leaf_p = CertificateParams::default();
        leaf_p.distinguished_name.push(DnType::CommonName, "Intel SGX PCK Certificate");
        leaf_p.serial_number = Some(SerialNumber::from(0x1234_5678u64));
        leaf_p.is_ca = IsCa::ExplicitNoCa;
        leaf_p.use_authority_key_identifier_extension = true;
        leaf_p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];
        leaf_p.crl_distribution_points =
            vec![CrlDistributionPoint { uris: vec!["https://sim.invalid/pckcrl".to_owned()] }];
        leaf_p
            .custom_extensions
            .push(CustomExtension::from_oid_content(&[1, 2, 840, 113741, 1, 13, 1], sgx_extension()));
        leaf_p.not_before = at(NOT_BEFORE);
        leaf_p.not_after = at(NOT_AFTER);
        let leaf = leaf_p.signed_by(&leaf_key, &ca)?;

        let signer_key = SimKey::p256(seed, "intel-tcb-signer");
        let mut signer_p = CertificateParams::default();
        signer_p.distinguished_name.push(DnType::CommonName, "Intel SGX TCB Signing");
        signer_p.serial_number = Some(SerialNumber::from(3u64));
        signer_p.is_ca = IsCa::ExplicitNoCa;
        signer_p.use_authority_key_identifier_extension = true;
        signer_p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment];
        signer_p.not_before = at(NOT_BEFORE);
        signer_p.not_after = at(NOT_AFTER);
        let signer = signer_p.signed_by(&signer_key, &root)?;

        Ok(IntelPki {
            leaf_pem: leaf.pem(),
            leaf_key,
            signer_pem: signer.pem(),
            signer_key,
            attestation_key: SimKey::p256(seed, "intel-attestation-key"),
            root,
            ca,
        })
    }

    /// The root certificate, DER.
    pub(crate) fn root_der(&self) -> Vec<u8> {
        self.root.der().to_vec()
    }

    /// A signed version-4 TDX quote for a TD with `m` and `report_data`.
    pub(crate) fn quote(&self, m: &TdMeasurements, report_data: &[u8; 64]) -> Vec<u8> {
        let ak: [u8; 64] = self.attestation_key.public_sec1()[1..].try_into().unwrap_or([0; 64]);
        let auth: Vec<u8> = (0..32).collect();
        let mut q = Vec::with_capacity(6000);
        q.extend(4u16.to_le_bytes());
        q.extend(2u16.to_le_bytes());
        q.extend(0x81u32.to_le_bytes());
        q.extend([0u8; 4]);
        q.extend(INTEL_QE_VENDOR_ID);
        q.extend([0u8; 20]);
        debug_assert_eq!(q.len(), HEADER_LEN);
        let mut body = [0u8; BODY_LEN];
        body[..16].copy_from_slice(&TEE_TCB_SVN);
        body[16..64].copy_from_slice(&m.mrseam);
        // MRSIGNERSEAM and SEAM_ATTRIBUTES zero (Intel's module); TD_ATTRIBUTES: SEPT_VE_DISABLE.
        body[120..128].copy_from_slice(&[0, 0, 0, 0x10, 0, 0, 0, 0]);
        body[128..136].copy_from_slice(&[0xe7, 0x02, 0x06, 0, 0, 0, 0, 0]);
        body[136..184].copy_from_slice(&m.mrtd);
        body[184..232].copy_from_slice(&m.mr_config_id);
        for (i, r) in m.rtmr.iter().enumerate() {
            body[328 + 48 * i..376 + 48 * i].copy_from_slice(r);
        }
        body[520..584].copy_from_slice(report_data);
        q.extend_from_slice(&body);
        let signed_region = q.len();

        let mut pem = format!("{}{}{}", self.leaf_pem, self.ca.pem(), self.root.pem()).into_bytes();
        pem.push(0);
        let qe_report = qe_report(&ak, &auth);
        let qe_sig = self.leaf_key.sign_raw(&qe_report);
        let mut cert = Vec::new();
        cert.extend(&qe_report);
        cert.extend(&qe_sig);
        cert.extend((auth.len() as u16).to_le_bytes());
        cert.extend(&auth);
        cert.extend(5u16.to_le_bytes());
        cert.extend((pem.len() as u32).to_le_bytes());
        cert.extend(&pem);

        let signature = self.attestation_key.sign_raw(&q[..signed_region]);
        let mut signed = Vec::new();
        signed.extend(&signature);
        signed.extend(ak);
        signed.extend(6u16.to_le_bytes());
        signed.extend((cert.len() as u32).to_le_bytes());
        signed.extend(&cert);
        q.extend((signed.len() as u32).to_le_bytes());
        q.extend(&signed);
        q
    }

    /// The four PCS answers (TCB info, QE identity, PCK CRL, root CRL) as `(headers, body)`.
    pub(crate) fn collateral(&self, stale: bool) -> Result<[PcsReply; 4], rcgen::Error> {
        let next = if stale { STALE_NEXT_UPDATE } else { NEXT_UPDATE };
        let signed = |name: &str, json: String| {
            let sig = hex::encode(self.signer_key.sign_raw(json.as_bytes()));
            format!("{{\"{name}\":{json},\"signature\":\"{sig}\"}}").into_bytes()
        };
        let tcb_chain = url_encode(&format!("{}{}", self.signer_pem, self.root.pem()));
        let crl_chain = url_encode(&format!("{}{}", self.ca.pem(), self.root.pem()));
        let header = |n: &str, v: &str| vec![(n.to_owned(), v.to_owned()), json_type()];
        Ok([
            (header("TCB-Info-Issuer-Chain", &tcb_chain), signed("tcbInfo", tcb_info_json(next))),
            (
                header("SGX-Enclave-Identity-Issuer-Chain", &tcb_chain),
                signed("enclaveIdentity", qe_identity_json(next)),
            ),
            (vec![("SGX-PCK-CRL-Issuer-Chain".to_owned(), crl_chain)], crl(&self.ca)?),
            (Vec::new(), crl(&self.root)?),
        ])
    }
}

fn json_type() -> (String, String) {
    ("Content-Type".to_owned(), "application/json".to_owned())
}

/// The QE report the QE identity describes, binding the attestation key and auth data.
fn qe_report(attestation_key: &[u8; 64], auth: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8; 384];
    r[48] = 0x11;
    r[128..160].copy_from_slice(&QE_MR_SIGNER);
    r[256..258].copy_from_slice(&2u16.to_le_bytes());
    r[258..260].copy_from_slice(&4u16.to_le_bytes());
    let mut h = Sha256::new();
    h.update(attestation_key);
    h.update(auth);
    r[320..352].copy_from_slice(&h.finalize());
    r
}

fn tcb_info_json(next: &str) -> String {
    let zeros16 = vec![r#"{"svn":0}"#; 16].join(",");
    format!(
        concat!(
            r#"{{"id":"TDX","version":3,"issueDate":"{issue}","nextUpdate":"{next}","fmspc":"{fmspc}","#,
            r#""pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":18,"tdxModule":{{"mrsigner":"{mrsigner}","#,
            r#""attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF"}},"tdxModuleIdentities":[],"#,
            r#""tcbLevels":[{{"tcb":{{"sgxtcbcomponents":[{z}],"pcesvn":0,"tdxtcbcomponents":[{z}]}},"#,
            r#""tcbDate":"2025-01-01T00:00:00Z","tcbStatus":"UpToDate","advisoryIDs":[]}}]}}"#
        ),
        issue = ISSUE_DATE,
        next = next,
        fmspc = hex::encode(FMSPC),
        mrsigner = "0".repeat(96),
        z = zeros16,
    )
}

fn qe_identity_json(next: &str) -> String {
    format!(
        concat!(
            r#"{{"id":"TD_QE","version":2,"issueDate":"{issue}","nextUpdate":"{next}","tcbEvaluationDataNumber":18,"#,
            r#""miscselect":"00000000","miscselectMask":"FFFFFFFF","attributes":"11000000000000000000000000000000","#,
            r#""attributesMask":"FBFFFFFFFFFFFFFF0000000000000000","mrsigner":"{mrsigner}","isvprodid":2,"#,
            r#""tcbLevels":[{{"tcb":{{"isvsvn":4}},"tcbDate":"2025-01-01T00:00:00Z","tcbStatus":"UpToDate"}}]}}"#
        ),
        issue = ISSUE_DATE,
        next = next,
        mrsigner = hex::encode_upper(QE_MR_SIGNER),
    )
}

fn crl(issuer: &CertifiedIssuer<'static, SimKey>) -> Result<Vec<u8>, rcgen::Error> {
    let params = CertificateRevocationListParams {
        this_update: at(1_735_689_600),
        next_update: at(NOT_AFTER),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    Ok(params.signed_by(issuer)?.der().to_vec())
}
