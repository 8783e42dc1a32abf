//! A verification over live HTTPS channels: the attestation machine's fetches carried by a
//! [`FetchClient`], as one [`Machine`] any runtime can drive, recording every exchange in the
//! capture format so the same session can be replayed offline.
//!
//! ```text
//!   start(now) ──► fetches ──► FetchClient ──► answers ──► Verification ──► more fetches …
//!                                                   │                            │
//!                                                   └─ record (capture)          └─► Finished(report)
//! ```

use std::collections::VecDeque;

use time::OffsetDateTime;

use super::{Clearance, Verification, VerifyConfig, VerifyError};
use crate::capture::{Capture, ExchangeMeta, Manifest};
use crate::fetch::client::{FetchClient, FetchClientConfig, Fetched};
use crate::io::{Event, Io, Machine, Now, UnixTime};
use crate::provider::ProviderKind;
use crate::report::Report;

/// What a live verification reports to its driver.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one Finished per verification; boxing buys nothing
pub enum LiveOutput {
    /// One more answer is in.
    Progress {
        /// Answers received so far.
        answered: usize,
        /// Fetches asked for so far.
        asked: usize,
        /// The URL just answered (never carries credentials: they travel in headers).
        url: String,
    },
    /// The verification ended; this is the last output.
    Finished(Result<Report, VerifyError>),
}

/// A verification driven over the network. See the module documentation.
pub struct LiveVerification {
    verification: Verification,
    client: FetchClient,
    manifest: Manifest,
    records: Vec<(ExchangeMeta, Vec<u8>)>,
    asked: usize,
    answered: usize,
    out: VecDeque<LiveOutput>,
    finished: bool,
    clearance: Option<Clearance>,
}

impl std::fmt::Debug for LiveVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveVerification")
            .field("asked", &self.asked)
            .field("answered", &self.answered)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl LiveVerification {
    /// Prepares a verification of `model` at `provider` with our `nonce`, judged at wall time
    /// `wall` (the time recorded as the capture's `captured_at`). Nothing is sent before
    /// [`LiveVerification::start`].
    pub fn new(
        provider: ProviderKind,
        model: &str,
        nonce: [u8; 32],
        config: VerifyConfig,
        wall: UnixTime,
        client: FetchClientConfig,
    ) -> Self {
        let captured_at = OffsetDateTime::from_unix_timestamp(i64::try_from(wall.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let manifest = Manifest {
            provider: provider.name().to_owned(),
            model: model.to_owned(),
            nonce,
            captured_at,
            duration_ms: None,
            e2ee: super::replay::e2ee_outcome(&config.e2ee),
            error: None,
        };
        Self {
            verification: Verification::new(provider, model, nonce, config, wall),
            client: FetchClient::new(client),
            manifest,
            records: Vec::new(),
            asked: 0,
            answered: 0,
            out: VecDeque::new(),
            finished: false,
            clearance: None,
        }
    }

    /// Sends the first fetches. The driver drains afterwards.
    pub fn start(&mut self, now: Now) {
        self.step(now);
    }

    /// Records the outcome of the live E2EE test run after this verification, so that a
    /// replay of the recording reports the same `e2ee_usable`.
    pub fn record_e2ee_outcome(&mut self, test: &crate::attestation::factors::E2eeTest) {
        self.manifest.e2ee = super::replay::e2ee_outcome(test);
    }

    /// Permission to send prompts, once the verification finished unblocked.
    pub fn clearance(&self) -> Option<&Clearance> {
        self.clearance.as_ref()
    }

    /// Everything recorded so far, as a capture (complete once [`LiveOutput::Finished`] came
    /// out). Its `captured_at` is the verification's wall time and it has no `duration_ms`, so
    /// a replay judges validity at exactly the instant the live run did.
    pub fn capture(&self) -> Capture {
        Capture::new(self.manifest.clone(), self.records.clone())
    }

    /// Moves answers into the verification and its new fetches into the client until neither
    /// has anything more.
    fn step(&mut self, now: Now) {
        loop {
            let mut progressed = false;
            while let Some(request) = self.verification.poll_fetch() {
                self.asked += 1;
                self.client.fetch(request, now);
                progressed = true;
            }
            while let Some(fetched) = self.client.poll_output() {
                self.answer(fetched);
                progressed = true;
            }
            if let Some(result) = self.verification.poll_report() {
                if let Err(e) = &result {
                    self.manifest.error = Some(e.to_string());
                }
                self.finished = true;
                self.clearance = self.verification.take_clearance();
                self.client.close_idle();
                self.out.push_back(LiveOutput::Finished(result));
            }
            if !progressed {
                return;
            }
        }
    }

    fn answer(&mut self, fetched: Fetched) {
        let Fetched { request, result, record } = fetched;
        if let Some(record) = record {
            self.records.push(record);
        }
        self.answered += 1;
        self.out.push_back(LiveOutput::Progress { answered: self.answered, asked: self.asked, url: request.url.clone() });
        self.verification.handle_fetch(request.id, result);
    }
}

impl Machine for LiveVerification {
    type Output = LiveOutput;

    fn handle(&mut self, event: Event<'_>, now: Now) {
        self.client.handle(event, now);
        self.step(now);
    }

    fn poll_io(&mut self) -> Option<Io> {
        self.client.poll_io()
    }

    fn poll_output(&mut self) -> Option<LiveOutput> {
        self.out.pop_front()
    }

    fn is_done(&self) -> bool {
        self.finished && self.out.is_empty() && self.client.is_done()
    }
}
