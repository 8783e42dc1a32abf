//! Carrying [`FetchRequest`]s over live HTTPS channels: one [`HttpsExchange`] per origin,
//! reused for sequential requests, web PKI trust, every answer returned as a [`FetchResult`]
//! with the peer's SPKI hash, and, for recordings, the exchange as a capture keeps it.
//!
//! The client is itself a [`Machine`]: connection ids carry the channel number of the origin
//! they belong to, so the driver's events are routed back to the right exchange; the earliest
//! deadline of all channels is announced with one `WakeAt`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use super::{FetchError, FetchMethod, FetchRequest, FetchResponse, FetchResult};
use crate::capture::ExchangeMeta;
use crate::exchange::{ChannelConfig, ExchangeOutput, HttpsExchange, RequestId, Timeouts};
use crate::http::{Request, ResponseHead, ResponseLimits};
use crate::io::{ConnId, Event, Instant, Io, Machine, Now};
use crate::tls::{ChannelTrust, PeerDetails, SpkiHash};

/// Largest number of origins a client talks to at once (a verification needs about ten).
pub const MAX_ORIGINS: usize = 64;

/// How a [`FetchClient`] connects.
#[derive(Clone, Debug, Default)]
pub struct FetchClientConfig {
    /// Certificates trusted in addition to Mozilla's roots (tests and simulations add theirs;
    /// production leaves this empty).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// `host:port` → where to connect instead (the TLS server name stays the URL's host).
    /// Simulations route provider host names to loopback with it.
    pub connect_overrides: BTreeMap<String, (String, u16)>,
    /// Deadlines per channel.
    pub timeouts: Timeouts,
}

/// One finished fetch.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The request, as submitted.
    pub request: FetchRequest,
    /// Its outcome.
    pub result: FetchResult,
    /// The exchange as a capture records it (responses only; failures are not recorded).
    pub record: Option<(ExchangeMeta, Vec<u8>)>,
}

/// An absolute `https://` URL split into what a channel and a request line need.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    /// Path and query, as written (always starts with `/`).
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("only https:// URLs are fetched, not {url:?}"))?;
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        if authority.contains('@') || authority.is_empty() {
            return Err(format!("unsupported URL authority in {url:?}"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.contains(']') || h.ends_with(']') => {
                (h, p.parse::<u16>().map_err(|_| format!("bad port in {url:?}"))?)
            }
            _ => (authority, 443),
        };
        Ok(Target { host: host.trim_start_matches('[').trim_end_matches(']').to_owned(), port, path })
    }

    fn origin(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

struct InFlight {
    request: FetchRequest,
    started: Instant,
    head: Option<(ResponseHead, SpkiHash, Option<PeerDetails>, Duration)>,
    body: Vec<u8>,
}

struct Channel {
    origin: String,
    exchange: HttpsExchange,
    inflight: BTreeMap<RequestId, InFlight>,
    wake: Option<Instant>,
}

/// The fetch carrier. See the module documentation.
pub struct FetchClient {
    config: FetchClientConfig,
    channels: BTreeMap<u32, Channel>,
    next_channel: u32,
    io: VecDeque<Io>,
    out: VecDeque<Fetched>,
    announced_wake: Option<Instant>,
}

impl std::fmt::Debug for FetchClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchClient").field("channels", &self.channels.len()).finish_non_exhaustive()
    }
}

impl FetchClient {
    /// A client with no open channel.
    pub fn new(config: FetchClientConfig) -> Self {
        Self { config, channels: BTreeMap::new(), next_channel: 0, io: VecDeque::new(), out: VecDeque::new(), announced_wake: None }
    }

    /// Starts `request`. Its outcome comes out of [`Machine::poll_output`] as a [`Fetched`]; a
    /// request that cannot even be started comes out as an error at once.
    pub fn fetch(&mut self, request: FetchRequest, now: Now) {
        match self.start(&request, now) {
            Ok((channel, id)) => {
                if let Some(ch) = self.channels.get_mut(&channel) {
                    ch.inflight.insert(id, InFlight { request, started: now.mono, head: None, body: Vec::new() });
                }
                self.pump(channel, now);
            }
            Err(message) => self.out.push_back(Fetched { request, result: Err(FetchError::Transport(message)), record: None }),
        }
        self.announce_wake();
    }

    fn start(&mut self, request: &FetchRequest, now: Now) -> Result<(u32, RequestId), String> {
        let target = Target::parse(&request.url)?;
        let channel = self.channel_for(&target)?;
        let mut http = match request.method {
            FetchMethod::Get => Request::get(target.path.clone()),
            FetchMethod::Post => Request::post(target.path.clone(), request.body.clone()),
        };
        for (name, value) in &request.headers {
            http = http.header(name.clone(), value.clone());
        }
        http = http.limits(ResponseLimits { max_body_bytes: request.max_body, ..ResponseLimits::default() });
        let ch = self.channels.get_mut(&channel).ok_or("channel vanished")?;
        let id = ch.exchange.submit(&http, now).map_err(|e| e.to_string())?;
        Ok((channel, id))
    }

    /// The live channel for the target's origin, opened if needed.
    fn channel_for(&mut self, target: &Target) -> Result<u32, String> {
        let origin = target.origin();
        if let Some((&id, _)) = self.channels.iter().find(|(_, c)| c.origin == origin && !c.exchange.has_failed()) {
            return Ok(id);
        }
        if self.channels.len() >= MAX_ORIGINS {
            return Err(format!("more than {MAX_ORIGINS} origins open"));
        }
        let trust = ChannelTrust::WebPki { extra_roots: self.config.extra_roots.clone() };
        let mut channel = ChannelConfig::new(target.host.clone(), target.port, trust);
        channel.timeouts = self.config.timeouts;
        let id = self.next_channel;
        self.next_channel += 1;
        self.channels.insert(id, Channel { origin, exchange: HttpsExchange::new(id, channel), inflight: BTreeMap::new(), wake: None });
        Ok(id)
    }

    /// Closes every idle connection (at the end of a verification).
    pub fn close_idle(&mut self) {
        let ids: Vec<u32> = self.channels.keys().copied().collect();
        for id in ids {
            if let Some(ch) = self.channels.get_mut(&id) {
                ch.exchange.close_idle();
            }
            self.drain_io(id);
        }
    }

    /// Number of fetches started and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.channels.values().map(|c| c.inflight.len()).sum()
    }

    fn drain_io(&mut self, id: u32) {
        let Some(ch) = self.channels.get_mut(&id) else { return };
        while let Some(io) = ch.exchange.poll_io() {
            match io {
                Io::WakeAt(at) => ch.wake = Some(at),
                Io::Connect { conn, host, port } => {
                    let key = format!("{host}:{port}");
                    let (host, port) = self.config.connect_overrides.get(&key).cloned().unwrap_or((host, port));
                    self.io.push_back(Io::Connect { conn, host, port });
                }
                other => self.io.push_back(other),
            }
        }
    }

    /// Drains one channel's instructions and outputs.
    fn pump(&mut self, id: u32, now: Now) {
        self.drain_io(id);
        let Some(ch) = self.channels.get_mut(&id) else { return };
        let mut finished = Vec::new();
        let mut failed = None;
        while let Some(output) = ch.exchange.poll_output() {
            match output {
                ExchangeOutput::Head { req, head, peer_spki } => {
                    if let Some(f) = ch.inflight.get_mut(&req) {
                        let took = now.mono.saturating_since(f.started);
                        f.head = Some((head, peer_spki, ch.exchange.peer_details(), took));
                    }
                }
                ExchangeOutput::Body { req, bytes } => {
                    if let Some(f) = ch.inflight.get_mut(&req) {
                        f.body.extend_from_slice(&bytes);
                    }
                }
                ExchangeOutput::End { req } => {
                    if let Some(f) = ch.inflight.remove(&req) {
                        finished.push(f);
                    }
                }
                ExchangeOutput::Failed(e) => failed = Some(e.to_string()),
            }
        }
        for f in finished {
            self.out.push_back(complete(f));
        }
        if let Some(message) = failed
            && let Some(ch) = self.channels.remove(&id) {
                for (_, f) in ch.inflight {
                    let result = Err(FetchError::Transport(message.clone()));
                    self.out.push_back(Fetched { request: f.request, result, record: None });
                }
            }
    }

    fn announce_wake(&mut self) {
        let earliest = self.channels.values().filter_map(|c| c.wake).min();
        if earliest.is_some() && earliest != self.announced_wake {
            self.announced_wake = earliest;
            if let Some(at) = earliest {
                self.io.push_back(Io::WakeAt(at));
            }
        }
    }
}

/// A finished response as a fetch result and a capture record.
fn complete(f: InFlight) -> Fetched {
    let Some((head, peer_spki, peer, took)) = f.head else {
        let result = Err(FetchError::Transport("response ended without a head".into()));
        return Fetched { request: f.request, result, record: None };
    };
    let headers: Vec<(String, String)> =
        head.headers.iter().map(|h| (h.name.clone(), String::from_utf8_lossy(&h.value).into_owned())).collect();
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in &headers {
        match grouped.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, values)) => values.push(value.clone()),
            None => grouped.push((name.clone(), vec![value.clone()])),
        }
    }
    let meta = ExchangeMeta {
        method: f.request.method.as_str().to_owned(),
        url: f.request.url.clone(),
        status: head.status,
        proto: Some(format!("HTTP/1.{}", head.minor_version)),
        tls_version: peer.as_ref().map(|p| p.version.clone()),
        tls_cipher: peer.as_ref().map(|p| p.cipher.clone()),
        peer_spki_der: peer.map(|p| p.spki_der),
        headers: grouped,
        req_body: (f.request.method == FetchMethod::Post).then(|| f.request.body.clone()),
        duration_ms: Some(took.as_millis().try_into().unwrap_or(u64::MAX)),
    };
    let response = FetchResponse { status: head.status, headers, body: f.body.clone(), peer_spki: Some(peer_spki) };
    Fetched { request: f.request, result: Ok(response), record: Some((meta, f.body)) }
}

impl Machine for FetchClient {
    type Output = Fetched;

    fn handle(&mut self, event: Event<'_>, now: Now) {
        let channel = |c: ConnId| c.channel;
        match event {
            Event::TimerFired => {
                let ids: Vec<u32> = self.channels.keys().copied().collect();
                for id in ids {
                    if let Some(ch) = self.channels.get_mut(&id) {
                        ch.exchange.handle(Event::TimerFired, now);
                    }
                    self.pump(id, now);
                }
            }
            Event::Connected(c) | Event::Closed(c) => self.route(channel(c), event, now),
            Event::Received(c, _) | Event::ConnectFailed(c, _) => self.route(channel(c), event, now),
        }
        self.announce_wake();
    }

    fn poll_io(&mut self) -> Option<Io> {
        self.io.pop_front()
    }

    fn poll_output(&mut self) -> Option<Fetched> {
        self.out.pop_front()
    }

    fn is_done(&self) -> bool {
        self.out.is_empty() && self.in_flight() == 0
    }
}

impl FetchClient {
    fn route(&mut self, id: u32, event: Event<'_>, now: Now) {
        if let Some(ch) = self.channels.get_mut(&id) {
            ch.exchange.handle(event, now);
            self.pump(id, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_into_host_port_and_path() {
        let t = Target::parse("https://api.example.com/v1/x?a=b#frag").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("api.example.com", 443, "/v1/x?a=b"));
        let t = Target::parse("https://h:8443?q=1").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("h", 8443, "/?q=1"));
        let t = Target::parse("https://[::1]:9/p").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9));
        assert!(Target::parse("http://plain.example/").is_err());
        assert!(Target::parse("https://user@h/").is_err());
        assert!(Target::parse("https://h:99999/").is_err());
        assert!(Target::parse("https:///x").is_err());
    }
}
