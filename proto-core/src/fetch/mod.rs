//! The vocabulary of layer 2: HTTP exchanges a protocol machine needs, independent of how they
//! are carried (live HTTPS channels, or answers from a recorded capture).
//!
//! A machine emits [`FetchRequest`]s and later receives, for each, a [`FetchResult`]. Replay
//! matches requests to recorded exchanges by method, URL and body, so every request must be
//! built byte-for-byte as the specification says.

pub mod client;

use crate::tls::SpkiHash;

/// Identifies one fetch within a machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FetchId(pub u32);

/// HTTP method of a fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FetchMethod {
    /// GET (matched on replay by exact URL).
    Get,
    /// POST (matched on replay by URL path and body bytes).
    Post,
}

impl FetchMethod {
    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchMethod::Get => "GET",
            FetchMethod::Post => "POST",
        }
    }
}

/// One HTTP exchange a machine wants made.
#[derive(Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The machine's id for this fetch.
    pub id: FetchId,
    /// GET or POST.
    pub method: FetchMethod,
    /// Absolute `https://` URL, including the query string.
    pub url: String,
    /// Extra request headers (credentials among them: never logged).
    pub headers: Vec<(String, String)>,
    /// Request body (POST).
    pub body: Vec<u8>,
    /// Largest acceptable response body.
    pub max_body: u64,
}

impl std::fmt::Debug for FetchRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchRequest")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A response to a fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers, in order (names as received; look them up case-insensitively).
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
    /// SPKI hash of the TLS peer that answered, when known.
    pub peer_spki: Option<SpkiHash>,
}

impl FetchResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why a fetch produced no response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Replay found no recorded exchange for this request (never goes to the network).
    #[error("replay: no matching entry for {method} {url}")]
    NoReplayMatch {
        /// Method of the request.
        method: &'static str,
        /// URL of the request.
        url: String,
    },
    /// The transport failed (connect, TLS, HTTP framing, timeout).
    #[error("{0}")]
    Transport(String),
}

/// The outcome of one fetch.
pub type FetchResult = Result<FetchResponse, FetchError>;
