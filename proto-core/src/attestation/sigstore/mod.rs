//! Sigstore supply chain: Rekor transparency-log entries for the container images an attested
//! compose file pins, and the two factors that read them, `sigstore_verification` and
//! `build_transparency_log` (`attestation-core.md` §10, `factors.md` rows 25 and 28).
//!
//! Everything here is pure: the Rekor answers come in as recorded fetch results, the trusted
//! keys are embedded ([`trust`]), and time is the entry's own SET-authenticated integration time.
//!
//! * [`entry`] — strict parsing of an entries answer;
//! * [`integrity`] — log ID, SET, UUID = leaf hash, RFC 6962 inclusion ([`merkle`]), signed
//!   checkpoint ([`checkpoint`]);
//! * [`fulcio`] — the entry's signer, Fulcio provenance fields, Fulcio chain, DSSE check;
//! * [`provenance`] — per-digest presence and entry selection;
//! * [`policy`] — per-provider supply-chain policies;
//! * [`verdicts`] — the factors.

pub mod checkpoint;
pub mod entry;
pub mod fulcio;
pub mod integrity;
pub mod merkle;
pub mod policy;
pub mod provenance;
pub mod trust;
pub mod verdicts;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

pub use policy::{ImagePolicy, ProvenanceKind, SupplyChainPolicy};
pub use provenance::{EntryAnswer, Presence, Provenance, Selected, presence_of, select_provenance};
pub use trust::{FulcioRoots, LogKey};
pub use verdicts::{SupplyChainInputs, build_transparency_log, sigstore_verification};
