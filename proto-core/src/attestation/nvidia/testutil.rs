//! Synthetic GPU evidence for unit tests: a fresh P-384 chain (root → two CAs → leaf, like
//! NVIDIA's shape) under a test anchor, and SPDM transcripts signed by the leaf key.

use std::sync::OnceLock;

use base64::Engine as _;
use rcgen::SigningKey as _;

use super::root::NvidiaAnchor;
use crate::attestation::raw::GpuEvidence;

/// 2024-01-01T00:00:00Z, inside every generated validity period.
pub(crate) const NOW: u64 = 1_704_067_200;
/// NotAfter of generated certificates: 2030-01-01T00:00:00Z.
pub(crate) const NOT_AFTER: u64 = 1_893_456_000;
/// NotBefore of generated certificates: 2020-01-01T00:00:00Z.
pub(crate) const NOT_BEFORE: u64 = 1_577_836_800;

/// How to shape a generated chain.
#[derive(Clone, Debug)]
pub(crate) struct ChainSpec {
    /// Signature algorithm of every key.
    pub(crate) alg: &'static rcgen::SignatureAlgorithm,
    /// Whether the middle CAs are marked CA.
    pub(crate) cas_are_ca: bool,
    /// Path length constraint of the upper CA (the one right below the root).
    pub(crate) upper_path_len: Option<u8>,
    /// Key usages of the CAs (empty: no extension).
    pub(crate) ca_key_usages: Vec<rcgen::KeyUsagePurpose>,
    /// Extended key usages of the leaf (empty: no extension).
    pub(crate) leaf_eku: Vec<rcgen::ExtendedKeyUsagePurpose>,
    /// A critical unknown extension on the leaf.
    pub(crate) leaf_critical_unknown: bool,
}

impl Default for ChainSpec {
    fn default() -> Self {
        ChainSpec {
            alg: &rcgen::PKCS_ECDSA_P384_SHA384,
            cas_are_ca: true,
            upper_path_len: None,
            ca_key_usages: vec![rcgen::KeyUsagePurpose::KeyCertSign],
            leaf_eku: Vec::new(),
            leaf_critical_unknown: false,
        }
    }
}

/// A generated chain and the leaf's key.
pub(crate) struct TestChain {
    /// Leaf, lower CA, upper CA, root as DER.
    pub(crate) der: Vec<Vec<u8>>,
    /// The same as concatenated PEM.
    pub(crate) pem: Vec<u8>,
    /// The anchor that trusts this chain's root.
    pub(crate) anchor: NvidiaAnchor,
    leaf_key: rcgen::KeyPair,
}

fn params(
    cn: &str,
    ca: Option<rcgen::BasicConstraints>,
    usages: &[rcgen::KeyUsagePurpose],
) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2030, 1, 1);
    if let Some(c) = ca {
        p.is_ca = rcgen::IsCa::Ca(c);
        p.key_usages = usages.to_vec();
    }
    p
}

/// Generates root → upper CA → lower CA → leaf per `spec`.
pub(crate) fn make_chain(spec: &ChainSpec) -> TestChain {
    let key = || rcgen::KeyPair::generate_for(spec.alg).expect("key");
    let root_usages = [rcgen::KeyUsagePurpose::KeyCertSign];
    let root_params = params("Test NVIDIA Root", Some(rcgen::BasicConstraints::Unconstrained), &root_usages);
    let root = rcgen::CertifiedIssuer::self_signed(root_params, key()).expect("root");
    let upper_bc =
        spec.upper_path_len.map_or(rcgen::BasicConstraints::Unconstrained, rcgen::BasicConstraints::Constrained);
    let ca = |bc| if spec.cas_are_ca { Some(bc) } else { None };
    let upper_params = params("Test Upper CA", ca(upper_bc), &spec.ca_key_usages);
    let upper = rcgen::CertifiedIssuer::signed_by(upper_params, key(), &root).expect("upper");
    let lower_params = params("Test Lower CA", ca(rcgen::BasicConstraints::Unconstrained), &spec.ca_key_usages);
    let lower = rcgen::CertifiedIssuer::signed_by(lower_params, key(), &upper).expect("lower");
    let leaf_key = key();
    let mut leaf_params = params("Test GPU Leaf", None, &[]);
    leaf_params.extended_key_usages = spec.leaf_eku.clone();
    if spec.leaf_critical_unknown {
        let mut ext = rcgen::CustomExtension::from_oid_content(&[2, 23, 133, 5, 4, 1], vec![0x05, 0x00]);
        ext.set_criticality(true);
        leaf_params.custom_extensions.push(ext);
    }
    let leaf = leaf_params.signed_by(&leaf_key, &lower).expect("leaf");
    let der = vec![leaf.der().to_vec(), lower.der().to_vec(), upper.der().to_vec(), root.der().to_vec()];
    let pem = format!("{}{}{}{}", leaf.pem(), lower.pem(), upper.pem(), root.pem()).into_bytes();
    let anchor = NvidiaAnchor::for_tests(root.der());
    TestChain { der, pem, anchor, leaf_key }
}

/// One default chain, generated once per test binary.
pub(crate) fn sample_chain() -> &'static TestChain {
    static CHAIN: OnceLock<TestChain> = OnceLock::new();
    CHAIN.get_or_init(|| make_chain(&ChainSpec::default()))
}

/// Lengths of the generated measurement record and opaque data.
pub(crate) const RECORD_LEN: usize = 102;
/// See [`RECORD_LEN`].
pub(crate) const OPAQUE_LEN: usize = 10;

impl TestChain {
    /// The raw `r ‖ s` P-384 signature of `message` by the leaf key.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        let der = self.leaf_key.sign(message).expect("sign");
        p384::ecdsa::Signature::from_der(&der).expect("DER signature").to_bytes().to_vec()
    }

    /// A GET_MEASUREMENTS request with `nonce` and a signed MEASUREMENTS response.
    pub(crate) fn transcript(&self, nonce: &[u8; 32]) -> Vec<u8> {
        let mut t = vec![0x11, 0xE0, 0x01, 0xFF];
        t.extend_from_slice(nonce);
        t.push(0x00);
        t.extend_from_slice(&[0x11, 0x60, 0x00, 0x00, 0x02]);
        t.extend_from_slice(&(RECORD_LEN as u32).to_le_bytes()[..3]);
        t.extend((0..RECORD_LEN).map(|i| i as u8));
        t.extend_from_slice(&[0xAB; 32]);
        t.extend_from_slice(&(OPAQUE_LEN as u16).to_le_bytes());
        t.extend((0..OPAQUE_LEN).map(|i| 0xC0 | i as u8));
        let signature = self.sign(&t);
        t.extend_from_slice(&signature);
        t
    }

    /// The chain and a transcript over `nonce` as a Chutes/EAT evidence entry.
    pub(crate) fn evidence(&self, nonce: &[u8; 32]) -> GpuEvidence {
        let b64 = base64::engine::general_purpose::STANDARD;
        GpuEvidence {
            certificate: b64.encode(&self.pem),
            evidence: b64.encode(self.transcript(nonce)),
            arch: "HOPPER".to_owned(),
        }
    }
}

/// An EAT document with `count` copies of the sample chain's evidence over `spdm_nonce` and
/// `top_nonce` as its nonce.
pub(crate) fn eat_json(top_nonce: &str, spdm_nonce: &[u8; 32], count: usize) -> String {
    let item = sample_chain().evidence(spdm_nonce);
    let list: Vec<_> = (0..count)
        .map(|_| serde_json::json!({"arch": "HOPPER", "certificate": item.certificate, "evidence": item.evidence}))
        .collect();
    serde_json::json!({"arch": "HOPPER", "nonce": top_nonce, "evidence_list": list}).to_string()
}
