//! Our quote parser against an independent one (dcap-qvl's), on every real quote, and
//! arbitrary damage to a real quote never passing the signature checks.

use proptest::prelude::*;
use proto_core::attestation::tdx::{Quote, TrustAnchor, offline_verify};
use teep_tests::captures::captures_dir;

/// Every model quote we can find: the standalone sample and the hex quotes of the captures.
fn real_quotes() -> Vec<(String, Vec<u8>)> {
    let Some(dir) = captures_dir() else { return Vec::new() };
    let mut out = vec![("single".to_owned(), std::fs::read(dir.join("single/tdx_prod_quote_SPR_E4.dat")).unwrap())];
    for capture in teep_tests::captures::replayable_captures() {
        let body = std::fs::read_dir(capture.join("responses"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("0001_") && p.extension().unwrap() == "body")
            .unwrap();
        let text = std::fs::read_to_string(body).unwrap();
        if let Some(start) = text.find("\"intel_quote\":\"") {
            let hex = &text[start + 15..];
            let hex = &hex[..hex.find('"').unwrap()];
            if hex.starts_with("0400") {
                out.push((capture.file_name().unwrap().to_string_lossy().into_owned(), decode_hex(hex)));
            }
        }
    }
    out
}

fn decode_hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn fields_agree_with_dcap_qvl_on_every_real_quote() {
    let quotes = real_quotes();
    for (name, bytes) in &quotes {
        let ours = Quote::parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let theirs = dcap_qvl::quote::Quote::parse(bytes).unwrap_or_else(|e| panic!("{name}: dcap-qvl: {e}"));
        let td = theirs.report.as_td10().expect("a TDX 1.0 report");
        let body = ours.body();
        assert_eq!(body.tee_tcb_svn, td.tee_tcb_svn, "{name}");
        assert_eq!(body.mr_seam, td.mr_seam, "{name}");
        assert_eq!(body.mr_signer_seam, td.mr_signer_seam, "{name}");
        assert_eq!(body.td_attributes, td.td_attributes, "{name}");
        assert_eq!(body.xfam, td.xfam, "{name}");
        assert_eq!(body.mr_td, td.mr_td, "{name}");
        assert_eq!(body.mr_config_id, td.mr_config_id, "{name}");
        assert_eq!(body.mr_owner, td.mr_owner, "{name}");
        assert_eq!(body.mr_owner_config, td.mr_owner_config, "{name}");
        assert_eq!(body.rtmr, [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3], "{name}");
        assert_eq!(body.report_data, td.report_data, "{name}");
        assert_eq!(ours.version().number(), theirs.header.version, "{name}");
    }
    if captures_dir().is_some() {
        // The standalone sample plus the six captures whose answer carries a hex quote.
        assert!(quotes.len() >= 7, "expected the standalone quote and the capture quotes, got {}", quotes.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
            "../proptest-regressions/tdx_known_answers.txt",
        ))),
        ..ProptestConfig::default()
    })]

    /// A real quote cut short, or with one byte changed, never verifies (and never panics).
    #[test]
    fn damaged_real_quotes_never_verify(cut in 0usize..6000, at in 0usize..6000, xor in 1u8..=255) {
        let quotes = real_quotes();
        prop_assume!(!quotes.is_empty());
        let (_, original) = &quotes[1.min(quotes.len() - 1)];
        let now = 1_781_056_439; // 2026-06-10, inside the captures' validity windows
        let anchor = TrustAnchor::intel();
        // Cutting only the trailing zero padding leaves the same signed quote.
        let meaningful = original.len() - Quote::parse(original).unwrap().trailing_len();
        let truncated = &original[..cut.min(meaningful - 1)];
        if let Ok(q) = Quote::parse(truncated) {
            prop_assert!(offline_verify(&q, &anchor, now).is_err(), "cut at {} still verified", truncated.len());
        }
        let mut flipped = original.clone();
        let i = at % flipped.len();
        flipped[i] ^= xor;
        if let Ok(q) = Quote::parse(&flipped) {
            // Bytes after the signed data and certification data (zero padding) are not covered,
            // nor is PEM whitespace in the certificate chain (a newline turned into a form feed
            // decodes to the same certificates): only a change that alters what is signed or
            // what the certificates say must fail.
            let same_chain = q.pem_chain().ok() == Quote::parse(original).unwrap().pem_chain().ok();
            let pem_whitespace = same_chain && original[i].is_ascii_whitespace() && flipped[i].is_ascii_whitespace();
            if i < original.len() - q.trailing_len() && !pem_whitespace {
                prop_assert!(offline_verify(&q, &anchor, now).is_err(), "byte {i} changed and the quote still verified");
            }
        }
    }
}
