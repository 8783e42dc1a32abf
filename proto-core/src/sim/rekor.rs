//! A simulated Sigstore: a Fulcio CA issuing GitHub-Actions-shaped code-signing certificates,
//! and a Rekor log whose entries carry a valid SET, inclusion proof and signed checkpoint.

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, SanType, SerialNumber,
};

use super::keys::{SimKey, at, utf8};
use super::{NOT_AFTER, NOT_BEFORE};
use crate::attestation::sigstore::merkle;
use crate::attestation::sigstore::policy::GITHUB_OIDC_ISSUER;
use crate::attestation::sigstore::trust::REKOR_CHECKPOINT_ORIGIN;
use crate::attestation::sigstore::{FulcioRoots, LogKey};

/// The source of a simulated image: its repository and workflow identity.
#[derive(Clone, Debug)]
pub(crate) struct ImageSource {
    /// Normalised image repository (`owner/name`).
    pub(crate) image: &'static str,
    /// GitHub source repository (`owner/name`).
    pub(crate) source_repo: &'static str,
    /// The workflow identity (SAN URI).
    pub(crate) identity: &'static str,
}

/// The simulated Fulcio CA and Rekor log.
pub(crate) struct Sigstore {
    intermediate: CertifiedIssuer<'static, SimKey>,
    log_key: SimKey,
    log: LogKey,
    seed: [u8; 32],
    integrated_time: u64,
}

fn ca(cn: &str, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::OrganizationName, "sim.sigstore.invalid");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = at(NOT_BEFORE);
    p.not_after = at(NOT_AFTER);
    p.serial_number = Some(SerialNumber::from(serial));
    p
}

/// DER SubjectPublicKeyInfo of an uncompressed P-256 point.
fn p256_spki(point: &[u8]) -> Vec<u8> {
    let mut spki = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
        0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    spki.extend_from_slice(point);
    spki
}

impl Sigstore {
    /// The Sigstore of `seed`; entries are integrated at `integrated_time`.
    pub(crate) fn new(seed: &[u8; 32], integrated_time: u64) -> Result<Sigstore, String> {
        let root = CertifiedIssuer::self_signed(ca("sim-sigstore", 21), SimKey::p256(seed, "fulcio-root"))
            .map_err(|e| e.to_string())?;
        // Like Fulcio's intermediate, it carries the code-signing EKU (path validation checks
        // the usage on every certificate below the root).
        let mut intermediate_params = ca("sim-sigstore-intermediate", 22);
        intermediate_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let intermediate = CertifiedIssuer::signed_by(intermediate_params, SimKey::p256(seed, "fulcio-ca"), &root)
            .map_err(|e| e.to_string())?;
        let log_key = SimKey::p256(seed, "rekor-log");
        let fulcio = FulcioRoots::for_tests(root.der().to_vec(), vec![intermediate.der().to_vec()]);
        let log = LogKey::from_spki_der(&p256_spki(log_key.public_sec1()), REKOR_CHECKPOINT_ORIGIN)
            .ok_or("simulated Rekor key")?
            .with_fulcio(fulcio);
        Ok(Sigstore { intermediate, log_key, log, seed: *seed, integrated_time })
    }

    /// The log's key with the Fulcio CA (what a simulation's trust roots carry).
    pub(crate) fn log(&self) -> &LogKey {
        &self.log
    }

    /// A Fulcio code-signing certificate for `source` (PEM), valid around the integration time.
    fn leaf_pem(&self, source: &ImageSource, index: u64) -> Result<String, rcgen::Error> {
        let key = SimKey::p256(&self.seed, &format!("fulcio-leaf-{index}"));
        let mut p = CertificateParams::default();
        p.serial_number = Some(SerialNumber::from(1000 + index));
        p.not_before = at(self.integrated_time - 300);
        p.not_after = at(self.integrated_time + 300);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        p.subject_alt_names = vec![SanType::URI(source.identity.try_into()?)];
        let ext = |n: u64, text: &str| CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, n], utf8(text));
        let url = format!("https://github.com/{}", source.source_repo);
        p.custom_extensions = vec![
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, 1], GITHUB_OIDC_ISSUER.as_bytes().to_vec()),
            ext(8, GITHUB_OIDC_ISSUER),
            ext(2, "push"),
            ext(3, "5eb1d0c1a1b2c3d4e5f60718293a4b5c6d7e8f90"),
            ext(5, source.source_repo),
            ext(6, "refs/heads/main"),
            ext(11, "github-hosted"),
            ext(12, &url),
        ];
        Ok(p.signed_by(&key, &self.intermediate)?.pem())
    }

    /// The entry (UUID and `entries/retrieve` answer) of digest number `index`, signed by
    /// `source`'s certificate.
    pub(crate) fn entry(&self, source: &ImageSource, index: u64) -> Result<(String, Vec<u8>), String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let pem = self.leaf_pem(source, index).map_err(|e| e.to_string())?;
        let body = serde_json::to_vec(&serde_json::json!({
            "apiVersion": "0.0.1", "kind": "dsse",
            "spec": {"signatures": [{"signature": "AA==", "verifier": b64.encode(pem)}]}
        }))
        .map_err(|e| e.to_string())?;
        // A five-leaf tree with the entry third: ((l0 l1)(leaf l3)) l4.
        let leaves: Vec<[u8; 32]> = (0..5u8).map(|i| merkle::leaf_hash(&[i])).collect();
        let leaf = merkle::leaf_hash(&body);
        let h01 = merkle::node_hash(&leaves[0], &leaves[1]);
        let h23 = merkle::node_hash(&leaf, &leaves[3]);
        let root = merkle::node_hash(&merkle::node_hash(&h01, &h23), &leaves[4]);
        let uuid = format!("24296fb24b8ad77a{}", hex::encode(leaf));
        let body_b64 = b64.encode(&body);
        let log_id = hex::encode(self.log.log_id);
        let log_index = 4_000_000 + index;
        let set_payload = format!(
            "{{\"body\":\"{body_b64}\",\"integratedTime\":{},\"logID\":\"{log_id}\",\"logIndex\":{log_index}}}",
            self.integrated_time
        );
        let set = self.log_key.sign_der(set_payload.as_bytes());
        let answer = serde_json::json!([{ uuid.clone(): {
            "body": body_b64,
            "integratedTime": self.integrated_time,
            "logID": log_id,
            "logIndex": log_index,
            "verification": {
                "signedEntryTimestamp": b64.encode(set),
                "inclusionProof": {
                    "checkpoint": self.checkpoint(5, &root),
                    "hashes": [hex::encode(leaves[3]), hex::encode(h01), hex::encode(leaves[4])],
                    "logIndex": 2,
                    "rootHash": hex::encode(root),
                    "treeSize": 5,
                }
            }
        }}]);
        Ok((uuid, serde_json::to_vec(&answer).map_err(|e| e.to_string())?))
    }

    /// A signed checkpoint for a tree of `size` with `root`.
    fn checkpoint(&self, size: u64, root: &[u8; 32]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = format!("{REKOR_CHECKPOINT_ORIGIN} - 42\n{size}\n{}\n", b64.encode(root));
        let mut raw = self.log.log_id[..4].to_vec();
        raw.extend_from_slice(&self.log_key.sign_der(body.as_bytes()));
        format!("{body}\n\u{2014} {REKOR_CHECKPOINT_ORIGIN} {}\n", b64.encode(raw))
    }
}
