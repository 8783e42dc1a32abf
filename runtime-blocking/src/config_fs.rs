//! Loading the TOML configuration file with `std::fs`.
//!
//! The file's path comes from `--config` or `TEEP_CONFIG` (the caller decides which); parsing
//! and validation are proto-core's ([`proto_core::config::Config::parse`]). Every error is one
//! line, `loading config file "<path>": <reason>`, and a file that anyone but its owner may read
//! or write yields a warning (it can hold API keys).

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use proto_core::config::{Config, ConfigError};

/// Largest configuration file read (a real one is a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A loaded configuration and what the user should be told about the file.
#[derive(Debug)]
pub struct LoadedConfig {
    /// The parsed file.
    pub config: Config,
    /// Non-fatal findings (loose permissions), one line each.
    pub warnings: Vec<String>,
}

/// Why the configuration file was refused.
#[derive(Debug)]
pub struct ConfigLoadError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong, one line.
    pub reason: String,
}

impl fmt::Display for ConfigLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loading config file {:?}: {}", self.path.display().to_string(), self.reason)
    }
}

impl std::error::Error for ConfigLoadError {}

/// Reads and validates the configuration file at `path`.
pub fn load_config(path: &Path) -> Result<LoadedConfig, ConfigLoadError> {
    let fail = |reason: String| ConfigLoadError { path: path.to_owned(), reason };
    let file = File::open(path).map_err(|e| fail(e.to_string()))?;
    let metadata = file.metadata().map_err(|e| fail(e.to_string()))?;
    if !metadata.is_file() {
        return Err(fail("not a regular file".into()));
    }
    if metadata.len() > MAX_CONFIG_BYTES {
        return Err(fail(format!("{} bytes, larger than the {MAX_CONFIG_BYTES}-byte limit", metadata.len())));
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text).map_err(|e| fail(e.to_string()))?;
    let config = Config::parse(&text).map_err(|e: ConfigError| fail(e.to_string()))?;
    let mut warnings = Vec::new();
    if let Some(mode) = loose_mode(&metadata) {
        warnings.push(format!(
            "config file {:?} is readable or writable by others (mode {mode:o}); it may hold API keys: chmod 600 it",
            path.display().to_string()
        ));
    }
    Ok(LoadedConfig { config, warnings })
}

/// The file's mode when group or others may read or write it.
#[cfg(unix)]
fn loose_mode(metadata: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    (mode & 0o066 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn loose_mode(_metadata: &std::fs::Metadata) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(name: &str, text: &str, mode: u32) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("teep-config-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("teep.toml");
        std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let _ = mode;
        path
    }

    #[test]
    fn a_valid_private_file_loads_without_warnings() {
        let path = write("ok", "allow_fail = [\"cpu_id_registry\"]\n", 0o600);
        let loaded = load_config(&path).unwrap();
        assert_eq!(loaded.config.allow_fail.as_ref().map(Vec::len), Some(1));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[cfg(unix)]
    #[test]
    fn a_world_readable_file_warns() {
        let path = write("loose", "", 0o644);
        let loaded = load_config(&path).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("644"), "{:?}", loaded.warnings);
    }

    #[test]
    fn errors_name_the_file_and_the_reason_on_one_line() {
        let path = write("bad", "allow_fail = [\"no_such_factor\"]\n", 0o600);
        let message = load_config(&path).unwrap_err().to_string();
        assert!(message.starts_with("loading config file \""), "{message}");
        assert!(message.contains("no_such_factor") && !message.contains('\n'), "{message}");
        let missing = load_config(Path::new("/nonexistent/teep.toml")).unwrap_err().to_string();
        assert!(missing.contains("/nonexistent/teep.toml"), "{missing}");
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let path = write("syntax", "allow_fail = [\n\"x\" = 3\n", 0o600);
        let message = load_config(&path).unwrap_err().to_string();
        assert!(message.contains("line 2, column"), "{message}");
    }
}
