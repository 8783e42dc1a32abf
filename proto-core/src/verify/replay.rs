//! Verifying a recorded capture: nonce and clock from its manifest, answers from its
//! exchanges, the E2EE outcome it recorded. Never the network.

use crate::attestation::factors::E2eeTest;
use crate::capture::{Capture, E2eeOutcome};
use crate::provider::{ProviderKind, UnknownProvider};
use crate::replay::ReplaySource;
use crate::report::Report;

use super::{Verification, VerifyConfig, VerifyError, drive};

/// The result of replaying a capture.
#[derive(Clone, Debug)]
pub struct ReplayOutcome {
    /// The report, or why the verification produced none.
    pub report: Result<Report, VerifyError>,
    /// Requests the capture had no answer for (`METHOD URL`); empty for a faithful replay.
    pub unmatched: Vec<String>,
    /// Permission to send prompts, when the report is not blocked.
    pub clearance: Option<super::Clearance>,
}

/// Why a capture cannot be replayed at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// `manifest.json: provider` names no known provider.
    #[error("manifest.json: provider: {0}")]
    UnknownProvider(#[from] UnknownProvider),
}

/// Replays `capture` with the provider's default configuration.
pub fn replay_capture(capture: &Capture) -> Result<ReplayOutcome, ReplayError> {
    replay_capture_with(capture, |_| {}, |_| 0)
}

/// Replays `capture`, letting `configure` adjust the configuration and `pick` choose which
/// outstanding fetch is answered next (tests shuffle; the report must not change).
pub fn replay_capture_with(
    capture: &Capture,
    configure: impl FnOnce(&mut VerifyConfig),
    pick: impl FnMut(usize) -> usize,
) -> Result<ReplayOutcome, ReplayError> {
    let manifest = &capture.manifest;
    let provider = manifest.provider_kind()?;
    let mut source = ReplaySource::new(capture.clone());
    let mut config = replay_config(capture)?;
    configure(&mut config);
    let mut verification = Verification::new(provider, &manifest.model, manifest.nonce(), config, manifest.verification_time());
    let report = drive(&mut verification, |req| source.answer_in_sequence(req), pick);
    Ok(ReplayOutcome { report, unmatched: verification.unmatched(), clearance: verification.take_clearance() })
}

/// The configuration a replay of `capture` starts from: provider defaults, the recorded E2EE
/// outcome, and what live runs look up with unrecorded requests (neardirect's model host, the
/// Chutes chute id) taken from the capture.
pub fn replay_config(capture: &Capture) -> Result<VerifyConfig, ReplayError> {
    let provider = capture.manifest.provider_kind()?;
    let source = ReplaySource::new(capture.clone());
    let mut config = VerifyConfig::defaults(provider);
    config.e2ee = e2ee_test(capture.manifest.e2ee.as_ref());
    match provider {
        ProviderKind::NearDirect => {
            // A recording that holds the endpoint discovery (ours do) resolves the host again
            // from it; the reference's recordings did not keep it, so their first host is the
            // model node's.
            let discovered = capture.exchanges.iter().any(|e| e.meta.url == crate::attestation::plan::provider::NEAR_ENDPOINTS_URL);
            if !discovered {
                config.model_host =
                    source.first_host().map(|h| h.split_once("://").map_or(h.clone(), |(_, host)| host.to_owned()));
            }
        }
        ProviderKind::Chutes => config.chute_id = source.chute_uuid(),
        _ => {}
    }
    Ok(config)
}

/// The E2EE outcome a capture recorded, as the factor evaluator sees it. An absent record means
/// no test ran; replay never runs one.
fn e2ee_test(outcome: Option<&E2eeOutcome>) -> E2eeTest {
    let Some(o) = outcome else { return E2eeTest::NotConfigured };
    if o.no_api_key {
        E2eeTest::NoApiKey { env: o.api_key_env.clone() }
    } else if o.failed {
        let error = if o.error.is_empty() { "(error message lost across capture boundary)".to_owned() } else { o.error.clone() };
        E2eeTest::Failed { error }
    } else if o.attempted {
        E2eeTest::Succeeded { detail: o.detail.clone() }
    } else {
        E2eeTest::NotAttempted { detail: o.detail.clone() }
    }
}

/// The manifest record of an E2EE outcome, such that [`e2ee_test`] gives `test` back; `None`
/// when no test ran.
pub(super) fn e2ee_outcome(test: &E2eeTest) -> Option<E2eeOutcome> {
    let mut o = E2eeOutcome::default();
    match test {
        E2eeTest::NotConfigured => return None,
        E2eeTest::NoApiKey { env } => {
            o.no_api_key = true;
            o.api_key_env = env.clone();
        }
        E2eeTest::NotAttempted { detail } => o.detail = detail.clone(),
        // The capture format has no "deferred" outcome; a replay reads it as not attempted.
        E2eeTest::PendingLiveTest => o.detail = "E2EE configured; pending live test".into(),
        E2eeTest::Succeeded { detail } => {
            o.attempted = true;
            o.detail = detail.clone();
        }
        E2eeTest::Failed { error } => {
            o.attempted = true;
            o.failed = true;
            o.error = error.clone();
        }
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e2ee_outcomes_round_trip_through_the_manifest_record() {
        let cases = [
            E2eeTest::NotConfigured,
            E2eeTest::NoApiKey { env: "VENICE_API_KEY".into() },
            E2eeTest::NotAttempted { detail: "offline".into() },
            E2eeTest::Succeeded { detail: "3 fields".into() },
            E2eeTest::Failed { error: "decrypt failed".into() },
        ];
        for test in cases {
            let back = e2ee_test(e2ee_outcome(&test).as_ref());
            assert_eq!(format!("{back:?}"), format!("{test:?}"));
        }
    }
}
