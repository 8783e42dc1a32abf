//! HTTP/1.1 client codec: request writer, incremental response parser, SSE splitter.
//!
//! Everything here is pure: bytes in, typed values out. Every size read from the peer is
//! bounded by [`ResponseLimits`]; every malformed or truncated input is an [`HttpError`].

mod request;
mod response;
pub mod sse;
#[cfg(test)]
pub(crate) mod props;

use std::fmt;

pub use request::{Method, Request};
pub use response::{ResponseEvent, ResponseParser};

/// Bounds on what a response may contain. Set per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseLimits {
    /// Largest status line plus headers (and, for chunked bodies, trailers), in bytes.
    pub max_head_bytes: usize,
    /// Largest number of header fields.
    pub max_headers: usize,
    /// Largest decoded body, in bytes.
    pub max_body_bytes: u64,
}

impl Default for ResponseLimits {
    /// 64 KiB of head, 128 header fields, 32 MiB of body.
    fn default() -> Self {
        Self { max_head_bytes: 64 * 1024, max_headers: 128, max_body_bytes: 32 * 1024 * 1024 }
    }
}

/// One header field. Names compare case-insensitively through [`ResponseHead::header`].
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// Field name as sent.
    pub name: String,
    /// Field value as sent (not necessarily UTF-8).
    pub value: Vec<u8>,
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_sensitive(&self.name) {
            write!(f, "{}: <redacted>", self.name)
        } else {
            write!(f, "{}: {}", self.name, String::from_utf8_lossy(&self.value))
        }
    }
}

/// Header names whose values are secrets and never printed.
pub(crate) fn is_sensitive(name: &str) -> bool {
    ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s))
}

/// A parsed status line and header block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// HTTP minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Status code, 200–599 (interim 1xx responses are consumed by the parser).
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields in order.
    pub headers: Vec<Header>,
}

impl ResponseHead {
    /// The first value of header `name` (case-insensitive), if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(&h.value).ok())
    }

    /// All values of header `name`, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers.iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| &h.value[..])
    }

    /// True if the body is a Server-Sent-Events stream.
    pub fn is_event_stream(&self) -> bool {
        self.header("content-type")
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"))
    }
}

/// A malformed, oversized, truncated or unsupported HTTP message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The status line or a header is malformed.
    #[error("malformed response head: {0}")]
    MalformedHead(&'static str),
    /// The head (or chunked trailers) exceeded `max_head_bytes`.
    #[error("response head larger than {limit} bytes")]
    HeadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// More than `max_headers` header fields.
    #[error("more than {limit} response header fields")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// The body exceeded (or announced more than) `max_body_bytes`.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// Content-Length is invalid or given twice with different values.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// A transfer coding other than exactly `chunked`, or both Transfer-Encoding and
    /// Content-Length.
    #[error("unsupported or ambiguous Transfer-Encoding")]
    UnsupportedTransferEncoding,
    /// A chunk-size line or chunk delimiter is malformed.
    #[error("malformed chunked body: {0}")]
    MalformedChunk(&'static str),
    /// A status the client never asked for (101 Switching Protocols).
    #[error("unexpected status {0}")]
    UnexpectedStatus(u16),
    /// The connection ended before the message was complete.
    #[error("response truncated: connection ended {0}")]
    Truncated(&'static str),
    /// The peer sent bytes after a complete response that nobody asked for.
    #[error("unsolicited bytes after the response")]
    UnsolicitedData,
    /// A request could not be written (bad method, target or header).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
}
