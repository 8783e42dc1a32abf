//! Capture loading, saving and replay against the recorded sessions in `../shared/captures`
//! (skipped loudly when absent), plus malformed-input tests built in temporary directories.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use proto_core::capture::{Capture, CaptureError, MAX_FILE_BYTES};
use proto_core::fetch::{FetchError, FetchId, FetchMethod, FetchRequest};
use proto_core::provider::ProviderKind;
use proto_core::replay::ReplaySource;
use runtime_blocking::capture_fs::{LoadError, load_capture, load_report, save_capture, save_report};
use teep_tests::captures::{captures_dir, replayable_captures};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("teep-capture-replay-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

fn load(dir: &Path) -> Capture {
    load_capture(dir).unwrap_or_else(|e| panic!("{e}"))
}

/// Directory, provider, model, captured_at, exchange count, duration_ms.
type Known = (&'static str, &'static str, &'static str, &'static str, usize, Option<u64>);

/// Facts from the specification's capture table (§7), keyed by directory name.
const KNOWN: &[Known] = &[
    (
        "venice_e2ee-qwen3-5-122b-a10b_20260424_015841",
        "venice",
        "e2ee-qwen3-5-122b-a10b",
        "2026-04-24T01:58:41.564682Z",
        15,
        None,
    ),
    (
        "nearcloud_qwen_qwen3.5-122b-a10b_20260424_020614",
        "nearcloud",
        "Qwen/Qwen3.5-122B-A10B",
        "2026-04-24T02:06:14.939367Z",
        41,
        None,
    ),
    (
        "neardirect_qwen_qwen3.5-122b-a10b_20260424_021037",
        "neardirect",
        "Qwen/Qwen3.5-122B-A10B",
        "2026-04-24T02:10:37.277071Z",
        15,
        None,
    ),
    (
        "chutes_zai-org_glm-5-tee_20260520_021819",
        "chutes",
        "zai-org/GLM-5-TEE",
        "2026-05-20T02:18:19.07796Z",
        9,
        Some(31170),
    ),
    (
        "nearcloud_qwen_qwen3.5-122b-a10b_20260610_014855",
        "nearcloud",
        "Qwen/Qwen3.5-122B-A10B",
        "2026-06-10T01:48:55.428554Z",
        40,
        Some(111711),
    ),
    (
        "nanogpt_tee_gemma-3-27b-it_20260610_014905",
        "nanogpt",
        "TEE/gemma-3-27b-it",
        "2026-06-10T01:49:05.321529Z",
        13,
        Some(11126),
    ),
    (
        "phalacloud_phala_deepseek-v3.2_20260610_014917",
        "phalacloud",
        "phala/deepseek-v3.2",
        "2026-06-10T01:49:17.310603Z",
        8,
        Some(11130),
    ),
    (
        "chutes_zai-org_glm-5-tee_20260610_015029",
        "chutes",
        "zai-org/GLM-5-TEE",
        "2026-06-10T01:50:29.299448Z",
        9,
        Some(9973),
    ),
    (
        "neardirect_qwen_qwen3.5-122b-a10b_20260610_015359",
        "neardirect",
        "Qwen/Qwen3.5-122B-A10B",
        "2026-06-10T01:53:59.860945Z",
        18,
        Some(7955),
    ),
];

#[test]
fn every_capture_loads_with_its_manifest() {
    let dirs = replayable_captures();
    for dir in &dirs {
        let capture = load(dir);
        let m = &capture.manifest;
        let dir_name = name(dir);
        assert!(capture.warnings.is_empty(), "{dir_name}: {:?}", capture.warnings);
        assert_eq!(m.dir_name(), dir_name);
        let kind: ProviderKind = m.provider.parse().unwrap_or_else(|e| panic!("{dir_name}: {e}"));
        assert_eq!(m.e2ee.is_some(), kind.e2ee_by_default(), "{dir_name}: e2ee object presence");
        assert!(m.error.is_none(), "{dir_name}");
        assert!(!capture.exchanges.is_empty(), "{dir_name}");
        let manifest_text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        assert!(manifest_text.contains(&format!("\"nonce_hex\": \"{}\"", m.nonce_hex())), "{dir_name}");
        assert!(manifest_text.contains(&format!("\"captured_at\": \"{}\"", m.captured_at_rfc3339())), "{dir_name}");
        // The attestation request carries the client nonce.
        let nonce_hex = m.nonce_hex();
        assert!(
            capture.exchanges.iter().any(|e| e.meta.url.contains(&nonce_hex)),
            "{dir_name}: no URL carries the nonce"
        );
        // Verification time: captured_at + duration_ms.
        let captured_ns = m.captured_at.unix_timestamp_nanos();
        let verified_ns = m.verification_datetime().unix_timestamp_nanos();
        assert_eq!(verified_ns - captured_ns, i128::from(m.duration_ms.unwrap_or(0)) * 1_000_000, "{dir_name}");
        assert_eq!(i128::from(m.verification_time().as_secs()), verified_ns.div_euclid(1_000_000_000), "{dir_name}");
        // Stems and headers as on disk.
        for e in &capture.exchanges {
            assert!(dir.join("responses").join(format!("{}.body", e.file_stem)).is_file());
            assert!(!e.meta.headers.is_empty(), "{dir_name}/{}", e.file_stem);
            assert!(e.meta.status < 500, "{dir_name}/{}: 5xx is never recorded", e.file_stem);
            if let Some(length) = e.meta.header("content-length") {
                assert_eq!(length.parse::<usize>().unwrap(), e.body.len(), "{dir_name}/{}", e.file_stem);
            }
        }
        if let Some(&(_, provider, model, captured_at, count, duration)) = KNOWN.iter().find(|k| k.0 == dir_name) {
            assert_eq!((m.provider.as_str(), m.model.as_str()), (provider, model), "{dir_name}");
            assert_eq!(m.captured_at_rfc3339(), captured_at, "{dir_name}");
            assert_eq!(capture.exchanges.len(), count, "{dir_name}");
            assert_eq!(m.duration_ms, duration, "{dir_name}");
        }
        assert!(load_report(dir).unwrap().starts_with("Attestation Report: "), "{dir_name}");
    }
    if !dirs.is_empty() {
        let names: Vec<String> = dirs.iter().map(|d| name(d)).collect();
        for known in KNOWN {
            assert!(names.iter().any(|n| n == known.0), "shared capture {} is missing", known.0);
        }
    }
}

#[test]
fn chutes_outcomes_are_read_as_recorded() {
    for dir in replayable_captures() {
        let m = load(&dir).manifest;
        match name(&dir).as_str() {
            "chutes_zai-org_glm-5-tee_20260610_015029" => {
                let e2ee = m.e2ee.clone().unwrap();
                assert!(e2ee.attempted && e2ee.failed);
                assert!(e2ee.error.contains("Client.Timeout exceeded"), "{}", e2ee.error);
                assert_eq!(e2ee.key_type, "ml-kem-768");
                assert_eq!(m.verified_at_rfc3339(), "2026-06-10T01:50:39.272448Z");
            }
            "venice_e2ee-qwen3-5-122b-a10b_20260424_015841" => {
                let e2ee = m.e2ee.clone().unwrap();
                assert!(e2ee.attempted && !e2ee.failed && !e2ee.no_api_key);
                assert_eq!(e2ee.key_type, "ecdsa");
                assert_eq!(m.verified_at_rfc3339(), "2026-04-24T01:58:41.564682Z", "no duration: T = captured_at");
            }
            _ => {}
        }
    }
}

fn request_for(meta: &proto_core::capture::ExchangeMeta) -> FetchRequest {
    let method = match meta.method.as_str() {
        "GET" => FetchMethod::Get,
        "POST" => FetchMethod::Post,
        other => panic!("unexpected recorded method {other}"),
    };
    FetchRequest {
        id: FetchId(0),
        method,
        url: meta.url.clone(),
        headers: Vec::new(),
        body: meta.req_body_bytes().to_vec(),
        max_body: MAX_FILE_BYTES,
    }
}

#[test]
fn replaying_each_recorded_request_returns_its_response() {
    for dir in replayable_captures() {
        let dir_name = name(&dir);
        let source = ReplaySource::new(load(&dir));
        let (mut own, mut earlier) = (0, 0);
        for (i, exchange) in source.entries().iter().enumerate() {
            let req = request_for(&exchange.meta);
            let j = source
                .match_index(&req)
                .unwrap()
                .unwrap_or_else(|| panic!("{dir_name}/{}: no match", exchange.file_stem));
            assert!(j <= i, "{dir_name}/{}: answered by a later entry {j}", exchange.file_stem);
            let answering = &source.entries()[j];
            if j < i {
                // First match wins: the earlier entry recorded the same request.
                earlier += 1;
                assert_eq!(answering.meta.method, exchange.meta.method);
                if req.method == FetchMethod::Post {
                    assert_eq!(
                        answering.meta.req_body_bytes(),
                        exchange.meta.req_body_bytes(),
                        "{dir_name}/{}",
                        exchange.file_stem
                    );
                } else {
                    assert_eq!(answering.meta.url, exchange.meta.url, "{dir_name}/{}", exchange.file_stem);
                }
            } else {
                own += 1;
            }
            let response = source.answer(&req).unwrap();
            assert_eq!(response, answering.fetch_response(), "{dir_name}/{}", exchange.file_stem);
            assert_eq!(response.status, answering.meta.status);
            assert_eq!(response.body, answering.body);
            assert_eq!(response.peer_spki, None, "no shared capture records a peer SPKI");
            let header_count: usize = answering.meta.headers.iter().map(|(_, v)| v.len()).sum();
            assert_eq!(response.headers.len(), header_count);
        }
        assert!(own > 0, "{dir_name}");
        eprintln!("{dir_name}: {own} answered by their own entry, {earlier} by an earlier identical one");

        // A request the capture never saw gets the typed no-match error.
        let first = &source.entries()[0];
        let mut wrong_nonce = request_for(&first.meta);
        let nonce_hex = source.manifest().nonce_hex();
        if wrong_nonce.url.contains(&nonce_hex) {
            wrong_nonce.url = wrong_nonce.url.replace(&nonce_hex, &"0".repeat(64));
            let err = source.answer(&wrong_nonce).unwrap_err();
            assert_eq!(
                err,
                FetchError::NoReplayMatch { method: wrong_nonce.method.as_str(), url: wrong_nonce.url.clone() }
            );
        }
        let unknown = FetchRequest { url: "https://example.invalid/nothing".into(), ..request_for(&first.meta) };
        assert!(matches!(source.answer(&unknown), Err(FetchError::NoReplayMatch { .. })));
    }
}

#[test]
fn recovers_unrecorded_lookups_from_real_captures() {
    for dir in replayable_captures() {
        let source = ReplaySource::new(load(&dir));
        match source.manifest().provider.as_str() {
            "neardirect" => {
                assert_eq!(source.first_host().as_deref(), Some("https://qwen35-122b.completions.near.ai"));
            }
            "chutes" => {
                assert_eq!(source.chute_uuid().as_deref(), Some("e51e818e-fa63-570d-9f68-49d7d1b4d12f"));
            }
            _ => assert_eq!(source.chute_uuid(), None),
        }
    }
}

#[test]
fn write_then_read_gives_the_same_capture_and_the_same_bytes() {
    for dir in replayable_captures() {
        let dir_name = name(&dir);
        let capture = load(&dir);
        let tmp = TempDir::new("roundtrip");
        let out = tmp.0.join(capture.manifest.dir_name());
        save_capture(&out, &capture).unwrap_or_else(|e| panic!("{e}"));
        let back = load(&out);
        assert_eq!(back, capture, "{dir_name}: round trip");
        // The writer reproduces the reference files byte for byte, names included.
        let mut original: Vec<String> = std::fs::read_dir(dir.join("responses"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let mut written: Vec<String> = std::fs::read_dir(out.join("responses"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        original.sort();
        written.sort();
        assert_eq!(written, original, "{dir_name}: file names");
        for file in std::iter::once("manifest.json".to_owned()).chain(original.iter().map(|f| format!("responses/{f}")))
        {
            let a = std::fs::read(dir.join(&file)).unwrap();
            let b = std::fs::read(out.join(&file)).unwrap();
            assert!(a == b, "{dir_name}/{file}: written bytes differ from the reference file");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&out.join("responses")) & !0o750, 0, "directories at most 0750");
            assert_eq!(mode(&out.join("manifest.json")) & !0o600, 0, "files at most 0600");
        }
        // Never overwrites an existing capture.
        let err = save_capture(&out, &capture).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("manifest.json") && !err.to_string().contains('\n'), "{err}");
    }
}

// ---- malformed inputs -------------------------------------------------------------------------

const NONCE: &str = "3339ed515124334c8c85e73f5101de92da4112b23ecec719a72d767a278d3440";

fn manifest_text(nonce: &str) -> String {
    format!(
        "{{\n  \"provider\": \"chutes\",\n  \"model\": \"zai-org/GLM-5-TEE\",\n  \"nonce_hex\": \"{nonce}\",\n  \"captured_at\": \"2026-06-10T01:50:29.299448Z\",\n  \"duration_ms\": 9973\n}}"
    )
}

const STEM: &str = "0001_api.chutes.ai_e2e_instances_e51e818e-fa63-570d-9f68-49d7d1b4d12f";

fn exchange_text(req_body_base64: &str) -> String {
    format!(
        "{{\n  \"method\": \"GET\",\n  \"url\": \"https://api.chutes.ai/e2e/instances/e51e818e-fa63-570d-9f68-49d7d1b4d12f\",\n  \"status\": 200,\n  \"headers\": {{}},\n  \"req_body_base64\": \"{req_body_base64}\"\n}}"
    )
}

/// A small valid capture directory, to be broken by each test.
fn good_capture(label: &str) -> TempDir {
    let tmp = TempDir::new(label);
    std::fs::create_dir(tmp.0.join("responses")).unwrap();
    std::fs::write(tmp.0.join("manifest.json"), manifest_text(NONCE)).unwrap();
    std::fs::write(tmp.0.join(format!("responses/{STEM}.json")), exchange_text("e30=")).unwrap();
    std::fs::write(tmp.0.join(format!("responses/{STEM}.body")), b"{}").unwrap();
    load(&tmp.0);
    tmp
}

/// Loads `dir`, expecting a one-line error that contains every piece of `expected`.
fn load_error(dir: &Path, expected: &[&str]) -> LoadError {
    let err = load_capture(dir).expect_err("loading must fail");
    let text = err.to_string();
    assert!(!text.contains('\n'), "one line: {text:?}");
    assert!(text.starts_with(&dir.display().to_string()), "names the directory: {text}");
    for piece in expected {
        assert!(text.contains(piece), "{text:?} lacks {piece:?}");
    }
    err
}

#[test]
fn missing_body_is_an_error_naming_the_file() {
    let tmp = good_capture("nobody");
    std::fs::remove_file(tmp.0.join(format!("responses/{STEM}.body"))).unwrap();
    let err = load_error(&tmp.0, &[&format!("responses/{STEM}.body: missing")]);
    assert!(matches!(err, LoadError::Capture { source: CaptureError::MissingBody { .. }, .. }));
}

#[test]
fn truncated_manifest_is_an_error_naming_the_file() {
    let tmp = good_capture("truncated");
    let text = manifest_text(NONCE);
    std::fs::write(tmp.0.join("manifest.json"), &text[..text.len() / 2]).unwrap();
    let err = load_error(&tmp.0, &["manifest.json: malformed JSON: EOF while parsing"]);
    assert!(matches!(err, LoadError::Capture { source: CaptureError::Json { .. }, .. }));
}

#[test]
fn nonce_of_the_wrong_length_is_an_error_naming_the_field() {
    let tmp = good_capture("nonce");
    std::fs::write(tmp.0.join("manifest.json"), manifest_text("3339ed5151")).unwrap();
    load_error(&tmp.0, &["manifest.json: nonce_hex: expected 64 hex characters, got 10"]);
    std::fs::write(tmp.0.join("manifest.json"), manifest_text(&format!("{NONCE}00"))).unwrap();
    load_error(&tmp.0, &["manifest.json: nonce_hex: expected 64 hex characters, got 66"]);
}

#[test]
fn bad_base64_is_an_error_naming_file_and_field() {
    let tmp = good_capture("base64");
    std::fs::write(tmp.0.join(format!("responses/{STEM}.json")), exchange_text("e30")).unwrap();
    load_error(&tmp.0, &[&format!("responses/{STEM}.json: req_body_base64: invalid base64")]);
}

#[test]
fn a_file_over_the_cap_is_refused_without_reading_it() {
    let tmp = good_capture("cap");
    let body = tmp.0.join(format!("responses/{STEM}.body"));
    // Sparse: the size check must come from metadata, not from reading 10 MiB.
    std::fs::OpenOptions::new().write(true).open(&body).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
    let err = load_capture(&tmp.0).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LoadError::TooLarge { size, .. } if size == MAX_FILE_BYTES + 1));
    assert!(
        text.starts_with(&body.display().to_string())
            && text.ends_with("file exceeds 10485760-byte limit (10485761 bytes)"),
        "{text}"
    );
    // Exactly at the cap is fine.
    std::fs::OpenOptions::new().write(true).open(&body).unwrap().set_len(MAX_FILE_BYTES).unwrap();
    assert_eq!(load(&tmp.0).exchanges[0].body.len() as u64, MAX_FILE_BYTES);
    // The manifest is capped too.
    std::fs::OpenOptions::new()
        .write(true)
        .open(tmp.0.join("manifest.json"))
        .unwrap()
        .set_len(MAX_FILE_BYTES + 1)
        .unwrap();
    assert!(load_capture(&tmp.0).unwrap_err().to_string().contains("manifest.json: file exceeds 10485760-byte limit"));
}

#[test]
fn other_layout_problems_are_one_line_errors() {
    let tmp = good_capture("layout");
    std::fs::write(tmp.0.join("responses/stray.json"), exchange_text("")).unwrap();
    std::fs::write(tmp.0.join("responses/stray.body"), b"").unwrap();
    load_error(&tmp.0, &["responses/stray.json: file name must look like NNNN_<host>.json"]);
    std::fs::remove_file(tmp.0.join("responses/stray.json")).unwrap();
    load(&tmp.0);
    std::fs::remove_file(tmp.0.join("manifest.json")).unwrap();
    let err = load_capture(&tmp.0).unwrap_err();
    assert!(matches!(&err, LoadError::Io { path, .. } if path.ends_with("manifest.json")), "{err}");
    assert!(!err.to_string().contains('\n'));
    assert!(load_capture(&tmp.0.join("absent")).unwrap_err().to_string().contains("absent"));
}

#[test]
fn legacy_nanogpt_directory_is_recognised() {
    let synthetic = TempDir::new("legacy");
    for file in ["glm-5_attestation.json", "glm-5_headers.json", "glm-5_nonce.txt", "models.json"] {
        std::fs::write(synthetic.0.join(file), b"{}").unwrap();
    }
    let mut dirs = vec![synthetic.0.clone()];
    if let Some(shared) = captures_dir() {
        let real = shared.join("nanogpt_20260325_225022");
        if real.is_dir() {
            dirs.push(real);
        }
    }
    for dir in dirs {
        let err = load_error(&dir, &["legacy nanogpt sample directory (no manifest.json): not a replayable capture"]);
        assert!(matches!(err, LoadError::Capture { source: CaptureError::LegacyNanogptLayout, .. }));
    }
}

#[test]
fn report_is_saved_beside_the_capture_and_read_back() {
    let tmp = good_capture("report");
    save_report(&tmp.0, "Attestation Report: x\n").unwrap();
    assert_eq!(load_report(&tmp.0).unwrap(), "Attestation Report: x\n");
    assert_eq!(save_report(&tmp.0, "again").unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    let fresh = TempDir::new("noreport");
    let err = load_report(&fresh.0).unwrap_err().to_string();
    assert!(err.contains("report.txt") && !err.contains('\n'), "{err}");
}
