//! From recorded Rekor answers to one result per image digest (`attestation-core.md` §10.1–10.3).
//!
//! * [`presence_of`]: the presence lookup (`sigstore_verification`): does the index list at least
//!   one entry for the digest?
//! * [`select_provenance`]: the provenance lookup (`build_transparency_log`): walk the entries in
//!   index order and keep the first one signed by a Fulcio certificate, else the first one signed
//!   by a raw key or a non-Fulcio certificate (so a raw-key entry placed first cannot hide the
//!   build provenance), exactly like the reference. Stricter than the reference, every entry
//!   answer that arrives must parse and pass every log integrity check (see
//!   [`super::integrity`]), and a Fulcio certificate counts only if it chains to the Fulcio CA.

use super::entry::{self, EntryError};
use super::fulcio::{self, Signer};
use super::integrity::{self, IntegrityError, short};
use super::trust::LogKey;
use crate::attestation::plan::rekor;
use crate::fetch::FetchResult;

/// The presence lookup of one digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presence {
    /// The index lists at least one entry.
    Found,
    /// The index lists none (the reference records this as status 404).
    NotFound,
    /// The lookup failed; the text says how.
    Error(String),
}

/// Reads a presence lookup answer (`None`: never answered).
pub fn presence_of(answer: Option<&FetchResult>) -> Presence {
    match index_uuids(answer) {
        Ok(uuids) if uuids.is_empty() => Presence::NotFound,
        Ok(_) => Presence::Found,
        Err(e) => Presence::Error(format!("rekor transparency log search: {e}")),
    }
}

/// The UUIDs of an index answer, or why there are none.
pub fn index_uuids(answer: Option<&FetchResult>) -> Result<Vec<String>, String> {
    let response = ok_response(answer)?;
    rekor::parse_index(response).map_err(|e| e.to_string())
}

/// The body of a 200 answer, or the reference's error text (`HTTP <status>: <body prefix>`).
fn ok_response(answer: Option<&FetchResult>) -> Result<&[u8], String> {
    match answer {
        None => Err("not fetched".to_owned()),
        Some(Err(e)) => Err(e.to_string()),
        Some(Ok(r)) if r.status != 200 => {
            let text = String::from_utf8_lossy(&r.body);
            Err(format!("HTTP {}: {}", r.status, text.chars().take(256).collect::<String>()))
        }
        Some(Ok(r)) => Ok(&r.body),
    }
}

/// The entry a digest's provenance rests on, all of whose checks passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// Its UUID.
    pub uuid: String,
    /// Its signer.
    pub signer: Signer,
    /// The DSSE envelope check (Fulcio entries only; real entries have no envelope).
    pub dsse: Result<(), String>,
}

/// The provenance result of one digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// An entry was kept; it passed every integrity check.
    Selected(Selected),
    /// No usable entry (the reference's provenance error); the text says why.
    Unavailable(String),
    /// An entry answer is malformed or failed an integrity check: the log's answers cannot be
    /// trusted, whatever else they hold.
    Rejected {
        /// The entry's UUID (as requested).
        uuid: String,
        /// Which check failed.
        reason: String,
    },
}

/// One entry fetch of a digest: the UUID requested and its answer, if it was fetched.
#[derive(Clone, Copy, Debug)]
pub struct EntryAnswer<'a> {
    /// The UUID, as the index returned it.
    pub uuid: &'a str,
    /// The answer (`None`: not fetched).
    pub answer: Option<&'a FetchResult>,
}

/// Why an entry answer was rejected.
#[derive(Debug, thiserror::Error)]
enum Rejection {
    #[error("{0}")]
    Parse(#[from] EntryError),
    #[error("{0}")]
    Integrity(#[from] IntegrityError),
}

/// Selects `digest`'s provenance entry from its provenance index answer and its entry answers
/// (in index order), checking each arriving entry against `log`.
pub fn select_provenance(
    digest: &str,
    index: Option<&FetchResult>,
    entries: &[EntryAnswer<'_>],
    log: &LogKey,
) -> Provenance {
    match index_uuids(index) {
        Err(e) => return Provenance::Unavailable(format!("search Rekor: {e}")),
        Ok(u) if u.is_empty() => return Provenance::Unavailable(format!("no Rekor entries for sha256:{digest}")),
        Ok(_) => {}
    }
    let mut fallback: Option<Selected> = None;
    let mut last_error: Option<String> = None;
    for e in entries {
        let body = match ok_response(e.answer) {
            Ok(body) => body,
            Err(err) => {
                last_error = Some(format!("fetch Rekor entry {}: {err}", e.uuid));
                continue;
            }
        };
        let entry = match checked_entry(body, e.uuid, log) {
            Ok(entry) => entry,
            Err(r) => return Provenance::Rejected { uuid: e.uuid.to_owned(), reason: r.to_string() },
        };
        match fulcio::signer_of(&entry.body) {
            Err(err) => last_error = Some(format!("entry {}: {err}", e.uuid)),
            Ok(signer @ (Signer::RawKey { .. } | Signer::NonFulcioCert { .. })) => {
                if fallback.is_none() {
                    fallback =
                        Some(Selected { uuid: e.uuid.to_owned(), signer, dsse: Err("not a Fulcio entry".into()) });
                }
            }
            Ok(signer @ Signer::Fulcio { .. }) => {
                let Signer::Fulcio { der, .. } = &signer else { continue };
                if let Err(err) = fulcio::verify_fulcio_chain_under(der, entry.integrated_time, &log.fulcio) {
                    last_error = Some(format!("entry {}: {err}", e.uuid));
                    continue;
                }
                let dsse = fulcio::verify_dsse(&entry.body, der);
                return Provenance::Selected(Selected { uuid: e.uuid.to_owned(), signer, dsse });
            }
        }
    }
    match (fallback, last_error) {
        (Some(s), _) => Provenance::Selected(s),
        (None, Some(e)) => Provenance::Unavailable(e),
        (None, None) => Provenance::Unavailable(format!("no usable Rekor entry for sha256:{digest}")),
    }
}

fn checked_entry(body: &[u8], uuid: &str, log: &LogKey) -> Result<entry::RekorEntry, Rejection> {
    let entry = entry::parse_entry(body)?;
    integrity::verify_entry(&entry, uuid, log)?;
    Ok(entry)
}

/// A UUID shortened for messages.
pub fn short_uuid(uuid: &str) -> String {
    short(uuid)
}
