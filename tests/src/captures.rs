//! Locating the recorded provider sessions in `../shared/captures`.

use std::path::PathBuf;

/// The captures folder beside the workspace, or `None` (after a loud message) when absent.
pub fn captures_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n*** SKIPPED: {} is absent; capture conformance tests did not run. ***\n",
            dir.display()
        );
        None
    }
}

/// Every capture directory that has a `manifest.json`, sorted by name.
pub fn replayable_captures() -> Vec<PathBuf> {
    let Some(dir) = captures_dir() else { return Vec::new() };
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read captures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    found.sort();
    found
}
