//! Replaying recorded sessions from plain synchronous code.

use std::path::Path;

use proto_core::verify::ReplayOutcome;

use crate::capture_fs;

/// Loads and verifies the capture in `dir` (nonce and clock from the manifest, no network).
pub fn verify_capture(dir: &Path) -> Result<ReplayOutcome, String> {
    let capture = capture_fs::load_capture(dir).map_err(|e| e.to_string())?;
    proto_core::verify::replay_capture(&capture).map_err(|e| e.to_string())
}
