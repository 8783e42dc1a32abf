//! The provider parsers on every recorded attestation answer in `../shared/captures`: concrete
//! facts about each record, and its report-header metadata against the reference `report.txt`.

use std::path::{Path, PathBuf};

use proto_core::attestation::raw::{BackendFormat, RawAttestation};
use proto_core::provider::parse::{
    AttestationFormat, detect_format, parse_chutes, parse_nanogpt, parse_near_model, parse_nearcloud, parse_phalacloud,
    parse_venice,
};
use proto_core::report::{ReferenceReport, Status};
use teep_tests::captures::{captures_dir, replayable_captures};

/// The value of a top-level `"key": "value"` string member of a manifest (no JSON parser in
/// this crate; the manifests' top-level strings hold no escapes).
fn manifest_string(manifest: &str, key: &str) -> String {
    let needle = format!("\"{key}\": \"");
    let start = manifest.find(&needle).unwrap_or_else(|| panic!("manifest lacks {key}")) + needle.len();
    let len = manifest[start..].find('"').expect("closing quote");
    manifest[start..start + len].to_owned()
}

/// The response body whose file name starts with `prefix` (e.g. `0001_`).
fn response(dir: &Path, prefix: &str) -> (PathBuf, Vec<u8>) {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("responses"))
        .expect("responses dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(prefix) && name.ends_with(".body")
        })
        .collect();
    assert_eq!(found.len(), 1, "{}: one {prefix}*.body expected", dir.display());
    let path = found.remove(0);
    let body = std::fs::read(&path).expect("read body");
    (path, body)
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The number in a factor detail such as `TDX quote present (10020 hex chars)`.
fn number_after(detail: &str, prefix: &str) -> Option<usize> {
    let rest = &detail[detail.find(prefix)? + prefix.len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The header value, with the renderer's `...` cut marker removed.
fn prefix_of(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(|v| v.strip_suffix("...").unwrap_or(v))
}

/// Every header line the reference printed matches the record, and every line it did not print
/// corresponds to an empty field.
fn assert_header_matches(name: &str, raw: &RawAttestation, reference: &ReferenceReport) {
    let m = &reference.metadata;
    let text = |field: &str, header: Option<&str>, value: &str, prefix: bool| match header {
        Some(h) if prefix => assert!(value.starts_with(h), "{name}: {field} {value:?} does not start with {h:?}"),
        Some(h) => assert_eq!(value, h, "{name}: {field}"),
        None => assert!(value.is_empty(), "{name}: {field} is {value:?} but report.txt prints none"),
    };
    text("tee_hardware", m.hardware.as_deref(), &raw.tee_hardware, false);
    text("upstream_model", m.upstream.as_deref(), &raw.upstream_model, false);
    text("app_name", m.app.as_deref(), &raw.app_name, false);
    text("compose_hash", prefix_of(&m.compose_hash), &raw.compose_hash, true);
    text("os_image_hash", prefix_of(&m.os_image), &raw.os_image_hash, true);
    text("device_id", prefix_of(&m.device), &raw.device_id, true);
    text("nonce_source", m.nonce_source.as_deref(), &raw.nonce_source, false);
    assert_eq!(raw.candidates, m.candidates, "{name}: candidates");
    assert_eq!(raw.event_log_count, m.event_log, "{name}: event_log_count");
    if let Some(n) = m.event_log {
        assert_eq!(raw.event_log.len(), n, "{name}: event log entries");
    }
}

fn factor<'a>(reference: &'a ReferenceReport, name: &str) -> &'a proto_core::report::ReferenceFactor {
    reference.factors.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no {name} line"))
}

#[test]
fn every_capture_parses_into_the_record_its_report_describes() {
    let captures = replayable_captures();
    let mut seen = Vec::new();
    for dir in &captures {
        let name = dir.file_name().and_then(|n| n.to_str()).expect("dir name").to_owned();
        let manifest = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest");
        let provider = manifest_string(&manifest, "provider");
        let model = manifest_string(&manifest, "model");
        let nonce = manifest_string(&manifest, "nonce_hex");
        let report_text = std::fs::read_to_string(dir.join("report.txt")).expect("report.txt");
        let reference = ReferenceReport::parse(&report_text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (path, body) = response(dir, "0001_");

        let raw = match provider.as_str() {
            "venice" => parse_venice(&body),
            "neardirect" => parse_near_model(&body, &model),
            "nearcloud" => parse_nearcloud(&body, &model),
            "nanogpt" => parse_nanogpt(&body),
            "phalacloud" => parse_phalacloud(&body),
            "chutes" => {
                let file = path.file_name().and_then(|n| n.to_str()).expect("file name");
                let chute = file.split("instances_").nth(1).and_then(|r| r.strip_suffix(".body")).expect("chute id");
                let (_, evidence) = response(dir, "0002_");
                let raw = parse_chutes(&body, &evidence, &nonce, chute);
                if let Ok(raw) = &raw {
                    assert_eq!(raw.chute_id, chute, "{name}");
                }
                raw
            }
            other => panic!("{name}: unexpected provider {other}"),
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        seen.push(provider.clone());

        // Nonce: echoed (or, for Chutes, carried) — except Phala's server-chosen one.
        if provider == "phalacloud" {
            assert_ne!(raw.nonce, nonce, "{name}: Phala binds a server nonce");
            assert_eq!(raw.nonce_source, "server");
            let mismatch = &factor(&reference, "nonce_match").detail;
            assert!(mismatch.contains(&format!("got \"{}...\"", &raw.nonce[..16])), "{name}: {mismatch}");
        } else {
            assert_eq!(raw.nonce, nonce, "{name}: nonce");
            assert_eq!(factor(&reference, "nonce_match").status, Status::Pass);
        }

        // Quote: hex, a TDX v4/v5 header, as long as the reference counted.
        assert!(is_hex(&raw.intel_quote), "{name}: quote is not hex");
        assert!(
            raw.intel_quote.starts_with("04000200") || raw.intel_quote.starts_with("05000200"),
            "{name}: quote header {}",
            &raw.intel_quote[..8]
        );
        assert_eq!(raw.intel_quote, raw.intel_quote.to_ascii_lowercase(), "{name}: quote hex is lower-case");
        let present = &factor(&reference, "tdx_quote_present").detail;
        assert_eq!(Some(raw.intel_quote.len()), number_after(present, "present ("), "{name}: {present}");

        // Signing key: the first ten characters the reference printed, and the length per type.
        let key_line = &factor(&reference, "signing_key_present").detail;
        assert!(key_line.contains(&format!("({}...)", &raw.signing_key[..10])), "{name}: {key_line}");
        match raw.format {
            BackendFormat::Dstack => {
                assert_eq!(raw.signing_key.len(), 130, "{name}: secp256k1 key");
                assert!(raw.signing_key.starts_with("04") && is_hex(&raw.signing_key));
                assert!(raw.nvidia_payload.starts_with('{'), "{name}: EAT payload");
                assert!(raw.gpu_evidence.is_empty());
            }
            BackendFormat::Near => {
                assert_eq!(raw.signing_key.len(), 64, "{name}: ed25519 key");
                assert!(is_hex(&raw.signing_key));
                assert_eq!(raw.signing_algo, "ed25519");
                assert_eq!(raw.signing_address, raw.signing_key, "{name}: ed25519 address is the key");
                assert_eq!(raw.tls_fingerprint.len(), 64, "{name}: TLS fingerprint");
                assert!(raw.nvidia_payload.starts_with('{'), "{name}: EAT payload");
            }
            BackendFormat::Chutes => {
                assert_eq!(raw.signing_key.len(), 1580, "{name}: ML-KEM-768 key (base64)");
                assert_eq!(raw.signing_algo, "ml-kem-768");
                assert_eq!(raw.gpu_evidence.len(), 8, "{name}: GPU evidence");
                assert!(raw.gpu_evidence.iter().all(|g| g.arch == "HOPPER" && !g.evidence.is_empty()));
                assert!(raw.nvidia_payload.is_empty());
            }
        }

        // Compose: every dstack/NEAR record carries its manifest.
        if raw.format != BackendFormat::Chutes {
            assert!(raw.app_compose.starts_with('{'), "{name}: app_compose");
            assert!(!raw.event_log.is_empty(), "{name}: event log");
            assert!(raw.event_log.iter().all(|e| e.imr <= 3), "{name}: imr range");
        }

        // Gateway: nearcloud only, with its own quote, nonce and 29-entry event log.
        if provider == "nearcloud" {
            let gw = raw.gateway.as_ref().unwrap_or_else(|| panic!("{name}: no gateway"));
            assert!(gw.intel_quote.starts_with("04000200") && is_hex(&gw.intel_quote), "{name}: gateway quote");
            assert_eq!(gw.nonce, nonce, "{name}: gateway nonce");
            assert_eq!(gw.tls_fingerprint.len(), 64);
            assert_eq!(gw.signing_address.len(), 64);
            assert!(gw.app_compose.starts_with('{'), "{name}: gateway compose");
            let replayed = &factor(&reference, "gateway_event_log_integrity").detail;
            assert_eq!(Some(gw.event_log.len()), number_after(replayed, "replayed ("), "{name}: {replayed}");
        } else {
            assert!(raw.gateway.is_none(), "{name}: gateway only for nearcloud");
        }

        // Event log size against the integrity line, where the reference printed one.
        let integrity = reference.factors.iter().find(|f| f.name == "event_log_integrity");
        if let Some(n) = integrity.and_then(|line| number_after(&line.detail, "replayed (")) {
            assert_eq!(raw.event_log.len(), n, "{name}: event_log_integrity count");
        }

        // Per-provider facts.
        match provider.as_str() {
            "venice" => {
                assert_eq!(raw.signing_address, "0x6525e128afcffebf7eed05d485d7be983cdae934");
                assert_eq!(raw.signing_algo, "ecdsa");
                assert_eq!(raw.unknown_fields, ["compose_manager_attestation", "ohttp_key_config"]);
            }
            "neardirect" => {
                assert_eq!(raw.format, BackendFormat::Near);
                assert!(raw.signing_key.starts_with("d0aa20bc"));
                assert!(raw.unknown_fields.starts_with(&["compose_manager_attestation".to_owned()]), "{name}");
                assert!(raw.unknown_fields.contains(&"ohttp_key_config".to_owned()));
            }
            "nearcloud" => {
                assert_eq!(raw.format, BackendFormat::Near);
                assert_eq!(raw.unknown_fields, ["tls_certificate"]);
            }
            "nanogpt" => {
                assert_eq!(raw.format, BackendFormat::Dstack);
                assert_eq!(raw.signing_address, "0xa6df16ebBc510D97A32b99B4DFD33793acC90e2b");
                assert!(raw.signing_key.starts_with("04197832"), "{name}: normalised key");
                assert!(raw.unknown_fields.is_empty(), "{name}: {:?}", raw.unknown_fields);
            }
            "phalacloud" => {
                assert_eq!(raw.format, BackendFormat::Chutes);
                assert!(raw.instance_id.is_empty() && raw.e2e_nonce.is_empty() && raw.chute_id.is_empty());
                assert!(raw.unknown_fields.is_empty());
            }
            "chutes" => {
                assert_eq!(raw.nonce_source, "client");
                let (instance, first_nonce) = if name.contains("20260520") {
                    ("9034c7a4-1d18-4628-8ccf-2ce3fd289768", "xJVImAnDNWGQgdtHSR1Yv-sfb-OOz1OI")
                } else {
                    ("6ca332eb-c329-4ee1-9d92-ee9699d6896b", "h6prVRoFk4DI67zhpeQaH9VSCwSXSmI-")
                };
                assert_eq!(raw.instance_id, instance, "{name}: selected in evidence order");
                assert_eq!(raw.e2e_nonce, first_nonce, "{name}");
                assert!(raw.unknown_fields.is_empty());
            }
            _ => unreachable!(),
        }

        assert_header_matches(&name, &raw, &reference);
        eprintln!(
            "{name}: {} nonce {}… quote {} hex, key {} chars, {} events, {} GPUs, gateway {}, candidates {:?}, unknown {:?}",
            raw.format.name(),
            raw.nonce.get(..16).unwrap_or(&raw.nonce),
            raw.intel_quote.len(),
            raw.signing_key.len(),
            raw.event_log.len(),
            raw.gpu_evidence.len(),
            raw.gateway.as_ref().map_or("none".to_owned(), |g| format!("{} events", g.event_log.len())),
            raw.candidates,
            raw.unknown_fields,
        );
    }
    if !captures.is_empty() {
        assert_eq!(seen.len(), 9, "expected the nine replayable captures");
        seen.sort();
        seen.dedup();
        assert_eq!(seen, ["chutes", "nanogpt", "nearcloud", "neardirect", "phalacloud", "venice"]);
    }
}

#[test]
fn nanogpt_march_responses_by_format() {
    let Some(dir) = captures_dir().map(|d| d.join("nanogpt_20260325_225022")) else { return };
    if !dir.is_dir() {
        eprintln!("\n*** SKIPPED: {} is absent. ***\n", dir.display());
        return;
    }
    let mut counts = [0usize; 4];
    for entry in std::fs::read_dir(&dir).expect("read dir") {
        let path = entry.expect("entry").path();
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned();
        let Some(model) = file.strip_suffix("_attestation.json") else { continue };
        let body = std::fs::read(&path).expect("body");
        let client_nonce = std::fs::read_to_string(dir.join(format!("{model}_nonce.txt"))).expect("nonce");
        let client_nonce = client_nonce.trim();
        let parsed = parse_nanogpt(&body);
        match detect_format(&body) {
            Some(AttestationFormat::Dstack) => {
                counts[0] += 1;
                let raw = parsed.unwrap_or_else(|e| panic!("{model}: {e}"));
                assert_eq!(raw.format, BackendFormat::Dstack);
                // The March backends bound a server nonce; the client's is echoed only in an
                // unknown top-level member.
                assert_ne!(raw.nonce, client_nonce, "{model}");
                assert_eq!(raw.unknown_fields, ["nonce"], "{model}");
                assert_eq!(raw.signing_key.len(), 130, "{model}");
                assert!(raw.event_log.len() >= 29, "{model}: {}", raw.event_log.len());
                assert!(raw.intel_quote.starts_with("04000200"));
            }
            Some(AttestationFormat::Chutes) => {
                counts[1] += 1;
                let raw = parsed.unwrap_or_else(|e| panic!("{model}: {e}"));
                assert_eq!(raw.format, BackendFormat::Chutes);
                assert_eq!(raw.nonce, client_nonce, "{model}: top-level nonce echoes the client's");
                assert_eq!(raw.nonce_source, "server");
                assert_eq!(raw.candidates, Some((1, 5)));
                assert_eq!(raw.signing_key.len(), 1580);
                assert!(raw.intel_quote.starts_with("04000200"));
            }
            Some(AttestationFormat::Gateway) => {
                counts[2] += 1;
                let e = parsed.expect_err("gateway is unsupported");
                assert_eq!(e.to_string(), "nanogpt: unsupported attestation format \"gateway\" (from the gateway_attestation field)");
            }
            Some(AttestationFormat::Tinfoil) => {
                counts[3] += 1;
                let e = parsed.expect_err("tinfoil is unsupported");
                assert_eq!(e.to_string(), "nanogpt: unsupported attestation format \"tinfoil\" (from the format field)");
            }
            None => panic!("{model}: no format detected"),
        }
    }
    assert_eq!(counts, [6, 2, 3, 1], "dstack, chutes, gateway, tinfoil");
}

#[test]
fn a_capture_body_under_the_wrong_parser_fails_cleanly() {
    for dir in &replayable_captures() {
        let (_, body) = response(dir, "0001_");
        // Nothing panics; whatever fails names its provider.
        for result in [
            parse_venice(&body),
            parse_nanogpt(&body),
            parse_phalacloud(&body),
            parse_near_model(&body, "no/such-model"),
            parse_nearcloud(&body, "no/such-model"),
            parse_chutes(&body, &body, "00", "x"),
        ] {
            if let Err(e) = result {
                assert!(!e.reason.is_empty());
            }
        }
    }
}
