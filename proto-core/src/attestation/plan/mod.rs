//! The request plan: byte-exact URLs and bodies of every fetch a verification makes.
//!
//! Replay answers a GET by the byte-identical URL (query included) and a POST by identical
//! body bytes, so everything here reproduces what teep sent, byte for byte
//! (`capture-replay.md` §4.2, `attestation-core.md` §1.2–1.3). Pure functions only: the
//! verification machine decides *when* to send (the order of `attestation-core.md` §1.2) and
//! assigns [`FetchId`]s; this module decides *what* to send.
//!
//! * [`query`] — Go's URL escaping and form encoding;
//! * [`provider`] — provider attestation URLs (and the unrecorded lookup URLs);
//! * [`pcs`] — Intel PCS collateral URLs;
//! * [`nras`] — NVIDIA NRAS attest body and JWKS URL;
//! * [`poc`] — Proof of Cloud stage-1 and stage-2 bodies;
//! * [`rekor`] — Rekor index and entry lookups.
//!
//! Compose-hash binding and image-digest extraction (the input of the Rekor lookups) live in
//! [`crate::attestation::compose`].

pub(crate) mod gojson;
pub mod nras;
pub mod pcs;
pub mod poc;
pub mod provider;
pub mod query;
pub mod rekor;

use crate::fetch::{FetchId, FetchMethod, FetchRequest};

/// One request of the plan, ready to become a [`FetchRequest`] once the machine gives it an id.
#[derive(Clone, PartialEq, Eq)]
pub struct PlannedRequest {
    /// GET or POST.
    pub method: FetchMethod,
    /// Absolute URL, query included.
    pub url: String,
    /// Request headers teep sets (never credentials; provider requests add their own).
    pub headers: Vec<(String, String)>,
    /// Request body (empty for GET).
    pub body: Vec<u8>,
    /// Largest response body teep reads for this request.
    pub max_body: u64,
}

impl PlannedRequest {
    /// A GET without headers.
    pub fn get(url: String, max_body: u64) -> Self {
        Self { method: FetchMethod::Get, url, headers: Vec::new(), body: Vec::new(), max_body }
    }

    /// A POST of a JSON body with `Content-Type: application/json`.
    pub fn post_json(url: String, body: Vec<u8>, max_body: u64) -> Self {
        Self {
            method: FetchMethod::Post,
            url,
            headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
            body,
            max_body,
        }
    }

    /// The fetch the machine emits for this request under `id`.
    pub fn into_fetch_request(self, id: FetchId) -> FetchRequest {
        FetchRequest {
            id,
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
            max_body: self.max_body,
        }
    }
}

impl std::fmt::Debug for PlannedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("body_len", &self.body.len())
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// One mebibyte, the response limit of most teep requests.
pub const MIB: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_request_becomes_fetch_request() {
        let p = PlannedRequest::post_json("https://x/y".to_owned(), b"{}".to_vec(), MIB);
        assert!(format!("{p:?}").contains("body_len: 2"));
        let f = p.into_fetch_request(FetchId(7));
        assert_eq!(f.id, FetchId(7));
        assert_eq!(f.method, FetchMethod::Post);
        assert_eq!(f.headers, [("Content-Type".to_owned(), "application/json".to_owned())]);
        assert_eq!(f.body, b"{}");
        assert_eq!(f.max_body, MIB);
        let g = PlannedRequest::get("https://x/z?a=b".to_owned(), 5).into_fetch_request(FetchId(1));
        assert!(g.body.is_empty() && g.headers.is_empty() && g.method == FetchMethod::Get);
    }
}
