//! The channel's single deadline and the reason it exists.

use std::time::Duration;

use crate::io::Instant;

/// The stage a timeout guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Waiting for the driver to connect.
    Connect,
    /// Waiting for the TLS handshake to complete.
    Handshake,
    /// Waiting for the next byte of a response.
    Response,
}

impl std::fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::Handshake => "TLS handshake",
            TimeoutKind::Response => "waiting for the response",
        })
    }
}

/// At most one armed deadline, and whether the driver has been told about it.
#[derive(Debug, Default)]
pub(super) struct Deadline {
    armed: Option<(Instant, TimeoutKind)>,
    announced: Option<Instant>,
}

impl Deadline {
    pub(super) fn set(&mut self, kind: TimeoutKind, now: Instant, after: Duration) {
        self.armed = Some((now + after, kind));
    }

    pub(super) fn clear(&mut self) {
        self.armed = None;
    }

    /// The kind of the armed deadline if `now` has reached it (disarming it).
    pub(super) fn expired(&mut self, now: Instant) -> Option<TimeoutKind> {
        match self.armed {
            Some((at, kind)) if now >= at => {
                self.armed = None;
                Some(kind)
            }
            _ => None,
        }
    }

    /// A wake-up instant the driver has not been told about yet.
    pub(super) fn poll_wake(&mut self) -> Option<Instant> {
        let at = self.armed?.0;
        if self.announced == Some(at) {
            return None;
        }
        self.announced = Some(at);
        Some(at)
    }
}
