//! The incremental response parser.
//!
//! Bytes go in as they arrive, in pieces of any size; events come out as soon as they are
//! known: the head, then body pieces (decoded from chunked framing), then the end. Splitting
//! the input differently changes only how body bytes are grouped, never the result.

use super::{Header, HttpError, ResponseHead, ResponseLimits};

/// Longest chunk-size line accepted (size, extensions and CRLF).
const MAX_CHUNK_LINE: usize = 1024;

/// What the parser has recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseEvent {
    /// The final (non-1xx) status line and headers.
    Head(ResponseHead),
    /// A piece of the decoded body.
    Body(Vec<u8>),
    /// The response is complete. `reusable` is true when the connection may carry another
    /// request (HTTP/1.1, no `Connection: close`, self-delimited body).
    End {
        /// Whether keep-alive reuse is allowed.
        reusable: bool,
    },
}

#[derive(Clone, Debug)]
enum State {
    Head,
    Body(Framing),
    Done,
    Failed(HttpError),
}

#[derive(Clone, Copy, Debug)]
enum Framing {
    Length(u64),
    UntilClose,
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers { seen: usize },
}

/// Parses one response. Errors are sticky: once `feed` or `finish` failed, they keep failing
/// with the same error.
#[derive(Clone, Debug)]
pub struct ResponseParser {
    limits: ResponseLimits,
    head_request: bool,
    state: State,
    buf: Vec<u8>,
    body_len: u64,
    reusable: bool,
}

impl ResponseParser {
    /// A parser for the response to a request; `head_request` is true for HEAD, whose response
    /// has no body whatever its headers say.
    pub fn new(limits: ResponseLimits, head_request: bool) -> Self {
        Self { limits, head_request, state: State::Head, buf: Vec::new(), body_len: 0, reusable: false }
    }

    /// True once the response is complete.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// True if no byte of the response has been seen yet.
    pub fn is_untouched(&self) -> bool {
        matches!(self.state, State::Head) && self.buf.is_empty()
    }

    /// Consumes `bytes`, appending recognised events to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<ResponseEvent>) -> Result<(), HttpError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        self.buf.extend_from_slice(bytes);
        let mut pos = 0;
        let result = self.advance(&mut pos, out);
        self.buf.drain(..pos);
        result.inspect_err(|e| self.state = State::Failed(e.clone()))
    }

    /// Tells the parser the connection ended. A close-delimited body ends here; anything else
    /// incomplete is [`HttpError::Truncated`].
    pub fn finish(&mut self, out: &mut Vec<ResponseEvent>) -> Result<(), HttpError> {
        let err = match &self.state {
            State::Failed(e) => e.clone(),
            State::Done => return Ok(()),
            State::Body(Framing::UntilClose) => {
                self.state = State::Done;
                out.push(ResponseEvent::End { reusable: false });
                return Ok(());
            }
            State::Head if self.buf.is_empty() => HttpError::Truncated("before the response head"),
            State::Head => HttpError::Truncated("inside the response head"),
            State::Body(Framing::Length(_)) => HttpError::Truncated("inside the body"),
            State::Body(_) => HttpError::Truncated("inside the chunked body"),
        };
        self.state = State::Failed(err.clone());
        Err(err)
    }

    fn advance(&mut self, pos: &mut usize, out: &mut Vec<ResponseEvent>) -> Result<(), HttpError> {
        loop {
            let rest = &self.buf[*pos..];
            let progressed = match self.state.clone() {
                State::Head => self.parse_head(pos, out)?,
                State::Body(framing) => self.parse_body(framing, pos, out)?,
                State::Done if rest.is_empty() => false,
                State::Done => return Err(HttpError::UnsolicitedData),
                State::Failed(e) => return Err(e),
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    fn parse_head(&mut self, pos: &mut usize, out: &mut Vec<ResponseEvent>) -> Result<bool, HttpError> {
        let rest = &self.buf[*pos..];
        if rest.is_empty() {
            return Ok(false);
        }
        // Look no further than one byte past the limit, so that where the input was split
        // cannot change which error an oversized head gets.
        let rest = &rest[..rest.len().min(self.limits.max_head_bytes.saturating_add(1))];
        let mut fields = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
        let mut parsed = httparse::Response::new(&mut fields);
        let used = match parsed.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if rest.len() > self.limits.max_head_bytes {
                    return Err(HttpError::HeadTooLarge { limit: self.limits.max_head_bytes });
                }
                return Ok(false);
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HttpError::TooManyHeaders { limit: self.limits.max_headers });
            }
            Err(e) => return Err(HttpError::MalformedHead(httparse_reason(e))),
        };
        if used > self.limits.max_head_bytes {
            return Err(HttpError::HeadTooLarge { limit: self.limits.max_head_bytes });
        }
        let head = ResponseHead {
            minor_version: parsed.version.unwrap_or(1),
            status: parsed.code.unwrap_or(0),
            reason: parsed.reason.unwrap_or("").to_owned(),
            headers: parsed
                .headers
                .iter()
                .map(|h| Header { name: h.name.to_owned(), value: h.value.to_vec() })
                .collect(),
        };
        *pos += used;
        match head.status {
            101 => return Err(HttpError::UnexpectedStatus(101)),
            100..=199 => return Ok(true), // interim response: the real one follows
            200..=599 => {}
            _ => return Err(HttpError::MalformedHead("status code out of range")),
        }
        let framing = self.framing(&head)?;
        self.reusable = head.minor_version == 1 && !has_token(&head, "connection", "close");
        out.push(ResponseEvent::Head(head));
        match framing {
            Some(Framing::Length(0)) | None => self.end(out),
            Some(f) => {
                if matches!(f, Framing::UntilClose) {
                    self.reusable = false;
                }
                self.state = State::Body(f);
            }
        }
        Ok(true)
    }

    /// How the body is delimited, or `None` when there is no body.
    fn framing(&self, head: &ResponseHead) -> Result<Option<Framing>, HttpError> {
        if self.head_request || head.status == 204 || head.status == 304 {
            return Ok(None);
        }
        let has_te = head.headers_named("transfer-encoding").next().is_some();
        let length = content_length(head)?;
        if has_te {
            let chunked_only = head.minor_version == 1
                && length.is_none()
                && comma_tokens(head, "transfer-encoding").eq(["chunked".to_owned()]);
            return if chunked_only { Ok(Some(Framing::ChunkSize)) } else { Err(HttpError::UnsupportedTransferEncoding) };
        }
        match length {
            Some(n) if n > self.limits.max_body_bytes => {
                Err(HttpError::BodyTooLarge { limit: self.limits.max_body_bytes })
            }
            Some(n) => Ok(Some(Framing::Length(n))),
            None => Ok(Some(Framing::UntilClose)),
        }
    }

    fn parse_body(
        &mut self,
        framing: Framing,
        pos: &mut usize,
        out: &mut Vec<ResponseEvent>,
    ) -> Result<bool, HttpError> {
        let rest = &self.buf[*pos..];
        match framing {
            Framing::Length(remaining) | Framing::ChunkData(remaining) => {
                if rest.is_empty() {
                    return Ok(false);
                }
                let take = rest.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
                self.emit_body(*pos, take, out)?;
                *pos += take;
                let left = remaining - take as u64;
                match (framing, left) {
                    (Framing::Length(_), 0) => self.end(out),
                    (Framing::Length(_), n) => self.state = State::Body(Framing::Length(n)),
                    (_, 0) => self.state = State::Body(Framing::ChunkDataEnd),
                    (_, n) => self.state = State::Body(Framing::ChunkData(n)),
                }
                Ok(true)
            }
            Framing::UntilClose => {
                if rest.is_empty() {
                    return Ok(false);
                }
                let take = rest.len();
                self.emit_body(*pos, take, out)?;
                *pos += take;
                Ok(false)
            }
            Framing::ChunkSize => {
                let Some(line) = take_line(rest, MAX_CHUNK_LINE, "chunk-size line too long")? else {
                    return Ok(false);
                };
                let size = parse_chunk_size(&rest[..line - 2])?;
                *pos += line;
                if size == 0 {
                    self.state = State::Body(Framing::Trailers { seen: 0 });
                } else {
                    if self.body_len.saturating_add(size) > self.limits.max_body_bytes {
                        return Err(HttpError::BodyTooLarge { limit: self.limits.max_body_bytes });
                    }
                    self.state = State::Body(Framing::ChunkData(size));
                }
                Ok(true)
            }
            Framing::ChunkDataEnd => {
                if !b"\r\n".starts_with(&rest[..rest.len().min(2)]) {
                    return Err(HttpError::MalformedChunk("chunk data not followed by CRLF"));
                }
                if rest.len() < 2 {
                    return Ok(false);
                }
                *pos += 2;
                self.state = State::Body(Framing::ChunkSize);
                Ok(true)
            }
            Framing::Trailers { seen } => {
                let budget = self.limits.max_head_bytes.saturating_sub(seen);
                let Some(line) = take_line(rest, budget, "trailers too large")? else {
                    return Ok(false);
                };
                *pos += line;
                if line == 2 {
                    self.end(out);
                } else {
                    self.state = State::Body(Framing::Trailers { seen: seen + line });
                }
                Ok(true)
            }
        }
    }

    fn emit_body(&mut self, at: usize, len: usize, out: &mut Vec<ResponseEvent>) -> Result<(), HttpError> {
        self.body_len = self.body_len.saturating_add(len as u64);
        if self.body_len > self.limits.max_body_bytes {
            return Err(HttpError::BodyTooLarge { limit: self.limits.max_body_bytes });
        }
        out.push(ResponseEvent::Body(self.buf[at..at + len].to_vec()));
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<ResponseEvent>) {
        self.state = State::Done;
        out.push(ResponseEvent::End { reusable: self.reusable });
    }
}

/// Length of the first CRLF-terminated line in `rest` (CRLF included), `None` if incomplete.
fn take_line(rest: &[u8], limit: usize, too_long: &'static str) -> Result<Option<usize>, HttpError> {
    let window = &rest[..rest.len().min(limit)];
    match window.iter().position(|&b| b == b'\n') {
        Some(i) if i > 0 && rest[i - 1] == b'\r' => Ok(Some(i + 1)),
        Some(_) => Err(HttpError::MalformedChunk("line not terminated by CRLF")),
        None if rest.len() >= limit => Err(HttpError::MalformedChunk(too_long)),
        None => Ok(None),
    }
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let digits_end = line.iter().position(|b| !b.is_ascii_hexdigit()).unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    if digits.is_empty() || digits.len() > 15 {
        return Err(HttpError::MalformedChunk("bad chunk size"));
    }
    let rest_ok = rest.is_empty() || matches!(rest[0], b';' | b' ' | b'\t');
    if !rest_ok || rest.iter().any(|&b| b < 0x20 && b != b'\t') {
        return Err(HttpError::MalformedChunk("bad chunk extension"));
    }
    let text = std::str::from_utf8(digits).map_err(|_| HttpError::MalformedChunk("bad chunk size"))?;
    u64::from_str_radix(text, 16).map_err(|_| HttpError::MalformedChunk("bad chunk size"))
}

/// The Content-Length, if present; all occurrences (and list members) must agree.
fn content_length(head: &ResponseHead) -> Result<Option<u64>, HttpError> {
    let mut found: Option<u64> = None;
    for value in head.headers_named("content-length") {
        for part in value.split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(HttpError::InvalidContentLength);
            }
            let n: u64 = std::str::from_utf8(part)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(HttpError::InvalidContentLength)?;
            if found.is_some_and(|f| f != n) {
                return Err(HttpError::InvalidContentLength);
            }
            found = Some(n);
        }
    }
    Ok(found)
}

/// The lower-cased, trimmed, comma-separated tokens of every `name` field.
fn comma_tokens<'a>(head: &'a ResponseHead, name: &'a str) -> impl Iterator<Item = String> + 'a {
    head.headers_named(name)
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|t| String::from_utf8_lossy(t.trim_ascii()).to_ascii_lowercase())
        .filter(|t| !t.is_empty())
}

fn has_token(head: &ResponseHead, name: &str, token: &str) -> bool {
    comma_tokens(head, name).any(|t| t == token)
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid token",
        httparse::Error::Version => "invalid HTTP version",
        _ => "unparseable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<ResponseEvent>, HttpError> {
        let mut p = ResponseParser::new(ResponseLimits::default(), false);
        let mut out = Vec::new();
        p.feed(input, &mut out)?;
        if !p.is_done() {
            p.finish(&mut out)?;
        }
        Ok(out)
    }

    fn body_of(events: &[ResponseEvent]) -> Vec<u8> {
        events.iter().filter_map(|e| if let ResponseEvent::Body(b) = e { Some(&b[..]) } else { None }).collect::<Vec<_>>().concat()
    }

    #[test]
    fn content_length_body_and_keep_alive() {
        let ev = parse_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").unwrap();
        assert_eq!(body_of(&ev), b"hello");
        assert_eq!(ev.last(), Some(&ResponseEvent::End { reusable: true }));
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n";
        let ev = parse_all(raw).unwrap();
        assert_eq!(body_of(&ev), b"hello!");
        assert_eq!(ev.last(), Some(&ResponseEvent::End { reusable: true }));
    }

    #[test]
    fn close_delimited_body_ends_at_finish_and_is_not_reusable() {
        let ev = parse_all(b"HTTP/1.1 200 OK\r\n\r\nuntil close").unwrap();
        assert_eq!(body_of(&ev), b"until close");
        assert_eq!(ev.last(), Some(&ResponseEvent::End { reusable: false }));
    }

    #[test]
    fn interim_responses_are_skipped_and_no_body_statuses_end_at_once() {
        let ev = parse_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert!(matches!(&ev[0], ResponseEvent::Head(h) if h.status == 204));
        assert_eq!(ev.len(), 2);
        let mut head = ResponseParser::new(ResponseLimits::default(), true);
        let mut out = Vec::new();
        head.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", &mut out).unwrap();
        assert!(head.is_done());
    }

    #[test]
    fn connection_close_and_http10_are_not_reusable() {
        let ev = parse_all(b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(ev.last(), Some(&ResponseEvent::End { reusable: false }));
        let ev = parse_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(ev.last(), Some(&ResponseEvent::End { reusable: false }));
    }

    #[test]
    fn typed_errors() {
        let cases: &[(&[u8], HttpError)] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", HttpError::InvalidContentLength),
            (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", HttpError::InvalidContentLength),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HttpError::UnsupportedTransferEncoding),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", HttpError::UnsupportedTransferEncoding),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", HttpError::MalformedChunk("bad chunk size")),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", HttpError::MalformedChunk("chunk data not followed by CRLF")),
            (b"HTTP/1.1 101 Switching\r\n\r\n", HttpError::UnexpectedStatus(101)),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc", HttpError::UnsolicitedData),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", HttpError::Truncated("inside the body")),
            (b"HTTP/1.1 200 OK\r\nContent-Len", HttpError::Truncated("inside the response head")),
            (b"", HttpError::Truncated("before the response head")),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", HttpError::Truncated("inside the chunked body")),
            (b"SMTP/1.1 200 OK\r\n\r\n", HttpError::MalformedHead("invalid HTTP version")),
        ];
        for (input, want) in cases {
            assert_eq!(parse_all(input).unwrap_err(), *want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn limits_are_enforced_and_errors_are_sticky() {
        let limits = ResponseLimits { max_head_bytes: 64, max_headers: 2, max_body_bytes: 4 };
        let mut p = ResponseParser::new(limits, false);
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n", "a".repeat(80));
        assert_eq!(p.feed(long.as_bytes(), &mut vec![]), Err(HttpError::HeadTooLarge { limit: 64 }));
        assert_eq!(p.feed(b"\r\n", &mut vec![]), Err(HttpError::HeadTooLarge { limit: 64 }));

        let mut p = ResponseParser::new(limits, false);
        assert_eq!(p.feed(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &mut vec![]), Err(HttpError::TooManyHeaders { limit: 2 }));

        let mut p = ResponseParser::new(limits, false);
        assert_eq!(p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", &mut vec![]), Err(HttpError::BodyTooLarge { limit: 4 }));

        let mut p = ResponseParser::new(limits, false);
        assert_eq!(p.feed(b"HTTP/1.1 200 OK\r\n\r\nabcde", &mut vec![]), Err(HttpError::BodyTooLarge { limit: 4 }));

        let mut p = ResponseParser::new(limits, false);
        assert_eq!(
            p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n", &mut vec![]),
            Err(HttpError::BodyTooLarge { limit: 4 })
        );
    }
}
