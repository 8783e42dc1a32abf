//! The README states facts the code decides; these tests keep the two equal.

use proto_core::report::{DEVIATIONS, factor_table_markdown};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md")
}

#[test]
fn the_factor_table_is_the_one_the_code_enforces() {
    let table = factor_table_markdown();
    assert!(
        readme().contains(&table),
        "README.md's factor table is out of date; replace it with:\n\n{table}"
    );
}

#[test]
fn every_verdict_deviation_is_listed_in_the_readme() {
    let readme = readme();
    for d in DEVIATIONS {
        let entry = format!("`{}` / `{}`", d.provider, d.factor.name());
        assert!(readme.contains(&entry), "README.md does not list the deviation {entry}: {}", d.reason);
    }
}

#[test]
fn the_two_newcomer_commands_are_near_the_top() {
    let readme = readme();
    let top: String = readme.lines().take(40).collect::<Vec<_>>().join("\n");
    assert!(top.contains("cargo test --workspace"), "the test command must be near the top");
    assert!(top.contains("-- demo") || top.contains("verify --replay"), "the keyless command must be near the top");
}
