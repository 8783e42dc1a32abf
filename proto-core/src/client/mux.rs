//! Many child machines behind one [`Machine`] face: connection ids are translated so children
//! never collide, events are routed to the child that opened the connection, and the earliest
//! child deadline is the one announced.

use std::collections::{BTreeMap, VecDeque};

use crate::io::{ConnId, Event, Instant, Io, Machine, Now};

/// A child's key inside the mux.
pub(crate) type TaskId = u64;

struct Child<M> {
    machine: M,
    /// Inner connection id → outer connection id.
    conns: BTreeMap<ConnId, ConnId>,
    wake_at: Option<Instant>,
}

/// Children by id; see the module documentation.
///
/// Guarantees: an outer connection id is never reused; an event for a connection whose child
/// is gone is dropped; removing a child closes every connection it still had open.
pub(crate) struct Mux<M: Machine> {
    children: BTreeMap<TaskId, Child<M>>,
    /// Outer connection id → (child, inner connection id).
    routes: BTreeMap<ConnId, (TaskId, ConnId)>,
    next_outer: u64,
    io: VecDeque<Io>,
    announced: Option<Instant>,
}

impl<M: Machine> Mux<M> {
    pub(crate) fn new() -> Self {
        Self { children: BTreeMap::new(), routes: BTreeMap::new(), next_outer: 0, io: VecDeque::new(), announced: None }
    }

    /// Adds a child and runs `start` on it; returns what it output.
    pub(crate) fn insert(&mut self, id: TaskId, machine: M, start: impl FnOnce(&mut M)) -> Vec<M::Output> {
        let mut child = Child { machine, conns: BTreeMap::new(), wake_at: None };
        start(&mut child.machine);
        self.children.insert(id, child);
        let mut out = Vec::new();
        self.drain(id, &mut out);
        self.announce();
        out
    }

    /// Removes a child, closing its connections.
    pub(crate) fn remove(&mut self, id: TaskId) {
        if let Some(child) = self.children.remove(&id) {
            for outer in child.conns.into_values() {
                self.routes.remove(&outer);
                self.io.push_back(Io::Close { conn: outer });
            }
        }
        self.announce();
    }

    /// True when `id` is a child that says it is done.
    pub(crate) fn is_child_done(&self, id: TaskId) -> bool {
        self.children.get(&id).is_some_and(|c| c.machine.is_done())
    }

    /// Child `id`, for inspection.
    pub(crate) fn child(&self, id: TaskId) -> Option<&M> {
        self.children.get(&id).map(|c| &c.machine)
    }

    /// Number of children.
    pub(crate) fn len(&self) -> usize {
        self.children.len()
    }

    /// Routes `event`; returns the outputs it caused, by child.
    pub(crate) fn handle(&mut self, event: Event<'_>, now: Now) -> Vec<(TaskId, M::Output)> {
        let mut all = Vec::new();
        let targets: Vec<(TaskId, Option<ConnId>)> = match event {
            Event::TimerFired => self
                .children
                .iter()
                .filter(|(_, c)| c.wake_at.is_some_and(|at| at <= now.mono))
                .map(|(id, _)| (*id, None))
                .collect(),
            Event::Connected(c) | Event::Closed(c) | Event::Received(c, _) | Event::ConnectFailed(c, _) => {
                self.routes.get(&c).map(|(id, inner)| (*id, Some(*inner))).into_iter().collect()
            }
        };
        for (id, inner) in targets {
            let Some(child) = self.children.get_mut(&id) else { continue };
            match (inner, &event) {
                (None, _) => {
                    child.wake_at = None;
                    child.machine.handle(Event::TimerFired, now);
                }
                (Some(inner), Event::Connected(_)) => child.machine.handle(Event::Connected(inner), now),
                (Some(inner), Event::Closed(_)) => child.machine.handle(Event::Closed(inner), now),
                (Some(inner), Event::Received(_, bytes)) => child.machine.handle(Event::Received(inner, bytes), now),
                (Some(inner), Event::ConnectFailed(_, e)) => {
                    child.machine.handle(Event::ConnectFailed(inner, e.clone()), now);
                }
                (Some(_), Event::TimerFired) => {}
            }
            let mut out = Vec::new();
            self.drain(id, &mut out);
            all.extend(out.into_iter().map(|o| (id, o)));
        }
        self.announce();
        all
    }

    pub(crate) fn poll_io(&mut self) -> Option<Io> {
        self.io.pop_front()
    }

    /// Moves a child's instructions out (translated) and its outputs into `out`.
    fn drain(&mut self, id: TaskId, out: &mut Vec<M::Output>) {
        let Some(child) = self.children.get_mut(&id) else { return };
        while let Some(io) = child.machine.poll_io() {
            match io {
                Io::Connect { conn, host, port } => {
                    let outer = outer_id(self.next_outer);
                    self.next_outer += 1;
                    child.conns.insert(conn, outer);
                    self.routes.insert(outer, (id, conn));
                    self.io.push_back(Io::Connect { conn: outer, host, port });
                }
                Io::Send { conn, bytes } => {
                    if let Some(outer) = child.conns.get(&conn) {
                        self.io.push_back(Io::Send { conn: *outer, bytes });
                    }
                }
                Io::Close { conn } => {
                    if let Some(outer) = child.conns.remove(&conn) {
                        self.routes.remove(&outer);
                        self.io.push_back(Io::Close { conn: outer });
                    }
                }
                Io::WakeAt(at) => child.wake_at = Some(at),
            }
        }
        while let Some(o) = child.machine.poll_output() {
            out.push(o);
        }
    }

    /// Announces the earliest child deadline when it changed.
    fn announce(&mut self) {
        let earliest = self.children.values().filter_map(|c| c.wake_at).min();
        if earliest.is_some() && earliest != self.announced {
            self.announced = earliest;
            if let Some(at) = earliest {
                self.io.push_back(Io::WakeAt(at));
            }
        }
        if earliest.is_none() {
            self.announced = None;
        }
    }
}

/// The `n`-th outer connection id: spread over channel and sequence so that 2^64 ids exist.
fn outer_id(n: u64) -> ConnId {
    ConnId::new((n >> 32) as u32, n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Opens one connection and asks to be woken at a given time; records what it saw.
    struct Probe {
        io: VecDeque<Io>,
        seen: Vec<String>,
    }

    impl Probe {
        fn new(wake: u64) -> Self {
            let io = VecDeque::from([
                Io::Connect { conn: ConnId::new(0, 0), host: "h".into(), port: 1 },
                Io::WakeAt(Instant::from_elapsed(Duration::from_secs(wake))),
            ]);
            Self { io, seen: Vec::new() }
        }
    }

    impl Machine for Probe {
        type Output = String;
        fn handle(&mut self, event: Event<'_>, _now: Now) {
            let seen = match event {
                Event::Connected(c) => format!("connected {c}"),
                Event::Received(c, b) => format!("{c} got {}", String::from_utf8_lossy(b)),
                Event::TimerFired => "timer".to_owned(),
                other => format!("{other:?}"),
            };
            self.seen.push(seen.clone());
            self.io.push_back(Io::Send { conn: ConnId::new(0, 0), bytes: seen.into_bytes() });
        }
        fn poll_io(&mut self) -> Option<Io> {
            self.io.pop_front()
        }
        fn poll_output(&mut self) -> Option<String> {
            self.seen.pop()
        }
        fn is_done(&self) -> bool {
            false
        }
    }

    fn at(secs: u64) -> Now {
        Now::new(Instant::from_elapsed(Duration::from_secs(secs)), rustls_pki_types::UnixTime::since_unix_epoch(Duration::ZERO))
    }

    #[test]
    fn children_get_distinct_connections_their_own_events_and_the_earliest_deadline() {
        let mut mux = Mux::new();
        mux.insert(7, Probe::new(30), |_| {});
        mux.insert(9, Probe::new(10), |_| {});
        let io: Vec<Io> = std::iter::from_fn(|| mux.poll_io()).collect();
        let conns: Vec<ConnId> = io.iter().filter_map(|i| if let Io::Connect { conn, .. } = i { Some(*conn) } else { None }).collect();
        assert_eq!(conns.len(), 2);
        assert_ne!(conns[0], conns[1], "both children used inner id 0.0; outer ids differ");
        let wakes: Vec<Instant> = io.iter().filter_map(|i| if let Io::WakeAt(t) = i { Some(*t) } else { None }).collect();
        assert_eq!(wakes.last(), Some(&at(10).mono), "the earliest deadline is announced last");

        let out = mux.handle(Event::Received(conns[1], b"x"), at(1));
        assert_eq!(out, vec![(9, "0.0 got x".to_owned())]);
        let sends: Vec<Io> = std::iter::from_fn(|| mux.poll_io()).collect();
        assert!(matches!(&sends[..], [Io::Send { conn, .. }] if *conn == conns[1]));

        // Only the child whose deadline passed sees the timer; then child 7's deadline is next.
        let out = mux.handle(Event::TimerFired, at(10));
        assert_eq!(out, vec![(9, "timer".to_owned())]);
        let io: Vec<Io> = std::iter::from_fn(|| mux.poll_io()).collect();
        assert!(io.iter().any(|i| matches!(i, Io::WakeAt(t) if *t == at(30).mono)), "{io:?}");

        // A removed child's connections are closed and its events dropped.
        mux.remove(9);
        let io: Vec<Io> = std::iter::from_fn(|| mux.poll_io()).collect();
        assert!(matches!(&io[..], [Io::Close { conn }] if *conn == conns[1]));
        assert!(mux.handle(Event::Received(conns[1], b"late"), at(11)).is_empty());
        assert_eq!(mux.len(), 1);
    }
}
