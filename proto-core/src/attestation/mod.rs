//! Attestation: the provider-neutral evidence record, its parsers' shared helpers, and the
//! verifiers that turn evidence into factor verdicts.

pub mod raw;

pub use raw::{BackendFormat, EventLogEntry, GatewayAttestation, GpuEvidence, ParseError, RawAttestation};
