//! Factor evaluation: evidence in, one raw [`Verdict`] per factor out, in report order.
//!
//! Only checks that this build can really make are evaluated; every other factor reports
//! `fail: not implemented` so a report can never pass on a check nobody ran.

use base64::Engine as _;
use subtle::ConstantTimeEq;

use super::raw::RawAttestation;
use super::tdx::Quote;
use crate::provider::ProviderKind;
use crate::report::{Factor, Verdict};

/// What the end-to-end encryption test found (live), or what a capture recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum E2eeTest {
    /// No test: E2EE is not configured for this provider, or the attestation has no key.
    NotConfigured,
    /// No API key to run the test with.
    NoApiKey {
        /// The environment variable that would hold it.
        env: String,
    },
    /// The test was not attempted (e.g. offline).
    NotAttempted {
        /// Why.
        detail: String,
    },
    /// E2EE is configured and the session's own encrypted request will be the test (proxy and
    /// prompt sessions): a Skip that is never promoted to Fail, because the request that
    /// follows fails closed on its own if the enclave key does not work.
    PendingLiveTest,
    /// An encrypted request succeeded.
    Succeeded {
        /// What was decrypted.
        detail: String,
    },
    /// The encrypted request failed.
    Failed {
        /// The error.
        error: String,
    },
}

/// A quote string's fate: absent, unparseable, or parsed.
#[derive(Clone, Debug)]
pub enum QuoteInput<'a> {
    /// The provider sent no quote.
    Absent,
    /// The quote did not decode or parse.
    Invalid(String),
    /// The parsed quote.
    Parsed(&'a Quote),
}

/// Everything the evaluator looks at.
#[derive(Clone, Debug)]
pub struct FactorInputs<'a> {
    /// The provider (decides key-type and TLS-binding rules).
    pub provider: ProviderKind,
    /// Our nonce, 64 lower-case hex characters.
    pub nonce_hex: &'a str,
    /// What the provider sent.
    pub raw: &'a RawAttestation,
    /// The model quote.
    pub quote: QuoteInput<'a>,
    /// The gateway quote (nearcloud), if the gateway sent one.
    pub gateway_quote: Option<QuoteInput<'a>>,
    /// The E2EE test outcome.
    pub e2ee: &'a E2eeTest,
    /// Verdicts already computed by the cryptographic verifiers; they take precedence.
    pub computed: std::collections::BTreeMap<Factor, Verdict>,
}

/// Evaluates every factor, in report order. The gateway tier is present only when the
/// attestation carried a gateway quote.
pub fn evaluate(inputs: &FactorInputs<'_>) -> Vec<(Factor, Verdict)> {
    Factor::ALL
        .iter()
        .filter(|f| f.tier() != crate::report::Tier::Gateway || inputs.gateway_quote.is_some())
        .map(|&f| (f, verdict(f, inputs)))
        .collect()
}

fn verdict(factor: Factor, i: &FactorInputs<'_>) -> Verdict {
    if let Some(v) = i.computed.get(&factor) {
        return v.clone();
    }
    let raw = i.raw;
    match factor {
        Factor::NonceMatch => nonce_match(&raw.nonce, i.nonce_hex, &raw.nonce_source, ""),
        Factor::TeeQuotePresent => quote_present(&raw.intel_quote, ""),
        Factor::TeeQuoteStructure => quote_structure(&i.quote),
        Factor::TeeDebugDisabled => debug_disabled(&i.quote, ""),
        Factor::SigningKeyPresent => signing_key_present(&raw.signing_key),
        Factor::NvidiaPayloadPresent => nvidia_payload_present(raw),
        Factor::E2eeCapable => e2ee_capable(raw),
        Factor::E2eeUsable => e2ee_usable(i.e2ee),
        Factor::TlsKeyBinding => tls_key_binding(raw),
        Factor::CpuGpuChain => Verdict::fail("CPU-GPU attestation not bound"),
        Factor::MeasuredModelWeights => Verdict::fail("no model weight hashes"),
        Factor::GatewayNonceMatch => {
            let nonce = raw.gateway.as_ref().map_or("", |g| g.nonce.as_str());
            nonce_match(nonce, i.nonce_hex, "", "gateway ")
        }
        Factor::GatewayTeeQuotePresent => {
            quote_present(raw.gateway.as_ref().map_or("", |g| g.intel_quote.as_str()), "gateway ")
        }
        Factor::GatewayTeeQuoteStructure => quote_structure(i.gateway_quote.as_ref().unwrap_or(&QuoteInput::Absent)),
        Factor::GatewayTeeDebugDisabled => {
            debug_disabled(i.gateway_quote.as_ref().unwrap_or(&QuoteInput::Absent), "gateway ")
        }
        _ => Verdict::not_implemented(),
    }
}

/// First `n` characters of `s` followed by `...` (for details).
fn prefix(s: &str, n: usize) -> String {
    let cut: String = s.chars().take(n).collect();
    format!("{cut}...")
}

fn nonce_match(echoed: &str, ours: &str, source: &str, who: &str) -> Verdict {
    if echoed.is_empty() {
        return Verdict::fail(format!("{who}nonce field absent from attestation response"));
    }
    if echoed.len() == ours.len() && bool::from(echoed.as_bytes().ct_eq(ours.as_bytes())) {
        let mut detail = format!("{who}nonce matches ({} hex chars)", ours.len());
        if !source.is_empty() {
            detail.push_str(&format!(" ({source}-supplied)"));
        }
        Verdict::pass(detail)
    } else {
        Verdict::fail(format!("{who}nonce mismatch: got \"{}\", want \"{}\"", prefix(echoed, 16), prefix(ours, 16)))
    }
}

fn quote_present(quote: &str, who: &str) -> Verdict {
    if quote.is_empty() {
        Verdict::fail(format!("no {who}TDX quote in attestation response"))
    } else {
        Verdict::pass(format!("{who}TDX quote present ({} hex chars)", quote.len()))
    }
}

fn quote_structure(quote: &QuoteInput<'_>) -> Verdict {
    match quote {
        QuoteInput::Absent => Verdict::fail("no TDX quote to parse"),
        QuoteInput::Invalid(e) => Verdict::fail(format!("TDX quote does not parse: {e}")),
        QuoteInput::Parsed(q) => Verdict::pass(q.describe()),
    }
}

fn debug_disabled(quote: &QuoteInput<'_>, who: &str) -> Verdict {
    match quote {
        QuoteInput::Absent => Verdict::fail(format!("no {who}TDX quote")),
        QuoteInput::Invalid(_) => Verdict::skip(format!("{who}TDX quote did not parse")),
        QuoteInput::Parsed(q) if q.debug_enabled() => {
            Verdict::fail(format!("{who}debug bit is set: the enclave's memory can be inspected"))
        }
        QuoteInput::Parsed(_) => Verdict::pass(format!("{who}debug bit is 0 (production enclave)")),
    }
}

fn signing_key_present(key: &str) -> Verdict {
    if key.is_empty() {
        Verdict::fail("no enclave public key in attestation response")
    } else {
        Verdict::pass(format!("enclave pubkey present ({})", prefix(key, 10)))
    }
}

fn nvidia_payload_present(raw: &RawAttestation) -> Verdict {
    if !raw.nvidia_payload.is_empty() {
        Verdict::pass(format!("NVIDIA payload present ({} chars)", raw.nvidia_payload.len()))
    } else if !raw.gpu_evidence.is_empty() {
        Verdict::pass(format!("GPU evidence present ({} GPUs, SPDM format)", raw.gpu_evidence.len()))
    } else {
        Verdict::fail("no NVIDIA payload or GPU evidence in attestation response")
    }
}

/// Size of an ML-KEM-768 encapsulation key.
const ML_KEM_768_KEY_BYTES: usize = 1184;

fn e2ee_capable(raw: &RawAttestation) -> Verdict {
    let key = raw.signing_key.as_str();
    if key.is_empty() {
        return Verdict::fail("no enclave public key; E2EE impossible");
    }
    if raw.signing_algo == "ml-kem-768" {
        return match base64::engine::general_purpose::STANDARD.decode(key) {
            Ok(bytes) if bytes.len() == ML_KEM_768_KEY_BYTES => Verdict::pass(
                "ML-KEM-768 public key valid (1184 bytes); post-quantum E2EE key exchange possible",
            ),
            Ok(bytes) => Verdict::fail(format!("ML-KEM-768 public key has {} bytes, want 1184", bytes.len())),
            Err(e) => Verdict::fail(format!("ML-KEM-768 public key is not base64: {e}")),
        };
    }
    if raw.signing_algo == "ed25519" || key.len() == 64 {
        let point = hex::decode(key)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|b| curve25519_dalek::edwards::CompressedEdwardsY(b).decompress());
        return match point {
            Some(_) => Verdict::pass(format!(
                "enclave ed25519 public key valid; E2EE key exchange possible ({})",
                algo_or(&raw.signing_algo, "ed25519")
            )),
            None => Verdict::fail("enclave ed25519 public key is not a valid curve point"),
        };
    }
    let uncompressed = key.len() == 130 && key.starts_with("04") && key.bytes().all(|b| b.is_ascii_hexdigit());
    if uncompressed {
        Verdict::pass(format!(
            "enclave public key is valid secp256k1 uncompressed point; E2EE key exchange possible ({})",
            algo_or(&raw.signing_algo, "ecdsa")
        ))
    } else {
        Verdict::fail(format!("enclave public key ({} chars) is not a 65-byte uncompressed point", key.len()))
    }
}

fn algo_or<'a>(algo: &'a str, default: &'a str) -> &'a str {
    if algo.is_empty() { default } else { algo }
}

/// The `e2ee_usable` verdict for a live E2EE test outcome.
pub fn e2ee_usable(test: &E2eeTest) -> Verdict {
    match test {
        E2eeTest::NotConfigured => Verdict::skip("E2EE not configured for this provider"),
        E2eeTest::NoApiKey { env } => {
            let env = if env.is_empty() { "<unknown>" } else { env.as_str() };
            Verdict::skip(format!("API key required (${env})"))
        }
        E2eeTest::NotAttempted { detail } => {
            Verdict::skip(if detail.is_empty() { "E2EE test not attempted" } else { detail }.to_owned())
        }
        E2eeTest::Succeeded { detail } => {
            Verdict::pass(if detail.is_empty() { "E2EE test inference succeeded" } else { detail }.to_owned())
        }
        E2eeTest::Failed { error } => Verdict::fail(error.clone()),
        E2eeTest::PendingLiveTest => {
            Verdict { deferred: true, ..Verdict::skip("E2EE configured; pending live test") }
        }
    }
}

fn tls_key_binding(raw: &RawAttestation) -> Verdict {
    if !raw.tls_fingerprint.is_empty() {
        Verdict::pass(format!("TLS certificate SPKI bound to attestation ({})", prefix(&raw.tls_fingerprint, 16)))
    } else if !raw.signing_key.is_empty() {
        Verdict::skip("provider uses E2EE key exchange; TLS binding not applicable")
    } else {
        Verdict::fail("no TLS fingerprint and no enclave key in attestation response")
    }
}
