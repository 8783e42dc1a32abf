//! Simulated NVIDIA evidence (a P-384 chain in NVIDIA's shape, SPDM measurement transcripts
//! signed by the GPU key) and a simulated NRAS (ES384 tokens and their JWKS).

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyUsagePurpose, SerialNumber};

use super::keys::{SimKey, at};
use super::{NOT_AFTER, NOT_BEFORE};
use crate::attestation::raw::GpuEvidence;

/// Length of the generated measurement record.
const RECORD_LEN: usize = 102;
/// Length of the generated opaque data.
const OPAQUE_LEN: usize = 10;
/// The key ID NRAS tokens carry.
pub(crate) const NRAS_KID: &str = "teep-sim-nras";

/// The simulated GPU PKI and NRAS signing key.
pub(crate) struct GpuPki {
    root_der: Vec<u8>,
    chain_pem: Vec<u8>,
    leaf_key: SimKey,
    nras_key: SimKey,
}

fn params(cn: &str, ca: bool, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.not_before = at(NOT_BEFORE);
    p.not_after = at(NOT_AFTER);
    p.serial_number = Some(SerialNumber::from(serial));
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    }
    p
}

impl GpuPki {
    /// The PKI of `seed`: root → upper CA → lower CA → GPU leaf, all P-384.
    pub(crate) fn new(seed: &[u8; 32]) -> Result<GpuPki, rcgen::Error> {
        let root = CertifiedIssuer::self_signed(
            params("Sim NVIDIA Device Identity CA", true, 11),
            SimKey::p384(seed, "gpu-root"),
        )?;
        let upper = CertifiedIssuer::signed_by(
            params("Sim NVIDIA Upper CA", true, 12),
            SimKey::p384(seed, "gpu-upper"),
            &root,
        )?;
        let lower = CertifiedIssuer::signed_by(
            params("Sim NVIDIA Lower CA", true, 13),
            SimKey::p384(seed, "gpu-lower"),
            &upper,
        )?;
        let leaf_key = SimKey::p384(seed, "gpu-leaf");
        let leaf = params("Sim GPU", false, 14).signed_by(&leaf_key, &lower)?;
        let chain_pem = format!("{}{}{}{}", leaf.pem(), lower.pem(), upper.pem(), root.pem()).into_bytes();
        Ok(GpuPki { root_der: root.der().to_vec(), chain_pem, leaf_key, nras_key: SimKey::p384(seed, "nras-signer") })
    }

    /// The root certificate, DER.
    pub(crate) fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// A GET_MEASUREMENTS request with `nonce` and the GPU's signed MEASUREMENTS response.
    fn transcript(&self, nonce: &[u8; 32]) -> Vec<u8> {
        let mut t = vec![0x11, 0xE0, 0x01, 0xFF];
        t.extend_from_slice(nonce);
        t.push(0x00);
        t.extend_from_slice(&[0x11, 0x60, 0x00, 0x00, 0x02]);
        t.extend_from_slice(&(RECORD_LEN as u32).to_le_bytes()[..3]);
        t.extend((0..RECORD_LEN).map(|i| i as u8));
        t.extend_from_slice(&[0xAB; 32]);
        t.extend_from_slice(&(OPAQUE_LEN as u16).to_le_bytes());
        t.extend((0..OPAQUE_LEN).map(|i| 0xC0 | i as u8));
        let signature = self.leaf_key.sign_raw(&t);
        t.extend_from_slice(&signature);
        t
    }

    /// One GPU's evidence whose requester nonce is `nonce`.
    pub(crate) fn evidence(&self, nonce: &[u8; 32]) -> GpuEvidence {
        let b64 = base64::engine::general_purpose::STANDARD;
        GpuEvidence {
            certificate: b64.encode(&self.chain_pem),
            evidence: b64.encode(self.transcript(nonce)),
            arch: "HOPPER".to_owned(),
        }
    }

    /// An EAT document for `gpus` GPUs: top-level nonce `top_nonce`, SPDM nonce `spdm_nonce`.
    pub(crate) fn eat(&self, top_nonce: &[u8; 32], spdm_nonce: &[u8; 32], gpus: usize) -> String {
        let item = self.evidence(spdm_nonce);
        let list: Vec<_> = (0..gpus)
            .map(|_| serde_json::json!({"arch": "HOPPER", "certificate": item.certificate, "evidence": item.evidence}))
            .collect();
        serde_json::json!({"arch": "HOPPER", "nonce": hex::encode(top_nonce), "evidence_list": list}).to_string()
    }

    /// NRAS's answer to an attest request whose EAT carries `nonce`: `[["JWT", token], {}]`.
    pub(crate) fn nras_answer(&self, nonce: &str, now: u64) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = serde_json::json!({"kid": NRAS_KID, "alg": "ES384"});
        let claims = serde_json::json!({
            "iss": "https://nras.attestation.nvidia.com", "x-nvidia-overall-att-result": true,
            "eat_nonce": nonce, "nbf": now - 30, "iat": now - 30, "exp": now + 3600,
        });
        let input = format!("{}.{}", b64.encode(header.to_string()), b64.encode(claims.to_string()));
        let token = format!("{input}.{}", b64.encode(self.nras_key.sign_raw(input.as_bytes())));
        serde_json::json!([["JWT", token], {}]).to_string().into_bytes()
    }

    /// The JWKS publishing the NRAS signing key.
    pub(crate) fn jwks(&self) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let p = self.nras_key.public_sec1();
        let (x, y) = (p.get(1..49).unwrap_or_default(), p.get(49..97).unwrap_or_default());
        serde_json::json!({"keys": [{"kty": "EC", "crv": "P-384", "kid": NRAS_KID, "alg": "ES384", "use": "sig",
                                      "x": b64.encode(x), "y": b64.encode(y)}]})
        .to_string()
        .into_bytes()
    }
}
