//! Support for the cross-crate integration tests: a loopback HTTPS test server (its own CA,
//! generated at test time, serving scripted replies through proto-core's test server session)
//! and one function that runs a machine on any of the three runtimes.

#![forbid(unsafe_code)]

pub mod capture_server;
pub mod captures;
pub mod sim_server;

pub use runtime_blocking::loopback::{ConnectionLog, LoopbackServer};

use proto_core::exchange::{ExchangeOutput, HttpsExchange};
use proto_core::http::Request;

/// The three ways to drive a machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// `runtime-blocking`, on the calling thread.
    Blocking,
    /// `runtime-smol`, inside `smol::block_on`.
    Smol,
    /// `runtime-tokio`, on a current-thread tokio runtime.
    Tokio,
}

/// Every runtime, for tests that must agree across them.
pub const RUNTIMES: [Runtime; 3] = [Runtime::Blocking, Runtime::Smol, Runtime::Tokio];

/// Runs `machine` to completion on `runtime` after `setup` (an application call such as
/// `start` or `submit`); returns every output and the machine.
pub fn drive<M: proto_core::io::Machine>(
    runtime: Runtime,
    machine: M,
    setup: impl FnOnce(&mut M, proto_core::io::Now),
) -> (Vec<M::Output>, M) {
    match runtime {
        Runtime::Blocking => {
            let mut driver = runtime_blocking::Driver::new(machine);
            driver.apply(setup);
            let out = driver.run_to_completion();
            (out, driver.into_machine())
        }
        Runtime::Smol => smol::block_on(async {
            let mut driver = runtime_smol::Driver::new(machine);
            driver.apply(setup);
            let out = driver.run_to_completion().await;
            (out, driver.into_machine())
        }),
        Runtime::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            rt.block_on(async {
                let mut driver = runtime_tokio::Driver::new(machine);
                driver.apply(setup);
                let out = driver.run_to_completion().await;
                (out, driver.into_machine())
            })
        }
    }
}

/// Submits `requests` to `exchange` and runs it to completion on `runtime`.
pub fn run_exchange(runtime: Runtime, exchange: HttpsExchange, requests: &[Request]) -> Vec<ExchangeOutput> {
    let submit = |m: &mut HttpsExchange, now| {
        for r in requests {
            m.submit(r, now).expect("valid request");
        }
    };
    drive(runtime, exchange, submit).0
}

/// Starts a live verification and runs it to completion on `runtime`; returns its outputs and
/// the machine (for its recording).
pub fn run_live(
    runtime: Runtime,
    machine: proto_core::verify::LiveVerification,
) -> (Vec<proto_core::verify::LiveOutput>, proto_core::verify::LiveVerification) {
    drive(runtime, machine, |m, now| m.start(now))
}

/// Submits `n` copies of `prompt` for `provider`'s simulated model to `client` at once and runs
/// it to completion on `runtime`; returns every output and the client.
pub fn run_client(
    runtime: Runtime,
    client: proto_core::client::Client<rand_chacha::ChaCha20Rng>,
    provider: proto_core::provider::ProviderKind,
    prompt: &proto_core::session::Prompt,
    n: usize,
) -> (Vec<proto_core::client::ClientOutput>, proto_core::client::Client<rand_chacha::ChaCha20Rng>) {
    let model = proto_core::sim::SimWorld::model(provider);
    drive(runtime, client, |c, now| {
        for _ in 0..n {
            c.submit(provider, model, prompt.clone(), now);
        }
    })
}
