//! REPORTDATA binding: the 64 bytes the TD put in its quote must bind the key (or TLS
//! certificate) we will talk to and the nonce we chose (`attestation-core.md` §5, factor rows
//! 11 and 39).
//!
//! One pure rule per evidence layout, each returning a success description or a typed
//! [`ReportDataError`]; [`verdict`] and [`gateway_verdict`] pick the rule for a provider and
//! turn the outcome into the factor's [`Verdict`]. Only the quote's REPORTDATA counts — never a
//! `report_data` JSON member. Every comparison of secret-independent but attacker-supplied
//! bytes against expected values is constant-time; every input is decoded defensively (bad hex
//! or a wrong length is an error, never a panic).
//!
//! | layout | rule |
//! |---|---|
//! | dstack (venice, nanogpt, phalacloud's dstack backends) | `[0..20]` = last 20 bytes of Keccak-256(key X‖Y); `signing_address`, when given, names that address; `[32..64]` = nonce |
//! | NEAR model node (neardirect, nearcloud) | `[0..32]` = SHA-256(address bytes ‖ TLS SPKI fingerprint bytes); `[32..64]` = nonce |
//! | NEAR cloud gateway | the NEAR model rule applied to the gateway's own address and fingerprint |
//! | Chutes | `[0..32]` = SHA-256(ASCII nonce hex ‖ ASCII base64 key as received) |
//! | Chutes wrapped by a gateway (phalacloud, nanogpt) | no rule: the backend binds a nonce the server chose, so ours is not bound — always Fail |

use sha2::{Digest, Sha256};
use sha3::Keccak256;
use subtle::ConstantTimeEq;

use crate::attestation::raw::{BackendFormat, RawAttestation};
use crate::attestation::tdx::Quote;
use crate::provider::ProviderKind;
use crate::report::Verdict;

/// Why REPORTDATA does not bind what it must. Messages follow the reference verifier's where it
/// has one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportDataError {
    /// dstack: the enclave key is not hex.
    #[error("enclave public key is not valid hex: {0}")]
    KeyNotHex(String),
    /// dstack: the enclave key is empty.
    #[error("enclave public key is empty")]
    KeyEmpty,
    /// dstack: the enclave key is not a 65-byte `04`-prefixed point.
    #[error("enclave public key is not an uncompressed secp256k1 point (got {len} bytes, first byte 0x{first:02x})")]
    KeyNotUncompressed {
        /// Decoded length.
        len: usize,
        /// First byte.
        first: u8,
    },
    /// dstack: REPORTDATA[0..20] is not the key's Keccak-derived address.
    #[error("REPORTDATA[0:20] = {found}, expected keccak256-derived address {expected}")]
    AddressMismatch {
        /// REPORTDATA[0..20], hex.
        found: String,
        /// The derived address, hex.
        expected: String,
    },
    /// dstack: the reported `signing_address` names another address.
    #[error("signing_address {given} does not match keccak256-derived address {derived}")]
    SigningAddressMismatch {
        /// As received.
        given: String,
        /// `0x` + derived address hex.
        derived: String,
    },
    /// REPORTDATA[32..64] is not our nonce.
    #[error("REPORTDATA[32:64] = {found}, expected nonce {expected}")]
    NonceMismatch {
        /// REPORTDATA[32..64], hex.
        found: String,
        /// Our nonce, hex.
        expected: String,
    },
    /// NEAR: no `signing_address`.
    #[error("signing_address absent from attestation response")]
    SigningAddressAbsent,
    /// NEAR: no `tls_cert_fingerprint`.
    #[error("tls_cert_fingerprint absent from attestation response")]
    TlsFingerprintAbsent,
    /// NEAR: the address is not hex.
    #[error("signing_address is not valid hex: {0}")]
    SigningAddressNotHex(String),
    /// NEAR: the address is neither 20 nor 32 bytes.
    #[error("signing_address must decode to 20 or 32 bytes, got {0}")]
    SigningAddressLength(usize),
    /// NEAR: the fingerprint is not hex.
    #[error("tls_cert_fingerprint is not valid hex: {0}")]
    TlsFingerprintNotHex(String),
    /// NEAR: the fingerprint is not 32 bytes.
    #[error("tls_cert_fingerprint must decode to 32 bytes, got {0}")]
    TlsFingerprintLength(usize),
    /// NEAR: REPORTDATA[0..32] is not SHA-256(address ‖ fingerprint).
    #[error("REPORTDATA[0:32] = {found}, expected sha256(signing_address + tls_fingerprint) = {expected}")]
    NearBindingMismatch {
        /// REPORTDATA[0..32], hex.
        found: String,
        /// The expected hash, hex.
        expected: String,
    },
    /// NEAR: the key used for E2EE is not the one `signing_address` names (stricter than the
    /// reference, which never compares them).
    #[error("signing_public_key is not the key signing_address names ({0}); the bound key would not carry the prompt")]
    KeyNotBoundAddress(&'static str),
    /// Chutes: no `e2e_pubkey`.
    #[error("e2e_pubkey absent from attestation response")]
    ChutesKeyAbsent,
    /// Chutes: the record's nonce is not ours.
    #[error("nonce mismatch: attestation response nonce {0:?} does not match client nonce")]
    ChutesNonceMismatch(String),
    /// Chutes: REPORTDATA[0..32] is not SHA-256(nonce hex ‖ key).
    #[error("REPORTDATA[0:32] = {found}, expected SHA256(nonce + e2e_pubkey) = {expected}")]
    ChutesBindingMismatch {
        /// REPORTDATA[0..32], hex.
        found: String,
        /// The expected hash, hex.
        expected: String,
    },
    /// No rule exists for this provider and evidence layout.
    #[error("no REPORTDATA verifier for backend format {0:?}")]
    NoVerifier(&'static str),
}

/// Keccak-256 (the legacy padding Ethereum uses, not SHA3-256) of the 64-byte `X ‖ Y` of an
/// uncompressed secp256k1 key, last 20 bytes: the key's Ethereum-style address.
pub fn keccak_address(key_xy: &[u8; 64]) -> [u8; 20] {
    let hash: [u8; 32] = Keccak256::digest(key_xy).into();
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

/// NEAR's REPORTDATA[0..32]: SHA-256 of the decoded address bytes followed by the decoded
/// fingerprint bytes, no separator.
pub fn near_binding_hash(address: &[u8], tls_fingerprint: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(address);
    h.update(tls_fingerprint);
    h.finalize().into()
}

/// Chutes' REPORTDATA[0..32]: SHA-256 of the nonce as 64 lower-case hex characters followed by
/// the base64 key text exactly as received.
pub fn chutes_binding_hash(nonce: &[u8; 32], key_b64: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(hex::encode(nonce).as_bytes());
    h.update(key_b64.as_bytes());
    h.finalize().into()
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

fn check_nonce(report_data: &[u8; 64], nonce: &[u8; 32]) -> Result<(), ReportDataError> {
    if ct_eq(&report_data[32..], nonce) {
        Ok(())
    } else {
        Err(ReportDataError::NonceMismatch { found: hex::encode(&report_data[32..]), expected: hex::encode(nonce) })
    }
}

/// The dstack rule (venice, nanogpt, phalacloud's dstack backends).
///
/// `signing_key` must be 130 hex characters of a `04`-prefixed secp256k1 point (no `0x`);
/// REPORTDATA[0..20] must be its Keccak-256 address; a non-empty `signing_address` must name the
/// same address (`0x` + hex, any case); REPORTDATA[32..64] must be `nonce`. REPORTDATA[20..32] is
/// not checked (zeros in practice). The point is not checked to be on the curve here.
pub fn verify_dstack(
    report_data: &[u8; 64],
    signing_key: &str,
    signing_address: &str,
    nonce: &[u8; 32],
) -> Result<String, ReportDataError> {
    let key = hex::decode(signing_key).map_err(|e| ReportDataError::KeyNotHex(e.to_string()))?;
    let Some(&first) = key.first() else { return Err(ReportDataError::KeyEmpty) };
    let xy: &[u8; 64] = match key.split_first() {
        Some((0x04, rest)) => {
            rest.try_into().map_err(|_| ReportDataError::KeyNotUncompressed { len: key.len(), first })?
        }
        _ => return Err(ReportDataError::KeyNotUncompressed { len: key.len(), first }),
    };
    let address = keccak_address(xy);
    if !ct_eq(&address, &report_data[..20]) {
        return Err(ReportDataError::AddressMismatch {
            found: hex::encode(&report_data[..20]),
            expected: hex::encode(address),
        });
    }
    let derived = format!("0x{}", hex::encode(address));
    if !signing_address.is_empty() && !ct_eq(signing_address.to_ascii_lowercase().as_bytes(), derived.as_bytes()) {
        return Err(ReportDataError::SigningAddressMismatch { given: signing_address.to_owned(), derived });
    }
    check_nonce(report_data, nonce)?;
    Ok(format!("REPORTDATA binds enclave key ({derived}) and nonce"))
}

/// Decodes NEAR's address (one lower-case `0x` stripped, 20 or 32 bytes) and fingerprint
/// (32 bytes, no prefix), in the reference's order of checks.
fn near_inputs(signing_address: &str, tls_fingerprint: &str) -> Result<(Vec<u8>, Vec<u8>), ReportDataError> {
    if signing_address.is_empty() {
        return Err(ReportDataError::SigningAddressAbsent);
    }
    if tls_fingerprint.is_empty() {
        return Err(ReportDataError::TlsFingerprintAbsent);
    }
    let address = hex::decode(signing_address.strip_prefix("0x").unwrap_or(signing_address))
        .map_err(|e| ReportDataError::SigningAddressNotHex(e.to_string()))?;
    if address.len() != 20 && address.len() != 32 {
        return Err(ReportDataError::SigningAddressLength(address.len()));
    }
    let fingerprint = hex::decode(tls_fingerprint).map_err(|e| ReportDataError::TlsFingerprintNotHex(e.to_string()))?;
    if fingerprint.len() != 32 {
        return Err(ReportDataError::TlsFingerprintLength(fingerprint.len()));
    }
    Ok((address, fingerprint))
}

fn check_near_hash(report_data: &[u8; 64], address: &[u8], fingerprint: &[u8]) -> Result<(), ReportDataError> {
    let expected = near_binding_hash(address, fingerprint);
    if ct_eq(&expected, &report_data[..32]) {
        Ok(())
    } else {
        Err(ReportDataError::NearBindingMismatch {
            found: hex::encode(&report_data[..32]),
            expected: hex::encode(expected),
        })
    }
}

/// The NEAR model-node rule (neardirect, nearcloud's model part).
///
/// REPORTDATA[0..32] = SHA-256(address ‖ fingerprint) over the decoded bytes, then
/// REPORTDATA[32..64] = `nonce`. Beyond the reference, the E2EE key must be the key the address
/// names: for a 32-byte address (Ed25519) `signing_key` must be the same bytes; for a 20-byte
/// address (secp256k1) its Keccak address must be that address. Without this, a node could bind
/// one key and hand out another.
pub fn verify_near(
    report_data: &[u8; 64],
    signing_address: &str,
    tls_fingerprint: &str,
    signing_key: &str,
    nonce: &[u8; 32],
) -> Result<String, ReportDataError> {
    let (address, fingerprint) = near_inputs(signing_address, tls_fingerprint)?;
    check_near_hash(report_data, &address, &fingerprint)?;
    check_nonce(report_data, nonce)?;
    check_key_matches_address(signing_key, &address)?;
    Ok("REPORTDATA binds sha256(signing_address + tls_fingerprint) + nonce".to_owned())
}

fn check_key_matches_address(signing_key: &str, address: &[u8]) -> Result<(), ReportDataError> {
    let key = hex::decode(signing_key.strip_prefix("0x").unwrap_or(signing_key))
        .map_err(|_| ReportDataError::KeyNotBoundAddress("signing_public_key is not hex"))?;
    match address.len() {
        32 => {
            if ct_eq(&key, address) {
                Ok(())
            } else {
                Err(ReportDataError::KeyNotBoundAddress("ed25519 key differs from the 32-byte address"))
            }
        }
        _ => {
            let xy: Option<&[u8; 64]> = match key.len() {
                65 if key[0] == 0x04 => key[1..].try_into().ok(),
                64 => key.as_slice().try_into().ok(),
                _ => None,
            };
            let xy = xy.ok_or(ReportDataError::KeyNotBoundAddress("key is not an uncompressed secp256k1 point"))?;
            if ct_eq(&keccak_address(xy), address) {
                Ok(())
            } else {
                Err(ReportDataError::KeyNotBoundAddress("secp256k1 key's address differs from the 20-byte address"))
            }
        }
    }
}

/// The NEAR cloud gateway rule, as the live gateway implements it: REPORTDATA[32..64] = `nonce`
/// (checked first), then REPORTDATA[0..32] = SHA-256(gateway address ‖ gateway fingerprint).
///
/// The reference verifier of April 2026 expected SHA-256(fingerprint) alone, which the live
/// gateway never produces (its factor always failed, allowed to); later reference versions use
/// this rule.
pub fn verify_near_gateway(
    report_data: &[u8; 64],
    signing_address: &str,
    tls_fingerprint: &str,
    nonce: &[u8; 32],
) -> Result<String, ReportDataError> {
    check_nonce(report_data, nonce)?;
    let (address, fingerprint) = near_inputs(signing_address, tls_fingerprint)?;
    check_near_hash(report_data, &address, &fingerprint)?;
    Ok("gateway REPORTDATA binds sha256(signing_address + tls_fingerprint) + nonce".to_owned())
}

/// The Chutes rule: the record's nonce must be ours (the parser fills it from our request; this
/// guards against a parser taking it from the server), and REPORTDATA[0..32] =
/// SHA-256(nonce hex ‖ key text). REPORTDATA[32..64] (a hash of the instance's TLS key) is not
/// checked.
pub fn verify_chutes(
    report_data: &[u8; 64],
    signing_key: &str,
    record_nonce: &str,
    nonce: &[u8; 32],
) -> Result<String, ReportDataError> {
    if signing_key.is_empty() {
        return Err(ReportDataError::ChutesKeyAbsent);
    }
    if !ct_eq(record_nonce.as_bytes(), hex::encode(nonce).as_bytes()) {
        return Err(ReportDataError::ChutesNonceMismatch(record_nonce.to_owned()));
    }
    let expected = chutes_binding_hash(nonce, signing_key);
    if !ct_eq(&expected, &report_data[..32]) {
        return Err(ReportDataError::ChutesBindingMismatch {
            found: hex::encode(&report_data[..32]),
            expected: hex::encode(expected),
        });
    }
    Ok("REPORTDATA binds SHA256(nonce_hex + e2e_pubkey_base64)".to_owned())
}

/// Runs the rule for `provider` and the record's layout on `report_data`. A provider/layout
/// pair without a rule is [`ReportDataError::NoVerifier`] (fail closed).
pub fn verify(
    provider: ProviderKind,
    raw: &RawAttestation,
    report_data: &[u8; 64],
    nonce: &[u8; 32],
) -> Result<String, ReportDataError> {
    use ProviderKind as P;
    match (provider, raw.format) {
        (P::Venice | P::NanoGpt | P::PhalaCloud, BackendFormat::Dstack) => {
            verify_dstack(report_data, &raw.signing_key, &raw.signing_address, nonce)
        }
        (P::NearDirect | P::NearCloud, BackendFormat::Near) => {
            verify_near(report_data, &raw.signing_address, &raw.tls_fingerprint, &raw.signing_key, nonce)
        }
        (P::Chutes, BackendFormat::Chutes) => verify_chutes(report_data, &raw.signing_key, &raw.nonce, nonce),
        (_, format) => Err(ReportDataError::NoVerifier(format.name())),
    }
}

/// `tee_reportdata_binding` (row 11) for a parsed quote. Fails when the record has no signing
/// key, when no rule exists for the provider and layout (gateway-wrapped Chutes evidence on
/// phalacloud or nanogpt: it binds a nonce the server chose, so failing is the only honest
/// answer), or when the rule finds a mismatch. Never Skips.
///
/// A quote that did not parse is
/// [`crate::attestation::binding_verdicts::reportdata_verdict`]'s case.
pub fn verdict(provider: ProviderKind, raw: &RawAttestation, quote: &Quote, nonce: &[u8; 32]) -> Verdict {
    if raw.signing_key.is_empty() {
        return Verdict::fail("enclave public key absent; REPORTDATA binding cannot be verified");
    }
    match verify(provider, raw, &quote.body().report_data, nonce) {
        Ok(detail) => Verdict::pass(detail),
        Err(e @ ReportDataError::NoVerifier(_))
            if raw.format == BackendFormat::Chutes
                && matches!(provider, ProviderKind::PhalaCloud | ProviderKind::NanoGpt) =>
        {
            Verdict::fail(format!(
                "REPORTDATA does not bind enclave public key: {e} (gateway-wrapped Chutes evidence binds a \
                 server-chosen nonce, not ours; failing closed)"
            ))
        }
        Err(e) => Verdict::fail(format!("REPORTDATA does not bind enclave public key: {e}")),
    }
}

/// `gateway_tee_reportdata_binding` (row 39) for a parsed gateway quote: the gateway rule
/// ([`verify_near_gateway`]) on the gateway's address and fingerprint. Fails when the record has
/// no gateway part.
pub fn gateway_verdict(raw: &RawAttestation, gateway_quote: &Quote, nonce: &[u8; 32]) -> Verdict {
    let Some(gateway) = raw.gateway.as_ref() else {
        return Verdict::fail("no gateway attestation; gateway REPORTDATA binding cannot be verified");
    };
    match verify_near_gateway(
        &gateway_quote.body().report_data,
        &gateway.signing_address,
        &gateway.tls_fingerprint,
        nonce,
    ) {
        Ok(detail) => Verdict::pass(detail),
        Err(e) => Verdict::fail(format!("gateway REPORTDATA binding failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::binding_verdicts::test_quote::QuoteBuilder;
    use crate::attestation::raw::GatewayAttestation;
    use crate::report::Status;

    const NONCE: [u8; 32] = [0x5A; 32];

    fn rd(first: &[u8], nonce_half: &[u8; 32]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..first.len()].copy_from_slice(first);
        out[32..].copy_from_slice(nonce_half);
        out
    }

    fn quote_with(report_data: [u8; 64]) -> Quote {
        let mut b = QuoteBuilder::new();
        b.report_data = report_data;
        b.quote()
    }

    /// A secp256k1-shaped key (not a real point; the rule does not check the curve).
    fn dstack_key() -> (String, [u8; 20]) {
        let mut key = [0u8; 65];
        key[0] = 0x04;
        for (i, b) in key[1..].iter_mut().enumerate() {
            *b = i as u8 * 3 + 1;
        }
        let xy: &[u8; 64] = key[1..].try_into().expect("64");
        (hex::encode(key), keccak_address(xy))
    }

    #[test]
    fn keccak_address_known_answer() {
        // Venice capture (venice-and-e2ee-crypto.md §5).
        let key = hex::decode(
            "041d9bbc96671c3fbc983867bd7a6b5c83298e040801764b7085352d84f3f095125db36956caed8c84bfefca635c3c455f409c79a3889d679af688f4aded542fd5",
        )
        .expect("hex");
        let xy: &[u8; 64] = key[1..].try_into().expect("64");
        assert_eq!(hex::encode(keccak_address(xy)), "6525e128afcffebf7eed05d485d7be983cdae934");
    }

    #[test]
    fn near_and_chutes_known_answers() {
        let addr = hex::decode("d0aa20bcf567cc0c7c914608967dbd4c7a17e10b600802d45923434ce323f823").expect("hex");
        let fp = hex::decode("3f6e62f57d60aabf17c82847bdebb2813a800f9d1eb671c1127c1e926e6a0014").expect("hex");
        assert_eq!(
            hex::encode(near_binding_hash(&addr, &fp)),
            "2c8d8f9fddcf2b5c8a2261d32ba65d3d14a2804f58d3de9df95a8e56d0f39c93"
        );
        let nonce: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            hex::encode(chutes_binding_hash(&nonce, "dGVzdC1wdWJrZXk=")),
            "ae6006fb4d89170a75ea1d231035070d59bfc965eb85139f9b55e30022c54e29"
        );
    }

    #[test]
    fn dstack_rule_pass_and_every_fail() {
        let (key, addr) = dstack_key();
        let good = rd(&addr, &NONCE);
        let addr_hex = format!("0x{}", hex::encode(addr));
        let detail = verify_dstack(&good, &key, "", &NONCE).expect("binds");
        assert_eq!(detail, format!("REPORTDATA binds enclave key ({addr_hex}) and nonce"));
        // Mixed-case signing_address and an upper-case key are accepted.
        assert!(
            verify_dstack(&good, &key.to_uppercase(), &addr_hex.to_uppercase().replace("0X", "0x"), &NONCE).is_ok()
        );
        // [20..32] is not checked.
        let mut noisy = good;
        noisy[25] = 0xFF;
        assert!(verify_dstack(&noisy, &key, "", &NONCE).is_ok());

        assert!(matches!(verify_dstack(&good, "zz", "", &NONCE), Err(ReportDataError::KeyNotHex(_))));
        assert!(matches!(verify_dstack(&good, "abc", "", &NONCE), Err(ReportDataError::KeyNotHex(_))));
        assert_eq!(verify_dstack(&good, "", "", &NONCE), Err(ReportDataError::KeyEmpty));
        // 64-byte key without the 04 prefix, compressed key, wrong prefix.
        assert_eq!(
            verify_dstack(&good, &key[2..], "", &NONCE),
            Err(ReportDataError::KeyNotUncompressed { len: 64, first: 1 })
        );
        assert_eq!(
            verify_dstack(&good, &format!("02{}", &key[2..66]), "", &NONCE),
            Err(ReportDataError::KeyNotUncompressed { len: 33, first: 2 })
        );
        assert_eq!(
            verify_dstack(&good, &format!("05{}", &key[2..]), "", &NONCE),
            Err(ReportDataError::KeyNotUncompressed { len: 65, first: 5 })
        );
        let mut wrong_addr = good;
        wrong_addr[0] ^= 1;
        assert!(matches!(verify_dstack(&wrong_addr, &key, "", &NONCE), Err(ReportDataError::AddressMismatch { .. })));
        // signing_address: different, or without 0x.
        assert!(matches!(
            verify_dstack(&good, &key, "0x0000000000000000000000000000000000000000", &NONCE),
            Err(ReportDataError::SigningAddressMismatch { .. })
        ));
        assert!(matches!(
            verify_dstack(&good, &key, &hex::encode(addr), &NONCE),
            Err(ReportDataError::SigningAddressMismatch { .. })
        ));
        let other_nonce = [0x11; 32];
        let e = verify_dstack(&good, &key, "", &other_nonce).expect_err("nonce");
        assert_eq!(
            e.to_string(),
            format!("REPORTDATA[32:64] = {}, expected nonce {}", "5a".repeat(32), "11".repeat(32))
        );
    }

    fn near_fixture() -> (String, String, [u8; 64]) {
        let addr = [0xA1u8; 32];
        let fp = [0xF0u8; 32];
        let report_data = rd(&near_binding_hash(&addr, &fp), &NONCE);
        (hex::encode(addr), hex::encode(fp), report_data)
    }

    #[test]
    fn near_rule_pass_and_every_fail() {
        let (addr, fp, good) = near_fixture();
        assert_eq!(
            verify_near(&good, &addr, &fp, &addr, &NONCE).expect("binds"),
            "REPORTDATA binds sha256(signing_address + tls_fingerprint) + nonce"
        );
        assert!(verify_near(&good, &format!("0x{addr}"), &fp, &addr, &NONCE).is_ok(), "lower-case 0x is stripped");
        assert!(matches!(
            verify_near(&good, &format!("0X{addr}"), &fp, &addr, &NONCE),
            Err(ReportDataError::SigningAddressNotHex(_))
        ));
        assert_eq!(verify_near(&good, "", &fp, &addr, &NONCE), Err(ReportDataError::SigningAddressAbsent));
        assert_eq!(verify_near(&good, &addr, "", &addr, &NONCE), Err(ReportDataError::TlsFingerprintAbsent));
        assert!(matches!(verify_near(&good, "xy", &fp, &addr, &NONCE), Err(ReportDataError::SigningAddressNotHex(_))));
        assert_eq!(verify_near(&good, &addr[..62], &fp, &addr, &NONCE), Err(ReportDataError::SigningAddressLength(31)));
        assert!(matches!(
            verify_near(&good, &addr, "0xab", &addr, &NONCE),
            Err(ReportDataError::TlsFingerprintNotHex(_))
        ));
        assert_eq!(verify_near(&good, &addr, &fp[..62], &addr, &NONCE), Err(ReportDataError::TlsFingerprintLength(31)));
        let mut tampered = good;
        tampered[31] ^= 0x80;
        assert!(matches!(
            verify_near(&tampered, &addr, &fp, &addr, &NONCE),
            Err(ReportDataError::NearBindingMismatch { .. })
        ));
        assert!(matches!(verify_near(&good, &addr, &fp, &addr, &[0; 32]), Err(ReportDataError::NonceMismatch { .. })));
        // The address bytes are hashed, not the text: the separator-free concatenation matters.
        let swapped = rd(&near_binding_hash(&[0xF0; 32], &[0xA1; 32]), &NONCE);
        assert!(verify_near(&swapped, &addr, &fp, &addr, &NONCE).is_err());
        // Key/address consistency (stricter than the reference).
        assert!(matches!(
            verify_near(&good, &addr, &fp, &"b2".repeat(32), &NONCE),
            Err(ReportDataError::KeyNotBoundAddress(_))
        ));
        assert!(matches!(
            verify_near(&good, &addr, &fp, "not hex", &NONCE),
            Err(ReportDataError::KeyNotBoundAddress(_))
        ));
        assert!(verify_near(&good, &addr, &fp, &addr.to_uppercase(), &NONCE).is_ok());
    }

    #[test]
    fn near_rule_twenty_byte_address() {
        let (key, addr) = dstack_key();
        let fp = [0x33u8; 32];
        let good = rd(&near_binding_hash(&addr, &fp), &NONCE);
        let (addr_hex, fp_hex) = (format!("0x{}", hex::encode(addr)), hex::encode(fp));
        assert!(verify_near(&good, &addr_hex, &fp_hex, &key, &NONCE).is_ok());
        assert!(verify_near(&good, &addr_hex, &fp_hex, &key[2..], &NONCE).is_ok(), "64-byte X‖Y form");
        let (other_key, _) = {
            let mut k = hex::decode(&key).expect("hex");
            k[5] ^= 1;
            (hex::encode(k), ())
        };
        assert!(matches!(
            verify_near(&good, &addr_hex, &fp_hex, &other_key, &NONCE),
            Err(ReportDataError::KeyNotBoundAddress(_))
        ));
        assert!(matches!(
            verify_near(&good, &addr_hex, &fp_hex, "abcd", &NONCE),
            Err(ReportDataError::KeyNotBoundAddress(_))
        ));
    }

    #[test]
    fn near_gateway_rule() {
        let (addr, fp, good) = near_fixture();
        assert_eq!(
            verify_near_gateway(&good, &addr, &fp, &NONCE).expect("binds"),
            "gateway REPORTDATA binds sha256(signing_address + tls_fingerprint) + nonce"
        );
        // Nonce is checked first, even with other fields missing.
        assert!(matches!(verify_near_gateway(&good, "", "", &[1; 32]), Err(ReportDataError::NonceMismatch { .. })));
        assert_eq!(verify_near_gateway(&good, "", &fp, &NONCE), Err(ReportDataError::SigningAddressAbsent));
        assert_eq!(verify_near_gateway(&good, &addr, "", &NONCE), Err(ReportDataError::TlsFingerprintAbsent));
        // The April 2026 reference rule (SHA-256 of the fingerprint alone) is not accepted.
        let fp_bytes = hex::decode(&fp).expect("hex");
        let seed_style = rd(&Sha256::digest(&fp_bytes), &NONCE);
        assert!(matches!(
            verify_near_gateway(&seed_style, &addr, &fp, &NONCE),
            Err(ReportDataError::NearBindingMismatch { .. })
        ));
    }

    #[test]
    fn chutes_rule_pass_and_every_fail() {
        let key = "dGVzdC1wdWJrZXk=";
        let good = rd(&chutes_binding_hash(&NONCE, key), &[0xEE; 32]);
        let nonce_hex = hex::encode(NONCE);
        assert_eq!(
            verify_chutes(&good, key, &nonce_hex, &NONCE).expect("binds"),
            "REPORTDATA binds SHA256(nonce_hex + e2e_pubkey_base64)"
        );
        assert_eq!(verify_chutes(&good, "", &nonce_hex, &NONCE), Err(ReportDataError::ChutesKeyAbsent));
        assert!(matches!(verify_chutes(&good, key, "", &NONCE), Err(ReportDataError::ChutesNonceMismatch(_))));
        assert!(matches!(
            verify_chutes(&good, key, &nonce_hex.to_uppercase(), &NONCE),
            Err(ReportDataError::ChutesNonceMismatch(_))
        ));
        // The key is hashed as text: a re-encoded (unpadded) key does not bind.
        assert!(matches!(
            verify_chutes(&good, "dGVzdC1wdWJrZXk", &nonce_hex, &NONCE),
            Err(ReportDataError::ChutesBindingMismatch { .. })
        ));
        let other: [u8; 32] = [0x11; 32];
        assert!(verify_chutes(&good, key, &hex::encode(other), &other).is_err());
    }

    fn record(format: BackendFormat, key: &str) -> RawAttestation {
        let mut raw = RawAttestation::empty(format);
        raw.signing_key = key.to_owned();
        raw
    }

    #[test]
    fn verdict_dispatch_per_provider() {
        let (key, addr) = dstack_key();
        let q = quote_with(rd(&addr, &NONCE));
        for p in [ProviderKind::Venice, ProviderKind::NanoGpt, ProviderKind::PhalaCloud] {
            let v = verdict(p, &record(BackendFormat::Dstack, &key), &q, &NONCE);
            assert_eq!(v.status, Status::Pass, "{p:?}: {}", v.detail);
        }
        // Wrong layout for the provider: no rule, fail closed.
        for p in [ProviderKind::Venice, ProviderKind::NearDirect, ProviderKind::Chutes] {
            let fmt = if p == ProviderKind::Chutes { BackendFormat::Dstack } else { BackendFormat::Chutes };
            let v = verdict(p, &record(fmt, &key), &q, &NONCE);
            assert_eq!(v.status, Status::Fail, "{p:?}");
            assert!(v.detail.contains("no REPORTDATA verifier for backend format"), "{}", v.detail);
        }
        // Gateway-wrapped Chutes: always Fail, explained.
        for p in [ProviderKind::PhalaCloud, ProviderKind::NanoGpt] {
            let raw = record(BackendFormat::Chutes, "dGVzdC1wdWJrZXk=");
            let good = quote_with(rd(&chutes_binding_hash(&NONCE, &raw.signing_key), &NONCE));
            let v = verdict(p, &raw, &good, &NONCE);
            assert_eq!(v.status, Status::Fail);
            assert!(v.detail.contains("\"chutes\"") && v.detail.contains("server-chosen nonce"), "{}", v.detail);
        }
        // No key: Fail before any rule runs.
        let v = verdict(ProviderKind::Venice, &record(BackendFormat::Dstack, ""), &q, &NONCE);
        assert_eq!(
            (v.status, v.detail.as_str()),
            (Status::Fail, "enclave public key absent; REPORTDATA binding cannot be verified")
        );
        // Mismatch detail prefix.
        let v = verdict(ProviderKind::Venice, &record(BackendFormat::Dstack, &key), &q, &[0; 32]);
        assert!(v.detail.starts_with("REPORTDATA does not bind enclave public key: REPORTDATA[32:64]"), "{}", v.detail);

        // NEAR and Chutes through `verdict`.
        let (a, fp, near_rd) = near_fixture();
        let mut raw = record(BackendFormat::Near, &a);
        raw.signing_address = a.clone();
        raw.tls_fingerprint = fp;
        assert_eq!(verdict(ProviderKind::NearCloud, &raw, &quote_with(near_rd), &NONCE).status, Status::Pass);
        let mut raw = record(BackendFormat::Chutes, "a2V5");
        raw.nonce = hex::encode(NONCE);
        let chutes_q = quote_with(rd(&chutes_binding_hash(&NONCE, "a2V5"), &[0; 32]));
        assert_eq!(verdict(ProviderKind::Chutes, &raw, &chutes_q, &NONCE).status, Status::Pass);
    }

    #[test]
    fn gateway_verdict_rules() {
        let (addr, fp, good) = near_fixture();
        let q = quote_with(good);
        let mut raw = RawAttestation::empty(BackendFormat::Near);
        let v = gateway_verdict(&raw, &q, &NONCE);
        assert_eq!(v.status, Status::Fail);
        raw.gateway =
            Some(GatewayAttestation { signing_address: addr, tls_fingerprint: fp, ..GatewayAttestation::default() });
        assert_eq!(gateway_verdict(&raw, &q, &NONCE).status, Status::Pass);
        let v = gateway_verdict(&raw, &q, &[3; 32]);
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.starts_with("gateway REPORTDATA binding failed: REPORTDATA[32:64]"), "{}", v.detail);
    }
}
