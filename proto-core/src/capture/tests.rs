//! Unit tests for the capture format: parsing, errors, writing, naming, time.

use super::*;

const NONCE: &str = "ac82eb750ec4cfbb273f90d33567776bfae8657e2a43f6dff2f3adad9b86095a";

fn manifest_json(extra: &str) -> Vec<u8> {
    format!(
        "{{\n  \"provider\": \"venice\",\n  \"model\": \"e2ee-qwen3-5-122b-a10b\",\n  \"nonce_hex\": \"{NONCE}\",\n  \"captured_at\": \"2026-04-24T01:58:41.564682Z\"{extra}\n}}"
    )
    .into_bytes()
}

fn exchange_json(extra: &str) -> Vec<u8> {
    format!(
        "{{\n  \"method\": \"POST\",\n  \"url\": \"https://rekor.sigstore.dev/api/v1/index/retrieve\",\n  \"status\": 200,\n  \"headers\": {{\n    \"Content-Type\": [\n      \"application/json\"\n    ]\n  }},\n  \"req_body_base64\": \"eyJoYXNoIjoic2hhMjU2OmFiIn0=\"{extra}\n}}"
    )
    .into_bytes()
}

fn files(stem: &str, json: Vec<u8>, body: Option<&[u8]>) -> ExchangeFiles {
    ExchangeFiles { stem: stem.into(), json, body: body.map(<[u8]>::to_vec) }
}

fn err_text(manifest: &[u8], exchanges: Vec<ExchangeFiles>) -> String {
    let err = Capture::from_files(manifest, exchanges).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains('\n'), "error must be one line: {text:?}");
    text
}

#[test]
fn parses_a_minimal_capture() {
    let stem = "0001_rekor.sigstore.dev_api_v1_index_retrieve";
    let capture = Capture::from_files(&manifest_json(""), vec![files(stem, exchange_json(""), Some(b"[]"))]).unwrap();
    let m = &capture.manifest;
    assert_eq!((m.provider.as_str(), m.model.as_str()), ("venice", "e2ee-qwen3-5-122b-a10b"));
    assert_eq!(m.nonce_hex(), NONCE);
    assert_eq!(m.nonce()[0], 0xac);
    assert_eq!(m.captured_at.unix_timestamp(), 1_776_995_921);
    assert_eq!(m.captured_at.nanosecond(), 564_682_000);
    assert_eq!((m.duration_ms, &m.e2ee, &m.error), (None, &None, &None));
    assert_eq!(m.provider_kind(), Ok(ProviderKind::Venice));
    let e = &capture.exchanges[0];
    assert_eq!(e.file_stem, stem);
    assert_eq!((e.meta.method.as_str(), e.meta.status), ("POST", 200));
    assert_eq!(e.meta.req_body.as_deref(), Some(&b"{\"hash\":\"sha256:ab\"}"[..]));
    assert_eq!(e.meta.header("content-type"), Some("application/json"));
    assert_eq!(e.body, b"[]");
    assert!(capture.warnings.is_empty());
}

#[test]
fn sorts_exchanges_by_file_name() {
    let capture = Capture::from_files(
        &manifest_json(""),
        vec![
            files("0002_b", exchange_json(""), Some(b"2")),
            files("0001_a-b", exchange_json(""), Some(b"1b")),
            files("0001_a", exchange_json(""), Some(b"1")),
        ],
    )
    .unwrap();
    let stems: Vec<_> = capture.exchanges.iter().map(|e| e.file_stem.as_str()).collect();
    // By full file name: "0001_a-b.json" < "0001_a.json" ('-' sorts before '.').
    assert_eq!(stems, ["0001_a-b", "0001_a", "0002_b"]);
}

#[test]
fn reads_every_optional_field() {
    let manifest = manifest_json(
        ",\n  \"duration_ms\": 1500,\n  \"e2ee\": {\"attempted\": true, \"no_api_key\": true, \"api_key_env\": \"K\", \"failed\": true, \"error\": \"boom\", \"detail\": \"d\", \"key_type\": \"ecdsa\"},\n  \"error\": \"run failed\"",
    );
    let exchange = exchange_json(
        ",\n  \"proto\": \"HTTP/2.0\", \"tls_version\": \"TLS 1.3\", \"tls_cipher\": \"TLS_AES_128_GCM_SHA256\", \"peer_spki_der_base64\": \"MAMCAQE=\", \"duration_ms\": 7",
    );
    let capture = Capture::from_files(&manifest, vec![files("0001_x", exchange, Some(b""))]).unwrap();
    let m = &capture.manifest;
    assert_eq!(m.duration_ms, Some(1500));
    assert_eq!(
        m.e2ee,
        Some(E2eeOutcome {
            attempted: true,
            no_api_key: true,
            api_key_env: "K".into(),
            failed: true,
            error: "boom".into(),
            detail: "d".into(),
            key_type: "ecdsa".into()
        })
    );
    assert_eq!(m.error.as_deref(), Some("run failed"));
    let meta = &capture.exchanges[0].meta;
    assert_eq!(meta.proto.as_deref(), Some("HTTP/2.0"));
    assert_eq!(meta.tls_version.as_deref(), Some("TLS 1.3"));
    assert_eq!(meta.tls_cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(meta.peer_spki_der.as_deref(), Some(&[0x30, 3, 2, 1, 1][..]));
    assert_eq!(meta.peer_spki(), Some(SpkiHash(Sha256::digest([0x30, 3, 2, 1, 1]).into())));
    assert_eq!(meta.duration_ms, Some(7));
    assert!(capture.warnings.is_empty(), "{:?}", capture.warnings);
}

#[test]
fn unknown_fields_and_negative_durations_are_warnings() {
    let manifest = manifest_json(
        ",\n  \"future\": 1,\n  \"duration_ms\": -4,\n  \"e2ee\": {\"attempted\": false, \"type\": \"x\"}",
    );
    let exchange = exchange_json(",\n  \"extra\": [1], \"duration_ms\": null");
    let capture = Capture::from_files(&manifest, vec![files("0001_x", exchange, Some(b""))]).unwrap();
    assert_eq!(capture.manifest.duration_ms, Some(0));
    assert_eq!(capture.exchanges[0].meta.duration_ms, None, "null counts as absent");
    assert_eq!(
        capture.warnings,
        [
            "manifest.json: duration_ms: negative value -4 read as 0",
            "manifest.json: unknown field e2ee.\"type\" ignored",
            "manifest.json: unknown field \"future\" ignored",
            "responses/0001_x.json: unknown field \"extra\" ignored",
        ]
    );
}

#[test]
fn manifest_errors_name_file_and_field() {
    let ok_exchange = || vec![files("0001_x", exchange_json(""), Some(b""))];
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (manifest_json("")[..40].to_vec(), "manifest.json: malformed JSON: EOF while parsing"),
        (b"[]".to_vec(), "manifest.json: malformed JSON: invalid type: sequence, expected a JSON object"),
        (b"{\"provider\": \"v\"}".to_vec(), "manifest.json: missing required field model"),
        (
            manifest_json("").replace_str(NONCE, "abcdef0123"),
            "manifest.json: nonce_hex: expected 64 hex characters, got 10",
        ),
        (
            manifest_json("").replace_str(NONCE, &"zz".repeat(32)),
            "manifest.json: nonce_hex: invalid hex: Invalid character 'z' at position 0",
        ),
        (
            manifest_json("").replace_str("2026-04-24T01:58:41.564682Z", "yesterday"),
            "manifest.json: captured_at: expected an RFC 3339 timestamp, got \"yesterday\"",
        ),
        (manifest_json("").replace_str("\"venice\"", "7"), "manifest.json: provider: expected a string, got a number"),
        (manifest_json(",\n  \"duration_ms\": \"5\""), "manifest.json: duration_ms: expected an integer, got a string"),
        (manifest_json(",\n  \"duration_ms\": 1.5"), "manifest.json: duration_ms: expected an integer, got 1.5"),
        (
            manifest_json(",\n  \"duration_ms\": 9223372036854775807"),
            "manifest.json: duration_ms: 9223372036854775807 ms after captured_at is past year 9999",
        ),
        (manifest_json(",\n  \"e2ee\": []"), "manifest.json: e2ee: expected an object, got an array"),
        (
            manifest_json(",\n  \"e2ee\": {\"attempted\": \"yes\"}"),
            "manifest.json: e2ee.attempted: expected a boolean, got a string",
        ),
        (manifest_json(",\n  \"model\": \"again\""), "manifest.json: malformed JSON: duplicate key \"model\""),
    ];
    for (bytes, expected) in cases {
        let text = err_text(&bytes, ok_exchange());
        assert!(text.starts_with(expected), "got {text:?}, expected {expected:?}");
    }
    let big = vec![b' '; MAX_FILE_BYTES as usize + 1];
    assert_eq!(err_text(&big, vec![]), "manifest.json: file exceeds 10485760-byte limit (10485761 bytes)");
}

#[test]
fn exchange_errors_name_file_and_field() {
    let m = manifest_json("");
    let cases: Vec<(ExchangeFiles, &str)> = vec![
        (
            files("0003_x", exchange_json(""), None),
            "responses/0003_x.body: missing (every responses/*.json needs its .body file)",
        ),
        (
            files("0003_x", exchange_json("")[..30].to_vec(), Some(b"")),
            "responses/0003_x.json: malformed JSON: EOF while parsing",
        ),
        (
            files("0003_x", exchange_json("").replace_str("\"method\": \"POST\",", ""), Some(b"")),
            "responses/0003_x.json: missing required field method",
        ),
        (
            files("0003_x", b"{\"method\":\"GET\",\"url\":\"u\",\"status\":200}".to_vec(), Some(b"")),
            "responses/0003_x.json: missing required field headers",
        ),
        (
            files("0003_x", b"{\"method\":\"GET\",\"url\":\"u\",\"headers\":{}}".to_vec(), Some(b"")),
            "responses/0003_x.json: missing required field status",
        ),
        (
            files("0003_x", exchange_json("").replace_str("200", "70000"), Some(b"")),
            "responses/0003_x.json: status: expected an integer from 0 to 65535",
        ),
        (
            files("0003_x", exchange_json("").replace_str("eyJoYXNoIjoic2hhMjU2OmFiIn0=", "not base64!"), Some(b"")),
            "responses/0003_x.json: req_body_base64: invalid base64",
        ),
        (
            files("0003_x", exchange_json(", \"peer_spki_der_base64\": \"MAMCAQE\""), Some(b"")),
            "responses/0003_x.json: peer_spki_der_base64: invalid base64",
        ),
        (
            files(
                "0003_x",
                exchange_json("").replace_str("[\n      \"application/json\"\n    ]", "\"text\""),
                Some(b""),
            ),
            "responses/0003_x.json: headers.Content-Type: expected an array of strings, got a string",
        ),
        (
            files("0003_x", exchange_json("").replace_str("\"application/json\"", "1"), Some(b"")),
            "responses/0003_x.json: headers.Content-Type: expected strings, got a number",
        ),
        (
            files("x_0001", exchange_json(""), Some(b"")),
            "responses/x_0001.json: file name must look like NNNN_<host>.json",
        ),
        (files("001_x", exchange_json(""), Some(b"")), "responses/001_x.json: file name must look like"),
        (files("0001_../x", exchange_json(""), Some(b"")), "responses/0001_../x.json: file name must look like"),
        (files("0001_x\ny", exchange_json(""), Some(b"")), "responses/0001_x\\ny.json: file name must look like"),
        (
            files("0003_x", exchange_json(""), Some(&vec![0; MAX_FILE_BYTES as usize + 1])),
            "responses/0003_x.body: file exceeds 10485760-byte limit (10485761 bytes)",
        ),
    ];
    for (exchange, expected) in cases {
        let text = err_text(&m, vec![exchange]);
        assert!(text.starts_with(expected), "got {text:?}, expected {expected:?}");
    }
    let big_json = files("0003_x", vec![b' '; MAX_FILE_BYTES as usize + 1], Some(b""));
    assert_eq!(
        err_text(&m, vec![big_json]),
        "responses/0003_x.json: file exceeds 10485760-byte limit (10485761 bytes)"
    );
    let twice = vec![files("0001_x", exchange_json(""), Some(b"")), files("0001_x", exchange_json(""), Some(b""))];
    assert_eq!(err_text(&m, twice), "responses/0001_x.json: listed twice");
    let many = (0..=MAX_EXCHANGES).map(|i| files(&format!("{i:04}_x"), Vec::new(), Some(b""))).collect();
    assert_eq!(err_text(&m, many), "responses: 10000 exchanges exceed the limit of 9999");
    assert_eq!(
        CaptureError::LegacyNanogptLayout.to_string(),
        "legacy nanogpt sample directory (no manifest.json): not a replayable capture"
    );
}

#[test]
fn writes_the_reference_layout_and_reads_it_back() {
    let manifest_in = manifest_json(
        ",\n  \"duration_ms\": 9973,\n  \"e2ee\": {\n    \"attempted\": true,\n    \"failed\": true,\n    \"error\": \"Post \\\"https://a/b?x=1\\u0026y=2\\\": timeout\",\n    \"key_type\": \"ml-kem-768\"\n  }",
    );
    let exchange_in = exchange_json(",\n  \"duration_ms\": 5901");
    let stem = "0001_rekor.sigstore.dev_api_v1_index_retrieve";
    let capture = Capture::from_files(&manifest_in, vec![files(stem, exchange_in.clone(), Some(b"body"))]).unwrap();
    let out = capture.to_files();
    let names: Vec<_> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["manifest.json", &format!("responses/{stem}.json"), &format!("responses/{stem}.body")]);
    assert_eq!(String::from_utf8_lossy(&out[0].1), String::from_utf8_lossy(&manifest_in));
    assert_eq!(String::from_utf8_lossy(&out[1].1), String::from_utf8_lossy(&exchange_in));
    assert_eq!(out[2].1, b"body");
    let back = Capture::from_files(&out[0].1, vec![files(stem, out[1].1.clone(), Some(&out[2].1))]).unwrap();
    assert_eq!(back, capture);
}

#[test]
fn built_capture_round_trips() {
    let manifest = Manifest {
        provider: "chutes".into(),
        model: "zai-org/GLM-5-TEE".into(),
        nonce: [0xab; 32],
        captured_at: OffsetDateTime::from_unix_timestamp_nanos(1_779_243_499_077_960_000).unwrap(),
        duration_ms: Some(0),
        e2ee: Some(E2eeOutcome { attempted: false, ..E2eeOutcome::default() }),
        error: Some(String::new()),
    };
    let meta = ExchangeMeta {
        method: "GET".into(),
        url: "https://api.chutes.ai/e2e/instances/e51e818e-fa63-570d-9f68-49d7d1b4d12f?a=<&>".into(),
        status: 404,
        proto: Some(String::new()),
        tls_version: None,
        tls_cipher: None,
        peer_spki_der: Some(vec![]),
        headers: vec![("Z".into(), vec!["1".into(), "\u{2028}\"".into()]), ("A".into(), vec![])],
        req_body: Some(vec![]),
        duration_ms: None,
    };
    let capture = Capture::new(manifest, vec![(meta.clone(), vec![0, 255]), (meta, vec![])]);
    assert_eq!(capture.exchanges[1].file_stem, "0002_api.chutes.ai_e2e_instances_e51e818e-fa63-570d-9f68-49d7d1b4d12f");
    let written = capture.to_files();
    let mut parts = written[1..].chunks(2).map(|pair| {
        let stem = pair[0].0.strip_prefix("responses/").unwrap().strip_suffix(".json").unwrap().to_owned();
        files(&stem, pair[0].1.clone(), Some(&pair[1].1))
    });
    let exchanges = vec![parts.next().unwrap(), parts.next().unwrap()];
    assert_eq!(Capture::from_files(&written[0].1, exchanges).unwrap(), capture);
    let text = String::from_utf8(written[0].1.clone()).unwrap();
    assert!(text.contains("\"captured_at\": \"2026-05-20T02:18:19.07796Z\""), "{text}");
    assert!(text.contains("\"duration_ms\": 0") && text.contains("\"error\": \"\""), "{text}");
}

#[test]
fn host_slugs_follow_the_spec() {
    let cases = [
        ("https://api.venice.ai/api/v1/tee/attestation?model=m&nonce=n", "api.venice.ai_api_v1_tee_attestation"),
        (
            "https://nras.attestation.nvidia.com/.well-known/jwks.json",
            "nras.attestation.nvidia.com_.well-known_jwks.json",
        ),
        (
            "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der",
            "certificates.trustedservices.intel.com_intelsgxrootca.der",
        ),
        ("https://Host.Test:8443//a%2Fb/C%20d//", "host.test_a_b_c_d"),
        ("https://h.test/", "h.test"),
        ("https://h.test", "h.test"),
        ("https://[::1]:9/x", "__1_x"),
        ("https://h.test/caf%C3%A9/%FF%FE/\u{212A}\u{130}", "h.test_caf_____ki"),
    ];
    for (url, slug) in cases {
        assert_eq!(host_slug(url), slug, "{url}");
    }
    let long = format!("https://h.test/{}", "a".repeat(200));
    assert_eq!(host_slug(&long).len(), 80);
    // Unsplittable: 16 hex digits of SHA-256.
    let slug = host_slug("no scheme here");
    assert_eq!(slug, hex::encode(&Sha256::digest(b"no scheme here")[..8]));
    assert_eq!(exchange_file_stem(7, "https://h.test/a"), "0007_h.test_a");
}

#[test]
fn time_helpers() {
    let mut m = Capture::from_files(&manifest_json(""), vec![]).unwrap().manifest;
    assert_eq!(m.captured_at_rfc3339(), "2026-04-24T01:58:41.564682Z");
    assert_eq!(m.verified_at_rfc3339(), "2026-04-24T01:58:41.564682Z");
    assert_eq!(m.verification_time().as_secs(), 1_776_995_921);
    m.duration_ms = Some(9973);
    assert_eq!(m.verified_at_rfc3339(), "2026-04-24T01:58:51.537682Z");
    assert_eq!(m.verification_time().as_secs(), 1_776_995_931);
    m.duration_ms = Some(435_318);
    assert_eq!(m.verified_at_rfc3339(), "2026-04-24T02:05:56.882682Z");
    m.duration_ms = Some(u64::MAX);
    assert_eq!(m.verified_at_rfc3339(), "9999-12-31T23:59:59.999999999Z", "saturates");
    assert_eq!(m.dir_name(), "venice_e2ee-qwen3-5-122b-a10b_20260424_015841");
    m.model = "Qwen/Qwen3.5-122B-A10B".into();
    m.provider = "../x".into();
    assert_eq!(m.dir_name(), ".._x_qwen_qwen3.5-122b-a10b_20260424_015841");
    // Whole seconds and an offset other than Z.
    let offset = manifest_json("").replace_str("2026-04-24T01:58:41.564682Z", "2026-04-24T03:58:41+02:00");
    let m = Capture::from_files(&offset, vec![]).unwrap().manifest;
    assert_eq!(m.captured_at_rfc3339(), "2026-04-24T01:58:41Z");
    assert_eq!(m.captured_at.offset(), UtcOffset::UTC);
}

#[test]
fn recognises_the_legacy_nanogpt_layout() {
    let legacy =
        ["deepseek-v3.2_attestation.json", "deepseek-v3.2_headers.json", "deepseek-v3.2_nonce.txt", "models.json"];
    assert!(is_legacy_nanogpt_layout(&legacy));
    assert!(is_legacy_nanogpt_layout(&["a_attestation.json", "models.json"]));
    assert!(!is_legacy_nanogpt_layout(&["manifest.json", "a_attestation.json", "a_nonce.txt"]));
    assert!(!is_legacy_nanogpt_layout(&["report.txt", "responses"]));
    assert!(!is_legacy_nanogpt_layout::<&str>(&[]));
}

/// Byte-string replacement for building malformed inputs.
trait ReplaceStr {
    fn replace_str(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceStr for Vec<u8> {
    fn replace_str(&self, from: &str, to: &str) -> Vec<u8> {
        let text = String::from_utf8(self.clone()).unwrap();
        assert!(text.contains(from), "{from:?} not in {text:?}");
        text.replacen(from, to, 1).into_bytes()
    }
}
