//! Property tests of the response parser and the SSE splitter.
//!
//! Valid responses are generated from a model (so the expected head, body and reuse flag are
//! known without asking the parser), then fed whole, split at arbitrary points, truncated, or
//! mutated. The response generator is shared with the exchange property tests.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::FileFailurePersistence;

use super::sse::{SseError, SseEvent, SseItem, SseSplitter};
use super::{Header, HttpError, ResponseEvent, ResponseHead, ResponseLimits, ResponseParser};

/// Where this module's failing seeds are kept (cargo runs unit tests from `proto-core/`).
const REGRESSIONS: &str = "../proptest-regressions/http_props.txt";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Valid responses, generated from a model.
// ---------------------------------------------------------------------------------------------

/// How the generated response's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GenFraming {
    /// Content-Length.
    Length,
    /// Transfer-Encoding: chunked.
    Chunked,
    /// Until the connection closes.
    UntilClose,
    /// No body (204, 304, or the answer to HEAD).
    NoBody,
}

/// A valid response and what a correct parser makes of it.
#[derive(Clone, Debug)]
pub(crate) struct GenResponse {
    /// The raw bytes (1xx interim responses, the final head, the framed body).
    pub(crate) bytes: Vec<u8>,
    /// True if this answers a HEAD request.
    pub(crate) head_request: bool,
    /// The final head.
    pub(crate) head: ResponseHead,
    /// Offset just past the final head.
    pub(crate) head_end: usize,
    /// The decoded body.
    pub(crate) body: Vec<u8>,
    /// How the body is delimited.
    pub(crate) framing: GenFraming,
    /// The `reusable` flag of the final `End`.
    pub(crate) reusable: bool,
}

#[derive(Clone, Debug)]
struct HeaderSpec {
    name: String,
    value: Vec<u8>,
    /// `Name:value` instead of `Name: value`.
    tight: bool,
}

#[derive(Clone, Debug)]
struct ChunkSpec {
    data: Vec<u8>,
    upper_hex: bool,
    leading_zeros: usize,
    ext: String,
}

#[derive(Clone, Debug)]
enum BodySpec {
    Length { body: Vec<u8>, style: u8 },
    Chunked { chunks: Vec<ChunkSpec>, last_zeros: usize, last_ext: String, trailers: Vec<HeaderSpec>, te: &'static str },
    UntilClose { body: Vec<u8> },
    NoBody { status: u16, length: Option<u16> },
    HeadRequest { length: Option<u16> },
}

#[derive(Clone, Debug)]
struct ResponseSpec {
    minor: u8,
    status: u16,
    reason: Option<String>,
    headers: Vec<HeaderSpec>,
    framing_at: Index,
    connection: Option<(&'static str, bool)>,
    interim: Vec<(u16, Vec<HeaderSpec>)>,
    body: BodySpec,
    name_case: usize,
}

/// Header values as httparse returns them: no leading or trailing whitespace, obs-text allowed.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![8 => 0x20u8..0x7f, 1 => Just(b'\t'), 2 => 0x80u8..=0xff], 0..24)
        .prop_map(|v| v.trim_ascii().to_vec())
}

fn extra_header() -> impl Strategy<Value = HeaderSpec> {
    (r"X-[A-Za-z0-9!#$%&'*+.^_`|~-]{0,10}", header_value(), any::<bool>()).prop_map(|(name, value, tight)| HeaderSpec {
        name,
        value,
        tight,
    })
}

fn chunk_ext() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(String::new()),
        2 => r"( ?;[a-z]{1,5}(=[a-z0-9]{0,5})?){1,2}",
        1 => r#";[a-z]{1,4}="[a-z ,;=]{0,6}""#,
        1 => r"\t;x",
    ]
}

fn chunk() -> impl Strategy<Value = ChunkSpec> {
    (vec(any::<u8>(), 1..300), any::<bool>(), 0usize..3, chunk_ext())
        .prop_map(|(data, upper_hex, leading_zeros, ext)| ChunkSpec { data, upper_hex, leading_zeros, ext })
}

fn body_spec(allow_head_request: bool) -> impl Strategy<Value = BodySpec> {
    let length = (vec(any::<u8>(), 0..1500), 0u8..4).prop_map(|(body, style)| BodySpec::Length { body, style });
    let chunked = (
        vec(chunk(), 0..8),
        0usize..3,
        chunk_ext(),
        vec(extra_header(), 0..3),
        select(&["chunked", "Chunked", "CHUNKED", "chunked,", ", chunked"][..]),
    )
        .prop_map(|(chunks, last_zeros, last_ext, trailers, te)| BodySpec::Chunked {
            chunks,
            last_zeros,
            last_ext,
            trailers,
            te,
        });
    let until_close = vec(any::<u8>(), 0..1500).prop_map(|body| BodySpec::UntilClose { body });
    let no_body = (select(&[204u16, 304][..]), proptest::option::of(any::<u16>()))
        .prop_map(|(status, length)| BodySpec::NoBody { status, length });
    let head = proptest::option::of(any::<u16>()).prop_map(|length| BodySpec::HeadRequest { length });
    let head_weight = if allow_head_request { 1 } else { 0 };
    prop_oneof![
        4 => length,
        4 => chunked,
        2 => until_close,
        1 => no_body,
        head_weight => head,
    ]
}

fn response_spec(allow_head_request: bool) -> impl Strategy<Value = ResponseSpec> {
    let connection = proptest::option::of(select(
        &[
            ("keep-alive", false),
            ("close", true),
            ("Close", true),
            ("keep-alive, close", true),
            ("Upgrade", false),
            ("closed", false),
        ][..],
    ));
    let interim = vec((select(&[100u16, 102, 103, 199][..]), vec(extra_header(), 0..2)), 0..3);
    (
        0u8..2,
        (200u16..600).prop_map(|s| if s == 204 || s == 304 { 200 } else { s }),
        proptest::option::of("[ -~]{0,16}"),
        vec(extra_header(), 0..5),
        any::<Index>(),
        connection,
        interim,
        body_spec(allow_head_request),
        0usize..4,
    )
        .prop_map(|(minor, status, reason, headers, framing_at, connection, interim, body, name_case)| {
            ResponseSpec { minor, status, reason, headers, framing_at, connection, interim, body, name_case }
        })
}

/// A valid response; `allow_head_request` lets it be the answer to a HEAD request.
pub(crate) fn arb_response(allow_head_request: bool) -> impl Strategy<Value = GenResponse> {
    response_spec(allow_head_request).prop_map(build)
}

fn push_header(out: &mut Vec<u8>, h: &HeaderSpec) {
    out.extend_from_slice(h.name.as_bytes());
    out.extend_from_slice(if h.tight { b":" } else { b": " });
    out.extend_from_slice(&h.value);
    out.extend_from_slice(b"\r\n");
}

fn header(name: &str, value: impl Into<Vec<u8>>, tight: bool) -> HeaderSpec {
    HeaderSpec { name: name.to_owned(), value: value.into(), tight }
}

fn build(spec: ResponseSpec) -> GenResponse {
    let mut bytes = Vec::new();
    for (status, headers) in &spec.interim {
        bytes.extend_from_slice(format!("HTTP/1.1 {status} Interim\r\n").as_bytes());
        for h in headers {
            push_header(&mut bytes, h);
        }
        bytes.extend_from_slice(b"\r\n");
    }

    let cl_name = ["Content-Length", "content-length", "CONTENT-LENGTH", "Content-length"][spec.name_case];
    let te_name = ["Transfer-Encoding", "transfer-encoding", "TRANSFER-ENCODING", "Transfer-encoding"][spec.name_case];
    let mut minor = spec.minor;
    let mut status = spec.status;
    let mut head_request = false;
    let mut framing_headers = Vec::new();
    let mut body = Vec::new();
    let mut body_bytes = Vec::new();
    let framing = match &spec.body {
        BodySpec::Length { body: b, style } => {
            let n = b.len();
            match style {
                0 => framing_headers.push(header(cl_name, n.to_string(), false)),
                1 => framing_headers.push(header(cl_name, format!("{n}, {n}"), false)),
                2 => {
                    framing_headers.push(header(cl_name, n.to_string(), true));
                    framing_headers.push(header(cl_name, n.to_string(), false));
                }
                _ => framing_headers.push(header(cl_name, format!("000{n}"), false)),
            }
            body = b.clone();
            body_bytes = b.clone();
            GenFraming::Length
        }
        BodySpec::Chunked { chunks, last_zeros, last_ext, trailers, te } => {
            minor = 1; // chunked is HTTP/1.1 only
            framing_headers.push(header(te_name, *te, false));
            for c in chunks {
                let size = if c.upper_hex { format!("{:X}", c.data.len()) } else { format!("{:x}", c.data.len()) };
                body_bytes.extend_from_slice(format!("{}{size}{}\r\n", "0".repeat(c.leading_zeros), c.ext).as_bytes());
                body_bytes.extend_from_slice(&c.data);
                body_bytes.extend_from_slice(b"\r\n");
                body.extend_from_slice(&c.data);
            }
            body_bytes.extend_from_slice(format!("{}0{last_ext}\r\n", "0".repeat(*last_zeros)).as_bytes());
            for t in trailers {
                push_header(&mut body_bytes, t);
            }
            body_bytes.extend_from_slice(b"\r\n");
            GenFraming::Chunked
        }
        BodySpec::UntilClose { body: b } => {
            body = b.clone();
            body_bytes = b.clone();
            GenFraming::UntilClose
        }
        BodySpec::NoBody { status: s, length } => {
            status = *s;
            if let Some(n) = length {
                framing_headers.push(header(cl_name, n.to_string(), false));
            }
            GenFraming::NoBody
        }
        BodySpec::HeadRequest { length } => {
            head_request = true;
            match length {
                Some(n) => framing_headers.push(header(cl_name, n.to_string(), false)),
                None => {
                    minor = 1;
                    framing_headers.push(header(te_name, "chunked", false));
                }
            }
            GenFraming::NoBody
        }
    };

    let mut headers = spec.headers.clone();
    if let Some((value, _)) = spec.connection {
        headers.push(header("Connection", value, false));
    }
    let at = spec.framing_at.index(headers.len() + 1);
    headers.splice(at..at, framing_headers);

    match &spec.reason {
        Some(r) => bytes.extend_from_slice(format!("HTTP/1.{minor} {status} {r}\r\n").as_bytes()),
        None => bytes.extend_from_slice(format!("HTTP/1.{minor} {status}\r\n").as_bytes()),
    }
    for h in &headers {
        push_header(&mut bytes, h);
    }
    bytes.extend_from_slice(b"\r\n");
    let head_end = bytes.len();
    bytes.extend_from_slice(&body_bytes);

    let close = spec.connection.is_some_and(|(_, close)| close);
    GenResponse {
        bytes,
        head_request,
        head: ResponseHead {
            minor_version: minor,
            status,
            reason: spec.reason.clone().unwrap_or_default(),
            headers: headers.into_iter().map(|h| Header { name: h.name, value: h.value }).collect(),
        },
        head_end,
        body,
        framing,
        reusable: minor == 1 && !close && framing != GenFraming::UntilClose,
    }
}

// ---------------------------------------------------------------------------------------------
// Driving the parser.
// ---------------------------------------------------------------------------------------------

/// Sorted cut positions in `0..=len` (duplicates give empty feeds, which must be harmless).
fn cut_positions(cuts: &[Index], len: usize) -> Vec<usize> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(len + 1)).collect();
    at.sort_unstable();
    at
}

fn pieces<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &c in cuts {
        out.push(&bytes[start..c]);
        start = c;
    }
    out.push(&bytes[start..]);
    out
}

/// The events and the outcome of feeding `bytes` in the given pieces, then `finish` unless the
/// response already ended or failed.
fn drive(parser: &mut ResponseParser, bytes: &[u8], cuts: &[usize]) -> (Vec<ResponseEvent>, Result<(), HttpError>) {
    let mut events = Vec::new();
    for piece in pieces(bytes, cuts) {
        if let Err(e) = parser.feed(piece, &mut events) {
            return (events, Err(e));
        }
    }
    let result = if parser.is_done() { Ok(()) } else { parser.finish(&mut events) };
    (events, result)
}

/// Heads, concatenated body and `End` flags of an event list, after checking the list is
/// well formed: one head first, body pieces, at most one end, last.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    heads: Vec<ResponseHead>,
    body: Vec<u8>,
    ends: Vec<bool>,
}

fn summarize(events: &[ResponseEvent]) -> Result<Summary, TestCaseError> {
    let mut s = Summary { heads: Vec::new(), body: Vec::new(), ends: Vec::new() };
    s.absorb(events)?;
    Ok(s)
}

impl Summary {
    /// Adds `events`, which follow the ones already absorbed.
    fn absorb(&mut self, events: &[ResponseEvent]) -> Result<(), TestCaseError> {
        for e in events {
            prop_assert!(self.ends.is_empty(), "event after End: {:?}", e);
            match e {
                ResponseEvent::Head(h) => {
                    prop_assert!(self.heads.is_empty() && self.body.is_empty(), "Head not first");
                    self.heads.push(h.clone());
                }
                ResponseEvent::Body(b) => {
                    prop_assert!(!self.heads.is_empty(), "Body before Head");
                    self.body.extend_from_slice(b);
                }
                ResponseEvent::End { reusable } => {
                    prop_assert!(!self.heads.is_empty(), "End before Head");
                    self.ends.push(*reusable);
                }
            }
        }
        Ok(())
    }
}

fn expected_summary(r: &GenResponse) -> Summary {
    Summary { heads: vec![r.head.clone()], body: r.body.clone(), ends: vec![r.reusable] }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary (mostly invalid) input.
// ---------------------------------------------------------------------------------------------

/// Bounded limits. `max_headers` stays small: it sizes an allocation made on every feed, and it
/// is chosen by the caller, not the peer.
fn arb_limits() -> impl Strategy<Value = ResponseLimits> {
    (
        prop_oneof![0usize..64, 0usize..4096, Just(64 * 1024), Just(usize::MAX)],
        prop_oneof![0usize..4, 0usize..64],
        prop_oneof![0u64..16, 0u64..4096, Just(32 << 20), Just(u64::MAX)],
    )
        .prop_map(|(max_head_bytes, max_headers, max_body_bytes)| ResponseLimits {
            max_head_bytes,
            max_headers,
            max_body_bytes,
        })
}

const SOUP: &[&[u8]] = &[
    b"HTTP/1.1 ",
    b"HTTP/1.0 ",
    b"HTTP/2 ",
    b"200 OK",
    b"100 Continue",
    b"101 ",
    b"204 ",
    b"304 ",
    b"999 ",
    b"1000 ",
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"\r",
    b"Content-Length: ",
    b"Content-Length: 5",
    b"Content-Length: 5, 6",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip",
    b"Connection: close",
    b"0",
    b"5",
    b"a",
    b"F",
    b"ffffffffffffffff",
    b"18446744073709551616",
    b";ext=1",
    b";",
    b": ",
    b":",
    b"hello",
    b" ",
    b"\t",
    b"\0",
    b"\xff",
    b",",
    b"X-A: b",
];

fn soup() -> impl Strategy<Value = Vec<u8>> {
    vec(select(SOUP), 0..60).prop_map(|parts| parts.concat())
}

/// A valid response with a few bytes replaced, inserted or deleted.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (arb_response(true), vec((any::<Index>(), any::<u8>(), 0u8..3), 1..6)).prop_map(|(r, mutations)| {
        let mut b = r.bytes;
        for (at, byte, op) in mutations {
            match op {
                0 if !b.is_empty() => {
                    let i = at.index(b.len());
                    b[i] = byte;
                }
                1 => {
                    let i = at.index(b.len() + 1);
                    b.insert(i, byte);
                }
                _ if !b.is_empty() => {
                    b.remove(at.index(b.len()));
                }
                _ => {}
            }
        }
        b
    })
}

fn arbitrary_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..2048),
        (arb_response(true), vec(any::<u8>(), 0..512)).prop_map(|(r, tail)| {
            let mut b = r.bytes[..r.head_end].to_vec();
            b.extend_from_slice(&tail);
            b
        }),
        mutated(),
        soup(),
    ]
}

// ---------------------------------------------------------------------------------------------
// SSE streams, generated from a model.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct SseEventSpec {
    comments: Vec<String>,
    event: Option<(String, bool)>,
    id: Option<(String, bool)>,
    data: Vec<(String, bool)>,
    retry: bool,
    field_at: (Index, Index),
}

#[derive(Clone, Debug)]
struct SseStreamSpec {
    bom: bool,
    events: Vec<SseEventSpec>,
    done: Option<bool>,
    tail: Vec<Option<String>>,
    endings: Vec<u8>,
}

/// Field text: anything but CR and LF.
fn sse_text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[ -~]{0,12}", 1 => "[^\r\n]{0,8}"]
}

fn sse_event_spec() -> impl Strategy<Value = SseEventSpec> {
    (
        vec(sse_text(), 0..2),
        proptest::option::of((sse_text(), any::<bool>())),
        proptest::option::of((sse_text(), any::<bool>())),
        vec((sse_text(), any::<bool>()), 0..4),
        any::<bool>(),
        (any::<Index>(), any::<Index>()),
    )
        .prop_map(|(comments, event, id, data, retry, field_at)| SseEventSpec {
            comments,
            event,
            id,
            data,
            retry,
            field_at,
        })
}

fn sse_stream_spec() -> impl Strategy<Value = SseStreamSpec> {
    (
        any::<bool>(),
        vec(sse_event_spec(), 0..8),
        proptest::option::of(any::<bool>()),
        vec(proptest::option::of(sse_text()), 0..3),
        vec(0u8..3, 1..6),
    )
        .prop_map(|(bom, events, done, tail, endings)| SseStreamSpec { bom, events, done, tail, endings })
}

/// A field value as the splitter reads it: one leading space after the colon is dropped.
fn field_line(name: &str, value: &str, tight: bool) -> (String, String) {
    if tight {
        (format!("{name}:{value}"), value.strip_prefix(' ').unwrap_or(value).to_owned())
    } else {
        (format!("{name}: {value}"), value.to_owned())
    }
}

/// The serialized stream and the items a correct splitter yields.
fn build_sse(spec: &SseStreamSpec) -> (Vec<u8>, Vec<SseItem>) {
    let mut lines: Vec<String> = Vec::new();
    let mut items = Vec::new();
    for e in &spec.events {
        let mut ev_lines: Vec<String> = e.comments.iter().map(|c| format!(":{c}")).collect();
        let mut data: Vec<String> = Vec::new();
        for (value, tight) in &e.data {
            let (line, v) = field_line("data", value, *tight);
            ev_lines.push(line);
            data.push(v);
        }
        let mut joined = data.join("\n");
        if !data.is_empty() && joined == "[DONE]" {
            ev_lines.push("data".to_owned());
            joined.push('\n');
        }
        if e.retry {
            ev_lines.push("retry: 1000".to_owned());
        }
        let mut event = None;
        if let Some((value, tight)) = &e.event {
            let (line, v) = field_line("event", value, *tight);
            let at = e.field_at.0.index(ev_lines.len() + 1);
            ev_lines.insert(at, line);
            event = Some(v);
        }
        let mut id = None;
        if let Some((value, tight)) = &e.id {
            let (line, v) = field_line("id", value, *tight);
            let at = e.field_at.1.index(ev_lines.len() + 1);
            ev_lines.insert(at, line);
            id = (!v.contains('\0')).then_some(v);
        }
        lines.extend(ev_lines);
        lines.push(String::new());
        if !data.is_empty() {
            items.push(SseItem::Event(SseEvent { event, data: joined, id }));
        }
    }
    if let Some(tight) = spec.done {
        lines.push(if tight { "data:[DONE]" } else { "data: [DONE]" }.to_owned());
        lines.push(String::new());
        items.push(SseItem::Done);
    }
    for t in &spec.tail {
        lines.push(t.as_ref().map(|c| format!(":{c}")).unwrap_or_default());
    }
    if spec.bom && !lines.is_empty() {
        lines[0].insert(0, '\u{feff}');
    }

    let mut bytes = Vec::new();
    let mut previous_cr = false;
    for (i, line) in lines.iter().enumerate() {
        bytes.extend_from_slice(line.as_bytes());
        let mut ending = ["\n", "\r\n", "\r"][usize::from(spec.endings[i % spec.endings.len()])];
        // A CR ending followed by an empty LF-terminated line would read as one CRLF.
        if previous_cr && line.is_empty() && ending == "\n" {
            ending = "\r\n";
        }
        previous_cr = ending == "\r";
        bytes.extend_from_slice(ending.as_bytes());
    }
    (bytes, items)
}

const SSE_SOUP: &[&[u8]] = &[
    b"data:",
    b"data: ",
    b"event:",
    b"id:",
    b"id: \0",
    b"retry: 5",
    b":",
    b"[DONE]",
    b"\xef\xbb\xbf",
    b"\xef",
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b"x",
    b" ",
    b"\xff",
    b"\xc3",
    b"\xa9",
    b"data: [DONE]\n\n",
];

fn sse_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..1024),
        vec(select(SSE_SOUP), 0..80).prop_map(|parts| parts.concat()),
        sse_stream_spec().prop_map(|s| build_sse(&s).0),
    ]
}

/// Items, the first push error (pushing stops there), and the outcome of `finish`.
type SseRun = (Vec<SseItem>, Option<SseError>, Result<(), SseError>);

fn run_sse(max_event_bytes: usize, bytes: &[u8], cuts: &[usize]) -> SseRun {
    let mut s = SseSplitter::new(max_event_bytes);
    let mut items = Vec::new();
    let mut error = None;
    for piece in pieces(bytes, cuts) {
        if let Err(e) = s.push(piece, &mut items) {
            error = Some(e);
            break;
        }
    }
    let finished = s.finish();
    (items, error, finished)
}

// ---------------------------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    /// A: splitting a valid response anywhere changes nothing but the grouping of body bytes,
    /// and the result is what the model says.
    #[test]
    fn split_valid_response_parses_like_whole(r in arb_response(true), cuts in vec(any::<Index>(), 0..24)) {
        let limits = ResponseLimits::default();
        let (whole_events, whole_result) = drive(&mut ResponseParser::new(limits, r.head_request), &r.bytes, &[]);
        let cuts = cut_positions(&cuts, r.bytes.len());
        let (split_events, split_result) = drive(&mut ResponseParser::new(limits, r.head_request), &r.bytes, &cuts);
        prop_assert_eq!(&whole_result, &Ok(()));
        prop_assert_eq!(&split_result, &Ok(()));
        let whole = summarize(&whole_events)?;
        let split = summarize(&split_events)?;
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(&whole, &expected_summary(&r));
    }

    /// C: arbitrary bytes under arbitrary limits never panic, give well-formed events, never
    /// more body than `max_body_bytes`, and errors are sticky.
    #[test]
    fn arbitrary_input_never_panics_and_respects_limits(
        input in arbitrary_input(),
        limits in arb_limits(),
        head_request in any::<bool>(),
        cuts in vec(any::<Index>(), 0..16),
    ) {
        let cuts = cut_positions(&cuts, input.len());
        let mut parser = ResponseParser::new(limits, head_request);
        let (events, result) = drive(&mut parser, &input, &cuts);
        let summary = summarize(&events)?;
        prop_assert!(summary.body.len() as u64 <= limits.max_body_bytes, "{} body bytes > {:?}", summary.body.len(), limits);
        prop_assert!(summary.heads.len() <= 1);
        if let Some(head) = summary.heads.first() {
            prop_assert!((200..=599).contains(&head.status), "final status {}", head.status);
        }
        match result {
            Ok(()) => {
                prop_assert!(parser.is_done());
                prop_assert_eq!(summary.ends.len(), 1);
                // A complete response takes no more bytes.
                let mut more = Vec::new();
                prop_assert_eq!(parser.feed(b"x", &mut more), Err(HttpError::UnsolicitedData));
                prop_assert!(more.is_empty());
            }
            Err(e) => {
                prop_assert!(!parser.is_done());
                // A complete response followed by more bytes in the same feed: End, then
                // UnsolicitedData. Any other error comes before End.
                prop_assert!(summary.ends.is_empty() || e == HttpError::UnsolicitedData, "End then {:?}", e);
                let mut more = Vec::new();
                prop_assert_eq!(parser.feed(b"HTTP/1.1 200 OK\r\n\r\n", &mut more), Err(e.clone()));
                prop_assert_eq!(parser.finish(&mut more), Err(e));
                prop_assert!(more.is_empty());
            }
        }
    }

    /// C2: for any input, even invalid, splitting changes only the grouping of body bytes:
    /// the same head, the same end, the same outcome (the same error, too). Body bytes are
    /// compared only on success: before an error a split feed may have emitted more of them.
    #[test]
    fn arbitrary_input_split_gives_the_same_outcome(
        input in arbitrary_input(),
        limits in arb_limits(),
        head_request in any::<bool>(),
        cuts in vec(any::<Index>(), 0..16),
    ) {
        let cuts = cut_positions(&cuts, input.len());
        let (whole_events, whole_result) = drive(&mut ResponseParser::new(limits, head_request), &input, &[]);
        let (split_events, split_result) = drive(&mut ResponseParser::new(limits, head_request), &input, &cuts);
        prop_assert_eq!(&whole_result, &split_result, "input {:?}", String::from_utf8_lossy(&input));
        let (whole, split) = (summarize(&whole_events)?, summarize(&split_events)?);
        prop_assert_eq!(&whole.heads, &split.heads);
        prop_assert_eq!(&whole.ends, &split.ends);
        if whole_result.is_ok() {
            prop_assert_eq!(&whole.body, &split.body);
        } else {
            let shorter = whole.body.len().min(split.body.len());
            prop_assert_eq!(&whole.body[..shorter], &split.body[..shorter]);
        }
    }

    /// D: an SSE stream split anywhere yields the same items as unsplit, and the items the
    /// model says; any line ending (LF, CRLF, CR) works.
    #[test]
    fn sse_split_stream_gives_same_items(spec in sse_stream_spec(), cuts in vec(any::<Index>(), 0..24)) {
        let (bytes, expected) = build_sse(&spec);
        let whole = run_sse(1 << 20, &bytes, &[]);
        let split = run_sse(1 << 20, &bytes, &cut_positions(&cuts, bytes.len()));
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(whole, (expected, None, Ok(())));
    }

    /// D': arbitrary bytes never panic the SSE splitter, and splitting them changes nothing.
    #[test]
    fn sse_arbitrary_input_never_panics(
        input in sse_input(),
        max_event_bytes in prop_oneof![0usize..64, Just(1 << 20)],
        cuts in vec(any::<Index>(), 0..24),
    ) {
        let whole = run_sse(max_event_bytes, &input, &[]);
        let split = run_sse(max_event_bytes, &input, &cut_positions(&cuts, input.len()));
        prop_assert_eq!(whole, split);
    }
}

proptest! {
    // Each case checks every prefix of its response, so fewer cases.
    #![proptest_config(config(512))]

    /// B: every strict prefix of a valid response, then `finish`, is `Truncated` — or, for a
    /// close-delimited body whose head is complete, a clean end with a prefix of the body.
    /// Whatever was emitted before is a prefix of the right result.
    #[test]
    fn truncated_valid_response_is_truncated_or_a_close_delimited_prefix(
        r in arb_response(true),
        prefix in any::<Index>(),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let limits = ResponseLimits::default();
        // Every strict prefix, fed one byte at a time into one parser, finished on a clone.
        let mut parser = ResponseParser::new(limits, r.head_request);
        let mut seen = Summary { heads: Vec::new(), body: Vec::new(), ends: Vec::new() };
        let mut events = Vec::new();
        for len in 0..r.bytes.len() {
            prop_assert!(!parser.is_done(), "done after a strict prefix of {} bytes", len);
            let mut at_eof = parser.clone();
            let mut finish_events = Vec::new();
            let finished = at_eof.finish(&mut finish_events);
            check_truncated(&r, len, &seen, &finish_events, &finished)?;
            parser.feed(&r.bytes[len..len + 1], &mut events).map_err(|e| {
                TestCaseError::fail(format!("prefix of {} bytes of a valid response failed: {e:?}", len + 1))
            })?;
            seen.absorb(&events)?;
            events.clear();
        }
        // One random strict prefix, fed in random pieces.
        if !r.bytes.is_empty() {
            let len = prefix.index(r.bytes.len());
            let bytes = &r.bytes[..len];
            let mut parser = ResponseParser::new(limits, r.head_request);
            let mut events = Vec::new();
            for piece in pieces(bytes, &cut_positions(&cuts, len)) {
                prop_assert_eq!(parser.feed(piece, &mut events), Ok(()));
            }
            let mut finish_events = Vec::new();
            let finished = parser.finish(&mut finish_events);
            check_truncated(&r, len, &summarize(&events)?, &finish_events, &finished)?;
        }
    }
}

/// What `finish` after `len` bytes of `r` must give (B), given what feeding them emitted.
fn check_truncated(
    r: &GenResponse,
    len: usize,
    fed: &Summary,
    finish_events: &[ResponseEvent],
    finished: &Result<(), HttpError>,
) -> Result<(), TestCaseError> {
    prop_assert!(fed.ends.is_empty(), "End after a strict prefix of {} bytes", len);
    prop_assert!(r.body.starts_with(&fed.body), "body emitted after {} bytes is not a prefix of the body", len);
    let head_seen = len >= r.head_end;
    if head_seen {
        prop_assert_eq!(&fed.heads, &vec![r.head.clone()]);
    } else {
        prop_assert!(fed.heads.is_empty(), "head emitted after {} of {} head bytes", len, r.head_end);
    }
    if r.framing == GenFraming::UntilClose && head_seen {
        prop_assert_eq!(finished, &Ok(()));
        prop_assert_eq!(finish_events, &[ResponseEvent::End { reusable: false }][..]);
    } else {
        prop_assert!(matches!(finished, Err(HttpError::Truncated(_))), "after {} bytes: {:?}", len, finished);
        prop_assert!(finish_events.is_empty());
    }
    Ok(())
}
