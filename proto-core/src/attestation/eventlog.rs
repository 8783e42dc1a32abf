//! Event-log replay: recompute RTMR0–3 from the TD's event log and compare them with the quote
//! (`attestation-core.md` §7.1–7.2, `factors.md` rows 29 and 42).
//!
//! Every register starts as 48 zero bytes; each entry, in list order, extends the register it
//! names: `RTMR[imr] = SHA-384(RTMR[imr] ‖ digest)`. Only `imr` and `digest` are read; event
//! names and payloads are not interpreted.
//!
//! Stricter than the reference on one point: a digest must be exactly 48 bytes (a SHA-384
//! value). The reference zero-pads shorter digests (an empty one included) and uses longer ones
//! whole, which lets an event whose digest was withheld still take part in the replay. Here such
//! an entry is a replay error. Verdicts on the recorded sessions are unchanged (the one capture
//! with empty digests fails either way; only its detail differs).

use sha2::{Digest, Sha384};

use crate::attestation::raw::EventLogEntry;
use crate::attestation::tdx::Quote;
use crate::report::Verdict;

/// Number of runtime measurement registers.
pub const RTMR_COUNT: usize = 4;

/// Size of an RTMR and of every event digest (SHA-384).
pub const DIGEST_LEN: usize = 48;

/// The most entries a log may have (the providers' parsers bound gateway logs the same way;
/// real logs have about 30).
pub const MAX_EVENT_LOG_ENTRIES: usize = 10_000;

/// Replayed register values, RTMR0 first.
pub type Rtmrs = [[u8; DIGEST_LEN]; RTMR_COUNT];

/// Why a log could not be replayed. `index` is the entry's position in the log, from 0.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventLogError {
    /// More entries than [`MAX_EVENT_LOG_ENTRIES`].
    #[error("event log has {count} entries, at most {max} are accepted")]
    TooManyEntries {
        /// Entries in the log.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An entry names a register outside 0..=3.
    #[error("event {index}: IMR index {imr} out of range [0,3]")]
    ImrOutOfRange {
        /// Position of the entry.
        index: usize,
        /// The register index it names.
        imr: u32,
    },
    /// A digest is not hex.
    #[error("event {index}: invalid hex digest: {reason}")]
    DigestHex {
        /// Position of the entry.
        index: usize,
        /// The decoder's message.
        reason: String,
    },
    /// A digest does not decode to 48 bytes.
    #[error("event {index} (imr {imr}): digest is {len} bytes, expected 48")]
    DigestLength {
        /// Position of the entry.
        index: usize,
        /// The register index it names.
        imr: u32,
        /// Bytes decoded.
        len: usize,
    },
}

/// One extend step: `SHA-384(register ‖ digest)`.
pub fn extend(register: &[u8; DIGEST_LEN], digest: &[u8; DIGEST_LEN]) -> [u8; DIGEST_LEN] {
    let mut h = Sha384::new();
    h.update(register);
    h.update(digest);
    h.finalize().into()
}

/// Replays `entries` into RTMR0–3 from all-zero registers. Fails on the first malformed entry
/// (register index, hex, digest length) and on logs longer than [`MAX_EVENT_LOG_ENTRIES`].
pub fn replay(entries: &[EventLogEntry]) -> Result<Rtmrs, EventLogError> {
    if entries.len() > MAX_EVENT_LOG_ENTRIES {
        return Err(EventLogError::TooManyEntries { count: entries.len(), max: MAX_EVENT_LOG_ENTRIES });
    }
    let mut rtmr = [[0u8; DIGEST_LEN]; RTMR_COUNT];
    for (index, entry) in entries.iter().enumerate() {
        let slot = usize::try_from(entry.imr)
            .ok()
            .filter(|&i| i < RTMR_COUNT)
            .ok_or(EventLogError::ImrOutOfRange { index, imr: entry.imr })?;
        let digest = parse_digest(index, entry)?;
        rtmr[slot] = extend(&rtmr[slot], &digest);
    }
    Ok(rtmr)
}

fn parse_digest(index: usize, entry: &EventLogEntry) -> Result<[u8; DIGEST_LEN], EventLogError> {
    let text = entry.digest.as_bytes();
    // Check the length before decoding so an oversized digest costs no allocation.
    if text.len() != 2 * DIGEST_LEN {
        // Still report bad hex as such when the text is not hex at all.
        if text.len() % 2 == 1 || !text.iter().all(u8::is_ascii_hexdigit) {
            let reason = match hex::decode(text) {
                Err(e) => e.to_string(),
                Ok(_) => "not hex".to_owned(),
            };
            return Err(EventLogError::DigestHex { index, reason });
        }
        return Err(EventLogError::DigestLength { index, imr: entry.imr, len: text.len() / 2 });
    }
    let mut out = [0u8; DIGEST_LEN];
    hex::decode_to_slice(text, &mut out).map_err(|e| EventLogError::DigestHex { index, reason: e.to_string() })?;
    Ok(out)
}

/// `event_log_integrity` (row 29) for a parsed quote: Skip when the log is empty, Fail on a
/// replay error or when a replayed register differs from the quote's (the first one, with
/// 16-hex-character prefixes of both values), Pass when all four match.
///
/// The "quote did not parse" and Chutes-format cases are handled by
/// [`crate::attestation::binding_verdicts::event_log_verdict`].
pub fn verdict(entries: &[EventLogEntry], quote: &Quote) -> Verdict {
    evaluate(entries, quote, "", "")
}

/// `gateway_event_log_integrity` (row 42): [`verdict`] on the gateway's log and quote.
pub fn gateway_verdict(entries: &[EventLogEntry], gateway_quote: &Quote) -> Verdict {
    evaluate(entries, gateway_quote, "gateway ", " gateway")
}

fn evaluate(entries: &[EventLogEntry], quote: &Quote, who: &str, who_mid: &str) -> Verdict {
    if entries.is_empty() {
        return Verdict::skip(format!("no{who_mid} event log entries in attestation response"));
    }
    let replayed = match replay(entries) {
        Ok(r) => r,
        Err(e) => return Verdict::fail(format!("{who}event log replay failed: {e}")),
    };
    let quoted = &quote.body().rtmr;
    for i in 0..RTMR_COUNT {
        if replayed[i] != quoted[i] {
            return Verdict::fail(format!(
                "{who}RTMR[{i}] mismatch: replayed {}..., quote {}...",
                &hex::encode(replayed[i])[..16],
                &hex::encode(quoted[i])[..16]
            ));
        }
    }
    Verdict::pass(format!("{who}event log replayed ({} entries), all 4 RTMRs match quote", entries.len()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;

    use super::*;
    use crate::attestation::binding_verdicts::test_quote::QuoteBuilder;
    use crate::report::Status;

    fn entry(imr: u32, digest: &str) -> EventLogEntry {
        EventLogEntry { imr, digest: digest.to_owned(), ..EventLogEntry::default() }
    }

    fn d(byte: u8) -> String {
        hex::encode([byte; 48])
    }

    /// A small log touching all four registers, and the quote whose RTMRs it reproduces
    /// (computed here independently of `replay`, with the hash crate directly).
    fn sample() -> (Vec<EventLogEntry>, Quote) {
        let log = vec![entry(0, &d(1)), entry(1, &d(2)), entry(0, &d(3)), entry(2, &d(4)), entry(3, &d(5))];
        let mut rtmr = [[0u8; 48]; 4];
        for e in &log {
            let mut h = Sha384::new();
            h.update(rtmr[e.imr as usize]);
            h.update(hex::decode(&e.digest).expect("hex"));
            rtmr[e.imr as usize] = h.finalize().into();
        }
        let mut b = QuoteBuilder::new();
        b.rtmr = rtmr;
        (log, b.quote())
    }

    #[test]
    fn empty_log_replays_to_zero() {
        assert_eq!(replay(&[]), Ok([[0u8; 48]; 4]));
    }

    #[test]
    fn known_answer_single_extend() {
        // SHA-384 of 96 zero bytes: the value of a register extended once with a zero digest.
        let r = replay(&[entry(2, &d(0))]).expect("replay");
        assert_eq!(
            hex::encode(r[2]),
            "f57bb7ed82c6ae4a29e6c9879338c592c7d42a39135583e8ccbe3940f2344b0eb6eb8503db0ffd6a39ddd00cd07d8317"
        );
        assert_eq!(r[0], [0u8; 48]);
    }

    #[test]
    fn replay_error_paths() {
        assert_eq!(replay(&[entry(0, &d(1)), entry(4, &d(1))]), Err(EventLogError::ImrOutOfRange { index: 1, imr: 4 }));
        assert_eq!(replay(&[entry(u32::MAX, &d(1))]), Err(EventLogError::ImrOutOfRange { index: 0, imr: u32::MAX }));
        assert!(matches!(replay(&[entry(0, &"zz".repeat(48))]), Err(EventLogError::DigestHex { index: 0, .. })));
        assert!(matches!(replay(&[entry(0, "abc")]), Err(EventLogError::DigestHex { index: 0, .. })));
        assert!(matches!(replay(&[entry(0, "xyzw")]), Err(EventLogError::DigestHex { index: 0, .. })));
        assert_eq!(replay(&[entry(3, "")]), Err(EventLogError::DigestLength { index: 0, imr: 3, len: 0 }));
        assert_eq!(
            replay(&[entry(1, &"ab".repeat(32))]),
            Err(EventLogError::DigestLength { index: 0, imr: 1, len: 32 })
        );
        assert_eq!(
            replay(&[entry(1, &"ab".repeat(64))]),
            Err(EventLogError::DigestLength { index: 0, imr: 1, len: 64 })
        );
        let too_many = vec![entry(0, &d(0)); MAX_EVENT_LOG_ENTRIES + 1];
        assert_eq!(
            replay(&too_many),
            Err(EventLogError::TooManyEntries { count: MAX_EVENT_LOG_ENTRIES + 1, max: MAX_EVENT_LOG_ENTRIES })
        );
        assert!(replay(&too_many[1..]).is_ok());
        // Upper-case hex is accepted.
        assert_eq!(replay(&[entry(0, &d(0xAB).to_uppercase())]), replay(&[entry(0, &d(0xAB))]));
    }

    #[test]
    fn verdict_pass_and_mismatch() {
        let (log, q) = sample();
        let v = verdict(&log, &q);
        assert_eq!(
            (v.status, v.detail.as_str()),
            (Status::Pass, "event log replayed (5 entries), all 4 RTMRs match quote")
        );

        // Change RTMR2's only event: RTMR2 is reported, with both prefixes.
        let mut bad = log.clone();
        bad[3].digest = d(9);
        let v = verdict(&bad, &q);
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.starts_with("RTMR[2] mismatch: replayed "), "{}", v.detail);
        assert!(v.detail.contains(&format!("quote {}...", &hex::encode(q.body().rtmr[2])[..16])), "{}", v.detail);

        // Two events swapped within RTMR0: order matters.
        let mut swapped = log.clone();
        swapped.swap(0, 2);
        assert!(verdict(&swapped, &q).detail.starts_with("RTMR[0] mismatch"));

        // A dropped event.
        let v = verdict(&log[..4], &q);
        assert!(v.detail.starts_with("RTMR[3] mismatch"), "{}", v.detail);

        // Replay errors fail with the error.
        let mut broken = log.clone();
        broken[1].imr = 7;
        let v = verdict(&broken, &q);
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.detail, "event log replay failed: event 1: IMR index 7 out of range [0,3]");

        let v = verdict(&[], &q);
        assert_eq!((v.status, v.detail.as_str()), (Status::Skip, "no event log entries in attestation response"));
    }

    #[test]
    fn gateway_wording() {
        let (log, q) = sample();
        assert_eq!(gateway_verdict(&log, &q).detail, "gateway event log replayed (5 entries), all 4 RTMRs match quote");
        assert_eq!(gateway_verdict(&[], &q).detail, "no gateway event log entries in attestation response");
        assert!(gateway_verdict(&log[..1], &q).detail.starts_with("gateway RTMR[0] mismatch"));
        let mut broken = log.clone();
        broken[0].digest.clear();
        assert!(gateway_verdict(&broken, &q).detail.starts_with("gateway event log replay failed: event 0"));
    }

    fn arb_entry() -> impl Strategy<Value = EventLogEntry> {
        let imr = prop_oneof![4 => 0u32..4, 1 => any::<u32>()];
        let digest = prop_oneof![
            4 => proptest::collection::vec(any::<u8>(), 48).prop_map(hex::encode),
            1 => ".{0,120}",
            1 => "[0-9a-fA-F]{0,130}",
        ];
        (imr, digest, any::<u32>(), ".{0,8}").prop_map(|(imr, digest, event_type, event)| EventLogEntry {
            imr,
            event_type,
            digest,
            event,
            event_payload: String::new(),
        })
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 256,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct("../proptest-regressions/bindings.txt"))),
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        /// Replay of any entries returns (never panics), and the verdict against any quote is
        /// never a Pass unless the replay succeeded.
        #[test]
        fn replay_never_panics(entries in proptest::collection::vec(arb_entry(), 0..40)) {
            let result = replay(&entries);
            let q = QuoteBuilder::new().quote();
            let v = verdict(&entries, &q);
            if result.is_err() {
                prop_assert_eq!(v.status, Status::Fail);
            }
            if entries.is_empty() {
                prop_assert_eq!(v.status, Status::Skip);
            }
        }

        /// Extending is order-sensitive: two different digests extended into one register in
        /// either order give different values; the same log replays deterministically.
        #[test]
        fn extend_is_order_sensitive(
            a in proptest::collection::vec(any::<u8>(), 48),
            b in proptest::collection::vec(any::<u8>(), 48),
            imr in 0u32..4,
        ) {
            prop_assume!(a != b);
            let ab = [entry(imr, &hex::encode(&a)), entry(imr, &hex::encode(&b))];
            let ba = [entry(imr, &hex::encode(&b)), entry(imr, &hex::encode(&a))];
            let r_ab = replay(&ab).expect("valid");
            let r_ba = replay(&ba).expect("valid");
            prop_assert_ne!(r_ab[imr as usize], r_ba[imr as usize]);
            prop_assert_eq!(r_ab, replay(&ab).expect("valid"));
            // Registers that were not named stay zero.
            for (i, register) in r_ab.iter().enumerate() {
                if i != imr as usize {
                    prop_assert_eq!(*register, [0u8; 48]);
                }
            }
        }

        /// Events in different registers commute; only the order within a register matters.
        #[test]
        fn different_registers_commute(
            a in proptest::collection::vec(any::<u8>(), 48),
            b in proptest::collection::vec(any::<u8>(), 48),
        ) {
            let x = [entry(0, &hex::encode(&a)), entry(1, &hex::encode(&b))];
            let y = [entry(1, &hex::encode(&b)), entry(0, &hex::encode(&a))];
            prop_assert_eq!(replay(&x).expect("valid"), replay(&y).expect("valid"));
        }
    }
}
