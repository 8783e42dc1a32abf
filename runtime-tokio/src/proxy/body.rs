//! Response bodies and the error shapes of the proxy.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Every response body the proxy writes.
pub(super) type ProxyBody = BoxBody<Bytes, Infallible>;

/// A whole body with a content type.
pub(super) fn full(status: u16, content_type: &str, bytes: impl Into<Bytes>) -> Response<ProxyBody> {
    let mut response = Response::new(Full::new(bytes.into()).boxed());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// A plain-text error: the message and a newline, as the reference writes them.
pub(super) fn text_error(status: u16, message: &str) -> Response<ProxyBody> {
    let mut response = full(status, "text/plain; charset=utf-8", format!("{message}\n"));
    response.headers_mut().insert("X-Content-Type-Options", HeaderValue::from_static("nosniff"));
    response
}

/// A JSON body.
pub(super) fn json(status: u16, bytes: impl Into<Bytes>) -> Response<ProxyBody> {
    full(status, "application/json", bytes)
}

/// A body fed piece by piece through the returned sender; it ends when the sender drops.
pub(super) fn channel(status: u16, content_type: &str) -> (Response<ProxyBody>, UnboundedSender<Bytes>) {
    let (sender, receiver) = unbounded_channel();
    let mut response = Response::new(ChannelBody { receiver }.boxed());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    (response, sender)
}

/// An event stream: `text/event-stream`, no caching, no proxy buffering.
pub(super) fn event_stream() -> (Response<ProxyBody>, UnboundedSender<Bytes>) {
    let (mut response, sender) = channel(200, "text/event-stream");
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response.headers_mut().insert("X-Accel-Buffering", HeaderValue::from_static("no"));
    (response, sender)
}

/// The SSE event that ends a stream whose decryption failed after it had started.
pub(super) fn sse_error_event(message: &str) -> Bytes {
    let body = serde_json::json!({"error": {"message": message, "type": "decryption_error"}});
    Bytes::from(format!("event: error\ndata: {body}\n\n"))
}

struct ChannelBody {
    receiver: UnboundedReceiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.receiver.poll_recv(cx).map(|piece| piece.map(|bytes| Ok(Frame::data(bytes))))
    }
}
