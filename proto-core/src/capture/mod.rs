//! Capture format: recorded provider sessions (spec `capture-replay.md` §2).
//!
//! A capture directory holds `manifest.json` (provider, model, the client nonce, capture time,
//! the E2EE test outcome) and, per recorded HTTP exchange, `responses/NNNN_<hostslug>.json`
//! (method, URL, status, headers, request body) plus `responses/NNNN_<hostslug>.body` (the
//! response body bytes). This module parses and writes those files **from and to memory**:
//! reading and writing the file system is the runtime's job (`runtime_blocking::capture_fs`).
//!
//! Reading is strict about what matters and lenient about what does not:
//! * every file is capped at [`MAX_FILE_BYTES`], a capture at [`MAX_EXCHANGES`] exchanges;
//! * malformed JSON, a missing required field, a wrongly typed field, bad base64, a missing
//!   `.body`, a nonce that is not 32 bytes of hex, or a bad `captured_at` is a [`CaptureError`],
//!   whose `Display` is one line naming the file and, where there is one, the field;
//! * unknown fields are ignored and listed in [`Capture::warnings`]; `null` counts as absent;
//! * duplicate keys in one JSON object are an error (the reference reader silently keeps the
//!   last one; here an ambiguous file is refused).
//!
//! Writing ([`Capture::to_files`]) produces the reference layout: 2-space indentation, fields in
//! the specification's order, `<` `>` `&` escaped as `\u003c` `\u003e` `\u0026`, no trailing
//! newline, files named `NNNN_<hostslug>` by position and URL (§2.3). For the captures written
//! by the reference tool the output is byte-identical to the input.
//!
//! The legacy flat directory `nanogpt_20260325_225022` (no `manifest.json`; per model
//! `<model>_attestation.json`, `<model>_headers.json`, `<model>_nonce.txt`) holds no request
//! URLs and so cannot answer a replay. It is not parsed: [`is_legacy_nanogpt_layout`] recognises
//! its file listing, and loaders report [`CaptureError::LegacyNanogptLayout`].

mod json;
#[cfg(test)]
mod tests;
pub(crate) mod url;

use std::fmt::Write as _;
use std::str::FromStr;

use base64::Engine as _;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use time::UtcOffset;
use time::format_description::well_known::Rfc3339;

use crate::fetch::FetchResponse;
use crate::io::UnixTime;
use crate::provider::{ProviderKind, UnknownProvider};
use crate::tls::SpkiHash;
use json::{Out, RawObject};

/// The calendar type of [`Manifest::captured_at`], re-exported so callers need no `time` dependency.
pub use time::OffsetDateTime;

/// Largest file a capture may contain (10 MiB), checked for every file read.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// Most exchanges one capture may hold: what a four-digit `NNNN_` file prefix can number.
pub const MAX_EXCHANGES: usize = 9_999;

/// Name of the manifest file inside a capture directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Name of the folder holding the exchanges inside a capture directory.
pub const RESPONSES_DIR: &str = "responses";

/// Name of the reference report inside a capture directory (not handled by this module).
pub const REPORT_FILE: &str = "report.txt";

/// How many characters of an offending value an error message quotes.
const QUOTE_LIMIT: usize = 80;

/// A whole capture: manifest plus exchanges in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// The manifest.
    pub manifest: Manifest,
    /// The recorded exchanges, in file (= recording) order.
    pub exchanges: Vec<Exchange>,
    /// Things tolerated while reading (unknown fields, negative durations), one line each,
    /// naming the file. Empty for a capture built in memory.
    pub warnings: Vec<String>,
}

/// `manifest.json` (spec §2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Provider name as recorded (`venice`, `neardirect`, …).
    pub provider: String,
    /// Model exactly as given when capturing.
    pub model: String,
    /// The 32-byte client nonce (`nonce_hex` on disk, checked to be 64 hex digits).
    pub nonce: [u8; 32],
    /// When the capture was saved, in UTC, fractional seconds kept.
    pub captured_at: OffsetDateTime,
    /// Sum of the exchanges' times to response headers, when recorded.
    pub duration_ms: Option<u64>,
    /// The live E2EE test outcome, when there was one.
    pub e2ee: Option<E2eeOutcome>,
    /// The run error, when verification failed.
    pub error: Option<String>,
}

/// The manifest's `e2ee` object (spec §2.2.1). Empty strings and `false` mean "absent", as on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct E2eeOutcome {
    /// The test request was sent.
    pub attempted: bool,
    /// Skipped for lack of an API key.
    pub no_api_key: bool,
    /// The environment variable that would have held the key.
    pub api_key_env: String,
    /// The test failed.
    pub failed: bool,
    /// The failure text (when `failed`).
    pub error: String,
    /// Success or skip detail.
    pub detail: String,
    /// Key type of the attested E2EE key (`ecdsa`, `ed25519`, `ml-kem-768`, …).
    pub key_type: String,
}

/// `responses/NNNN_<hostslug>.json` (spec §2.3): one recorded exchange, without its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeMeta {
    /// Request method as recorded (`GET`, `POST`).
    pub method: String,
    /// Full request URL, query included.
    pub url: String,
    /// Response status.
    pub status: u16,
    /// Response protocol (`HTTP/1.1`, `HTTP/2.0`).
    pub proto: Option<String>,
    /// Negotiated TLS version (`TLS 1.3`).
    pub tls_version: Option<String>,
    /// Negotiated cipher suite (IANA name).
    pub tls_cipher: Option<String>,
    /// DER SubjectPublicKeyInfo of the peer's leaf certificate (`peer_spki_der_base64`, decoded).
    pub peer_spki_der: Option<Vec<u8>>,
    /// Response headers in file order: canonical name → values.
    pub headers: Vec<(String, Vec<String>)>,
    /// Request body (`req_body_base64`, decoded).
    pub req_body: Option<Vec<u8>>,
    /// Time from sending to response headers, when recorded.
    pub duration_ms: Option<u64>,
}

/// One recorded exchange: metadata, response body, and the file stem it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The metadata file's content.
    pub meta: ExchangeMeta,
    /// The response body (`.body` file), exactly as the verifier received it.
    pub body: Vec<u8>,
    /// File name without extension, e.g. `0001_api.venice.ai_api_v1_tee_attestation`.
    pub file_stem: String,
}

/// The raw files of one exchange, as handed to [`Capture::from_files`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeFiles {
    /// File name without directory and extension: `NNNN_<hostslug>`.
    pub stem: String,
    /// Content of `<stem>.json`.
    pub json: Vec<u8>,
    /// Content of `<stem>.body`, `None` when that file does not exist.
    pub body: Option<Vec<u8>>,
}

impl From<(String, Vec<u8>, Option<Vec<u8>>)> for ExchangeFiles {
    fn from((stem, json, body): (String, Vec<u8>, Option<Vec<u8>>)) -> Self {
        ExchangeFiles { stem, json, body }
    }
}

/// Why a capture could not be read. `Display` is one line naming the file (relative to the
/// capture directory) and, where there is one, the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// A file is larger than [`MAX_FILE_BYTES`].
    #[error("{file}: file exceeds {limit}-byte limit ({size} bytes)")]
    TooLarge {
        /// The file.
        file: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A JSON file does not parse as one JSON object.
    #[error("{file}: malformed JSON: {detail}")]
    Json {
        /// The file.
        file: String,
        /// The parser's message.
        detail: String,
    },
    /// A required field is absent (or `null`).
    #[error("{file}: missing required field {field}")]
    MissingField {
        /// The file.
        file: String,
        /// The field (`e2ee.attempted` style for nested ones).
        field: &'static str,
    },
    /// A field has the wrong type or an invalid value.
    #[error("{file}: {field}: {detail}")]
    InvalidField {
        /// The file.
        file: String,
        /// The field.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// An exchange's `.body` file is missing.
    #[error("{file}: missing (every responses/*.json needs its .body file)")]
    MissingBody {
        /// The missing `.body` file.
        file: String,
    },
    /// An exchange file name does not start with four digits and `_`, or contains a path separator.
    #[error("{file}: file name must look like NNNN_<host>.json (four digits, underscore)")]
    BadFileName {
        /// The file.
        file: String,
    },
    /// The same exchange file was handed over twice.
    #[error("{file}: listed twice")]
    DuplicateFile {
        /// The file.
        file: String,
    },
    /// More than [`MAX_EXCHANGES`] exchange files.
    #[error("{RESPONSES_DIR}: {count} exchanges exceed the limit of {limit}")]
    TooManyExchanges {
        /// How many there are.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The directory is the legacy flat nanogpt sample layout (spec §2.6).
    #[error("legacy nanogpt sample directory (no manifest.json): not a replayable capture")]
    LegacyNanogptLayout,
}

impl Capture {
    /// A capture built in memory; exchange file stems are assigned by position and URL.
    pub fn new(manifest: Manifest, exchanges: Vec<(ExchangeMeta, Vec<u8>)>) -> Self {
        let exchanges = exchanges
            .into_iter()
            .enumerate()
            .map(|(i, (meta, body))| Exchange { file_stem: exchange_file_stem(i + 1, &meta.url), meta, body })
            .collect();
        Capture { manifest, exchanges, warnings: Vec::new() }
    }

    /// Parses a capture from the content of its files.
    ///
    /// `exchange_files` may come in any order; they are sorted by file name (`<stem>.json`,
    /// byte-wise, which is numeric order thanks to the zero padding). The first problem found,
    /// manifest first, then exchanges in that order, is returned.
    pub fn from_files(manifest_json: &[u8], exchange_files: Vec<ExchangeFiles>) -> Result<Capture, CaptureError> {
        let mut warnings = Vec::new();
        let manifest = Manifest::parse(manifest_json, &mut warnings)?;
        if exchange_files.len() > MAX_EXCHANGES {
            return Err(CaptureError::TooManyExchanges { count: exchange_files.len(), limit: MAX_EXCHANGES });
        }
        let mut files = exchange_files;
        files.sort_by_cached_key(|f| json_file_name(&f.stem));
        if let Some(pair) = files.windows(2).find(|pair| pair[0].stem == pair[1].stem) {
            return Err(CaptureError::DuplicateFile { file: one_line(&json_file_name(&pair[0].stem)) });
        }
        let mut exchanges = Vec::with_capacity(files.len());
        for ExchangeFiles { stem, json, body } in files {
            let json_name = one_line(&json_file_name(&stem));
            if !is_valid_stem(&stem) {
                return Err(CaptureError::BadFileName { file: json_name });
            }
            let meta = ExchangeMeta::parse(&json_name, &json, &mut warnings)?;
            let body_name = one_line(&format!("{RESPONSES_DIR}/{stem}.body"));
            let body = body.ok_or(CaptureError::MissingBody { file: body_name.clone() })?;
            check_size(&body_name, body.len())?;
            exchanges.push(Exchange { meta, body, file_stem: stem });
        }
        Ok(Capture { manifest, exchanges, warnings })
    }

    /// The files of this capture, as (path relative to the capture directory, content):
    /// `manifest.json`, then per exchange `responses/NNNN_<hostslug>.json` and `.body`.
    ///
    /// File names are recomputed from each exchange's position and URL (spec §2.3), so they
    /// may differ from [`Exchange::file_stem`] for a capture whose files were numbered with
    /// gaps. `report.txt` is not part of a [`Capture`]; write it separately. A capture with more
    /// than [`MAX_EXCHANGES`] exchanges gets five-digit numbers that reading refuses.
    pub fn to_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::with_capacity(1 + 2 * self.exchanges.len());
        files.push((MANIFEST_FILE.to_owned(), self.manifest.to_json()));
        for (i, exchange) in self.exchanges.iter().enumerate() {
            let stem = exchange_file_stem(i + 1, &exchange.meta.url);
            files.push((format!("{RESPONSES_DIR}/{stem}.json"), exchange.meta.to_json()));
            files.push((format!("{RESPONSES_DIR}/{stem}.body"), exchange.body.clone()));
        }
        files
    }
}

impl Manifest {
    /// Parses `manifest.json`; tolerated oddities are appended to `warnings`.
    pub fn parse(bytes: &[u8], warnings: &mut Vec<String>) -> Result<Manifest, CaptureError> {
        let file = MANIFEST_FILE;
        check_size(file, bytes.len())?;
        let object = json::parse_object(bytes).map_err(|detail| CaptureError::Json { file: file.into(), detail })?;
        let mut fields = Fields::new(file, "", object);
        let provider = fields.required_string("provider")?;
        let model = fields.required_string("model")?;
        let nonce_hex = fields.required_string("nonce_hex")?;
        let nonce = decode_nonce(&nonce_hex).map_err(|detail| fields.invalid("nonce_hex", detail))?;
        let captured_text = fields.required_string("captured_at")?;
        let captured_at = OffsetDateTime::parse(&captured_text, &Rfc3339)
            .ok()
            .and_then(|t| t.checked_to_offset(UtcOffset::UTC))
            .ok_or_else(|| {
                fields.invalid("captured_at", format!("expected an RFC 3339 timestamp, got {}", quote(&captured_text)))
            })?;
        let duration_ms = fields.duration("duration_ms", warnings)?;
        if let Some(ms) = duration_ms
            && add_ms(captured_at, ms).is_none()
        {
            return Err(fields.invalid("duration_ms", format!("{ms} ms after captured_at is past year 9999")));
        }
        let e2ee = match fields.object("e2ee")? {
            None => None,
            Some(object) => {
                let mut sub = Fields::new(file, "e2ee.", object);
                let outcome = E2eeOutcome {
                    attempted: sub.bool("attempted")?.unwrap_or(false),
                    no_api_key: sub.bool("no_api_key")?.unwrap_or(false),
                    api_key_env: sub.string("api_key_env")?.unwrap_or_default(),
                    failed: sub.bool("failed")?.unwrap_or(false),
                    error: sub.string("error")?.unwrap_or_default(),
                    detail: sub.string("detail")?.unwrap_or_default(),
                    key_type: sub.string("key_type")?.unwrap_or_default(),
                };
                sub.finish(warnings);
                Some(outcome)
            }
        };
        let error = fields.string("error")?;
        fields.finish(warnings);
        Ok(Manifest { provider, model, nonce, captured_at, duration_ms, e2ee, error })
    }

    /// The manifest in the reference layout.
    pub fn to_json(&self) -> Vec<u8> {
        let mut members = vec![
            ("provider".to_owned(), Out::Str(self.provider.clone())),
            ("model".to_owned(), Out::Str(self.model.clone())),
            ("nonce_hex".to_owned(), Out::Str(self.nonce_hex())),
            ("captured_at".to_owned(), Out::Str(self.captured_at_rfc3339())),
        ];
        if let Some(ms) = self.duration_ms {
            members.push(("duration_ms".to_owned(), Out::UInt(ms)));
        }
        if let Some(e2ee) = &self.e2ee {
            let mut sub = vec![("attempted".to_owned(), Out::Bool(e2ee.attempted))];
            if e2ee.no_api_key {
                sub.push(("no_api_key".to_owned(), Out::Bool(true)));
            }
            push_nonempty(&mut sub, "api_key_env", &e2ee.api_key_env);
            if e2ee.failed {
                sub.push(("failed".to_owned(), Out::Bool(true)));
            }
            push_nonempty(&mut sub, "error", &e2ee.error);
            push_nonempty(&mut sub, "detail", &e2ee.detail);
            push_nonempty(&mut sub, "key_type", &e2ee.key_type);
            members.push(("e2ee".to_owned(), Out::Obj(sub)));
        }
        if let Some(error) = &self.error {
            members.push(("error".to_owned(), Out::Str(error.clone())));
        }
        json::to_indented(&Out::Obj(members))
    }

    /// The client nonce.
    pub fn nonce(&self) -> [u8; 32] {
        self.nonce
    }

    /// The client nonce as 64 lower-case hex digits (the URL and file form).
    pub fn nonce_hex(&self) -> String {
        hex::encode(self.nonce)
    }

    /// The provider, if it is one of the six known ones.
    pub fn provider_kind(&self) -> Result<ProviderKind, UnknownProvider> {
        ProviderKind::from_str(&self.provider)
    }

    /// `captured_at` in the file's form: RFC 3339, UTC, trailing fractional zeros dropped.
    pub fn captured_at_rfc3339(&self) -> String {
        format_rfc3339(self.captured_at)
    }

    /// The pinned verification time T of spec §4.3: `captured_at` + `duration_ms`
    /// (`captured_at` alone when the duration is absent or 0). Saturates at the end of year
    /// 9999 for a hand-built manifest whose sum overflows (parsing refuses such manifests).
    pub fn verification_datetime(&self) -> OffsetDateTime {
        let ms = self.duration_ms.unwrap_or(0);
        add_ms(self.captured_at, ms).unwrap_or_else(end_of_year_9999)
    }

    /// [`Self::verification_datetime`] as the wall-clock type machines take ([`crate::io::Now`]),
    /// rounded down to whole seconds (0 for times before 1970).
    pub fn verification_time(&self) -> UnixTime {
        let secs = u64::try_from(self.verification_datetime().unix_timestamp()).unwrap_or(0);
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
    }

    /// [`Self::verification_datetime`] in RFC 3339 (UTC, trailing fractional zeros dropped).
    pub fn verified_at_rfc3339(&self) -> String {
        format_rfc3339(self.verification_datetime())
    }

    /// The directory name a capture of this manifest gets (spec §2.1):
    /// `<provider>_<model-slug>_<YYYYMMDD>_<HHMMSS>`. The provider passes through the same
    /// character filter as the model (a no-op for real provider names), so the name is always
    /// one safe path component.
    pub fn dir_name(&self) -> String {
        let t = utc(self.captured_at);
        format!(
            "{}_{}_{:04}{:02}{:02}_{:02}{:02}{:02}",
            slug_chars(&self.provider, true),
            slug_chars(&self.model, false),
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl ExchangeMeta {
    /// Parses one exchange metadata file; `file` names it in errors and warnings.
    pub fn parse(file: &str, bytes: &[u8], warnings: &mut Vec<String>) -> Result<ExchangeMeta, CaptureError> {
        check_size(file, bytes.len())?;
        let object = json::parse_object(bytes).map_err(|detail| CaptureError::Json { file: file.into(), detail })?;
        let mut fields = Fields::new(file, "", object);
        let method = fields.required_string("method")?;
        let url = fields.required_string("url")?;
        let status = match fields.required("status")? {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            other => return Err(fields.invalid("status", format!("expected an integer, got {}", json::kind(&other)))),
        }
        .ok_or_else(|| fields.invalid("status", "expected an integer from 0 to 65535".into()))?;
        let proto = fields.string("proto")?;
        let tls_version = fields.string("tls_version")?;
        let tls_cipher = fields.string("tls_cipher")?;
        let peer_spki_der = fields.base64("peer_spki_der_base64")?;
        let headers = match fields.object("headers")? {
            None => return Err(CaptureError::MissingField { file: file.into(), field: "headers" }),
            Some(object) => parse_headers(file, object)?,
        };
        let req_body = fields.base64("req_body_base64")?;
        let duration_ms = fields.duration("duration_ms", warnings)?;
        fields.finish(warnings);
        Ok(ExchangeMeta {
            method,
            url,
            status,
            proto,
            tls_version,
            tls_cipher,
            peer_spki_der,
            headers,
            req_body,
            duration_ms,
        })
    }

    /// The metadata in the reference layout.
    pub fn to_json(&self) -> Vec<u8> {
        let b64 = |bytes: &Vec<u8>| Out::Str(base64::engine::general_purpose::STANDARD.encode(bytes));
        let mut members = vec![
            ("method".to_owned(), Out::Str(self.method.clone())),
            ("url".to_owned(), Out::Str(self.url.clone())),
            ("status".to_owned(), Out::UInt(u64::from(self.status))),
        ];
        for (name, value) in
            [("proto", &self.proto), ("tls_version", &self.tls_version), ("tls_cipher", &self.tls_cipher)]
        {
            if let Some(value) = value {
                members.push((name.to_owned(), Out::Str(value.clone())));
            }
        }
        if let Some(der) = &self.peer_spki_der {
            members.push(("peer_spki_der_base64".to_owned(), b64(der)));
        }
        let headers = self
            .headers
            .iter()
            .map(|(name, values)| (name.clone(), Out::Arr(values.iter().map(|v| Out::Str(v.clone())).collect())))
            .collect();
        members.push(("headers".to_owned(), Out::Obj(headers)));
        if let Some(body) = &self.req_body {
            members.push(("req_body_base64".to_owned(), b64(body)));
        }
        if let Some(ms) = self.duration_ms {
            members.push(("duration_ms".to_owned(), Out::UInt(ms)));
        }
        json::to_indented(&Out::Obj(members))
    }

    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .find_map(|(_, values)| values.first())
            .map(String::as_str)
    }

    /// Headers as (name, value) pairs: every value of every name, in file order.
    pub fn flat_headers(&self) -> Vec<(String, String)> {
        self.headers.iter().flat_map(|(name, values)| values.iter().map(move |v| (name.clone(), v.clone()))).collect()
    }

    /// SHA-256 of the recorded peer SPKI DER, when one was recorded (an empty one counts as none).
    pub fn peer_spki(&self) -> Option<SpkiHash> {
        self.peer_spki_der.as_ref().filter(|der| !der.is_empty()).map(|der| SpkiHash(Sha256::digest(der).into()))
    }

    /// The request body; empty when none was recorded.
    pub fn req_body_bytes(&self) -> &[u8] {
        self.req_body.as_deref().unwrap_or(&[])
    }
}

impl Exchange {
    /// The recorded answer in layer-2 form: status, flattened headers, body, peer SPKI.
    pub fn fetch_response(&self) -> FetchResponse {
        FetchResponse {
            status: self.meta.status,
            headers: self.meta.flat_headers(),
            body: self.body.clone(),
            peer_spki: self.meta.peer_spki(),
        }
    }
}

/// The file stem of the `number`-th (1-based) exchange: `NNNN_<hostslug>` (spec §2.3).
pub fn exchange_file_stem(number: usize, url: &str) -> String {
    format!("{number:04}_{}", host_slug(url))
}

/// The `<hostslug>` of spec §2.3: host without port, then `_` and the decoded path with `/` as
/// `_` (leading and trailing `/` trimmed), lower-cased, characters outside `a-z 0-9 - . _` as
/// `_`, cut to 80 bytes. An unsplittable URL gives 16 hex digits of its SHA-256.
pub fn host_slug(url: &str) -> String {
    let Ok(parts) = url::SplitUrl::parse(url) else {
        return hex::encode(&Sha256::digest(url.as_bytes())[..8]);
    };
    let mut raw = parts.hostname().as_bytes().to_vec();
    let path = trim_slashes(&parts.path);
    if !path.is_empty() {
        raw.push(b'_');
        raw.extend(path.iter().map(|&b| if b == b'/' { b'_' } else { b }));
    }
    let mut slug = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        slug.push_str(&slug_chars(chunk.valid(), true));
        slug.extend(chunk.invalid().iter().map(|_| '_'));
    }
    slug.truncate(80); // all ASCII by now
    slug
}

/// True when `names` (the entries of one directory) look like the legacy flat nanogpt sample
/// layout (spec §2.6): no `manifest.json`, but `<model>_attestation.json` files next to
/// `<model>_nonce.txt` files or a `models.json`.
pub fn is_legacy_nanogpt_layout<S: AsRef<str>>(names: &[S]) -> bool {
    let has = |pred: &dyn Fn(&str) -> bool| names.iter().any(|n| pred(n.as_ref()));
    !has(&|n| n == MANIFEST_FILE)
        && has(&|n| n.ends_with("_attestation.json"))
        && has(&|n| n.ends_with("_nonce.txt") || n == "models.json")
}

/// Four ASCII digits, `_`, and no path separator, NUL or other control character.
fn is_valid_stem(stem: &str) -> bool {
    let b = stem.as_bytes();
    b.len() >= 5
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'_'
        && !stem.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

fn json_file_name(stem: &str) -> String {
    format!("{RESPONSES_DIR}/{stem}.json")
}

fn check_size(file: &str, len: usize) -> Result<(), CaptureError> {
    let size = len as u64;
    if size > MAX_FILE_BYTES {
        return Err(CaptureError::TooLarge { file: file.into(), size, limit: MAX_FILE_BYTES });
    }
    Ok(())
}

fn decode_nonce(text: &str) -> Result<[u8; 32], String> {
    let count = text.chars().count();
    if count != 64 {
        return Err(format!("expected 64 hex characters, got {count}"));
    }
    let mut nonce = [0u8; 32];
    hex::decode_to_slice(text, &mut nonce).map_err(|e| format!("invalid hex: {e}"))?;
    Ok(nonce)
}

fn add_ms(t: OffsetDateTime, ms: u64) -> Option<OffsetDateTime> {
    let ms = i64::try_from(ms).ok()?;
    let sum = t.checked_add(time::Duration::milliseconds(ms))?;
    (sum.year() <= 9999).then_some(sum)
}

fn end_of_year_9999() -> OffsetDateTime {
    // 9999-12-31T23:59:59.999999999Z
    OffsetDateTime::from_unix_timestamp_nanos(253_402_300_799_999_999_999).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn utc(t: OffsetDateTime) -> OffsetDateTime {
    t.checked_to_offset(UtcOffset::UTC).unwrap_or(t)
}

/// RFC 3339 in UTC with the fraction's trailing zeros dropped (`2026-05-20T02:18:19.07796Z`).
fn format_rfc3339(t: OffsetDateTime) -> String {
    let t = utc(t);
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.nanosecond() != 0 {
        let fraction = format!("{:09}", t.nanosecond());
        let _ = write!(text, ".{}", fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

fn trim_slashes(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b'/').unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|&b| b != b'/').map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Lower-cases `text` with Go's simple case mapping for the two non-ASCII letters that map to
/// ASCII (KELVIN SIGN → `k`, LATIN CAPITAL I WITH DOT ABOVE → `i`), then keeps `a-z 0-9 - .`
/// (and `_` when `keep_underscore`, a no-op distinction since `_` is the replacement) and
/// replaces every other character with `_`.
fn slug_chars(text: &str, keep_underscore: bool) -> String {
    text.chars()
        .map(|c| {
            let c = match c {
                '\u{212A}' => 'k',
                '\u{0130}' => 'i',
                c => c.to_ascii_lowercase(),
            };
            let keep =
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || (keep_underscore && c == '_');
            if keep { c } else { '_' }
        })
        .collect()
}

fn push_nonempty(members: &mut Vec<(String, Out)>, name: &str, value: &str) {
    if !value.is_empty() {
        members.push((name.to_owned(), Out::Str(value.to_owned())));
    }
}

/// Escapes control characters so a message stays on one line.
fn one_line(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}

/// A short, quoted, one-line rendering of an offending value.
fn quote(text: &str) -> String {
    let mut short: String = text.chars().take(QUOTE_LIMIT).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    format!("{short:?}")
}

fn parse_headers(file: &str, object: RawObject<'_>) -> Result<Vec<(String, Vec<String>)>, CaptureError> {
    let mut headers = Vec::with_capacity(object.0.len());
    for (name, raw) in object.0 {
        let invalid = |detail: String| CaptureError::InvalidField {
            file: file.into(),
            field: format!("headers.{}", one_line(&name)),
            detail,
        };
        let values = match to_value(raw).map_err(&invalid)? {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    other => Err(invalid(format!("expected strings, got {}", json::kind(&other)))),
                })
                .collect::<Result<_, _>>()?,
            other => return Err(invalid(format!("expected an array of strings, got {}", json::kind(&other)))),
        };
        headers.push((name, values));
    }
    Ok(headers)
}

fn to_value(raw: &RawValue) -> Result<Value, String> {
    serde_json::from_str(raw.get()).map_err(|e| e.to_string())
}

/// Typed, order-preserving access to one JSON object's members, tracking which were used.
struct Fields<'a> {
    file: &'a str,
    prefix: &'static str,
    members: Vec<(String, &'a RawValue)>,
    used: Vec<bool>,
}

impl<'a> Fields<'a> {
    fn new(file: &'a str, prefix: &'static str, object: RawObject<'a>) -> Self {
        let used = vec![false; object.0.len()];
        Fields { file, prefix, members: object.0, used }
    }

    fn invalid(&self, name: &str, detail: String) -> CaptureError {
        CaptureError::InvalidField { file: self.file.into(), field: format!("{}{name}", self.prefix), detail }
    }

    /// The member's raw text, marked used; `None` when absent or `null`.
    fn raw(&mut self, name: &str) -> Option<&'a RawValue> {
        let index = self.members.iter().position(|(k, _)| k == name)?;
        self.used[index] = true;
        let raw = self.members[index].1;
        (raw.get() != "null").then_some(raw)
    }

    fn value(&mut self, name: &str) -> Result<Option<Value>, CaptureError> {
        match self.raw(name) {
            None => Ok(None),
            Some(raw) => to_value(raw).map(Some).map_err(|detail| self.invalid(name, detail)),
        }
    }

    fn required(&mut self, name: &'static str) -> Result<Value, CaptureError> {
        let missing = CaptureError::MissingField { file: self.file.into(), field: name };
        self.value(name)?.ok_or(missing)
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, CaptureError> {
        match self.value(name)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.invalid(name, format!("expected a string, got {}", json::kind(&other)))),
        }
    }

    fn required_string(&mut self, name: &'static str) -> Result<String, CaptureError> {
        let missing = CaptureError::MissingField { file: self.file.into(), field: name };
        self.string(name)?.ok_or(missing)
    }

    fn bool(&mut self, name: &str) -> Result<Option<bool>, CaptureError> {
        match self.value(name)? {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(self.invalid(name, format!("expected a boolean, got {}", json::kind(&other)))),
        }
    }

    /// A millisecond count; a negative one is read as 0 with a warning.
    fn duration(&mut self, name: &str, warnings: &mut Vec<String>) -> Result<Option<u64>, CaptureError> {
        match self.value(name)? {
            None => Ok(None),
            Some(Value::Number(n)) => {
                if let Some(ms) = n.as_u64() {
                    Ok(Some(ms))
                } else if n.as_i64().is_some() {
                    warnings.push(format!("{}: {}{name}: negative value {n} read as 0", self.file, self.prefix));
                    Ok(Some(0))
                } else {
                    Err(self.invalid(name, format!("expected an integer, got {n}")))
                }
            }
            Some(other) => Err(self.invalid(name, format!("expected an integer, got {}", json::kind(&other)))),
        }
    }

    fn base64(&mut self, name: &str) -> Result<Option<Vec<u8>>, CaptureError> {
        let Some(text) = self.string(name)? else { return Ok(None) };
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Some)
            .map_err(|e| self.invalid(name, format!("invalid base64: {e}")))
    }

    fn object(&mut self, name: &str) -> Result<Option<RawObject<'a>>, CaptureError> {
        let Some(raw) = self.raw(name) else { return Ok(None) };
        if !raw.get().starts_with('{') {
            return Err(self.invalid(name, format!("expected an object, got {}", raw_kind(raw))));
        }
        json::parse_object(raw.get().as_bytes()).map(Some).map_err(|detail| self.invalid(name, detail))
    }

    /// Records every member nobody asked for as a warning.
    fn finish(self, warnings: &mut Vec<String>) {
        for ((name, _), used) in self.members.iter().zip(&self.used) {
            if !used {
                warnings.push(format!("{}: unknown field {}{} ignored", self.file, self.prefix, quote(name)));
            }
        }
    }
}

fn raw_kind(raw: &RawValue) -> &'static str {
    to_value(raw).map_or("invalid JSON", |v| json::kind(&v))
}
