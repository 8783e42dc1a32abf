//! Deterministic test support (feature `harness`): a generated PKI, a scripted TLS/HTTP server
//! session, and an in-memory [`Pair`] that runs an [`crate::exchange::HttpsExchange`] against it
//! with simulated time, arbitrary read sizes and spurious timers. No socket is involved.

mod net;
mod pair;
mod server;

pub use net::{LoggedRequest, Net, NetError, Route, Router, Schedule};
pub use pair::{ConnectBehaviour, Pair, SIM_EPOCH_SECS};
pub use server::{After, ReceivedRequest, Reply, Responder, ServerSession, TestPki, scenario_responder};

use crate::exchange::{ExchangeError, ExchangeOutput, RequestId};
use crate::http::ResponseHead;
use crate::tls::SpkiHash;

/// One response reassembled from a channel's outputs, for comparing runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Collected {
    /// The request answered.
    pub req: RequestId,
    /// Status and headers.
    pub head: ResponseHead,
    /// The peer that answered.
    pub peer_spki: SpkiHash,
    /// The whole body, pieces joined.
    pub body: Vec<u8>,
    /// True if the response ended (an `End` output was seen).
    pub complete: bool,
}

/// Reassembles outputs into responses, plus the terminal error if the channel failed.
/// Body piece boundaries are forgotten, so runs that differ only in how bytes were split compare
/// equal.
pub fn collect(outputs: &[ExchangeOutput]) -> (Vec<Collected>, Option<ExchangeError>) {
    let mut responses: Vec<Collected> = Vec::new();
    let mut error = None;
    for out in outputs {
        match out {
            ExchangeOutput::Head { req, head, peer_spki } => responses.push(Collected {
                req: *req,
                head: head.clone(),
                peer_spki: *peer_spki,
                body: Vec::new(),
                complete: false,
            }),
            ExchangeOutput::Body { req, bytes } => {
                let r = responses.iter_mut().rev().find(|r| r.req == *req).expect("body after its head");
                r.body.extend_from_slice(bytes);
            }
            ExchangeOutput::End { req } => {
                let r = responses.iter_mut().rev().find(|r| r.req == *req).expect("end after its head");
                r.complete = true;
            }
            ExchangeOutput::Failed(e) => error = Some(e.clone()),
        }
    }
    (responses, error)
}
