//! What every driver keeps of its machine, whatever its sockets: the machine, the clock origin,
//! the deadline the machine last asked for, and the outputs not yet handed out. The three
//! runtimes' drivers own one each and add only their sockets.

use std::collections::VecDeque;

use proto_core::io::{Event, Instant, Io, Machine, Now};
use rustls_pki_types::UnixTime;

/// A machine with its clocks and the drain rule. Socket instructions (`Connect`, `Send`,
/// `Close`) go to the driver's closure; `WakeAt` is kept here.
pub struct MachineHost<M: Machine> {
    machine: M,
    origin: std::time::Instant,
    wake_at: Option<Instant>,
    outputs: VecDeque<M::Output>,
}

impl<M: Machine> MachineHost<M> {
    /// Hosts `machine`; its monotonic clock starts now.
    pub fn new(machine: M) -> Self {
        Self { machine, origin: std::time::Instant::now(), wake_at: None, outputs: VecDeque::new() }
    }

    /// The current time on both clocks, as machines see it.
    pub fn now(&self) -> Now {
        Now::new(Instant::from_elapsed(self.origin.elapsed()), UnixTime::now())
    }

    /// The machine, for inspection.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// Gives the machine back.
    pub fn into_machine(self) -> M {
        self.machine
    }

    /// True when the machine says it is done.
    pub fn is_done(&self) -> bool {
        self.machine.is_done()
    }

    /// The oldest output not yet handed out.
    pub fn pop_output(&mut self) -> Option<M::Output> {
        self.outputs.pop_front()
    }

    /// When the machine asked to be woken, on the standard monotonic clock.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.wake_at.map(|at| self.origin + at.elapsed_since_origin())
    }

    /// Calls into the machine, then drains.
    pub fn apply<T>(&mut self, call: impl FnOnce(&mut M, Now) -> T, sockets: impl FnMut(Io)) -> T {
        let now = self.now();
        let result = call(&mut self.machine, now);
        self.drain(sockets);
        result
    }

    /// Feeds one event, then drains.
    pub fn handle(&mut self, event: Event<'_>, sockets: impl FnMut(Io)) {
        let now = self.now();
        self.machine.handle(event, now);
        self.drain(sockets);
    }

    /// The deadline passed: forgets it and tells the machine.
    pub fn timer_fired(&mut self, sockets: impl FnMut(Io)) {
        self.wake_at = None;
        self.handle(Event::TimerFired, sockets);
    }

    /// The drain rule: every instruction in order (sockets to `sockets`), then every output.
    pub fn drain(&mut self, mut sockets: impl FnMut(Io)) {
        while let Some(io) = self.machine.poll_io() {
            match io {
                Io::WakeAt(at) => self.wake_at = Some(at),
                other => sockets(other),
            }
        }
        while let Some(out) = self.machine.poll_output() {
            self.outputs.push_back(out);
        }
    }
}
