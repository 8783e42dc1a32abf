//! `teep serve` refuses to start, with one line saying why, when it has nothing to serve or
//! cannot use its listen address.

use std::process::Command;

const KEY_VARS: [&str; 5] = ["VENICE_API_KEY", "NEARAI_API_KEY", "CHUTES_API_KEY", "PHALA_API_KEY", "NANOGPT_API_KEY"];

fn teep(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_teep"));
    command.args(args).env_remove("TEEP_CONFIG").env_remove("TEEP_LISTEN_ADDR");
    for var in KEY_VARS {
        command.env_remove(var);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn serve_without_any_key_names_the_variables() {
    let (ok, stderr) = teep(&["serve"], &[]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "teep: no providers configured: set at least one provider API key (e.g. VENICE_API_KEY)");
}

#[test]
fn serve_with_a_bad_listen_address_says_so() {
    let (ok, stderr) = teep(&["serve", "--listen", "localhost"], &[("VENICE_API_KEY", "k")]);
    assert!(!ok);
    assert!(stderr.starts_with("teep: listen address \"localhost\":"), "{stderr}");
    let (ok, stderr) = teep(&["serve"], &[("VENICE_API_KEY", "k"), ("TEEP_LISTEN_ADDR", "nope")]);
    assert!(!ok);
    assert!(stderr.contains("listen address \"nope\""), "{stderr}");
}
