//! Incremental Server-Sent-Events splitter.
//!
//! Feed it decoded body bytes in pieces of any size; it yields each complete event
//! (`data:` lines joined with `\n`, optional `event:` and `id:`) and the OpenAI-style
//! `data: [DONE]` terminator. Lines may end in CRLF, LF or CR. Event size is bounded.

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

/// What the splitter yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseItem {
    /// A complete event.
    Event(SseEvent),
    /// The `data: [DONE]` terminator. Nothing but blank lines and comments may follow it.
    Done,
}

/// A malformed or oversized event stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// A line or an event exceeded the configured size.
    #[error("event larger than {limit} bytes")]
    EventTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// Event text is not UTF-8.
    #[error("event stream is not UTF-8")]
    NotUtf8,
    /// An event arrived after `[DONE]`.
    #[error("data after the [DONE] terminator")]
    DataAfterDone,
    /// The stream ended inside a line or an undispatched event.
    #[error("event stream truncated mid-event")]
    Truncated,
}

/// Splits an event stream into events. Errors are sticky.
#[derive(Clone, Debug)]
pub struct SseSplitter {
    max_event_bytes: usize,
    line: Vec<u8>,
    after_cr: bool,
    at_start: bool,
    data: Option<String>,
    event: Option<String>,
    id: Option<String>,
    event_bytes: usize,
    done: bool,
    failed: Option<SseError>,
}

impl SseSplitter {
    /// A splitter that rejects any event (all its lines together) larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            data: None,
            event: None,
            id: None,
            event_bytes: 0,
            done: false,
            failed: None,
        }
    }

    /// True once `[DONE]` was seen.
    pub fn saw_done(&self) -> bool {
        self.done
    }

    /// Consumes body bytes, appending complete items to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.push_inner(bytes, out);
        result.inspect_err(|e| self.failed = Some(e.clone()))
    }

    fn push_inner(&mut self, bytes: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' && self.after_cr {
                // Second half of a CRLF whose CR already ended the line.
                self.after_cr = false;
                start = i + 1;
                continue;
            }
            self.after_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                self.append_line_bytes(&bytes[start..i])?;
                self.end_line(out)?;
                start = i + 1;
            }
        }
        self.append_line_bytes(&bytes[start..])
    }

    fn append_line_bytes(&mut self, piece: &[u8]) -> Result<(), SseError> {
        if self.event_bytes + self.line.len() + piece.len() > self.max_event_bytes {
            return Err(SseError::EventTooLarge { limit: self.max_event_bytes });
        }
        self.line.extend_from_slice(piece);
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseItem>) -> Result<(), SseError> {
        let mut line = std::mem::take(&mut self.line);
        if self.at_start {
            self.at_start = false;
            if line.starts_with("\u{feff}".as_bytes()) {
                line.drain(..3);
            }
        }
        if line.is_empty() {
            return self.dispatch(out);
        }
        self.event_bytes += line.len() + 1;
        if line[0] == b':' {
            return Ok(());
        }
        let text = String::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f.to_owned(), v.strip_prefix(' ').unwrap_or(v).to_owned()),
            None => (text, String::new()),
        };
        match field.as_str() {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(&value);
                }
                None => self.data = Some(value),
            },
            "event" => self.event = Some(value),
            "id" if !value.contains('\0') => self.id = Some(value),
            _ => {} // unknown fields (and `retry`) are ignored, as the SSE standard says
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) -> Result<(), SseError> {
        self.event_bytes = 0;
        let event = self.event.take();
        let id = self.id.take();
        let Some(data) = self.data.take() else { return Ok(()) };
        if self.done {
            return Err(SseError::DataAfterDone);
        }
        if data == "[DONE]" {
            self.done = true;
            out.push(SseItem::Done);
        } else {
            out.push(SseItem::Event(SseEvent { event, data, id }));
        }
        Ok(())
    }

    /// Tells the splitter the body ended. Fails if a line or an event was left incomplete.
    /// Whether a missing `[DONE]` matters is the caller's decision ([`SseSplitter::saw_done`]).
    pub fn finish(&mut self) -> Result<(), SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !self.line.is_empty() || self.data.is_some() {
            self.failed = Some(SseError::Truncated);
            return Err(SseError::Truncated);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8]) -> Result<Vec<SseItem>, SseError> {
        let mut s = SseSplitter::new(1024);
        let mut out = Vec::new();
        s.push(input, &mut out)?;
        s.finish()?;
        Ok(out)
    }

    fn ev(data: &str) -> SseItem {
        SseItem::Event(SseEvent { event: None, data: data.into(), id: None })
    }

    #[test]
    fn splits_events_multiline_and_done() {
        let out = split(b": comment\n\ndata: a\n\ndata:b1\ndata: b2\r\n\r\nevent: x\nid: 7\ndata: c\r\rdata: [DONE]\n\n").unwrap();
        assert_eq!(out[0], ev("a"));
        assert_eq!(out[1], ev("b1\nb2"));
        assert_eq!(out[2], SseItem::Event(SseEvent { event: Some("x".into()), data: "c".into(), id: Some("7".into()) }));
        assert_eq!(out[3], SseItem::Done);
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn byte_at_a_time_gives_same_items() {
        let input = b"\xef\xbb\xbfdata: one\r\n\r\ndata: two\r\rdata: [DONE]\r\n\r\n";
        let whole = split(input).unwrap();
        let mut s = SseSplitter::new(1024);
        let mut out = Vec::new();
        for b in input {
            s.push(std::slice::from_ref(b), &mut out).unwrap();
        }
        s.finish().unwrap();
        assert_eq!(out, whole);
        assert_eq!(whole[0], ev("one"));
    }

    #[test]
    fn errors() {
        assert_eq!(split(b"data: x"), Err(SseError::Truncated));
        assert_eq!(split(b"data: x\n"), Err(SseError::Truncated));
        assert_eq!(split(b"data: [DONE]\n\ndata: late\n\n"), Err(SseError::DataAfterDone));
        assert_eq!(split(b"data: \xff\n\n"), Err(SseError::NotUtf8));
        let mut s = SseSplitter::new(8);
        assert_eq!(s.push(b"data: 123456789\n\n", &mut vec![]), Err(SseError::EventTooLarge { limit: 8 }));
        assert_eq!(s.push(b"\n", &mut vec![]), Err(SseError::EventTooLarge { limit: 8 }));
        let mut s = SseSplitter::new(12);
        assert_eq!(s.push(b"data: 1234\ndata: 5678\n", &mut vec![]), Err(SseError::EventTooLarge { limit: 12 }));
    }
}
