//! Replay source: answers layer-2 fetches from a loaded capture (spec `capture-replay.md` §4.2).
//!
//! For each [`FetchRequest`] the recorded exchanges are scanned **in file order** and the first
//! that matches answers; exchanges are never consumed, so a repeated request gets the same
//! (first) answer. A request matches an exchange when
//! * the methods are equal (exact text: `GET`, `POST`);
//! * the URL hosts are equal, port included (exact text, as the reference compares them), and
//!   the percent-decoded paths are equal;
//! * for every method but POST, the raw query strings are byte-identical;
//! * for POST, the query is ignored and the request bodies decide: both empty → match; exactly
//!   one empty → no match; otherwise their SHA-256 digests must be equal (compared in constant
//!   time), i.e. the bytes must be identical.
//!
//! Scheme, request headers and HTTP version are not compared. Request URLs must be absolute
//! `https://` URLs (anything else is refused with [`FetchError::Transport`]); a recorded
//! exchange whose URL cannot be split never matches. There is no fallback to the network:
//! an unmatched request gets [`FetchError::NoReplayMatch`]. Response size limits
//! ([`FetchRequest::max_body`]) are not applied here, as in the reference replay.
//!
//! The reference logs a warning when a POST matches with both bodies empty; this sans-IO
//! module has no logger, so callers that care can check [`ReplaySource::match_index`] and the
//! exchange's [`crate::capture::ExchangeMeta::req_body`] themselves.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::capture::url::SplitUrl;
use crate::capture::{Capture, Exchange, Manifest};
use crate::fetch::{FetchError, FetchMethod, FetchRequest, FetchResult};

#[cfg(test)]
mod tests;

/// Answers fetches from a capture.
#[derive(Clone, Debug)]
pub struct ReplaySource {
    capture: Capture,
    /// Per exchange, what matching needs, computed once.
    keys: Vec<MatchKey>,
    /// For [`ReplaySource::answer_in_sequence`]: how often each exchange set was served.
    served: std::collections::BTreeMap<Vec<usize>, usize>,
}

/// The matchable parts of one recorded request.
#[derive(Clone, Debug)]
struct MatchKey {
    /// `None` when the recorded URL cannot be split: such an exchange never matches.
    target: Option<Target>,
    /// SHA-256 of the request body, `None` when the body is empty or absent.
    body_digest: Option<[u8; 32]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    host: String,
    path: Vec<u8>,
    query: String,
}

impl Target {
    fn of(url: &SplitUrl<'_>) -> Self {
        Target { host: url.host.to_owned(), path: url.path.clone(), query: url.raw_query.to_owned() }
    }
}

impl From<Capture> for ReplaySource {
    fn from(capture: Capture) -> Self {
        ReplaySource::new(capture)
    }
}

impl ReplaySource {
    /// Prepares `capture` for answering.
    pub fn new(capture: Capture) -> Self {
        let keys = capture
            .exchanges
            .iter()
            .map(|exchange| MatchKey {
                target: SplitUrl::parse(&exchange.meta.url).ok().map(|url| Target::of(&url)),
                body_digest: digest_nonempty(exchange.meta.req_body_bytes()),
            })
            .collect();
        ReplaySource { capture, keys, served: std::collections::BTreeMap::new() }
    }

    /// Like [`ReplaySource::answer`], but the n-th request that matches the same recorded
    /// exchanges gets the n-th of them (the last one once they are used up).
    ///
    /// This departs from the reference rule (always the first match) where a session asked the
    /// same question twice and got different answers: Rekor's index returns a digest's entries
    /// in a different order on the second lookup, and the recorded entry fetches follow the
    /// second order. Answering in sequence reproduces the recorded session; the first-match
    /// rule makes the verifier fetch entries that were never recorded.
    pub fn answer_in_sequence(&mut self, req: &FetchRequest) -> FetchResult {
        let matches = self.match_all(req)?;
        let Some(&last) = matches.last() else {
            return Err(FetchError::NoReplayMatch { method: req.method.as_str(), url: req.url.clone() });
        };
        let count = self.served.entry(matches.clone()).or_insert(0);
        let index = matches.get(*count).copied().unwrap_or(last);
        *count += 1;
        Ok(self.capture.exchanges[index].fetch_response())
    }

    /// Answers `req` with the first matching recorded exchange's response (status, headers
    /// flattened in order, body, and the recorded peer SPKI hash when there is one).
    pub fn answer(&self, req: &FetchRequest) -> FetchResult {
        match self.match_index(req)? {
            Some(index) => Ok(self.capture.exchanges[index].fetch_response()),
            None => Err(FetchError::NoReplayMatch { method: req.method.as_str(), url: req.url.clone() }),
        }
    }

    /// The position of the exchange that answers `req`, if any. Fails only when the request
    /// URL is not an absolute `https://` URL.
    pub fn match_index(&self, req: &FetchRequest) -> Result<Option<usize>, FetchError> {
        Ok(self.match_all(req)?.first().copied())
    }

    /// Every exchange that matches `req`, in file order.
    fn match_all(&self, req: &FetchRequest) -> Result<Vec<usize>, FetchError> {
        let url = SplitUrl::parse(&req.url)
            .map_err(|e| FetchError::Transport(format!("replay: cannot replay {}: {e}", req.url)))?;
        if !url.scheme.eq_ignore_ascii_case("https") {
            return Err(FetchError::Transport(format!(
                "replay: cannot replay {}: only https URLs are supported",
                req.url
            )));
        }
        let method = req.method.as_str();
        let is_post = req.method == FetchMethod::Post;
        let body_digest = if is_post { digest_nonempty(&req.body) } else { None };
        let found = self.capture.exchanges.iter().zip(&self.keys).enumerate().filter(|(_, (exchange, key))| {
            let Some(target) = &key.target else { return false };
            if exchange.meta.method != method || target.host != url.host || target.path != url.path {
                return false;
            }
            if !is_post {
                return target.query == url.raw_query;
            }
            match (&key.body_digest, &body_digest) {
                (None, None) => true,
                (Some(recorded), Some(wanted)) => bool::from(recorded.ct_eq(wanted)),
                _ => false,
            }
        });
        Ok(found.map(|(i, _)| i).collect())
    }

    /// The recorded exchanges, in file order.
    pub fn entries(&self) -> &[Exchange] {
        &self.capture.exchanges
    }

    /// The capture's manifest (nonce, verification time, E2EE outcome).
    pub fn manifest(&self) -> &Manifest {
        &self.capture.manifest
    }

    /// The whole capture.
    pub fn capture(&self) -> &Capture {
        &self.capture
    }

    /// `scheme://host[:port]` of the first exchange (scheme lower-cased), or `None` when the
    /// capture is empty or its first URL cannot be split. Spec §3.1: neardirect's model host
    /// was discovered by an unrecorded lookup, so replay takes it from here.
    pub fn first_host(&self) -> Option<String> {
        let first = self.capture.exchanges.first()?;
        let url = SplitUrl::parse(&first.meta.url).ok()?;
        Some(format!("{}://{}", url.scheme.to_ascii_lowercase(), url.host))
    }

    /// The Chutes chute UUID: the path segment after `/e2e/instances/` in the first exchange
    /// URL that has one shaped like a UUID (8-4-4-4-12 hex digits). Spec §3.1: the
    /// model-to-UUID lookup was not recorded, so replay takes it from here.
    pub fn chute_uuid(&self) -> Option<String> {
        const MARKER: &[u8] = b"/e2e/instances/";
        self.keys.iter().filter_map(|key| key.target.as_ref()).find_map(|target| {
            let start = target.path.windows(MARKER.len()).position(|w| w == MARKER)? + MARKER.len();
            let rest = &target.path[start..];
            let segment = &rest[..rest.iter().position(|&b| b == b'/').unwrap_or(rest.len())];
            let text = std::str::from_utf8(segment).ok()?;
            is_uuid(text).then(|| text.to_owned())
        })
    }
}

fn digest_nonempty(body: &[u8]) -> Option<[u8; 32]> {
    (!body.is_empty()).then(|| Sha256::digest(body).into())
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}
