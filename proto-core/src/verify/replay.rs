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
    let mut config = VerifyConfig::defaults(provider);
    config.e2ee = e2ee_test(manifest.e2ee.as_ref());
    match provider {
        ProviderKind::NearDirect => {
            config.model_host = source.first_host().map(|h| h.split_once("://").map_or(h.clone(), |(_, host)| host.to_owned()));
        }
        ProviderKind::Chutes => config.chute_id = source.chute_uuid(),
        _ => {}
    }
    configure(&mut config);
    let mut verification = Verification::new(provider, &manifest.model, manifest.nonce(), config, manifest.verification_time());
    let report = drive(&mut verification, |req| source.answer_in_sequence(req), pick);
    Ok(ReplayOutcome { report, unmatched: verification.unmatched() })
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
