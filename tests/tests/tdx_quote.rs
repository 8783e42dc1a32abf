//! Every TDX quote in the recorded sessions parses, and what it says agrees with the reference
//! verifier's report.txt and the session manifest.
//!
//! The quotes are pulled out of the JSON bodies with a plain string search (no JSON parser in
//! this crate): `"intel_quote"` values are hex, Chutes' evidence `"quote"` values are base64.

use std::path::Path;

use proto_core::attestation::tdx::{PckCa, Quote, QuoteVersion};
use sha2::{Digest, Sha256};

/// Every string value stored under `"key"` in `json`, in document order.
fn string_values(json: &str, key: &str) -> Vec<String> {
    let needle = format!("\"{key}\"");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = json[from..].find(&needle) {
        let after_key = from + found + needle.len();
        from = after_key;
        let rest = json[after_key..].trim_start();
        let Some(rest) = rest.strip_prefix(':') else { continue };
        let Some(rest) = rest.trim_start().strip_prefix('"') else { continue };
        let end = rest.find('"').expect("unterminated JSON string");
        let value = &rest[..end];
        assert!(!value.contains('\\'), "escapes in a {key} value are not expected");
        out.push(value.to_owned());
    }
    out
}

/// The text of the JSON object stored under `"key"` (first occurrence), braces included.
fn object_value<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\"");
    let at = json.find(&needle)? + needle.len();
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    if !rest.starts_with('{') {
        return None;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, ch) in rest.char_indices() {
        if in_string {
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => in_string = true,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&rest[..=i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The first response body whose file name starts with `prefix` and ends with `suffix`.
fn body(dir: &Path, prefix: &str, suffix: &str) -> Option<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir.join("responses"))
        .expect("responses dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with(prefix) && n.ends_with(suffix)
        })
        .collect();
    names.sort();
    names.first().map(|p| std::fs::read_to_string(p).expect("read body"))
}

/// The detail text after `label` on the report line that names it, e.g. the MRTD prefix.
fn report_value(report: &str, label: &str) -> Option<String> {
    report.lines().find_map(|l| {
        let t = l.trim_start().trim_start_matches('✓').trim_start();
        let rest = t.strip_prefix(label)?;
        Some(rest.trim().to_owned())
    })
}

/// The MRTD prefix (16 hex digits) from a `…quote_structure  valid QuoteV4, MRTD: xxxx...` line.
fn report_mrtd(report: &str, factor: &str) -> Option<String> {
    let detail = report_value(report, &format!("{factor} "))?;
    let mrtd = detail.split("MRTD: ").nth(1)?;
    Some(mrtd.split("...").next()?.to_owned())
}

/// The `describe()` text on a report's structure line.
fn report_structure(report: &str, factor: &str) -> Option<String> {
    let detail = report_value(report, &format!("{factor} "))?;
    Some(detail.split("  [").next()?.trim().to_owned())
}

/// Structural checks every genuine quote passes; returns (FMSPC, CA, PPID hex).
fn check_common(q: &Quote, what: &str) -> (String, PckCa, String) {
    assert!(matches!(q.version(), QuoteVersion::V4 | QuoteVersion::V5), "{what}: version");
    assert!(!q.debug_enabled(), "{what}: debug bit set");
    assert_eq!(q.signed_region().len(), 632, "{what}: V4 signed region is header + TDX 1.0 body");
    // The QE report binds the attestation key and auth data (spec §3 step 8): a cross-check of
    // the signature-data offsets on real bytes.
    let sig = q.signature_data();
    let mut h = Sha256::new();
    h.update(sig.attestation_key);
    h.update(&sig.qe_auth_data);
    assert_eq!(sig.qe_report.report_data[..32], h.finalize()[..], "{what}: QE report data binding");
    assert_eq!(sig.qe_report.report_data[32..], [0u8; 32], "{what}: QE report data tail");
    assert_eq!(sig.qe_auth_data.len(), 32, "{what}: QE auth data size");
    let pem = sig.pck_chain_pem.strip_suffix(b"\0").unwrap_or(&sig.pck_chain_pem);
    assert!(pem.ends_with(b"-----END CERTIFICATE-----\n"), "{what}: chain ends after the last block");
    let chain = q.pem_chain().unwrap_or_else(|e| panic!("{what}: PEM chain: {e}"));
    assert_eq!(chain.len(), 3, "{what}: PCK chain length");
    let leaf = q.pck_leaf().unwrap_or_else(|e| panic!("{what}: PCK leaf: {e}"));
    let fmspc = leaf.fmspc_hex();
    assert_eq!(fmspc.len(), 12, "{what}: FMSPC");
    assert!(fmspc.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{what}: FMSPC not lower hex");
    assert_eq!(leaf.ppid_hex().len(), 32, "{what}: PPID");
    assert_eq!(leaf.extension_count, 6, "{what}: leaf extension count");
    let ca = leaf.ca().unwrap_or_else(|e| panic!("{what}: CA type: {e}"));
    (fmspc, ca, leaf.ppid_hex())
}

#[test]
fn every_captured_quote_parses_and_matches_the_report() {
    let captures = teep_tests::captures::replayable_captures();
    let mut total = 0;
    for dir in &captures {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        let manifest = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest");
        let provider = string_values(&manifest, "provider").into_iter().next().expect("provider");
        let nonce = string_values(&manifest, "nonce_hex").into_iter().next().expect("nonce_hex");
        let report = std::fs::read_to_string(dir.join("report.txt")).expect("report.txt");

        // Model quotes and (nearcloud) the gateway quote.
        let mut model: Vec<Quote> = Vec::new();
        let mut gateway: Vec<Quote> = Vec::new();
        if provider == "chutes" {
            let evidence = body(dir, "0002_", "_evidence.body").expect("chutes evidence body");
            for b64 in string_values(&evidence, "quote") {
                model.push(Quote::from_base64(&b64).unwrap_or_else(|e| panic!("{name}: chutes quote: {e}")));
            }
        } else {
            let answer = body(dir, "0001_", ".body").expect("attestation body");
            let gateway_hex = object_value(&answer, "gateway_attestation")
                .map(|g| string_values(g, "intel_quote"))
                .unwrap_or_default();
            for text in string_values(&answer, "intel_quote") {
                // Gateway-wrapped Chutes instances (phalacloud) carry Chutes' base64 here.
                let q = Quote::from_hex(&text)
                    .or_else(|_| Quote::from_base64(&text))
                    .unwrap_or_else(|e| panic!("{name}: quote: {e}"));
                if gateway_hex.contains(&text) { gateway.push(q) } else { model.push(q) }
            }
        }
        assert!(!model.is_empty(), "{name}: no model quote found");
        assert_eq!(gateway.is_empty(), provider != "nearcloud", "{name}: gateway quote presence");

        let mrtd = report_mrtd(&report, "tdx_quote_structure").expect("tdx_quote_structure line");
        let structure = report_structure(&report, "tdx_quote_structure").expect("structure detail");
        let nonce_in_reportdata = matches!(provider.as_str(), "venice" | "neardirect" | "nearcloud" | "nanogpt");
        let mut ppids = Vec::new();
        for (i, q) in model.iter().enumerate() {
            let what = format!("{name} model quote {i}");
            assert!(q.mr_td_hex().starts_with(&mrtd), "{what}: MRTD {} vs report {mrtd}", q.mr_td_hex());
            assert_eq!(q.describe(), structure, "{what}: describe()");
            if nonce_in_reportdata {
                assert_eq!(&q.report_data_hex()[64..], nonce, "{what}: REPORTDATA[32..64] is the nonce");
            }
            let (fmspc, ca, ppid) = check_common(q, &what);
            // Observed: 307 zero bytes after Chutes quotes (base64), 70 after dstack/NEAR ones.
            let expected_trailing = if q.raw().len() > 5200 { 307 } else { 70 };
            assert_eq!(q.trailing_bytes(), vec![0u8; expected_trailing], "{what}: trailing bytes");
            assert_eq!(q.signature_data().pck_chain_pem.last(), Some(&0), "{what}: chain ends in a NUL byte");
            eprintln!(
                "{what}: {} len {} FMSPC {fmspc} CA {} PPID {}.. trailing {} (zero: {}) auth {}",
                q.version().name(),
                q.raw().len(),
                ca.as_str(),
                &ppid[..16],
                q.trailing_len(),
                q.trailing_bytes().iter().all(|&b| b == 0),
                q.signature_data().qe_auth_data.len(),
            );
            ppids.push(ppid);
            total += 1;
        }
        if let Some(prefix) = report_value(&report, "PPID:") {
            let prefix = prefix.trim_end_matches("...");
            // Chutes and phalacloud return several instances; the report names the selected one.
            assert!(ppids.iter().any(|p| p.starts_with(prefix)), "{name}: no quote with PPID {prefix}");
        }

        if let Some(gw_mrtd) = report_mrtd(&report, "gateway_tdx_quote_structure") {
            let gw_structure = report_structure(&report, "gateway_tdx_quote_structure").expect("gateway detail");
            assert_eq!(gateway.len(), 1, "{name}: one gateway quote");
            let q = &gateway[0];
            let what = format!("{name} gateway quote");
            assert!(q.mr_td_hex().starts_with(&gw_mrtd), "{what}: MRTD");
            assert_eq!(q.describe(), gw_structure, "{what}: describe()");
            assert_eq!(&q.report_data_hex()[64..], nonce, "{what}: REPORTDATA[32..64] is the nonce");
            let (fmspc, ca, ppid) = check_common(q, &what);
            eprintln!(
                "{what}: {} FMSPC {fmspc} CA {} PPID {}.. trailing {}",
                q.version().name(),
                ca.as_str(),
                &ppid[..16],
                q.trailing_len()
            );
            total += 1;
        } else {
            assert!(gateway.is_empty(), "{name}: gateway quote without a report line");
        }
    }
    if !captures.is_empty() {
        assert!(total >= captures.len(), "too few quotes checked: {total}");
    }
}

#[test]
fn neardirect_leaf_matches_the_spec_example() {
    let Some(dir) = teep_tests::captures::captures_dir() else { return };
    let dir = dir.join("neardirect_qwen_qwen3.5-122b-a10b_20260424_021037");
    let answer = body(&dir, "0001_", ".body").expect("attestation body");
    let text = string_values(&answer, "intel_quote").into_iter().next().expect("intel_quote");
    let q = Quote::from_hex(&text).expect("parses");
    // Spec §16: signed data of 4304 bytes, 70 trailing bytes; §3.1: the leaf's SGX values.
    assert_eq!(q.raw().len(), 0x27C + 4304 + 70);
    assert_eq!(q.trailing_len(), 70);
    let leaf = q.pck_leaf().expect("leaf");
    assert_eq!(leaf.ppid_hex(), "b02abcf3660e405940c15aee36c4ea3e");
    assert_eq!(leaf.pce_id_hex(), "0000");
    assert_eq!(leaf.fmspc_hex(), "90c06f000000");
    assert_eq!(leaf.issuer_cn.as_deref(), Some("Intel SGX PCK Platform CA"));
    assert_eq!(leaf.ca(), Ok(PckCa::Platform));
    assert_eq!(q.td_attributes_hex(), "0000001000000000");
}

#[test]
fn standalone_sample_quote_parses() {
    let Some(dir) = teep_tests::captures::captures_dir() else { return };
    let bytes = std::fs::read(dir.join("single/tdx_prod_quote_SPR_E4.dat")).expect("sample quote");
    let q = Quote::parse(&bytes).expect("sample quote parses");
    let (fmspc, ca, ppid) = check_common(&q, "single");
    eprintln!(
        "single: {} {} len {} FMSPC {fmspc} CA {} PPID {}.. trailing {} {:?}",
        q.describe(),
        q.version().name(),
        bytes.len(),
        ca.as_str(),
        &ppid[..16],
        q.trailing_len(),
        String::from_utf8_lossy(q.trailing_bytes())
    );
    // A trailing garbage byte more still parses; one byte less does not.
    let mut longer = bytes.clone();
    longer.push(0xAA);
    assert_eq!(Quote::parse(&longer).expect("longer").trailing_len(), q.trailing_len() + 1);
    let exact = &bytes[..bytes.len() - q.trailing_len()];
    assert_eq!(Quote::parse(exact).expect("exact").trailing_len(), 0);
    assert!(Quote::parse(&exact[..exact.len() - 1]).is_err());
}
