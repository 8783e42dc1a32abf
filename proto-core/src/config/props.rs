//! Property tests of the configuration parser: no text — arbitrary strings, or documents built
//! from the schema's own keys with values of every type — makes it panic, every refusal is one
//! line, and whatever parses merges without panicking.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use super::*;

/// Where this module's failing seeds are kept (cargo runs unit tests from `proto-core/`).
const REGRESSIONS: &str = "../proptest-regressions/config.txt";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

const HEADERS: &[&str] = &[
    "[policy]",
    "[providers.venice]",
    "[providers.nearcloud.policy]",
    "[providers.\"x y\"]",
    "[[providers.chutes]]",
    "[[extra]]",
    "[providers]",
    "[extra.inner]",
];

const KEYS: &[&str] = &[
    "allow_fail",
    "max_conns",
    "policy",
    "providers",
    "api_key",
    "api_key_env",
    "base_url",
    "e2ee",
    "mrtd_allow",
    "gateway_rtmr1_allow",
    "rtmr3_allow",
    "providers.venice.e2ee",
    "policy.mrseam_allow",
    "bogus",
    "\"q\\nk\"",
];

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("\"tdx_quote_present\"".to_owned()),
        Just("\"tee_boot_config\"".to_owned()),
        Just(format!("\"0x{}\"", "ab".repeat(48))),
        Just("\"nope\"".to_owned()),
        any::<i64>().prop_map(|i| i.to_string()),
        (0i64..20_000).prop_map(|i| i.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("1.5".to_owned()),
        Just("1979-05-27".to_owned()),
        "[ -~]{0,12}".prop_map(|s| format!("{s:?}")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..3).prop_map(|kv| {
                let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", body.join(", "))
            }),
        ]
    })
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(HEADERS).prop_map(str::to_owned),
        (proptest::sample::select(KEYS), value()).prop_map(|(k, v)| format!("{k} = {v}")),
    ]
}

fn check(text: &str) {
    match Config::parse(text) {
        Ok(cfg) => {
            for p in ProviderKind::ALL {
                let _ = cfg.allow_fail_for(p, true);
                let _ = cfg.policy_overrides_for(p);
                let _ = cfg.resolve_api_key(p, |_| None);
            }
            let _ = format!("{cfg:?}");
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.contains('\n') && !shown.contains('\r'), "multi-line error: {shown:?}");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn toml_shaped_text_never_panics(text in "[\\[\\]{}=\",.a-z0-9_ \n#'\\\\-]{0,80}") {
        check(&text);
    }

    #[test]
    fn documents_from_schema_keys_never_panic(lines in proptest::collection::vec(line(), 0..12)) {
        check(&lines.join("\n"));
    }
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    for depth in [100, 10_000] {
        check(&format!("x = {}{}", "[".repeat(depth), "]".repeat(depth)));
        check(&format!("x = {}", "{ a = ".repeat(depth)));
        check(&format!("{}x = 1", "a.".repeat(depth)));
    }
}
