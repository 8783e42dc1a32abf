//! Sans-IO protocol machines for attested, end-to-end encrypted access to TEE AI providers.
//!
//! Nothing in this crate opens a socket, reads a clock or asks the OS for randomness: time
//! comes in with every input ([`io::Now`]), randomness from an RNG handed to a machine at
//! construction, and bytes in and out through the [`io`] contract. Runtime crates
//! (`runtime-blocking`, `runtime-smol`, `runtime-tokio`) drive these machines over real sockets;
//! tests drive them in memory with simulated time.
//!
//! Layout, one folder per concern:
//! * [`io`] — the contract between machines and drivers;
//! * [`tls`] — rustls's sans-IO client, web PKI and SPKI-pin trust;
//! * [`http`] — HTTP/1.1 request writer, response parser, SSE splitter;
//! * [`exchange`] — the `HttpsExchange` machine (TLS + HTTP on one channel);
//! * `harness` (feature `harness`) — an in-memory client/server pair with simulated time.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod attestation;
pub mod capture;
pub mod client;
pub mod config;
pub mod e2ee;
pub mod exchange;
pub mod fetch;
pub mod http;
pub mod io;
pub mod provider;
pub mod replay;
pub mod report;
pub mod session;
#[cfg(feature = "sim")]
pub mod sim;
pub mod state;
pub mod tls;
pub mod verify;

#[cfg(any(test, feature = "harness"))]
pub mod harness;
