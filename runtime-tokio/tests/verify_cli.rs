//! `teep verify --replay` from the command line: outputs, exit codes, and one-line errors for
//! bad captures.

use std::path::{Path, PathBuf};
use std::process::Command;

fn captures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("\n*** SKIPPED: {} is absent; CLI replay tests did not run. ***\n", dir.display());
        None
    }
}

fn teep(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_teep")).args(args).output().expect("run teep");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Copies a capture into a fresh temporary directory (never into the repository).
fn scratch_copy(src: &Path, tag: &str) -> PathBuf {
    let dst = std::env::temp_dir().join(format!("teep-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::create_dir_all(dst.join("responses")).unwrap();
    for name in ["manifest.json", "report.txt"] {
        std::fs::copy(src.join(name), dst.join(name)).unwrap();
    }
    for entry in std::fs::read_dir(src.join("responses")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dst.join("responses").join(path.file_name().unwrap())).unwrap();
    }
    dst
}

fn nanogpt(root: &Path) -> PathBuf {
    root.join("nanogpt_tee_gemma-3-27b-it_20260610_014905")
}

fn assert_one_line_error(tag: &str, (code, stdout, stderr): (i32, String, String), needle: &str) {
    assert_eq!(code, 1, "{tag}: exit code; stderr: {stderr}");
    assert!(stdout.is_empty(), "{tag}: nothing on stdout, got {stdout}");
    assert!(!stderr.contains("panicked"), "{tag}: panic: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{tag}: one line: {stderr}");
    assert!(stderr.contains(needle), "{tag}: {stderr:?} should name {needle:?}");
}

#[test]
fn text_json_and_compare_outputs() {
    let Some(root) = captures() else { return };
    let dir = root.join("neardirect_qwen_qwen3.5-122b-a10b_20260610_015359");
    let dir = dir.to_str().unwrap();
    let (code, text, _) = teep(&["verify", "--replay", dir]);
    assert!(text.starts_with("Attestation Report: neardirect / Qwen/Qwen3.5-122B-A10B\n"), "{text}");
    assert!(text.contains("Tier 1: Core Attestation") && text.contains("\nScore: "));
    let (json_code, json, _) = teep(&["verify", "--replay", dir, "--format", "json"]);
    assert!(json.contains("\"provider\": \"neardirect\"") && json.contains("\"factors\""));
    assert_eq!(code, json_code);
    let blocked = json.contains("\"blocked\": true");
    assert_eq!(code, if blocked { 1 } else { 0 });
    let (_, compare, _) = teep(&["verify", "--replay", dir, "--compare"]);
    assert!(compare.contains("= nonce_match"), "{compare}");
    assert!(compare.contains("factors:"), "{compare}");
    // Provider and model, when given, must match the capture.
    let (code, _, err) = teep(&["verify", "venice", "--replay", dir]);
    assert_eq!(code, 1);
    assert!(err.contains("does not match"), "{err}");
}

#[test]
fn missing_body_file_is_a_one_line_error_naming_it() {
    let Some(root) = captures() else { return };
    let dir = scratch_copy(&nanogpt(&root), "nobody");
    let victim = std::fs::read_dir(dir.join("responses"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("0003_") && p.extension().is_some_and(|e| e == "body"))
        .unwrap();
    std::fs::remove_file(&victim).unwrap();
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert_one_line_error("missing body", teep(&["verify", "--replay", dir.to_str().unwrap()]), &name);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn manifest_problems_are_one_line_errors_naming_the_field() {
    let Some(root) = captures() else { return };
    let original = std::fs::read_to_string(nanogpt(&root).join("manifest.json")).unwrap();
    let nonce = original.split("\"nonce_hex\": \"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let cases = [
        ("truncated", original[..original.len() / 2].to_owned(), "manifest.json"),
        ("short-nonce", original.replace(&nonce, &nonce[..10]), "nonce_hex"),
        ("provider", original.replace("\"provider\": \"nanogpt\"", "\"provider\": \"tinfoil\""), "provider"),
    ];
    for (tag, manifest, needle) in cases {
        let dir = scratch_copy(&nanogpt(&root), tag);
        std::fs::write(dir.join("manifest.json"), manifest).unwrap();
        assert_one_line_error(tag, teep(&["verify", "--replay", dir.to_str().unwrap()]), needle);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn attestation_with_an_unknown_format_is_a_one_line_error() {
    let Some(root) = captures() else { return };
    let dir = scratch_copy(&nanogpt(&root), "format");
    let body = std::fs::read_dir(dir.join("responses"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("0001_") && p.extension().is_some_and(|e| e == "body"))
        .unwrap();
    std::fs::write(&body, br#"{"format":"https://example.invalid/predicate/v9","body":"x"}"#).unwrap();
    assert_one_line_error("format", teep(&["verify", "--replay", dir.to_str().unwrap()]), "format field");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_directory_that_is_not_a_capture_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("teep-cli-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert_one_line_error("empty", teep(&["verify", "--replay", dir.to_str().unwrap()]), "manifest.json");
    let (code, _, err) = teep(&["verify"]);
    assert_eq!(code, 1);
    assert!(err.contains("--replay"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

fn write_config(tag: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("teep-cli-config-{tag}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

/// The number of enforced failures in a text report's score line.
fn enforced_failures(text: &str) -> usize {
    let score = text.lines().find(|l| l.starts_with("Score: ")).expect("score line");
    let inner = score.split('(').nth(1).expect("breakdown");
    inner.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn a_config_file_changes_enforcement_via_flag_and_environment() {
    let Some(root) = captures() else { return };
    let dir = root.join("neardirect_qwen_qwen3.5-122b-a10b_20260610_015359");
    let dir = dir.to_str().unwrap();
    let (_, default, _) = teep(&["verify", "--replay", dir]);
    let strict = write_config("strict", "allow_fail = []\n");
    let (code, enforced, stderr) = teep(&["verify", "--config", strict.to_str().unwrap(), "--replay", dir]);
    assert_eq!(code, 1, "{stderr}");
    assert!(enforced_failures(&enforced) > enforced_failures(&default), "{default}\n---\n{enforced}");
    // TEEP_CONFIG gives the same result as --config.
    let out = Command::new(env!("CARGO_BIN_EXE_teep"))
        .args(["verify", "--replay", dir])
        .env("TEEP_CONFIG", &strict)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), enforced);
    // A per-provider list wins over the global one: allowing every failing factor unblocks.
    let failing: Vec<String> = default
        .lines()
        .filter(|l| l.trim_start().starts_with('✗'))
        .filter_map(|l| l.split_whitespace().nth(1).map(|w| format!("\"{w}\"")))
        .collect();
    assert!(!failing.is_empty(), "{default}");
    let lenient = write_config("lenient", &format!("allow_fail = []\n[providers.neardirect]\nallow_fail = [{}]\n", failing.join(", ")));
    let (code, text, stderr) = teep(&["verify", "--config", lenient.to_str().unwrap(), "--replay", dir]);
    assert_eq!(code, 0, "{text}\n{stderr}");
}

#[test]
fn bad_config_files_are_one_line_errors_with_the_path() {
    let Some(root) = captures() else { return };
    let dir = root.join("neardirect_qwen_qwen3.5-122b-a10b_20260610_015359");
    let dir = dir.to_str().unwrap();
    let syntax = write_config("syntax", "allow_fail = [\n  \"x\" = 3\n");
    let out = teep(&["verify", "--config", syntax.to_str().unwrap(), "--replay", dir]);
    assert_one_line_error("syntax", out, "line 2, column 7");
    let unknown = write_config("unknown", "allow_fail = [\"tdx_quote_presnet\"]\n");
    let out = teep(&["verify", "--config", unknown.to_str().unwrap(), "--replay", dir]);
    assert_one_line_error("unknown factor", out, "unknown allow_fail factor \"tdx_quote_presnet\"");
    let out = teep(&["verify", "--config", "/nonexistent/teep.toml", "--replay", dir]);
    assert_one_line_error("missing", out, "loading config file \"/nonexistent/teep.toml\"");
}

fn teep_env(args: &[&str], env: &[(&str, &str)], remove: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_teep"));
    cmd.args(args).env_remove("TEEP_CONFIG");
    for var in remove {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run teep");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn live_verify_input_errors_are_one_line_and_name_the_fix() {
    let out = teep_env(&["verify", "venice", "--model", "m"], &[], &["VENICE_API_KEY"]);
    assert_one_line_error("no key", out, "set VENICE_API_KEY");
    let out = teep_env(&["verify", "nearcloud", "--model", "m"], &[], &["NEARAI_API_KEY"]);
    assert_one_line_error("no NEAR key", out, "set NEARAI_API_KEY");
    let out = teep_env(&["verify", "openai", "--model", "m"], &[], &[]);
    assert_one_line_error("unknown provider", out, "known: venice, neardirect, nearcloud, chutes, phalacloud, nanogpt");
    let out = teep_env(&["verify", "venice"], &[("VENICE_API_KEY", "k")], &[]);
    assert_one_line_error("no model", out, "--model is required");
    // A key from the config file is enough to get past the key check (the run then fails to
    // reach the network, or a TLS host in this sandbox: either way, a one-line error).
    let config = write_config("key", "[providers.chutes]\napi_key = \"from-file\"\n");
    let (code, stdout, stderr) =
        teep_env(&["verify", "--config", config.to_str().unwrap(), "chutes", "--model", "m"], &[], &["CHUTES_API_KEY"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty() && !stderr.contains("API key") && !stderr.contains("from-file"), "{stderr}");
}

#[test]
fn compare_exits_zero_on_every_capture() {
    let Some(root) = captures() else { return };
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("manifest.json").is_file() {
            continue;
        }
        let (code, stdout, stderr) = teep(&["verify", "--replay", dir.to_str().unwrap(), "--compare"]);
        assert_eq!(code, 0, "{}: --compare found an undocumented difference:\n{stdout}\n{stderr}", dir.display());
        assert!(stdout.contains(" 0 differ"), "{stdout}");
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} captures found");
}
