//! Unit tests of the configuration schema: every validation message, every merge rule, key
//! resolution and redaction.

use super::*;

/// A valid 48-byte measurement in hex.
const H1: &str = "111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111";
const H2: &str = "2222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222ab";

fn err(text: &str) -> String {
    match Config::parse(text) {
        Ok(cfg) => panic!("expected an error for {text:?}, parsed {cfg:?}"),
        Err(e) => e.to_string(),
    }
}

fn ok(text: &str) -> Config {
    Config::parse(text).unwrap_or_else(|e| panic!("{text:?} refused: {e}"))
}

fn set(names: &[&str]) -> AllowFail {
    AllowFail::from_names(names).expect("known names")
}

fn m(hex: &str) -> [u8; 48] {
    hex::decode(hex).expect("hex").try_into().expect("48 bytes")
}

// ---- parsing what is valid ----

#[test]
fn empty_text_is_no_file() {
    assert_eq!(ok(""), Config::default());
    assert_eq!(ok("# only a comment\n\n"), Config::default());
}

#[test]
fn a_full_file_parses_to_plain_data() {
    let cfg = ok(&format!(
        r#"
allow_fail = ["tdx_quote_present", "tee_boot_config"]
max_conns = 250

[policy]
mrtd_allow = ["{H1}", "  0X{}  ", "{H2}"]
gateway_rtmr3_allow = ["0x{H2}"]

[providers.venice]
api_key = "sk-venice"
api_key_env = "VENICE_KEY_FILE_VAR"
base_url = "https://api.venice.ai"
e2ee = true
allow_fail = []

[providers.venice.policy]
allow_fail = ["not_a_factor"]
rtmr1_allow = ["{H2}"]

[providers."my custom"]
base_url = "http://localhost:1"
"#,
        H1.to_uppercase()
    ));
    assert_eq!(cfg.allow_fail, Some(vec![Factor::TeeQuotePresent, Factor::TeeBootConfig]));
    assert_eq!(cfg.policy_allow_fail, None);
    assert_eq!(cfg.max_conns, Some(250));
    // Trimmed, lowercased, 0x stripped, duplicates dropped, file order kept.
    assert_eq!(cfg.policy.mrtd, Some(vec![m(H1), m(H2)]));
    assert_eq!(cfg.policy.gateway_rtmr3, Some(vec![m(H2)]));
    assert_eq!(cfg.policy.mrseam, None);
    let venice = &cfg.providers["venice"];
    assert_eq!(venice.api_key.as_deref(), Some("sk-venice"));
    assert_eq!(venice.api_key_env.as_deref(), Some("VENICE_KEY_FILE_VAR"));
    assert_eq!(venice.base_url.as_deref(), Some("https://api.venice.ai"));
    assert_eq!(venice.e2ee, Some(true));
    assert_eq!(venice.allow_fail, Some(vec![]));
    assert_eq!(venice.policy.rtmr1, Some(vec![m(H2)]));
    assert!(venice.policy.lists().iter().filter(|(_, l)| l.is_some()).count() == 1);
    // Unknown provider names are kept as data.
    let custom = &cfg.providers["my custom"];
    assert_eq!(custom.base_url.as_deref(), Some("http://localhost:1"));
    assert_eq!((custom.e2ee, custom.api_key.as_ref(), custom.allow_fail.as_ref()), (None, None, None));
    assert!(custom.policy.is_empty());
}

#[test]
fn dotted_keys_and_inline_tables_are_the_same_schema() {
    let cfg = ok(&format!(
        "providers.chutes.e2ee = false\nproviders.nanogpt = {{ api_key = \"k\", policy = {{ mrseam_allow = [\"{H1}\"] }} }}\npolicy.allow_fail = [\"nonce_match\"]\n"
    ));
    assert_eq!(cfg.providers["chutes"].e2ee, Some(false));
    assert_eq!(cfg.providers["nanogpt"].policy.mrseam, Some(vec![m(H1)]));
    assert_eq!(cfg.policy_allow_fail, Some(vec![Factor::NonceMatch]));
    assert_eq!(cfg.allow_fail, None);
}

#[test]
fn both_factor_spellings_are_accepted() {
    let seed: Vec<&str> = Factor::ALL.iter().map(|f| f.seed_name()).collect();
    let current: Vec<&str> = Factor::ALL.iter().map(|f| f.name()).collect();
    for names in [seed, current] {
        let list = names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
        let cfg = ok(&format!("allow_fail = [{list}]"));
        assert_eq!(cfg.allow_fail.as_deref(), Some(Factor::ALL));
    }
}

#[test]
fn max_conns_bounds() {
    assert_eq!(ok("max_conns = 1").max_conns, Some(1));
    assert_eq!(ok("max_conns = 10000").max_conns, Some(10_000));
    assert_eq!(ok("max_conns = 0x10").max_conns, Some(16));
    assert_eq!(err("max_conns = 0"), "max_conns must be a positive integer, got 0");
    assert_eq!(err("max_conns = -5"), "max_conns must be a positive integer, got -5");
    assert_eq!(err("max_conns = 10001"), "max_conns exceeds maximum 10000: got 10001");
    assert_eq!(err("max_conns = 9999999999999"), "max_conns exceeds maximum 10000: got 9999999999999");
}

// ---- unknown keys ----

#[test]
fn unknown_keys_are_listed_as_dotted_paths_in_document_order() {
    assert_eq!(err("zeta = 1\nalpha = 2"), "unknown config keys: [zeta alpha]");
    assert_eq!(err("[providers.venice]\nbogus = 1\napi_key = \"k\""), "unknown config keys: [providers.venice.bogus]");
    assert_eq!(err("[policy]\nmrtd = []\nenforce = []"), "unknown config keys: [policy.mrtd policy.enforce]");
    assert_eq!(err("[providers.x.policy]\nmrtd_allowed = 1"), "unknown config keys: [providers.x.policy.mrtd_allowed]");
    assert_eq!(err("poc_signing_key = \"k\""), "unknown config keys: [poc_signing_key]");
    // Keys match case-sensitively.
    assert_eq!(err("[providers.venice]\nAPI_KEY = \"k\""), "unknown config keys: [providers.venice.API_KEY]");
}

#[test]
fn unknown_tables_list_their_contents_but_not_implicit_parents() {
    // An explicit table and its keys.
    assert_eq!(err("[extra]\nx = 1\ny = 2"), "unknown config keys: [extra extra.x extra.y]");
    // `a` and `a.b` exist only implicitly.
    assert_eq!(err("a.b.c = 1"), "unknown config keys: [a.b.c]");
    assert_eq!(err("[x.y]\nz = 1"), "unknown config keys: [x.y x.y.z]");
    // Inline tables are written values; dotted keys inside them still hide their parents.
    assert_eq!(err("i = { a = 1, b.c = 2 }"), "unknown config keys: [i i.a i.b.c]");
    // An array of tables once per header; an inline array once.
    assert_eq!(err("[[t]]\nq = 1\n[[t]]\nq = 2"), "unknown config keys: [t t.q t t.q]");
    assert_eq!(err("arr = [{ q = 1 }, 2]"), "unknown config keys: [arr arr.q]");
    // Inside a known section.
    assert_eq!(
        err("[providers.venice.extra]\nk = 1\n[policy]\nfoo.bar = 1"),
        "unknown config keys: [providers.venice.extra providers.venice.extra.k policy.foo.bar]"
    );
    // Non-bare names are quoted the reference's way.
    assert_eq!(err("\"a b\" = 1\n\"\" = 2\n'q\"' = 3"), r#"unknown config keys: ["a b" "" "q\""]"#);
}

// ---- type errors ----

#[test]
fn type_errors_name_the_key_and_line() {
    let cases = [
        (
            "[providers.venice]\ne2ee = \"yes\"",
            r#"TOML decode: toml: line 2 (last key "providers.venice.e2ee"): incompatible types: TOML value has type string; destination has type boolean"#,
        ),
        (
            "allow_fail = \"tdx_quote_present\"",
            r#"TOML decode: toml: line 1 (last key "allow_fail"): incompatible types: TOML value has type string; destination has type slice"#,
        ),
        (
            "\nallow_fail = [\n  \"nonce_match\",\n  1,\n]",
            r#"TOML decode: toml: line 2 (last key "allow_fail"): incompatible types: TOML value has type int64; destination has type string"#,
        ),
        (
            "[providers.venice]\napi_key = 12",
            r#"TOML decode: toml: line 2 (last key "providers.venice.api_key"): incompatible types: TOML value has type int64; destination has type string"#,
        ),
        (
            "[providers.venice]\nbase_url = 1979-05-27",
            r#"TOML decode: toml: line 2 (last key "providers.venice.base_url"): incompatible types: TOML value has type time.Time; destination has type string"#,
        ),
        (
            "[providers.venice]\napi_key_env = true",
            r#"TOML decode: toml: line 2 (last key "providers.venice.api_key_env"): incompatible types: TOML value has type bool; destination has type string"#,
        ),
        (
            "max_conns = 1.5",
            r#"TOML decode: toml: line 1 (last key "max_conns"): incompatible types: TOML value has type float64; destination has type integer"#,
        ),
        (
            "max_conns = \"10\"",
            r#"TOML decode: toml: line 1 (last key "max_conns"): incompatible types: TOML value has type string; destination has type integer"#,
        ),
        (
            "policy = 1",
            r#"TOML decode: toml: line 1 (last key "policy"): type mismatch for config.PolicyConfig: expected table but found int64"#,
        ),
        (
            "[providers]\nvenice = \"x\"",
            r#"TOML decode: toml: line 2 (last key "providers.venice"): type mismatch for config.ProviderConfig: expected table but found string"#,
        ),
        (
            "[[providers.venice]]\napi_key = \"k\"",
            r#"TOML decode: toml: line 1 (last key "providers.venice"): type mismatch for config.ProviderConfig: expected table but found []map[string]any"#,
        ),
        (
            "[providers.venice]\npolicy = [1]",
            r#"TOML decode: toml: line 2 (last key "providers.venice.policy"): type mismatch for config.PolicyConfig: expected table but found []any"#,
        ),
        (
            "providers = 1",
            r#"TOML decode: toml: line 1 (last key "providers"): incompatible types: TOML value has type int64; destination has type map"#,
        ),
        (
            "[policy]\nmrtd_allow = [[\"aa\"]]",
            r#"TOML decode: toml: line 2 (last key "policy.mrtd_allow"): incompatible types: TOML value has type []any; destination has type string"#,
        ),
        (
            "[providers.venice.policy]\nallow_fail = [{}]",
            r#"TOML decode: toml: line 2 (last key "providers.venice.policy.allow_fail"): incompatible types: TOML value has type map[string]any; destination has type string"#,
        ),
        (
            "[providers.\"a b\"]\ne2ee = 1",
            r#"TOML decode: toml: line 2 (last key "providers.\"a b\".e2ee"): incompatible types: TOML value has type int64; destination has type boolean"#,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), want, "{text:?}");
    }
}

#[test]
fn type_errors_come_before_unknown_keys() {
    assert!(err("bogus = 1\nmax_conns = \"x\"").starts_with("TOML decode: "));
}

#[test]
fn syntax_errors_are_one_line_with_the_line_number() {
    for (text, line) in
        [("a = ", 1), ("allow_fail = []\nallow_fail = []", 2), ("[x]\n[x]", 2), ("x = 99999999999999999999", 1)]
    {
        let e = err(text);
        assert!(e.starts_with(&format!("TOML decode: toml: line {line}, column ")), "{text:?}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

// ---- allow_fail names ----

#[test]
fn unknown_allow_fail_names_are_refused_with_their_list() {
    assert_eq!(err("allow_fail = [\"tdx_quote_present\", \"x\"]"), r#"allow_fail: unknown allow_fail factor "x""#);
    // The legacy list reports as `allow_fail` too.
    assert_eq!(err("[policy]\nallow_fail = [\"bogus\"]"), r#"allow_fail: unknown allow_fail factor "bogus""#);
    assert_eq!(
        err("[providers.venice]\nallow_fail = [\"nonce_match\", \"nope\"]"),
        r#"providers.venice.allow_fail: unknown allow_fail factor "nope""#
    );
    assert_eq!(err("allow_fail = [\"a\\\"b\\n\"]"), r#"allow_fail: unknown allow_fail factor "a\"b\n""#);
    assert_eq!(err("allow_fail = [\"\"]"), r#"allow_fail: unknown allow_fail factor """#);
}

#[test]
fn unused_allow_fail_lists_are_not_validated() {
    // `[policy].allow_fail` is not used when the root list exists.
    let cfg = ok("allow_fail = []\n[policy]\nallow_fail = [\"bogus\"]");
    assert_eq!((cfg.allow_fail, cfg.policy_allow_fail), (Some(vec![]), None));
    // `[providers.P.policy].allow_fail` is accepted and ignored.
    let cfg = ok("[providers.chutes.policy]\nallow_fail = [\"bogus\"]");
    assert_eq!(cfg.providers["chutes"], ProviderSettings::default());
}

// ---- measurement allow-lists ----

#[test]
fn every_allowlist_refuses_an_empty_list_under_its_own_name() {
    const TAIL: &str = "is set but empty; remove the key to disable policy, or add at least one hex value";
    for key in LIST_KEYS {
        assert_eq!(err(&format!("[policy]\n{key} = []")), format!("policy.{key} {TAIL}"));
        let section = if key.starts_with("gateway_") {
            "providers.nearcloud.policy (gateway)"
        } else {
            "providers.nearcloud.policy"
        };
        assert_eq!(
            err(&format!("[providers.nearcloud.policy]\n{key} = []")),
            format!("{section}: policy.{key} {TAIL}")
        );
    }
}

#[test]
fn allowlist_entries_must_be_48_bytes_of_hex() {
    assert_eq!(
        err("[policy]\nmrtd_allow = [\"zz\"]"),
        r#"policy.mrtd_allow contains invalid hex "zz": encoding/hex: invalid byte: U+007A 'z'"#
    );
    assert_eq!(
        err("[policy]\nrtmr0_allow = [\"abc\"]"),
        r#"policy.rtmr0_allow contains invalid hex "abc": encoding/hex: odd length hex string"#
    );
    assert_eq!(
        err("[policy]\nmrseam_allow = [\" 0xABcd \"]"),
        r#"policy.mrseam_allow entry " 0xABcd " decodes to 2 bytes, want 48"#
    );
    assert_eq!(err("[policy]\nrtmr3_allow = [\"0x\"]"), r#"policy.rtmr3_allow entry "0x" decodes to 0 bytes, want 48"#);
    // Only one prefix is removed.
    assert_eq!(
        err(&format!("[policy]\nrtmr1_allow = [\"0x0x{H1}\"]")),
        format!(r#"policy.rtmr1_allow contains invalid hex "0x0x{H1}": encoding/hex: invalid byte: U+0078 'x'"#)
    );
    assert_eq!(
        err(&format!("[policy]\nrtmr2_allow = [\"{H1}\", \"{H1}00\"]")),
        format!(r#"policy.rtmr2_allow entry "{H1}00" decodes to 49 bytes, want 48"#)
    );
    assert_eq!(
        err("[providers.venice.policy]\nmrtd_allow = [\"\\tq\"]"),
        r#"providers.venice.policy: policy.mrtd_allow contains invalid hex "\tq": encoding/hex: invalid byte: U+0071 'q'"#
    );
    assert_eq!(
        err("[providers.nearcloud.policy]\ngateway_mrseam_allow = [\"é\"]"),
        r#"providers.nearcloud.policy (gateway): policy.gateway_mrseam_allow contains invalid hex "é": encoding/hex: invalid byte: U+00C3 'Ã'"#
    );
    assert_eq!(
        err(&format!("[policy]\ngateway_rtmr0_allow = [\"{}\"]", &H1[..94])),
        format!(r#"policy.gateway_rtmr0_allow entry "{}" decodes to 47 bytes, want 48"#, &H1[..94])
    );
}

#[test]
fn validation_order_follows_the_reference() {
    // max_conns before providers; providers (by name) before the global lists; a provider's
    // allow_fail, then its register lists, then its gateway lists; global allow_fail before the
    // global policy.
    let text = "max_conns = 0\nallow_fail = [\"x\"]\n[providers.b]\nallow_fail = [\"y\"]";
    assert!(err(text).starts_with("max_conns"));
    let text = "allow_fail = [\"x\"]\n[policy]\nmrtd_allow = []\n[providers.b]\nallow_fail = [\"y\"]\n[providers.a.policy]\ngateway_mrtd_allow = []\nmrtd_allow = []";
    assert!(err(text).starts_with("providers.a.policy: policy.mrtd_allow"), "{}", err(text));
    let text =
        "allow_fail = [\"x\"]\n[policy]\nmrtd_allow = []\n[providers.b]\nallow_fail = [\"y\"]\npolicy.rtmr0_allow = []";
    assert!(err(text).starts_with("providers.b.allow_fail"));
    assert!(err("[policy]\nmrtd_allow = []\nallow_fail = [\"x\"]").starts_with("allow_fail:"));
    assert!(err("[policy]\ngateway_mrtd_allow = []\nrtmr3_allow = []").starts_with("policy.rtmr3_allow"));
}

#[test]
fn every_error_displays_on_one_line() {
    let texts = [
        "a = \"\n",
        "x = 1",
        "[[x]]\n\"a\nb\" = 1",
        "allow_fail = [\"a\nb\"]",
        "[policy]\nmrtd_allow = [\"\r\n\"]",
        "[providers.\"p\nq\"]\ne2ee = 1",
        "max_conns = 0",
    ];
    for text in texts {
        let e = err(text);
        assert!(!e.contains('\n') && !e.contains('\r'), "{text:?}: {e}");
    }
}

// ---- allow-fail merge (§13.5) ----

#[test]
fn without_a_file_every_provider_gets_its_default() {
    let cfg = Config::default();
    for p in ProviderKind::ALL {
        assert_eq!(cfg.allow_fail_for(p, false), AllowFail::provider_default(p));
        assert_eq!(cfg.allow_fail_for(p, true), AllowFail::provider_default(p).with_online_factors());
    }
}

#[test]
fn the_provider_list_wins_then_root_then_policy_then_default() {
    let cfg = ok(r#"
allow_fail = ["cpu_gpu_chain"]
[policy]
allow_fail = ["nonce_match"]
[providers.venice]
allow_fail = ["tdx_boot_config"]
[providers.chutes]
base_url = "https://api.chutes.ai"
"#);
    assert_eq!(cfg.allow_fail_for(ProviderKind::Venice, false), set(&["tee_boot_config"]));
    assert_eq!(cfg.allow_fail_for(ProviderKind::Chutes, false), set(&["cpu_gpu_chain"]));
    assert_eq!(cfg.allow_fail_for(ProviderKind::NanoGpt, false), set(&["cpu_gpu_chain"]));

    let legacy = ok("[policy]\nallow_fail = [\"nonce_match\"]\n[providers.venice]\nallow_fail = [\"e2ee_usable\"]");
    assert_eq!(legacy.allow_fail_for(ProviderKind::NearCloud, false), set(&["nonce_match"]));
    assert_eq!(legacy.allow_fail_for(ProviderKind::Venice, false), set(&["e2ee_usable"]));

    let per_provider_only = ok("[providers.neardirect]\nallow_fail = [\"nvidia_claims\"]");
    assert_eq!(per_provider_only.allow_fail_for(ProviderKind::NearDirect, false), set(&["nvidia_claims"]));
    for p in [ProviderKind::Venice, ProviderKind::NearCloud, ProviderKind::Chutes] {
        assert_eq!(per_provider_only.allow_fail_for(p, false), AllowFail::provider_default(p));
    }
}

#[test]
fn an_explicit_empty_list_enforces_everything_at_every_level() {
    let enforce_all = AllowFail::default();
    let cfg = ok("allow_fail = [\"cpu_gpu_chain\"]\n[providers.chutes]\nallow_fail = []");
    assert_eq!(cfg.allow_fail_for(ProviderKind::Chutes, false), enforce_all);
    let cfg = ok("allow_fail = []");
    for p in ProviderKind::ALL {
        assert_eq!(cfg.allow_fail_for(p, false), enforce_all);
    }
    let cfg = ok("[policy]\nallow_fail = []");
    assert_eq!(cfg.allow_fail_for(ProviderKind::Chutes, false), enforce_all);
    // A per-provider empty list beats a non-empty root list, and vice versa a per-provider
    // list beats an empty root list.
    let cfg = ok("allow_fail = []\n[providers.venice]\nallow_fail = [\"nvidia_claims\"]");
    assert_eq!(cfg.allow_fail_for(ProviderKind::Venice, false), set(&["nvidia_claims"]));
}

#[test]
fn offline_adds_exactly_the_online_factors() {
    let cfg = ok("allow_fail = []\n[providers.venice]\nallow_fail = [\"nonce_match\"]");
    let online: Vec<&str> = Factor::ALL.iter().filter(|f| f.is_online()).map(|f| f.name()).collect();
    assert_eq!(online.len(), 9);
    assert_eq!(cfg.allow_fail_for(ProviderKind::Chutes, true), set(&online));
    let mut with_nonce = online.clone();
    with_nonce.push("nonce_match");
    assert_eq!(cfg.allow_fail_for(ProviderKind::Venice, true), set(&with_nonce));
    let offline = cfg.allow_fail_for(ProviderKind::Venice, true);
    assert!(offline.contains(Factor::IntelPcsCollateral) && offline.contains(Factor::GatewayCpuIdRegistry));
    assert!(!offline.contains(Factor::TeeQuoteSignature));
}

#[test]
fn sections_for_other_names_do_not_leak() {
    let cfg = ok("[providers.Venice]\nallow_fail = []\n[providers.tinfoil]\nallow_fail = []");
    assert_eq!(cfg.allow_fail_for(ProviderKind::Venice, false), AllowFail::provider_default(ProviderKind::Venice));
    assert!(cfg.provider(ProviderKind::Venice).is_none());
    assert_eq!(cfg.providers.len(), 2);
}

// ---- measurement policy merge (§13.6) ----

#[test]
fn policy_overrides_merge_field_by_field() {
    let cfg = ok(&format!(
        r#"
[policy]
mrtd_allow = ["{H1}"]
rtmr0_allow = ["{H1}"]
gateway_mrtd_allow = ["{H1}"]
gateway_rtmr2_allow = ["{H1}"]

[providers.nearcloud.policy]
mrtd_allow = ["{H2}"]
rtmr3_allow = ["{H2}"]
gateway_rtmr2_allow = ["{H2}"]
"#
    ));
    let near = cfg.policy_overrides_for(ProviderKind::NearCloud);
    assert_eq!(near.mrtd, Some(vec![m(H2)]));
    assert_eq!(near.rtmr0, Some(vec![m(H1)]));
    assert_eq!(near.rtmr3, Some(vec![m(H2)]));
    assert_eq!(near.gateway_mrtd, Some(vec![m(H1)]));
    assert_eq!(near.gateway_rtmr2, Some(vec![m(H2)]));
    assert_eq!((near.mrseam.as_ref(), near.rtmr1.as_ref(), near.gateway_rtmr0.as_ref()), (None, None, None));
    // Without a section (or with a section but no policy), the global lists.
    assert_eq!(cfg.policy_overrides_for(ProviderKind::Venice), cfg.policy);
    // Without a file, nothing: the built-in defaults apply.
    assert!(Config::default().policy_overrides_for(ProviderKind::Venice).is_empty());
}

#[test]
fn lists_pairs_every_field_with_its_key() {
    let mut p = PolicyOverrides::default();
    for (i, slot) in p.lists_mut().into_iter().enumerate() {
        *slot = Some(vec![[i as u8; 48]]);
    }
    assert_eq!(p.gateway_rtmr3, Some(vec![[11; 48]]));
    assert_eq!(p.rtmr2, Some(vec![[4; 48]]));
    for (i, (key, list)) in p.lists().into_iter().enumerate() {
        assert_eq!(key, LIST_KEYS[i]);
        assert_eq!(list, &Some(vec![[i as u8; 48]]));
    }
}

// ---- API keys (§13.3) ----

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
}

#[test]
fn api_keys_resolve_in_order() {
    let cfg = ok(r#"
[providers.venice]
api_key = "from-file"
api_key_env = "MY_VENICE"
[providers.chutes]
api_key = "chutes-file"
[providers.nanogpt]
api_key_env = "NANO_ALT"
[providers.phalacloud]
api_key = ""
api_key_env = ""
"#);
    let v = ProviderKind::Venice;
    assert_eq!(cfg.resolve_api_key(v, env(&[])).as_deref(), Some("from-file"));
    assert_eq!(cfg.resolve_api_key(v, env(&[("MY_VENICE", "")])).as_deref(), Some("from-file"));
    assert_eq!(cfg.resolve_api_key(v, env(&[("MY_VENICE", "named")])).as_deref(), Some("named"));
    // The well-known variable replaces whatever the section says.
    assert_eq!(cfg.resolve_api_key(v, env(&[("MY_VENICE", "named"), ("VENICE_API_KEY", "wk")])).as_deref(), Some("wk"));
    assert_eq!(cfg.resolve_api_key(v, env(&[("VENICE_API_KEY", "")])).as_deref(), Some("from-file"));
    assert_eq!(cfg.resolve_api_key(ProviderKind::Chutes, env(&[("CHUTES_API_KEY", "c")])).as_deref(), Some("c"));
    assert_eq!(cfg.resolve_api_key(ProviderKind::Chutes, env(&[])).as_deref(), Some("chutes-file"));
    assert_eq!(cfg.resolve_api_key(ProviderKind::NanoGpt, env(&[("NANO_ALT", "n")])).as_deref(), Some("n"));
    assert_eq!(cfg.resolve_api_key(ProviderKind::NanoGpt, env(&[])), None);
    // Empty key and empty variable name: no key, and no lookup of "".
    assert_eq!(cfg.resolve_api_key(ProviderKind::PhalaCloud, env(&[("", "x")])), None);
    // Providers without a section get the well-known variable; NEARAI_API_KEY serves both.
    let near = env(&[("NEARAI_API_KEY", "nk")]);
    assert_eq!(cfg.resolve_api_key(ProviderKind::NearDirect, &near).as_deref(), Some("nk"));
    assert_eq!(cfg.resolve_api_key(ProviderKind::NearCloud, &near).as_deref(), Some("nk"));
    assert_eq!(Config::default().resolve_api_key(ProviderKind::NearCloud, env(&[])), None);
    assert_eq!(
        Config::default().resolve_api_key(ProviderKind::PhalaCloud, env(&[("PHALA_API_KEY", "p")])).as_deref(),
        Some("p")
    );
}

#[test]
fn debug_never_shows_an_api_key() {
    let cfg = ok("[providers.venice]\napi_key = \"sk-SECRET-123\"\napi_key_env = \"VENICE_VAR\"\n[providers.other]\n");
    let debug = format!("{cfg:?} {:#?}", cfg.providers["venice"]);
    assert!(!debug.contains("sk-SECRET-123"), "{debug}");
    assert!(debug.contains("<redacted>") && debug.contains("VENICE_VAR"), "{debug}");
    // An absent key shows as absent.
    assert!(format!("{:?}", cfg.providers["other"]).contains("api_key: None"));
}

#[test]
fn measurement_policy_replaces_configured_registers_only() {
    use crate::attestation::policy::{MeasurementPolicy, Register};
    let a = "aa".repeat(48);
    let b = "bb".repeat(48);
    let cfg = ok(&format!(
        "[policy]\nmrtd_allow = [\"{a}\"]\ngateway_rtmr0_allow = [\"{a}\"]\n[providers.neardirect.policy]\nmrtd_allow = [\"{b}\"]\n"
    ));
    let nd = ProviderKind::NearDirect;
    let default = MeasurementPolicy::default_for(nd, false);
    let merged = cfg.measurement_policy(nd, false);
    // The provider section wins over the global section, which wins over the default.
    assert_eq!(merged.list(Register::Mrtd), &[[0xbb; 48]]);
    assert_ne!(default.list(Register::Mrtd), merged.list(Register::Mrtd));
    // Registers nobody configured keep the built-in default.
    assert_eq!(merged.list(Register::Mrseam), default.list(Register::Mrseam));
    // Another provider gets the global list.
    assert_eq!(cfg.measurement_policy(ProviderKind::Venice, false).list(Register::Mrtd), &[[0xaa; 48]]);
    // Gateway lists feed only the gateway policy.
    assert_eq!(cfg.measurement_policy(ProviderKind::NearCloud, true).list(Register::Rtmr0), &[[0xaa; 48]]);
    assert_eq!(merged.list(Register::Rtmr0), default.list(Register::Rtmr0));
}

#[test]
fn apply_sets_allow_fail_and_policies_on_a_verification() {
    let cfg = ok("allow_fail = []\n");
    let mut config = crate::verify::VerifyConfig::defaults(ProviderKind::Chutes);
    assert!(config.allow_fail.contains(Factor::NvidiaSignature));
    cfg.apply(ProviderKind::Chutes, false, &mut config);
    // An explicit empty list enforces every factor.
    assert!(!config.allow_fail.contains(Factor::NvidiaSignature));
    cfg.apply(ProviderKind::Chutes, true, &mut config);
    assert!(config.allow_fail.contains(Factor::IntelPcsCollateral), "offline adds the online factors");
}

#[test]
fn syntax_errors_name_line_and_column() {
    let err = Config::parse("allow_fail = [\n  \"x\" = 3\n").unwrap_err().to_string();
    assert!(err.starts_with("TOML decode: toml: line 2, column 7: "), "{err}");
    let err = Config::parse("é = [").unwrap_err().to_string();
    assert!(err.contains("line 1, column "), "{err}");
}
