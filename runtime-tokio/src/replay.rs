//! Replaying recorded sessions from a tokio application.
//!
//! Files are read by `runtime_blocking::capture_fs` on tokio's blocking pool, so the executor
//! never blocks; verification itself is proto-core's pure computation.

use std::path::{Path, PathBuf};

use proto_core::capture::Capture;
use proto_core::verify::{ReplayOutcome, ReplayError};
use runtime_blocking::capture_fs::{self, LoadError};

/// Loads the capture in `dir`.
pub async fn load_capture(dir: &Path) -> Result<Capture, LoadError> {
    let dir: PathBuf = dir.to_owned();
    match tokio::task::spawn_blocking(move || capture_fs::load_capture(&dir)).await {
        Ok(result) => result,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

/// Loads and verifies the capture in `dir` (nonce and clock from the manifest, no network).
pub async fn verify_capture(dir: &Path) -> Result<ReplayOutcome, String> {
    let capture = load_capture(dir).await.map_err(|e| e.to_string())?;
    proto_core::verify::replay_capture(&capture).map_err(|e: ReplayError| e.to_string())
}
