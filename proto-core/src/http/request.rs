//! The request writer.

use std::fmt;

use super::{HttpError, ResponseLimits, is_sensitive};

/// An HTTP method. Only methods this client needs; anything else is a token checked on write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// HEAD (its response never has a body)
    Head,
    /// Any other token.
    Other(String),
}

impl Method {
    /// The method's token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Head => "HEAD",
            Method::Other(s) => s,
        }
    }
}

/// One HTTP request to send on a channel, with the limits its response must respect.
///
/// `Host`, `Content-Length` and `Transfer-Encoding` are written by the codec and may not be set
/// by the caller. Debug output redacts the body and credential headers.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Origin-form target: starts with `/`, no spaces or control bytes.
    pub target: String,
    /// Extra header fields, in order.
    pub headers: Vec<(String, String)>,
    /// Body (sent with Content-Length when non-empty or when the method is POST).
    pub body: Vec<u8>,
    /// Bounds for the response.
    pub limits: ResponseLimits,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| if is_sensitive(n) { format!("{n}: <redacted>") } else { format!("{n}: {v}") })
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method.as_str())
            .field("target", &self.target)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Request {
    /// A GET of `target` with default limits.
    pub fn get(target: impl Into<String>) -> Self {
        Self::new(Method::Get, target, Vec::new())
    }

    /// A POST of `body` to `target` with default limits.
    pub fn post(target: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self::new(Method::Post, target, body.into())
    }

    fn new(method: Method, target: impl Into<String>, body: Vec<u8>) -> Self {
        Self { method, target: target.into(), headers: Vec::new(), body, limits: ResponseLimits::default() }
    }

    /// Adds a header field.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the response limits.
    pub fn limits(mut self, limits: ResponseLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Serialises the request for `host:port` (the port is omitted from `Host` when 443).
    pub fn encode(&self, host: &str, port: u16) -> Result<Vec<u8>, HttpError> {
        let method = self.method.as_str();
        if method.is_empty() || !method.bytes().all(is_token_byte) {
            return Err(HttpError::InvalidRequest("method is not a token"));
        }
        if !self.target.starts_with('/') || !self.target.bytes().all(|b| b > 0x20 && b != 0x7f) {
            return Err(HttpError::InvalidRequest("target must be origin-form without spaces"));
        }
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b'@') {
            return Err(HttpError::InvalidRequest("bad host"));
        }
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(format!("{method} {} HTTP/1.1\r\n", self.target).as_bytes());
        let host_value = match (port, host.contains(':')) {
            (443, false) => host.to_owned(),
            (443, true) => format!("[{host}]"),
            (_, false) => format!("{host}:{port}"),
            (_, true) => format!("[{host}]:{port}"),
        };
        write_field(&mut out, "Host", &host_value);
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(HttpError::InvalidRequest("header name is not a token"));
            }
            if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(HttpError::InvalidRequest("header value contains control bytes"));
            }
            if ["host", "content-length", "transfer-encoding"].iter().any(|r| name.eq_ignore_ascii_case(r)) {
                return Err(HttpError::InvalidRequest("framing headers are written by the codec"));
            }
            write_field(&mut out, name, value);
        }
        if !self.body.is_empty() || self.method == Method::Post {
            write_field(&mut out, "Content-Length", &self.body.len().to_string());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

fn write_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_post_with_length_and_host() {
        let req = Request::post("/v1/chat", b"{}".to_vec()).header("Authorization", "Bearer sk-secret");
        let bytes = req.encode("api.example.com", 443).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST /v1/chat HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer sk-secret\r\n\
             Content-Length: 2\r\n\r\n{}"
        );
        assert!(!format!("{req:?}").contains("sk-secret"));
    }

    #[test]
    fn host_carries_non_default_port_and_brackets_ipv6() {
        let get = Request::get("/");
        assert!(String::from_utf8(get.encode("127.0.0.1", 8443).unwrap()).unwrap().contains("Host: 127.0.0.1:8443\r\n"));
        assert!(String::from_utf8(get.encode("::1", 8443).unwrap()).unwrap().contains("Host: [::1]:8443\r\n"));
        assert!(!String::from_utf8(get.encode("a.test", 443).unwrap()).unwrap().contains("Content-Length"));
    }

    #[test]
    fn rejects_injection_and_framing_headers() {
        let bad = [
            Request::get("/a b"),
            Request::get("no-slash"),
            Request::get("/").header("X", "a\r\nInjected: 1"),
            Request::get("/").header("Bad Name", "v"),
            Request::get("/").header("content-length", "5"),
            Request::get("/").header("Transfer-Encoding", "chunked"),
            Request::new(Method::Other("GE T".into()), "/", vec![]),
        ];
        for req in bad {
            assert!(matches!(req.encode("a.test", 443), Err(HttpError::InvalidRequest(_))), "{req:?}");
        }
        assert!(Request::get("/").encode("a.test/evil", 443).is_err());
    }
}
