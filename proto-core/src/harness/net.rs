//! A deterministic in-memory network that drives any [`Machine`] against [`ServerSession`]s.
//!
//! Every connection the machine opens is answered by a [`Route`] chosen by the caller from the
//! host and port (serve, fail, or never answer). What would be nondeterministic on a real
//! network is decided by a [`Schedule`], plain data that property tests generate and shrink:
//!
//! * **order**: which ready connection is serviced next (its connect result, its next piece of
//!   server bytes, or its close);
//! * **sizes**: how many of the waiting server bytes one `Received` carries;
//! * **timers**: whether a spurious [`Event::TimerFired`] follows an input;
//! * **delays**: how far the clock moves before an input (within a budget kept below every
//!   machine timeout, so latency alone never changes an outcome).
//!
//! Each list is cycled; an empty list, or a zero, means the reference choice: the connection
//! that became ready first, all waiting bytes at once, no spurious timer, no delay. So
//! [`Schedule::reference`] is "whole messages, FIFO", and proptest shrinks towards it.
//!
//! The drain rule is obeyed after every input. Time moves on its own only when nothing else can
//! happen and the machine is not done: it then jumps to the machine's last [`Io::WakeAt`]
//! deadline and fires the timer. A run ends when no connection has anything to deliver and
//! either no deadline is pending or the machine is done.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use super::server::{After, ReceivedRequest, Responder, ServerSession};
use crate::io::{ConnId, ConnectError, Event, Instant, Io, Machine, Now};

/// How the network answers a connection attempt to one host and port.
#[derive(Clone)]
pub enum Route {
    /// Connect, and serve TLS with `config`, answering requests with `responder`.
    Serve {
        /// The server's TLS configuration (its certificate).
        config: Arc<ServerConfig>,
        /// Answers every request on the connection.
        responder: Responder,
    },
    /// Fail the attempt with this error.
    Fail(ConnectError),
    /// Never answer (a black-holed address): only a machine timeout ends the attempt.
    Hang,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Serve { .. } => f.write_str("Route::Serve"),
            Route::Fail(e) => write!(f, "Route::Fail({e})"),
            Route::Hang => f.write_str("Route::Hang"),
        }
    }
}

/// Maps `(host, port)` of an [`Io::Connect`] to how the network answers it.
pub type Router = Box<dyn FnMut(&str, u16) -> Route>;

/// The nondeterministic choices of one run, as plain data. See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Which ready connection is serviced next: index into the ready connections, oldest first
    /// (taken modulo their number).
    pub order: Vec<u8>,
    /// Size of each delivery of server bytes: 0 means everything waiting; 1..=63 that many
    /// bytes; 64..=127 multiples of 64; 128..=255 multiples of 512.
    pub sizes: Vec<u8>,
    /// Whether a spurious timer follows an input: it does when the byte is 192 or more.
    pub timers: Vec<u8>,
    /// Milliseconds the clock moves before an input (until [`Net::latency_budget`] is spent).
    pub delays: Vec<u8>,
}

impl Schedule {
    /// Whole messages, first ready first, no spurious timer, no delay.
    pub fn reference() -> Self {
        Self::default()
    }
}

/// A cursor over one cycled list of choices; an empty list always yields 0.
#[derive(Clone, Copy, Debug, Default)]
struct Cursor(usize);

impl Cursor {
    fn next(&mut self, list: &[u8]) -> u8 {
        if list.is_empty() {
            return 0;
        }
        let b = list[self.0 % list.len()];
        self.0 = self.0.wrapping_add(1);
        b
    }
}

/// Bytes one delivery carries for a size choice (`usize::MAX` for "everything waiting").
fn delivery_size(choice: u8) -> usize {
    let c = usize::from(choice);
    match choice {
        0 => usize::MAX,
        1..=63 => c,
        64..=127 => (c - 63) * 64,
        _ => (c - 127) * 512,
    }
}

/// A request as a server of the network received it, with when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The host the connection was opened to.
    pub host: String,
    /// The connection.
    pub conn: ConnId,
    /// The request, decrypted by the server.
    pub request: ReceivedRequest,
    /// How many outputs the machine had produced when the server parsed the request: a test
    /// checks with it that a permission (an output) came before the request.
    pub outputs_before: usize,
}

impl LoggedRequest {
    /// The request target without its query.
    pub fn path(&self) -> &str {
        self.request.target.split('?').next().unwrap_or_default()
    }
}

/// Why a run did not settle.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The machine and the network were still busy after this many steps (a livelock).
    #[error("the network did not settle within {0} steps")]
    Unsettled(usize),
}

enum State {
    /// The connect result is not yet delivered (`None`: the route hangs).
    Connecting(Option<Result<(), ConnectError>>),
    /// Connected: server bytes flow.
    Open,
    /// The machine closed the connection; one late `Closed` event is still owed.
    ClosedByClient,
}

struct NetConn {
    host: String,
    state: State,
    server: Option<ServerSession>,
    to_client: VecDeque<u8>,
    /// Order in which the connection became ready (smaller is older).
    ready_since: Option<u64>,
}

/// What one ready connection would deliver next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    ConnectResult,
    Bytes,
    Close,
}

impl NetConn {
    fn server_finished(&self) -> bool {
        self.server
            .as_ref()
            .is_some_and(|s| s.failure().is_some() || matches!(s.after(), After::Close | After::CloseAbruptly))
    }

    fn next_action(&self) -> Option<Action> {
        match &self.state {
            State::Connecting(Some(_)) => Some(Action::ConnectResult),
            State::Connecting(None) => None,
            State::ClosedByClient => Some(Action::Close),
            State::Open if !self.to_client.is_empty() => Some(Action::Bytes),
            State::Open if self.server_finished() => Some(Action::Close),
            State::Open => None,
        }
    }

    /// Moves the server's pending output into the client-bound queue.
    fn pull_server_output(&mut self) {
        if let Some(out) = self.server.as_mut().and_then(ServerSession::take_outgoing) {
            self.to_client.extend(out);
        }
    }
}

/// A machine on a simulated network. See the module documentation.
pub struct Net<M: Machine> {
    /// The machine under test.
    pub machine: M,
    /// Current simulated time.
    pub now: Now,
    /// Everything the machine has output so far, in order.
    pub outputs: Vec<M::Output>,
    /// Total clock movement the schedule's delays may cause; kept below the machines'
    /// shortest timeout so that latency alone never changes an outcome. Default: 5 s.
    pub latency_budget: Duration,
    schedule: Schedule,
    router: Router,
    conns: BTreeMap<ConnId, NetConn>,
    finished: Vec<(String, ServerSession)>,
    dropped: usize,
    wake_at: Option<Instant>,
    ready_seq: u64,
    order: Cursor,
    sizes: Cursor,
    timers: Cursor,
    delays: Cursor,
    steps: usize,
    events: usize,
    serviced: Vec<ConnId>,
    requests: Vec<LoggedRequest>,
}

impl<M: Machine> Net<M> {
    /// A network starting at `now`, answering connects through `router`, making its choices
    /// from `schedule`. Nothing happens before [`Net::apply`] or [`Net::run`].
    pub fn new(machine: M, now: Now, router: Router, schedule: Schedule) -> Self {
        Self {
            machine,
            now,
            outputs: Vec::new(),
            latency_budget: Duration::from_secs(5),
            schedule,
            router,
            conns: BTreeMap::new(),
            finished: Vec::new(),
            dropped: 0,
            wake_at: None,
            ready_seq: 0,
            order: Cursor::default(),
            sizes: Cursor::default(),
            timers: Cursor::default(),
            delays: Cursor::default(),
            steps: 0,
            events: 0,
            serviced: Vec::new(),
            requests: Vec::new(),
        }
    }

    /// Runs an application call on the machine (for example `start`), then drains.
    pub fn apply(&mut self, call: impl FnOnce(&mut M, Now)) {
        call(&mut self.machine, self.now);
        self.drain();
    }

    /// Steps until nothing can happen any more. Fails if that takes more than `max_steps`.
    pub fn run(&mut self, max_steps: usize) -> Result<(), NetError> {
        self.drain();
        for _ in 0..max_steps {
            if !self.step() {
                return Ok(());
            }
        }
        Err(NetError::Unsettled(max_steps))
    }

    /// Steps taken so far (each delivers one event, not counting spurious timers).
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Events handed to the machine so far, spurious timers included.
    pub fn events(&self) -> usize {
        self.events
    }

    /// The connection serviced at each step, in order (timer-only steps are not listed): two
    /// runs with different logs really took different paths.
    pub fn service_log(&self) -> &[ConnId] {
        &self.serviced
    }

    /// Every request a server received, in plaintext, in the order the servers parsed them.
    pub fn request_log(&self) -> &[LoggedRequest] {
        &self.requests
    }

    /// The received requests per connected host, in the order they arrived.
    pub fn requests_by_host(&self) -> BTreeMap<String, Vec<ReceivedRequest>> {
        let mut map: BTreeMap<String, Vec<ReceivedRequest>> = BTreeMap::new();
        for logged in &self.requests {
            map.entry(logged.host.clone()).or_default().push(logged.request.clone());
        }
        map
    }

    /// `(host, path)` of every received request (the target without its query), in arrival
    /// order.
    pub fn request_paths(&self) -> Vec<(String, String)> {
        self.requests.iter().map(|r| (r.host.clone(), r.path().to_owned())).collect()
    }

    /// Every server session opened so far with its host, finished ones first.
    pub fn servers(&self) -> impl Iterator<Item = (&str, &ServerSession)> {
        let live = self.conns.values().filter_map(|c| c.server.as_ref().map(|s| (c.host.as_str(), s)));
        self.finished.iter().map(|(h, s)| (h.as_str(), s)).chain(live)
    }

    /// Connections opened so far (every [`Io::Connect`], whatever its route).
    pub fn connections_opened(&self) -> usize {
        self.conns.len() + self.finished.len() + self.dropped
    }

    /// Hands one event to the machine and drains (the drain rule), then maybe a spurious timer.
    fn input(&mut self, event: Event<'_>) {
        self.events += 1;
        self.machine.handle(event, self.now);
        self.drain();
        if self.timers.next(&self.schedule.timers) >= 192 {
            self.events += 1;
            self.machine.handle(Event::TimerFired, self.now);
            self.drain();
        }
    }

    /// Carries out every instruction, then collects every output.
    fn drain(&mut self) {
        while let Some(io) = self.machine.poll_io() {
            self.carry_out(io);
        }
        while let Some(out) = self.machine.poll_output() {
            self.outputs.push(out);
        }
        self.refresh_ready();
    }

    fn carry_out(&mut self, io: Io) {
        match io {
            Io::Connect { conn, host, port } => {
                let (state, server) = match (self.router)(&host, port) {
                    Route::Serve { config, responder } => {
                        (State::Connecting(Some(Ok(()))), Some(ServerSession::new(config, responder)))
                    }
                    Route::Fail(e) => (State::Connecting(Some(Err(e))), None),
                    Route::Hang => (State::Connecting(None), None),
                };
                let fresh = NetConn { host, state, server, to_client: VecDeque::new(), ready_since: None };
                if let Some(old) = self.conns.insert(conn, fresh) {
                    // A reused id is a machine bug; keep what the old server saw.
                    self.retire(old);
                }
            }
            Io::Send { conn, bytes } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    if matches!(c.state, State::ClosedByClient) {
                        return;
                    }
                    if let Some(server) = c.server.as_mut() {
                        let seen = server.requests().len();
                        server.receive(&bytes);
                        for request in server.requests().iter().skip(seen) {
                            self.requests.push(LoggedRequest {
                                host: c.host.clone(),
                                conn,
                                request: request.clone(),
                                outputs_before: self.outputs.len(),
                            });
                        }
                    }
                    c.pull_server_output();
                }
            }
            Io::Close { conn } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.state = State::ClosedByClient;
                    c.to_client.clear();
                }
            }
            Io::WakeAt(at) => self.wake_at = Some(at),
        }
    }

    fn retire(&mut self, conn: NetConn) {
        match conn.server {
            Some(server) => self.finished.push((conn.host, server)),
            None => self.dropped += 1,
        }
    }

    /// Stamps connections that just became ready; clears those that are not.
    fn refresh_ready(&mut self) {
        for c in self.conns.values_mut() {
            match (c.next_action().is_some(), c.ready_since) {
                (true, None) => {
                    c.ready_since = Some(self.ready_seq);
                    self.ready_seq += 1;
                }
                (false, Some(_)) => c.ready_since = None,
                _ => {}
            }
        }
    }

    /// Performs one step. Returns false when nothing can happen any more.
    fn step(&mut self) -> bool {
        let mut ready: Vec<(u64, ConnId)> =
            self.conns.iter().filter_map(|(id, c)| c.ready_since.map(|since| (since, *id))).collect();
        if ready.is_empty() {
            return self.fire_deadline();
        }
        ready.sort_unstable();
        let pick = usize::from(self.order.next(&self.schedule.order)) % ready.len();
        let conn = ready[pick].1;
        self.steps += 1;
        self.serviced.push(conn);
        self.delay();
        self.service(conn);
        true
    }

    /// Moves the clock by the schedule's next delay, within the latency budget.
    fn delay(&mut self) {
        let ms = Duration::from_millis(u64::from(self.delays.next(&self.schedule.delays)));
        let by = ms.min(self.latency_budget);
        if !by.is_zero() {
            self.latency_budget -= by;
            self.now = self.now.advanced(by);
        }
    }

    /// Delivers the next event of one ready connection.
    fn service(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        match c.next_action() {
            Some(Action::ConnectResult) => {
                let State::Connecting(Some(result)) = std::mem::replace(&mut c.state, State::Open) else { return };
                match result {
                    Ok(()) => self.input(Event::Connected(id)),
                    Err(e) => {
                        if let Some(old) = self.conns.remove(&id) {
                            self.retire(old);
                        }
                        self.input(Event::ConnectFailed(id, e));
                    }
                }
            }
            Some(Action::Bytes) => {
                let size = delivery_size(self.sizes.next(&self.schedule.sizes));
                let n = size.min(c.to_client.len());
                let bytes: Vec<u8> = c.to_client.drain(..n).collect();
                self.input(Event::Received(id, &bytes));
            }
            Some(Action::Close) => {
                if let Some(old) = self.conns.remove(&id) {
                    self.retire(old);
                }
                self.input(Event::Closed(id));
            }
            None => {}
        }
    }

    /// Nothing is ready: jump to the machine's deadline, if any, and fire it. A machine that is
    /// done waits for nothing: its stale deadline is dropped, as a runtime running it to
    /// completion would.
    fn fire_deadline(&mut self) -> bool {
        if self.machine.is_done() {
            self.wake_at = None;
            return false;
        }
        let Some(at) = self.wake_at.take() else { return false };
        if at > self.now.mono {
            self.now = self.now.advanced(at - self.now.mono);
        }
        self.steps += 1;
        self.input(Event::TimerFired);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;
    use crate::exchange::{ChannelConfig, ExchangeError, ExchangeOutput, HttpsExchange};
    use crate::harness::{Collected, Pair, TestPki, collect, scenario_responder};
    use crate::http::Request;
    use crate::io::UnixTime;
    use crate::tls::ChannelTrust;

    fn pki() -> &'static TestPki {
        static PKI: OnceLock<TestPki> = OnceLock::new();
        PKI.get_or_init(TestPki::generate)
    }

    fn exchange() -> HttpsExchange {
        let trust = ChannelTrust::WebPki { extra_roots: vec![pki().ca_cert.clone()] };
        HttpsExchange::new(3, ChannelConfig::new("localhost", 443, trust))
    }

    fn serve() -> Router {
        let config = pki().server_config();
        Box::new(move |host: &str, port: u16| {
            assert_eq!((host, port), ("localhost", 443));
            Route::Serve { config: config.clone(), responder: scenario_responder() }
        })
    }

    /// Four requests; `/close` ends the first connection, so the last one needs a second.
    fn run(router: Router, schedule: Schedule) -> Net<HttpsExchange> {
        let start =
            Now::new(Instant::ZERO, UnixTime::since_unix_epoch(Duration::from_secs(super::super::SIM_EPOCH_SECS)));
        let mut net = Net::new(exchange(), start, router, schedule);
        for path in ["/fixed", "/chunked", "/close", "/fixed"] {
            net.apply(|m, now| {
                m.submit(&Request::get(path), now).expect("valid request");
            });
        }
        net.run(1_000_000).expect("settles");
        net
    }

    fn responses(net: &Net<HttpsExchange>) -> (Vec<Collected>, Option<ExchangeError>) {
        collect(&net.outputs)
    }

    #[test]
    fn every_schedule_delivers_the_same_responses_and_logs_the_requests() {
        let reference = run(serve(), Schedule::reference());
        let (answers, error) = responses(&reference);
        assert_eq!(error, None);
        assert_eq!(answers.len(), 4);
        assert!(answers.iter().all(|a| a.complete && a.head.status == 200));
        assert_eq!(reference.connections_opened(), 2, "/close forces a second connection");
        let paths: Vec<String> = reference.request_paths().into_iter().map(|(_, p)| p).collect();
        assert_eq!(paths, ["/fixed", "/chunked", "/close", "/fixed"]);
        assert!(reference.request_log().iter().all(|r| r.host == "localhost"));
        for schedule in [
            Schedule { sizes: vec![1, 7, 20, 130], timers: vec![0, 255], ..Schedule::reference() },
            Schedule { sizes: vec![3], delays: vec![250], ..Schedule::reference() },
        ] {
            let other = run(serve(), schedule.clone());
            assert_eq!(responses(&other), (answers.clone(), None), "{schedule:?}");
            assert!(
                other.events() > reference.events() * 10,
                "{schedule:?}: bytes were not split: {} vs {}",
                other.events(),
                reference.events()
            );
        }
    }

    #[test]
    fn a_net_run_matches_the_pair() {
        let mut pair = Pair::new(exchange(), pki().server_config(), scenario_responder());
        for path in ["/fixed", "/chunked", "/close", "/fixed"] {
            pair.client.submit(&Request::get(path), pair.now).expect("valid request");
        }
        pair.run(1_000_000);
        assert_eq!(collect(&pair.outputs), responses(&run(serve(), Schedule::reference())));
    }

    #[test]
    fn a_hanging_connect_times_out_on_the_simulated_clock() {
        let net = run(Box::new(|_: &str, _: u16| Route::Hang), Schedule::reference());
        let (answers, error) = responses(&net);
        assert!(answers.is_empty());
        assert!(matches!(error, Some(ExchangeError::Timeout { .. })), "{error:?}");
        assert!(net.now.mono.elapsed_since_origin() >= Duration::from_secs(10), "the clock jumped to the deadline");
        assert!(net.request_log().is_empty());
    }

    #[test]
    fn a_refused_connect_fails_the_channel() {
        let net = run(Box::new(|_: &str, _: u16| Route::Fail(ConnectError::Refused)), Schedule::reference());
        let (_, error) = responses(&net);
        assert!(matches!(error, Some(ExchangeError::Connect { error: ConnectError::Refused, .. })), "{error:?}");
        assert_eq!(net.now.mono, Instant::ZERO, "nothing waited");
    }

    #[test]
    fn delays_stop_at_the_latency_budget() {
        let net = run(serve(), Schedule { delays: vec![255], sizes: vec![5], ..Schedule::reference() });
        assert_eq!(net.now.mono.elapsed_since_origin(), Duration::from_secs(5));
        assert!(matches!(net.outputs.last(), Some(ExchangeOutput::End { .. })));
    }

    #[test]
    fn delivery_sizes_cover_the_documented_ranges() {
        assert_eq!(delivery_size(0), usize::MAX);
        assert_eq!(delivery_size(1), 1);
        assert_eq!(delivery_size(63), 63);
        assert_eq!(delivery_size(64), 64);
        assert_eq!(delivery_size(127), 64 * 64);
        assert_eq!(delivery_size(128), 512);
        assert_eq!(delivery_size(255), 128 * 512);
    }
}
