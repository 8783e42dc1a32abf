//! Attestation: the provider-neutral evidence record, its parsers' shared helpers, and the
//! verifiers that turn evidence into factor verdicts.

pub mod binding_verdicts;
pub mod compose;
pub mod eventlog;
pub mod factors;
pub mod nras;
pub mod nvidia;
pub mod plan;
pub mod poc;
pub mod policy;
pub mod raw;
pub mod reportdata;
pub mod sigstore;
pub mod tdx;
pub mod x509;

pub use raw::{BackendFormat, EventLogEntry, GatewayAttestation, GpuEvidence, ParseError, RawAttestation};
