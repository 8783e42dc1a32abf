//! A realistic configuration file through `proto_core::config`: allow-fail precedence (§13.5)
//! for all six providers, online and offline, plus the policy merge and key resolution the
//! runtime builds on.

use proto_core::config::{Config, ConfigError};
use proto_core::provider::ProviderKind;
use proto_core::report::{AllowFail, Factor};

const VENICE_MRTD: &str =
    "f06dfda6dce1cf904d4e2bab1dc370634cf95cefa2ceb2de2eee127c9382698090d7a4a13e14c536ec6c9c3c8fa87077";
const NEAR_MRTD: &str =
    "c68518a0ebb42136c12b2275164f8c72f25fa9a34392228687ed6e9caeb9c0f1dbd895e9cf475121c029dc47e70e91fd";
const GATEWAY_RTMR0: &str =
    "0x7A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F9";

/// What an operator might keep in `~/.config/teep/teep.toml`.
fn teep_toml() -> String {
    format!(
        r#"# teep configuration
max_conns = 512

# Global list: applies to every provider without its own list.
allow_fail = [
  "tdx_quote_present",        # seed spelling
  "tee_quote_structure",      # current spelling
  "cpu_gpu_chain",
  "measured_model_weights",
]

[policy]
# Legacy location; ignored because the root list above exists.
allow_fail = ["nonce_match"]
mrtd_allow = ["{VENICE_MRTD}"]

[providers.venice]
api_key_env = "TEEP_VENICE_KEY"
base_url = "https://api.venice.ai"
e2ee = true
allow_fail = ["tdx_hardware_config", "tee_boot_config", "e2ee_usable"]

[providers.neardirect]
api_key = "sk-near-direct-from-file"
base_url = "https://completions.near.ai"
allow_fail = []   # enforce every factor

[providers.nearcloud]
base_url = "https://cloud-api.near.ai"
e2ee = true

[providers.nearcloud.policy]
allow_fail = ["accepted_and_ignored"]
mrtd_allow = ["  0x{}  "]
gateway_rtmr0_allow = ["{GATEWAY_RTMR0}"]

[providers.chutes]
base_url = "https://api.chutes.ai"
e2ee = true
allow_fail = [
  "tdx_hardware_config", "tdx_boot_config", "nvidia_signature", "tls_key_binding",
  "cpu_gpu_chain", "measured_model_weights", "compose_binding", "event_log_integrity",
]

[providers.phalacloud]
base_url = "https://api.redpill.ai/v1"

# nanogpt has no section: it takes the global list.
"#,
        NEAR_MRTD.to_uppercase()
    )
}

fn set(names: &[&str]) -> AllowFail {
    AllowFail::from_names(names).expect("known factor names")
}

fn online() -> Vec<&'static str> {
    Factor::ALL.iter().filter(|f| f.is_online()).map(|f| f.name()).collect()
}

fn with_online(names: &[&'static str]) -> AllowFail {
    let mut all = names.to_vec();
    all.extend(online());
    set(&all)
}

fn measurement(hex_digits: &str) -> [u8; 48] {
    let digits = hex_digits.trim_start_matches("0x").to_ascii_lowercase();
    let bytes: Vec<u8> =
        (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex")).collect();
    bytes.try_into().expect("48 bytes")
}

#[test]
fn allow_fail_precedence_for_all_six_providers() {
    let cfg = Config::parse(&teep_toml()).expect("the example file loads");
    let global = ["tee_quote_present", "tee_quote_structure", "cpu_gpu_chain", "measured_model_weights"];
    let venice = ["tee_hardware_config", "tee_boot_config", "e2ee_usable"];
    let chutes = [
        "tee_hardware_config",
        "tee_boot_config",
        "nvidia_signature",
        "tls_key_binding",
        "cpu_gpu_chain",
        "measured_model_weights",
        "compose_binding",
        "event_log_integrity",
    ];
    let expected: [(ProviderKind, &[&str]); 6] = [
        (ProviderKind::Venice, &venice),    // its own list
        (ProviderKind::NearDirect, &[]),    // its own, explicit empty list: enforce all
        (ProviderKind::NearCloud, &global), // a section without a list: the root list
        (ProviderKind::Chutes, &chutes),    // its own list
        (ProviderKind::PhalaCloud, &global),
        (ProviderKind::NanoGpt, &global), // no section at all
    ];
    for (provider, names) in expected {
        assert_eq!(cfg.allow_fail_for(provider, false), set(names), "{provider} online");
        assert_eq!(cfg.allow_fail_for(provider, true), with_online(names), "{provider} offline");
    }
    // The legacy [policy] list lost to the root list, so nonce_match is enforced everywhere.
    for provider in ProviderKind::ALL {
        assert!(!cfg.allow_fail_for(provider, true).contains(Factor::NonceMatch), "{provider}");
    }
    // Offline never relaxes an offline-checkable factor.
    assert!(!cfg.allow_fail_for(ProviderKind::NearDirect, true).contains(Factor::TeeQuoteSignature));
    assert!(cfg.allow_fail_for(ProviderKind::NearDirect, true).contains(Factor::IntelPcsCollateral));
}

#[test]
fn without_a_root_list_the_legacy_policy_list_then_the_defaults_apply() {
    let legacy = teep_toml().replace("allow_fail = [\n  \"tdx_quote_present\"", "unused = [\n  \"tdx_quote_present\"");
    assert!(matches!(Config::parse(&legacy), Err(ConfigError::UnknownKeys(k)) if k == ["unused"]));

    let without_root = teep_toml()
        .replace("allow_fail = [\n  \"tdx_quote_present\",        # seed spelling\n  \"tee_quote_structure\",      # current spelling\n  \"cpu_gpu_chain\",\n  \"measured_model_weights\",\n]\n", "");
    let cfg = Config::parse(&without_root).expect("loads");
    assert_eq!(cfg.allow_fail, None);
    assert_eq!(cfg.allow_fail_for(ProviderKind::NanoGpt, false), set(&["nonce_match"]));
    assert_eq!(cfg.allow_fail_for(ProviderKind::NearCloud, true), with_online(&["nonce_match"]));
    assert_eq!(cfg.allow_fail_for(ProviderKind::NearDirect, false), set(&[]));

    // With neither global list, providers without their own list take their built-in default.
    let bare = without_root.replace("allow_fail = [\"nonce_match\"]\n", "");
    let cfg = Config::parse(&bare).expect("loads");
    for provider in [ProviderKind::NearCloud, ProviderKind::PhalaCloud, ProviderKind::NanoGpt] {
        assert_eq!(cfg.allow_fail_for(provider, false), AllowFail::provider_default(provider), "{provider}");
        assert_eq!(
            cfg.allow_fail_for(provider, true),
            AllowFail::provider_default(provider).with_online_factors(),
            "{provider}"
        );
    }
    assert_eq!(
        cfg.allow_fail_for(ProviderKind::Venice, false),
        set(&["tee_hardware_config", "tee_boot_config", "e2ee_usable"])
    );
}

#[test]
fn measurement_policy_and_keys_from_the_same_file() {
    let cfg = Config::parse(&teep_toml()).expect("loads");
    assert_eq!(cfg.max_conns, Some(512));

    let near = cfg.policy_overrides_for(ProviderKind::NearCloud);
    assert_eq!(near.mrtd, Some(vec![measurement(NEAR_MRTD)]));
    assert_eq!(near.gateway_rtmr0, Some(vec![measurement(GATEWAY_RTMR0)]));
    assert_eq!(near.mrseam, None);
    let venice = cfg.policy_overrides_for(ProviderKind::Venice);
    assert_eq!(venice.mrtd, Some(vec![measurement(VENICE_MRTD)]));
    assert_eq!(venice.gateway_rtmr0, None);

    let env = |name: &str| match name {
        "TEEP_VENICE_KEY" => Some("venice-from-named-var".to_owned()),
        "NEARAI_API_KEY" => Some("near-from-env".to_owned()),
        _ => None,
    };
    assert_eq!(cfg.resolve_api_key(ProviderKind::Venice, env).as_deref(), Some("venice-from-named-var"));
    // NEARAI_API_KEY replaces the file's key and serves both NEAR providers.
    assert_eq!(cfg.resolve_api_key(ProviderKind::NearDirect, env).as_deref(), Some("near-from-env"));
    assert_eq!(cfg.resolve_api_key(ProviderKind::NearCloud, env).as_deref(), Some("near-from-env"));
    assert_eq!(cfg.resolve_api_key(ProviderKind::NearDirect, |_| None).as_deref(), Some("sk-near-direct-from-file"));
    assert_eq!(cfg.resolve_api_key(ProviderKind::Chutes, env), None);

    let debug = format!("{cfg:?}");
    assert!(!debug.contains("sk-near-direct-from-file"), "{debug}");
}

#[test]
fn a_broken_file_is_refused_with_the_reference_message() {
    let typo = teep_toml().replace("[providers.phalacloud]\n", "[providers.phalacloud]\ne2e = true\n");
    assert_eq!(Config::parse(&typo).unwrap_err().to_string(), "unknown config keys: [providers.phalacloud.e2e]");
    let bad_factor = teep_toml().replace("\"e2ee_usable\"]", "\"e2ee_usuable\"]");
    assert_eq!(
        Config::parse(&bad_factor).unwrap_err().to_string(),
        r#"providers.venice.allow_fail: unknown allow_fail factor "e2ee_usuable""#
    );
    let short = teep_toml().replace(&format!("\"{VENICE_MRTD}\""), "\"abcd\"");
    assert_eq!(
        Config::parse(&short).unwrap_err().to_string(),
        r#"policy.mrtd_allow entry "abcd" decodes to 2 bytes, want 48"#
    );
}
