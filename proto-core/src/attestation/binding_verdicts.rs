//! Glue between the binding checks and the factor table: one function per factor, taking the
//! quote as `Option<&Quote>` (`None` = absent or did not parse) so the "no parseable quote"
//! outcomes live in one place, with the reference's wording and the Chutes-format variants
//! (`factors.md` rows 7–9, 11, 27, 29 and their gateway twins 36–40, 42).
//!
//! | factor | no parseable quote | other Skip | rule |
//! |---|---|---|---|
//! | `tee_measurement`, `tee_hardware_config`, `tee_boot_config` (+ gateway) | Skip | no list | [`policy`] |
//! | `tee_reportdata_binding` (+ gateway) | Fail | never | [`reportdata`] |
//! | `compose_binding` (+ gateway) | Skip | no `app_compose`; Chutes layout | [`compose::verify_compose_binding`] |
//! | `event_log_integrity` (+ gateway) | Skip | no entries; Chutes layout | [`eventlog`] |

use crate::attestation::compose;
use crate::attestation::eventlog;
use crate::attestation::policy::{self, MeasurementPolicy};
use crate::attestation::raw::{BackendFormat, RawAttestation};
use crate::attestation::reportdata;
use crate::attestation::tdx::Quote;
use crate::provider::ProviderKind;
use crate::report::Verdict;

/// Why Chutes has no compose binding (the reference's text, kept for report parity).
const CHUTES_NO_COMPOSE: &str =
    "chutes uses cosign image admission + IMA, not docker-compose; compose binding not applicable";

/// Why Chutes has no event log (the reference's text, kept for report parity).
const CHUTES_NO_EVENT_LOG: &str = "chutes performs RTMR verification validator-side against a golden baseline; \
                                   event log not exposed to clients";

/// `tee_measurement`, `tee_hardware_config`, `tee_boot_config` for the model quote (or, with
/// `gateway`, their gateway twins for the gateway quote and gateway policy). All Skip when the
/// quote is absent or did not parse.
pub fn measurement_verdicts(
    policy: &MeasurementPolicy,
    quote: Option<&Quote>,
    gateway: bool,
) -> (Verdict, Verdict, Verdict) {
    match (quote, gateway) {
        (None, _) => policy::unparsed_verdicts(gateway),
        (Some(q), false) => policy::verdicts(policy, q),
        (Some(q), true) => policy::gateway_verdicts(policy, q),
    }
}

/// `tee_reportdata_binding` (row 11): Fail when the quote is absent or did not parse, else
/// [`reportdata::verdict`].
pub fn reportdata_verdict(
    provider: ProviderKind,
    raw: &RawAttestation,
    quote: Option<&Quote>,
    nonce: &[u8; 32],
) -> Verdict {
    match quote {
        None => Verdict::fail("no parseable TDX quote; REPORTDATA binding cannot be verified"),
        Some(q) => reportdata::verdict(provider, raw, q, nonce),
    }
}

/// `gateway_tee_reportdata_binding` (row 39): Fail when the gateway quote is absent or did not
/// parse, else [`reportdata::gateway_verdict`].
pub fn gateway_reportdata_verdict(raw: &RawAttestation, gateway_quote: Option<&Quote>, nonce: &[u8; 32]) -> Verdict {
    match gateway_quote {
        None => Verdict::fail("gateway TDX quote parse failed; REPORTDATA binding cannot be verified"),
        Some(q) => reportdata::gateway_verdict(raw, q, nonce),
    }
}

/// `compose_binding` (row 27): MRCONFIGID must start with `0x01 ‖ SHA-256(app_compose)`.
///
/// Checked only when `raw_app_compose` is non-empty and the quote parsed. Otherwise Skip: with
/// the Chutes explanation when `chutes_format` (Chutes has no compose manifest), else naming
/// what is missing. A mismatch Fails with the expected prefix and the actual MRCONFIGID.
pub fn compose_verdict(raw_app_compose: &str, quote: Option<&Quote>, chutes_format: bool) -> Verdict {
    match (raw_app_compose.is_empty(), quote) {
        (false, Some(q)) => match compose::verify_compose_binding(raw_app_compose, &q.body().mr_config_id) {
            Ok(()) => Verdict::pass("sha256(app_compose) matches MRConfigID"),
            Err(e) => Verdict::fail(format!("compose binding failed: {e}")),
        },
        _ if chutes_format => Verdict::skip(CHUTES_NO_COMPOSE),
        (true, _) => Verdict::skip("no app_compose in attestation response"),
        (false, None) => Verdict::skip("no parseable TDX quote; cannot check compose binding"),
    }
}

/// `gateway_compose_binding` (row 40): [`compose_verdict`]'s rule on the gateway's compose and
/// quote (no Chutes variant: only nearcloud has a gateway).
pub fn gateway_compose_verdict(raw: &RawAttestation, gateway_quote: Option<&Quote>) -> Verdict {
    let app_compose = raw.gateway.as_ref().map_or("", |g| g.app_compose.as_str());
    match (app_compose.is_empty(), gateway_quote) {
        (true, _) => Verdict::skip("no gateway app_compose in attestation response"),
        (false, None) => Verdict::skip("no parseable gateway TDX quote; cannot check compose binding"),
        (false, Some(q)) => match compose::verify_compose_binding(app_compose, &q.body().mr_config_id) {
            Ok(()) => Verdict::pass("gateway sha256(app_compose) matches MRConfigID"),
            Err(e) => Verdict::fail(format!("gateway compose binding failed: {e}")),
        },
    }
}

/// `event_log_integrity` (row 29): Skip when the record has no entries (Chutes wording for the
/// Chutes layout) or the quote did not parse; else [`eventlog::verdict`].
pub fn event_log_verdict(raw: &RawAttestation, quote: Option<&Quote>) -> Verdict {
    if raw.event_log.is_empty() {
        return if raw.format == BackendFormat::Chutes {
            Verdict::skip(CHUTES_NO_EVENT_LOG)
        } else {
            Verdict::skip("no event log entries in attestation response")
        };
    }
    match quote {
        None => Verdict::skip("no parseable TDX quote; cannot compare RTMRs"),
        Some(q) => eventlog::verdict(&raw.event_log, q),
    }
}

/// `gateway_event_log_integrity` (row 42): [`event_log_verdict`] on the gateway's log and quote.
pub fn gateway_event_log_verdict(raw: &RawAttestation, gateway_quote: Option<&Quote>) -> Verdict {
    let entries = raw.gateway.as_ref().map_or(&[][..], |g| g.event_log.as_slice());
    if entries.is_empty() {
        return Verdict::skip("no gateway event log entries in attestation response");
    }
    match gateway_quote {
        None => Verdict::skip("gateway TDX quote not parseable; cannot compare RTMRs"),
        Some(q) => eventlog::gateway_verdict(entries, q),
    }
}

/// A minimal synthetic version-4 quote for the unit tests of the binding modules: every field
/// a binding rule reads can be set; the signature and certification data are structurally
/// valid filler (nothing here verifies them).
#[cfg(test)]
pub(crate) mod test_quote {
    use crate::attestation::tdx::Quote;

    /// Fields of the TD report body the binding checks read.
    #[derive(Clone, Debug)]
    pub(crate) struct QuoteBuilder {
        pub(crate) mr_seam: [u8; 48],
        pub(crate) td_attributes: [u8; 8],
        pub(crate) mr_td: [u8; 48],
        pub(crate) mr_config_id: [u8; 48],
        pub(crate) rtmr: [[u8; 48]; 4],
        pub(crate) report_data: [u8; 64],
    }

    impl QuoteBuilder {
        pub(crate) fn new() -> Self {
            QuoteBuilder {
                mr_seam: [0x5E; 48],
                td_attributes: [0; 8],
                mr_td: [0x7D; 48],
                mr_config_id: [0; 48],
                rtmr: [[0xA0; 48], [0xA1; 48], [0xA2; 48], [0xA3; 48]],
                report_data: [0; 64],
            }
        }

        pub(crate) fn bytes(&self) -> Vec<u8> {
            let mut q = Vec::new();
            q.extend(4u16.to_le_bytes());
            q.extend(2u16.to_le_bytes());
            q.extend(0x81u32.to_le_bytes());
            q.extend([0u8; 40]);
            // TD report body (TDX 1.0, 584 bytes).
            q.extend([0u8; 16]); // TEE_TCB_SVN
            q.extend(self.mr_seam);
            q.extend([0u8; 48]); // MRSIGNERSEAM
            q.extend([0u8; 8]); // SEAM_ATTRIBUTES
            q.extend(self.td_attributes);
            q.extend([0u8; 8]); // XFAM
            q.extend(self.mr_td);
            q.extend(self.mr_config_id);
            q.extend([0u8; 96]); // MROWNER, MROWNERCONFIG
            for r in &self.rtmr {
                q.extend(r);
            }
            q.extend(self.report_data);
            // Signed data.
            let chain = b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n\0".to_vec();
            let mut cert = vec![0u8; 384 + 64];
            cert.extend(32u16.to_le_bytes());
            cert.extend([0u8; 32]);
            cert.extend(5u16.to_le_bytes());
            cert.extend((chain.len() as u32).to_le_bytes());
            cert.extend(&chain);
            let mut signed = vec![0u8; 128];
            signed.extend(6u16.to_le_bytes());
            signed.extend((cert.len() as u32).to_le_bytes());
            signed.extend(cert);
            q.extend((signed.len() as u32).to_le_bytes());
            q.extend(signed);
            q
        }

        pub(crate) fn quote(&self) -> Quote {
            Quote::parse(&self.bytes()).expect("synthetic quote parses")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_quote::QuoteBuilder;
    use super::*;
    use crate::attestation::raw::{EventLogEntry, GatewayAttestation};
    use crate::report::Status;

    #[test]
    fn synthetic_quote_fields_land_where_the_parser_reads_them() {
        let mut b = QuoteBuilder::new();
        b.report_data = core::array::from_fn(|i| i as u8);
        b.mr_config_id[0] = 1;
        let q = b.quote();
        assert_eq!(q.body().report_data, b.report_data);
        assert_eq!(q.body().mr_td, b.mr_td);
        assert_eq!(q.body().mr_seam, b.mr_seam);
        assert_eq!(q.body().rtmr, b.rtmr);
        assert_eq!(q.body().mr_config_id, b.mr_config_id);
    }

    fn bound_quote(app_compose: &str) -> Quote {
        let mut b = QuoteBuilder::new();
        b.mr_config_id[..33].copy_from_slice(&compose::expected_mrconfigid_prefix(app_compose));
        b.quote()
    }

    #[test]
    fn compose_rules() {
        let compose = r#"{"docker_compose_file":"services: {}"}"#;
        let q = bound_quote(compose);
        let v = compose_verdict(compose, Some(&q), false);
        assert_eq!((v.status, v.detail.as_str()), (Status::Pass, "sha256(app_compose) matches MRConfigID"));
        // One character changed.
        let v = compose_verdict(&compose.replace("{}", "[]"), Some(&q), false);
        assert_eq!(v.status, Status::Fail);
        assert!(
            v.detail.starts_with("compose binding failed: MRConfigID does not match app_compose hash"),
            "{}",
            v.detail
        );
        // MRCONFIGID without the 0x01 tag.
        let mut b = QuoteBuilder::new();
        b.mr_config_id[1..33].copy_from_slice(&compose::compose_hash(compose));
        assert_eq!(compose_verdict(compose, Some(&b.quote()), false).status, Status::Fail);
        // Bytes after the first 33 are not checked.
        let mut b = QuoteBuilder::new();
        b.mr_config_id[..33].copy_from_slice(&compose::expected_mrconfigid_prefix(compose));
        b.mr_config_id[40] = 0xFF;
        assert_eq!(compose_verdict(compose, Some(&b.quote()), false).status, Status::Pass);

        let v = compose_verdict("", Some(&q), false);
        assert_eq!((v.status, v.detail.as_str()), (Status::Skip, "no app_compose in attestation response"));
        let v = compose_verdict(compose, None, false);
        assert_eq!(v.status, Status::Skip);
        assert!(v.detail.contains("no parseable TDX quote"));
        for (text, quote) in [("", Some(&q)), ("", None), (compose, None)] {
            let v = compose_verdict(text, quote, true);
            assert_eq!((v.status, v.detail.as_str()), (Status::Skip, CHUTES_NO_COMPOSE));
        }
        // A Chutes-format record that does carry a compose is still checked.
        assert_eq!(compose_verdict(compose, Some(&q), true).status, Status::Pass);
    }

    #[test]
    fn gateway_compose_rules() {
        let compose = "gateway compose";
        let q = bound_quote(compose);
        let mut raw = RawAttestation::empty(BackendFormat::Near);
        assert_eq!(gateway_compose_verdict(&raw, Some(&q)).status, Status::Skip);
        raw.gateway = Some(GatewayAttestation { app_compose: compose.into(), ..GatewayAttestation::default() });
        let v = gateway_compose_verdict(&raw, Some(&q));
        assert_eq!((v.status, v.detail.as_str()), (Status::Pass, "gateway sha256(app_compose) matches MRConfigID"));
        assert_eq!(gateway_compose_verdict(&raw, None).status, Status::Skip);
        let v = gateway_compose_verdict(&raw, Some(&bound_quote("other")));
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.starts_with("gateway compose binding failed: "), "{}", v.detail);
    }

    #[test]
    fn event_log_wrappers() {
        let q = QuoteBuilder::new().quote();
        let mut raw = RawAttestation::empty(BackendFormat::Dstack);
        assert_eq!(event_log_verdict(&raw, Some(&q)).detail, "no event log entries in attestation response");
        let chutes = RawAttestation::empty(BackendFormat::Chutes);
        let v = event_log_verdict(&chutes, Some(&q));
        assert_eq!((v.status, v.detail.as_str()), (Status::Skip, CHUTES_NO_EVENT_LOG));
        raw.event_log = vec![EventLogEntry { imr: 0, digest: "00".repeat(48), ..EventLogEntry::default() }];
        let v = event_log_verdict(&raw, None);
        assert_eq!((v.status, v.detail.as_str()), (Status::Skip, "no parseable TDX quote; cannot compare RTMRs"));
        assert_eq!(event_log_verdict(&raw, Some(&q)).status, Status::Fail);

        let mut raw = RawAttestation::empty(BackendFormat::Near);
        assert_eq!(gateway_event_log_verdict(&raw, Some(&q)).status, Status::Skip);
        raw.gateway = Some(GatewayAttestation {
            event_log: vec![EventLogEntry { imr: 9, ..EventLogEntry::default() }],
            ..GatewayAttestation::default()
        });
        assert_eq!(gateway_event_log_verdict(&raw, None).status, Status::Skip);
        let v = gateway_event_log_verdict(&raw, Some(&q));
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.starts_with("gateway event log replay failed"), "{}", v.detail);
    }

    #[test]
    fn unparsed_quote_outcomes() {
        let raw = RawAttestation::empty(BackendFormat::Dstack);
        let v = reportdata_verdict(ProviderKind::Venice, &raw, None, &[0; 32]);
        assert_eq!(
            (v.status, v.detail.as_str()),
            (Status::Fail, "no parseable TDX quote; REPORTDATA binding cannot be verified")
        );
        assert_eq!(gateway_reportdata_verdict(&raw, None, &[0; 32]).status, Status::Fail);
        let p = MeasurementPolicy::default_for(ProviderKind::Venice, false);
        let (a, b, c) = measurement_verdicts(&p, None, false);
        assert_eq!((a.status, b.status, c.status), (Status::Skip, Status::Skip, Status::Skip));
        let q = QuoteBuilder::new().quote();
        let (a, _, _) = measurement_verdicts(&p, Some(&q), true);
        assert!(a.detail.starts_with("gateway MRTD not in policy allowlist"), "{}", a.detail);
    }
}
