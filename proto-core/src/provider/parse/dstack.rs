//! The dstack attestation layout as NanoGPT (and Phala Cloud's dstack backends) serve it, plus
//! the `info` block that Venice shares with it.
//!
//! Differences from Venice: the key is sent without its `04` prefix (normalised here), the
//! echoed nonce is `request_nonce`, and `all_attestations` repeats the whole record (type-checked,
//! unused). The event log replayed is the top-level one, not `info.tcb_info.event_log`.

use serde_json::Value;

use super::json::{self, Fields, Kind, Reason};
use crate::attestation::raw::{BackendFormat, EventLogEntry, RawAttestation};

/// The `info` members that are only type-checked.
const INFO_UNUSED: &[(&str, Kind)] = &[
    ("app_cert", Kind::Str),
    ("app_id", Kind::Str),
    ("instance_id", Kind::Str),
    ("key_provider_info", Kind::Str),
    ("mr_aggregated", Kind::Str),
    ("vm_config", Kind::Str),
];

/// The `info.tcb_info` members that are only type-checked.
const TCB_UNUSED: &[(&str, Kind)] = &[
    ("compose_hash", Kind::Str),
    ("device_id", Kind::Str),
    ("mrtd", Kind::Str),
    ("os_image_hash", Kind::Str),
    ("rtmr0", Kind::Str),
    ("rtmr1", Kind::Str),
    ("rtmr2", Kind::Str),
    ("rtmr3", Kind::Str),
];

/// How `info.tcb_info.event_log` may be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TcbEventLog {
    /// Array only (NanoGPT).
    Array,
    /// Array or a string holding it (Venice).
    Flexible,
}

/// What the dstack `info` block contributes to the record.
#[derive(Clone, Debug, Default)]
pub(super) struct DstackInfo {
    pub(super) app_name: String,
    pub(super) compose_hash: String,
    pub(super) os_image_hash: String,
    pub(super) device_id: String,
    pub(super) app_compose: String,
}

/// Reads `info` (all of its members type-checked; `tcb_info` possibly double-encoded).
pub(super) fn dstack_info(parent: &Fields<'_>, tcb_event_log: TcbEventLog) -> Result<DstackInfo, Reason> {
    let info = parent.obj("info")?;
    info.check(INFO_UNUSED)?;
    let tcb_value = json::tcb_info(&info, "tcb_info")?;
    let tcb = Fields::opt(tcb_value.as_deref(), info.path_of("tcb_info"))?;
    tcb.check(TCB_UNUSED)?;
    match tcb_event_log {
        TcbEventLog::Array => drop(json::event_log_array(&tcb, "event_log")?),
        TcbEventLog::Flexible => drop(json::event_log_flexible(&tcb, "event_log")?),
    }
    Ok(DstackInfo {
        app_name: info.str("app_name")?,
        compose_hash: info.str("compose_hash")?,
        os_image_hash: info.str("os_image_hash")?,
        device_id: info.str("device_id")?,
        app_compose: tcb.str("app_compose")?,
    })
}

/// Top-level members of NanoGPT's dstack answer.
const KNOWN: &[&str] = &[
    "signing_public_key",
    "signing_address",
    "signing_algo",
    "intel_quote",
    "quote",
    "nvidia_payload",
    "event_log",
    "info",
    "request_nonce",
    "vm_config",
    "all_attestations",
];

/// One dstack record (the top level, or an `all_attestations` entry).
struct Record {
    signing_public_key: String,
    signing_address: String,
    signing_algo: String,
    intel_quote: String,
    nvidia_payload: String,
    event_log: Vec<EventLogEntry>,
    info: DstackInfo,
    request_nonce: String,
}

fn record(f: &Fields<'_>) -> Result<Record, Reason> {
    f.check(&[("quote", Kind::Str), ("vm_config", Kind::Str)])?;
    Ok(Record {
        signing_public_key: f.str("signing_public_key")?,
        signing_address: f.str("signing_address")?,
        signing_algo: f.str("signing_algo")?,
        intel_quote: f.str("intel_quote")?,
        nvidia_payload: f.str("nvidia_payload")?,
        event_log: json::event_log_flexible(f, "event_log")?,
        info: dstack_info(f, TcbEventLog::Array)?,
        request_nonce: f.str("request_nonce")?,
    })
}

/// Parses a decoded dstack answer (format detection already said `dstack`).
pub(super) fn parse_value(value: &Value) -> Result<RawAttestation, Reason> {
    let map = json::top_object(value, "attestation response")?;
    let top = Fields::root(map);
    let main = record(&top)?;
    for entry in top.objects("all_attestations", usize::MAX)? {
        record(&entry)?;
    }
    let mut raw = RawAttestation::empty(BackendFormat::Dstack);
    raw.nonce = main.request_nonce;
    raw.signing_key = json::normalize_uncompressed_key(&main.signing_public_key);
    raw.signing_address = main.signing_address;
    raw.signing_algo = main.signing_algo;
    raw.intel_quote = main.intel_quote;
    raw.nvidia_payload = main.nvidia_payload;
    raw.app_name = main.info.app_name;
    raw.compose_hash = main.info.compose_hash;
    raw.os_image_hash = main.info.os_image_hash;
    raw.device_id = main.info.device_id;
    raw.app_compose = main.info.app_compose;
    raw.event_log_count = (!main.event_log.is_empty()).then_some(main.event_log.len());
    raw.event_log = main.event_log;
    raw.unknown_fields = json::unknown_keys(map, KNOWN);
    Ok(raw)
}
