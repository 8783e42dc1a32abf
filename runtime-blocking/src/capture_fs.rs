//! Loading and saving capture directories with `std::fs`.
//!
//! Only file handling lives here: listing, size-capped reading, creating directories and
//! files with restrictive permissions. Parsing and serialising are proto-core's
//! ([`proto_core::capture`]). Every error is one line naming the path it concerns.
//!
//! ```no_run
//! use std::path::Path;
//! use proto_core::replay::ReplaySource;
//!
//! let capture = runtime_blocking::capture_fs::load_capture(Path::new("captures/venice_x_20260424_015841"))?;
//! let replay = ReplaySource::new(capture);
//! # Ok::<(), runtime_blocking::capture_fs::LoadError>(())
//! ```

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use proto_core::capture::{
    Capture, CaptureError, ExchangeFiles, MANIFEST_FILE, MAX_EXCHANGES, MAX_FILE_BYTES, REPORT_FILE, RESPONSES_DIR,
    is_legacy_nanogpt_layout,
};

/// Why a capture directory could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// Reading the file system failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file is larger than [`MAX_FILE_BYTES`]; it was not read.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// A file name in `responses/` is not valid UTF-8.
    NonUtf8Name {
        /// The file.
        path: PathBuf,
    },
    /// The files were read but do not form a valid capture.
    Capture {
        /// The capture directory.
        dir: PathBuf,
        /// What is wrong (names the file relative to `dir`).
        source: CaptureError,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { path, source } => write!(f, "{}: {}", shown(path), one_line(&source.to_string())),
            LoadError::TooLarge { path, size } => {
                write!(f, "{}: file exceeds {MAX_FILE_BYTES}-byte limit ({size} bytes)", shown(path))
            }
            LoadError::NonUtf8Name { path } => write!(f, "{}: file name is not valid UTF-8", shown(path)),
            LoadError::Capture { dir, source } => write!(f, "{}: {source}", shown(dir)),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io { source, .. } => Some(source),
            LoadError::Capture { source, .. } => Some(source),
            LoadError::TooLarge { .. } | LoadError::NonUtf8Name { .. } => None,
        }
    }
}

/// Loads the capture in `dir` (the directory holding `manifest.json` and `responses/`).
///
/// Every file's size is checked against [`MAX_FILE_BYTES`] before it is read (and the read
/// itself stops one byte past the limit, should the file grow meanwhile). A missing
/// `responses/` folder means no exchanges, as in the reference loader. A directory in the legacy
/// flat nanogpt layout is refused with [`CaptureError::LegacyNanogptLayout`].
pub fn load_capture(dir: &Path) -> Result<Capture, LoadError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = match read_capped(&manifest_path) {
        Err(LoadError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Err(missing_manifest(dir, source));
        }
        other => other?,
    };
    let responses = dir.join(RESPONSES_DIR);
    let mut stems = Vec::new();
    match fs::read_dir(&responses) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(LoadError::Io { path: responses, source }),
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|source| LoadError::Io { path: responses.clone(), source })?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    if Path::new(&name).extension().is_some_and(|ext| ext == "json") {
                        return Err(LoadError::NonUtf8Name { path: entry.path() });
                    }
                    continue;
                };
                if let Some(stem) = name.strip_suffix(".json") {
                    stems.push(stem.to_owned());
                }
            }
        }
    }
    if stems.len() > MAX_EXCHANGES {
        let source = CaptureError::TooManyExchanges { count: stems.len(), limit: MAX_EXCHANGES };
        return Err(LoadError::Capture { dir: dir.to_owned(), source });
    }
    stems.sort();
    let mut exchanges = Vec::with_capacity(stems.len());
    for stem in stems {
        let json = read_capped(&responses.join(format!("{stem}.json")))?;
        let body = match read_capped(&responses.join(format!("{stem}.body"))) {
            Ok(body) => Some(body),
            Err(LoadError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        exchanges.push(ExchangeFiles { stem, json, body });
    }
    Capture::from_files(&manifest, exchanges).map_err(|source| LoadError::Capture { dir: dir.to_owned(), source })
}

/// Reads `report.txt` of the capture in `dir` (size-capped like every capture file).
pub fn load_report(dir: &Path) -> Result<String, LoadError> {
    let path = dir.join(REPORT_FILE);
    let bytes = read_capped(&path)?;
    String::from_utf8(bytes).map_err(|e| LoadError::Io { path, source: io::Error::new(io::ErrorKind::InvalidData, e) })
}

/// Writes `capture` into `dir` (the capture directory itself, e.g. `DIR/<Manifest::dir_name()>`):
/// `manifest.json`, `responses/NNNN_<hostslug>.json` and `.body`.
///
/// Directories are created (with parents) with mode 0750, files with mode 0600 (on Unix). An
/// existing capture is never overwritten or mixed into: if `dir` already holds `manifest.json` or
/// a non-empty `responses/`, this fails with [`io::ErrorKind::AlreadyExists`]. Errors are one line
/// naming the path.
pub fn save_capture(dir: &Path, capture: &Capture) -> io::Result<()> {
    let responses = dir.join(RESPONSES_DIR);
    let manifest = dir.join(MANIFEST_FILE);
    if manifest.exists() {
        return Err(already_exists(&manifest));
    }
    create_dirs(&responses)?;
    if fs::read_dir(&responses).map_err(|e| annotate(&responses, e))?.next().is_some() {
        return Err(already_exists(&responses));
    }
    for (relative, bytes) in capture.to_files() {
        write_new(&dir.join(relative), &bytes)?;
    }
    Ok(())
}

/// Writes `report.txt` into the capture directory `dir` (mode 0600; never overwrites).
pub fn save_report(dir: &Path, text: &str) -> io::Result<()> {
    create_dirs(dir)?;
    write_new(&dir.join(REPORT_FILE), text.as_bytes())
}

/// Reads a whole file, refusing one larger than [`MAX_FILE_BYTES`] without reading it.
fn read_capped(path: &Path) -> Result<Vec<u8>, LoadError> {
    let io_err = |source| LoadError::Io { path: path.to_owned(), source };
    let file = File::open(path).map_err(io_err)?;
    let size = file.metadata().map_err(io_err)?.len();
    if size > MAX_FILE_BYTES {
        return Err(LoadError::TooLarge { path: path.to_owned(), size });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(LoadError::TooLarge { path: path.to_owned(), size: bytes.len() as u64 });
    }
    Ok(bytes)
}

/// Explains a missing `manifest.json`: the legacy nanogpt layout, or just missing.
fn missing_manifest(dir: &Path, not_found: io::Error) -> LoadError {
    let names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect(),
        Err(source) => return LoadError::Io { path: dir.to_owned(), source },
    };
    if is_legacy_nanogpt_layout(&names) {
        return LoadError::Capture { dir: dir.to_owned(), source: CaptureError::LegacyNanogptLayout };
    }
    LoadError::Io { path: dir.join(MANIFEST_FILE), source: not_found }
}

fn create_dirs(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o750);
    builder.create(path).map_err(|e| annotate(path, e))
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| annotate(path, e))?;
    file.write_all(bytes).map_err(|e| annotate(path, e))
}

fn already_exists(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{}: a capture is already there; not overwriting", shown(path)),
    )
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {}", shown(path), one_line(&e.to_string())))
}

/// A path for a one-line message.
fn shown(path: &Path) -> String {
    one_line(&path.display().to_string())
}

fn one_line(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}
